// Small but real base inputs for the fuzz classes whose natural input is a whole kernel (8 MB: a mutation then
// costs a whole-image SHA-256 or an 8 MB decompression, and 100,000 of them do not fit in a run). Each keeps the
// real parts the parser walks and shortens only the bulk it merely hashes or inflates.

import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { parsePeHeaders, readSectionTable, SECTION_HEADER, DATA_DIRENT } from '../../src/formats/pe.js';
import { SetupHeader, SETUP_HEADER } from '../../src/formats/setup-header.js';
import { parseElf } from '../../src/formats/elf.js';
import { writeField } from '../../src/formats/struct.js';
import { alignUp } from '../../src/lib/align.js';
import { fixture } from '../helpers/fixtures.js';

/** The bytes a section keeps in the shortened PE: the first page of each, as the sections' own headers say. */
const SECTION_KEEP = 0x1000;

export interface ShortSignedPe {
  /** Headers and shortened sections of Debian's signed kernel; the certificate table follows at prefix.length. */
  prefix: Uint8Array;
  /** Debian's real certificate table (one WIN_CERTIFICATE holding the PKCS#7 signature). */
  certs: Uint8Array;
  /** File offset of the certificate table's data directory entry. */
  certDirentOffset: number;
}

/**
 * Debian's signed vmlinuz with every section cut to its first page (SizeOfRawData and PointerToRawData rewritten,
 * sections still in order and file-aligned) and its real certificate table after them: the headers, the section
 * walk, the digest ranges and the whole certificate table are walked as in the real image, the digest is over
 * 20 KB instead of 8 MB (it no longer matches the signature, which the walk reports as a problem, not a crash).
 */
export function shortSignedPe(): ShortSignedPe {
  const img = new Uint8Array(fs.readFileSync(fixture('vmlinuz-amd64')));
  const pe = parsePeHeaders(img);
  const sections = readSectionTable(img, pe);
  const { virtualAddress: certAt, size: certSize } = pe.certDirent;
  const parts: Uint8Array[] = [img.slice(0, pe.headerSize)];
  let at = pe.headerSize;
  for (const s of sections) {
    const keep = Math.min(s.rawDataSize, SECTION_KEEP);
    writeField(parts[0]!, SECTION_HEADER.raw_data_size, keep, s.headerOffset);
    writeField(parts[0]!, SECTION_HEADER.data_addr, at, s.headerOffset);
    const body = new Uint8Array(alignUp(keep, pe.fileAlign));
    body.set(img.subarray(s.dataAddr, s.dataAddr + keep));
    parts.push(body);
    at += body.length;
  }
  const certStart = alignUp(at, 8);
  if (certStart > at) parts.push(new Uint8Array(certStart - at));
  writeField(parts[0]!, DATA_DIRENT.virtual_address, certStart, pe.certDirent.offset);
  return { prefix: new Uint8Array(Buffer.concat(parts)), certs: img.slice(certAt, certAt + certSize), certDirentOffset: pe.certDirent.offset };
}

/** The shortened PE with `certs` as its certificate table (the data directory entry sized to it). */
export function withCertTable(pe: ShortSignedPe, certs: Uint8Array): Uint8Array {
  const out = new Uint8Array(pe.prefix.length + certs.length);
  out.set(pe.prefix);
  out.set(certs, pe.prefix.length);
  writeField(out, DATA_DIRENT.size, certs.length, pe.certDirentOffset);
  return out;
}

/** Bytes of the real vmlinux's first loadable segment (kernel code) the short bzImage's payload holds. */
const PAYLOAD_CODE = 60 << 10;

/**
 * Debian's unsigned bzImage up to its payload (real-mode setup, setup header and the decompressor head, as they
 * are), then a payload built as the kernel's build builds it (arch/x86/boot/compressed/Makefile: xz_wrap.sh's
 * `xz --check=crc32 --x86 --lzma2`, then size_append's 4 little-endian bytes) from 64 KiB of the real
 * vmlinux (its first page, the ELF and program headers, then 60 KiB of its first loadable segment: code, so the
 * xz stream is ~25 KB of real LZMA2 and BCJ work rather than compressed padding), with payload_length set to it.
 */
export function shortBzImage(): Uint8Array {
  const img = new Uint8Array(fs.readFileSync(fixture('vmlinuz-amd64-unsigned')));
  const hdr = new SetupHeader(img);
  const head = img.slice(0, hdr.kern16Size + hdr.num('payload_offset'));
  const vmlinux = new Uint8Array(fs.readFileSync(fixture('vmlinux-amd64')));
  const code = Number(parseElf(vmlinux).programHeaders.find((p) => p.filesz > 0n)!.offset);
  const elf = Buffer.concat([vmlinux.subarray(0, 0x1000), vmlinux.subarray(code, code + PAYLOAD_CODE)]);
  const xz = execFileSync('xz', ['--format=xz', '--check=crc32', '--x86', '--lzma2=dict=1MiB', '-c'], { input: elf });
  const size = Buffer.alloc(4);
  size.writeUInt32LE(elf.length);
  const payload = Buffer.concat([xz, size]);
  writeField(head, SETUP_HEADER.payload_length, payload.length);
  return new Uint8Array(Buffer.concat([head, payload]));
}
