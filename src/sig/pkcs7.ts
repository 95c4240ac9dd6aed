// PKCS#7 / CMS SignedData as the kernel parses and checks it: crypto/asymmetric_keys/pkcs7_parser.c
// (structure, versions, authenticated attributes), pkcs7_verify.c (message digest, signer signature, the
// certificate chain inside the message, blacklisted certificates), pkcs7_trust.c (meeting a trusted key) and
// certs/system_keyring.c verify_pkcs7_message_sig (the order of those steps and the revocation list).
// Primitive signature checks use node:crypto; the chain and trust logic are the kernel's, not a PKI library's.

import { createHash } from 'node:crypto';
import { KexecError, type ErrnoName } from '../errno.js';
import {
  TAG_CLASS, UNIV, badmsg, children, content, decodeBer, decodeTime, isContext, isUniversal, oidFromContent, oidOf, raw, toHex,
  type Node,
} from './der.js';
import type { Keyrings } from './keyring.js';
import { HASH_OIDS, HASH_SIZES, NODE_HASHES, OID, PKCS7_PKEY_ALGOS, type HashName } from './oids.js';
import { formatName, publicKeyVerify, x509CertParse, type PkeyAlgo, type X509Cert } from './x509.js';

export const RULE_PKCS7_PARSE = 'pkcs7_parse_message';
export const RULE_PKCS7_VERIFY = 'pkcs7_verify';
export const RULE_PKCS7_TRUST = 'pkcs7_validate_trust';
export const RULE_REVOCATION = 'is_key_on_revocation_list';

/** VERIFYING_KEXEC_PE_SIGNATURE or VERIFYING_MODULE_SIGNATURE (module-style appended signatures). */
export type Pkcs7Usage = 'kexec-pe' | 'module';

export interface Pkcs7Options {
  /** Accept SHA-1 digests, as kernels before its final removal do (6.1 does). Default true. */
  allowSha1?: boolean;
}

/** A certificate carried in the message, with the kernel's per-verification marks. */
export interface MsgCert {
  cert: X509Cert;
  index: number;
  signer: MsgCert | undefined;
  seen: boolean;
  verified: boolean;
  blacklisted: boolean;
}

/** A signature to check: what was signed, how, and the signature bytes. */
interface Sig {
  data: Uint8Array;
  hash: HashName;
  pkey: PkeyAlgo;
  s: Uint8Array;
}

export interface SignedInfo {
  index: number;
  version: number;
  /** issuerAndSerialNumber (version 1) or subjectKeyIdentifier (version 3). */
  sid: { kind: 'issuerAndSerial'; issuer: Uint8Array; issuerText: string; serial: string } | { kind: 'skid'; skid: string };
  /** auth_ids[0]: the key ID the kernel looks the signer up by. */
  authId: string;
  hashAlgo: HashName | undefined;
  hashOid: string;
  pkeyAlgo: PkeyAlgo;
  /** The SET-tagged authenticated attributes, as digested. */
  authattrs: Uint8Array | undefined;
  msgDigest: Uint8Array | undefined;
  signingTime: Date | undefined;
  signature: Uint8Array;
  signer: MsgCert | undefined;
  blacklisted: boolean;
  unsupportedCrypto: boolean;
}

export interface Pkcs7Message {
  version: number;
  certs: MsgCert[];
  dataType: string;
  /** Content octets of the encapsulated content (what the message digest covers), if any. */
  data: Uint8Array | undefined;
  /** The whole encapsulated content element (what mscode_parse reads). */
  dataElement: Uint8Array | undefined;
  signedInfos: SignedInfo[];
  haveAuthattrs: boolean;
}

/** How a trusted key met a signature chain (pkcs7_validate_trust_one's three ways). */
export interface TrustMatch {
  key: X509Cert;
  via: 'certificate in message is trusted' | 'trusted key signed the top certificate' | 'trusted key signed directly';
  signerInfo: number;
}

const err = (errno: ErrnoName, rule: string, detail: string, hint: string): KexecError => new KexecError(errno, rule, detail, { hint });
const RESIGN = 'the signature is malformed or made by an unusual tool; re-sign the image with sbsign, pesign or sign-file';

function integerByte(n: Node | undefined, what: string): number {
  if (!isUniversal(n, UNIV.INTEGER)) throw badmsg(RULE_PKCS7_PARSE, `${what}: expected an INTEGER`);
  const c = content(n);
  return c.length === 1 ? c[0]! : -1;
}

function digestAlgo(n: Node | undefined, opts: Pkcs7Options, what: string): { hash: HashName | undefined; oid: string } {
  if (!isUniversal(n, UNIV.SEQUENCE)) throw badmsg(RULE_PKCS7_PARSE, `${what}: AlgorithmIdentifier is not a SEQUENCE`);
  const oid = oidOf(children(n, RULE_PKCS7_PARSE, what)[0], RULE_PKCS7_PARSE, what);
  const hash = HASH_OIDS[oid];
  // pkcs7_sig_note_digest_algo: SHA-1, SHA-2, SHA-3, SM3 and Streebog are known; anything else is ENOPKG.
  if (!hash || hash === 'md4' || hash === 'md5' || (hash === 'sha1' && opts.allowSha1 === false)) {
    throw err('ENOPKG', RULE_PKCS7_PARSE, `${what}: unsupported digest algorithm ${hash ?? oid}`, 'sign with SHA-256 (sbsign and sign-file default to it)');
  }
  return { hash: NODE_HASHES.has(hash) ? hash : undefined, oid };
}

function parseSignedInfo(n: Node, msg: Pkcs7Message, index: number, opts: Pkcs7Options): SignedInfo {
  const what = `signer #${index}`;
  if (!isUniversal(n, UNIV.SEQUENCE)) throw badmsg(RULE_PKCS7_PARSE, `${what}: SignerInfo is not a SEQUENCE`);
  const parts = children(n, RULE_PKCS7_PARSE, what);
  let i = 0;
  const version = integerByte(parts[i++], `${what} version`);
  if (version === 1) {
    if (msg.version !== 1) throw badmsg(RULE_PKCS7_PARSE, `${what}: SignerInfo version 1 inside SignedData version ${msg.version}`);
  } else if (version === 3) {
    if (msg.version === 1) throw badmsg(RULE_PKCS7_PARSE, `${what}: SignerInfo version 3 inside SignedData version 1`);
  } else {
    throw err('EINVAL', RULE_PKCS7_PARSE, `${what}: unsupported SignerInfo version`, RESIGN);
  }

  const sidNode = parts[i++];
  let sid: SignedInfo['sid'];
  if (isUniversal(sidNode, UNIV.SEQUENCE)) {
    const [issuer, serial] = children(sidNode, RULE_PKCS7_PARSE, what);
    if (!isUniversal(issuer, UNIV.SEQUENCE) || !isUniversal(serial, UNIV.INTEGER)) throw badmsg(RULE_PKCS7_PARSE, `${what}: bad issuerAndSerialNumber`);
    let issuerText: string;
    try {
      issuerText = formatName(issuer);
    } catch {
      issuerText = toHex(content(issuer)); // the kernel compares the raw bytes and never reads the Name
    }
    sid = { kind: 'issuerAndSerial', issuer: content(issuer), issuerText, serial: toHex(content(serial)) };
  } else if (isContext(sidNode, 0) && !sidNode.idBlock.isConstructed) {
    sid = { kind: 'skid', skid: toHex(content(sidNode)) };
  } else {
    throw badmsg(RULE_PKCS7_PARSE, `${what}: bad SignerIdentifier`);
  }
  // The key ID follows the SignerInfo version, whichever identifier form was actually used.
  const authId =
    version === 1
      ? sid.kind === 'issuerAndSerial' ? sid.serial + toHex(sid.issuer) : ''
      : sid.kind === 'skid' ? sid.skid : '';

  const { hash: hashAlgo, oid: hashOid } = digestAlgo(parts[i++], opts, `${what} digestAlgorithm`);

  const sinfo: SignedInfo = {
    index, version, sid, authId, hashAlgo, hashOid, pkeyAlgo: 'rsa', authattrs: undefined, msgDigest: undefined,
    signingTime: undefined, signature: new Uint8Array(0), signer: undefined, blacklisted: false, unsupportedCrypto: false,
  };

  const aa = parts[i];
  const aaTag = aa && aa.idBlock.tagClass === TAG_CLASS.context ? aa.idBlock.tagNumber : -1;
  if (aa && (aaTag === 0 || aaTag === 2)) {
    i++;
    // [0] IMPLICIT SET OF attributes, or the [2] EXPLICIT SEQUENCE OF form, which the kernel never digests.
    const implicitSet = aaTag === 0;
    const seen = new Set<string>();
    const attrs = implicitSet ? children(aa, RULE_PKCS7_PARSE, what) : children(children(aa, RULE_PKCS7_PARSE, what)[0] ?? aa, RULE_PKCS7_PARSE, what);
    for (const attr of attrs) noteAuthenticatedAttr(attr, sinfo, msg, seen, what);
    if (implicitSet) {
      // pkcs7_sig_note_set_of_authattrs
      if (!seen.has(OID.contentType) || !seen.has(OID.messageDigest)) throw badmsg(RULE_PKCS7_PARSE, `${what}: authenticated attributes lack contentType or messageDigest`);
      if (msg.dataType !== OID.msIndirectData && seen.has(OID.msSpOpusInfo)) throw badmsg(RULE_PKCS7_PARSE, `${what}: Authenticode attribute outside Authenticode`);
      const enc = new Uint8Array(raw(aa));
      enc[0] = 0x31; // digested as a SET OF, not as the [0] IMPLICIT it is encoded as
      sinfo.authattrs = enc;
    }
  }

  const pkeyNode = parts[i++];
  if (!isUniversal(pkeyNode, UNIV.SEQUENCE)) throw badmsg(RULE_PKCS7_PARSE, `${what}: digestEncryptionAlgorithm is not a SEQUENCE`);
  const pkeyOid = oidOf(children(pkeyNode, RULE_PKCS7_PARSE, what)[0], RULE_PKCS7_PARSE, what);
  const pkeyAlgo = PKCS7_PKEY_ALGOS[pkeyOid];
  if (!pkeyAlgo) throw err('ENOPKG', RULE_PKCS7_PARSE, `${what}: unsupported signature algorithm ${pkeyOid}`, 'sign with an RSA or ECDSA key');
  sinfo.pkeyAlgo = pkeyAlgo;

  const sigNode = parts[i++];
  if (!isUniversal(sigNode, UNIV.OCTET_STRING)) throw badmsg(RULE_PKCS7_PARSE, `${what}: encryptedDigest is not an OCTET STRING`);
  sinfo.signature = content(sigNode);
  if (i < parts.length && (isContext(parts[i], 1) || isContext(parts[i], 3))) i++;
  if (i !== parts.length) throw badmsg(RULE_PKCS7_PARSE, `${what}: unexpected trailing fields in SignerInfo`);

  // pkcs7_note_signed_info
  if (msg.dataType === OID.msIndirectData && !sinfo.authattrs) throw badmsg(RULE_PKCS7_PARSE, `${what}: Authenticode requires authenticated attributes`);
  return sinfo;
}

/** pkcs7_sig_note_authenticated_attr: one value per attribute, each attribute once. */
function noteAuthenticatedAttr(attr: Node, sinfo: SignedInfo, msg: Pkcs7Message, seen: Set<string>, what: string): void {
  const [typeNode, values] = children(attr, RULE_PKCS7_PARSE, what);
  const type = oidOf(typeNode, RULE_PKCS7_PARSE, `${what} attribute`);
  if (!isUniversal(values, UNIV.SET)) throw badmsg(RULE_PKCS7_PARSE, `${what}: attribute values are not a SET`);
  const tracked: string[] = [OID.contentType, OID.signingTime, OID.messageDigest, OID.smimeCapabilites, OID.msSpOpusInfo, OID.msStatementType];
  for (const value of children(values, RULE_PKCS7_PARSE, what)) {
    if (!tracked.includes(type)) continue;
    if (seen.has(type)) {
      throw err('EKEYREJECTED', RULE_PKCS7_PARSE, `${what}: repeated or multi-valued authenticated attribute ${type}`, RESIGN);
    }
    seen.add(type);
    switch (type) {
      case OID.contentType:
        if (oidFromContent(content(value)) !== msg.dataType) throw badmsg(RULE_PKCS7_PARSE, `${what}: contentType attribute differs from the message's content type`);
        break;
      case OID.signingTime:
        sinfo.signingTime = decodeTime(value, RULE_PKCS7_PARSE, `${what} signingTime`);
        break;
      case OID.messageDigest:
        if (!isUniversal(value, UNIV.OCTET_STRING) || value.idBlock.isConstructed) throw badmsg(RULE_PKCS7_PARSE, `${what}: messageDigest is not an OCTET STRING`);
        sinfo.msgDigest = content(value);
        break;
      case OID.smimeCapabilites:
        if (msg.dataType !== OID.msIndirectData) throw err('EKEYREJECTED', RULE_PKCS7_PARSE, `${what}: S/MIME capabilities outside Authenticode`, RESIGN);
        break;
      default:
        if (msg.dataType !== OID.msIndirectData) throw err('EKEYREJECTED', RULE_PKCS7_PARSE, `${what}: Authenticode attribute outside Authenticode`, RESIGN);
    }
  }
}

/** pkcs7_parse_message. EBADMSG for malformed ASN.1; EINVAL, ENOPKG, EKEYREJECTED as the parser's actions give them. */
export function pkcs7ParseMessage(der: Uint8Array, opts: Pkcs7Options = {}): Pkcs7Message {
  const root = decodeBer(der, RULE_PKCS7_PARSE, 'PKCS#7 message');
  if (!isUniversal(root, UNIV.SEQUENCE)) throw badmsg(RULE_PKCS7_PARSE, 'PKCS#7 ContentInfo is not a SEQUENCE');
  const [ctNode, wrapped] = children(root, RULE_PKCS7_PARSE, 'ContentInfo');
  const ct = oidOf(ctNode, RULE_PKCS7_PARSE, 'ContentInfo contentType');
  if (ct !== OID.signedData) throw err('EINVAL', RULE_PKCS7_PARSE, `PKCS#7 content type ${ct} is not signedData`, RESIGN);
  const msg: Pkcs7Message = {
    version: 0, certs: [], dataType: '', data: undefined, dataElement: undefined, signedInfos: [], haveAuthattrs: false,
  };
  if (wrapped !== undefined) {
    if (!isContext(wrapped, 0)) throw badmsg(RULE_PKCS7_PARSE, 'ContentInfo content is not [0]');
    const sd = children(wrapped, RULE_PKCS7_PARSE, 'ContentInfo')[0];
    if (!isUniversal(sd, UNIV.SEQUENCE)) throw badmsg(RULE_PKCS7_PARSE, 'SignedData is not a SEQUENCE');
    parseSignedData(sd, msg, opts);
  }
  // pkcs7_check_authattrs
  const first = msg.signedInfos[0];
  if (!first || msg.signedInfos.some((s) => !!s.authattrs !== !!first.authattrs)) {
    throw err('EINVAL', RULE_PKCS7_PARSE, first ? 'signers disagree on carrying authenticated attributes' : 'PKCS#7 message has no signer', RESIGN);
  }
  msg.haveAuthattrs = !!first.authattrs;
  return msg;
}

function parseSignedData(sd: Node, msg: Pkcs7Message, opts: Pkcs7Options): void {
  const parts = children(sd, RULE_PKCS7_PARSE, 'SignedData');
  let i = 0;
  msg.version = integerByte(parts[i++], 'SignedData version');
  if (msg.version !== 1 && msg.version !== 3) throw err('EINVAL', RULE_PKCS7_PARSE, 'unsupported SignedData version', RESIGN);
  const digestAlgs = parts[i++];
  if (!isUniversal(digestAlgs, UNIV.SET) && !isUniversal(digestAlgs, UNIV.SEQUENCE)) throw badmsg(RULE_PKCS7_PARSE, 'SignedData digestAlgorithms is not a SET');

  const ci = parts[i++];
  if (!isUniversal(ci, UNIV.SEQUENCE)) throw badmsg(RULE_PKCS7_PARSE, 'encapsulated ContentInfo is not a SEQUENCE');
  const [typeNode, explicit] = children(ci, RULE_PKCS7_PARSE, 'encapsulated ContentInfo');
  msg.dataType = oidOf(typeNode, RULE_PKCS7_PARSE, 'encapsulated content type');
  if (explicit !== undefined) {
    if (!isContext(explicit, 0)) throw badmsg(RULE_PKCS7_PARSE, 'encapsulated content is not [0]');
    const [inner] = children(explicit, RULE_PKCS7_PARSE, 'encapsulated content');
    if (inner) {
      msg.data = content(inner);
      msg.dataElement = raw(inner);
    }
  }
  // pkcs7_note_content
  if (msg.dataType !== OID.data && msg.dataType !== OID.msIndirectData) {
    throw err('EINVAL', RULE_PKCS7_PARSE, `unsupported encapsulated content type ${msg.dataType}`, RESIGN);
  }

  if (isContext(parts[i], 0) || isContext(parts[i], 2)) {
    for (const c of children(parts[i]!, RULE_PKCS7_PARSE, 'certificates')) {
      if (!isUniversal(c, UNIV.SEQUENCE)) throw badmsg(RULE_PKCS7_PARSE, 'certificate list holds something other than an X.509 certificate');
      const index = msg.certs.length + 1;
      msg.certs.push({ cert: x509CertParse(raw(c), `PKCS#7 certificate #${index}`), index, signer: undefined, seen: false, verified: false, blacklisted: false });
    }
    i++;
  }
  if (isContext(parts[i], 1) || isContext(parts[i], 3)) i++;
  const sis = parts[i++];
  if (!isUniversal(sis, UNIV.SET) && !isUniversal(sis, UNIV.SEQUENCE)) throw badmsg(RULE_PKCS7_PARSE, 'SignedData signerInfos is not a SET');
  if (i !== parts.length) throw badmsg(RULE_PKCS7_PARSE, 'unexpected trailing fields in SignedData');
  for (const s of children(sis, RULE_PKCS7_PARSE, 'signerInfos')) {
    msg.signedInfos.push(parseSignedInfo(s, msg, msg.signedInfos.length + 1, opts));
  }
}

// ---- pkcs7_verify -------------------------------------------------------------------------------------------

export function describeSid(s: SignedInfo): string {
  return s.sid.kind === 'skid' ? `subjectKeyIdentifier ${s.sid.skid}` : `serial ${s.sid.serial} issued by "${s.sid.issuerText}"`;
}

/** What a signer info's signature covers: the authenticated attributes if present, else the content. */
function signedBytes(msg: Pkcs7Message, s: SignedInfo): Uint8Array {
  return s.authattrs ?? msg.data ?? new Uint8Array(0);
}

function sinfoSig(msg: Pkcs7Message, s: SignedInfo): Sig {
  return { data: signedBytes(msg, s), hash: s.hashAlgo!, pkey: s.pkeyAlgo, s: s.signature };
}

function certSig(c: X509Cert): Sig {
  return { data: c.tbs, hash: c.sigHashAlgo, pkey: c.sigPkeyAlgo, s: c.signature };
}

function verifySig(key: X509Cert, sig: Sig): boolean {
  return publicKeyVerify(key.publicKey, key.pkeyAlgo, sig.pkey, sig.hash, sig.data, sig.s);
}

/** pkcs7_digest: the content digest must equal the messageDigest attribute, when attributes are present. */
function pkcs7Digest(msg: Pkcs7Message, s: SignedInfo): void {
  if (!s.hashAlgo) throw err('ENOPKG', RULE_PKCS7_VERIFY, `signer #${s.index}: digest ${s.hashOid} is not available`, 'sign with SHA-256');
  if (!s.authattrs) return;
  const digest = createHash(s.hashAlgo).update(msg.data ?? new Uint8Array(0)).digest();
  if (!s.msgDigest) throw err('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: no messageDigest attribute`, RESIGN);
  if (s.msgDigest.length !== HASH_SIZES[s.hashAlgo]) throw badmsg(RULE_PKCS7_VERIFY, `signer #${s.index}: messageDigest is ${s.msgDigest.length} bytes, ${s.hashAlgo} gives ${HASH_SIZES[s.hashAlgo]}`);
  if (!digest.equals(s.msgDigest)) {
    throw err('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: the signed content does not match its messageDigest attribute (message digest doesn't match)`, 'the signature was altered after signing; re-sign the image');
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
    throw err('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: signed at ${s.signingTime.toISOString()}, outside the validity of "${signer.subject}" (${signer.validFrom.toISOString()} .. ${signer.validTo.toISOString()})`,
      'sign again with a certificate valid at signing time');
  }
  if (!verifySig(signer, sinfoSig(msg, s))) {
    throw err('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: the ${s.pkeyAlgo.toUpperCase()}/${s.hashAlgo} signature does not verify with the signer certificate "${signer.subject}"`,
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
        throw err('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: certificate chain has an authorityKeyIdentifier mismatch at "${x509.cert.subject}"`, RESIGN);
      }
    } else if (auth1 !== undefined) {
      p = msg.certs.find((c) => c.cert.skid === auth1);
    }
    if (!p || p.seen) return;
    if (x509.cert.unsupportedSig) throw err('ENOPKG', RULE_PKCS7_VERIFY, `"${x509.cert.subject}" is signed with ${x509.cert.sigHashAlgo}, which is not available`, 'use SHA-2 certificates');
    if (!verifySig(p.cert, certSig(x509.cert))) {
      throw err('EKEYREJECTED', RULE_PKCS7_VERIFY, `signer #${s.index}: certificate "${x509.cert.subject}" is not validly signed by "${p.cert.subject}" in the message`, RESIGN);
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
    throw err('EKEYREJECTED', RULE_PKCS7_VERIFY, `the PE signature is not Authenticode (content type ${msg.dataType}, expected SpcIndirectDataContent ${OID.msIndirectData})`,
      'sign the image with sbsign or pesign, which make Authenticode signatures');
  }
  if (usage === 'module') {
    if (msg.dataType !== OID.data) throw err('EKEYREJECTED', RULE_PKCS7_VERIFY, `the appended signature's content type is ${msg.dataType}, not pkcs7-data`, 'sign with scripts/sign-file or openssl cms -sign -binary -noattr');
    if (msg.haveAuthattrs) throw err('EKEYREJECTED', RULE_PKCS7_VERIFY, 'the appended signature carries authenticated attributes', 'sign with -noattr (scripts/sign-file does)');
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
    throw err('EKEYREJECTED', RULE_PKCS7_VERIFY, `signing certificate is blacklisted: ${bad.join(', ')}`,
      'the signer was revoked; sign the image with a certificate that is not on the blacklist');
  }
  if (actual === 'ENOPKG') throw lastProblem ?? err('ENOPKG', RULE_PKCS7_VERIFY, 'no signer could be checked', 'sign with RSA or ECDSA and SHA-256');
}

// ---- pkcs7_validate_trust -----------------------------------------------------------------------------------

/**
 * find_asymmetric_key: a key whose IDs (issuer+serial, subjectKeyIdentifier) include the first given ID;
 * when both IDs are given the key's SKID must equal the second (else EKEYREJECTED).
 */
function findAsymmetricKey(keys: readonly X509Cert[], id0: string | undefined, id1: string | undefined): X509Cert | 'ENOKEY' | 'EKEYREJECTED' {
  const lookup = id0 ?? id1;
  if (lookup === undefined) return 'ENOKEY';
  const key = keys.find((k) => k.id === lookup || k.skid === lookup);
  if (!key) return 'ENOKEY';
  if (id0 !== undefined && id1 !== undefined && key.skid !== id1) return 'EKEYREJECTED';
  return key;
}

/** pkcs7_validate_trust_one: one signer's chain against the trusted keys. */
function pkcs7ValidateTrustOne(msg: Pkcs7Message, s: SignedInfo, keys: readonly X509Cert[]): TrustMatch {
  const noKey = (why: string): KexecError => err('ENOKEY', RULE_PKCS7_TRUST, `signer #${s.index}: ${why}`, 'add the signing CA certificate to a trusted keyring');
  if (s.unsupportedCrypto) throw err('ENOPKG', RULE_PKCS7_TRUST, `signer #${s.index}: its crypto is not available`, 'sign with RSA or ECDSA and SHA-256');
  let sig = sinfoSig(msg, s);
  let last: MsgCert | undefined;
  let matched: { key: X509Cert; x509: MsgCert | undefined; via: TrustMatch['via'] } | undefined;
  for (let x509 = s.signer; x509; x509 = x509.signer) {
    if (x509.seen) {
      if (x509.verified) return { key: x509.cert, via: 'certificate in message is trusted', signerInfo: s.index };
      throw noKey('chain loops without meeting a trusted key');
    }
    x509.seen = true;
    const key = findAsymmetricKey(keys, x509.cert.id, x509.cert.skid);
    if (typeof key !== 'string') {
      matched = { key, x509, via: 'certificate in message is trusted' };
      break;
    }
    if (x509.signer === x509) throw noKey(`chain ends in the self-signed "${x509.cert.subject}", which no searched keyring holds`);
    last = x509;
    sig = certSig(x509.cert);
  }
  if (!matched && last && (last.cert.authIds[0] !== undefined || last.cert.authIds[1] !== undefined)) {
    const key = findAsymmetricKey(keys, last.cert.authIds[0], last.cert.authIds[1]);
    if (key === 'EKEYREJECTED') throw err('EKEYREJECTED', RULE_PKCS7_TRUST, `signer #${s.index}: the trusted key named by "${last.cert.subject}"'s authorityKeyIdentifier has a different subjectKeyIdentifier`, RESIGN);
    if (key !== 'ENOKEY') matched = { key, x509: last, via: 'trusted key signed the top certificate' };
  }
  if (!matched) {
    const key = findAsymmetricKey(keys, s.authId, undefined);
    if (key === 'EKEYREJECTED') throw err('EKEYREJECTED', RULE_PKCS7_TRUST, `signer #${s.index}: key ID mismatch`, RESIGN);
    if (key === 'ENOKEY') {
      const top = last ?? s.signer;
      throw noKey(top ? `no searched keyring holds "${top.cert.subject}" or its issuer "${top.cert.issuer}"` : `no searched keyring holds the signing key (${describeSid(s)})`);
    }
    matched = { key, x509: undefined, via: 'trusted key signed directly' };
    sig = sinfoSig(msg, s);
  }
  if (!verifySig(matched.key, sig)) {
    throw err('EKEYREJECTED', RULE_PKCS7_TRUST, `signer #${s.index}: trusted key "${matched.key.subject}" matches by ID but does not verify the signature`,
      'a different key with the same identifiers is in the keyring; check which certificate was added');
  }
  if (matched.x509) {
    matched.x509.verified = true;
    for (let p = s.signer; p && p !== matched.x509; p = p.signer) p.verified = true;
  }
  return { key: matched.key, via: matched.via, signerInfo: s.index };
}

/**
 * pkcs7_validate_trust: at least one signer's chain must meet `keys`. Throws ENOKEY (none), ENOPKG (only
 * unsupported crypto) or EKEYREJECTED (a trusted key failed to verify); returns the first match.
 */
export function pkcs7ValidateTrust(msg: Pkcs7Message, keys: readonly X509Cert[], keyringLabel: string): TrustMatch {
  for (const c of msg.certs) c.seen = false;
  let cached: 'ENOKEY' | 'ENOPKG' = 'ENOKEY';
  let found: TrustMatch | undefined;
  let lastNoKey: KexecError | undefined;
  for (const s of msg.signedInfos) {
    try {
      const m = pkcs7ValidateTrustOne(msg, s, keys);
      found ??= m;
    } catch (e) {
      if (!(e instanceof KexecError)) throw e;
      if (e.errno === 'ENOKEY') lastNoKey = e;
      else if (e.errno === 'ENOPKG') cached = 'ENOPKG';
      else throw e;
    }
  }
  if (found) return found;
  if (cached === 'ENOPKG') throw err('ENOPKG', RULE_PKCS7_TRUST, 'no signer uses crypto this kernel has', 'sign with RSA or ECDSA and SHA-256');
  throw new KexecError('ENOKEY', RULE_PKCS7_TRUST, `${lastNoKey?.message ?? 'no signer'} (searched ${keyringLabel}, ${keys.length} certificate${keys.length === 1 ? '' : 's'})`, {
    hint: lastNoKey?.hint ?? 'add the signing CA certificate to a trusted keyring',
  });
}

/** is_key_on_revocation_list: a chain meeting a revoked certificate (in .blacklist) is EKEYREJECTED. */
export function isKeyOnRevocationList(msg: Pkcs7Message, revoked: readonly X509Cert[]): void {
  if (revoked.length === 0) return;
  let m: TrustMatch;
  try {
    m = pkcs7ValidateTrust(msg, revoked, '.blacklist');
  } catch (e) {
    if (e instanceof KexecError) return;
    throw e;
  }
  throw err('EKEYREJECTED', RULE_REVOCATION, `the signature chains to the revoked certificate "${m.key.subject}" in .blacklist`,
    'the signing key was revoked; sign the image with a certificate that is not revoked');
}

/**
 * verify_pkcs7_message_sig after parsing: supply detached data, check the message, the revocation list,
 * then trust against `keys`. Returns how trust was established.
 */
export function verifyPkcs7MessageSig(
  msg: Pkcs7Message,
  detachedData: Uint8Array | undefined,
  keys: readonly X509Cert[],
  keyringLabel: string,
  usage: Pkcs7Usage,
  keyrings: Keyrings | undefined,
): TrustMatch {
  if (detachedData !== undefined) {
    if (msg.data !== undefined) throw badmsg('verify_pkcs7_message_sig', 'PKCS#7 signature with non-detached data where a detached signature is required');
    msg.data = detachedData;
  }
  pkcs7Verify(msg, usage, keyrings);
  isKeyOnRevocationList(msg, keyrings?.revokedCerts() ?? []);
  return pkcs7ValidateTrust(msg, keys, keyringLabel);
}
