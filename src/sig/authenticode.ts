// The PE side of Authenticode as crypto/asymmetric_keys/verify_pefile.c does it: find the certificate table,
// strip its WIN_CERTIFICATE wrapper down to the PKCS#7 blob, and hash the image the way the signer did.

import { createHash } from 'node:crypto';
import { KexecError } from '../errno.js';
import { PeFormatError, parsePeHeaders, readSectionTable, type PeHeaders, type PeSection } from '../formats/pe.js';
import { readField, type FieldSpec } from '../formats/struct.js';
import { hex } from '../lib/hex.js';
import type { HashName } from './oids.js';

/** struct win_certificate: the header in front of each certificate table entry. */
export const WIN_CERTIFICATE = {
  length: { offset: 0, size: 4 },
  revision: { offset: 4, size: 2 },
  cert_type: { offset: 6, size: 2 },
} as const satisfies Record<string, FieldSpec>;
export const WIN_CERTIFICATE_SIZE = 8;
export const WIN_CERT_REVISION_2_0 = 0x0200;
export const WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002;

export const RULE_PEFILE_PARSE = 'pefile_parse_binary';
export const RULE_STRIP_WRAPPER = 'pefile_strip_sig_wrapper';
export const RULE_DIGEST = 'pefile_digest_pe';

/** The digest algorithms pefile_digest_pe may be asked for (mscode decides which). */
export type PeDigestAlgo = Extract<HashName, 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512'>;

/** struct pefile_context, the part filled by pefile_parse_binary. */
export interface PefileContext {
  pe: PeHeaders;
  sections: PeSection[];
  /** ddir->certs.size, subtracted from the trailing data hashed. */
  certsSize: number;
  sigOffset: number;
  sigLen: number;
}

export interface WinCertificate {
  length: number;
  revision: number;
  certType: number;
}

export interface StrippedSignature {
  wrapper: WinCertificate;
  /** Offset and length of the PKCS#7 blob inside the image. */
  offset: number;
  length: number;
}

const RESIGN = 'sign the image again with sbsign or pesign';

/** pefile_parse_binary's header checks: the format's refusal becomes the kernel's ELIBBAD. */
function asLibbad<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (!(e instanceof PeFormatError)) throw e;
    throw new KexecError('ELIBBAD', RULE_PEFILE_PARSE, e.reason, {
      ...(e.value === undefined ? {} : { value: e.value }),
      hint: 'the file is not a well-formed PE/COFF image; use the EFI-stub bzImage as built (or as signed by sbsign/pesign)',
    });
  }
}

/** parsePeHeaders with the kernel's errno (ELIBBAD, rule pefile_parse_binary). */
export function pefileParseHeaders(image: Uint8Array): PeHeaders {
  return asLibbad(() => parsePeHeaders(image));
}

/** readSectionTable with the kernel's errno (ELIBBAD, rule pefile_parse_binary). */
export function pefileReadSections(image: Uint8Array, pe: PeHeaders): PeSection[] {
  return asLibbad(() => readSectionTable(image, pe));
}

/**
 * pefile_parse_binary: headers (ELIBBAD on any inconsistency), then the certificate table entry:
 * absent -> ENODATA "Unsigned PE binary"; outside [SizeOfHeaders, end of file) -> ELIBBAD; then sections.
 */
export function pefileParseBinary(image: Uint8Array): PefileContext {
  const pe = pefileParseHeaders(image);
  const certs = pe.certDirent;
  if (!certs.virtualAddress || !certs.size) {
    throw new KexecError('ENODATA', RULE_PEFILE_PARSE, 'Unsigned PE binary: the certificate table entry (data directory 4) is empty', {
      value: `${hex(certs.virtualAddress)}+${hex(certs.size)}`,
      hint: 'sign the kernel (sbsign --key KEY --cert CERT), use the distribution\'s signed vmlinuz, or disable signature enforcement',
    });
  }
  const datalen = image.length;
  if (certs.virtualAddress < pe.headerSize || certs.size >= datalen || certs.virtualAddress > datalen - certs.size) {
    throw new KexecError('ELIBBAD', RULE_PEFILE_PARSE,
      `certificate table ${hex(certs.virtualAddress)}+${hex(certs.size)} must lie after SizeOfHeaders ${hex(pe.headerSize)} and inside the ${datalen}-byte file`,
      { value: hex(certs.virtualAddress), hint: 'the image was truncated or altered after signing; ' + RESIGN });
  }
  return { pe, sections: pefileReadSections(image, pe), certsSize: certs.size, sigOffset: certs.virtualAddress, sigLen: certs.size };
}

/** The struct win_certificate at `at`. */
export function readWinCertificate(image: Uint8Array, at: number): WinCertificate {
  return {
    length: readField(image, WIN_CERTIFICATE.length, at) as number,
    revision: readField(image, WIN_CERTIFICATE.revision, at) as number,
    certType: readField(image, WIN_CERTIFICATE.cert_type, at) as number,
  };
}

/**
 * pefile_strip_sig_wrapper: the first WIN_CERTIFICATE must be a revision 2.0 PKCS#7 entry no longer than
 * the table, holding a DER SEQUENCE whose length fits; padding after it is dropped.
 */
export function pefileStripSigWrapper(image: Uint8Array, ctx: PefileContext): StrippedSignature {
  const bad = (detail: string, errno: 'ELIBBAD' | 'ENOTSUPP' | 'EMSGSIZE' | 'EKEYREJECTED' = 'ELIBBAD'): KexecError =>
    new KexecError(errno, RULE_STRIP_WRAPPER, detail, { hint: RESIGN });
  if (ctx.sigLen < WIN_CERTIFICATE_SIZE) throw bad(`Signature wrapper too short: the certificate table is ${ctx.sigLen} bytes`);
  const wrapper = readWinCertificate(image, ctx.sigOffset);
  // Since Linux 6.2 the wrapper may be shorter than the table (pesign stopped rounding up); before, the
  // table size had to be the wrapper length rounded up to 8. Both sbsign and pesign output pass this check.
  if (wrapper.length > ctx.sigLen) throw bad(`Signature wrapper bigger than the certificate table (${hex(wrapper.length)} > ${hex(ctx.sigLen)})`);
  if (wrapper.revision !== WIN_CERT_REVISION_2_0) throw bad(`Signature is not revision 2.0 (WIN_CERTIFICATE revision ${hex(wrapper.revision)})`, 'ENOTSUPP');
  if (wrapper.certType !== WIN_CERT_TYPE_PKCS_SIGNED_DATA) throw bad(`Signature certificate type is not PKCS (WIN_CERTIFICATE type ${hex(wrapper.certType)})`, 'ENOTSUPP');

  // The kernel keeps these as unsigned 32-bit values; a wrapper length below 8 wraps around.
  let sigLen = (wrapper.length - WIN_CERTIFICATE_SIZE) >>> 0;
  const offset = ctx.sigOffset + WIN_CERTIFICATE_SIZE;
  if (sigLen < 4) throw bad(`Signature data missing: the WIN_CERTIFICATE holds ${sigLen} bytes`, 'EKEYREJECTED');
  const at = (i: number): number => {
    if (offset + i >= image.length) throw bad('Signature data runs past the end of the file');
    return image[offset + i]!;
  };
  if (at(0) !== 0x30) throw bad(`Signature data not PKCS#7: starts with ${hex(at(0))}, not a DER SEQUENCE (0x30)`);
  const b1 = at(1);
  let len: number;
  if (b1 <= 0x7f) len = b1 + 2;
  else if (b1 === 0x80) return { wrapper, offset, length: Math.min(sigLen, image.length - offset) };
  else if (b1 === 0x81) len = at(2) + 3;
  else if (b1 === 0x82) len = ((at(2) << 8) | at(3)) + 4;
  else throw bad(`Signature data too large: DER length form ${hex(b1)} (over 64 KiB)`, 'EMSGSIZE');
  if (len > sigLen) throw bad(`Signature data not PKCS#7: DER length ${len} exceeds the ${sigLen} bytes in the WIN_CERTIFICATE`);
  sigLen = len;
  return { wrapper, offset, length: sigLen };
}

/** C strcmp over the image bytes from two section names (names need not be NUL-terminated within 8 bytes). */
function cstrcmp(image: Uint8Array, a: number, b: number): number {
  for (let i = 0; ; i++) {
    const ca = image[a + i] ?? 0;
    const cb = image[b + i] ?? 0;
    if (ca !== cb) return ca - cb;
    if (ca === 0) return 0;
  }
}

/** pefile_compare_shdrs: file offset, then RVA, name, virtual size, raw size. */
function compareSections(image: Uint8Array, a: PeSection, b: PeSection): number {
  return (
    Math.sign(a.dataAddr - b.dataAddr) ||
    Math.sign(a.virtualAddress - b.virtualAddress) ||
    Math.sign(cstrcmp(image, a.headerOffset, b.headerOffset)) ||
    Math.sign(a.virtualSize - b.virtualSize) ||
    Math.sign(a.rawDataSize - b.rawDataSize)
  );
}

export interface DigestRange {
  start: number;
  end: number;
  what: string;
}

export interface DigestLayout {
  pe: PeHeaders;
  sections: PeSection[];
  certsSize: number;
}

/**
 * The byte ranges pefile_digest_pe_contents hashes, in order: the headers minus CheckSum and the certificate
 * table entry, each section with raw data in canonical order, then what follows up to the file length less
 * the certificate table size (counted from the sum of sizes hashed so far, in 32-bit arithmetic as there).
 * Where the kernel would read outside the buffer this refuses with ELIBBAD. (vkexec's split of the kernel's
 * pefile_digest_pe_contents, so inspect can show the ranges.)
 */
export function pefileDigestRanges(image: Uint8Array, layout: DigestLayout): DigestRange[] {
  const { pe } = layout;
  const oob = (what: string, start: number, len: number): KexecError =>
    new KexecError('ELIBBAD', RULE_DIGEST, `${what}: ${len} bytes at ${hex(start)} lie outside the ${image.length}-byte file`, {
      value: hex(start), hint: 'the image is truncated or its headers were altered; ' + RESIGN,
    });
  const certEnd = pe.certDirent.offset + 8;
  if (certEnd > pe.headerSize) throw oob('headers after the certificate table entry (SizeOfHeaders too small)', certEnd, pe.headerSize - certEnd);
  const ranges: DigestRange[] = [
    { start: 0, end: pe.checksumOffset, what: 'headers up to CheckSum' },
    { start: pe.checksumOffset + 4, end: pe.certDirent.offset, what: 'headers from CheckSum to the certificate table entry' },
    { start: certEnd, end: pe.headerSize, what: 'headers after the certificate table entry' },
  ];
  const canon = [...layout.sections].sort((a, b) => compareSections(image, a, b)); // stable, like the kernel's insertion sort
  let hashed = pe.headerSize;
  for (const s of canon) {
    if (s.rawDataSize === 0) continue;
    if (s.dataAddr + s.rawDataSize > image.length) throw oob(`section "${s.name}"`, s.dataAddr, s.rawDataSize);
    ranges.push({ start: s.dataAddr, end: s.dataAddr + s.rawDataSize, what: `section ${s.name || `#${s.index}`}` });
    hashed = (hashed + s.rawDataSize) >>> 0;
  }
  if (image.length > hashed) {
    const len = (image.length - ((hashed + layout.certsSize) >>> 0)) >>> 0;
    if (hashed + len > image.length) throw oob('data after the sections (certificate table larger than what follows them)', hashed, len);
    if (len > 0) ranges.push({ start: hashed, end: hashed + len, what: 'data after the sections' });
  }
  return ranges;
}

/** pefile_digest_pe_contents: the Authenticode image hash (the comparison is the caller's). */
export function pefileDigestPeContents(image: Uint8Array, layout: DigestLayout, algo: PeDigestAlgo): Buffer {
  const h = createHash(algo);
  for (const r of pefileDigestRanges(image, layout)) h.update(image.subarray(r.start, r.end));
  return h.digest();
}
