// The machine's system keyrings (certs/system_keyring.c, certs/blacklist.c, security/integrity/platform_certs):
// .builtin_trusted_keys (compiled into the kernel), .secondary_trusted_keys (which links the builtin ring),
// .platform (UEFI db / MOK, used only for kexec and IMA fallbacks) and .blacklist (revoked certificates plus
// "bin:" image hashes and "tbs:" certificate hashes). They model what the running kernel holds at boot, so
// adding to them does not apply the kernel's keyctl link restrictions.

import { readFileSync } from 'node:fs';
import { KexecError, UsageError, fileErrorText } from '../errno.js';
import { definiteLength } from './der.js';
import { x509CertParse, type X509Cert } from './x509.js';

export type KeyringName = 'builtin' | 'secondary' | 'platform' | 'blacklist';
export const KEYRING_NAMES: readonly KeyringName[] = ['builtin', 'secondary', 'platform', 'blacklist'];

/** The names /proc/keys shows for them. */
export const KERNEL_KEYRING_NAMES: Record<KeyringName, string> = {
  builtin: '.builtin_trusted_keys',
  secondary: '.secondary_trusted_keys',
  platform: '.platform',
  blacklist: '.blacklist',
};

export type BlacklistHashType = 'tbs' | 'bin';

export interface KeyringEntry {
  cert: X509Cert;
  /** Where it came from (file name, "state"), for messages. */
  source: string;
}

export interface SerializedCert {
  /** base64 of the DER certificate. */
  der: string;
  source: string;
}

export interface SerializedKeyrings {
  version: 1;
  builtin: SerializedCert[];
  secondary: SerializedCert[];
  platform: SerializedCert[];
  blacklist: { certs: SerializedCert[]; hashes: string[] };
}

const RULE_KEYRING = 'key_create_or_update';
const RULE_BLACKLIST = 'blacklist_vet_description';
// certs/blacklist.c MAX_HASH_LEN: 128 hex digits (a SHA-512).
const MAX_HASH_LEN = 128;

/**
 * Splits a PEM or DER file into DER certificates. PEM: every CERTIFICATE block; DER: one or more
 * concatenated certificates, as x509_load_certificate_list accepts.
 */
export function splitCertificates(bytes: Uint8Array, source: string): Uint8Array[] {
  const text = Buffer.from(bytes).toString('latin1');
  if (text.includes('-----BEGIN')) {
    const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)];
    if (blocks.length === 0) {
      throw new KexecError('EBADMSG', 'x509_cert_parse', `${source}: PEM file holds no CERTIFICATE block`, {
        hint: 'give an X.509 certificate (PEM "BEGIN CERTIFICATE" or DER), not a key or a request',
      });
    }
    return blocks.map((m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  }
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const rest = bytes.subarray(at);
    const len = rest[0] === 0x30 ? definiteLength(rest) : undefined;
    if (len === undefined) {
      throw new KexecError('EBADMSG', 'x509_cert_parse', `${source}: byte ${at} does not start a DER certificate`, {
        hint: 'give an X.509 certificate in PEM or DER form (openssl x509 -outform DER)',
      });
    }
    out.push(rest.subarray(0, Math.min(len, rest.length)));
    at += len;
  }
  if (out.length === 0) {
    throw new KexecError('EBADMSG', 'x509_cert_parse', `${source}: empty file`, { hint: 'give a PEM or DER X.509 certificate' });
  }
  return out;
}

/** blacklist_vet_description: "tbs:" or "bin:" then an even number (1..128) of lowercase hex digits. */
export function vetBlacklistDescription(desc: string): { type: BlacklistHashType; hash: string } {
  const m = /^(tbs|bin):(.*)$/s.exec(desc);
  const hint = 'write "bin:<sha256 of the PE image, lowercase hex>" or "tbs:<hash of a certificate TBS, lowercase hex>"';
  if (!m) throw new KexecError('EINVAL', RULE_BLACKLIST, `blacklist entry "${desc}" lacks a "tbs:" or "bin:" prefix`, { hint });
  const hash = m[2]!;
  if (hash.length > MAX_HASH_LEN) throw new KexecError('ENOPKG', RULE_BLACKLIST, `blacklist hash "${desc}" is longer than ${MAX_HASH_LEN} hex digits`, { hint });
  if (!/^[0-9a-f]*$/.test(hash) || hash.length === 0 || hash.length % 2 === 1) {
    throw new KexecError('EINVAL', RULE_BLACKLIST, `blacklist hash "${desc}" is not an even number of lowercase hex digits`, { hint });
  }
  return { type: m[1] as BlacklistHashType, hash };
}

export class Keyrings {
  private readonly rings: Record<KeyringName, KeyringEntry[]> = { builtin: [], secondary: [], platform: [], blacklist: [] };
  private readonly blacklistHashes = new Set<string>();

  /** Certificates linked into a keyring, in the order added. */
  entries(ring: KeyringName): readonly KeyringEntry[] {
    return this.rings[ring];
  }

  /** "tbs:..." and "bin:..." blacklist entries. */
  hashes(): string[] {
    return [...this.blacklistHashes].sort();
  }

  /**
   * Adds every certificate in a PEM/DER blob. Parse failures are the kernel's (EBADMSG, ENOPKG, EKEYREJECTED);
   * a certificate whose TBS hash is blacklisted cannot enter a trusted ring (x509_key_preparse: EKEYREJECTED).
   */
  addCertificates(ring: KeyringName, bytes: Uint8Array, source: string): X509Cert[] {
    const certs = splitCertificates(bytes, source).map((der, i, all) =>
      x509CertParse(der, all.length > 1 ? `${source} [certificate ${i + 1}]` : source),
    );
    for (const cert of certs) {
      if (ring !== 'blacklist' && this.isCertBlacklisted(cert)) {
        throw new KexecError('EKEYREJECTED', RULE_KEYRING, `${source}: certificate "${cert.subject}" is blacklisted (tbs:${cert.tbsHash})`, {
          hint: `remove "tbs:${cert.tbsHash}" from the blacklist keyring first, or use another certificate`,
        });
      }
    }
    for (const cert of certs) {
      if (!this.rings[ring].some((e) => e.cert.fingerprint256 === cert.fingerprint256)) this.rings[ring].push({ cert, source });
    }
    return certs;
  }

  /** Reads a certificate file (userspace: unreadable files are a UsageError) and adds it. */
  addCertificateFile(ring: KeyringName, path: string): X509Cert[] {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new UsageError(`cannot read certificate file ${path}: ${fileErrorText(e)}`, {
        hint: 'give the path of a PEM or DER X.509 certificate',
      });
    }
    return this.addCertificates(ring, bytes, path);
  }

  /** Unlinks a certificate by its SHA-256 fingerprint (hex); returns whether one was removed. */
  removeCertificate(ring: KeyringName, fingerprint256: string): boolean {
    const before = this.rings[ring].length;
    this.rings[ring] = this.rings[ring].filter((e) => e.cert.fingerprint256 !== fingerprint256.toLowerCase());
    return this.rings[ring].length !== before;
  }

  /** Adds a "tbs:<hex>" or "bin:<hex>" entry after the kernel's description vetting. */
  addBlacklistHash(desc: string): void {
    vetBlacklistDescription(desc);
    this.blacklistHashes.add(desc);
  }

  removeBlacklistHash(desc: string): boolean {
    return this.blacklistHashes.delete(desc);
  }

  /** is_hash_blacklisted. */
  isHashBlacklisted(type: BlacklistHashType, hexHash: string): boolean {
    return this.blacklistHashes.has(`${type}:${hexHash.toLowerCase()}`);
  }

  /** x509_get_sig_params: a certificate is blacklisted when "tbs:<hash of its TBSCertificate>" is listed. */
  isCertBlacklisted(cert: X509Cert): boolean {
    return cert.tbsHash !== undefined && this.isHashBlacklisted('tbs', cert.tbsHash);
  }

  /**
   * The keys a verification searches: "secondary" is the secondary ring plus the builtin ring it links;
   * blacklisted certificates are left out, as the kernel would never have admitted them.
   */
  trustedCerts(trust: 'builtin' | 'secondary' | 'platform'): X509Cert[] {
    const rings: KeyringName[] = trust === 'secondary' ? ['secondary', 'builtin'] : [trust];
    return rings.flatMap((r) => this.rings[r].map((e) => e.cert)).filter((c) => !this.isCertBlacklisted(c));
  }

  /** Certificates in the rings a verification searches that trustedCerts() sets aside: their TBS hash is blacklisted. */
  blacklistedIn(trust: 'builtin' | 'secondary' | 'platform'): X509Cert[] {
    const rings: KeyringName[] = trust === 'secondary' ? ['secondary', 'builtin'] : [trust];
    return rings.flatMap((r) => this.rings[r].map((e) => e.cert)).filter((c) => this.isCertBlacklisted(c));
  }

  /** Revoked certificates (CONFIG_SYSTEM_REVOCATION_LIST): certificates in .blacklist. */
  revokedCerts(): X509Cert[] {
    return this.rings.blacklist.map((e) => e.cert);
  }

  toJSON(): SerializedKeyrings {
    const ser = (ring: KeyringName): SerializedCert[] =>
      this.rings[ring].map((e) => ({ der: Buffer.from(e.cert.der).toString('base64'), source: e.source }));
    return {
      version: 1,
      builtin: ser('builtin'),
      secondary: ser('secondary'),
      platform: ser('platform'),
      blacklist: { certs: ser('blacklist'), hashes: this.hashes() },
    };
  }

  /** Rebuilds keyrings from toJSON() output (e.g. the machine's state file); malformed state is EINVAL. */
  static fromJSON(value: unknown): Keyrings {
    const bad = (what: string): KexecError =>
      new KexecError('EINVAL', 'keyrings state', `keyring state: ${what}`, {
        hint: 'the machine state file is damaged; re-create the keyrings from their certificate files',
      });
    if (typeof value !== 'object' || value === null || (value as { version?: unknown }).version !== 1) throw bad('not a version 1 keyring object');
    const v = value as Partial<SerializedKeyrings>;
    const k = new Keyrings();
    const load = (ring: KeyringName, list: unknown): void => {
      if (!Array.isArray(list)) throw bad(`${ring} is not a list`);
      for (const [i, item] of list.entries()) {
        const e = item as Partial<SerializedCert>;
        if (typeof e?.der !== 'string' || typeof e.source !== 'string') throw bad(`${ring}[${i}] is not {der, source}`);
        const der = new Uint8Array(Buffer.from(e.der, 'base64'));
        k.rings[ring].push({ cert: x509CertParse(der, `${KERNEL_KEYRING_NAMES[ring]} entry ${i} (${e.source})`), source: e.source });
      }
    };
    load('builtin', v.builtin);
    load('secondary', v.secondary);
    load('platform', v.platform);
    if (typeof v.blacklist !== 'object' || v.blacklist === null) throw bad('blacklist missing');
    load('blacklist', v.blacklist.certs);
    if (!Array.isArray(v.blacklist.hashes)) throw bad('blacklist hashes is not a list');
    for (const h of v.blacklist.hashes) {
      if (typeof h !== 'string') throw bad('blacklist hash is not a string');
      k.addBlacklistHash(h);
    }
    return k;
  }
}
