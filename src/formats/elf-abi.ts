// The ELF ABI (System V gABI, include/uapi/linux/elf.h) as data: constants, the struct layouts of both
// classes as field tables for formats/struct.ts, and the parsed forms the reader in elf.ts returns.

import type { FieldSpec } from './struct.js';

export class ElfFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElfFormatError';
  }
}

type Layout<K extends string> = Record<K, FieldSpec>;

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
