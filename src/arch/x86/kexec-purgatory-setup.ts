// kernel/kexec_file.c kexec_purgatory_setup_kbuf and kexec_purgatory_setup_sechdrs: the purgatory object's
// SHF_ALLOC sections laid out as one segment (data, then bss), each at an offset from the load address.

import { alignUp } from '../../lib/align.js';
import { hex } from '../../lib/hex.js';
import { KexecError } from '../../errno.js';
import { ElfFile, ElfFormatError, ElfSection, EM_386, EM_486, EM_X86_64, ET_REL, SHF_ALLOC, SHT_NOBITS } from '../../formats/elf.js';

export type PurgatoryArch = 'x86_64' | 'i386';

export const U32_MAX = 0xffffffffn;

/** Where one SHF_ALLOC section goes, as an offset from the segment's load address. */
export interface PurgatorySectionPlacement {
  index: number;
  name: string;
  offset: number;
  size: number;
  align: number;
  nobits: boolean;
}

export interface PurgatoryLayout {
  elf: ElfFile;
  arch: PurgatoryArch;
  sections: PurgatorySectionPlacement[];
  /** Bytes of segment data: the non-NOBITS sections, padded to the bss alignment. */
  bufsz: number;
  /** bufsz plus the bss sections. */
  memsz: number;
  /** The largest section alignment: the segment's load address must be a multiple of it. */
  align: number;
}


/** The refusal of kexec_load_purgatory for an object it cannot use. */
export function enoexec(detail: string, value?: string): KexecError {
  return new KexecError('ENOEXEC', 'kexec_load_purgatory', detail, value === undefined ? {} : { value });
}

function sectionAlign(s: ElfSection): number {
  // kexec-tools treats sh_addralign 0 as 1 (get_section_addralign); the gABI allows only 0 and powers of two.
  const a = s.addralign === 0n ? 1n : s.addralign;
  if ((a & (a - 1n)) !== 0n || a > 0x100000n) {
    throw enoexec(`section ${s.index} (${s.name}) has sh_addralign ${hex(s.addralign)}, not a power of two up to 1 MiB`);
  }
  return Number(a);
}

/**
 * Lays out the SHF_ALLOC sections in section order (kernel/kexec_file.c: kexec_purgatory_setup_kbuf and
 * kexec_purgatory_setup_sechdrs): data sections packed from offset 0, each aligned to its sh_addralign;
 * bufsz rounded up to the bss alignment; bss sections after bufsz.
 */
export function layoutPurgatory(obj: Uint8Array): PurgatoryLayout {
  let elf: ElfFile;
  try {
    elf = ElfFile.parse(obj);
  } catch (e) {
    if (e instanceof ElfFormatError) throw enoexec(`purgatory object: ${e.message}`);
    throw e;
  }
  const h = elf.header;
  if (h.type !== ET_REL) throw enoexec(`purgatory object has e_type ${h.type}, expected ET_REL (1)`);
  let arch: PurgatoryArch;
  if (h.class === 64 && h.machine === EM_X86_64) arch = 'x86_64';
  else if (h.class === 32 && (h.machine === EM_386 || h.machine === EM_486)) arch = 'i386';
  else throw enoexec(`purgatory object is ELF${h.class} for machine ${h.machine}, not x86_64 (ELF64, 62) or i386 (ELF32, 3)`);
  if (elf.sections.length === 0) throw enoexec('purgatory object has no section headers');

  const alloc = elf.sections.filter((s) => (s.flags & SHF_ALLOC) !== 0n);
  let bufAlign = 1;
  let bssAlign = 1;
  let bufsz = 0;
  let bssSize = 0;
  const sections: PurgatorySectionPlacement[] = [];
  for (const s of alloc) {
    const align = sectionAlign(s);
    if (s.size > U32_MAX) throw enoexec(`section ${s.index} (${s.name}) has sh_size ${hex(s.size)}, too large for a purgatory`);
    const size = Number(s.size);
    const nobits = s.type === SHT_NOBITS;
    if (nobits) {
      bssAlign = Math.max(bssAlign, align);
      bssSize = alignUp(bssSize, align);
      sections.push({ index: s.index, name: s.name, offset: bssSize, size, align, nobits });
      bssSize += size;
    } else {
      bufAlign = Math.max(bufAlign, align);
      bufsz = alignUp(bufsz, align);
      sections.push({ index: s.index, name: s.name, offset: bufsz, size, align, nobits });
      bufsz += size;
    }
  }
  bufsz = alignUp(bufsz, bssAlign);
  for (const p of sections) if (p.nobits) p.offset += bufsz;
  const memsz = bufsz + bssSize;
  if (memsz > Number(U32_MAX)) throw enoexec(`purgatory memsz ${hex(memsz)} is too large`);
  return { elf, arch, sections, bufsz, memsz, align: Math.max(bufAlign, bssAlign) };
}
