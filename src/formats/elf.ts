// ELF reader (System V gABI, include/uapi/linux/elf.h): ELF32 and ELF64, little-endian only. Reads the
// header, program headers, section headers, string tables, SHT_SYMTAB symbols and REL/RELA entries, and
// checks every offset and size against the file before use. No policy: loaders decide what they accept.
// Refusals are ElfFormatError with a message naming the rule; callers add the file name and the errno.
// Address, offset and size fields (Elf64_Addr/Off/Xword/Sxword) are bigint in both classes, so callers
// need not care which class they read; counts, indices, types and flags that fit 32 bits are numbers.
// The ABI's constants and struct tables live in elf-abi.ts (re-exported here); fields are read by struct.ts.

import { hex } from '../lib/hex.js';
import {
  EHDR, EI_ABIVERSION, EI_CLASS, EI_DATA, EI_NIDENT, EI_OSABI, EI_VERSION, ELFCLASS32, ELFCLASS64, ELFDATA2LSB,
  ELFDATA2MSB, ElfFormatError, EV_CURRENT, PHDR, PN_XNUM, PT_LOAD, RELA, SHDR, SHN_UNDEF, SHN_XINDEX, SHT_DYNSYM,
  SHT_NOBITS, SHT_NULL, SHT_REL, SHT_RELA, SHT_STRTAB, SHT_SYMTAB, STRUCT_SIZE, SYM,
  type ElfClass, type ElfHeader, type ElfProgramHeader, type ElfRelocation, type ElfSection, type ElfSymbol,
} from './elf-abi.js';
import { readField, type FieldSpec } from './struct.js';

export * from './elf-abi.js';

const latin1 = new TextDecoder('latin1');

/** A parsed ELF file over the caller's bytes (not copied). */
export class ElfFile {
  readonly bytes: Uint8Array;
  readonly header: ElfHeader;
  readonly programHeaders: readonly ElfProgramHeader[];
  readonly sections: readonly ElfSection[];

  private constructor(bytes: Uint8Array, header: ElfHeader, phdrs: ElfProgramHeader[], sections: ElfSection[]) {
    this.bytes = bytes;
    this.header = header;
    this.programHeaders = phdrs;
    this.sections = sections;
  }

  get elfClass(): ElfClass {
    return this.header.class;
  }

  /** Parses and bounds-checks the header, program headers and section headers. */
  static parse(bytes: Uint8Array): ElfFile {
    const size = bytes.byteLength;
    const header = parseHeader(bytes);
    const cls = header.class;
    const sizes = STRUCT_SIZE[cls];

    // Program headers first (the usual reason a truncated file fails), unless their count lives in section 0.
    let phdrs = header.phnum === PN_XNUM ? [] : parseProgramHeaders(bytes, size, cls, header.phoff, header.phnum, header.phentsize);

    // Section 0 carries the extended e_phnum, e_shnum and e_shstrndx (gABI "extended numbering").
    const rawShnum = readNum(bytes, 0, EHDR[cls].e_shnum);
    const rawShstrndx = readNum(bytes, 0, EHDR[cls].e_shstrndx);
    let shnum = rawShnum;
    let shstrndx = rawShstrndx;
    let section0: ElfSection | undefined;
    if (header.shoff !== 0n) {
      if (header.shentsize !== sizes.shdr) {
        throw new ElfFormatError(`e_shentsize ${hex(header.shentsize)} is not the ELF${cls} section header size ${hex(sizes.shdr)}`);
      }
      checkRange(size, header.shoff, BigInt(sizes.shdr), 'section header 0', 'e_shoff');
      section0 = readSection(bytes, cls, Number(header.shoff), 0);
      if (rawShnum === 0) shnum = Number(section0.size);
      if (rawShstrndx === SHN_XINDEX) shstrndx = section0.link;
    } else if (rawShnum !== 0) {
      throw new ElfFormatError(`e_shnum is ${rawShnum} but e_shoff is 0 (no section header table)`);
    }
    let phnum = header.phnum;
    if (phnum === PN_XNUM) {
      if (!section0) throw new ElfFormatError('e_phnum is PN_XNUM (0xffff) but there is no section 0 holding the real count');
      phnum = section0.info;
      phdrs = parseProgramHeaders(bytes, size, cls, header.phoff, phnum, header.phentsize);
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
      const s = readSection(bytes, cls, Number(header.shoff) + i * sizes.shdr, i);
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

    return new ElfFile(bytes, { ...header, phnum, shnum, shstrndx }, phdrs, sections);
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
      const info = readNum(this.bytes, at, layout.st_info);
      const other = readNum(this.bytes, at, layout.st_other);
      out.push({
        index: i,
        name: this.stringAt(strtab, readNum(this.bytes, at, layout.st_name)),
        value: readBig(this.bytes, at, layout.st_value),
        size: readBig(this.bytes, at, layout.st_size),
        info,
        bind: info >> 4,
        type: info & 0xf,
        other,
        shndx: readNum(this.bytes, at, layout.st_shndx),
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
      const info = readBig(this.bytes, at, layout.r_info);
      // ELF32_R_SYM/TYPE: info >> 8, info & 0xff; ELF64_R_SYM/TYPE: info >> 32, info & 0xffffffff.
      const sym = cls === 64 ? Number(info >> 32n) : Number(info >> 8n);
      const type = cls === 64 ? Number(info & 0xffffffffn) : Number(info & 0xffn);
      out.push({
        offset: readBig(this.bytes, at, layout.r_offset),
        sym,
        type,
        addend: isRela ? readSignedBig(this.bytes, at, layout.r_addend) : 0n,
      });
    }
    return out;
  }
}

/** Parses an ELF file; see ElfFile.parse. */
export function parseElf(bytes: Uint8Array): ElfFile {
  return ElfFile.parse(bytes);
}

function parseHeader(bytes: Uint8Array): ElfHeader {
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
    type: readNum(bytes, 0, e.e_type),
    machine: readNum(bytes, 0, e.e_machine),
    version: readNum(bytes, 0, e.e_version),
    entry: readBig(bytes, 0, e.e_entry),
    phoff: readBig(bytes, 0, e.e_phoff),
    shoff: readBig(bytes, 0, e.e_shoff),
    flags: readNum(bytes, 0, e.e_flags),
    ehsize: readNum(bytes, 0, e.e_ehsize),
    phentsize: readNum(bytes, 0, e.e_phentsize),
    phnum: readNum(bytes, 0, e.e_phnum),
    shentsize: readNum(bytes, 0, e.e_shentsize),
    shnum: readNum(bytes, 0, e.e_shnum),
    shstrndx: readNum(bytes, 0, e.e_shstrndx),
  };
}

function parseProgramHeaders(bytes: Uint8Array, size: number, cls: ElfClass, phoff: bigint, phnum: number, phentsize: number): ElfProgramHeader[] {
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
      type: readNum(bytes, at, p.p_type),
      flags: readNum(bytes, at, p.p_flags),
      offset: readBig(bytes, at, p.p_offset),
      vaddr: readBig(bytes, at, p.p_vaddr),
      paddr: readBig(bytes, at, p.p_paddr),
      filesz: readBig(bytes, at, p.p_filesz),
      memsz: readBig(bytes, at, p.p_memsz),
      align: readBig(bytes, at, p.p_align),
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

function readSection(bytes: Uint8Array, cls: ElfClass, at: number, index: number): ElfSection {
  const s = SHDR[cls];
  return {
    index,
    nameOffset: readNum(bytes, at, s.sh_name),
    name: '',
    type: readNum(bytes, at, s.sh_type),
    flags: readBig(bytes, at, s.sh_flags),
    addr: readBig(bytes, at, s.sh_addr),
    offset: readBig(bytes, at, s.sh_offset),
    size: readBig(bytes, at, s.sh_size),
    link: readNum(bytes, at, s.sh_link),
    info: readNum(bytes, at, s.sh_info),
    addralign: readBig(bytes, at, s.sh_addralign),
    entsize: readBig(bytes, at, s.sh_entsize),
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

function readNum(bytes: Uint8Array, base: number, f: FieldSpec): number {
  const v = readField(bytes, f, base);
  if (typeof v === 'bigint') throw new ElfFormatError(`internal: 8-byte field at ${f.offset} read as a number`);
  return v;
}

function readBig(bytes: Uint8Array, base: number, f: FieldSpec): bigint {
  return BigInt(readField(bytes, f, base));
}

function readSignedBig(bytes: Uint8Array, base: number, f: FieldSpec): bigint {
  return BigInt.asIntN(f.size * 8, BigInt(readField(bytes, f, base)));
}
