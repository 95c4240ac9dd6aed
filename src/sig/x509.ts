// X.509 certificates as the kernel's x509_cert_parse sees them (crypto/asymmetric_keys/x509_cert_parser.c,
// x509_public_key.c): the key identifiers it matches on, the signature parameters, and its self-signed test.

import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { KexecError } from '../errno.js';
import {
  UNIV, badmsg, children, content, decodeBer, decodeTime, isContext, isUniversal, oidFromContent, oidOf, raw, toHex,
  type Node,
} from './der.js';
import { EC_CURVES, NODE_HASHES, OID, X509_SIG_ALGOS, type HashName } from './oids.js';

export const RULE_X509 = 'x509_cert_parse';

export type PkeyAlgo = 'rsa' | 'ecdsa';

export interface X509Cert {
  der: Uint8Array;
  /** Distinguished names as "CN=..., O=..." for people. */
  subject: string;
  issuer: string;
  /** The kernel's short name (x509_fabricate_name): CN, O, "O: CN" or email. */
  subjectName: string;
  /** Serial number as hex of its INTEGER content octets. */
  serial: string;
  /** asymmetric_key_generate_id(serial, issuer): the issuer+serial key ID, hex. */
  id: string;
  /** subjectKeyIdentifier, hex. */
  skid: string | undefined;
  /** authorityKeyIdentifier: [issuer+serial form, keyIdentifier form], hex. */
  authIds: [string | undefined, string | undefined];
  /** Raw subject Name content octets (the kernel compares these for self-signedness). */
  rawSubject: Uint8Array;
  rawIssuer: Uint8Array;
  tbs: Uint8Array;
  sigPkeyAlgo: PkeyAlgo;
  sigHashAlgo: HashName;
  signature: Uint8Array;
  pkeyAlgo: PkeyAlgo;
  publicKey: KeyObject;
  validFrom: Date;
  validTo: Date;
  /** Verified against its own key (x509_check_for_self_signed). */
  selfSigned: boolean;
  /** Its signature's hash cannot be computed here: the kernel prunes such chains instead of failing. */
  unsupportedSig: boolean;
  /** Hex hash of the TBSCertificate with the signature's hash: the "tbs:" blacklist key. */
  tbsHash: string | undefined;
  fingerprint256: string;
}

const ATTR_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'emailAddress', '2.5.4.5': 'serialNumber',
};

function attrText(n: Node): string {
  const c = Buffer.from(content(n));
  if (isUniversal(n, 30) && c.length % 2 === 0) return Buffer.from(c).swap16().toString('utf16le'); // BMPString
  if (isUniversal(n, 12)) return c.toString('utf8');
  return c.toString('latin1');
}

interface ParsedName {
  text: string;
  cn: string | undefined;
  o: string | undefined;
  email: string | undefined;
}

/** A Name as "CN=..., O=..."; EBADMSG when it is not a well-formed Name. */
export function formatName(n: Node, what = 'Name'): string {
  return parseName(n, what).text;
}

function parseName(n: Node, what: string): ParsedName {
  if (!isUniversal(n, UNIV.SEQUENCE)) throw badmsg(RULE_X509, `${what}: Name is not a SEQUENCE`);
  const parts: string[] = [];
  const out: ParsedName = { text: '', cn: undefined, o: undefined, email: undefined };
  for (const rdn of children(n, RULE_X509, what)) {
    if (!isUniversal(rdn, UNIV.SET)) throw badmsg(RULE_X509, `${what}: RDN is not a SET`);
    for (const atv of children(rdn, RULE_X509, what)) {
      const [type, value] = children(atv, RULE_X509, what);
      const oid = oidOf(type, RULE_X509, what);
      if (!value) throw badmsg(RULE_X509, `${what}: attribute without a value`);
      const text = attrText(value);
      parts.push(`${ATTR_NAMES[oid] ?? oid}=${text}`);
      if (oid === '2.5.4.3') out.cn = text;
      else if (oid === '2.5.4.10') out.o = text;
      else if (oid === '1.2.840.113549.1.9.1') out.email = text;
    }
  }
  out.text = parts.join(', ');
  return out;
}

/** x509_fabricate_name: CN alone when it starts with (a significant part of) O, else "O: CN". */
function fabricateName(n: ParsedName): string {
  if (n.cn !== undefined && n.o !== undefined) {
    if (n.cn.startsWith(n.o)) return n.cn;
    if (n.cn.length >= 7 && n.o.length >= 7 && n.cn.slice(0, 7) === n.o.slice(0, 7)) return n.cn;
    return `${n.o}: ${n.cn}`;
  }
  return n.cn ?? n.o ?? n.email ?? '';
}

function nopkg(detail: string): KexecError {
  return new KexecError('ENOPKG', RULE_X509, detail, {
    hint: 'use an RSA or NIST P-curve ECDSA certificate signed with SHA-2',
  });
}

function bitStringBytes(n: Node | undefined, what: string): Uint8Array {
  if (!isUniversal(n, UNIV.BIT_STRING) || n.idBlock.isConstructed) throw badmsg(RULE_X509, `${what}: expected a BIT STRING`);
  const c = content(n);
  if (c.length < 1 || c[0] !== 0) throw badmsg(RULE_X509, `${what}: BIT STRING with unused bits`);
  return c.subarray(1);
}

function algorithmOid(n: Node | undefined, what: string): { oid: string; params: Node | undefined } {
  if (!isUniversal(n, UNIV.SEQUENCE)) throw badmsg(RULE_X509, `${what}: AlgorithmIdentifier is not a SEQUENCE`);
  const [alg, params] = children(n, RULE_X509, what);
  return { oid: oidOf(alg, RULE_X509, what), params };
}

/** The kernel's public_key_verify_signature for one (key, hash, data, signature): any failure is EKEYREJECTED. */
export function publicKeyVerify(key: KeyObject, keyAlgo: PkeyAlgo, sigAlgo: PkeyAlgo, hash: HashName, data: Uint8Array, sig: Uint8Array): boolean {
  if (keyAlgo !== sigAlgo || !NODE_HASHES.has(hash)) return false;
  try {
    return cryptoVerify(hash, data, keyAlgo === 'ecdsa' ? { key, dsaEncoding: 'der' } : key, sig);
  } catch {
    return false;
  }
}

function parseExtensions(exts: Node, what: string): { skid?: string; authIds: [string | undefined, string | undefined] } {
  const list = children(exts, RULE_X509, what);
  if (list.length !== 1 || !isUniversal(list[0], UNIV.SEQUENCE)) throw badmsg(RULE_X509, `${what}: extensions are not a SEQUENCE`);
  let skid: string | undefined;
  let authIds: [string | undefined, string | undefined] = [undefined, undefined];
  for (const ext of children(list[0], RULE_X509, what)) {
    const parts = children(ext, RULE_X509, what);
    const oid = oidOf(parts[0], RULE_X509, what);
    const value = parts[parts.length - 1];
    if (!isUniversal(value, UNIV.OCTET_STRING)) throw badmsg(RULE_X509, `${what}: extension value is not an OCTET STRING`);
    if (oid === OID.subjectKeyIdentifier) {
      const inner = decodeBer(content(value), RULE_X509, `${what} subjectKeyIdentifier`);
      if (!isUniversal(inner, UNIV.OCTET_STRING)) throw badmsg(RULE_X509, `${what}: subjectKeyIdentifier is not an OCTET STRING`);
      skid = toHex(content(inner));
    } else if (oid === OID.authorityKeyIdentifier) {
      authIds = parseAkid(decodeBer(content(value), RULE_X509, `${what} authorityKeyIdentifier`), what);
    }
  }
  return skid === undefined ? { authIds } : { skid, authIds };
}

/** AKID: keyIdentifier [0] gives auth_ids[1]; authorityCertIssuer [1] directoryName + serial [2] give auth_ids[0]. */
function parseAkid(n: Node, what: string): [string | undefined, string | undefined] {
  let kid: string | undefined;
  let serial: Uint8Array | undefined;
  let issuer: Uint8Array | undefined;
  for (const item of children(n, RULE_X509, `${what} AKID`)) {
    if (isContext(item, 0)) kid = toHex(content(item));
    else if (isContext(item, 2)) serial = content(item);
    else if (isContext(item, 1)) {
      for (const gn of children(item, RULE_X509, `${what} AKID`)) {
        if (isContext(gn, 4)) {
          const [name] = children(gn, RULE_X509, `${what} AKID`);
          if (name) issuer = content(name);
        }
      }
    }
  }
  const id0 = serial && issuer ? toHex(serial) + toHex(issuer) : undefined;
  return [id0, kid];
}

/** x509_cert_parse: parses one DER certificate. EBADMSG on malformed input, ENOPKG on algorithms the kernel lacks. */
export function x509CertParse(der: Uint8Array, source = 'certificate'): X509Cert {
  const root = decodeBer(der, RULE_X509, source);
  if (!isUniversal(root, UNIV.SEQUENCE)) throw badmsg(RULE_X509, `${source}: not a SEQUENCE`);
  const [tbsNode, sigAlgNode, sigNode] = children(root, RULE_X509, source);
  if (!isUniversal(tbsNode, UNIV.SEQUENCE)) throw badmsg(RULE_X509, `${source}: no TBSCertificate`);
  const tbsParts = children(tbsNode, RULE_X509, source);
  let i = 0;
  if (isContext(tbsParts[0], 0)) i++; // version
  const serialNode = tbsParts[i++];
  const innerSigAlg = tbsParts[i++];
  const issuerNode = tbsParts[i++];
  const validity = tbsParts[i++];
  const subjectNode = tbsParts[i++];
  const spki = tbsParts[i++];
  if (!isUniversal(serialNode, UNIV.INTEGER) || !issuerNode || !subjectNode || !validity || !spki) {
    throw badmsg(RULE_X509, `${source}: TBSCertificate is incomplete`);
  }
  let exts: ReturnType<typeof parseExtensions> = { authIds: [undefined, undefined] };
  for (; i < tbsParts.length; i++) if (isContext(tbsParts[i], 3)) exts = parseExtensions(tbsParts[i]!, source);

  const outerAlg = algorithmOid(sigAlgNode, `${source} signatureAlgorithm`);
  algorithmOid(innerSigAlg, `${source} TBS signature`);
  const sigAlgo = X509_SIG_ALGOS[outerAlg.oid];
  if (!sigAlgo) throw nopkg(`${source}: unsupported certificate signature algorithm ${outerAlg.oid}`);
  const signature = bitStringBytes(sigNode, `${source} signatureValue`);

  const [notBefore, notAfter] = children(validity, RULE_X509, source);
  if (!notBefore || !notAfter) throw badmsg(RULE_X509, `${source}: incomplete validity`);

  if (!isUniversal(spki, UNIV.SEQUENCE)) throw badmsg(RULE_X509, `${source}: SubjectPublicKeyInfo is not a SEQUENCE`);
  const [keyAlgNode] = children(spki, RULE_X509, source);
  const keyAlg = algorithmOid(keyAlgNode, `${source} key algorithm`);
  let pkeyAlgo: PkeyAlgo;
  if (keyAlg.oid === OID.rsaEncryption) pkeyAlgo = 'rsa';
  else if (keyAlg.oid === OID.idEcPublicKey) {
    const curve = isUniversal(keyAlg.params, UNIV.OID) ? oidFromContent(content(keyAlg.params)) : undefined;
    if (!curve || !(curve in EC_CURVES)) throw nopkg(`${source}: unsupported elliptic curve ${curve ?? '(none)'}`);
    pkeyAlgo = 'ecdsa';
  } else throw nopkg(`${source}: unsupported public key algorithm ${keyAlg.oid}`);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(raw(spki)), format: 'der', type: 'spki' });
  } catch (e) {
    throw badmsg(RULE_X509, `${source}: unusable public key (${(e as Error).message})`);
  }

  const subject = parseName(subjectNode, `${source} subject`);
  const issuer = parseName(issuerNode, `${source} issuer`);
  const rawSerial = content(serialNode);
  const rawIssuer = content(issuerNode);
  const rawSubject = content(subjectNode);
  const tbs = raw(tbsNode);
  const unsupportedSig = !NODE_HASHES.has(sigAlgo.hash);
  const cert: X509Cert = {
    der,
    subject: subject.text,
    issuer: issuer.text,
    subjectName: fabricateName(subject),
    serial: toHex(rawSerial),
    id: toHex(rawSerial) + toHex(rawIssuer),
    skid: exts.skid,
    authIds: exts.authIds,
    rawSubject,
    rawIssuer,
    tbs,
    sigPkeyAlgo: sigAlgo.pkey,
    sigHashAlgo: sigAlgo.hash,
    signature,
    pkeyAlgo,
    publicKey,
    validFrom: decodeTime(notBefore, RULE_X509, `${source} notBefore`),
    validTo: decodeTime(notAfter, RULE_X509, `${source} notAfter`),
    selfSigned: false,
    unsupportedSig,
    tbsHash: unsupportedSig ? undefined : createHash(sigAlgo.hash).update(tbs).digest('hex'),
    fingerprint256: createHash('sha256').update(der).digest('hex'),
  };
  x509CheckForSelfSigned(cert, source);
  return cert;
}

/**
 * x509_check_for_self_signed: same subject and issuer, an AKID (if any) naming this certificate, and a
 * signature its own key verifies. A half-matching AKID or a bad self-signature fails the parse (EKEYREJECTED).
 */
function x509CheckForSelfSigned(cert: X509Cert, source: string): void {
  if (Buffer.compare(cert.rawSubject, cert.rawIssuer) !== 0) return;
  const [id0, id1] = cert.authIds;
  if (id0 !== undefined || id1 !== undefined) {
    const a = id1 !== undefined && cert.skid === id1;
    const b = id0 !== undefined && cert.id === id0;
    if (!a && !b) return;
    if (a !== b && id0 !== undefined && id1 !== undefined) {
      throw new KexecError('EKEYREJECTED', RULE_X509, `${source}: authorityKeyIdentifier names this certificate only half-way`, {
        hint: 'regenerate the certificate with a consistent authorityKeyIdentifier',
      });
    }
  }
  if (cert.unsupportedSig) return;
  if (!publicKeyVerify(cert.publicKey, cert.pkeyAlgo, cert.sigPkeyAlgo, cert.sigHashAlgo, cert.tbs, cert.signature)) {
    throw new KexecError('EKEYREJECTED', RULE_X509, `${source}: self-signed certificate "${cert.subject}" fails its own signature check`, {
      hint: 'the certificate is corrupt or forged; obtain a fresh copy',
    });
  }
  cert.selfSigned = true;
}
