// The in-guest vmcore verdict of vkexec's check init says "bad" when the dump is not what it expects. The
// kdump check's own run (check.test.ts) only ever sees "ok"; here the same flow is run by hand through the
// real binary (machine init, `-p` with the check init's initramfs, `machine panic --fill` on QEMU) but the
// command line leaves out the vkexec_skip= ranges that `vkexec check` passes: the old kernel's note buffers
// (crash_notes, the vmcoreinfo note) then hold notes where the init expects the fill pattern, and the init
// must find the first such word and name its physical address. One QEMU boot (TCG).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { VMCORE_LINE, checkInitramfs } from '../../src/arch/x86/check-init.js';
import { CRASH_NOTES_SIZE, VMCOREINFO_NOTE_SIZE, crashNotesAddr, vmcoreinfoNoteAddr } from '../../src/vm/machine/machine-config.js';
import { fixture } from '../helpers/fixtures.js';
import { tempDir, vkexec, type Run } from '../helpers/cli.js';

const qemu = spawnSync('qemu-system-x86_64', ['-version'], { encoding: 'utf8' });
assert.ok(!qemu.error && /QEMU emulator version/.test(qemu.stdout), 'qemu-system-x86_64 is needed for this test: apt-get install qemu-system-x86');

const dir = tempDir('vkexec-vmcore-verdict-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function ok(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n--- stderr\n${r.stderr}\n--- stdout (tail)\n${r.stdout.slice(-3000)}`);
}

/** True when the physical address lies in one of the old kernel's note buffers (what vkexec check skips). */
function inNoteBuffer(a: bigint, cpus: number): boolean {
  for (let cpu = 0; cpu < cpus; cpu++) if (a >= crashNotesAddr(cpu) && a < crashNotesAddr(cpu) + CRASH_NOTES_SIZE) return true;
  return a >= vmcoreinfoNoteAddr() && a < vmcoreinfoNoteAddr() + VMCOREINFO_NOTE_SIZE;
}

test('without vkexec_skip= the check init reports "bad" at the first note word of the old RAM', { timeout: 900_000 }, (t) => {
  const m = path.join(dir, 'm');
  ok(vkexec(m, ['machine', 'init', '--mem', '512M', '--crashkernel', '256M']), 'machine init');
  const initrd = path.join(dir, 'check-init.cpio');
  fs.writeFileSync(initrd, checkInitramfs('x86_64'));
  // The kdump check's command line (check-cases.ts kdump) minus its vkexec_skip= ranges.
  ok(vkexec(m, ['-p', '-s', fixture('vmlinuz-amd64'), '--initrd', initrd, '--append', 'console=ttyS0 reset_devices nr_cpus=1 irqpoll panic=-1']), '-p -s');
  const panic = vkexec(m, ['machine', 'panic', '--fill', 'addr^0x5a5a5a5a00000000', '--expect', 'VKEXEC-CHECK-VMCORE (ok|bad)', '--engine', 'qemu', '--accel', 'tcg', '--timeout', '400']);
  ok(panic, 'machine panic');
  assert.match(panic.stderr, /old RAM filled with pattern addr\^0x5a5a5a5a00000000/);
  const v = VMCORE_LINE.exec(panic.stdout);
  assert.ok(v, `no VKEXEC-CHECK-VMCORE verdict on the console:\n${panic.stdout.slice(-2000)}`);
  assert.equal(v[1], 'bad', `the init said "${v[0].trim()}" for a dump whose note buffers are not the pattern`);
  const at = /^PT_LOAD data differs from the fill pattern at physical 0x([0-9a-f]+)$/.exec(v[2]!.trim());
  assert.ok(at, `the "bad" verdict is not a pattern difference: ${v[2]}`);
  t.diagnostic(v[0].trim());
  assert.ok(inNoteBuffer(BigInt(`0x${at[1]}`), 8), `the first difference 0x${at[1]} is not in a note buffer (crash_notes at ${crashNotesAddr(0).toString(16)}, vmcoreinfo at ${vmcoreinfoNoteAddr().toString(16)})`);
});
