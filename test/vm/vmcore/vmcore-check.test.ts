// vmcore check on dumps laid out as /proc/vmcore lays them out (ELF header, one merged PT_NOTE, then the
// PT_LOAD data at page-aligned offsets), built here from the notes and the fill pattern the machine writes at a
// panic: a good dump passes by each rule set; a flipped byte, a truncated file, a load in the crash region and
// a file that is no vmcore are each reported. The real dumps of real capture kernels are in test/cli/kdump.test.ts.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../../src/errno.js';
import { EM_X86_64, PT_LOAD, PT_NOTE } from '../../../src/formats/elf.js';
import { writeElfCoreHeader, type CorePhdr } from '../../../src/formats/elf-core.js';
import { fillPatternBytes, type FillPattern } from '../../../src/vm/memory/fill-pattern.js';
import type { Resource } from '../../../src/vm/machine/iomem.js';
import { defaultConfig } from '../../../src/vm/machine/machine.js';
import { crashNotesAddr, vmcoreinfoNoteAddr, type MachineConfig } from '../../../src/vm/machine/machine-config.js';
import { crashNotesBuffer, vmcoreinfoNote } from '../../../src/vm/kernel/panic.js';
import { checkVmcore, readVmcore } from '../../../src/vm/vmcore/vmcore-check.js';
import { tempDir } from '../../helpers/cli.js';

const scratch: string[] = [];
after(() => {
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = tempDir('vkexec-vmcore-');
  scratch.push(d);
  return d;
}

const res = (start: bigint, end: bigint, name: string, children: Resource[] = []): Resource => ({ start, end, name, children });

/** A 64 MiB machine: low RAM from 0x3000, RAM from 1 MiB with the kernel and a 16 MiB crash region at 48 MiB. */
function machine(): MachineConfig {
  const iomem = [
    res(0n, 0x2fffn, 'Reserved'),
    res(0x3000n, 0x9fbffn, 'System RAM'),
    res(0x100000n, 0x3ffffffn, 'System RAM', [
      res(0x1000000n, 0x1dfffffn, 'Kernel code'),
      res(0x2600000n, 0x2a4b57fn, 'Kernel data'),
      res(0x2d7d000n, 0x2ffffffn, 'Kernel bss'),
      res(0x3000000n, 0x3ffffffn, 'Crash kernel'),
    ]),
  ];
  return { ...defaultConfig(), memBytes: 64n << 20n, iomem };
}

/** The notes as the capture kernel merges them: each buffer up to its empty note. */
function mergedNotes(c: MachineConfig, fill: FillPattern): Uint8Array {
  const used = (b: Uint8Array) => {
    const v = new DataView(b.buffer, b.byteOffset);
    return 12 + ((v.getUint32(0, true) + 3) & ~3) + ((v.getUint32(4, true) + 3) & ~3);
  };
  const a = crashNotesBuffer(c, 0, 0);
  const b = vmcoreinfoNote(c, { fill, crashTime: 1700000000n });
  return Buffer.concat([a.subarray(0, used(a)), b.subarray(0, used(b))]);
}

/** Old RAM for [start, end): the pattern, with the note buffers where the machine keeps them. */
function oldRam(c: MachineConfig, fill: FillPattern, start: bigint, end: bigint): Buffer {
  const buf = Buffer.alloc(Number(end - start));
  fillPatternBytes(buf, start, fill);
  const put = (addr: bigint, data: Uint8Array) => {
    if (addr >= start && addr + BigInt(data.length) <= end) buf.set(data, Number(addr - start));
  };
  put(crashNotesAddr(0), crashNotesBuffer(c, 0, 0));
  put(vmcoreinfoNoteAddr(), vmcoreinfoNote(c, { fill, crashTime: 1700000000n }));
  return buf;
}

function writeDump(file: string, c: MachineConfig, fill: FillPattern, loads: { paddr: bigint; end: bigint; vaddr: bigint }[]): void {
  const notes = mergedNotes(c, fill);
  const phdrsFor = (dataStart: bigint): CorePhdr[] => {
    const out: CorePhdr[] = [{ type: PT_NOTE, flags: 0, offset: 0n, vaddr: 0n, paddr: 0n, filesz: BigInt(notes.length), memsz: BigInt(notes.length), align: 0n }];
    let off = dataStart;
    for (const l of loads) {
      const size = l.end - l.paddr;
      out.push({ type: PT_LOAD, flags: 7, offset: off, vaddr: l.vaddr, paddr: l.paddr, filesz: size, memsz: size, align: 0n });
      off += (size + 4095n) & ~4095n;
    }
    return out;
  };
  const headerSize = BigInt(writeElfCoreHeader(64, EM_X86_64, phdrsFor(0n), 4096n).length);
  const notesAt = headerSize;
  const dataStart = (notesAt + BigInt(notes.length) + 4095n) & ~4095n;
  const phdrs = phdrsFor(dataStart);
  phdrs[0]!.offset = notesAt;
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, writeElfCoreHeader(64, EM_X86_64, phdrs, 4096n), 0, Number(headerSize), 0);
    fs.writeSync(fd, notes, 0, notes.length, Number(notesAt));
    loads.forEach((l, i) => fs.writeSync(fd, oldRam(c, fill, l.paddr, l.end), 0, Number(l.end - l.paddr), Number(phdrs[i + 1]!.offset)));
  } finally {
    fs.closeSync(fd);
  }
}

const TEXT = { paddr: 0x1000000n, end: 0x3000000n, vaddr: 0xffffffff81000000n };
const direct = (paddr: bigint, end: bigint) => ({ paddr, end, vaddr: 0xffff888000000000n + paddr });
const FILL: FillPattern = { key: 0x5a5a5a5a00000000n };

test('a dump by the kexec_file_load rules passes: loads, kernel text, notes, and the pattern named in vmcoreinfo', () => {
  const c = machine();
  const file = path.join(dir(), 'vmcore');
  writeDump(file, c, FILL, [TEXT, direct(0x100000n, 0x3000000n)]);
  const v = readVmcore(file);
  assert.equal(v.notes.length, 2);
  assert.equal(v.notes[0]!.prstatus!.pid, 1);
  assert.equal(v.notes[1]!.vmcoreinfo!.OSRELEASE, c.osrelease);
  const { checks, fill } = checkVmcore(v, c, null);
  assert.equal(fill, 'addr^0x5a5a5a5a00000000 (vmcoreinfo VKEXEC_FILL)');
  for (const ch of checks) assert.ok(ch.ok, `${ch.name}: ${ch.detail}`);
  assert.match(checks.find((ch) => ch.name === 'RAM loads')!.detail, /kexec_file_load/);
  // Without the machine the pattern is still checked (the note buffers sit at the machine's fixed places).
  assert.ok(checkVmcore(v, null, null).checks.every((ch) => ch.ok));
  // A wrong --fill is a failure, not a silent pass.
  assert.ok(!checkVmcore(v, c, { key: 0n }).checks.find((ch) => ch.name.startsWith('fill pattern'))!.ok);
});

test('a dump by kexec-tools -c rules (low range kept) passes; the rule set is named', () => {
  const c = machine();
  const file = path.join(dir(), 'vmcore');
  writeDump(file, c, FILL, [TEXT, direct(0x3000n, 0x9fc00n), direct(0x100000n, 0x3000000n)]);
  const { checks } = checkVmcore(readVmcore(file), c, null);
  for (const ch of checks) assert.ok(ch.ok, `${ch.name}: ${ch.detail}`);
  assert.match(checks.find((ch) => ch.name === 'RAM loads')!.detail, /kexec-tools' -c/);
});

test('one changed byte is found at its physical address', () => {
  const c = machine();
  const file = path.join(dir(), 'vmcore');
  writeDump(file, c, FILL, [TEXT, direct(0x100000n, 0x3000000n)]);
  const v = readVmcore(file);
  const ram = v.loads.find((l) => l.kind === 'ram')!;
  const victim = 0x2345678n;
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, Number(ram.offset + (victim - ram.paddr)));
  b[0]! ^= 0x80;
  fs.writeSync(fd, b, 0, 1, Number(ram.offset + (victim - ram.paddr)));
  fs.closeSync(fd);
  const check = checkVmcore(readVmcore(file), c, null).checks.find((ch) => ch.name.startsWith('fill pattern'))!;
  assert.equal(check.ok, false);
  assert.match(check.detail, /1 page\(s\) differ.*physical 0x2345678$/);
});

test('a truncated dump, loads over the crash region, and a file that is no vmcore are reported', () => {
  const c = machine();
  const d = dir();
  const good = path.join(d, 'vmcore');
  writeDump(good, c, FILL, [TEXT, direct(0x100000n, 0x3000000n)]);
  const cut = path.join(d, 'cut');
  fs.copyFileSync(good, cut);
  fs.truncateSync(cut, fs.statSync(good).size - 8192);
  const truncated = checkVmcore(readVmcore(cut), c, null).checks;
  assert.equal(truncated.find((ch) => ch.name === 'file size')!.ok, false);

  const wide = path.join(d, 'wide');
  writeDump(wide, c, FILL, [TEXT, direct(0x100000n, 0x4000000n)]); // the crash region dumped too
  const loads = checkVmcore(readVmcore(wide), c, null).checks.find((ch) => ch.name === 'RAM loads')!;
  assert.equal(loads.ok, false);
  assert.match(loads.detail, /not the machine's RAM outside the crash regions: \[0x3000000, 0x4000000\)/);

  const junk = path.join(d, 'junk');
  fs.writeFileSync(junk, Buffer.alloc(8192, 0x41));
  assert.throws(() => readVmcore(junk), (e) => e instanceof UsageError && /not an ELF vmcore: no ELF magic/.test(e.message));
  assert.throws(() => readVmcore(path.join(d, 'missing')), (e) => e instanceof UsageError && /cannot open/.test(e.message));
});
