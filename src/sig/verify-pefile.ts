// Signature checking of a PE kernel for kexec_file_load, as x86 does it (kernel/kexec_file.c
// kexec_kernel_verify_pe_sig, formerly arch/x86/kernel/kexec-bzimage64.c kexec_bzImage64_verify_sig):
// verify_pefile_signature against .secondary_trusted_keys (which links .builtin_trusted_keys), and only when
// that finds no key (ENOKEY) once more against .platform. Each pass is crypto/asymmetric_keys/verify_pefile.c:
// parse the PE, strip the WIN_CERTIFICATE, verify the PKCS#7 (message, revocation list, trust), read the
// SpcIndirectDataContent, then hash the image and compare: only that comparison binds the signature to it.

import { BLACKLISTED_HINT_PREFIX, NO_AKI_HINT } from './pkcs7-trust.js';
import { KexecError } from '../errno.js';
import type { PeHeaders, PeSection } from '../formats/pe.js';
import { alignUp } from '../lib/align.js';
import { hex } from '../lib/hex.js';
import {
  pefileDigestPeContents, pefileDigestRanges, pefileParseBinary, pefileStripSigWrapper, pefileParseHeaders, pefileReadSections,
  readWinCertificate,
  WIN_CERTIFICATE_SIZE, WIN_CERT_REVISION_2_0, WIN_CERT_TYPE_PKCS_SIGNED_DATA,
  type DigestLayout, type PeDigestAlgo, type PefileContext, type WinCertificate,
} from './authenticode.js';
import { definiteLength, toHex } from './der.js';
import {
  certFacts, refuse, searchKexecKeyrings, signerFacts,
  type CertFacts, type Failure, type KeyringSearch, type SignerFacts, type TrustedBy,
} from './facts.js';
import type { Keyrings } from './keyring.js';
import { mscodeParse, type MsCode } from './mscode.js';
import { HASH_SIZES } from './oids.js';
import { pkcs7ParseMessage, type Pkcs7Message, type Pkcs7Options, type TrustMatch } from './pkcs7.js';
import { verifyPkcs7MessageSig } from './pkcs7-trust.js';
import { pkcs7Verify } from './pkcs7-verify.js';
import type { X509Cert } from './x509.js';

export interface VerifyPefileOptions extends Pkcs7Options {
  /** CONFIG_INTEGRITY_PLATFORM_KEYRING: fall back to .platform on ENOKEY. Default true. */
  platformKeyring?: boolean;
  /** The file name, for messages. */
  source?: string;
}

export interface PeSignatureReport {
  source: string | undefined;
  format: 'PE32' | 'PE32+' | undefined;
  certTable: { offset: number; size: number } | undefined;
  wrapper: WinCertificate | undefined;
  signers: SignerFacts[];
  certificates: CertFacts[];
  /** The image digest the signature vouches for, and the one computed from the file. */
  digestAlgorithm: string | undefined;
  expectedDigest: string | undefined;
  computedDigest: string | undefined;
  digestMatches: boolean | undefined;
  /** SHA-256 Authenticode hash: what UEFI dbx lists and "bin:" blacklist entries name. */
  imageSha256: string | undefined;
  /** "bin:<imageSha256>" is in .blacklist (reported; kexec's PE check does not act on it). */
  imageBlacklisted: boolean;
  keyringsSearched: KeyringSearch[];
  trustedBy: TrustedBy | undefined;
  ok: boolean;
  failure: Failure | undefined;
}

function emptyReport(source: string | undefined): PeSignatureReport {
  return {
    source, format: undefined, certTable: undefined, wrapper: undefined, signers: [], certificates: [],
    digestAlgorithm: undefined, expectedDigest: undefined, computedDigest: undefined, digestMatches: undefined,
    imageSha256: undefined, imageBlacklisted: false, keyringsSearched: [], trustedBy: undefined, ok: false, failure: undefined,
  };
}

/** pkcs7_get_content_data + mscode_parse (verify_pkcs7_message_sig's view_content step). */
function viewContent(msg: Pkcs7Message, opts: Pkcs7Options): MsCode {
  if (!msg.dataElement) {
    throw new KexecError('ENODATA', 'pkcs7_get_content_data', 'the PE signature carries no SpcIndirectDataContent', { hint: 'sign the image again with sbsign or pesign' });
  }
  return mscodeParse(msg.dataElement, opts);
}

/** Image digests by algorithm, each computed once per verification (the layout is the same every pass). */
type DigestOf = (algo: PeDigestAlgo) => Buffer;

function memoDigests(image: Uint8Array, layout: DigestLayout): DigestOf {
  const done = new Map<PeDigestAlgo, Buffer>();
  return (algo) => {
    let d = done.get(algo);
    if (!d) done.set(algo, (d = pefileDigestPeContents(image, layout, algo)));
    return d;
  };
}

/** Fills the digest facts when they can be had; never throws (used on failure paths too). */
function noteDigests(report: PeSignatureReport, digestOf: DigestOf, msg: Pkcs7Message | undefined, opts: Pkcs7Options): void {
  try {
    report.imageSha256 ??= digestOf('sha256').toString('hex');
    if (!msg || report.expectedDigest !== undefined) return;
    const m = viewContent(msg, opts);
    report.digestAlgorithm = m.digestAlgo;
    report.expectedDigest = toHex(m.digest);
    report.computedDigest = digestOf(m.digestAlgo as PeDigestAlgo).toString('hex');
    report.digestMatches = report.computedDigest === report.expectedDigest;
  } catch (e) {
    if (!(e instanceof KexecError)) throw e;
  }
}

/** Fills who signed before any check can refuse (a blacklisted image is refused before its signature is read). */
function noteSigners(image: Uint8Array, ctx: PefileContext, report: PeSignatureReport, opts: Pkcs7Options): void {
  try {
    const stripped = pefileStripSigWrapper(image, ctx);
    const msg = pkcs7ParseMessage(image.subarray(stripped.offset, stripped.offset + stripped.length), opts);
    report.signers = signerFacts(msg);
    report.certificates = msg.certs.map((c) => certFacts(c.cert));
  } catch (e) {
    if (!(e instanceof KexecError)) throw e;
  }
}

/** One pass of verify_pefile_signature against one set of trusted keys. */
function verifyPefileOnce(
  image: Uint8Array,
  keys: readonly X509Cert[],
  label: string,
  keyrings: Keyrings,
  opts: VerifyPefileOptions,
  report: PeSignatureReport,
  digestOf: DigestOf,
): TrustMatch {
  const ctx = pefileParseBinary(image);
  const stripped = pefileStripSigWrapper(image, ctx);
  report.wrapper = stripped.wrapper;
  const msg = pkcs7ParseMessage(image.subarray(stripped.offset, stripped.offset + stripped.length), opts);
  if (report.signers.length === 0) {
    report.signers = signerFacts(msg);
    report.certificates = msg.certs.map((c) => certFacts(c.cert));
  }
  let trust: TrustMatch;
  try {
    trust = verifyPkcs7MessageSig(msg, undefined, keys, label, 'kexec-pe', keyrings);
  } finally {
    noteDigests(report, digestOf, msg, opts);
  }
  const mscode = viewContent(msg, opts);
  pefileDigestPe(mscode, report, digestOf);
  return trust;
}

/** pefile_digest_pe: digest size check, hash, compare. */
function pefileDigestPe(mscode: MsCode, report: PeSignatureReport, digestOf: DigestOf): void {
  if (mscode.digest.length !== HASH_SIZES[mscode.digestAlgo]) {
    throw new KexecError('EBADMSG', 'pefile_digest_pe', `Digest size mismatch: the signature's ${mscode.digestAlgo} image digest is ${mscode.digest.length} bytes, not ${HASH_SIZES[mscode.digestAlgo]}`,
      { hint: 'sign the image again with sbsign or pesign' });
  }
  const computed = digestOf(mscode.digestAlgo as PeDigestAlgo);
  if (!computed.equals(mscode.digest)) {
    const who = report.signers[0]?.subject ?? 'the signer';
    throw new KexecError('EKEYREJECTED', 'pefile_digest_pe',
      `Digest mismatch: the image's ${mscode.digestAlgo} digest is not the one "${who}" signed`,
      { hint: 'the kernel file was modified after it was signed; use the file as signed or sign this one again' });
  }
}

function hintFor(e: KexecError, report: PeSignatureReport): string | undefined {
  if (e.errno !== 'ENOKEY' || e.hint === NO_AKI_HINT || e.hint?.startsWith(BLACKLISTED_HINT_PREFIX)) return undefined;
  const signer = report.signers[0];
  const needed = !signer?.anchor ? 'the signing CA certificate' : signer.subject ? `the CA certificate "${signer.anchor}"` : signer.anchor;
  return `no trusted keyring holds ${needed}; add it to the machine's secondary (or platform) keyring`;
}

/**
 * kexec_kernel_verify_pe_sig for `image`. Returns the report on success; throws SignatureError (a
 * KexecError with the kernel's errno and rule, carrying the report) on failure.
 */
export function verifyPefileSignature(image: Uint8Array, keyrings: Keyrings, opts: VerifyPefileOptions = {}): PeSignatureReport {
  const report = emptyReport(opts.source);
  try {
    const pe = pefileParseHeaders(image);
    report.format = pe.format;
    report.certTable = { offset: pe.certDirent.virtualAddress, size: pe.certDirent.size };
    const ctx = pefileParseBinary(image);
    const digestOf = memoDigests(image, ctx);
    noteSigners(image, ctx, report, opts);
    noteDigests(report, digestOf, undefined, opts);
    // Only a fact: verify_pefile_signature never consults "bin:" entries (is_binary_blacklisted serves IMA's
    // modsig appraisal and module loading), so a listed image still verifies here, as on Linux.
    report.imageBlacklisted = report.imageSha256 !== undefined && keyrings.isHashBlacklisted('bin', report.imageSha256);
    report.trustedBy = searchKexecKeyrings(keyrings, opts.platformKeyring !== false, report.keyringsSearched, (keys, label) =>
      verifyPefileOnce(image, keys, label, keyrings, opts, report, digestOf),
    );
    report.ok = true;
    return report;
  } catch (e) {
    return refuse(e, report, opts.source, e instanceof KexecError ? hintFor(e, report) : undefined);
  }
}

// ---- inspection ---------------------------------------------------------------------------------------------

export interface CertTableEntry {
  offset: number;
  length: number;
  revision: number;
  certType: number;
  signers: SignerFacts[];
  certificates: CertFacts[];
  digestAlgorithm: string | undefined;
  embeddedDigest: string | undefined;
  computedDigest: string | undefined;
  digestMatches: boolean | undefined;
  /** pkcs7_verify alone (no keyrings): "ok" or the errno and reason it fails. */
  selfCheck: string;
  problems: string[];
}

export interface PeDescription {
  format: 'PE32' | 'PE32+' | undefined;
  machine: number | undefined;
  headerSize: number | undefined;
  checksum: number | undefined;
  sections: Pick<PeSection, 'name' | 'virtualAddress' | 'virtualSize' | 'dataAddr' | 'rawDataSize' | 'flags'>[];
  certTable: { offset: number; size: number } | undefined;
  /** Every WIN_CERTIFICATE in the table; the kernel only ever reads the first. */
  entries: CertTableEntry[];
  /** Ranges hashed for the Authenticode digest. */
  digestRanges: { start: number; end: number; what: string }[];
  imageSha256: string | undefined;
  problems: string[];
}

const problemText = (e: unknown): string =>
  e instanceof KexecError ? `${e.errno} ${e.rule}: ${e.message}` : `internal error: ${(e as Error)?.message ?? String(e)}`;

function describeEntry(image: Uint8Array, offset: number, end: number, layout: DigestLayout | undefined, opts: Pkcs7Options): CertTableEntry {
  const entry: CertTableEntry = {
    offset, ...readWinCertificate(image, offset),
    signers: [], certificates: [], digestAlgorithm: undefined, embeddedDigest: undefined, computedDigest: undefined,
    digestMatches: undefined, selfCheck: 'not checked', problems: [],
  };
  if (entry.revision !== WIN_CERT_REVISION_2_0 || entry.certType !== WIN_CERT_TYPE_PKCS_SIGNED_DATA) {
    entry.problems.push(`not a revision 2.0 PKCS#7 entry (revision ${hex(entry.revision)}, type ${hex(entry.certType)})`);
    return entry;
  }
  const body = image.subarray(offset + WIN_CERTIFICATE_SIZE, Math.min(end, offset + Math.max(entry.length, WIN_CERTIFICATE_SIZE)));
  const blob = body.subarray(0, Math.min(body.length, definiteLength(body) ?? body.length));
  try {
    const msg = pkcs7ParseMessage(blob, opts);
    entry.signers = signerFacts(msg);
    entry.certificates = msg.certs.map((c) => certFacts(c.cert));
    try {
      pkcs7Verify(msg, 'kexec-pe');
      entry.selfCheck = 'ok';
    } catch (e) {
      entry.selfCheck = problemText(e);
    }
    const m = viewContent(msg, opts);
    entry.digestAlgorithm = m.digestAlgo;
    entry.embeddedDigest = toHex(m.digest);
    if (layout) {
      entry.computedDigest = pefileDigestPeContents(image, layout, m.digestAlgo as PeDigestAlgo).toString('hex');
      entry.digestMatches = entry.computedDigest === entry.embeddedDigest;
    }
  } catch (e) {
    entry.problems.push(problemText(e));
  }
  return entry;
}

/** What `vkexec inspect` shows about a PE image's signatures. Never throws: problems come back as data. */
export function describePeSignatures(image: Uint8Array, opts: Pkcs7Options = {}): PeDescription {
  const d: PeDescription = {
    format: undefined, machine: undefined, headerSize: undefined, checksum: undefined, sections: [], certTable: undefined,
    entries: [], digestRanges: [], imageSha256: undefined, problems: [],
  };
  try {
    let pe: PeHeaders;
    try {
      pe = pefileParseHeaders(image);
    } catch (e) {
      d.problems.push(problemText(e));
      return d;
    }
    d.format = pe.format;
    d.machine = pe.machine;
    d.headerSize = pe.headerSize;
    d.checksum = pe.checksum;
    d.certTable = { offset: pe.certDirent.virtualAddress, size: pe.certDirent.size };
    let layout: DigestLayout | undefined;
    try {
      const sections = pefileReadSections(image, pe);
      d.sections = sections.map(({ name, virtualAddress, virtualSize, dataAddr, rawDataSize, flags }) => ({ name, virtualAddress, virtualSize, dataAddr, rawDataSize, flags }));
      layout = { pe, sections, certsSize: pe.certDirent.size };
      d.digestRanges = pefileDigestRanges(image, layout);
      d.imageSha256 = pefileDigestPeContents(image, layout, 'sha256').toString('hex');
    } catch (e) {
      d.problems.push(problemText(e));
      layout = undefined;
    }
    const { virtualAddress: start, size } = pe.certDirent;
    if (!start || !size) {
      d.problems.push('ENODATA pefile_parse_binary: Unsigned PE binary (no certificate table)');
      return d;
    }
    const end = start + size;
    if (start < pe.headerSize || end > image.length) {
      d.problems.push(`ELIBBAD pefile_parse_binary: certificate table ${hex(start)}+${hex(size)} lies outside the file`);
      return d;
    }
    for (let at = start; at + WIN_CERTIFICATE_SIZE <= end; ) {
      const entry = describeEntry(image, at, end, layout, opts);
      d.entries.push(entry);
      if (entry.length < WIN_CERTIFICATE_SIZE) {
        entry.problems.push(`WIN_CERTIFICATE length ${entry.length} is shorter than its header; the rest of the table is unreadable`);
        break;
      }
      // The length is a u32 from the file: checked against the table before it moves the walk (rounded up in
      // 32-bit arithmetic, as `(len + 7) & ~7`, 0xfffffff9 wraps to 0 and the walk never ends).
      if (entry.length > end - at) {
        entry.problems.push(`WIN_CERTIFICATE length ${hex(entry.length)} runs past the end of the certificate table (${end - at} bytes left)`);
        break;
      }
      at += alignUp(entry.length, 8);
    }
    try {
      pefileStripSigWrapper(image, pefileParseBinary(image));
    } catch (e) {
      if (!d.problems.includes(problemText(e))) d.problems.push(problemText(e));
    }
  } catch (e) {
    d.problems.push(problemText(e));
  }
  return d;
}
