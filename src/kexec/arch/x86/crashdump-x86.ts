// Crash (panic) kernel preparation on the kexec_load path, as kexec-tools' kexec/arch/i386/crashdump-x86.c
// load_crashdump_segments does it for `kexec -p` on x86: the dump's memory ranges from /proc/iomem, a
// segment to back up the first 640 KiB, the ELF core header segment, " elfcorehdr=NK" (and optionally
// memmap=) on the command line, and the capture kernel's own memory map (info.crashRanges) for its e820.
//
// Holes are searched inside the crash region because the caller set info.memMin/memMax from the last
// "Crash kernel" line first (kexec-tools does that in get_memory_ranges, i.e. in my_load, before any loader).

import { UsageError } from '../../../errno.js';
import { EM_386, EM_X86_64, type ElfClass } from '../../../formats/elf.js';
import { HDRS_MAGIC, SetupHeader, XLF_EFI_KEXEC } from '../../../formats/setup-header.js';
import { type LoadRequest, LoadFailed, NoCrashKernelSegment } from '../../file-type.js';
import { type BackupRegion, type CrashElfInfo, ELF_CORE_HEADER_ALIGN, crashCreateElfHeaders } from '../../crashdump-elf.js';
import type { Debug } from '../../debug.js';
import { hex, hex16 } from '../../../lib/hex.js';
import { alignDown, alignUp } from '../../../lib/align.js';
import { type KexecInfo, ULONG_MAX } from '../../kexec-info.js';
import { getAcpiRsdp } from './bootparam.js';
import { getKernelVaddrAndSize } from './kcore.js';
import { type MemoryRange, RANGE, type RangeType, type SystemFiles, crashKernelRanges } from '../../memory-ranges.js';

// kexec/arch/i386/crashdump-x86.h
const X86_64_PAGE_OFFSET = 0xffff888000000000n;
const X86_PAGE_OFFSET = 0xc0000000n;
/** X86_MAXMEM: -PAGE_OFFSET - 128 MiB of vmalloc reserve, in 32 bits: the end of i386 lowmem. */
const X86_MAXMEM = (1n << 32n) - X86_PAGE_OFFSET - (128n << 20n);
const CRASH_MAX_MEMMAP_NR = 1024;
const CRASH_MAX_MEMORY_RANGES = 32768;
/** Backup region: the first 640 KiB, when no RAM range below 0xa0000 is found. */
const BACKUP_SRC_START = 0x0n;
const BACKUP_SRC_END = 0x9ffffn;
/** crashkernel_mem_callback: at most 8 "Crash kernel" ranges are remembered. */
const CRASH_RESERVED_MEM_NR = 8;
/** include/x86/x86-linux.h */
export const COMMAND_LINE_SIZE = 2048;

const u64 = (v: bigint) => BigInt.asUintN(64, v);
/** printf("%#llx"): 0 prints without the prefix. */
const altHex = (v: bigint) => (v === 0n ? '0' : '0x' + v.toString(16));

/** A /proc/iomem line as kexec-tools scans it (sscanf "%llx-%llx : %n"): nested lines included. */
interface IomemLine {
  start: bigint;
  end: bigint;
  name: string;
}

function iomemLines(files: SystemFiles): IomemLine[] {
  const text = files('/proc/iomem');
  if (text === null) throw new LoadFailed('Cannot open /proc/iomem: No such file or directory', 'the machine has no /proc/iomem view; its state is damaged');
  const out: IomemLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(?:0[xX])?([0-9a-fA-F]+)-\s*(?:0[xX])?([0-9a-fA-F]+)\s*:\s*(.*)$/.exec(line);
    if (m) out.push({ start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), name: m[3]! });
  }
  return out;
}

function printRanges(debug: Debug, title: string, ranges: readonly MemoryRange[]): void {
  debug.print(title);
  for (const r of ranges) debug.print(`${hex16(r.start)}-${hex16(r.end)} (${r.type})`);
}

/** get_crash_memory_ranges: the iomem lines a dump covers, minus the crash regions and any GART aperture. */
function getCrashMemoryRanges(lines: readonly IomemLine[], crashReserved: readonly MemoryRange[], lowmemLimit: bigint, debug: Debug): MemoryRange[] {
  const ranges: MemoryRange[] = [];
  let gart: IomemLine | null = null;
  for (const l of lines) {
    if (ranges.length >= CRASH_MAX_MEMORY_RANGES) break;
    debug.print(`${hex16(l.start)}-${hex16(l.end)} : ${l.name}`);
    let type: RangeType;
    // Any "System RAM" counts, also "System RAM (kmem)" or "(virtio_mem)" nested under devices.
    if (l.name.includes('System RAM')) type = RANGE.RAM;
    else if (l.name === 'ACPI Tables') type = RANGE.ACPI;
    else if (l.name === 'ACPI Non-volatile Storage') type = RANGE.ACPI_NVS;
    else if (l.name === 'Persistent Memory (legacy)') type = RANGE.PRAM;
    else if (l.name === 'Persistent Memory') type = RANGE.PMEM;
    else if (l.name === 'reserved' || l.name === 'Reserved') type = RANGE.RESERVED;
    else if (l.name === 'GART') {
      gart = l;
      continue;
    } else continue;
    ranges.push({ start: l.start, end: l.end, type });
    segregateLowmemRegion(ranges, lowmemLimit);
  }
  for (const c of crashReserved) excludeRegion(ranges, c.start, c.end);
  if (gart) excludeRegion(ranges, gart.start, gart.end);
  return ranges;
}

/** segregate_lowmem_region (i386): a range straddling the end of lowmem is split there. */
function segregateLowmemRegion(ranges: MemoryRange[], lowmemLimit: bigint): void {
  const r = ranges[ranges.length - 1]!;
  if (!(lowmemLimit !== 0n && lowmemLimit > r.start && lowmemLimit < r.end)) return;
  const end = r.end;
  r.end = lowmemLimit - 1n;
  if (ranges.length >= CRASH_MAX_MEMORY_RANGES) return;
  ranges.push({ start: lowmemLimit, end, type: r.type });
}

/**
 * exclude_region: cuts [start, end] out of the ranges it touches, assuming (as kexec-tools does) it lies
 * inside one of them; a split's upper part is inserted after it as RAM.
 */
function excludeRegion(ranges: MemoryRange[], start: bigint, end: bigint): void {
  let split: { at: number; range: MemoryRange } | null = null;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    const mstart = r.start;
    const mend = r.end;
    if (!(start < mend && end > mstart)) continue;
    if (start !== mstart && end !== mend) {
      r.end = start - 1n;
      split = { at: i + 1, range: { start: end + 1n, end: mend, type: RANGE.RAM } };
    } else if (start !== mstart) {
      r.end = start - 1n;
    } else {
      r.start = end + 1n;
    }
  }
  if (split === null) return;
  if (ranges.length === CRASH_MAX_MEMORY_RANGES) {
    throw new LoadFailed('Error: Number of crash memory ranges excedeed the max limit', `/proc/iomem lists over ${CRASH_MAX_MEMORY_RANGES} ranges; simplify the machine's memory map`);
  }
  ranges.splice(split.at, 0, split.range);
}

/** get_backup_area: the first RAM range ending at or below 0xa0000, else the default [0, 640 KiB). */
function getBackupArea(ranges: readonly MemoryRange[], debug: Debug): { srcStart: bigint; srcSize: bigint } {
  for (const r of ranges) {
    if (r.type !== RANGE.RAM || r.end > 0xa0000n) continue;
    debug.print(`get_backup_area: ${hex16(r.start)}-${hex16(r.end)} : System RAM`);
    return { srcStart: r.start, srcSize: r.end - r.start + 1n };
  }
  return { srcStart: BACKUP_SRC_START, srcSize: BACKUP_SRC_END - BACKUP_SRC_START + 1n };
}

/** get_core_type: x86_64 always ELF64; i386 ELF64 only when some range ends above 4 GiB (checked on the last). */
function getCoreType(machine: number, ranges: readonly MemoryRange[]): ElfClass {
  if (machine === EM_X86_64 || ranges.length === 0) return 64;
  return ranges[ranges.length - 1]!.end > 0xffffffffn ? 64 : 32;
}

/** get_kernel_paddr (x86_64): the start of "Kernel code" in /proc/iomem. */
function getKernelPaddr(lines: readonly IomemLine[], debug: Debug): bigint {
  const code = lines.find((l) => l.name === 'Kernel code');
  if (!code) {
    throw new LoadFailed('Cannot determine kernel physical load addr', 'the machine\'s /proc/iomem has no "Kernel code" line; its state is damaged');
  }
  debug.print(`kernel load physical addr start = 0x${hex16(code.start)}`);
  return code.start;
}

/**
 * The capture kernel's memory map (kexec-tools memmap_p): sorted, non-overlapping, at most 1024 entries;
 * add_memmap/delete_memmap keep kexec-tools' rules, including its silent refusals (returned as false).
 */
class CrashMemmap {
  readonly entries: MemoryRange[] = [];

  constructor(
    private readonly debug: Debug,
    private readonly stdout: string[],
  ) {}

  /** add_memmap: RAM shrunk to 1 KiB boundaries (announced on stdout); refuses overlaps and a full map. */
  add(addr: bigint, size: bigint, type: RangeType): boolean {
    const align = 1024n;
    if (type === RANGE.RAM && (addr % align !== 0n || size % align !== 0n)) {
      let end = addr + size;
      this.stdout.push(`add_memmap: RAM chunk ${altHex(addr)} - ${altHex(end)} unaligned`);
      addr = alignUp(addr, align);
      end = alignDown(end, align);
      if (addr >= end) return false;
      size = end - addr;
      this.stdout.push(`add_memmap: RAM chunk shrunk to ${altHex(addr)} - ${altHex(end)}`);
    }
    if (this.entries.length === CRASH_MAX_MEMMAP_NR) return false;
    let at = 0;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.start <= addr + size - 1n && e.end >= addr) return false;
      if (addr > e.end) at = i + 1;
    }
    this.entries.splice(at, 0, { start: addr, end: addr + size - 1n, type });
    printRanges(this.debug, 'Memmap after adding segment', this.entries);
    return true;
  }

  /** delete_memmap: removes a 1 KiB-aligned block from the entry holding it (deleting, trimming or splitting). */
  delete(addr: bigint, size: bigint): boolean {
    const align = 1024n;
    if (addr % align !== 0n || size % align !== 0n) return false;
    if (this.entries.length === CRASH_MAX_MEMMAP_NR) return false;
    const last = addr + size - 1n;
    const i = this.entries.findIndex((e) => e.start <= addr && e.end >= last);
    if (i < 0) return false;
    const e = this.entries[i]!;
    if (e.start === addr && e.end === last) this.entries.splice(i, 1);
    else if (e.start !== addr && e.end !== last) {
      this.entries.splice(i + 1, 0, { start: addr + size, end: e.end, type: e.type });
      e.end = addr - 1n;
    } else if (e.start !== addr) e.end = addr - 1n;
    else e.start = addr + size;
    printRanges(this.debug, 'Memmap after deleting segment', this.entries);
    return true;
  }
}

/** strcat with kexec-tools' COMMAND_LINE_SIZE check (die, exit 1). */
function appendToCmdline(cmdline: string, text: string): string {
  if (Buffer.byteLength(cmdline) + Buffer.byteLength(text) > COMMAND_LINE_SIZE - 1) {
    throw new UsageError('Command line overflow', {
      hint: `the panic kernel's command line plus what kexec -p adds must fit in ${COMMAND_LINE_SIZE - 1} bytes; shorten --append/--command-line`,
    });
  }
  return cmdline + text;
}

/** cmdline_add_memmap (--pass-memmap-cmdline): " memmap=exactmap" and one memmap= per RAM/ACPI/PRAM entry. */
function cmdlineAddMemmap(cmdline: string, memmap: readonly MemoryRange[], debug: Debug): string {
  let line = appendToCmdline(cmdline, ' memmap=exactmap');
  for (const e of memmap) {
    if (e.type !== RANGE.RAM && e.type !== RANGE.ACPI && e.type !== RANGE.ACPI_NVS && e.type !== RANGE.PRAM) continue;
    const startk = e.start / 1024n;
    const acpi = e.type === RANGE.ACPI || e.type === RANGE.ACPI_NVS;
    const endk = acpi ? alignUp(e.end + 1n, 1024n) / 1024n : (e.end + 1n) / 1024n;
    if (startk === 0n && endk === 0n) break; // kexec-tools' end-of-list marker
    // RAM under 100 KiB is not worth the command line space it takes.
    if (e.type === RANGE.RAM && endk - startk < 100n) continue;
    const sep = e.type === RANGE.RAM ? 'K@' : acpi ? 'K#' : 'K!';
    line = appendToCmdline(line, ` memmap=${endk - startk}${sep}${startk}K`);
  }
  debug.print('Command line after adding memmap');
  debug.print(line);
  return line;
}

/** cmdline_add_elfcorehdr: " elfcorehdr=%luK" (the address is 1 KiB aligned by construction). */
function cmdlineAddElfcorehdr(cmdline: string, addr: bigint, debug: Debug): string {
  const line = appendToCmdline(cmdline, ` elfcorehdr=${addr / 1024n}K`);
  debug.print('Command line after adding elfcorehdr');
  debug.print(line);
  return line;
}

/**
 * cmdline_add_efi: " acpi_rsdp=0x%lx" when get_acpi_rsdp finds the running kernel's RSDP (2.0.32: its
 * boot_params first, then the EFI systab; 2.0.25 asks only the systab).
 */
function cmdlineAddEfi(cmdline: string, files: SystemFiles): string {
  const rsdp = getAcpiRsdp(files);
  return rsdp === 0n ? cmdline : appendToCmdline(cmdline, ` acpi_rsdp=${hex(rsdp)}`);
}

/** bzImage_support_efi_boot: set by bzImage64's probe for a kernel with XLF_EFI_KEXEC. */
function supportsEfiBoot(kernel: Uint8Array): boolean {
  const h = new SetupHeader(kernel);
  return kernel.length >= 1024 && h.num('header') === HDRS_MAGIC && (h.num('xloadflags') & XLF_EFI_KEXEC) !== 0;
}

export interface CrashdumpSegments {
  /** The command line with elfcorehdr= (and acpi_rsdp=, memmap= when they apply) appended. */
  cmdline: string;
  /** For the purgatory: copy [srcStart, srcStart + srcSize) to start before entering the capture kernel. */
  backup: BackupRegion;
  /** Where the ELF core header segment landed. */
  elfcorehdr: bigint;
  /** The header itself (bufsz bytes; the segment's memsz is at least 16 KiB). */
  elfHeader: Uint8Array;
  /** Lines kexec-tools prints on stdout (add_memmap's notes on unaligned RAM), in order. */
  stdout: string[];
}

/** What an x86 loader carries on from the crash segments: the command line, the backup region, stdout lines. */
export interface CrashHandoff {
  cmdline: string | null;
  backup?: BackupRegion;
  stdout: string[];
}

/** The `if (info->kexec_flags & KEXEC_ON_CRASH)` block of every x86 loader: nothing to add for a normal load. */
export function crashHandoff(info: KexecInfo, req: LoadRequest, cmdline: string | null): CrashHandoff {
  if (!req.crash) return { cmdline, stdout: [] };
  const crash = loadCrashdumpSegments(info, req, cmdline);
  return { cmdline: crash.cmdline, backup: crash.backup, stdout: crash.stdout };
}

/** The ELF core header's facts: class (--elf32/--elf64-core-headers or get_core_type), and the x86_64 kernel text. */
function crashElfInfo(req: LoadRequest, lines: readonly IomemLine[], memRange: readonly MemoryRange[], lowmemLimit: bigint, debug: Debug): CrashElfInfo {
  const x86_64 = req.arch === 'x86_64';
  const machine = x86_64 ? EM_X86_64 : EM_386;
  // x86_64's arch_options start at CORE_TYPE_ELF64 and its option parser has no --elf32-core-headers: the
  // option is accepted and ignored (kexec/arch/x86_64/kexec-x86_64.c, 2.0.25 and 2.0.32).
  const cls: ElfClass = x86_64 ? 64 : req.coreHeaderType === 'elf32' ? 32 : req.coreHeaderType === 'elf64' ? 64 : getCoreType(machine, memRange);
  const elfInfo: CrashElfInfo = {
    class: cls,
    machine,
    pageOffset: x86_64 ? X86_64_PAGE_OFFSET : X86_PAGE_OFFSET,
    kernPaddrStart: 0n,
    kernVaddrStart: 0n,
    kernSize: 0n,
    lowmemLimit,
    ulongBits: x86_64 ? 64 : 32,
  };
  if (x86_64) {
    // An i386 kernel is linearly mapped: its text needs no PT_LOAD of its own.
    elfInfo.kernPaddrStart = getKernelPaddr(lines, debug);
    const k = getKernelVaddrAndSize(req.files, debug);
    elfInfo.kernVaddrStart = k.vaddr;
    elfInfo.kernSize = k.size;
  }
  return elfInfo;
}

/** The backup segment (1 KiB aligned, anywhere below max_addr), taken out of the capture kernel's map. */
function addBackupSegment(info: KexecInfo, memmap: CrashMemmap, area: { srcStart: bigint; srcSize: bigint }, maxAddr: bigint, debug: Debug): BackupRegion {
  const align = 1024n;
  const backupSize = alignUp(area.srcSize, align);
  const backupStart = info.addBuffer({ kind: 'bytes', data: new Uint8Array(Number(backupSize)) }, backupSize, align, 0n, maxAddr, -1);
  debug.print(`Created backup segment at ${hex(backupStart)}`);
  if (!memmap.delete(backupStart, backupSize)) {
    throw new LoadFailed(
      `the backup segment at ${hex(backupStart)} (${hex(backupSize)} bytes) is not inside the crash region`,
      'panic kernel segments must be placed inside "Crash kernel": do not widen --mem-min/--mem-max beyond it',
      true,
    );
  }
  return { srcStart: area.srcStart, srcSize: area.srcSize, start: backupStart };
}

/** The ELF core header segment (at least 16 KiB), taken out of the capture kernel's map. */
function addElfHeaderSegment(info: KexecInfo, memmap: CrashMemmap, buf: Uint8Array, minBase: bigint, maxAddr: bigint, debug: Debug): bigint {
  const align = 1024n;
  // At least 16 KiB: old linkers left gaps between the kernel's data and bss that the kernel still uses.
  const memsz = BigInt(buf.length) < 16n * 1024n ? 16n * 1024n : BigInt(buf.length);
  const elfcorehdr = info.addBuffer({ kind: 'bytes', data: buf }, memsz, align, minBase, maxAddr, -1);
  debug.print(`Created elf header segment at ${hex(elfcorehdr)}`);
  if (!memmap.delete(elfcorehdr, memsz)) {
    throw new LoadFailed(
      `the ELF core header segment at ${hex(elfcorehdr)} is not inside the crash region`,
      'panic kernel segments must be placed inside "Crash kernel": do not widen --mem-min/--mem-max beyond it',
      true,
    );
  }
  return elfcorehdr;
}

/**
 * load_crashdump_segments: adds the backup and ELF-header segments to `info`, sets info.crashRanges and
 * returns the capture kernel's command line. `maxAddr`/`minBase` bound the header segment as the loader's
 * max_addr/min_base (bzImage loaders pass -1 and 0).
 */
export function loadCrashdumpSegments(
  info: KexecInfo,
  req: LoadRequest,
  cmdline: string | null,
  maxAddr: bigint = req.arch === 'x86_64' ? ULONG_MAX : 0xffffffffn,
  minBase = 0n,
): CrashdumpSegments {
  const { files, debug } = req;
  const stdout: string[] = [];
  // is_crashkernel_mem_reserved: every "Crash kernel" line (the low companion first, then crashk_res).
  const crashReserved: MemoryRange[] = crashKernelRanges(files)
    .slice(0, CRASH_RESERVED_MEM_NR)
    .map((r) => ({ start: r.start, end: r.end, type: RANGE.RAM }));
  if (crashReserved.length === 0) throw new NoCrashKernelSegment();

  const lowmemLimit = req.arch === 'x86_64' ? 0n : X86_MAXMEM;
  const lines = iomemLines(files);
  const memRange = getCrashMemoryRanges(lines, crashReserved, lowmemLimit, debug);
  const area = getBackupArea(memRange, debug);
  printRanges(debug, 'CRASH MEMORY RANGES', memRange);

  const elfInfo = crashElfInfo(req, lines, memRange, lowmemLimit, debug);

  // What the capture kernel may use: the backed-up low memory and the crash regions, minus its own data.
  const memmap = new CrashMemmap(debug, stdout);
  memmap.add(area.srcStart, area.srcSize, RANGE.RAM);
  for (const c of crashReserved) {
    if (!memmap.add(c.start, c.end - c.start + 1n, RANGE.RAM)) {
      // ENOCRASHKERNEL, which the bzImage and ELF loaders turn into a plain failure ("Cannot load").
      throw new LoadFailed(
        `crash region ${hex(c.start)}-${hex(c.end)} cannot join the panic kernel's memory map (it overlaps the backup area ${hex(area.srcStart)}+${hex(area.srcSize)} or another crash region, or shrinks to nothing at 1 KiB alignment)`,
        'reserve the crash region above the first 1 MiB (machine init --crashkernel=SIZE@OFFSET with OFFSET >= 16M)',
        true,
      );
    }
  }

  const backup = addBackupSegment(info, memmap, area, maxAddr, debug);
  const { buf } = crashCreateElfHeaders(files, debug, elfInfo, memRange, backup, ELF_CORE_HEADER_ALIGN);
  const elfcorehdr = addElfHeaderSegment(info, memmap, buf, minBase, maxAddr, debug);

  let line = Buffer.from(cmdline ?? '', 'utf8').subarray(0, COMMAND_LINE_SIZE - 1).toString('utf8');
  const efiHandover = files('/sys/firmware/efi/runtime-map') !== null && !req.noefi && supportsEfiBoot(req.kernel);
  if (!efiHandover) line = cmdlineAddEfi(line, files);
  line = cmdlineAddElfcorehdr(line, elfcorehdr, debug);

  // The capture kernel must still see firmware tables and reserved areas (ACPI needs a linear mapping).
  // kexec-tools keeps start, end and size in unsigned longs here: 32 bits in its i386 build, so a range above
  // 4 GiB is cut to its low half (then usually refused as an overlap); measured against Debian's i386 2.0.25
  // and 2.0.32 built from source.
  const ulong = req.arch === 'x86_64' ? u64 : (v: bigint) => v & 0xffffffffn;
  for (const r of memRange) {
    if (r.type === RANGE.ACPI || r.type === RANGE.ACPI_NVS || r.type === RANGE.RESERVED || r.type === RANGE.PMEM || r.type === RANGE.PRAM) {
      const [start, end] = [ulong(r.start), ulong(r.end)];
      memmap.add(start, ulong(end - start + 1n), r.type);
    }
  }
  if (req.passMemmapCmdline) line = cmdlineAddMemmap(line, memmap.entries, debug);

  info.crashRanges = memmap.entries;
  return { cmdline: line, backup, elfcorehdr, elfHeader: buf, stdout };
}
