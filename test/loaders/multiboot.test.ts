// The multiboot-x86 and multiboot2-x86 file types on small images built here, checked against kexec-tools
// 2.0.32's kexec-multiboot-x86.c and kexec-mb2-x86.c: probe checks, where each buffer goes, the multiboot
// information byte by byte, and the 32-bit entry registers the purgatory is given.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { KexecInfo } from '../../src/kexec/kexec-info.js';
import { RANGE, type MemoryRange } from '../../src/kexec/memory-ranges.js';
import type { LoadRequest } from '../../src/kexec/file-type.js';
import { getEntry32Regs } from '../../src/arch/x86/purgatory-symbols.js';
import { multibootX86FileType } from '../../src/loaders/userspace/multiboot-x86.js';
import { multiboot2X86FileType } from '../../src/loaders/userspace/multiboot2-x86.js';
import { KEXEC_TOOLS_VERSION } from '../../src/kexec/version.js';
import { tempDir } from '../helpers/cli.js';
import { cstr, elf32, mb1Header, mb2Header, readMb2Info, readPhys } from './multiboot-images.js';

const quiet = { enabled: false, print: () => undefined };
const work = tempDir();
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
const MOD1 = path.join(work, 'mod1.bin');
const MOD2 = path.join(work, 'mod2.gz');
const mod1 = Buffer.from('first module '.repeat(500));
const mod2 = Buffer.from('second module, gzip-compressed on disk '.repeat(300));
fs.writeFileSync(MOD1, mod1);
fs.writeFileSync(MOD2, zlib.gzipSync(mod2));

/** A QEMU-like 512 MiB map as vkexec's default machine shows it (RAM from 0x3000). */
function ranges(): MemoryRange[] {
  return [
    { start: 0n, end: 0x2fffn, type: RANGE.RESERVED },
    { start: 0x3000n, end: 0x9fbffn, type: RANGE.RAM },
    { start: 0x9fc00n, end: 0x9ffffn, type: RANGE.RESERVED },
    { start: 0xf0000n, end: 0xfffffn, type: RANGE.RESERVED },
    { start: 0x100000n, end: 0x1ffdffffn, type: RANGE.RAM },
    { start: 0x1ffe0000n, end: 0x1fffffffn, type: RANGE.ACPI },
  ];
}

function request(kernel: Buffer, extra: Partial<LoadRequest> = {}): LoadRequest {
  return {
    kernelPath: '/boot/test.img', kernel, cmdline: null, initrd: null, arch: 'x86_64', crash: false, entry32bit: false,
    realMode: false, argsMode: 'elf', console: { resetVga: false, consoleVga: false, consoleSerial: false, serialBase: 0x3f8, serialBaud: 115200 },
    files: () => null, debug: quiet, ...extra,
  };
}

function mb1Elf(flags: number): Buffer {
  const payload = Buffer.alloc(0x2000, 0x90);
  mb1Header(flags).copy(payload, 0x10);
  return elf32(payload, 0x100000, 0x100100, 0x1000);
}

test('multiboot-x86 (ELF): information, memory map, modules and EAX/EBX/EIP as kexec-tools builds them', () => {
  const img = mb1Elf(0x3);
  assert.ok(multibootX86FileType.probe(img, quiet));
  const info = new KexecInfo(ranges(), 0, quiet);
  const req = request(img, { cmdline: 'reused x=1', modules: [`${MOD1} one two`, MOD2] });
  const out = multibootX86FileType.load(req, info);
  const regs = getEntry32Regs(out.purgatory!);
  assert.equal(regs.eax, 0x2badb002);
  assert.equal(regs.eip, 0x100100);
  const mbi = BigInt(regs.ebx);
  const head = readPhys(info, mbi, 120);
  assert.equal(head.readUInt32LE(0), 0x1 | 0x4 | 0x8 | 0x40 | 0x200, 'MEMORY|CMDLINE|MODS|MEM_MAP|BOOT_LOADER_NAME');
  assert.equal(head.readUInt32LE(4), 0x9fbff >> 10, 'mem_lower: end of the RAM range starting below 64 KiB');
  assert.equal(head.readUInt32LE(8), (0x1ffdffff - 0x100000) >> 10, 'mem_upper');
  assert.equal(cstr(info, BigInt(head.readUInt32LE(16))), '/boot/test.img reused x=1');
  assert.equal(head.readUInt32LE(16), Number(mbi) + 120, 'command line right after the 120-byte struct');
  assert.equal(cstr(info, BigInt(head.readUInt32LE(64))), `kexec ${KEXEC_TOOLS_VERSION}`);
  // The memory map: one 24-byte AddrRangeDesc per range, size field 20, types 1/2/3.
  assert.equal(head.readUInt32LE(44), 6 * 24);
  const mmap = readPhys(info, BigInt(head.readUInt32LE(48)), 6 * 24);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => [mmap.readUInt32LE(i * 24), mmap.readUInt32LE(i * 24 + 20)]), [[20, 2], [20, 1], [20, 2], [20, 2], [20, 1], [20, 3]]);
  assert.equal(mmap.readBigUInt64LE(24 + 4), 0x3000n, 'entries keep the range start kexec-tools read');
  // Modules: descriptors after the strings (4-aligned), command lines after them; data decompressed.
  assert.equal(head.readUInt32LE(20), 2);
  const mods = readPhys(info, BigInt(head.readUInt32LE(24)), 32);
  const m = [0, 1].map((i) => ({ start: mods.readUInt32LE(i * 16), end: mods.readUInt32LE(i * 16 + 4), cmd: cstr(info, BigInt(mods.readUInt32LE(i * 16 + 8))) }));
  assert.deepEqual(m.map((x) => x.cmd), [`${MOD1} one two`, MOD2]);
  assert.deepEqual(readPhys(info, BigInt(m[0]!.start), m[0]!.end - m[0]!.start), mod1);
  assert.deepEqual(readPhys(info, BigInt(m[1]!.start), m[1]!.end - m[1]!.start), mod2);
  assert.equal(m[0]!.start % 4096, 0);
  // Placement: purgatory, memory map, modules lowest; the information last, lowest, below 4 GiB.
  assert.ok(out.purgatory!.loadAddr < BigInt(head.readUInt32LE(48)));
  assert.ok(BigInt(head.readUInt32LE(48)) < mbi);
  assert.deepEqual(out.stderr, []);
});

test('multiboot-x86: no MEMORY_INFO flag, no map; VIDEO_MODE without --reset-vga says there is no /dev/fb0', () => {
  const info = new KexecInfo(ranges(), 0, quiet);
  const out = multibootX86FileType.load(request(mb1Elf(0x4)), info);
  const head = readPhys(info, BigInt(getEntry32Regs(out.purgatory!).ebx), 120);
  assert.equal(head.readUInt32LE(0), 0x4 | 0x200);
  assert.equal(head.readUInt32LE(24), Number(getEntry32Regs(out.purgatory!).ebx), 'mods_addr relocated even with no modules');
  assert.deepEqual(out.stderr, ["can't open /dev/fb0: No such file or directory", 'not providing framebuffer information.']);
  const vga = new KexecInfo(ranges(), 0, quiet);
  const o2 = multibootX86FileType.load(request(mb1Elf(0x4), { console: { resetVga: true, consoleVga: false, consoleSerial: false, serialBase: 0x3f8, serialBaud: 115200 } }), vga);
  const h2 = readPhys(vga, BigInt(getEntry32Regs(o2.purgatory!).ebx), 120);
  assert.equal(h2.readUInt32LE(0) & 0x1000, 0x1000);
  assert.deepEqual([h2.readBigUInt64LE(88), h2.readUInt32LE(100), h2.readUInt32LE(104), h2[108], h2[109]], [0xb8000n, 80, 25, 16, 2]);
});

test('multiboot-x86 (a.out kludge): the file span at load_addr, bss to bss_end, entry_addr; bad headers refused', () => {
  const bin = Buffer.alloc(0x3000, 0xcc);
  const k = { header: 0x200000, load: 0x200000, loadEnd: 0x203000, bssEnd: 0x205000, entry: 0x200040 };
  mb1Header(0x10002, k).copy(bin, 0);
  const info = new KexecInfo(ranges(), 0, quiet);
  const out = multibootX86FileType.load(request(bin), info);
  const seg = info.segments.find((s) => s.mem === 0x200000n)!;
  assert.equal(seg.bufsz, 0x3000);
  assert.equal(seg.memsz, 0x5000n);
  assert.equal(getEntry32Regs(out.purgatory!).eip, 0x200040);
  const why: string[] = [];
  const dbg = { enabled: false, print: (l: string) => why.push(l) };
  const probe = (h: typeof k, flags = 0x10002) => {
    const b = Buffer.alloc(0x3000);
    mb1Header(flags, h).copy(b, 0);
    why.length = 0;
    return multibootX86FileType.probe(b, dbg) ? 'ok' : why.join();
  };
  assert.equal(probe({ ...k, load: 0x200010, header: 0x200010 }), 'multiboot load address not 4k aligned');
  assert.equal(probe({ ...k, entry: 0x203000 }), 'multiboot entry out of range');
  assert.equal(probe({ ...k, loadEnd: 0x210000, bssEnd: 0x210000 }), 'multiboot file truncated');
  assert.equal(probe({ ...k, bssEnd: 0x100000 }), 'multiboot bss end address < load end address');
  assert.match(probe(k, 0x10002 | 0x8), /requires multiboot options that I\ndon't understand/);
  assert.equal(probe(k), 'ok');
});

function mb2Elf(tags: Parameters<typeof mb2Header>[0], machine = 3): Buffer {
  const payload = Buffer.alloc(0x2000, 0x90);
  mb2Header(tags).copy(payload, 0x10);
  return elf32(payload, 0x100000, 0x100100, 0x1000, machine);
}

test('multiboot2-x86: tags in kexec-tools order, --reuse-cmdline dropped, relocatable image moved, magic in EAX', () => {
  const img = mb2Elf([{ type: 10, flags: 1, words: [0x1000000, 0xffffffff, 0x200000, 2] }, { type: 5, flags: 1, words: [0, 0, 0] }]);
  assert.ok(multiboot2X86FileType.probe(img, quiet));
  const info = new KexecInfo(ranges(), 0, quiet);
  const out = multiboot2X86FileType.load(request(img, { cmdline: 'reused x=1', append: 'x=1', modules: [`${MOD1} a`, MOD2] }), info);
  const regs = getEntry32Regs(out.purgatory!);
  assert.equal(regs.eax, 0x36d76289);
  assert.ok(info.segments.some((s) => s.mem === 0x1000000n), 'the ELF moved to the relocatable range');
  assert.equal(regs.eip, 0x1000100, 'entry moved with it');
  const mbi = readMb2Info(info, BigInt(regs.ebx));
  assert.deepEqual(mbi.tags.map((t) => t.type), [4, 6, 21, 1, 2, 3, 3, 0]);
  // multiboot2_get_mbi_size: 8 + 16 + (16+6*24) + (8+align8(cmdline)) + (8+align8(name)) + 2*16 + modules' strings + 8 + 16 + 40
  const cmd = '/boot/test.img x=1\0';
  const name = `kexec ${KEXEC_TOOLS_VERSION}\0`;
  const al = (n: number) => (n + 7) & ~7;
  assert.equal(mbi.totalSize, 8 + 16 + 160 + 8 + al(cmd.length) + 8 + al(name.length) + 32 + `${MOD1} a`.length + 1 + MOD2.length + 1 + 8 + 16 + 40);
  assert.equal(mbi.tags[3]!.body.toString('latin1', 0, cmd.length), cmd);
  assert.equal(mbi.tags[2]!.body.readUInt32LE(0), Number(out.purgatory!.loadAddr), 'load base = the purgatory address, as 2.0.32 passes it');
  assert.equal(mbi.tags[1]!.body.readUInt32LE(0), 24, 'mmap entry_size');
  const mod = mbi.tags[5]!.body;
  assert.deepEqual(readPhys(info, BigInt(mod.readUInt32LE(0)), mod.readUInt32LE(4) - mod.readUInt32LE(0)), mod1);
  assert.equal(mod.toString('latin1', 8, 8 + MOD1.length + 2), `${MOD1} a`);
  assert.deepEqual(out.stderr, ["can't open /dev/fb0: No such file or directory"]);
});

test('multiboot2-x86: probe wants an x86 ELF with a header; an unknown required tag is reported as 2.0.32 does', () => {
  const raw = Buffer.alloc(0x2000);
  mb2Header([]).copy(raw, 0);
  assert.equal(multiboot2X86FileType.probe(raw, quiet), false, 'not an ELF');
  assert.equal(multiboot2X86FileType.probe(mb2Elf([], 40), quiet), false, 'ARM ELF');
  assert.ok(multiboot2X86FileType.probe(mb2Elf([], 62), quiet), 'x86-64 ELF');
  const info = new KexecInfo(ranges(), 0, quiet);
  const out = multiboot2X86FileType.load(request(mb2Elf([{ type: 42, words: [1] }, { type: 43, flags: 1 }])), info);
  assert.deepEqual(out.stderr, ['unsupported tag: 0x2a']);
  const tags = readMb2Info(info, BigInt(getEntry32Regs(out.purgatory!).ebx)).tags.map((t) => t.type);
  assert.deepEqual(tags, [4, 6, 1, 2, 0], 'no load-base tag without a relocatable header tag');
});
