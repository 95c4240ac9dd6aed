// Reader for an ELF core header as a panic kernel receives it (elfcorehdr=) or as /proc/vmcore begins: the
// Ehdr and program headers only. Unlike an ELF file, the segments' p_offset values are physical addresses
// (or vmcore file offsets), so they are not checked against the buffer. Also reads ELF notes (Elf_Nhdr:
// 4-byte namesz, descsz, type; name and desc each padded to 4 bytes, the same in both classes on Linux)
// and the VMCOREINFO note's KEY=VALUE text. Refusals are ElfFormatError naming the rule.

import { alignUp } from '../lib/align.js';
import { hex } from '../lib/hex.js';
import {
  EHDR, PHDR, STRUCT_SIZE, EI_NIDENT, EI_CLASS, EI_DATA, EI_VERSION, ELFCLASS32, ELFCLASS64, ELFDATA2LSB, EV_CURRENT,
  ET_CORE, ElfFormatError, type ElfClass, type ElfProgramHeader,
} from './elf-abi.js';
import { readField, writeField, type FieldSpec } from './struct.js';

/** include/uapi/linux/elf.h note types found in crash dumps. */
export const NT_PRSTATUS = 1;
/** The vmcoreinfo note: name "VMCOREINFO", type 0 (crash_core.c). */
export const VMCOREINFO_NOTE_NAME = 'VMCOREINFO';
export interface ElfCoreHeader {
  class: ElfClass;
  type: number;
  machine: number;
  phoff: bigint;
  phentsize: number;
  phnum: number;
  phdrs: ElfProgramHeader[];
  /** Bytes the Ehdr and program header table occupy. */
  size: number;
}

const get = (bytes: Uint8Array, base: number, f: FieldSpec): bigint => BigInt(readField(bytes, f, base));

/** Parses an ELF core header: ident, ET_CORE, a program header table inside the buffer. */
export function readElfCoreHeader(bytes: Uint8Array): ElfCoreHeader {
  if (bytes.length < EI_NIDENT) throw new ElfFormatError(`too short for e_ident (${bytes.length} bytes < ${EI_NIDENT})`);
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ElfFormatError('no ELF magic (7f 45 4c 46) at offset 0: not an ELF core header');
  }
  const klass = bytes[EI_CLASS];
  if (klass !== ELFCLASS32 && klass !== ELFCLASS64) throw new ElfFormatError(`e_ident[EI_CLASS] ${klass} is neither ELFCLASS32 nor ELFCLASS64`);
  if (bytes[EI_DATA] !== ELFDATA2LSB) throw new ElfFormatError(`e_ident[EI_DATA] ${bytes[EI_DATA]} is not ELFDATA2LSB (x86 dumps are little-endian)`);
  if (bytes[EI_VERSION] !== EV_CURRENT) throw new ElfFormatError(`e_ident[EI_VERSION] ${bytes[EI_VERSION]} is not EV_CURRENT`);
  const cls: ElfClass = klass === ELFCLASS32 ? 32 : 64;
  const sizes = STRUCT_SIZE[cls];
  if (bytes.length < sizes.ehdr) throw new ElfFormatError(`ELF${cls} header truncated (${bytes.length} bytes < ${sizes.ehdr})`);
  const e = EHDR[cls];
  const type = Number(get(bytes, 0, e.e_type));
  if (type !== ET_CORE) throw new ElfFormatError(`e_type ${type} is not ET_CORE (4)`);
  const phoff = get(bytes, 0, e.e_phoff);
  const phentsize = Number(get(bytes, 0, e.e_phentsize));
  const phnum = Number(get(bytes, 0, e.e_phnum));
  if (phnum > 0 && phentsize !== sizes.phdr) throw new ElfFormatError(`e_phentsize ${phentsize} is not the ELF${cls} program header size ${sizes.phdr}`);
  const end = phoff + BigInt(phnum * sizes.phdr);
  if (phnum > 0 && (phoff < BigInt(sizes.ehdr) || end > BigInt(bytes.length))) {
    throw new ElfFormatError(`program header table [${hex(phoff)}, ${hex(end)}) is not inside the ${hex(bytes.length)}-byte header buffer`);
  }
  const p = PHDR[cls];
  const phdrs: ElfProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = Number(phoff) + i * sizes.phdr;
    phdrs.push({
      index: i,
      type: Number(get(bytes, at, p.p_type)),
      flags: Number(get(bytes, at, p.p_flags)),
      offset: get(bytes, at, p.p_offset),
      vaddr: get(bytes, at, p.p_vaddr),
      paddr: get(bytes, at, p.p_paddr),
      filesz: get(bytes, at, p.p_filesz),
      memsz: get(bytes, at, p.p_memsz),
      align: get(bytes, at, p.p_align),
    });
  }
  return { class: cls, type, machine: Number(get(bytes, 0, e.e_machine)), phoff, phentsize, phnum, phdrs, size: phnum > 0 ? Number(end) : sizes.ehdr };
}

export interface ElfNote {
  name: string;
  type: number;
  desc: Uint8Array;
  /** Offset of the note header in the buffer. */
  offset: number;
}

/** Elf32_Nhdr / Elf64_Nhdr: three 4-byte words in both classes. */
const NHDR = {
  n_namesz: { offset: 0, size: 4 },
  n_descsz: { offset: 4, size: 4 },
  n_type: { offset: 8, size: 4 },
} as const satisfies Record<string, FieldSpec>;
const NHDR_SIZE = 12;
const latin1 = new TextDecoder('latin1');

/**
 * The notes of one PT_NOTE segment's bytes. A header with n_namesz 0 ends the list, as fs/proc/vmcore.c
 * does when it sizes the crash_notes buffers (the kernel ends each with an empty note).
 */
export function readElfNotes(bytes: Uint8Array): ElfNote[] {
  const out: ElfNote[] = [];
  let at = 0;
  while (at + NHDR_SIZE <= bytes.length) {
    const namesz = readField(bytes, NHDR.n_namesz, at) as number;
    const descsz = readField(bytes, NHDR.n_descsz, at) as number;
    const type = readField(bytes, NHDR.n_type, at) as number;
    if (namesz === 0) break;
    const nameAt = at + NHDR_SIZE;
    const descAt = nameAt + alignUp(namesz, 4);
    const next = descAt + alignUp(descsz, 4);
    if (next > bytes.length) {
      throw new ElfFormatError(`note at ${hex(at)} (n_namesz ${namesz}, n_descsz ${descsz}) runs past the ${hex(bytes.length)}-byte note segment`);
    }
    const rawName = bytes.subarray(nameAt, nameAt + namesz);
    const nul = rawName.indexOf(0);
    out.push({ name: latin1.decode(nul >= 0 ? rawName.subarray(0, nul) : rawName), type, desc: bytes.subarray(descAt, descAt + descsz), offset: at });
    at = next;
  }
  return out;
}

/** The VMCOREINFO note's text, "KEY=VALUE" per line (OSRELEASE, PAGESIZE, SYMBOL(name), ...). */
export function parseVmcoreinfo(desc: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const text = latin1.decode(desc);
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out.set(line.slice(0, eq), line.slice(eq + 1).replace(/\0+$/, ''));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Writing: an ELF core header as kexec-tools (kexec/crashdump-elf.c) and Linux (crash_prepare_elf64_headers) lay it out.

/** One program header as written; values wider than the class's fields are truncated, as C assignment does. */
export type CorePhdr = Omit<ElfProgramHeader, 'index'>;

const mask = (v: bigint, bits: number) => BigInt.asUintN(bits, v);

/** The phdr as stored in a header of class `cls` (fields truncated to 32 bits for ELF32). */
export function storedPhdr(cls: ElfClass, p: CorePhdr): CorePhdr {
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
  buf.set([0x7f, 0x45, 0x4c, 0x46]);
  buf[EI_CLASS] = cls === 32 ? ELFCLASS32 : ELFCLASS64;
  buf[EI_DATA] = ELFDATA2LSB;
  buf[EI_VERSION] = EV_CURRENT; // EI_OSABI stays ELFOSABI_NONE, the padding zero
  const e = EHDR[cls];
  writeField(buf, e.e_type, ET_CORE);
  writeField(buf, e.e_machine, machine);
  writeField(buf, e.e_version, EV_CURRENT);
  writeField(buf, e.e_phoff, sizes.ehdr);
  writeField(buf, e.e_ehsize, sizes.ehdr);
  writeField(buf, e.e_phentsize, sizes.phdr);
  writeField(buf, e.e_phnum, phdrs.length);
  const p = PHDR[cls];
  phdrs.forEach((ph, i) => {
    const at = sizes.ehdr + i * sizes.phdr;
    writeField(buf, p.p_type, ph.type, at);
    writeField(buf, p.p_flags, ph.flags, at);
    writeField(buf, p.p_offset, ph.offset, at);
    writeField(buf, p.p_vaddr, ph.vaddr, at);
    writeField(buf, p.p_paddr, ph.paddr, at);
    writeField(buf, p.p_filesz, ph.filesz, at);
    writeField(buf, p.p_memsz, ph.memsz, at);
    writeField(buf, p.p_align, ph.align, at);
  });
  return buf;
}
