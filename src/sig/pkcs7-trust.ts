// crypto/asymmetric_keys/pkcs7_trust.c (meeting a trusted key) and certs/system_keyring.c
// verify_pkcs7_message_sig (the order of the steps and the revocation list).

import { KexecError } from '../errno.js';
import { badmsg } from './der.js';
import type { Keyrings } from './keyring.js';
import type { X509Cert } from './x509.js';
import { pkcs7Error, RESIGN, RULE_PKCS7_TRUST, RULE_REVOCATION, type MsgCert, type Pkcs7Message, type Pkcs7Usage, type SignedInfo, type TrustMatch } from './pkcs7.js';
import { certSig, describeSid, pkcs7Verify, sinfoSig, verifySig } from './pkcs7-verify.js';

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

/**
 * Hints that name the real cause of an ENOKEY; verify-pefile keeps them instead of its generic "add the CA".
 * NO_AKI: pkcs7_validate_trust_one links the top certificate to a trusted key only through its
 * authorityKeyIdentifier (or the signer's issuer+serial); an X.509 v1 signer has none, so only the signer
 * certificate itself in a keyring makes it trusted, even when its issuing CA is there.
 */
export const NO_AKI_HINT = 'add the signer certificate itself to a trusted keyring, or issue it again with an authorityKeyIdentifier (openssl x509 -req ... -extfile with "authorityKeyIdentifier=keyid"; v3 extensions)';
export const BLACKLISTED_HINT_PREFIX = 'a certificate in the keyring is revoked';

/** The ENOKEY message when a chain ends without meeting a trusted key. */
function noKeyWhy(top: MsgCert | undefined, s: SignedInfo, keys: readonly X509Cert[]): { why: string; hint?: string } {
  if (!top) return { why: `no searched keyring holds the signing key (${describeSid(s)})` };
  const c = top.cert;
  if (c.authIds[0] === undefined && c.authIds[1] === undefined) {
    const issuerHeld = keys.some((k) => k.subject === c.issuer);
    return {
      why: `"${c.subject}" has no authorityKeyIdentifier, so it cannot be linked to its issuer "${c.issuer}"${issuerHeld ? ', although that CA is in the searched keyring' : ''}; only "${c.subject}" itself in a keyring would be trusted`,
      hint: NO_AKI_HINT,
    };
  }
  return { why: `no searched keyring holds "${c.subject}" or its issuer "${c.issuer}"` };
}

/** pkcs7_validate_trust_one: one signer's chain against the trusted keys. */
function pkcs7ValidateTrustOne(msg: Pkcs7Message, s: SignedInfo, keys: readonly X509Cert[]): TrustMatch {
  const noKey = (why: string): KexecError => pkcs7Error('ENOKEY', RULE_PKCS7_TRUST, `signer #${s.index}: ${why}`, 'add the signing CA certificate to a trusted keyring');
  if (s.unsupportedCrypto) throw pkcs7Error('ENOPKG', RULE_PKCS7_TRUST, `signer #${s.index}: its crypto is not available`, 'sign with RSA or ECDSA and SHA-256');
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
    if (key === 'EKEYREJECTED') throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_TRUST, `signer #${s.index}: the trusted key named by "${last.cert.subject}"'s authorityKeyIdentifier has a different subjectKeyIdentifier`, RESIGN);
    if (key !== 'ENOKEY') matched = { key, x509: last, via: 'trusted key signed the top certificate' };
  }
  if (!matched) {
    const key = findAsymmetricKey(keys, s.authId, undefined);
    if (key === 'EKEYREJECTED') throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_TRUST, `signer #${s.index}: key ID mismatch`, RESIGN);
    if (key === 'ENOKEY') {
      const { why, hint } = noKeyWhy(last ?? s.signer, s, keys);
      throw hint ? pkcs7Error('ENOKEY', RULE_PKCS7_TRUST, `signer #${s.index}: ${why}`, hint) : noKey(why);
    }
    matched = { key, x509: undefined, via: 'trusted key signed directly' };
    sig = sinfoSig(msg, s);
  }
  if (!verifySig(matched.key, sig)) {
    throw pkcs7Error('EKEYREJECTED', RULE_PKCS7_TRUST, `signer #${s.index}: trusted key "${matched.key.subject}" matches by ID but does not verify the signature`,
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
  if (cached === 'ENOPKG') throw pkcs7Error('ENOPKG', RULE_PKCS7_TRUST, 'no signer uses crypto this kernel has', 'sign with RSA or ECDSA and SHA-256');
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
  throw pkcs7Error('EKEYREJECTED', RULE_REVOCATION, `the signature chains to the revoked certificate "${m.key.subject}" in .blacklist`,
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
