// crashkernel= in the running kernel's command line (machine init --cmdline) is reserved as Linux's
// reserve_crashkernel does at boot, or refused with the reason; both regions of SIZE,high (crashk_res and
// crashk_low_res) are shown by machine show; a running kernel's crashkernel= cannot change (machine set).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { vkexec } from '../helpers/cli.js';
import { ok, scratchDirs } from './boot-helpers.js';

const MiB = 1 << 20;
const dir = scratchDirs('vkexec-ck-');
const machineDir = () => path.join(dir(), 'm');
function crashLines(m: string): [number, number][] {
  const r = vkexec(m, ['machine', 'show', '--file', '/proc/iomem']);
  ok(r, 'machine show --file /proc/iomem');
  return [...r.stdout.matchAll(/^\s+([0-9a-f]+)-([0-9a-f]+) : Crash kernel$/gm)].map((x) => [parseInt(x[1]!, 16), parseInt(x[2]!, 16)]);
}

test('machine init --cmdline "... crashkernel=256M" reserves as --crashkernel 256M does; the command line is kept as given', () => {
  const viaCmdline = machineDir();
  ok(vkexec(viaCmdline, ['machine', 'init', '--mem', '1G', '--cmdline', 'root=/dev/vda1 console=ttyS0 crashkernel=256M']), 'init --cmdline');
  const viaOption = machineDir();
  ok(vkexec(viaOption, ['machine', 'init', '--mem', '1G', '--cmdline', 'root=/dev/vda1 console=ttyS0', '--crashkernel', '256M']), 'init --crashkernel');
  assert.deepEqual(crashLines(viaCmdline), crashLines(viaOption));
  assert.deepEqual(crashLines(viaCmdline), [[0x2f000000, 0x3effffff]]);
  assert.equal(vkexec(viaCmdline, ['--print-ckr-size']).stdout, `${256 * MiB}\n`);
  assert.equal(vkexec(viaCmdline, ['machine', 'show', '--file', '/proc/cmdline']).stdout, 'root=/dev/vda1 console=ttyS0 crashkernel=256M\n');
  assert.match(vkexec(viaCmdline, ['machine', 'show']).stdout, /^crashkernel {2}256 MiB at 0x2f000000-0x3effffff$/m);
});

test('SIZE,high with SIZE,low from --cmdline: both regions in /proc/iomem and in machine show', () => {
  const m = machineDir();
  ok(vkexec(m, ['machine', 'init', '--mem', '6G', '--cmdline', 'ro crashkernel=512M,high crashkernel=128M,low']), 'init');
  const lines = crashLines(m);
  assert.equal(lines.length, 2);
  const show = vkexec(m, ['machine', 'show']).stdout;
  const [low, high] = lines as [[number, number], [number, number]];
  const h = (n: number) => `0x${n.toString(16)}`;
  assert.match(show, new RegExp(`^crashkernel {2}128 MiB at ${h(low[0])}-${h(low[1])} \\(crashk_low_res\\), 512 MiB at ${h(high[0])}-${h(high[1])} \\(crashk_res, high\\)$`, 'm'));
  assert.ok(high[0] >= 2 ** 32 && low[1] < 2 ** 32);
});

test('refusals: a crashkernel= that does not fit, two requests at once, and changing crashkernel= on a running kernel', () => {
  const tooBig = vkexec(machineDir(), ['machine', 'init', '--mem', '1G', '--cmdline', 'crashkernel=4G']);
  assert.equal(tooBig.code, 1);
  assert.match(tooBig.stderr, /^vkexec: --cmdline crashkernel=: crashkernel reservation failed - No suitable area found/m);
  assert.match(tooBig.stderr, /^vkexec: fix: /m);

  const both = vkexec(machineDir(), ['machine', 'init', '--cmdline', 'crashkernel=128M', '--crashkernel', '64M']);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /--crashkernel 64M and crashkernel=128M in --cmdline both ask for a crash region/);

  const m = machineDir();
  ok(vkexec(m, ['machine', 'init', '--mem', '1G', '--cmdline', 'root=/dev/vda1 crashkernel=256M']), 'init');
  const change = vkexec(m, ['machine', 'set', '--cmdline', 'root=/dev/vda1 crashkernel=128M']);
  assert.equal(change.code, 1);
  assert.match(change.stderr, /crashkernel= is only read at boot \(reserve_crashkernel\)/);
  assert.deepEqual(crashLines(m), [[0x2f000000, 0x3effffff]], 'the reservation is unchanged');
  ok(vkexec(m, ['machine', 'set', '--cmdline', 'root=/dev/vda2 crashkernel=256M']), 'a change that keeps crashkernel=');
});
