// ELF core headers for a panic kernel (the "elfcorehdr" it reads /proc/vmcore from) as kexec-tools builds
// them: kexec/crashdump.c (crash notes and vmcoreinfo from sysfs) and kexec/crashdump-elf.c
// (crash_create_elf64_headers / crash_create_elf32_headers). The bytes are written by formats/elf-core.ts;
// Linux's own version for kexec_file_load is src/vm/kernel/crash-core.ts.
//
// How Linux's version differs from kexec-tools':
//  - always ELF64; the buffer is padded to 4096 (kernel ELF_CORE_HEADER_ALIGN), not 1024;
//  - one note per *possible* CPU, size sizeof(note_buf_t); kexec-tools takes sysconf(_SC_NPROCESSORS_CONF)
//    CPUs, skips those without crash_notes, and trusts crash_notes_size (1024 when that file is absent);
//  - kernel text is [_text, _end) exactly; kexec-tools reads /proc/kcore and rounds the start down to
//    1 MiB and the size up to a page;
//  - the RAM list comes from the caller already cut (x86: low 1 MiB, crashk_res, crashk_low_res removed);
//    p_offset is always the physical start: there is no backup region, while kexec-tools points the first
//    640 KiB's p_offset at its backup copy.

import { UsageError } from '../errno.js';
import { PT_LOAD, PT_NOTE, PF_R, PF_W, PF_X, type ElfClass } from '../formats/elf.js';
import { alignUp } from '../lib/align.js';
import { type CorePhdr, storedPhdr, writeElfCoreHeader } from '../formats/elf-core.js';
import type { Debug } from './debug.js';
import { hex } from '../lib/hex.js';
import { type MemoryRange, RANGE, type SystemFiles } from './memory-ranges.js';

/** kexec-tools crashdump.h: the header goes on the command line in KiB, so 1 KiB granularity. */
export const ELF_CORE_HEADER_ALIGN = 1024n;
/** kexec-tools crashdump.h: a crash_notes buffer's size when crash_notes_size is absent. */
export const MAX_NOTE_BYTES = 1024n;

const mask = (v: bigint, bits: number) => BigInt.asUintN(bits, v);

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
  return `${prefix}: p_type = ${p.type}, p_offset = ${hex(p.offset)} p_paddr = ${hex(p.paddr)} p_vaddr = ${hex(p.vaddr)} p_filesz = ${hex(p.filesz)} p_memsz = ${hex(p.memsz)}`;
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
  // FUNC's buffer size (kexec/crashdump-elf.c, 2.0.25 and 2.0.32): room for a phdr per configured CPU, the
  // vmcoreinfo note, the kernel text and every crash memory range of any type (not only the PT_LOADs
  // written), rounded up to `align`; the unused tail stays zero.
  const written = writeElfCoreHeader(cls, elfInfo.machine, phdrs, align);
  const sizes = cls === 64 ? { ehdr: 64, phdr: 56 } : { ehdr: 52, phdr: 32 };
  const slots = nrCpus + (vmcoreinfo ? 1 : 0) + ranges.length + (elfInfo.kernSize !== 0n ? 1 : 0);
  const size = Number(alignUp(BigInt(sizes.ehdr + slots * sizes.phdr), align));
  const buf = new Uint8Array(Math.max(size, written.length));
  buf.set(written);
  return { buf, phdrs };
}
