// Facts about a signature for people and for --json: who signed, which certificates came along, which
// keyrings were searched. Also the kexec search order over keyrings shared by PE and appended signatures.

import { BLACKLISTED_HINT_PREFIX, NO_AKI_HINT } from './pkcs7-trust.js';
import { KexecError, type ErrnoName } from '../errno.js';
import { KERNEL_KEYRING_NAMES, type Keyrings } from './keyring.js';
import type { Pkcs7Message, TrustMatch } from './pkcs7.js';
import { describeSid } from './pkcs7-verify.js';
import type { X509Cert } from './x509.js';

export interface CertFacts {
  subject: string;
  issuer: string;
  serial: string;
  skid: string | undefined;
  validFrom: string;
  validTo: string;
  fingerprint256: string;
}

export interface SignerFacts {
  index: number;
  /** The signer's certificate when the message carries it. */
  subject: string | undefined;
  issuer: string | undefined;
  serial: string | undefined;
  /** How the SignerInfo names its certificate. */
  sid: string;
  digestAlgorithm: string;
  signatureAlgorithm: string;
  signingTime: string | undefined;
  /** Subjects from the signer upwards through certificates in the message. */
  chain: string[];
  /**
   * What a trusted keyring must hold for this signer: the issuer of the top certificate in the message, or,
   * when the message carries no certificate for the signer, that signing certificate itself.
   */
  anchor: string | undefined;
}

export interface KeyringSearch {
  /** Which search: "secondary" covers .secondary_trusted_keys and .builtin_trusted_keys. */
  keyring: 'secondary' | 'platform';
  kernelKeyrings: string[];
  certificates: number;
  result: 'ok' | ErrnoName;
  detail: string | undefined;
}

export function certFacts(c: X509Cert): CertFacts {
  return {
    subject: c.subject, issuer: c.issuer, serial: c.serial, skid: c.skid,
    validFrom: c.validFrom.toISOString(), validTo: c.validTo.toISOString(), fingerprint256: c.fingerprint256,
  };
}

/** Signer facts from a parsed message, without judging it. */
export function signerFacts(msg: Pkcs7Message): SignerFacts[] {
  return msg.signedInfos.map((s) => {
    const signer = msg.certs.find((c) => c.cert.id === s.authId)?.cert;
    const chain: string[] = [];
    const seen = new Set<X509Cert>();
    let top: X509Cert | undefined;
    for (let c = signer; c && !seen.has(c); ) {
      seen.add(c);
      chain.push(c.subject);
      top = c;
      if (c.selfSigned) break;
      const [a0, a1] = c.authIds;
      c = msg.certs.find((p) => (a0 !== undefined ? p.cert.id === a0 : a1 !== undefined && p.cert.skid === a1))?.cert;
    }
    return {
      index: s.index,
      subject: signer?.subject,
      issuer: signer?.issuer ?? (s.sid.kind === 'issuerAndSerial' ? s.sid.issuerText : undefined),
      serial: signer?.serial ?? (s.sid.kind === 'issuerAndSerial' ? s.sid.serial : undefined),
      sid: describeSid(s),
      digestAlgorithm: s.hashAlgo ?? s.hashOid,
      signatureAlgorithm: s.pkeyAlgo,
      signingTime: s.signingTime?.toISOString(),
      chain,
      anchor: top ? top.issuer : `the signing certificate (${describeSid(s)})`,
    };
  });
}

export interface TrustedBy {
  keyring: string;
  subject: string;
  via: TrustMatch['via'];
}

/**
 * The kexec key search (kexec_kernel_verify_pe_sig, s390_verify_sig): the secondary keyring (linking the
 * builtin one), then, only when that found no key (ENOKEY) and the platform keyring is configured, .platform.
 * Records each search in `searched`; throws the last pass's KexecError.
 */
export function searchKexecKeyrings(
  keyrings: Keyrings,
  platformKeyring: boolean,
  searched: KeyringSearch[],
  attempt: (keys: readonly X509Cert[], label: string) => TrustMatch,
): TrustedBy {
  const passes: { keyring: 'secondary' | 'platform'; rings: string[] }[] = [
    { keyring: 'secondary', rings: [KERNEL_KEYRING_NAMES.secondary, KERNEL_KEYRING_NAMES.builtin] },
  ];
  if (platformKeyring) passes.push({ keyring: 'platform', rings: [KERNEL_KEYRING_NAMES.platform] });
  const noKeys: KexecError[] = [];
  for (let i = 0; ; ) {
    const pass = passes[i]!;
    const keys = keyrings.trustedCerts(pass.keyring);
    const label = pass.rings.join(' + ');
    const search: KeyringSearch = { keyring: pass.keyring, kernelKeyrings: pass.rings, certificates: keys.length, result: 'ok', detail: undefined };
    searched.push(search);
    try {
      const trust = attempt(keys, label);
      return { keyring: label, subject: trust.key.subject, via: trust.via };
    } catch (e) {
      if (!(e instanceof KexecError)) throw e;
      const err = e.errno === 'ENOKEY' ? explainBlacklisted(e, keyrings.blacklistedIn(pass.keyring), label) : e;
      search.result = err.errno;
      search.detail = err.message;
      if (err.errno !== 'ENOKEY') throw err;
      noKeys.push(err);
      // Every pass found no key: report the pass whose keyring held the cause (a CA the signer cannot be
      // linked to, a revoked CA) rather than simply the last one searched.
      if (++i === passes.length) throw noKeys.find(explainsCause) ?? err;
    }
  }
}

/**
 * An ENOKEY where the keyring holds certificates whose TBS hash is blacklisted: Linux never uses them, so the
 * search found no key, but the cause is the revocation, not a missing CA.
 */
function explainBlacklisted(e: KexecError, set: X509Cert[], label: string): KexecError {
  if (set.length === 0) return e;
  const names = set.map((c) => `"${c.subject}" (tbs:${c.tbsHash})`).join(', ');
  return new KexecError('ENOKEY', e.rule, `${e.message}; ${label} also holds ${set.length === 1 ? 'a certificate' : `${set.length} certificates`} it may not use because ${set.length === 1 ? 'its' : 'their'} TBS hash is in the blacklist: ${names}`, {
    hint: `${BLACKLISTED_HINT_PREFIX} by a tbs: entry in the blacklist keyring; remove that entry (machine keys remove --keyring blacklist tbs:HASH) if the revocation is wrong, or sign with a key that is not revoked`,
  });
}

function explainsCause(e: KexecError): boolean {
  return (e.hint === NO_AKI_HINT && /although that CA is in the searched keyring/.test(e.message)) || (e.hint?.startsWith(BLACKLISTED_HINT_PREFIX) ?? false);
}

export interface Failure {
  errno: ErrnoName;
  rule: string;
  message: string;
  hint: string | undefined;
}

/** A refused signature: the kernel's errno and rule (a KexecError), plus every fact gathered on the way. */
export class SignatureError<R> extends KexecError {
  readonly report: R;
  constructor(e: KexecError, report: R) {
    super(e.errno, e.rule, e.message, { ...(e.value === undefined ? {} : { value: e.value }), ...(e.hint === undefined ? {} : { hint: e.hint }) });
    this.name = 'SignatureError';
    this.report = report;
  }
}

/**
 * Turns a refusal into the SignatureError callers see: the file name in front of the message, the hint
 * replaced when `hint` is given, and the failure recorded in the report. Non-kernel exceptions pass through.
 */
export function refuse<R extends { failure: Failure | undefined }>(e: unknown, report: R, source: string | undefined, hint?: string): never {
  if (!(e instanceof KexecError)) throw e;
  const h = hint ?? e.hint;
  const final = new KexecError(e.errno, e.rule, (source ? `${source}: ` : '') + e.message, {
    ...(e.value === undefined ? {} : { value: e.value }),
    ...(h === undefined ? {} : { hint: h }),
  });
  report.failure = { errno: final.errno, rule: final.rule, message: final.message, hint: h };
  throw new SignatureError(final, report);
}

