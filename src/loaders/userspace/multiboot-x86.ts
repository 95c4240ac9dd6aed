// The multiboot-x86 file type (kexec-tools 2.0.32 kexec/arch/i386/kexec-multiboot-x86.c): a Multiboot v1 image,
// ELF32 or a.out-kludge, entered in 32-bit protected mode through the purgatory with EAX = 0x2BADB002 and
// EBX = the multiboot information (command line, boot loader name, memory map, modules).

import {
  MULTIBOOT_AOUT_KLUDGE, MULTIBOOT_BOOTLOADER_MAGIC, MULTIBOOT_MEMORY_INFO, MULTIBOOT_UNSUPPORTED, MULTIBOOT_VIDEO_MODE,
  type MultibootHeader, findMultibootHeader,
} from '../../formats/multiboot.js';
import { type FieldSpec, writeField } from '../../formats/struct.js';
import { EM_386, EM_486 } from '../../formats/elf.js';
import { setEntry32Regs } from '../../arch/x86/purgatory-symbols.js';
import type { Debug } from '../../kexec/debug.js';
import { type KexecInfo, ULONG_MAX } from '../../kexec/kexec-info.js';
import { elfRelBuildLoad } from '../../kexec/purgatory-load.js';
import { type KexecFileType, type LoadRequest, type LoadedLayout, LoadFailed } from '../../kexec/file-type.js';
import { buildElfExecInfo, elfExecBuildLoad } from './elf-x86.js';
import { BOOT_LOADER_NAME, align4, cString, multibootCommandLine, multibootMemoryMap, placeModule } from './multiboot-common.js';

/** struct multiboot_info (mb_info.h), 120 bytes with its natural padding. */
export const MULTIBOOT_INFO = {
  flags: { offset: 0, size: 4 },
  mem_lower: { offset: 4, size: 4 },
  mem_upper: { offset: 8, size: 4 },
  boot_device: { offset: 12, size: 4 },
  cmdline: { offset: 16, size: 4 },
  mods_count: { offset: 20, size: 4 },
  mods_addr: { offset: 24, size: 4 },
  mmap_length: { offset: 44, size: 4 },
  mmap_addr: { offset: 48, size: 4 },
  boot_loader_name: { offset: 64, size: 4 },
  framebuffer_addr: { offset: 88, size: 8 },
  framebuffer_pitch: { offset: 96, size: 4 },
  framebuffer_width: { offset: 100, size: 4 },
  framebuffer_height: { offset: 104, size: 4 },
  framebuffer_bpp: { offset: 108, size: 1 },
  framebuffer_type: { offset: 109, size: 1 },
} as const satisfies Record<string, FieldSpec>;
export const MULTIBOOT_INFO_SIZE = 120;
/** struct mod_list and struct AddrRangeDesc (size, base, length, type: 24 bytes, size field = 20). */
export const MOD_LIST_SIZE = 16;
export const ADDR_RANGE_DESC_SIZE = 24;

export const MB_INFO = { MEMORY: 0x1, CMDLINE: 0x4, MODS: 0x8, MEM_MAP: 0x40, BOOT_LOADER_NAME: 0x200, FRAMEBUFFER_INFO: 0x1000 } as const;

/** multiboot_x86_probe's checks of a found header: the a.out kludge addresses, else an i386 ELF; null = bootable. */
export function multibootHeaderProblem(buf: Uint8Array, h: MultibootHeader): string | null {
  if (h.flags & MULTIBOOT_AOUT_KLUDGE) {
    if (h.load_addr & 0xfff) return 'multiboot load address not 4k aligned';
    if (h.load_addr > h.header_addr) return 'multiboot header address > load address';
    if (h.load_end_addr < h.load_addr) return 'multiboot load end address < load address';
    if (h.bss_end_addr < h.load_end_addr) return 'multiboot bss end address < load end address';
    if (h.load_end_addr - h.header_addr > buf.length - h.offset) return 'multiboot file truncated';
    if (h.entry_addr < h.load_addr || h.entry_addr >= h.load_end_addr) return 'multiboot entry out of range';
  } else {
    const r = buildElfExecInfo(buf);
    if ('why' in r) return 'Not an ELF executable';
    if (r.elf.header.machine !== EM_386 && r.elf.header.machine !== EM_486) return 'Not i386 ELF executable';
  }
  if (h.flags & MULTIBOOT_UNSUPPORTED) return "Found a multiboot header, but it requires multiboot options that I\ndon't understand.  Sorry.";
  return null;
}

function multibootX86Probe(buf: Uint8Array, debug: Debug): boolean {
  const h = findMultibootHeader(buf);
  if (!h) {
    debug.print('Not a multiboot image (no multiboot header in the first 8 KiB)');
    return false;
  }
  const why = multibootHeaderProblem(buf, h);
  if (why) debug.print(why);
  return why === null;
}

/** framebuffer_info: EGA text when the purgatory resets to it, else /dev/fb0 (which the machine does not have). */
function framebufferInfo(mbi: Uint8Array, req: LoadRequest, stderr: string[]): number {
  if (req.console.resetVga || req.console.consoleVga) {
    writeField(mbi, MULTIBOOT_INFO.framebuffer_type, 2);
    writeField(mbi, MULTIBOOT_INFO.framebuffer_addr, 0xb8000n);
    writeField(mbi, MULTIBOOT_INFO.framebuffer_pitch, 160);
    writeField(mbi, MULTIBOOT_INFO.framebuffer_width, 80);
    writeField(mbi, MULTIBOOT_INFO.framebuffer_height, 25);
    writeField(mbi, MULTIBOOT_INFO.framebuffer_bpp, 16);
    return MB_INFO.FRAMEBUFFER_INFO;
  }
  stderr.push("can't open /dev/fb0: No such file or directory", 'not providing framebuffer information.');
  return 0;
}

/** The memory map as struct AddrRangeDesc entries, placed lowest below 4 GiB (MULTIBOOT_MEMORY_INFO images). */
function addMemoryMap(info: KexecInfo, mbi: Uint8Array): number {
  const { entries, memLower, memUpper } = multibootMemoryMap(info.memoryRanges);
  const mmap = Buffer.alloc(entries.length * ADDR_RANGE_DESC_SIZE);
  entries.forEach((e, i) => {
    const o = i * ADDR_RANGE_DESC_SIZE;
    mmap.writeUInt32LE(ADDR_RANGE_DESC_SIZE - 4, o);
    mmap.writeBigUInt64LE(e.addr, o + 4);
    mmap.writeBigUInt64LE(e.len, o + 12);
    mmap.writeUInt32LE(e.type, o + 20);
  });
  const at = info.addBuffer({ kind: 'bytes', data: mmap }, BigInt(mmap.length), 4n, 0n, 0xffffffffn, 1);
  writeField(mbi, MULTIBOOT_INFO.mmap_addr, at);
  writeField(mbi, MULTIBOOT_INFO.mmap_length, mmap.length);
  const kib = (v: bigint) => Number((v >> 10n) > 0xffffffffn ? 0xffffffffn : v >> 10n);
  writeField(mbi, MULTIBOOT_INFO.mem_lower, kib(memLower));
  writeField(mbi, MULTIBOOT_INFO.mem_upper, kib(memUpper));
  return MB_INFO.MEMORY | MB_INFO.MEM_MAP;
}

/** The image: the a.out-kludge span from the file, or the ELF's PT_LOAD segments; returns the entry point. */
function loadImage(req: LoadRequest, info: KexecInfo, h: MultibootHeader): number {
  if (h.flags & MULTIBOOT_AOUT_KLUDGE) {
    const start = h.offset - (h.header_addr - h.load_addr);
    const data = req.kernel.subarray(start, start + (h.load_end_addr - h.load_addr));
    info.addSegment({ kind: 'bytes', data }, BigInt(h.load_addr), BigInt(h.bss_end_addr - h.load_addr));
    return h.entry_addr;
  }
  const r = buildElfExecInfo(req.kernel);
  if ('why' in r) throw new LoadFailed('ELF exec parse failed', r.why);
  elfExecBuildLoad(info, r.elf);
  return Number(r.elf.header.entry & 0xffffffffn);
}

/**
 * multiboot_x86_load. One buffer, placed last (lowest hole below 4 GiB, after sort_segments), holds
 * [multiboot_info][command line][boot loader name] padded to 4, then the module descriptors and their command
 * lines; the memory map and each module are buffers of their own, placed lowest before it.
 */
function multibootX86Load(req: LoadRequest, info: KexecInfo): LoadedLayout {
  const h = findMultibootHeader(req.kernel);
  if (!h) throw new LoadFailed('Cannot find a loadable multiboot header.', 'the file has no multiboot header in its first 8 KiB');
  const cmdline = cString(multibootCommandLine(req.kernelPath, req.cmdline));
  const name = cString(BOOT_LOADER_NAME);
  const entry = loadImage(req, info, h);
  const p = elfRelBuildLoad(info, req.arch, 0n, ULONG_MAX, 1);
  const modules = req.modules ?? [];
  const head = align4(MULTIBOOT_INFO_SIZE + cmdline.length + name.length);
  const modSpace = modules.reduce((n, m) => n + Buffer.byteLength(m) + 1, 0);
  const mbi = new Uint8Array(head + (modules.length ? MOD_LIST_SIZE * modules.length + modSpace : 0));
  mbi.set(cmdline, MULTIBOOT_INFO_SIZE);
  mbi.set(name, MULTIBOOT_INFO_SIZE + cmdline.length);
  let flags: number = MB_INFO.CMDLINE | MB_INFO.BOOT_LOADER_NAME;
  const stderr: string[] = [];
  if (h.flags & MULTIBOOT_MEMORY_INFO) flags |= addMemoryMap(info, mbi);
  if (h.flags & MULTIBOOT_VIDEO_MODE) flags |= framebufferInfo(mbi, req, stderr);
  // Module descriptors and command lines are offsets from the MBI until it has an address.
  const placed = modules.map((m) => placeModule(info, m, 0n, 0xffffffffn));
  if (placed.length) flags |= MB_INFO.MODS;
  info.sortSegments();
  const base = info.addBuffer({ kind: 'bytes', data: mbi }, BigInt(mbi.length), 4n, 0n, 0xffffffffn, 1);
  let clp = head + MOD_LIST_SIZE * placed.length;
  placed.forEach((m, i) => {
    const d = head + i * MOD_LIST_SIZE;
    writeField(mbi, { offset: d, size: 4 }, m.start);
    writeField(mbi, { offset: d + 4, size: 4 }, m.end);
    writeField(mbi, { offset: d + 8, size: 4 }, base + BigInt(clp));
    const s = cString(m.cmdline);
    mbi.set(s, clp);
    clp += s.length;
  });
  writeField(mbi, MULTIBOOT_INFO.flags, flags);
  writeField(mbi, MULTIBOOT_INFO.mods_count, placed.length);
  // kexec-tools relocates mods_addr even when there are no modules (it is then the MBI's own address).
  writeField(mbi, MULTIBOOT_INFO.mods_addr, base + BigInt(placed.length ? head : 0));
  writeField(mbi, MULTIBOOT_INFO.cmdline, base + BigInt(MULTIBOOT_INFO_SIZE));
  writeField(mbi, MULTIBOOT_INFO.boot_loader_name, base + BigInt(MULTIBOOT_INFO_SIZE + cmdline.length));
  setEntry32Regs(p, { eax: MULTIBOOT_BOOTLOADER_MAGIC, ebx: Number(base), eip: entry });
  return { purgatory: p, kernelAddr: BigInt(entry), bootParamsAddr: base, kernelEntry: BigInt(entry), stderr };
}

export const multibootX86FileType: KexecFileType = {
  name: 'multiboot-x86',
  probe: multibootX86Probe,
  load: multibootX86Load,
};
