// Appended ("module-style") signatures: [content][PKCS#7 DER][struct module_signature][MODULE_SIG_STRING], as
// scripts/sign-file writes them and kexec checks them where images carry no PE signature (s390_verify_sig in
// arch/s390/kernel/machine_kexec_file.c; IMA modsig reads the same layout). The PKCS#7 is detached over the
// content, pkcs7-data without authenticated attributes (VERIFYING_MODULE_SIGNATURE), and is checked against
// the secondary keyring first and, only on ENOKEY, the platform keyring.

import { createHash } from 'node:crypto';
import { KexecError } from '../errno.js';
import { readField, type FieldSpec } from '../formats/struct.js';
import {
  certFacts, refuse, searchKexecKeyrings, signerFacts,
  type CertFacts, type Failure, type KeyringSearch, type SignerFacts, type TrustedBy,
} from './facts.js';
import type { Keyrings } from './keyring.js';
import { pkcs7ParseMessage, type Pkcs7Options } from './pkcs7.js';
import { verifyPkcs7MessageSig } from './pkcs7-trust.js';

export const MODULE_SIG_STRING = '~Module signature appended~\n';
const MARKER = Buffer.from(MODULE_SIG_STRING, 'latin1');

/** struct module_signature (include/linux/module_signature.h); sig_len is big-endian. */
export const MODULE_SIGNATURE = {
  algo: { offset: 0, size: 1 },
  hash: { offset: 1, size: 1 },
  id_type: { offset: 2, size: 1 },
  signer_len: { offset: 3, size: 1 },
  key_id_len: { offset: 4, size: 1 },
  pad0: { offset: 5, size: 1 },
  pad1: { offset: 6, size: 1 },
  pad2: { offset: 7, size: 1 },
  sig_len: { offset: 8, size: 4 },
} as const satisfies Record<string, FieldSpec>;
export const MODULE_SIGNATURE_SIZE = 12;
export const PKEY_ID_PKCS7 = 2;

export const RULE_MOD_CHECK_SIG = 'mod_check_sig';
export const RULE_APPENDED = 'verify_appended_signature';

export interface ModuleSignatureInfo {
  algo: number;
  hash: number;
  idType: number;
  signerLen: number;
  keyIdLen: number;
  pad: [number, number, number];
  sigLen: number;
}

export interface AppendedSignature {
  info: ModuleSignatureInfo;
  /** Bytes covered by the signature: [0, contentLength). */
  contentLength: number;
  sigOffset: number;
  sigLength: number;
}

export interface AppendedSignatureReport {
  source: string | undefined;
  contentLength: number | undefined;
  signatureLength: number | undefined;
  signers: SignerFacts[];
  certificates: CertFacts[];
  keyringsSearched: KeyringSearch[];
  trustedBy: TrustedBy | undefined;
  ok: boolean;
  failure: Failure | undefined;
}

const RESIGN = 'sign with scripts/sign-file (or openssl cms -sign -binary -noattr -outform DER plus the module_signature trailer)';

/** mod_check_sig: the PKCS#7 must fit before the 12-byte trailer, be PKCS#7 (id_type 2), all else zero. */
export function modCheckSig(info: ModuleSignatureInfo, fileLen: number): void {
  if (info.sigLen >= fileLen - MODULE_SIGNATURE_SIZE) {
    throw new KexecError('EBADMSG', RULE_MOD_CHECK_SIG, `sig_len ${info.sigLen} does not fit in the ${fileLen - MODULE_SIGNATURE_SIZE} bytes before the module_signature trailer`, {
      value: String(info.sigLen), hint: RESIGN,
    });
  }
  if (info.idType !== PKEY_ID_PKCS7) {
    throw new KexecError('ENOPKG', RULE_MOD_CHECK_SIG, `not signed with expected PKCS#7 message (id_type ${info.idType}, expected ${PKEY_ID_PKCS7})`, {
      value: String(info.idType), hint: RESIGN,
    });
  }
  if (info.algo || info.hash || info.signerLen || info.keyIdLen || info.pad.some((b) => b !== 0)) {
    throw new KexecError('EBADMSG', RULE_MOD_CHECK_SIG, 'PKCS#7 signature info has unexpected non-zero params (algo, hash, signer_len, key_id_len and padding must be 0)', {
      hint: RESIGN,
    });
  }
}

/** Locates the marker, trailer and PKCS#7 blob. No marker is EKEYREJECTED, as s390_verify_sig returns. */
export function parseAppendedSignature(buf: Uint8Array): AppendedSignature {
  if (buf.length < MARKER.length || Buffer.compare(buf.subarray(buf.length - MARKER.length), MARKER) !== 0) {
    throw new KexecError('EKEYREJECTED', RULE_APPENDED, `no appended signature: the file does not end with "${MODULE_SIG_STRING.trimEnd()}\\n"`, {
      hint: RESIGN,
    });
  }
  const len = buf.length - MARKER.length;
  if (len <= MODULE_SIGNATURE_SIZE) {
    throw new KexecError('EBADMSG', RULE_MOD_CHECK_SIG, `only ${len} bytes precede the marker; the 12-byte module_signature does not fit`, { hint: RESIGN });
  }
  const at = len - MODULE_SIGNATURE_SIZE;
  const v = new DataView(buf.buffer, buf.byteOffset + at, MODULE_SIGNATURE_SIZE);
  const b = (f: FieldSpec): number => readField(buf, f, at) as number;
  const info: ModuleSignatureInfo = {
    algo: b(MODULE_SIGNATURE.algo),
    hash: b(MODULE_SIGNATURE.hash),
    idType: b(MODULE_SIGNATURE.id_type),
    signerLen: b(MODULE_SIGNATURE.signer_len),
    keyIdLen: b(MODULE_SIGNATURE.key_id_len),
    pad: [b(MODULE_SIGNATURE.pad0), b(MODULE_SIGNATURE.pad1), b(MODULE_SIGNATURE.pad2)],
    sigLen: v.getUint32(MODULE_SIGNATURE.sig_len.offset, false),
  };
  modCheckSig(info, len);
  const contentLength = at - info.sigLen;
  return { info, contentLength, sigOffset: contentLength, sigLength: info.sigLen };
}

/**
 * Verifies an appended signature as kexec_file_load does for such images. Returns the report; throws
 * SignatureError (with the kernel's errno and rule, carrying the report) on failure.
 */
export function verifyAppendedSignature(
  buf: Uint8Array,
  keyrings: Keyrings,
  opts: Pkcs7Options & { platformKeyring?: boolean; source?: string } = {},
): AppendedSignatureReport {
  const report: AppendedSignatureReport = {
    source: opts.source, contentLength: undefined, signatureLength: undefined, signers: [], certificates: [],
    keyringsSearched: [], trustedBy: undefined, ok: false, failure: undefined,
  };
  try {
    const sig = parseAppendedSignature(buf);
    report.contentLength = sig.contentLength;
    report.signatureLength = sig.sigLength;
    const content = buf.subarray(0, sig.contentLength);
    const blob = buf.subarray(sig.sigOffset, sig.sigOffset + sig.sigLength);
    report.trustedBy = searchKexecKeyrings(keyrings, opts.platformKeyring !== false, report.keyringsSearched, (keys, label) => {
      const msg = pkcs7ParseMessage(blob, opts);
      if (report.signers.length === 0) {
        report.signers = signerFacts(msg);
        report.certificates = msg.certs.map((c) => certFacts(c.cert));
      }
      return verifyPkcs7MessageSig(msg, content, keys, label, 'module', keyrings);
    });
    report.ok = true;
    return report;
  } catch (e) {
    const enokey = e instanceof KexecError && e.errno === 'ENOKEY';
    return refuse(e, report, opts.source, enokey ? "add the signing certificate (or its CA) to the machine's secondary or platform keyring" : undefined);
  }
}

/**
 * The content digest IMA collects for a modsig (ima_collect_modsig -> pkcs7_get_digest): the bytes before the
 * signature, hashed with the first signer's digest algorithm. The key of "bin:" blacklist entries that
 * ima_check_blacklist looks up. undefined when the file carries no readable appended signature.
 */
export function modsigContentDigest(buf: Uint8Array, opts: Pkcs7Options = {}): { algo: string; hex: string } | undefined {
  try {
    const sig = parseAppendedSignature(buf);
    const msg = pkcs7ParseMessage(buf.subarray(sig.sigOffset, sig.sigOffset + sig.sigLength), opts);
    const algo = msg.signedInfos[0]?.hashAlgo;
    if (!algo) return undefined;
    return { algo, hex: createHash(algo).update(buf.subarray(0, sig.contentLength)).digest('hex') };
  } catch (e) {
    if (e instanceof KexecError) return undefined;
    throw e;
  }
}
