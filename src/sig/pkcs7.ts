// PKCS#7 / CMS SignedData as the kernel parses it: crypto/asymmetric_keys/pkcs7_parser.c (structure,
// versions, authenticated attributes). The checks are pkcs7-verify.ts (pkcs7_verify.c) and pkcs7-trust.ts
// (pkcs7_trust.c and certs/system_keyring.c verify_pkcs7_message_sig).

import { KexecError, type ErrnoName } from '../errno.js';
import {
  TAG_CLASS, UNIV, badmsg, children, content, decodeBer, decodeTime, isContext, isUniversal, oidFromContent, oidOf, raw, toHex,
  type Node,
} from './der.js';
import { HASH_OIDS, NODE_HASHES, OID, PKCS7_PKEY_ALGOS, type HashName } from './oids.js';
import { formatName, x509CertParse, type PkeyAlgo, type X509Cert } from './x509.js';

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

/** A PKCS#7 refusal with the kernel's errno, the rule (C function) and a hint. */
export const pkcs7Error = (errno: ErrnoName, rule: string, detail: string, hint: string): KexecError => new KexecError(errno, rule, detail, { hint });
export const RESIGN = 'the signature is malformed or made by an unusual tool; re-sign the image with sbsign, pesign or sign-file';

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
    throw pkcs7Error('ENOPKG', RULE_PKCS7_PARSE, `${what}: unsupported digest algorithm ${hash ?? oid}`, 'sign with SHA-256 (sbsign and sign-file default to it)');
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
    throw pkcs7Error('EINVAL', RULE_PKCS7_PARSE, `${what}: unsupported SignerInfo version`, RESIGN);
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
  if (!pkeyAlgo) throw pkcs7Error('ENOPKG', RULE_PKCS7_PARSE, `${what}: unsupported signature algorithm ${pkeyOid}`, 'sign with an RSA or ECDSA key');
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
      throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_PARSE, `${what}: repeated or multi-valued authenticated attribute ${type}`, RESIGN);
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
        if (msg.dataType !== OID.msIndirectData) throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_PARSE, `${what}: S/MIME capabilities outside Authenticode`, RESIGN);
        break;
      default:
        if (msg.dataType !== OID.msIndirectData) throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_PARSE, `${what}: Authenticode attribute outside Authenticode`, RESIGN);
    }
  }
}

/** pkcs7_parse_message. EBADMSG for malformed ASN.1; EINVAL, ENOPKG, EKEYREJECTED as the parser's actions give them. */
export function pkcs7ParseMessage(der: Uint8Array, opts: Pkcs7Options = {}): Pkcs7Message {
  const root = decodeBer(der, RULE_PKCS7_PARSE, 'PKCS#7 message');
  if (!isUniversal(root, UNIV.SEQUENCE)) throw badmsg(RULE_PKCS7_PARSE, 'PKCS#7 ContentInfo is not a SEQUENCE');
  const [ctNode, wrapped] = children(root, RULE_PKCS7_PARSE, 'ContentInfo');
  const ct = oidOf(ctNode, RULE_PKCS7_PARSE, 'ContentInfo contentType');
  if (ct !== OID.signedData) throw pkcs7Error('EINVAL', RULE_PKCS7_PARSE, `PKCS#7 content type ${ct} is not signedData`, RESIGN);
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
    throw pkcs7Error('EINVAL', RULE_PKCS7_PARSE, first ? 'signers disagree on carrying authenticated attributes' : 'PKCS#7 message has no signer', RESIGN);
  }
  msg.haveAuthattrs = !!first.authattrs;
  return msg;
}

function parseSignedData(sd: Node, msg: Pkcs7Message, opts: Pkcs7Options): void {
  const parts = children(sd, RULE_PKCS7_PARSE, 'SignedData');
  let i = 0;
  msg.version = integerByte(parts[i++], 'SignedData version');
  if (msg.version !== 1 && msg.version !== 3) throw pkcs7Error('EINVAL', RULE_PKCS7_PARSE, 'unsupported SignedData version', RESIGN);
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
    throw pkcs7Error('EINVAL', RULE_PKCS7_PARSE, `unsupported encapsulated content type ${msg.dataType}`, RESIGN);
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
