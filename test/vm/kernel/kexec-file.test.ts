// kexec_file_load's kernel side on Debian's amd64 kernel: the order of checks and their errnos, the probe
// messages, kexec_add_buffer placement, digests, and the crash path (elfcorehdr prefix, crash e820).

import { X86_KEXEC_FILE_LOADERS } from '../../../src/loaders/index.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { KexecError } from '../../../src/errno.js';
import { defaultConfig, newState, readState, writeState } from '../../../src/vm/machine/machine.js';
import { defaultIomem, GiB } from '../../../src/vm/machine/machine-config.js';
import { parseCrashkernel, reserveCrashkernel } from '../../../src/vm/machine/crashkernel.js';
import { KEXEC_FILE_NO_INITRAMFS, KEXEC_FILE_ON_CRASH, KEXEC_FILE_UNLOAD, kexecFileLoad, type FileArg } from '../../../src/vm/kernel/kexec-file.js';
import { machineKexec } from '../../../src/vm/kernel/machine-kexec.js';
import { MemoryReader } from '../../../src/vm/memory/memory-reader.js';
import { findPurgatoryInfo } from '../../../src/arch/x86/purgatory-info.js';
import { getShaRegions } from '../../../src/arch/x86/purgatory-symbols.js';
import { readE820 } from '../../../src/arch/x86/boot-params.js';
import { tryLock } from '../../../src/vm/machine/lock.js';
import { fixture } from '../../helpers/fixtures.js';
import { tempDir } from '../../helpers/cli.js';

const KERNEL = fixture('vmlinuz-amd64-unsigned');
const kernel = fs.readFileSync(KERNEL);
const work = tempDir();
const INITRD = path.join(work, 'initrd');
fs.writeFileSync(INITRD, randomBytes(300000));
const line = (s: string) => Buffer.from(s + '\0');

function machine(mem = 512n << 20n, crash?: string): string {
  const dir = path.join(tempDir(), 'm');
  fs.mkdirSync(dir);
  const s = newState(defaultConfig());
  s.config.memBytes = mem;
  s.config.iomem = defaultIomem(mem);
  if (crash) reserveCrashkernel(s.config.iomem, parseCrashkernel([crash], mem));
  writeState(dir, s);
  return dir;
}

function errno(fn: () => unknown): KexecError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KexecError, String(e));
    return e;
  }
  assert.fail('expected a KexecError');
}

const k: FileArg = { kind: 'path', path: KERNEL };

test('segments in the kernel order: purgatory, boot_params, kernel (top of RAM), initrd; digests cover all but the purgatory', () => {
  const dir = machine();
  const r = kexecFileLoad(dir, { kernel: k, initrd: { kind: 'path', path: INITRD }, cmdline: line('console=ttyS0'), flags: 8 }, X86_KEXEC_FILE_LOADERS);
  const segs = r.image!.segments;
  assert.equal(segs.length, 4);
  const [purg, params, kern, rd] = segs as [(typeof segs)[0], (typeof segs)[0], (typeof segs)[0], (typeof segs)[0]];
  assert.equal(purg.mem + purg.memsz, 0x1ffe0000n, 'purgatory top-down from the top of RAM');
  assert.equal(params.mem + params.memsz, purg.mem);
  const align = BigInt(kernel.readUInt32LE(0x230));
  const kmemsz = (BigInt(kernel.readUInt32LE(0x260)) + 0xfffn) & ~0xfffn;
  assert.equal(kern.mem, ((params.mem - kmemsz) / align) * align);
  assert.equal(kern.memsz, kmemsz);
  assert.equal(rd.mem, ((kern.mem - 300000n) / 4096n) * 4096n);
  assert.ok(r.log.some((l) => /kexec-bzImage64: Loaded 64bit kernel at 0x[0-9a-f]+ bufsz=0x[0-9a-f]+ memsz=/.test(l)));
  // The purgatory's regions and digest are what Linux's kexec_calculate_store_digests stores.
  const { memory } = machineKexec(dir, readState(dir), r.image!);
  const mem = new MemoryReader(memory);
  const info = findPurgatoryInfo(mem.read(purg.mem, Number(purg.memsz)))!;
  assert.ok(info);
  const regions = new DataView(mem.read(info.sha256Regions, 256).buffer);
  const want = Buffer.from(mem.read(info.sha256Digest, 32));
  const h = createHash('sha256');
  const starts: bigint[] = [];
  for (let i = 0; i < 16; i++) {
    const len = regions.getBigUint64(i * 16 + 8, true);
    if (!len) continue;
    starts.push(regions.getBigUint64(i * 16, true));
    mem.stream(regions.getBigUint64(i * 16, true), len, (c) => h.update(c));
  }
  assert.deepEqual(starts, [params.mem, kern.mem, rd.mem]);
  assert.deepEqual(h.digest(), want);
  // boot_params: the command line at +0x1000, initrd pointers, e820 from the machine, ext_mem_k.
  const bp = mem.read(params.mem, 4096);
  const dv = new DataView(bp.buffer);
  assert.equal(BigInt(dv.getUint32(0x228, true)), params.mem + 0x1000n);
  assert.equal(Buffer.from(mem.read(params.mem + 0x1000n, 14)).toString(), 'console=ttyS0\0');
  assert.equal(BigInt(dv.getUint32(0x218, true)), rd.mem);
  assert.equal(dv.getUint32(0x21c, true), 300000);
  assert.equal(bp[0x210], 0xd0, 'type_of_loader');
  assert.ok(readE820(bp).length >= 3);
  assert.equal(dv.getUint16(0x02, true), 0xfc00, 'ext_mem_k capped at 64M');
  mem.close();
  void getShaRegions;
});

test('order of checks and errnos: flags, lock, unload, file reads, command line, probe', () => {
  const dir = machine();
  assert.equal(errno(() => kexecFileLoad(dir, { kernel: k, initrd: null, cmdline: null, flags: 0x40 | KEXEC_FILE_NO_INITRAMFS }, X86_KEXEC_FILE_LOADERS)).errno, 'EINVAL');
  const lock = tryLock(dir, 'test');
  assert.equal(errno(() => kexecFileLoad(dir, { kernel: k, initrd: null, cmdline: null, flags: KEXEC_FILE_NO_INITRAMFS }, X86_KEXEC_FILE_LOADERS)).errno, 'EBUSY');
  lock.release();
  assert.equal(kexecFileLoad(dir, { kernel: { kind: 'badfd' }, initrd: null, cmdline: null, flags: KEXEC_FILE_UNLOAD }, X86_KEXEC_FILE_LOADERS).unloaded, false, 'UNLOAD ignores the fds');
  assert.equal(errno(() => kexecFileLoad(dir, { kernel: { kind: 'badfd' }, initrd: null, cmdline: null, flags: KEXEC_FILE_NO_INITRAMFS }, X86_KEXEC_FILE_LOADERS)).errno, 'EBADF');
  const empty = path.join(work, 'empty');
  fs.writeFileSync(empty, '');
  assert.equal(errno(() => kexecFileLoad(dir, { kernel: { kind: 'path', path: empty }, initrd: null, cmdline: null, flags: KEXEC_FILE_NO_INITRAMFS }, X86_KEXEC_FILE_LOADERS)).errno, 'EINVAL');
  assert.equal(errno(() => kexecFileLoad(dir, { kernel: { kind: 'path', path: work }, initrd: null, cmdline: null, flags: KEXEC_FILE_NO_INITRAMFS }, X86_KEXEC_FILE_LOADERS)).errno, 'EINVAL');
  const huge = path.join(work, 'huge');
  fs.closeSync(fs.openSync(huge, 'w'));
  fs.truncateSync(huge, 5 * 2 ** 30);
  assert.equal(errno(() => kexecFileLoad(dir, { kernel: k, initrd: { kind: 'path', path: huge }, cmdline: null, flags: 0 }, X86_KEXEC_FILE_LOADERS)).errno, 'EFBIG');
  assert.equal(errno(() => kexecFileLoad(dir, { kernel: k, initrd: null, cmdline: null, flags: 0 }, X86_KEXEC_FILE_LOADERS)).errno, 'EBADF', 'no initrd fd and no NO_INITRAMFS');
  assert.equal(errno(() => kexecFileLoad(dir, { kernel: k, initrd: null, cmdline: Buffer.from('abc'), flags: KEXEC_FILE_NO_INITRAMFS }, X86_KEXEC_FILE_LOADERS)).errno, 'EINVAL', 'command line must end in NUL');
  const e = errno(() => kexecFileLoad(dir, { kernel: k, initrd: null, cmdline: line('x'.repeat(2030)), flags: KEXEC_FILE_NO_INITRAMFS }, X86_KEXEC_FILE_LOADERS));
  assert.equal(e.errno, 'EINVAL');
  assert.match(e.message, /Appending elfcorehdr=<addr> to command line exceeds maximum allowed length/);
  assert.equal(readState(dir).images.normal, null, 'nothing loaded by any refusal');
});

test('probe: the kernel\'s bzImage64_probe messages, ENOEXEC', () => {
  const dir = machine();
  const probe = (mutate: (b: Buffer) => Buffer) => {
    const b = mutate(Buffer.from(kernel));
    return errno(() => kexecFileLoad(dir, { kernel: { kind: 'memfd', name: 't', data: b }, initrd: null, cmdline: null, flags: KEXEC_FILE_NO_INITRAMFS }, X86_KEXEC_FILE_LOADERS));
  };
  const cases: [string, (b: Buffer) => Buffer][] = [
    ['File is too short to be a bzImage', (b) => b.subarray(0, 1000)],
    ['Not a bzImage', (b) => (b.write('XXXX', 0x202), b)],
    ['No x86 boot sector present', (b) => (b.writeUInt16LE(0, 0x1fe), b)],
    ['Must be at least protocol version 2.12', (b) => (b.writeUInt16LE(0x20b, 0x206), b)],
    ['zImage not a bzImage', (b) => ((b[0x211]! &= ~1), b)],
    ['Not a bzImage64. XLF_KERNEL_64 is not set.', (b) => (b.writeUInt16LE(b.readUInt16LE(0x236) & ~1, 0x236), b)],
    ['XLF_CAN_BE_LOADED_ABOVE_4G is not set.', (b) => (b.writeUInt16LE(b.readUInt16LE(0x236) & ~2, 0x236), b)],
  ];
  for (const [msg, mutate] of cases) {
    const e = probe(mutate);
    assert.equal(e.errno, 'ENOEXEC', msg);
    assert.equal(e.message, msg);
  }
  const trunc = probe((b) => b.subarray(0, 4000));
  assert.equal(trunc.errno, 'ENOEXEC');
  assert.match(trunc.message, /bzImage truncated/);
});

test('crash: elfcorehdr bottom-up in crashk_res, "elfcorehdr=0x... " prefix, crash e820 without the header', () => {
  const dir = machine(1n * GiB, '256M');
  const r = kexecFileLoad(dir, { kernel: k, initrd: { kind: 'path', path: INITRD }, cmdline: line('console=ttyS0'), flags: KEXEC_FILE_ON_CRASH }, X86_KEXEC_FILE_LOADERS);
  const state = readState(dir);
  const crash = state.config.iomem.flatMap((x) => x.children).find((c) => c.name === 'Crash kernel')!;
  const segs = r.image!.segments;
  assert.equal(segs[0]!.mem, crash.start, 'ELF headers first, at the bottom of the region');
  for (const s of segs) assert.ok(s.mem >= crash.start && s.mem + s.memsz - 1n <= crash.end);
  assert.equal(r.image!.info.cmdline, `elfcorehdr=0x${crash.start.toString(16)} console=ttyS0`);
  const { memory } = machineKexec(dir, state, r.image!);
  const mem = new MemoryReader(memory);
  const hdr = Buffer.from(mem.read(segs[0]!.mem, 64));
  assert.equal(hdr.toString('latin1', 0, 4), '\x7fELF');
  assert.equal(hdr.readUInt16LE(16), 4, 'ET_CORE');
  const e820 = readE820(mem.read(segs[2]!.mem, 4096)); // [0] headers, [1] purgatory, [2] boot_params
  const ram = e820.filter((e) => e.type === 1);
  // 6.12 (the default release) sizes the header segment for crash hotplug: 2 + 8192 CPUs + 8192 memory ranges
  // program headers, and the capture kernel's RAM starts right after that unrounded size (measured on 6.12.118).
  const elfHeadersSz = BigInt(64 + 56 * (2 + 8192 + 8192));
  assert.equal(segs[0]!.memsz, (elfHeadersSz + 0xfffn) & ~0xfffn);
  assert.ok(ram.some((e) => e.addr === crash.start + elfHeadersSz && e.addr + e.size - 1n === crash.end), 'crashk_res minus elf_headers_sz');
  assert.ok(ram.every((e) => e.addr < 0x100000n || (e.addr >= crash.start && e.addr + e.size - 1n <= crash.end)), 'no RAM outside the low 1 MiB and the region');
  mem.close();
  // A failed crash load leaves no crash kernel (the old one was freed first).
  errno(() => kexecFileLoad(dir, { kernel: { kind: 'memfd', name: 'junk', data: randomBytes(4096) }, initrd: null, cmdline: null, flags: KEXEC_FILE_ON_CRASH | KEXEC_FILE_NO_INITRAMFS }, X86_KEXEC_FILE_LOADERS));
  assert.equal(readState(dir).images.crash, null);
});
