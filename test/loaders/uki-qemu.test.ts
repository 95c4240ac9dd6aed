// The UKI of test/setup/fixtures.mjs (systemd's stub + Debian's signed 6.1 kernel + the busybox initramfs, built
// by objcopy) loaded with -c and -s and run on QEMU: the kernel boots to the .initrd's /init, which prints
// VKEXEC-INIT-OK and /proc/cmdline: the command line given to vkexec, not the UKI's .cmdline (kexec-tools
// 2.0.32 does not read that section). Needs qemu-system-x86_64; each boot takes 5-30 s under TCG.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fixture, INIT_MARKER } from '../helpers/fixtures.js';
import { tempDir, vkexec, type Run } from '../helpers/cli.js';

const UKI = fixture('uki-amd64.efi');
const CMDLINE = 'console=ttyS0 panic=-1 vkexec.uki=user';
/** The marker, then /init's next line (kernel log lines may come between): the command line. */
const EXPECT = `${INIT_MARKER}\\r?\\n(?:\\[[^\\n]*\\n)*[^[\\n][^\\n]*vkexec\\.uki=user`;

const qemu = spawnSync('qemu-system-x86_64', ['-version'], { encoding: 'utf8' });
assert.ok(!qemu.error && /QEMU emulator version/.test(qemu.stdout), 'qemu-system-x86_64 is needed for these tests: apt-get install qemu-system-x86');

const work = tempDir();

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n--- stderr\n${r.stderr}\n--- stdout (tail)\n${r.stdout.slice(-3000)}`);
  return r;
}

for (const mode of ['-c', '-s']) {
  test(`${mode}: the UKI boots to its .initrd's /init with the user's command line`, () => {
    const m = path.join(work, `m${mode}`);
    ok(vkexec(m, ['machine', 'init']), 'machine init');
    ok(vkexec(m, [mode, '-l', UKI, '--command-line', CMDLINE]), `${mode} -l`);
    const r = ok(vkexec(m, ['-e', '--engine', 'qemu', '--accel', 'tcg', '--expect', EXPECT, '--timeout', '300']), '-e');
    assert.match(r.stdout, new RegExp(EXPECT));
    assert.match(r.stdout, /Linux version 6\.1\./);
    assert.doesNotMatch(r.stdout, /vkexec\.uki=embedded/, 'the .cmdline section reaches the kernel nowhere');
  });
}
