// The multiboot2-x86 file type (kexec-tools 2.0.32 kexec/arch/i386/kexec-mb2-x86.c): an x86 or x86-64 ELF with
// a Multiboot2 header, entered in 32-bit protected mode through the purgatory with EAX = 0x36D76289 and EBX =
// the boot information (total size, then 8-byte-aligned tags).

import {
  MB2_HEADER_TAG, MB2_RELOCATABLE, MB2_TAG, MULTIBOOT2_BOOTLOADER_MAGIC, MULTIBOOT_HEADER_TAG_OPTIONAL,
  Multiboot2FormatError, type Multiboot2HeaderTag, findMultiboot2Header, readMultiboot2HeaderTags,
} from '../../formats/multiboot2.js';
import { EM_386, EM_486, EM_X86_64 } from '../../formats/elf.js';
import { setEntry32Regs } from '../../arch/x86/purgatory-symbols.js';
import type { Debug } from '../../kexec/debug.js';
import { type KexecInfo, ULONG_MAX } from '../../kexec/kexec-info.js';
import { elfRelBuildLoad } from '../../kexec/purgatory-load.js';
import { type KexecFileType, type LoadRequest, type LoadedLayout, LoadFailed } from '../../kexec/file-type.js';
import { buildElfExecInfo, elfExecBuildLoad } from './elf-x86.js';
import {
  BOOT_LOADER_NAME, align8, cString, elfExecLoadRelocatable, multibootCommandLine, multibootMemoryMap, placeModule, type PlacedModule,
} from './multiboot-common.js';

/** Tag sizes (multiboot2.h): basic_meminfo, mmap head and entry, string head, module head, end, load base, framebuffer. */
const SZ = { BASIC_MEMINFO: 16, MMAP: 16, MMAP_ENTRY: 24, STRING: 8, MODULE: 16, END: 8, LOAD_BASE: 12, FRAMEBUFFER: 40 } as const;

/** multiboot2_read_header_tags' struct multiboot2_header_info: the last tag of each kind it knows. */
export interface Mb2HeaderInfo {
  relocatable?: { min: bigint; max: bigint; align: bigint; preference: number };
  framebuffer: boolean;
  /** Required tags kexec-tools does not know ("unsupported tag: 0x%x", printed without a newline). */
  unsupported: number[];
  tags: Multiboot2HeaderTag[];
}

export function readMb2HeaderInfo(buf: Uint8Array): Mb2HeaderInfo | null {
  const h = findMultiboot2Header(buf);
  if (!h) return null;
  const tags = readMultiboot2HeaderTags(buf, h);
  const out: Mb2HeaderInfo = { framebuffer: false, unsupported: [], tags };
  for (const t of tags) {
    if (t.type === MB2_HEADER_TAG.RELOCATABLE) {
      const w = (f: keyof typeof MB2_RELOCATABLE) => t.words[(MB2_RELOCATABLE[f].offset - 8) / 4] ?? 0;
      out.relocatable = { min: BigInt(w('min_addr')), max: BigInt(w('max_addr')), align: BigInt(w('align')), preference: w('preference') };
    } else if (t.type === MB2_HEADER_TAG.FRAMEBUFFER) out.framebuffer = true;
    else if (t.type > MB2_HEADER_TAG.RELOCATABLE || t.type === MB2_HEADER_TAG.ENTRY_ADDRESS_EFI32) {
      // Known to the walk: 1-7, 9 and 10 (8, EFI i386 entry, is not); an unknown optional tag is skipped quietly.
      if (!(t.flags & MULTIBOOT_HEADER_TAG_OPTIONAL)) out.unsupported.push(t.type);
    }
  }
  return out;
}

/** multiboot2_x86_probe: an x86 or x86-64 ELF executable, then a valid header in the first 32 KiB. */
function multiboot2X86Probe(buf: Uint8Array, debug: Debug): boolean {
  const r = buildElfExecInfo(buf);
  if ('why' in r) {
    debug.print('Not an ELF executable');
    return false;
  }
  const m = r.elf.header.machine;
  if (m !== EM_386 && m !== EM_486 && m !== EM_X86_64) {
    debug.print('Not x86 or x86_64 ELF executable');
    return false;
  }
  if (!findMultiboot2Header(buf)) {
    debug.print('Not a multiboot2 image (no multiboot2 header in the first 32 KiB)');
    return false;
  }
  return true;
}

/** multiboot2_get_mbi_size: an upper bound kexec-tools allocates and then writes as total_size. */
function mbiSize(ranges: number, cmdlineLen: number, mods: PlacedModule[], hi: Mb2HeaderInfo): number {
  const modSpace = mods.reduce((n, m) => n + Buffer.byteLength(m.cmdline) + 1, 0);
  return 8 + align8(SZ.BASIC_MEMINFO) + align8(SZ.MMAP + ranges * SZ.MMAP_ENTRY) + SZ.STRING + align8(cmdlineLen)
    + SZ.STRING + align8(Buffer.byteLength(BOOT_LOADER_NAME) + 1) + mods.length * SZ.MODULE + modSpace + SZ.END
    + (hi.relocatable ? align8(SZ.LOAD_BASE) : 0) + (hi.framebuffer ? align8(SZ.FRAMEBUFFER) : 0);
}

/** Writes the information tags one after another, each rounded up to 8 bytes. */
class TagWriter {
  at = 8;
  constructor(readonly buf: Buffer) {}
  tag(type: number, size: number, fill: (o: number) => void): void {
    this.buf.writeUInt32LE(type, this.at);
    this.buf.writeUInt32LE(size, this.at + 4);
    fill(this.at);
    this.at += align8(size);
  }
  string(type: number, s: Buffer): void {
    this.tag(type, SZ.STRING + s.length, (o) => s.copy(this.buf, o + 8));
  }
}

/** multiboot2_make_mbi up to the modules: meminfo, memory map, load base, command line, loader name, framebuffer. */
function makeMbi(info: KexecInfo, w: TagWriter, cmdline: Buffer, loadBase: bigint, hi: Mb2HeaderInfo, req: LoadRequest, stderr: string[]): void {
  const { entries, memLower, memUpper } = multibootMemoryMap(info.memoryRanges);
  w.tag(MB2_TAG.BASIC_MEMINFO, SZ.BASIC_MEMINFO, (o) => {
    w.buf.writeUInt32LE(Number((memLower >> 10n) & 0xffffffffn), o + 8);
    w.buf.writeUInt32LE(Number((memUpper >> 10n) & 0xffffffffn), o + 12);
  });
  w.tag(MB2_TAG.MMAP, SZ.MMAP + entries.length * SZ.MMAP_ENTRY, (o) => {
    w.buf.writeUInt32LE(SZ.MMAP_ENTRY, o + 8);
    entries.forEach((e, i) => {
      const at = o + SZ.MMAP + i * SZ.MMAP_ENTRY;
      w.buf.writeBigUInt64LE(e.addr, at);
      w.buf.writeBigUInt64LE(e.len, at + 8);
      w.buf.writeUInt32LE(e.type, at + 16);
    });
  });
  // kexec-tools hands the purgatory's load address (info->rhdr.rel_addr) as the image's load base.
  if (hi.relocatable) w.tag(MB2_TAG.LOAD_BASE_ADDR, SZ.LOAD_BASE, (o) => w.buf.writeUInt32LE(Number(loadBase & 0xffffffffn), o + 8));
  w.string(MB2_TAG.CMDLINE, cmdline);
  w.string(MB2_TAG.BOOT_LOADER_NAME, cString(BOOT_LOADER_NAME));
  if (!hi.framebuffer) return;
  if (req.console.resetVga || req.console.consoleVga) {
    w.tag(MB2_TAG.FRAMEBUFFER, SZ.FRAMEBUFFER, (o) => {
      w.buf.writeBigUInt64LE(0xb8000n, o + 8);
      w.buf.writeUInt32LE(160, o + 16);
      w.buf.writeUInt32LE(80, o + 20);
      w.buf.writeUInt32LE(25, o + 24);
      w.buf.writeUInt8(16, o + 28);
      w.buf.writeUInt8(2, o + 29);
    });
    return;
  }
  // No /dev/fb0: kexec-tools writes the tag's head, then leaves the pointer where it was (the next tag overwrites it).
  stderr.push("can't open /dev/fb0: No such file or directory");
}

/**
 * multiboot2_x86_load: the ELF (moved within the relocatable tag's range if it has one), the purgatory lowest
 * above 0x500, the modules page-aligned lowest above 0x500, then the information buffer lowest, 4-aligned.
 * As in 2.0.32, --reuse-cmdline is read and then dropped: the command line is the image path and --append.
 */
function multiboot2X86Load(req: LoadRequest, info: KexecInfo): LoadedLayout {
  let hi: Mb2HeaderInfo | null;
  try {
    hi = readMb2HeaderInfo(req.kernel);
  } catch (e) {
    if (e instanceof Multiboot2FormatError) throw new LoadFailed(e.message, 'the multiboot2 header tags are malformed: fix the image');
    throw e;
  }
  if (!hi) throw new LoadFailed('Cannot find a loadable multiboot2 header.', 'the file has no multiboot2 header in its first 32 KiB');
  const stderr: string[] = hi.unsupported.length ? [hi.unsupported.map((t) => `unsupported tag: 0x${t.toString(16)}`).join('')] : [];
  const cmdline = cString(multibootCommandLine(req.kernelPath, req.append ?? null));
  const r = buildElfExecInfo(req.kernel);
  if ('why' in r) throw new LoadFailed('ELF exec parse failed', r.why);
  let base = 0n;
  if (hi.relocatable) base = elfExecLoadRelocatable(info, r.elf, hi.relocatable.min, hi.relocatable.max, hi.relocatable.align);
  else elfExecBuildLoad(info, r.elf);
  const entry = r.elf.header.entry + base;
  const relMin = 0x500n;
  const relMax = ULONG_MAX;
  const p = elfRelBuildLoad(info, req.arch, relMin, relMax, 1);
  const placed = (req.modules ?? []).map((m) => placeModule(info, m, relMin, relMax));
  const size = mbiSize(info.memoryRanges.length, cmdline.length, placed, hi);
  // Each module tag is rounded up to 8 while the size counts it unrounded: room to write, then `size` handed over.
  const buf = Buffer.alloc(size + 8 * placed.length + SZ.END);
  buf.writeUInt32LE(size, 0);
  const w = new TagWriter(buf);
  makeMbi(info, w, cmdline, p.loadAddr, hi, req, stderr);
  for (const m of placed) {
    w.tag(MB2_TAG.MODULE, SZ.MODULE + Buffer.byteLength(m.cmdline) + 1, (o) => {
      buf.writeUInt32LE(Number(m.start & 0xffffffffn), o + 8);
      buf.writeUInt32LE(Number(m.end & 0xffffffffn), o + 12);
      cString(m.cmdline).copy(buf, o + 16);
    });
  }
  w.tag(MB2_TAG.END, SZ.END, () => undefined);
  if (w.at > size) stderr.push(`vkexec: the multiboot2 information is ${w.at} bytes but kexec-tools 2.0.32 sizes it ${size}: the last ${w.at - size} bytes (end tag) are cut off, as there`);
  info.sortSegments();
  const mbiAddr = info.addBuffer({ kind: 'bytes', data: buf.subarray(0, size) }, BigInt(size), 4n, relMin, relMax, 1);
  setEntry32Regs(p, { eax: MULTIBOOT2_BOOTLOADER_MAGIC, ebx: Number(mbiAddr & 0xffffffffn), eip: Number(entry & 0xffffffffn) });
  return { purgatory: p, kernelAddr: entry, bootParamsAddr: mbiAddr, kernelEntry: entry, stderr };
}

export const multiboot2X86FileType: KexecFileType = {
  name: 'multiboot2-x86',
  probe: multiboot2X86Probe,
  load: multiboot2X86Load,
};
