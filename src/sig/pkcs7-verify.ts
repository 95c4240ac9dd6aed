// crypto/asymmetric_keys/pkcs7_verify.c: the message digest, each signer's signature, the certificate chain
// inside the message and blacklisted certificates. Primitive signature checks use node:crypto; the chain
// logic is the kernel's, not a PKI library's.

import { createHash } from 'node:crypto';
import { KexecError } from '../errno.js';
import { badmsg } from './der.js';
import type { Keyrings } from './keyring.js';
import { HASH_SIZES, OID, type HashName } from './oids.js';
import { publicKeyVerify, type PkeyAlgo, type X509Cert } from './x509.js';
import { pkcs7Error, RESIGN, RULE_PKCS7_VERIFY, type MsgCert, type Pkcs7Message, type Pkcs7Usage, type SignedInfo } from './pkcs7.js';

/** A signature to check: what was signed, how, and the signature bytes. */
interface Sig {
  data: Uint8Array;
  hash: HashName;
  pkey: PkeyAlgo;
  s: Uint8Array;
}

export function describeSid(s: SignedInfo): string {
  return s.sid.kind === 'skid' ? `subjectKeyIdentifier ${s.sid.skid}` : `serial ${s.sid.serial} issued by "${s.sid.issuerText}"`;
}

/** What a signer info's signature covers: the authenticated attributes if present, else the content. */
function signedBytes(msg: Pkcs7Message, s: SignedInfo): Uint8Array {
  return s.authattrs ?? msg.data ?? new Uint8Array(0);
}

export function sinfoSig(msg: Pkcs7Message, s: SignedInfo): Sig {
  return { data: signedBytes(msg, s), hash: s.hashAlgo!, pkey: s.pkeyAlgo, s: s.signature };
}

export function certSig(c: X509Cert): Sig {
  return { data: c.tbs, hash: c.sigHashAlgo, pkey: c.sigPkeyAlgo, s: c.signature };
}

export function verifySig(key: X509Cert, sig: Sig): boolean {
  return publicKeyVerify(key.publicKey, key.pkeyAlgo, sig.pkey, sig.hash, sig.data, sig.s);
}

/** pkcs7_digest: the content digest must equal the messageDigest attribute, when attributes are present. */
function pkcs7Digest(msg: Pkcs7Message, s: SignedInfo): void {
  if (!s.hashAlgo) throw pkcs7Error('ENOPKG', RULE_PKCS7_VERIFY, `signer #${s.index}: digest ${s.hashOid} is not available`, 'sign with SHA-256');
  if (!s.authattrs) return;
  const digest = createHash(s.hashAlgo).update(msg.data ?? new Uint8Array(0)).digest();
  if (!s.msgDigest) throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: no messageDigest attribute`, RESIGN);
  if (s.msgDigest.length !== HASH_SIZES[s.hashAlgo]) throw badmsg(RULE_PKCS7_VERIFY, `signer #${s.index}: messageDigest is ${s.msgDigest.length} bytes, ${s.hashAlgo} gives ${HASH_SIZES[s.hashAlgo]}`);
  if (!digest.equals(s.msgDigest)) {
    throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: the signed content does not match its messageDigest attribute (message digest doesn't match)`, 'the signature was altered after signing; re-sign the image');
  }
}

/** pkcs7_verify_one: one signer's digest and signature chain. */
function pkcs7VerifyOne(msg: Pkcs7Message, s: SignedInfo, keyrings: Keyrings | undefined): void {
  pkcs7Digest(msg, s);
  // pkcs7_find_key: the signer's certificate is looked up in the message by issuer+serial only.
  s.signer = msg.certs.find((c) => c.cert.id === s.authId);
  if (!s.signer) return;
  const signer = s.signer.cert;
  if (s.signingTime && (s.signingTime < signer.validFrom || s.signingTime > signer.validTo)) {
    throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: signed at ${s.signingTime.toISOString()}, outside the validity of "${signer.subject}" (${signer.validFrom.toISOString()} .. ${signer.validTo.toISOString()})`,
      'sign again with a certificate valid at signing time');
  }
  if (!verifySig(signer, sinfoSig(msg, s))) {
    throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: the ${s.pkeyAlgo.toUpperCase()}/${s.hashAlgo} signature does not verify with the signer certificate "${signer.subject}"`,
      'the signature or the signer certificate was altered; re-sign the image');
  }
  pkcs7VerifySigChain(msg, s, keyrings);
}

/** pkcs7_verify_sig_chain: follow issuers through the message's certificates, checking each link. */
function pkcs7VerifySigChain(msg: Pkcs7Message, s: SignedInfo, keyrings: Keyrings | undefined): void {
  for (const c of msg.certs) c.seen = false;
  let x509 = s.signer!;
  for (;;) {
    x509.seen = true;
    if (x509.blacklisted || (keyrings?.isCertBlacklisted(x509.cert) ?? false)) {
      x509.blacklisted = true;
      s.blacklisted = true;
      for (let p = s.signer!; p !== x509; p = p.signer!) p.blacklisted = true;
      return;
    }
    if (x509.cert.selfSigned) {
      if (!x509.cert.unsupportedSig) x509.signer = x509;
      return;
    }
    const [auth0, auth1] = x509.cert.authIds;
    let p: MsgCert | undefined;
    if (auth0 !== undefined) {
      p = msg.certs.find((c) => c.cert.id === auth0);
      if (p && auth1 !== undefined && p.cert.skid !== auth1) {
        throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: certificate chain has an authorityKeyIdentifier mismatch at "${x509.cert.subject}"`, RESIGN);
      }
    } else if (auth1 !== undefined) {
      p = msg.certs.find((c) => c.cert.skid === auth1);
    }
    if (!p || p.seen) return;
    if (x509.cert.unsupportedSig) throw pkcs7Error('ENOPKG', RULE_PKCS7_VERIFY, `"${x509.cert.subject}" is signed with ${x509.cert.sigHashAlgo}, which is not available`, 'use SHA-2 certificates');
    if (!verifySig(p.cert, certSig(x509.cert))) {
      throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: certificate "${x509.cert.subject}" is not validly signed by "${p.cert.subject}" in the message`, RESIGN);
    }
    x509.signer = p;
    if (x509 === p) return;
    x509 = p;
  }
}

/**
 * pkcs7_verify: internal consistency of every signer. A blacklisted chain makes the result EKEYREJECTED
 * unless another signer passes; unsupported crypto alone gives ENOPKG.
 */
export function pkcs7Verify(msg: Pkcs7Message, usage: Pkcs7Usage, keyrings?: Keyrings): void {
  if (usage === 'kexec-pe' && msg.dataType !== OID.msIndirectData) {
    throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_VERIFY, `the PE signature is not Authenticode (content type ${msg.dataType}, expected SpcIndirectDataContent ${OID.msIndirectData})`,
      'sign the image with sbsign or pesign, which make Authenticode signatures');
  }
  if (usage === 'module') {
    if (msg.dataType !== OID.data) throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_VERIFY, `the appended signature's content type is ${msg.dataType}, not pkcs7-data`, 'sign with scripts/sign-file or openssl cms -sign -binary -noattr');
    if (msg.haveAuthattrs) throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_VERIFY, 'the appended signature carries authenticated attributes', 'sign with -noattr (scripts/sign-file does)');
  }
  let actual: 'ok' | 'ENOPKG' | 'EKEYREJECTED' = 'ENOPKG';
  let lastProblem: KexecError | undefined;
  for (const s of msg.signedInfos) {
    let failure: KexecError | undefined;
    try {
      pkcs7VerifyOne(msg, s, keyrings);
    } catch (e) {
      if (!(e instanceof KexecError)) throw e;
      failure = e;
    }
    if (s.blacklisted) {
      if (actual === 'ENOPKG') actual = 'EKEYREJECTED';
      continue;
    }
    if (failure) {
      if (failure.errno !== 'ENOPKG') throw failure;
      s.unsupportedCrypto = true;
      lastProblem = failure;
      continue;
    }
    actual = 'ok';
  }
  if (actual === 'EKEYREJECTED') {
    const bad = msg.certs.filter((c) => c.blacklisted).map((c) => `"${c.cert.subject}" (tbs:${c.cert.tbsHash})`);
    throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_VERIFY, `signing certificate is blacklisted: ${bad.join(', ')}`,
      'the signer was revoked; sign the image with a certificate that is not on the blacklist');
  }
  if (actual === 'ENOPKG') throw lastProblem ?? pkcs7Error('ENOPKG', RULE_PKCS7_VERIFY, 'no signer could be checked', 'sign with RSA or ECDSA and SHA-256');
}
