// Unified kernel image (UKI): a PE/COFF EFI stub with the kernel, initrd and command line as sections
// (.linux, .initrd, .cmdline, .osrel, ...; UAPI group's UKI specification, systemd-stub(7)). Read as
// kexec-tools reads it (kexec/kexec-uki.c uki_image_probe, include/pe.h get_pehdr_offset): the section table
// after SizeOfOptionalHeader, sections matched by their NUL-terminated name, each section's bytes at
// PointerToRawData. For how many bytes, vkexec follows kexec-tools after 2.0.32 (commit e18a71f "UKI: Fix the
// size of real payload", December 2025): VirtualSize. 2.0.32 itself takes SizeOfRawData, padded with zeros
// to FileAlignment, which breaks the inner kernel's Authenticode digest (man page, UNIFIED KERNEL IMAGES).
// Unlike kexec-tools, a section whose bytes lie outside the file is refused, and so is an e_lfanew that
// get_pehdr_offset rejects (2.0.32 goes on with offset -1 and may crash).

import { hex } from '../lib/hex.js';
import { MZ_HDR, PE_HDR, PE_HDR_SIZE, SECTION_HEADER, SECTION_HEADER_SIZE } from './pe.js';
import { readField, type FieldSpec } from './struct.js';

/** A UKI that kexec-tools' uki probe refuses, or whose sections lie outside the file. */
export class UkiFormatError extends Error {
  constructor(
    message: string,
    /** What kexec-tools prints (printf, on stdout) for the same refusal, if it refuses it at all. */
    readonly kexecToolsText: string | null,
    /** The section whose bytes lie outside the file, when that is the refusal. */
    readonly section?: string,
  ) {
    super(message);
    this.name = 'UkiFormatError';
  }
}

/** The sections kexec-uki.c names (UKI_LINUX_SECTION ...) and those the UKI specification adds. */
export const UKI_SECTIONS = ['.linux', '.initrd', '.cmdline', '.osrel', '.uname', '.splash', '.dtb', '.pcrsig', '.pcrpkey', '.sbat'] as const;

export interface UkiSection {
  name: string;
  /** File offset (PointerToRawData, kexec-tools' data_addr). */
  offset: number;
  /** VirtualSize: the bytes taken (kexec-tools after 2.0.32; 2.0.32 takes rawSize). */
  size: number;
  /** SizeOfRawData (FileAlignment-padded). */
  rawSize: number;
  virtualAddress: number;
}

export interface UkiImage {
  peOffset: number;
  sections: UkiSection[];
  linux: UkiSection;
  initrd: UkiSection | null;
  cmdline: UkiSection | null;
  osrel: UkiSection | null;
}

const u = (buf: Uint8Array, f: FieldSpec, base: number): number => readField(buf, f, base) as number;

/** get_pehdr_offset (include/pe.h): e_lfanew at 0x3c must be 0..4096 and point at "PE\0\0". No "MZ" check. */
export function getPehdrOffset(buf: Uint8Array): number {
  if (buf.length < 0x40) throw new UkiFormatError(`${buf.length} bytes is too short for a DOS header`, null);
  const off = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getInt32(MZ_HDR.peaddr.offset, true);
  if (off < 0 || off > 4096) throw new UkiFormatError(`e_lfanew ${off} at 0x3c is not a reasonable PE header offset (0..4096)`, 'PE header offset is not a reasonable value');
  if (off + PE_HDR_SIZE > buf.length || Buffer.from(buf.subarray(off, off + 4)).toString('latin1') !== 'PE\0\0') {
    throw new UkiFormatError(`no "PE\\0\\0" at e_lfanew ${hex(off)}`, 'Not a PE file');
  }
  return off;
}

/** The section table as uki_image_probe walks it: right after the optional header (SizeOfOptionalHeader). */
function readUkiSections(buf: Uint8Array, peOffset: number): UkiSection[] {
  const optHdrSize = u(buf, PE_HDR.opt_hdr_size, peOffset);
  if (optHdrSize === 0) throw new UkiFormatError('the PE has no optional header (SizeOfOptionalHeader 0)', 'ERR: optional header is missing');
  const count = u(buf, PE_HDR.sections, peOffset);
  const table = peOffset + PE_HDR_SIZE + optHdrSize;
  if (table + count * SECTION_HEADER_SIZE > buf.length) {
    throw new UkiFormatError(`${count} section headers at ${hex(table)} run past the end of the ${buf.length}-byte file`, null);
  }
  const sections: UkiSection[] = [];
  for (let i = 0; i < count; i++) {
    const at = table + i * SECTION_HEADER_SIZE;
    const raw = buf.subarray(at, at + 8);
    const nul = raw.indexOf(0);
    sections.push({
      name: Buffer.from(raw.subarray(0, nul < 0 ? 8 : nul)).toString('latin1'),
      offset: u(buf, SECTION_HEADER.data_addr, at),
      size: u(buf, SECTION_HEADER.virtual_size, at),
      rawSize: u(buf, SECTION_HEADER.raw_data_size, at),
      virtualAddress: u(buf, SECTION_HEADER.virtual_address, at),
    });
  }
  return sections;
}

/**
 * uki_image_probe's reading of a file: its .linux (required) and .initrd, plus .cmdline and .osrel for the
 * reports. kexec-tools keeps the last section of a name (it overwrites as it walks); so does this.
 */
export function parseUki(buf: Uint8Array): UkiImage {
  const peOffset = getPehdrOffset(buf);
  const sections = readUkiSections(buf, peOffset);
  const last = (name: string) => sections.filter((s) => s.name === name).pop() ?? null;
  const linux = last('.linux');
  if (!linux) throw new UkiFormatError('the PE has no .linux section: not a UKI', 'ERR: can not find .linux section');
  for (const s of [linux, last('.initrd')]) {
    if (s && s.offset + s.size > buf.length) {
      throw new UkiFormatError(`section ${s.name}: ${s.size} bytes (VirtualSize) at file offset ${hex(s.offset)} run past the end of the ${buf.length}-byte file`, null, s.name);
    }
  }
  return { peOffset, sections, linux, initrd: last('.initrd'), cmdline: last('.cmdline'), osrel: last('.osrel') };
}

/** A section's bytes (VirtualSize of them, as kexec-tools takes them). */
export const ukiSectionBytes = (buf: Uint8Array, s: UkiSection): Uint8Array => buf.subarray(s.offset, s.offset + s.size);

/** A text section (.cmdline, .osrel) as text: up to its first NUL, Latin-1. */
export function ukiSectionText(buf: Uint8Array, s: UkiSection | null): string | null {
  if (!s || s.offset + s.size > buf.length) return null;
  const b = ukiSectionBytes(buf, s);
  const nul = b.indexOf(0);
  return Buffer.from(nul < 0 ? b : b.subarray(0, nul)).toString('latin1');
}
