// The /proc/vmcore layout rule (fs/proc/vmcore.c, src/vm/kernel/crash-vmcore.ts): the merged PT_NOTE takes
// whole pages, a second one as soon as the notes pass 4096 bytes, and every PT_LOAD's offset follows. The
// figures are those a real Debian 6.12.118 capture kernel showed after a real panic of a 5 GiB, 3-CPU guest
// (crashkernel=256M,high), whose vmcoreinfo text is vmcoreinfo-6.12.118.txt; the differential test
// (test/differential/linux-kexec.test.ts) compares machine panic's report with the real kernel on each run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PT_LOAD, PT_NOTE, type ElfProgramHeader } from '../../../src/formats/elf.js';
import { noteRealSize, procVmcoreLayout } from '../../../src/vm/kernel/crash-vmcore.js';
import { crashNotesBuffer, vmcoreinfoNote } from '../../../src/vm/kernel/panic.js';
import { vmcoreinfoFileLines } from '../../../src/vm/kernel/vmcoreinfo.js';
import { defaultConfig } from '../../../src/vm/machine/machine.js';
import { CRASH_NOTES_SIZE, VMCOREINFO_NOTE_SIZE } from '../../../src/vm/machine/machine-config.js';
import { ROOT } from '../../helpers/cli.js';

const REAL_TEXT = fs.readFileSync(path.join(ROOT, 'test/vm/kernel/vmcoreinfo-6.12.118.txt'), 'latin1');

const ph = (index: number, type: number, offset: bigint, size: bigint): ElfProgramHeader => ({ index, type, flags: 0, offset, vaddr: 0n, paddr: offset, filesz: size, memsz: size, align: 0n });

/** The elfcorehdr of the real 5 GiB guest: 3 CPUs' notes, vmcoreinfo, kernel text, four RAM ranges. */
function header(cpus: number): ElfProgramHeader[] {
  const notes = Array.from({ length: cpus }, (_, i) => ph(i, PT_NOTE, 0x10000000n + BigInt(i) * 0x1000n, CRASH_NOTES_SIZE));
  const loads: [bigint, bigint][] = [[0x1000000n, 0x2c30000n], [0x100000n, 0xacf00000n], [0xbd000000n, 0x2fe0000n], [0x100000000n, 0x6f000000n], [0x17f000000n, 0x1000000n]];
  return [...notes, ph(cpus, PT_NOTE, 0x20000000n, VMCOREINFO_NOTE_SIZE), ...loads.map(([a, s], i) => ph(cpus + 1 + i, PT_LOAD, a, s))];
}

function layout(cpus: number, text: string) {
  const config = { ...defaultConfig(), cpus, kernelRelease: '6.12' as const, vmcoreinfo: vmcoreinfoFileLines(text, 'real', '6.12', null).lines };
  const info = vmcoreinfoNote(config, { fill: null, crashTime: 1796576241n });
  return procVmcoreLayout(header(cpus), (p) => (p.offset === 0x20000000n ? info : crashNotesBuffer(config, Number((p.offset - 0x10000000n) / 0x1000n), 0)));
}

test('a note list ends at the first note with n_namesz 0 (update_note_header_size_elf64): 356 bytes per CPU', () => {
  assert.equal(noteRealSize(crashNotesBuffer(defaultConfig(), 0, 0)), 12 + 8 + 336);
  assert.equal(noteRealSize(new Uint8Array(64)), 0);
});

test('the real 3-CPU panic: 3 x 356 + the 3262-byte VMCOREINFO note = 0x1104 bytes, 2 pages, PT_LOADs from 0x3000', () => {
  const l = layout(3, REAL_TEXT);
  assert.deepEqual(l.note, { offset: 0x1000n, size: 0x1104n });
  assert.equal(l.notesPages, 2n);
  assert.deepEqual(l.loads.map((x) => x.offset), [0x3000n, 0x2c33000n, 0xafb33000n, 0xb2b13000n, 0x121b13000n]);
});

test('the same notes under 4096 bytes take one page, and every PT_LOAD moves 0x1000 down', () => {
  const short = REAL_TEXT.split('\n').filter((l) => !/^(OFFSET|SIZE|LENGTH)\(/.test(l)).join('\n');
  const one = layout(3, short);
  assert.ok(one.note.size < 4096n, `${one.note.size}`);
  assert.equal(one.notesPages, 1n);
  assert.deepEqual(one.loads.map((x) => x.offset), layout(3, REAL_TEXT).loads.map((x) => x.offset - 0x1000n));
  // One CPU with the long text stays in one page; four CPUs cross it.
  assert.equal(layout(1, REAL_TEXT).notesPages, 1n);
  assert.equal(layout(4, REAL_TEXT).notesPages, 2n);
});
