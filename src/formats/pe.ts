// PE/COFF reader (Microsoft PE format spec; Linux include/linux/pe.h) with the bounds checks of the kernel's
// pefile_parse_binary (crypto/asymmetric_keys/verify_pefile.c). Every refusal is a PeFormatError, which
// src/sig turns into the kernel's ELIBBAD. Offsets in the tables are relative to the start of their struct.

import { hex } from '../lib/hex.js';
import { readField, type FieldSpec } from './struct.js';

/** A PE/COFF image the kernel's pefile_parse_binary would refuse; `value` is the offending field. */
export class PeFormatError extends Error {
  constructor(
    readonly reason: string,
    readonly value?: string,
  ) {
    super(reason);
    this.name = 'PeFormatError';
  }
}

/** struct mz_hdr: the DOS header; only the magic and the PE header pointer matter. */
export const MZ_HDR = {
  magic: { offset: 0x00, size: 2 },
  peaddr: { offset: 0x3c, size: 4 },
} as const satisfies Record<string, FieldSpec>;
export const MZ_HDR_SIZE = 64;

/** struct pe_hdr: "PE\0\0" followed by the COFF file header. */
export const PE_HDR = {
  magic: { offset: 0, size: 4 },
  machine: { offset: 4, size: 2 },
  sections: { offset: 6, size: 2 },
  timestamp: { offset: 8, size: 4 },
  symbol_table: { offset: 12, size: 4 },
  symbols: { offset: 16, size: 4 },
  opt_hdr_size: { offset: 20, size: 2 },
  flags: { offset: 22, size: 2 },
} as const satisfies Record<string, FieldSpec>;
export const PE_HDR_SIZE = 24;

/** struct pe32_opt_hdr: the fixed part of a PE32 optional header (data directories follow). */
export const PE32_OPT_HDR = {
  magic: { offset: 0, size: 2 },
  ld_major: { offset: 2, size: 1 },
  ld_minor: { offset: 3, size: 1 },
  text_size: { offset: 4, size: 4 },
  data_size: { offset: 8, size: 4 },
  bss_size: { offset: 12, size: 4 },
  entry_point: { offset: 16, size: 4 },
  code_base: { offset: 20, size: 4 },
  data_base: { offset: 24, size: 4 },
  image_base: { offset: 28, size: 4 },
  section_align: { offset: 32, size: 4 },
  file_align: { offset: 36, size: 4 },
  os_major: { offset: 40, size: 2 },
  os_minor: { offset: 42, size: 2 },
  image_major: { offset: 44, size: 2 },
  image_minor: { offset: 46, size: 2 },
  subsys_major: { offset: 48, size: 2 },
  subsys_minor: { offset: 50, size: 2 },
  win32_version: { offset: 52, size: 4 },
  image_size: { offset: 56, size: 4 },
  header_size: { offset: 60, size: 4 },
  csum: { offset: 64, size: 4 },
  subsys: { offset: 68, size: 2 },
  dll_flags: { offset: 70, size: 2 },
  stack_size_req: { offset: 72, size: 4 },
  stack_size: { offset: 76, size: 4 },
  heap_size_req: { offset: 80, size: 4 },
  heap_size: { offset: 84, size: 4 },
  loader_flags: { offset: 88, size: 4 },
  data_dirs: { offset: 92, size: 4 },
} as const satisfies Record<string, FieldSpec>;
export const PE32_OPT_HDR_SIZE = 96;

/** struct pe32plus_opt_hdr: PE32+ (64-bit) fixed optional header; no data_base, 64-bit sizes. */
export const PE32PLUS_OPT_HDR = {
  magic: { offset: 0, size: 2 },
  ld_major: { offset: 2, size: 1 },
  ld_minor: { offset: 3, size: 1 },
  text_size: { offset: 4, size: 4 },
  data_size: { offset: 8, size: 4 },
  bss_size: { offset: 12, size: 4 },
  entry_point: { offset: 16, size: 4 },
  code_base: { offset: 20, size: 4 },
  image_base: { offset: 24, size: 8 },
  section_align: { offset: 32, size: 4 },
  file_align: { offset: 36, size: 4 },
  os_major: { offset: 40, size: 2 },
  os_minor: { offset: 42, size: 2 },
  image_major: { offset: 44, size: 2 },
  image_minor: { offset: 46, size: 2 },
  subsys_major: { offset: 48, size: 2 },
  subsys_minor: { offset: 50, size: 2 },
  win32_version: { offset: 52, size: 4 },
  image_size: { offset: 56, size: 4 },
  header_size: { offset: 60, size: 4 },
  csum: { offset: 64, size: 4 },
  subsys: { offset: 68, size: 2 },
  dll_flags: { offset: 70, size: 2 },
  stack_size_req: { offset: 72, size: 8 },
  stack_size: { offset: 80, size: 8 },
  heap_size_req: { offset: 88, size: 8 },
  heap_size: { offset: 96, size: 8 },
  loader_flags: { offset: 104, size: 4 },
  data_dirs: { offset: 108, size: 4 },
} as const satisfies Record<string, FieldSpec>;
export const PE32PLUS_OPT_HDR_SIZE = 112;

/** struct data_dirent. */
export const DATA_DIRENT = {
  virtual_address: { offset: 0, size: 4 },
  size: { offset: 4, size: 4 },
} as const satisfies Record<string, FieldSpec>;
export const DATA_DIRENT_SIZE = 8;

/** struct data_directory, in order; "certs" (index 4) holds a file offset, not an RVA. */
export const DATA_DIRECTORY_NAMES = [
  'exports', 'imports', 'resources', 'exceptions', 'certs', 'base_relocations', 'debug', 'arch',
  'global_ptr', 'tls', 'load_config', 'bound_imports', 'import_addrs', 'delay_imports', 'clr_runtime_hdr',
  'reserved',
] as const;
export const CERTS_DIRENT_INDEX = 4;

/** struct section_header. */
export const SECTION_HEADER = {
  name: { offset: 0, size: 8 },
  virtual_size: { offset: 8, size: 4 },
  virtual_address: { offset: 12, size: 4 },
  raw_data_size: { offset: 16, size: 4 },
  data_addr: { offset: 20, size: 4 },
  relocs: { offset: 24, size: 4 },
  line_numbers: { offset: 28, size: 4 },
  num_relocs: { offset: 32, size: 2 },
  num_lin_numbers: { offset: 34, size: 2 },
  flags: { offset: 36, size: 4 },
} as const satisfies Record<string, FieldSpec>;
export const SECTION_HEADER_SIZE = 40;

export const IMAGE_DOS_SIGNATURE = 0x5a4d; // "MZ"
export const IMAGE_NT_SIGNATURE = 0x00004550; // "PE\0\0"
export const IMAGE_NT_OPTIONAL_HDR32_MAGIC = 0x10b;
export const IMAGE_NT_OPTIONAL_HDR64_MAGIC = 0x20b;

export interface DataDirent {
  name: string;
  /** File offset of the 8-byte entry itself. */
  offset: number;
  virtualAddress: number;
  size: number;
}

export interface PeSection {
  index: number;
  /** Offset of this header in the file. */
  headerOffset: number;
  name: string;
  virtualSize: number;
  virtualAddress: number;
  rawDataSize: number;
  /** PointerToRawData: the file offset of the section's bytes. */
  dataAddr: number;
  flags: number;
}

export interface PeHeaders {
  fileLength: number;
  peaddr: number;
  machine: number;
  nSections: number;
  /** SizeOfOptionalHeader from the COFF header; the kernel does not use it to find the tables. */
  optHdrSize: number;
  format: 'PE32' | 'PE32+';
  optHdrOffset: number;
  entryPoint: number;
  imageBase: bigint;
  sectionAlign: number;
  fileAlign: number;
  imageSize: number;
  subsystem: number;
  /** File offset of the CheckSum field, left out of the image digest. */
  checksumOffset: number;
  checksum: number;
  /** SizeOfHeaders. */
  headerSize: number;
  nDataDirents: number;
  dataDirOffset: number;
  /** The data directory entries that NumberOfRvaAndSizes declares (at most 16 are named). */
  directories: DataDirent[];
  /** The certificate table entry, read at its fixed place whatever NumberOfRvaAndSizes says (as the kernel does). */
  certDirent: DataDirent;
  /** Where the kernel expects the section table: right after the declared data directory entries. */
  sectionTableOffset: number;
}

export interface PeFile extends PeHeaders {
  sections: PeSection[];
}

function u(buf: Uint8Array, base: number, f: FieldSpec & { size: 1 | 2 | 4 }): number {
  return readField(buf, f, base) as number;
}

/** The kernel's chkaddr(base, x, s): [x, x+s) must lie in the file and x must not be below base. */
function chkaddr(datalen: number, base: number, x: number, s: number, what: string): void {
  if (x < base || s >= datalen || x > datalen - s) {
    throw new PeFormatError(`${what}: ${s} bytes at offset ${hex(x)} do not fit in the ${datalen}-byte file`, hex(x));
  }
}

/** Entry `i` of the data directory that starts at `dataDirOffset`. */
function readDataDirent(buf: Uint8Array, dataDirOffset: number, i: number): DataDirent {
  const offset = dataDirOffset + i * DATA_DIRENT_SIZE;
  return {
    name: DATA_DIRECTORY_NAMES[i] ?? `dir${i}`,
    offset,
    virtualAddress: u(buf, offset, DATA_DIRENT.virtual_address),
    size: u(buf, offset, DATA_DIRENT.size),
  };
}

/**
 * Headers up to and including the data directory, checked as pefile_parse_binary checks them. Does not
 * judge the certificate entry (the caller decides what an unsigned image means) nor the section count.
 */
export function parsePeHeaders(buf: Uint8Array): PeHeaders {
  const datalen = buf.length;
  chkaddr(datalen, 0, 0, MZ_HDR_SIZE, 'DOS header');
  const mz = u(buf, 0, MZ_HDR.magic);
  if (mz !== IMAGE_DOS_SIGNATURE) throw new PeFormatError(`no "MZ" at offset 0 (found ${hex(mz)})`, hex(mz));

  const peaddr = u(buf, 0, MZ_HDR.peaddr);
  chkaddr(datalen, MZ_HDR_SIZE, peaddr, PE_HDR_SIZE, `PE header (e_lfanew ${hex(peaddr)})`);
  const peMagic = u(buf, peaddr, PE_HDR.magic);
  if (peMagic !== IMAGE_NT_SIGNATURE) throw new PeFormatError(`no "PE\\0\\0" at e_lfanew ${hex(peaddr)}`, hex(peMagic));

  const optHdrOffset = peaddr + PE_HDR_SIZE;
  chkaddr(datalen, 0, optHdrOffset, 2, 'optional header magic');
  const magic = u(buf, optHdrOffset, PE32_OPT_HDR.magic);
  let table: typeof PE32_OPT_HDR | typeof PE32PLUS_OPT_HDR;
  let fixedSize: number;
  let format: 'PE32' | 'PE32+';
  if (magic === IMAGE_NT_OPTIONAL_HDR32_MAGIC) {
    table = PE32_OPT_HDR;
    fixedSize = PE32_OPT_HDR_SIZE;
    format = 'PE32';
  } else if (magic === IMAGE_NT_OPTIONAL_HDR64_MAGIC) {
    table = PE32PLUS_OPT_HDR;
    fixedSize = PE32PLUS_OPT_HDR_SIZE;
    format = 'PE32+';
  } else {
    throw new PeFormatError(`optional header magic ${hex(magic)} is neither PE32 (0x10b) nor PE32+ (0x20b)`, hex(magic));
  }
  chkaddr(datalen, 0, optHdrOffset, fixedSize, `${format} optional header`);

  const headerSize = u(buf, optHdrOffset, table.header_size);
  const nDataDirents = u(buf, optHdrOffset, table.data_dirs);
  const dataDirOffset = optHdrOffset + fixedSize;
  if (dataDirOffset >= headerSize || headerSize >= datalen) {
    throw new PeFormatError(
      `SizeOfHeaders ${hex(headerSize)} must lie after the optional header (${hex(dataDirOffset)}) and inside the file (${hex(datalen)})`,
      hex(headerSize),
    );
  }
  if (nDataDirents > Math.floor((headerSize - dataDirOffset) / DATA_DIRENT_SIZE)) {
    throw new PeFormatError(`NumberOfRvaAndSizes ${nDataDirents} does not fit in SizeOfHeaders ${hex(headerSize)}`, String(nDataDirents));
  }

  const certOffset = dataDirOffset + CERTS_DIRENT_INDEX * DATA_DIRENT_SIZE;
  // The kernel reads this entry even when fewer directories are declared; it must at least be in the file.
  if (certOffset + DATA_DIRENT_SIZE > datalen) {
    throw new PeFormatError(`certificate table entry at ${hex(certOffset)} lies past the end of the file`, hex(certOffset));
  }
  const directories: DataDirent[] = [];
  for (let i = 0; i < nDataDirents; i++) directories.push(readDataDirent(buf, dataDirOffset, i));

  const imageBase = readField(buf, table.image_base, optHdrOffset);
  return {
    fileLength: datalen,
    peaddr,
    machine: u(buf, peaddr, PE_HDR.machine),
    nSections: u(buf, peaddr, PE_HDR.sections),
    optHdrSize: u(buf, peaddr, PE_HDR.opt_hdr_size),
    format,
    optHdrOffset,
    entryPoint: u(buf, optHdrOffset, table.entry_point),
    imageBase: BigInt(imageBase),
    sectionAlign: u(buf, optHdrOffset, table.section_align),
    fileAlign: u(buf, optHdrOffset, table.file_align),
    imageSize: u(buf, optHdrOffset, table.image_size),
    subsystem: u(buf, optHdrOffset, table.subsys),
    checksumOffset: optHdrOffset + table.csum.offset,
    checksum: u(buf, optHdrOffset, table.csum),
    headerSize,
    nDataDirents,
    dataDirOffset,
    directories,
    certDirent: readDataDirent(buf, dataDirOffset, CERTS_DIRENT_INDEX),
    sectionTableOffset: dataDirOffset + nDataDirents * DATA_DIRENT_SIZE,
  };
}

/** The section table, which must fit inside SizeOfHeaders (pefile_parse_binary's last check). */
export function readSectionTable(buf: Uint8Array, hdrs: PeHeaders): PeSection[] {
  const room = Math.floor((hdrs.headerSize - hdrs.sectionTableOffset) / SECTION_HEADER_SIZE);
  if (hdrs.nSections > room) {
    throw new PeFormatError(
      `${hdrs.nSections} section headers at ${hex(hdrs.sectionTableOffset)} do not fit in SizeOfHeaders ${hex(hdrs.headerSize)}`,
      String(hdrs.nSections),
    );
  }
  const sections: PeSection[] = [];
  for (let i = 0; i < hdrs.nSections; i++) {
    const at = hdrs.sectionTableOffset + i * SECTION_HEADER_SIZE;
    const rawName = buf.subarray(at, at + 8);
    const nul = rawName.indexOf(0);
    sections.push({
      index: i,
      headerOffset: at,
      name: Buffer.from(rawName.subarray(0, nul < 0 ? 8 : nul)).toString('latin1'),
      virtualSize: u(buf, at, SECTION_HEADER.virtual_size),
      virtualAddress: u(buf, at, SECTION_HEADER.virtual_address),
      rawDataSize: u(buf, at, SECTION_HEADER.raw_data_size),
      dataAddr: u(buf, at, SECTION_HEADER.data_addr),
      flags: u(buf, at, SECTION_HEADER.flags),
    });
  }
  return sections;
}

/** Headers and section table; throws PeFormatError on anything the kernel's pefile_parse_binary refuses. */
export function parsePe(buf: Uint8Array): PeFile {
  const hdrs = parsePeHeaders(buf);
  return { ...hdrs, sections: readSectionTable(buf, hdrs) };
}
