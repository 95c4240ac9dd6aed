// ELF core headers for a panic kernel (the "elfcorehdr" it reads /proc/vmcore from): kexec-tools'
// kexec/crashdump.c (crash notes and vmcoreinfo from sysfs) and kexec/crashdump-elf.c
// (crash_create_elf64_headers / crash_create_elf32_headers), and Linux's crash_prepare_elf64_headers
// (kernel/crash_core.c) for the kexec_file_load path. Both write the same shape: an Ehdr, then PT_NOTE
// per CPU, a PT_NOTE for vmcoreinfo, an optional kernel-text PT_LOAD and one PT_LOAD per RAM range.
//
// How Linux's version differs from kexec-tools' (see crashPrepareElf64Headers):
//  - always ELF64; the buffer is padded to 4096 (kernel ELF_CORE_HEADER_ALIGN), not 1024;
//  - one note per *possible* CPU, size sizeof(note_buf_t); kexec-tools takes sysconf(_SC_NPROCESSORS_CONF)
//    CPUs, skips those without crash_notes, and trusts crash_notes_size (1024 when that file is absent);
//  - kernel text is [_text, _end) exactly; kexec-tools reads /proc/kcore and rounds the start down to
//    1 MiB and the size up to a page;
//  - the RAM list comes from the caller already cut (x86: low 1 MiB, crashk_res, crashk_low_res removed);
//    p_offset is always the physical start: there is no backup region, while kexec-tools points the first
//    640 KiB's p_offset at its backup copy.

import { UsageError } from '../errno.js';
import {
  EHDR, PHDR, STRUCT_SIZE, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ET_CORE, EI_CLASS, EI_DATA, EI_VERSION,
  PT_LOAD, PT_NOTE, PF_R, PF_W, PF_X, type ElfClass, type ElfField, type ElfProgramHeader,
} from '../formats/elf.js';
import type { Debug } from './debug.js';
import { type MemoryRange, RANGE, type SystemFiles } from './memory-ranges.js';

/** kexec-tools crashdump.h: the header goes on the command line in KiB, so 1 KiB granularity. */
export const ELF_CORE_HEADER_ALIGN = 1024n;
/** Linux include/linux/crash_core.h: the kernel pads its own header to a page. */
export const KERNEL_ELF_CORE_HEADER_ALIGN = 4096n;
/** kexec-tools crashdump.h: a crash_notes buffer's size when crash_notes_size is absent. */
export const MAX_NOTE_BYTES = 1024n;

/** One program header as written; values wider than the class's fields are truncated, as C assignment does. */
export type CorePhdr = Omit<ElfProgramHeader, 'index'>;

const alignUp = (v: bigint, a: bigint) => ((v + a - 1n) / a) * a;
const mask = (v: bigint, bits: number) => BigInt.asUintN(bits, v);

function put(view: DataView, base: number, f: ElfField, value: bigint | number): void {
  const v = BigInt(value);
  switch (f.size) {
    case 1:
      view.setUint8(base + f.offset, Number(mask(v, 8)));
      break;
    case 2:
      view.setUint16(base + f.offset, Number(mask(v, 16)), true);
      break;
    case 4:
      view.setUint32(base + f.offset, Number(mask(v, 32)), true);
      break;
    case 8:
      view.setBigUint64(base + f.offset, mask(v, 64), true);
      break;
  }
}

/** The phdr as stored in a header of class `cls` (fields truncated to 32 bits for ELF32). */
function storedPhdr(cls: ElfClass, p: CorePhdr): CorePhdr {
  const w = cls === 32 ? 32 : 64;
  return { ...p, offset: mask(p.offset, w), vaddr: mask(p.vaddr, w), paddr: mask(p.paddr, w), filesz: mask(p.filesz, w), memsz: mask(p.memsz, w), align: mask(p.align, w) };
}

/**
 * Ehdr + phdrs of an x86 ELF core header (ET_CORE, little-endian, e_phoff right after the Ehdr, no sections),
 * zero-padded to a multiple of `align`.
 */
export function writeElfCoreHeader(cls: ElfClass, machine: number, phdrs: readonly CorePhdr[], align: bigint): Uint8Array {
  const sizes = STRUCT_SIZE[cls];
  const size = Number(alignUp(BigInt(sizes.ehdr + phdrs.length * sizes.phdr), align));
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  buf.set([0x7f, 0x45, 0x4c, 0x46]);
  buf[EI_CLASS] = cls === 32 ? ELFCLASS32 : ELFCLASS64;
  buf[EI_DATA] = ELFDATA2LSB;
  buf[EI_VERSION] = EV_CURRENT; // EI_OSABI stays ELFOSABI_NONE, the padding zero
  const e = EHDR[cls];
  put(view, 0, e.e_type, ET_CORE);
  put(view, 0, e.e_machine, machine);
  put(view, 0, e.e_version, EV_CURRENT);
  put(view, 0, e.e_phoff, sizes.ehdr);
  put(view, 0, e.e_ehsize, sizes.ehdr);
  put(view, 0, e.e_phentsize, sizes.phdr);
  put(view, 0, e.e_phnum, phdrs.length);
  const p = PHDR[cls];
  phdrs.forEach((ph, i) => {
    const at = sizes.ehdr + i * sizes.phdr;
    put(view, at, p.p_type, ph.type);
    put(view, at, p.p_flags, ph.flags);
    put(view, at, p.p_offset, ph.offset);
    put(view, at, p.p_vaddr, ph.vaddr);
    put(view, at, p.p_paddr, ph.paddr);
    put(view, at, p.p_filesz, ph.filesz);
    put(view, at, p.p_memsz, ph.memsz);
    put(view, at, p.p_align, ph.align);
  });
  return buf;
}

// ---------------------------------------------------------------------------------------------------------
// kexec-tools side (kexec/crashdump.c): what the running kernel tells userspace through sysfs.

/** sscanf("%llx") / ("%llu"): leading blanks, an optional 0x, digits; null when nothing matches. */
function scanNumber(text: string, radix: 16 | 10): bigint | null {
  const m = radix === 16 ? /^\s*(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)/.exec(text) : /^\s*([0-9]+)/.exec(text);
  if (!m) return null;
  return BigInt(radix === 16 ? '0x' + m[1] : m[1]!);
}

/** die("Cannot parse %s: %s\n"): errno is untouched by a failed sscanf, so strerror(0). */
function cannotParse(file: string): UsageError {
  return new UsageError(`Cannot parse ${file}: Success`, { hint: `${file} must start with a hexadecimal address; the machine's sysfs view is damaged` });
}

/** get_crash_notes_per_cpu: /sys/devices/system/cpu/cpuN/crash_notes ("%llx") and crash_notes_size ("%llu"). */
export function getCrashNotesPerCpu(files: SystemFiles, cpu: number, debug: Debug): { addr: bigint; len: bigint } | null {
  const notesFile = `/sys/devices/system/cpu/cpu${cpu}/crash_notes`;
  const text = files(notesFile);
  if (text === null) return null; // CPU not present
  const addr = scanNumber(text, 16);
  if (addr === null) throw cannotParse(notesFile);
  let len = MAX_NOTE_BYTES;
  const sizeFile = `/sys/devices/system/cpu/cpu${cpu}/crash_notes_size`;
  const sizeText = files(sizeFile);
  if (sizeText !== null) {
    const v = scanNumber(sizeText, 10);
    if (v === null) throw cannotParse(sizeFile);
    len = v;
  }
  debug.print(`get_crash_notes_per_cpu: crash_notes addr = ${addr.toString(16)}, size = ${len}`);
  return { addr, len };
}

/** get_kernel_vmcoreinfo: /sys/kernel/vmcoreinfo, "%llx %llx" (physical address and size of the note). */
export function getKernelVmcoreinfo(files: SystemFiles): { addr: bigint; len: bigint } | null {
  const file = '/sys/kernel/vmcoreinfo';
  const text = files(file);
  if (text === null) return null;
  const m = /^\s*(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)\s+(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)/.exec(text);
  if (!m) throw cannotParse(file);
  return { addr: BigInt('0x' + m[1]), len: BigInt('0x' + m[2]) };
}

/**
 * sysconf(_SC_NPROCESSORS_CONF): the CPUs with a /sys/devices/system/cpu/cpuN directory. The machine's sysfs
 * view shows a CPU's directory through its crash_notes file, so those are counted.
 */
export function nrCpusConf(files: SystemFiles): number {
  let n = 0;
  while (files(`/sys/devices/system/cpu/cpu${n}/crash_notes`) !== null) n++;
  return n;
}

/** struct crash_elf_info: what the arch code found out about the running kernel. */
export interface CrashElfInfo {
  class: ElfClass;
  machine: number;
  pageOffset: bigint;
  kernVaddrStart: bigint;
  kernPaddrStart: bigint;
  /** 0: no kernel-text PT_LOAD (i386). */
  kernSize: bigint;
  /** i386 X86_MAXMEM: RAM above it is highmem, p_vaddr -1. 0: none. */
  lowmemLimit: bigint;
  /** Width of kexec-tools' `unsigned long` (the running kernel's word size): phys_to_virt wraps at it. */
  ulongBits: 32 | 64;
}

/** The backup of the first 640 KiB (kexec_info backup_src_start/size, backup_start). */
export interface BackupRegion {
  srcStart: bigint;
  srcSize: bigint;
  start: bigint;
}

function phdrLine(prefix: string, p: CorePhdr): string {
  const h = (v: bigint) => '0x' + v.toString(16);
  return `${prefix}: p_type = ${p.type}, p_offset = ${h(p.offset)} p_paddr = ${h(p.paddr)} p_vaddr = ${h(p.vaddr)} p_filesz = ${h(p.filesz)} p_memsz = ${h(p.memsz)}`;
}

/**
 * crash_create_elf64_headers / crash_create_elf32_headers: the header for `ranges` (the crash memory ranges;
 * only RAM gets a PT_LOAD, the 640 KiB backup source pointing at its copy). Debug lines as kexec-tools'.
 */
export function crashCreateElfHeaders(
  files: SystemFiles,
  debug: Debug,
  elfInfo: CrashElfInfo,
  ranges: readonly MemoryRange[],
  backup: BackupRegion,
  align: bigint = ELF_CORE_HEADER_ALIGN,
): { buf: Uint8Array; phdrs: CorePhdr[] } {
  const cls = elfInfo.class;
  const phdrs: CorePhdr[] = [];
  const add = (prefix: string, p: CorePhdr) => {
    const stored = storedPhdr(cls, p);
    phdrs.push(stored);
    debug.print(phdrLine(prefix, stored));
  };
  const nrCpus = nrCpusConf(files);
  const vmcoreinfo = getKernelVmcoreinfo(files);
  for (let cpu = 0; cpu < nrCpus; cpu++) {
    const note = getCrashNotesPerCpu(files, cpu, debug);
    if (!note) continue;
    add('Elf header', { type: PT_NOTE, flags: 0, offset: note.addr, paddr: note.addr, vaddr: 0n, filesz: note.len, memsz: note.len, align: 0n });
  }
  if (vmcoreinfo) {
    add('vmcoreinfo header', { type: PT_NOTE, flags: 0, offset: vmcoreinfo.addr, paddr: vmcoreinfo.addr, vaddr: 0n, filesz: vmcoreinfo.len, memsz: vmcoreinfo.len, align: 0n });
  }
  const rwx = PF_R | PF_W | PF_X;
  if (elfInfo.kernSize !== 0n) {
    const k = elfInfo;
    add('Kernel text Elf header', { type: PT_LOAD, flags: rwx, offset: k.kernPaddrStart, paddr: k.kernPaddrStart, vaddr: k.kernVaddrStart, filesz: k.kernSize, memsz: k.kernSize, align: 0n });
  }
  for (const r of ranges) {
    if (r.type !== RANGE.RAM) continue;
    if (r.start === 0n && r.end === 0n) continue;
    const size = mask(r.end - r.start + 1n, 64);
    // The first 640 KiB is overwritten by the capture kernel: the dump reads it from the backup copy.
    const offset = r.start === backup.srcStart && size === backup.srcSize ? backup.start : r.start;
    let vaddr = mask(r.start + elfInfo.pageOffset, elfInfo.ulongBits);
    if (elfInfo.lowmemLimit !== 0n && r.end > elfInfo.lowmemLimit - 1n) vaddr = mask(-1n, 64); // highmem has no linear address
    add('Elf header', { type: PT_LOAD, flags: rwx, offset, paddr: r.start, vaddr, filesz: size, memsz: size, align: 0n });
  }
  return { buf: writeElfCoreHeader(cls, elfInfo.machine, phdrs, align), phdrs };
}

// ---------------------------------------------------------------------------------------------------------
// Kernel side (kexec_file_load): Linux's crash_prepare_elf64_headers.

export interface KernelCrashElfParams {
  machine: number;
  /** per_cpu_ptr_to_phys(crash_notes) of every possible CPU. */
  notes: readonly bigint[];
  /** sizeof(note_buf_t). */
  noteSize: bigint;
  /** paddr_vmcoreinfo_note() and VMCOREINFO_NOTE_SIZE. */
  vmcoreinfo: { addr: bigint; size: bigint };
  /** need_kernel_map: _text (virtual), __pa_symbol(_text), _end - _text. Null on i386. */
  kernelText: { vaddr: bigint; paddr: bigint; size: bigint } | null;
  /** The RAM ranges left after the arch's exclusions (inclusive ends). */
  ranges: readonly { start: bigint; end: bigint }[];
  /** PAGE_OFFSET for __va(). */
  pageOffset: bigint;
}

/** crash_prepare_elf64_headers (kernel/crash_core.c): see the header comment for how it differs from kexec-tools. */
export function crashPrepareElf64Headers(p: KernelCrashElfParams): { buf: Uint8Array; phdrs: CorePhdr[] } {
  const rwx = PF_R | PF_W | PF_X;
  const phdrs: CorePhdr[] = p.notes.map((addr) => ({ type: PT_NOTE, flags: 0, offset: addr, paddr: addr, vaddr: 0n, filesz: p.noteSize, memsz: p.noteSize, align: 0n }));
  const vi = p.vmcoreinfo;
  phdrs.push({ type: PT_NOTE, flags: 0, offset: vi.addr, paddr: vi.addr, vaddr: 0n, filesz: vi.size, memsz: vi.size, align: 0n });
  if (p.kernelText) {
    const t = p.kernelText;
    phdrs.push({ type: PT_LOAD, flags: rwx, offset: t.paddr, paddr: t.paddr, vaddr: t.vaddr, filesz: t.size, memsz: t.size, align: 0n });
  }
  for (const r of p.ranges) {
    const size = r.end - r.start + 1n;
    phdrs.push({ type: PT_LOAD, flags: rwx, offset: r.start, paddr: r.start, vaddr: mask(r.start + p.pageOffset, 64), filesz: size, memsz: size, align: 0n });
  }
  return { buf: writeElfCoreHeader(64, p.machine, phdrs, KERNEL_ELF_CORE_HEADER_ALIGN), phdrs };
}
