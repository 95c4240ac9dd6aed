// What the capture kernel's /proc/vmcore shows for a panic, by the rules of fs/proc/vmcore.c (the same in
// Linux 6.1 and 6.12): parse_crash_elf64_headers reads the elfcorehdr, update_note_header_size_elf64 cuts each
// PT_NOTE to its real notes (up to the first note with n_namesz 0), merge_note_headers_elf64 merges them into
// one PT_NOTE at roundup(headers, PAGE_SIZE) whose buffer is roundup(sum of real sizes, PAGE_SIZE), and
// process_ptload_program_headers_elf64 lays the PT_LOADs after it, each from its page-aligned start. So the
// notes take a second page as soon as the CPUs' NT_PRSTATUS notes and the VMCOREINFO text pass 4096 bytes,
// and every PT_LOAD's offset moves with them. `machine panic` reports this layout; the capture kernel builds
// its own, and the differential test (test/differential/linux-kexec.test.ts) compares the two.

import { PT_LOAD, PT_NOTE, type ElfProgramHeader } from '../../formats/elf.js';
import { readElfCoreHeader } from '../../formats/elf-core.js';
import { alignDown, alignUp } from '../../lib/align.js';
import { hex } from '../../lib/hex.js';
import type { MemoryImage } from '../memory/memory-image.js';
import { MemoryReader } from '../memory/memory-reader.js';

const PAGE = 4096n;
const EHDR64 = 64n;
const PHDR64 = 56n;
const NHDR = 12;

export interface ProcVmcoreLayout {
  /** The merged PT_NOTE: its p_offset and p_filesz (the sum of the real note sizes). */
  note: { offset: bigint; size: bigint };
  /** elfnotes_sz: the note buffer, whole pages. */
  notesPages: bigint;
  /** The PT_LOADs' paddr and their new p_offset, in the header's order. */
  loads: { paddr: bigint; offset: bigint }[];
}

/** update_note_header_size_elf64 for one PT_NOTE's bytes: the notes up to the first with n_namesz 0 (or p_memsz). */
export function noteRealSize(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let size = 0;
  while (size + NHDR <= bytes.length) {
    const namesz = view.getUint32(size, true);
    if (namesz === 0) break;
    const sz = NHDR + Number(alignUp(BigInt(namesz), 4n)) + Number(alignUp(BigInt(view.getUint32(size + 4, true)), 4n));
    if (size + sz > bytes.length) break; // "Warning: Exceeded p_memsz, dropping PT_NOTE entry"
    size += sz;
  }
  return size;
}

/**
 * merge_note_headers_elf64 and process_ptload_program_headers_elf64 over an elfcorehdr's program headers;
 * notes(phdr) gives a PT_NOTE's bytes (p_memsz of them at p_offset in the old RAM).
 */
export function procVmcoreLayout(phdrs: readonly ElfProgramHeader[], notes: (p: ElfProgramHeader) => Uint8Array): ProcVmcoreLayout {
  const notePhdrs = phdrs.filter((p) => p.type === PT_NOTE);
  const noteSize = notePhdrs.reduce((n, p) => n + BigInt(noteRealSize(notes(p))), 0n);
  const phnum = BigInt(phdrs.length - notePhdrs.length + 1);
  const elfsz = alignUp(EHDR64 + phnum * PHDR64, PAGE);
  const notesBuf = alignUp(noteSize, PAGE);
  let off = elfsz + notesBuf;
  const loads: ProcVmcoreLayout['loads'] = [];
  for (const p of phdrs) {
    if (p.type !== PT_LOAD) continue;
    const start = alignDown(p.offset, PAGE);
    const end = alignUp(p.offset + p.memsz, PAGE);
    loads.push({ paddr: p.paddr, offset: off + (p.offset - start) });
    off += end - start;
  }
  return { note: { offset: alignUp(EHDR64 + phnum * PHDR64, PAGE), size: noteSize }, notesPages: notesBuf / PAGE, loads };
}

/**
 * The panic's /proc/vmcore layout as one line for machine panic: the elfcorehdr is the crash image's ELF64
 * ET_CORE segment (the first of its runs that starts with one); its PT_NOTEs are read from the old kernel's
 * notes just written. Null when no run holds such a header or a note is not in memory.
 */
export function procVmcoreSummary(image: MemoryImage): string | null {
  const reader = new MemoryReader(image);
  try {
    let phdrs: ElfProgramHeader[] | null = null;
    for (const e of image.extents) {
      if ((e.kind !== 'bytes' && e.kind !== 'file') || e.length < 64) continue;
      const id = reader.read(e.addr, 18);
      if (id[0] !== 0x7f || id[1] !== 0x45 || id[2] !== 0x4c || id[3] !== 0x46 || id[4] !== 2 || id[16] !== 4) continue;
      try {
        phdrs = readElfCoreHeader(reader.read(e.addr, e.length)).phdrs;
        break;
      } catch {
        continue;
      }
    }
    if (!phdrs) return null;
    if (phdrs.some((p) => p.type === PT_NOTE && !reader.covered(p.offset, p.memsz))) return null;
    const layout = procVmcoreLayout(phdrs, (p) => reader.read(p.offset, Number(p.memsz)));
    const first = layout.loads[0];
    return `/proc/vmcore (fs/proc/vmcore.c merge_note_headers_elf64): PT_NOTE ${hex(layout.note.size)} bytes at ${hex(layout.note.offset)} in ${layout.notesPages} page${layout.notesPages === 1n ? '' : 's'}${first ? `; the first PT_LOAD (paddr ${hex(first.paddr)}) at offset ${hex(first.offset)}` : ''}`;
  } finally {
    reader.close();
  }
}
