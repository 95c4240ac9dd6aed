// The old kernel's RAM at a panic (src/vm/panic.ts) and the fill pattern (src/vm/fill-pattern.ts): the notes
// as crash_save_cpu and update_vmcoreinfo_note lay them out, read back with the ELF note reader; the pattern's
// words; the memory image the engines get, read back through MemoryReader.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../../src/errno.js';
import { readElfNotes, parseVmcoreinfo } from '../../../src/formats/elf-core.js';
import { fillPatternBytes, firstPatternMismatch, formatFillPattern, parseFillPattern } from '../../../src/vm/memory/fill-pattern.js';
import { defaultConfig } from '../../../src/vm/machine/machine.js';
import { CRASH_NOTES_SIZE, VMCOREINFO_NOTE_SIZE, crashNotesAddr, defaultIomem, vmcoreinfoNoteAddr, type MachineConfig } from '../../../src/vm/machine/machine-config.js';
import { parseCrashkernel, reserveCrashkernel } from '../../../src/vm/machine/crashkernel.js';
import type { MemoryImage } from '../../../src/vm/memory/memory-image.js';
import { MemoryReader } from '../../../src/vm/memory/memory-reader.js';
import { ELF_PRSTATUS, NT_PRSTATUS, USER_REGS, crashKexecMemory, crashNotesBuffer, vmcoreinfoNote } from '../../../src/vm/kernel/panic.js';
import { KexecError } from '../../../src/errno.js';

const MiB = 1n << 20n;

function machine(mem: bigint, crashkernel: string | null, cpus = 1, arch: MachineConfig['arch'] = 'x86_64'): MachineConfig {
  const c = { ...defaultConfig(), memBytes: mem, iomem: defaultIomem(mem), cpus, arch };
  if (crashkernel) reserveCrashkernel(c.iomem, parseCrashkernel([crashkernel], mem), arch);
  return c;
}

test('fill pattern: each little-endian 8-byte word is its address XOR the key, at any alignment and across 4 GiB', () => {
  assert.deepEqual(parseFillPattern('addr'), { key: 0n });
  assert.deepEqual(parseFillPattern('addr^0x5a5a5a5a00000000'), { key: 0x5a5a5a5a00000000n });
  assert.equal(formatFillPattern(parseFillPattern('addr^255')), 'addr^0xff');
  for (const bad of ['', 'zero', 'addr^', 'addr^0x1ffffffffffffffff', 'addr^-1']) assert.throws(() => parseFillPattern(bad), UsageError, bad);

  const key = 0x0123456789abcdefn;
  const at = 0xffffffe0n; // the low 32 bits wrap inside this run
  const buf = new Uint8Array(64);
  fillPatternBytes(buf, at, { key });
  const view = new DataView(buf.buffer);
  for (let i = 0; i < 8; i++) assert.equal(view.getBigUint64(i * 8, true), (at + BigInt(i * 8)) ^ key, `word ${i}`);
  // An unaligned window holds the same bytes as the aligned run around it.
  const part = new Uint8Array(21);
  fillPatternBytes(part, at + 3n, { key });
  assert.deepEqual(part, buf.subarray(3, 24));
  assert.equal(firstPatternMismatch(buf, at, { key }), -1);
  buf[37] ^= 1;
  assert.equal(firstPatternMismatch(buf, at, { key }), 37);
});

test('crash_notes: a CORE NT_PRSTATUS note then the empty note, pid 1 on the panicking CPU, ip at _stext', () => {
  const c = machine(512n * MiB, '128M', 2);
  for (const cpu of [0, 1]) {
    const buf = crashNotesBuffer(c, cpu, 0);
    assert.equal(BigInt(buf.length), CRASH_NOTES_SIZE);
    const notes = readElfNotes(buf);
    assert.equal(notes.length, 1, 'the empty note ends the list');
    const n = notes[0]!;
    assert.equal(n.name, 'CORE');
    assert.equal(n.type, NT_PRSTATUS);
    assert.equal(n.desc.length, ELF_PRSTATUS.x86_64.size);
    const v = new DataView(n.desc.buffer, n.desc.byteOffset, n.desc.byteLength);
    assert.equal(v.getInt32(ELF_PRSTATUS.x86_64.pr_pid, true), cpu === 0 ? 1 : 0);
    const reg = (name: string) => v.getBigUint64(ELF_PRSTATUS.x86_64.pr_reg + USER_REGS.x86_64.indexOf(name as never) * 8, true);
    assert.equal(reg('ip'), 0xffffffff81000000n);
    assert.equal(reg('cs'), 0x10n);
    assert.equal(reg('orig_ax'), (1n << 64n) - 1n);
  }
  const i386 = readElfNotes(crashNotesBuffer(machine(512n * MiB, '128M', 1, 'i386'), 0, 0))[0]!;
  assert.equal(i386.desc.length, ELF_PRSTATUS.i386.size);
  const v = new DataView(i386.desc.buffer, i386.desc.byteOffset, i386.desc.byteLength);
  assert.equal(v.getUint32(ELF_PRSTATUS.i386.pr_reg + 12 * 4, true), 0xc1000000, 'eip');
});

test('vmcoreinfo note: VMCOREINFO with OSRELEASE, PAGESIZE, CRASHTIME and the fill pattern, in VMCOREINFO_NOTE_SIZE bytes', () => {
  const c = machine(512n * MiB, '128M');
  const buf = vmcoreinfoNote(c, { fill: { key: 7n }, crashTime: 1700000000n });
  assert.equal(BigInt(buf.length), VMCOREINFO_NOTE_SIZE);
  const notes = readElfNotes(buf);
  assert.equal(notes.length, 1);
  assert.equal(notes[0]!.name, 'VMCOREINFO');
  assert.equal(notes[0]!.type, 0);
  const info = parseVmcoreinfo(notes[0]!.desc);
  assert.equal(info.get('OSRELEASE'), c.osrelease);
  assert.equal(info.get('PAGESIZE'), '4096');
  assert.equal(info.get('CRASHTIME'), '1700000000');
  assert.equal(info.get('VKEXEC_FILL'), 'addr^0x7');
  assert.equal(info.get('KERNELOFFSET'), '0');
  assert.ok(!parseVmcoreinfo(readElfNotes(vmcoreinfoNote(c, { fill: null, crashTime: 1n }))[0]!.desc).has('VKEXEC_FILL'));
});

test('crashKexecMemory: crash segments kept, notes in old RAM, the pattern over all other RAM outside the crash region', () => {
  const c = machine(512n * MiB, '128M', 2);
  const crash = c.iomem.flatMap((r) => r.children).find((r) => r.name === 'Crash kernel')!;
  const seg = new Uint8Array(4096).fill(0xaa);
  const image: MemoryImage = { ramSize: c.memBytes, e820: [], extents: [{ addr: crash.start, length: 4096, kind: 'bytes', data: seg }] };
  const { memory, details } = crashKexecMemory(c, image, { fill: { key: 0n }, crashTime: 1n });
  assert.match(details.join('\n'), /crash_notes for 2 CPUs/);
  assert.match(details.join('\n'), /filled with pattern addr/);
  for (let i = 1; i < memory.extents.length; i++) {
    const a = memory.extents[i - 1]!;
    assert.ok(a.addr + BigInt(a.length) <= memory.extents[i]!.addr, 'sorted and disjoint');
  }
  for (const e of memory.extents.filter((x) => x.kind === 'pattern')) {
    assert.ok(e.addr + BigInt(e.length) <= crash.start || e.addr > crash.end, `pattern run at 0x${e.addr.toString(16)} stays out of the crash region`);
  }
  const mem = new MemoryReader(memory);
  try {
    assert.deepEqual(mem.read(crash.start, 4096), seg);
    assert.deepEqual(mem.read(crash.start + 4096n, 64), new Uint8Array(64), 'unused crash memory is not filled');
    const notes = readElfNotes(mem.read(crashNotesAddr(1), Number(CRASH_NOTES_SIZE)));
    assert.equal(notes[0]!.name, 'CORE');
    assert.equal(readElfNotes(mem.read(vmcoreinfoNoteAddr(), Number(VMCOREINFO_NOTE_SIZE)))[0]!.name, 'VMCOREINFO');
    for (const at of [0x3000n, 0x100000n, 0x1000000n, crashNotesAddr(1) + CRASH_NOTES_SIZE, crash.start - 8n, crash.end + 1n, 0x1ffdfff8n]) {
      assert.equal(firstPatternMismatch(mem.read(at, 8), at, { key: 0n }), -1, `pattern at 0x${at.toString(16)}`);
    }
  } finally {
    mem.close();
  }
  const plain = crashKexecMemory(c, image, { fill: null, crashTime: 1n }).memory;
  assert.equal(plain.extents.filter((e) => e.kind === 'pattern').length, 0, 'no --fill: no pattern');
});

test('crashKexecMemory refuses a machine whose note buffers are not RAM outside the crash region', () => {
  const c = machine(512n * MiB, null);
  // A crash region over "Kernel data", where the notes live (only a hand-made map can do this).
  const ram = c.iomem.find((r) => r.name === 'System RAM' && r.start === 0x100000n)!;
  ram.children = [{ start: 0x2000000n, end: 0x2ffffffn, name: 'Crash kernel', children: [] }];
  const image: MemoryImage = { ramSize: c.memBytes, e820: [], extents: [] };
  assert.throws(() => crashKexecMemory(c, image, { fill: null, crashTime: 1n }), (e) => e instanceof KexecError && e.errno === 'EFAULT' && /note buffer/.test(e.message));
});
