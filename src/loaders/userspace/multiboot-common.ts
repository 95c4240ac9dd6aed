// What kexec-tools' two multiboot loaders share (kexec/arch/i386/kexec-multiboot-x86.c, kexec-mb2-x86.c,
// 2.0.32): the --module files, the memory map in multiboot terms with mem_lower/mem_upper, the command line
// "IMAGE args", and the boot loader name.

import { PT_LOAD, type ElfFile } from '../../formats/elf.js';
import { alignUp } from '../../lib/align.js';
import { hex } from '../../lib/hex.js';
import { type KexecInfo, PAGE_SIZE } from '../../kexec/kexec-info.js';
import { RANGE, type MemoryRange } from '../../kexec/memory-ranges.js';
import { slurpFile, unpackKernel } from '../../kexec/my-load.js';
import { concatCmdline } from '../../kexec/cmdline.js';
import { KEXEC_TOOLS_VERSION } from '../../kexec/version.js';
import { LoadFailed } from '../../kexec/file-type.js';
import { elfExecBuildLoad } from './elf-x86.js';

/** BOOTLOADER " " BOOTLOADER_VERSION: the name both loaders hand over. */
export const BOOT_LOADER_NAME = `kexec ${KEXEC_TOOLS_VERSION}`;

/** The multiboot memory types (mb_info.h / multiboot2.h MULTIBOOT_MEMORY_*). */
export const MB_MEMORY = { AVAILABLE: 1, RESERVED: 2, ACPI_RECLAIMABLE: 3, NVS: 4 } as const;

export interface MultibootMmapEntry {
  addr: bigint;
  len: bigint;
  type: number;
}

/**
 * The memory map both loaders build from info->memory_range (multiboot_construct_memory_map in 2.0.32; the same
 * loop inline in the v1 loader): RAM 1, ACPI 3, ACPI NVS 4, anything else 2. mem_lower is the end of the RAM
 * range that starts at or below 64 KiB, mem_upper the end of the one reaching past 1 MiB, less 1 MiB.
 * kexec-tools also sets that low range's start to 0 in info->memory_range, so its later add_buffer calls may
 * place the multiboot information or a module below where the machine's RAM starts (0x1000 on a map whose RAM
 * starts at 0x3000). vkexec leaves the map as it is: the engines' stubs live below 0x3000 (man page, DIFFERENCES).
 * kexec-tools leaves the type of uncached and persistent-memory ranges uninitialised in the v2 map; here they
 * are 2 (reserved).
 */
export function multibootMemoryMap(ranges: readonly MemoryRange[]): { entries: MultibootMmapEntry[]; memLower: bigint; memUpper: bigint } {
  let memLower = 0n;
  let memUpper = 0n;
  const entries: MultibootMmapEntry[] = [];
  for (const r of ranges) {
    const e = { addr: r.start, len: r.end - r.start + 1n, type: MB_MEMORY.RESERVED as number };
    entries.push(e);
    if (r.type === RANGE.RAM) {
      e.type = MB_MEMORY.AVAILABLE;
      let start = r.start;
      if (start <= 64n * 1024n && r.end > memLower) {
        start = 0n;
        memLower = r.end;
      }
      if (start <= 0x100000n && r.end > memUpper + 0x100000n) memUpper = r.end - 0x100000n;
    } else if (r.type === RANGE.ACPI) e.type = MB_MEMORY.ACPI_RECLAIMABLE;
    else if (r.type === RANGE.ACPI_NVS) e.type = MB_MEMORY.NVS;
  }
  return { entries, memLower, memUpper };
}

/** "Final command line = imagename + <OPT_REUSE_CMDLINE> + <OPT_CL>": the kernel path as given comes first. */
export function multibootCommandLine(imageName: string, rest: string | null): string {
  return concatCmdline(imageName, rest) ?? imageName;
}

export interface PlacedModule {
  /** The --module argument whole: the file, then its arguments (the module's command line). */
  cmdline: string;
  file: string;
  start: bigint;
  end: bigint;
}

/**
 * One --module="FILE args": the file up to the first space, read with slurp_decompress_file (so a gzip, xz,
 * lzma or zstd module is handed over decompressed), placed page-aligned in the lowest hole within [min, max].
 */
export function placeModule(info: KexecInfo, arg: string, min: bigint, max: bigint): PlacedModule {
  const space = arg.indexOf(' ');
  const file = space < 0 ? arg : arg.slice(0, space);
  const { data } = unpackKernel(slurpFile(file), file);
  const start = info.addBuffer({ kind: 'bytes', data }, BigInt(data.length), PAGE_SIZE, min, max, 1);
  return { cmdline: arg, file, start, end: start + BigInt(data.length) };
}

/**
 * elf_exec_load_relocatable (kexec/kexec-elf-exec.c) with get_elf_exec_load_base: the PT_LOAD span stays where it
 * is linked when that lies in RAM within [min, max], else moves to the lowest hole there, aligned to the larger
 * of `align` and the segments' p_align. Returns the base added to every address.
 */
export function elfExecLoadRelocatable(info: KexecInfo, elf: ElfFile, min: bigint, max: bigint, align: bigint): bigint {
  if (min > max) throw new LoadFailed(`Bad relocation range, start=${min.toString(16)} > end=${max.toString(16)}.`, 'the image\'s multiboot2 relocatable tag has min_addr above max_addr: fix the image');
  let first = (1n << 64n) - 1n;
  let last = 0n;
  for (const p of elf.programHeaders) {
    if (p.type !== PT_LOAD || p.memsz === 0n) continue;
    if (p.paddr < first) first = p.paddr;
    if (p.paddr + p.memsz > last) last = p.paddr + p.memsz;
    if (p.align > align) align = p.align;
  }
  let base = 0n;
  if (max - min < last - first) throw new LoadFailed('elf_exec_build_load_relocatable: ELF exec load failed', `the image spans ${hex(last - first)} bytes, more than its relocatable range ${hex(min)}-${hex(max)}`);
  if (!info.validMemoryRange(min > first ? min : first, max < last ? max : last)) {
    base = info.locateHole(last - first + 1n, align, min, max, 1) - first;
  }
  elfExecBuildLoad(info, elf, base);
  return base;
}

/** A string and its NUL, as sprintf leaves it. */
export function cString(s: string): Buffer {
  return Buffer.from(s + '\0', 'utf8');
}

export const align4 = (n: number): number => alignUp(n, 4);
export const align8 = (n: number): number => alignUp(n, 8);
