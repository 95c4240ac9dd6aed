// ELF reader (System V gABI, include/uapi/linux/elf.h): ELF32 and ELF64, little-endian only. Reads the
// header, program headers, section headers, string tables, SHT_SYMTAB symbols and REL/RELA entries, and
// checks every offset and size against the file before use. No policy: loaders decide what they accept.
// Refusals are ElfFormatError with a message naming the rule; callers add the file name and the errno.
// Address, offset and size fields (Elf64_Addr/Off/Xword/Sxword) are bigint in both classes, so callers
// need not care which class they read; counts, indices, types and flags that fit 32 bits are numbers.

export class ElfFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElfFormatError';
  }
}

export interface ElfField {
  offset: number;
  size: 1 | 2 | 4 | 8;
}

type Layout<K extends string> = Record<K, ElfField>;

export type ElfClass = 32 | 64;

// e_ident (identical in both classes)
export const EI_NIDENT = 16;
export const EI_CLASS = 4;
export const EI_DATA = 5;
export const EI_VERSION = 6;
export const EI_OSABI = 7;
export const EI_ABIVERSION = 8;
export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ELFDATA2MSB = 2;
export const EV_CURRENT = 1;

// e_type
export const ET_NONE = 0;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

// e_machine
export const EM_386 = 3;
export const EM_486 = 6;
export const EM_X86_64 = 62;

// p_type
export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PT_SHLIB = 5;
export const PT_PHDR = 6;
export const PT_TLS = 7;
export const PT_GNU_EH_FRAME = 0x6474e550;
export const PT_GNU_STACK = 0x6474e551;
export const PT_GNU_RELRO = 0x6474e552;
export const PT_GNU_PROPERTY = 0x6474e553;

// p_flags
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

// sh_type
export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_HASH = 5;
export const SHT_DYNAMIC = 6;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_DYNSYM = 11;

// sh_flags
export const SHF_WRITE = 0x1n;
export const SHF_ALLOC = 0x2n;
export const SHF_EXECINSTR = 0x4n;

// Special section indices
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;
/** e_phnum value meaning "the real count is in section 0's sh_info". */
export const PN_XNUM = 0xffff;

// Symbol binding and type (st_info), visibility (st_other)
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;

// x86_64 relocation types (psABI)
export const R_X86_64_NONE = 0;
export const R_X86_64_64 = 1;
export const R_X86_64_PC32 = 2;
export const R_X86_64_PLT32 = 4;
export const R_X86_64_32 = 10;
export const R_X86_64_32S = 11;

// i386 relocation types (SysV i386 psABI)
export const R_386_NONE = 0;
export const R_386_32 = 1;
export const R_386_PC32 = 2;

/** Elf32_Ehdr / Elf64_Ehdr after e_ident. */
export const EHDR: Record<ElfClass, Layout<EhdrField>> = {
  32: {
    e_type: { offset: 0x10, size: 2 },
    e_machine: { offset: 0x12, size: 2 },
    e_version: { offset: 0x14, size: 4 },
    e_entry: { offset: 0x18, size: 4 },
    e_phoff: { offset: 0x1c, size: 4 },
    e_shoff: { offset: 0x20, size: 4 },
    e_flags: { offset: 0x24, size: 4 },
    e_ehsize: { offset: 0x28, size: 2 },
    e_phentsize: { offset: 0x2a, size: 2 },
    e_phnum: { offset: 0x2c, size: 2 },
    e_shentsize: { offset: 0x2e, size: 2 },
    e_shnum: { offset: 0x30, size: 2 },
    e_shstrndx: { offset: 0x32, size: 2 },
  },
  64: {
    e_type: { offset: 0x10, size: 2 },
    e_machine: { offset: 0x12, size: 2 },
    e_version: { offset: 0x14, size: 4 },
    e_entry: { offset: 0x18, size: 8 },
    e_phoff: { offset: 0x20, size: 8 },
    e_shoff: { offset: 0x28, size: 8 },
    e_flags: { offset: 0x30, size: 4 },
    e_ehsize: { offset: 0x34, size: 2 },
    e_phentsize: { offset: 0x36, size: 2 },
    e_phnum: { offset: 0x38, size: 2 },
    e_shentsize: { offset: 0x3a, size: 2 },
    e_shnum: { offset: 0x3c, size: 2 },
    e_shstrndx: { offset: 0x3e, size: 2 },
  },
};
type EhdrField =
  | 'e_type' | 'e_machine' | 'e_version' | 'e_entry' | 'e_phoff' | 'e_shoff' | 'e_flags' | 'e_ehsize'
  | 'e_phentsize' | 'e_phnum' | 'e_shentsize' | 'e_shnum' | 'e_shstrndx';

/** Elf32_Phdr / Elf64_Phdr (note p_flags moves to offset 4 in ELF64). */
export const PHDR: Record<ElfClass, Layout<PhdrField>> = {
  32: {
    p_type: { offset: 0, size: 4 },
    p_offset: { offset: 4, size: 4 },
    p_vaddr: { offset: 8, size: 4 },
    p_paddr: { offset: 12, size: 4 },
    p_filesz: { offset: 16, size: 4 },
    p_memsz: { offset: 20, size: 4 },
    p_flags: { offset: 24, size: 4 },
    p_align: { offset: 28, size: 4 },
  },
  64: {
    p_type: { offset: 0, size: 4 },
    p_flags: { offset: 4, size: 4 },
    p_offset: { offset: 8, size: 8 },
    p_vaddr: { offset: 16, size: 8 },
    p_paddr: { offset: 24, size: 8 },
    p_filesz: { offset: 32, size: 8 },
    p_memsz: { offset: 40, size: 8 },
    p_align: { offset: 48, size: 8 },
  },
};
type PhdrField = 'p_type' | 'p_flags' | 'p_offset' | 'p_vaddr' | 'p_paddr' | 'p_filesz' | 'p_memsz' | 'p_align';

/** Elf32_Shdr / Elf64_Shdr. */
export const SHDR: Record<ElfClass, Layout<ShdrField>> = {
  32: {
    sh_name: { offset: 0, size: 4 },
    sh_type: { offset: 4, size: 4 },
    sh_flags: { offset: 8, size: 4 },
    sh_addr: { offset: 12, size: 4 },
    sh_offset: { offset: 16, size: 4 },
    sh_size: { offset: 20, size: 4 },
    sh_link: { offset: 24, size: 4 },
    sh_info: { offset: 28, size: 4 },
    sh_addralign: { offset: 32, size: 4 },
    sh_entsize: { offset: 36, size: 4 },
  },
  64: {
    sh_name: { offset: 0, size: 4 },
    sh_type: { offset: 4, size: 4 },
    sh_flags: { offset: 8, size: 8 },
    sh_addr: { offset: 16, size: 8 },
    sh_offset: { offset: 24, size: 8 },
    sh_size: { offset: 32, size: 8 },
    sh_link: { offset: 40, size: 4 },
    sh_info: { offset: 44, size: 4 },
    sh_addralign: { offset: 48, size: 8 },
    sh_entsize: { offset: 56, size: 8 },
  },
};
type ShdrField =
  | 'sh_name' | 'sh_type' | 'sh_flags' | 'sh_addr' | 'sh_offset' | 'sh_size' | 'sh_link' | 'sh_info'
  | 'sh_addralign' | 'sh_entsize';

/** Elf32_Sym / Elf64_Sym (fields reordered in ELF64 for alignment). */
export const SYM: Record<ElfClass, Layout<SymField>> = {
  32: {
    st_name: { offset: 0, size: 4 },
    st_value: { offset: 4, size: 4 },
    st_size: { offset: 8, size: 4 },
    st_info: { offset: 12, size: 1 },
    st_other: { offset: 13, size: 1 },
    st_shndx: { offset: 14, size: 2 },
  },
  64: {
    st_name: { offset: 0, size: 4 },
    st_info: { offset: 4, size: 1 },
    st_other: { offset: 5, size: 1 },
    st_shndx: { offset: 6, size: 2 },
    st_value: { offset: 8, size: 8 },
    st_size: { offset: 16, size: 8 },
  },
};
type SymField = 'st_name' | 'st_value' | 'st_size' | 'st_info' | 'st_other' | 'st_shndx';

/** Elf32_Rela / Elf64_Rela; Elf_Rel is the same without r_addend. */
export const RELA: Record<ElfClass, Layout<RelaField>> = {
  32: { r_offset: { offset: 0, size: 4 }, r_info: { offset: 4, size: 4 }, r_addend: { offset: 8, size: 4 } },
  64: { r_offset: { offset: 0, size: 8 }, r_info: { offset: 8, size: 8 }, r_addend: { offset: 16, size: 8 } },
};
type RelaField = 'r_offset' | 'r_info' | 'r_addend';

/** Size in bytes of each structure, per class. */
export const STRUCT_SIZE: Record<ElfClass, { ehdr: number; phdr: number; shdr: number; sym: number; rel: number; rela: number }> = {
  32: { ehdr: 52, phdr: 32, shdr: 40, sym: 16, rel: 8, rela: 12 },
  64: { ehdr: 64, phdr: 56, shdr: 64, sym: 24, rel: 16, rela: 24 },
};

export interface ElfHeader {
  class: ElfClass;
  osabi: number;
  abiversion: number;
  type: number;
  machine: number;
  version: number;
  entry: bigint;
  phoff: bigint;
  shoff: bigint;
  flags: number;
  ehsize: number;
  phentsize: number;
  /** The program header count, with PN_XNUM resolved. */
  phnum: number;
  shentsize: number;
  /** The section header count, with the e_shnum == 0 escape resolved. */
  shnum: number;
  /** The section name table index, with SHN_XINDEX resolved; SHN_UNDEF when there is none. */
  shstrndx: number;
}

export interface ElfProgramHeader {
  index: number;
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

export interface ElfSection {
  index: number;
  /** Offset of the name in the section name table, and the name itself ('' when there is no table). */
  nameOffset: number;
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  addralign: bigint;
  entsize: bigint;
}

export interface ElfSymbol {
  index: number;
  name: string;
  value: bigint;
  size: bigint;
  info: number;
  bind: number;
  type: number;
  other: number;
  /** st_shndx as stored (SHN_XINDEX symbols are reported as such; this reader has no SHT_SYMTAB_SHNDX). */
  shndx: number;
}

export interface ElfRelocation {
  offset: bigint;
  sym: number;
  type: number;
  /** Explicit addend (SHT_RELA); 0n for SHT_REL, whose addend is the word at the location. */
  addend: bigint;
}

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;
const latin1 = new TextDecoder('latin1');

/** A parsed ELF file over the caller's bytes (not copied). */
export class ElfFile {
  readonly bytes: Uint8Array;
  readonly header: ElfHeader;
  readonly programHeaders: readonly ElfProgramHeader[];
  readonly sections: readonly ElfSection[];
  private readonly view: DataView;

  private constructor(bytes: Uint8Array, view: DataView, header: ElfHeader, phdrs: ElfProgramHeader[], sections: ElfSection[]) {
    this.bytes = bytes;
    this.view = view;
    this.header = header;
    this.programHeaders = phdrs;
    this.sections = sections;
  }

  get elfClass(): ElfClass {
    return this.header.class;
  }

  /** Parses and bounds-checks the header, program headers and section headers. */
  static parse(bytes: Uint8Array): ElfFile {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const size = bytes.byteLength;
    const header = parseHeader(bytes, view);
    const cls = header.class;
    const sizes = STRUCT_SIZE[cls];

    // Program headers first (the usual reason a truncated file fails), unless their count lives in section 0.
    let phdrs = header.phnum === PN_XNUM ? [] : parseProgramHeaders(view, size, cls, header.phoff, header.phnum, header.phentsize);

    // Section 0 carries the extended e_phnum, e_shnum and e_shstrndx (gABI "extended numbering").
    const rawShnum = readNum(view, 0, EHDR[cls].e_shnum);
    const rawShstrndx = readNum(view, 0, EHDR[cls].e_shstrndx);
    let shnum = rawShnum;
    let shstrndx = rawShstrndx;
    let section0: ElfSection | undefined;
    if (header.shoff !== 0n) {
      if (header.shentsize !== sizes.shdr) {
        throw new ElfFormatError(`e_shentsize ${hex(header.shentsize)} is not the ELF${cls} section header size ${hex(sizes.shdr)}`);
      }
      checkRange(size, header.shoff, BigInt(sizes.shdr), 'section header 0', 'e_shoff');
      section0 = readSection(view, cls, Number(header.shoff), 0);
      if (rawShnum === 0) shnum = Number(section0.size);
      if (rawShstrndx === SHN_XINDEX) shstrndx = section0.link;
    } else if (rawShnum !== 0) {
      throw new ElfFormatError(`e_shnum is ${rawShnum} but e_shoff is 0 (no section header table)`);
    }
    let phnum = header.phnum;
    if (phnum === PN_XNUM) {
      if (!section0) throw new ElfFormatError('e_phnum is PN_XNUM (0xffff) but there is no section 0 holding the real count');
      phnum = section0.info;
      phdrs = parseProgramHeaders(view, size, cls, header.phoff, phnum, header.phentsize);
    }

    const shdrTable = checkTable(size, header.shoff, shnum, sizes.shdr, 'section header table', 'e_shoff', 'e_shnum');
    const phdrTable = phnum > 0 ? { start: header.phoff, end: header.phoff + BigInt(phnum * sizes.phdr) } : undefined;
    if (shnum > 0 && header.shoff < BigInt(sizes.ehdr)) {
      throw new ElfFormatError(`section header table (e_shoff ${hex(header.shoff)}) overlaps the ELF header (${hex(sizes.ehdr)} bytes)`);
    }
    if (phdrTable && shdrTable && phdrTable.start < shdrTable.end && shdrTable.start < phdrTable.end) {
      throw new ElfFormatError(
        `program header table [${hex(phdrTable.start)}, ${hex(phdrTable.end)}) overlaps section header table [${hex(shdrTable.start)}, ${hex(shdrTable.end)})`,
      );
    }

    const sections: ElfSection[] = [];
    for (let i = 0; i < shnum; i++) {
      const s = readSection(view, cls, Number(header.shoff) + i * sizes.shdr, i);
      if (s.type !== SHT_NOBITS && s.type !== SHT_NULL && s.size > 0n) {
        if (s.offset + s.size > BigInt(size)) {
          throw new ElfFormatError(
            `section ${i} extends past end of file (sh_offset ${hex(s.offset)} + sh_size ${hex(s.size)} > file size ${hex(size)})`,
          );
        }
      }
      sections.push(s);
    }

    if (shnum > 0 && shstrndx !== SHN_UNDEF) {
      if (shstrndx >= shnum) {
        throw new ElfFormatError(`e_shstrndx ${shstrndx} is not a section index (e_shnum ${shnum})`);
      }
      const names = sections[shstrndx]!;
      if (names.type !== SHT_STRTAB) {
        throw new ElfFormatError(`e_shstrndx ${shstrndx} names a section of type ${names.type}, not SHT_STRTAB`);
      }
      const table = bytes.subarray(Number(names.offset), Number(names.offset + names.size));
      for (const s of sections) s.name = readString(table, s.nameOffset, `name of section ${s.index}`);
    }

    return new ElfFile(bytes, view, { ...header, phnum, shnum, shstrndx }, phdrs, sections);
  }

  /** The section's bytes in the file (empty for SHT_NOBITS and SHT_NULL). */
  sectionData(section: ElfSection): Uint8Array {
    if (section.type === SHT_NOBITS || section.type === SHT_NULL) return new Uint8Array(0);
    return this.bytes.subarray(Number(section.offset), Number(section.offset + section.size));
  }

  /** The segment's file bytes (p_filesz of them). */
  segmentData(phdr: ElfProgramHeader): Uint8Array {
    return this.bytes.subarray(Number(phdr.offset), Number(phdr.offset + phdr.filesz));
  }

  sectionByName(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** A NUL-terminated string from a SHT_STRTAB section. */
  stringAt(strtab: ElfSection, offset: number): string {
    if (strtab.type !== SHT_STRTAB) {
      throw new ElfFormatError(`section ${strtab.index} (${strtab.name}) is of type ${strtab.type}, not SHT_STRTAB`);
    }
    return readString(this.sectionData(strtab), offset, `string in section ${strtab.index}`);
  }

  /** The linked section of a symbol or relocation table, checked to exist. */
  linkedSection(section: ElfSection, what: string): ElfSection {
    const linked = this.sections[section.link];
    if (section.link === SHN_UNDEF || !linked) {
      throw new ElfFormatError(`section ${section.index} (${section.name}): sh_link ${section.link} is not a valid ${what} index (e_shnum ${this.sections.length})`);
    }
    return linked;
  }

  /** Symbols of a SHT_SYMTAB or SHT_DYNSYM section (default: the first SHT_SYMTAB; none -> []). */
  symbols(table?: ElfSection): ElfSymbol[] {
    const symtab = table ?? this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) return [];
    if (symtab.type !== SHT_SYMTAB && symtab.type !== SHT_DYNSYM) {
      throw new ElfFormatError(`section ${symtab.index} (${symtab.name}) is not a symbol table (type ${symtab.type})`);
    }
    const cls = this.header.class;
    const entsize = STRUCT_SIZE[cls].sym;
    const count = tableCount(symtab, entsize, 'symbol');
    const strtab = this.linkedSection(symtab, 'string table');
    const base = Number(symtab.offset);
    const layout = SYM[cls];
    const out: ElfSymbol[] = [];
    for (let i = 0; i < count; i++) {
      const at = base + i * entsize;
      const info = readNum(this.view, at, layout.st_info);
      const other = readNum(this.view, at, layout.st_other);
      out.push({
        index: i,
        name: this.stringAt(strtab, readNum(this.view, at, layout.st_name)),
        value: readBig(this.view, at, layout.st_value),
        size: readBig(this.view, at, layout.st_size),
        info,
        bind: info >> 4,
        type: info & 0xf,
        other,
        shndx: readNum(this.view, at, layout.st_shndx),
      });
    }
    return out;
  }

  /** Entries of a SHT_REL or SHT_RELA section. */
  relocations(section: ElfSection): ElfRelocation[] {
    const cls = this.header.class;
    const isRela = section.type === SHT_RELA;
    if (!isRela && section.type !== SHT_REL) {
      throw new ElfFormatError(`section ${section.index} (${section.name}) is not a relocation section (type ${section.type})`);
    }
    const entsize = isRela ? STRUCT_SIZE[cls].rela : STRUCT_SIZE[cls].rel;
    const count = tableCount(section, entsize, isRela ? 'RELA' : 'REL');
    const layout = RELA[cls];
    const base = Number(section.offset);
    const out: ElfRelocation[] = [];
    for (let i = 0; i < count; i++) {
      const at = base + i * entsize;
      const info = readBig(this.view, at, layout.r_info);
      // ELF32_R_SYM/TYPE: info >> 8, info & 0xff; ELF64_R_SYM/TYPE: info >> 32, info & 0xffffffff.
      const sym = cls === 64 ? Number(info >> 32n) : Number(info >> 8n);
      const type = cls === 64 ? Number(info & 0xffffffffn) : Number(info & 0xffn);
      out.push({
        offset: readBig(this.view, at, layout.r_offset),
        sym,
        type,
        addend: isRela ? readSignedBig(this.view, at, layout.r_addend) : 0n,
      });
    }
    return out;
  }
}

/** Parses an ELF file; see ElfFile.parse. */
export function parseElf(bytes: Uint8Array): ElfFile {
  return ElfFile.parse(bytes);
}

function parseHeader(bytes: Uint8Array, view: DataView): ElfHeader {
  if (bytes.byteLength < EI_NIDENT) {
    throw new ElfFormatError(`file too short for e_ident (${bytes.byteLength} bytes < ${EI_NIDENT})`);
  }
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    const seen = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new ElfFormatError(`not an ELF file: e_ident magic is ${seen}, expected 7f 45 4c 46`);
  }
  const klass = bytes[EI_CLASS];
  if (klass !== ELFCLASS32 && klass !== ELFCLASS64) {
    throw new ElfFormatError(`unsupported e_ident[EI_CLASS] ${klass} (only ELFCLASS32 = 1 and ELFCLASS64 = 2)`);
  }
  const data = bytes[EI_DATA];
  if (data === ELFDATA2MSB) {
    throw new ElfFormatError('big-endian ELF (e_ident[EI_DATA] = ELFDATA2MSB) is not supported; x86 images are little-endian');
  }
  if (data !== ELFDATA2LSB) throw new ElfFormatError(`invalid e_ident[EI_DATA] ${data} (ELFDATA2LSB = 1 expected)`);
  if (bytes[EI_VERSION] !== EV_CURRENT) {
    throw new ElfFormatError(`e_ident[EI_VERSION] is ${bytes[EI_VERSION]}, expected EV_CURRENT (1)`);
  }
  const cls: ElfClass = klass === ELFCLASS32 ? 32 : 64;
  const ehsize = STRUCT_SIZE[cls].ehdr;
  if (bytes.byteLength < ehsize) {
    throw new ElfFormatError(`ELF${cls} header truncated (file size ${hex(bytes.byteLength)} < ${hex(ehsize)})`);
  }
  const e = EHDR[cls];
  return {
    class: cls,
    osabi: bytes[EI_OSABI]!,
    abiversion: bytes[EI_ABIVERSION]!,
    type: readNum(view, 0, e.e_type),
    machine: readNum(view, 0, e.e_machine),
    version: readNum(view, 0, e.e_version),
    entry: readBig(view, 0, e.e_entry),
    phoff: readBig(view, 0, e.e_phoff),
    shoff: readBig(view, 0, e.e_shoff),
    flags: readNum(view, 0, e.e_flags),
    ehsize: readNum(view, 0, e.e_ehsize),
    phentsize: readNum(view, 0, e.e_phentsize),
    phnum: readNum(view, 0, e.e_phnum),
    shentsize: readNum(view, 0, e.e_shentsize),
    shnum: readNum(view, 0, e.e_shnum),
    shstrndx: readNum(view, 0, e.e_shstrndx),
  };
}

function parseProgramHeaders(view: DataView, size: number, cls: ElfClass, phoff: bigint, phnum: number, phentsize: number): ElfProgramHeader[] {
  if (phnum === 0) return [];
  const entsize = STRUCT_SIZE[cls].phdr;
  if (phentsize !== entsize) {
    throw new ElfFormatError(`e_phentsize ${hex(phentsize)} is not the ELF${cls} program header size ${hex(entsize)}`);
  }
  if (phoff < BigInt(STRUCT_SIZE[cls].ehdr)) {
    throw new ElfFormatError(`program header table (e_phoff ${hex(phoff)}) overlaps the ELF header (${hex(STRUCT_SIZE[cls].ehdr)} bytes)`);
  }
  checkTable(size, phoff, phnum, entsize, 'program header table', 'e_phoff', 'e_phnum');
  const p = PHDR[cls];
  const out: ElfProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = Number(phoff) + i * entsize;
    const ph: ElfProgramHeader = {
      index: i,
      type: readNum(view, at, p.p_type),
      flags: readNum(view, at, p.p_flags),
      offset: readBig(view, at, p.p_offset),
      vaddr: readBig(view, at, p.p_vaddr),
      paddr: readBig(view, at, p.p_paddr),
      filesz: readBig(view, at, p.p_filesz),
      memsz: readBig(view, at, p.p_memsz),
      align: readBig(view, at, p.p_align),
    };
    if (ph.filesz > 0n && ph.offset + ph.filesz > BigInt(size)) {
      throw new ElfFormatError(
        `program header ${i} segment extends past end of file (p_offset ${hex(ph.offset)} + p_filesz ${hex(ph.filesz)} > file size ${hex(size)})`,
      );
    }
    // gABI: "p_filesz may not be larger than p_memsz" for loadable segments.
    if (ph.type === PT_LOAD && ph.filesz > ph.memsz) {
      throw new ElfFormatError(`program header ${i} (PT_LOAD): p_filesz ${hex(ph.filesz)} > p_memsz ${hex(ph.memsz)}`);
    }
    out.push(ph);
  }
  return out;
}

function readSection(view: DataView, cls: ElfClass, at: number, index: number): ElfSection {
  const s = SHDR[cls];
  return {
    index,
    nameOffset: readNum(view, at, s.sh_name),
    name: '',
    type: readNum(view, at, s.sh_type),
    flags: readBig(view, at, s.sh_flags),
    addr: readBig(view, at, s.sh_addr),
    offset: readBig(view, at, s.sh_offset),
    size: readBig(view, at, s.sh_size),
    link: readNum(view, at, s.sh_link),
    info: readNum(view, at, s.sh_info),
    addralign: readBig(view, at, s.sh_addralign),
    entsize: readBig(view, at, s.sh_entsize),
  };
}

/** Checks that a table of count entries at offset lies inside the file; returns its extent (none if empty). */
function checkTable(
  size: number, offset: bigint, count: number, entsize: number, what: string, offName: string, countName: string,
): { start: bigint; end: bigint } | undefined {
  if (count === 0) return undefined;
  const bytes = BigInt(count) * BigInt(entsize);
  if (offset + bytes > BigInt(size)) {
    throw new ElfFormatError(
      `${what} extends past end of file (${offName} ${hex(offset)} + ${countName} ${count} * ${hex(entsize)} = ${hex(offset + bytes)} > file size ${hex(size)})`,
    );
  }
  return { start: offset, end: offset + bytes };
}

function checkRange(size: number, offset: bigint, length: bigint, what: string, offName: string): void {
  if (offset + length > BigInt(size)) {
    throw new ElfFormatError(`${what} extends past end of file (${offName} ${hex(offset)} + ${hex(length)} > file size ${hex(size)})`);
  }
}

/** Number of entries of a symbol or relocation table, checking sh_entsize and that sh_size is a multiple. */
function tableCount(section: ElfSection, entsize: number, what: string): number {
  if (section.entsize !== BigInt(entsize)) {
    throw new ElfFormatError(`section ${section.index} (${section.name}): sh_entsize ${hex(section.entsize)} is not the ${what} entry size ${hex(entsize)}`);
  }
  if (section.size % BigInt(entsize) !== 0n) {
    throw new ElfFormatError(`section ${section.index} (${section.name}): sh_size ${hex(section.size)} is not a multiple of the ${what} entry size ${hex(entsize)}`);
  }
  return Number(section.size / BigInt(entsize));
}

function readString(table: Uint8Array, offset: number, what: string): string {
  if (offset >= table.byteLength) {
    if (offset === 0 && table.byteLength === 0) return '';
    throw new ElfFormatError(`${what}: string offset ${hex(offset)} is outside its string table (${hex(table.byteLength)} bytes)`);
  }
  const end = table.indexOf(0, offset);
  if (end < 0) throw new ElfFormatError(`${what}: string at ${hex(offset)} is not NUL-terminated within its string table`);
  return latin1.decode(table.subarray(offset, end));
}

function readNum(view: DataView, base: number, f: ElfField): number {
  switch (f.size) {
    case 1:
      return view.getUint8(base + f.offset);
    case 2:
      return view.getUint16(base + f.offset, true);
    case 4:
      return view.getUint32(base + f.offset, true);
    case 8:
      throw new ElfFormatError(`internal: 8-byte field at ${f.offset} read as a number`);
  }
}

function readBig(view: DataView, base: number, f: ElfField): bigint {
  return f.size === 8 ? view.getBigUint64(base + f.offset, true) : BigInt(readNum(view, base, f));
}

function readSignedBig(view: DataView, base: number, f: ElfField): bigint {
  return f.size === 8 ? view.getBigInt64(base + f.offset, true) : BigInt(view.getInt32(base + f.offset, true));
}
