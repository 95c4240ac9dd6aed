// crash_prepare_elf64_headers (kernel/crash_core.c): the ELF core header the kernel builds for a
// kexec_file_load crash image. How it differs from kexec-tools' (src/kexec/crashdump-elf.ts):
//  - always ELF64; the buffer is padded to 4096 (kernel ELF_CORE_HEADER_ALIGN), not 1024;
//  - one note per *possible* CPU, size sizeof(note_buf_t); kexec-tools takes sysconf(_SC_NPROCESSORS_CONF)
//    CPUs, skips those without crash_notes, and trusts crash_notes_size (1024 when that file is absent);
//  - kernel text is [_text, _end) exactly; kexec-tools reads /proc/kcore and rounds the start down to
//    1 MiB and the size up to a page;
//  - the RAM list comes from the caller already cut (x86: low 1 MiB, crashk_res, crashk_low_res removed);
//    p_offset is always the physical start: there is no backup region.

import { PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE } from '../../formats/elf.js';
import { type CorePhdr, writeElfCoreHeader } from '../../formats/elf-core.js';
import { type PhysRange, rangeLength } from '../../lib/range.js';

/** include/linux/crash_core.h: the kernel pads its own header to a page. */
export const KERNEL_ELF_CORE_HEADER_ALIGN = 4096n;

const mask = (v: bigint, bits: number) => BigInt.asUintN(bits, v);

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
  /** The RAM ranges left after the arch's exclusions. */
  ranges: readonly PhysRange[];
  /** PAGE_OFFSET for __va(). */
  pageOffset: bigint;
}

/** crash_prepare_elf64_headers */
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
    const size = rangeLength(r);
    phdrs.push({ type: PT_LOAD, flags: rwx, offset: r.start, paddr: r.start, vaddr: mask(r.start + p.pageOffset, 64), filesz: size, memsz: size, align: 0n });
  }
  return { buf: writeElfCoreHeader(64, p.machine, phdrs, KERNEL_ELF_CORE_HEADER_ALIGN), phdrs };
}
