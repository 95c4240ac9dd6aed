// Object identifiers the kernel's asymmetric-key parsers act on (include/linux/oid_registry.h), and how
// each digest maps onto a node:crypto hash. An OID outside this registry is the kernel's OID__NR.

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  smimeCapabilites: '1.2.840.113549.1.9.15',
  msIndirectData: '1.3.6.1.4.1.311.2.1.4',
  msStatementType: '1.3.6.1.4.1.311.2.1.11',
  msSpOpusInfo: '1.3.6.1.4.1.311.2.1.12',
  msPeImageDataObjId: '1.3.6.1.4.1.311.2.1.15',
  msIndividualSPKeyPurpose: '1.3.6.1.4.1.311.2.1.21',
  rsaEncryption: '1.2.840.113549.1.1.1',
  idEcPublicKey: '1.2.840.10045.2.1',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

export type HashName = 'md4' | 'md5' | 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512' | 'sha3-256' | 'sha3-384' | 'sha3-512' | 'sm3' | 'streebog256' | 'streebog512';

export const HASH_OIDS: Record<string, HashName> = {
  '1.2.840.113549.2.4': 'md4',
  '1.2.840.113549.2.5': 'md5',
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.8': 'sha3-256',
  '2.16.840.1.101.3.4.2.9': 'sha3-384',
  '2.16.840.1.101.3.4.2.10': 'sha3-512',
  '1.2.156.10197.1.401': 'sm3',
  '1.2.643.7.1.1.2.2': 'streebog256',
  '1.2.643.7.1.1.2.3': 'streebog512',
};

export const HASH_SIZES: Record<HashName, number> = {
  md4: 16, md5: 16, sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64,
  'sha3-256': 32, 'sha3-384': 48, 'sha3-512': 64, sm3: 32, streebog256: 32, streebog512: 64,
};

/** Hashes this emulator can compute (the kernel's crypto_alloc_shash succeeding); others give ENOPKG. */
export const NODE_HASHES: ReadonlySet<HashName> = new Set<HashName>(['sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha3-256', 'sha3-384', 'sha3-512']);

/** X.509 signature algorithms x509_note_sig_algo accepts: pkey algorithm and hash. */
export const X509_SIG_ALGOS: Record<string, { pkey: 'rsa' | 'ecdsa'; hash: HashName }> = {
  '1.2.840.113549.1.1.5': { pkey: 'rsa', hash: 'sha1' },
  '1.2.840.113549.1.1.14': { pkey: 'rsa', hash: 'sha224' },
  '1.2.840.113549.1.1.11': { pkey: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { pkey: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { pkey: 'rsa', hash: 'sha512' },
  '2.16.840.1.101.3.4.3.13': { pkey: 'rsa', hash: 'sha3-256' },
  '2.16.840.1.101.3.4.3.14': { pkey: 'rsa', hash: 'sha3-384' },
  '2.16.840.1.101.3.4.3.15': { pkey: 'rsa', hash: 'sha3-512' },
  '1.2.840.10045.4.1': { pkey: 'ecdsa', hash: 'sha1' },
  '1.2.840.10045.4.3.1': { pkey: 'ecdsa', hash: 'sha224' },
  '1.2.840.10045.4.3.2': { pkey: 'ecdsa', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { pkey: 'ecdsa', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { pkey: 'ecdsa', hash: 'sha512' },
  '2.16.840.1.101.3.4.3.10': { pkey: 'ecdsa', hash: 'sha3-256' },
  '2.16.840.1.101.3.4.3.11': { pkey: 'ecdsa', hash: 'sha3-384' },
  '2.16.840.1.101.3.4.3.12': { pkey: 'ecdsa', hash: 'sha3-512' },
};

/** SignerInfo digestEncryptionAlgorithm values pkcs7_sig_note_pkey_algo accepts. */
export const PKCS7_PKEY_ALGOS: Record<string, 'rsa' | 'ecdsa'> = {
  [OID.rsaEncryption]: 'rsa',
  '1.2.840.10045.4.1': 'ecdsa',
  '1.2.840.10045.4.3.1': 'ecdsa',
  '1.2.840.10045.4.3.2': 'ecdsa',
  '1.2.840.10045.4.3.3': 'ecdsa',
  '1.2.840.10045.4.3.4': 'ecdsa',
  '2.16.840.1.101.3.4.3.10': 'ecdsa',
  '2.16.840.1.101.3.4.3.11': 'ecdsa',
  '2.16.840.1.101.3.4.3.12': 'ecdsa',
};

/** Elliptic curves x509_extract_key_data accepts for id-ecPublicKey. */
export const EC_CURVES: Record<string, string> = {
  '1.2.840.10045.3.1.1': 'P-192',
  '1.2.840.10045.3.1.7': 'P-256',
  '1.3.132.0.34': 'P-384',
  '1.3.132.0.35': 'P-521',
};

/** OIDs the kernel's registry knows (a digest OID outside this set is "Unknown OID", EBADMSG, not ENOPKG). */
export function isRegisteredOid(oid: string): boolean {
  return oid in HASH_OIDS || oid in X509_SIG_ALGOS || oid in EC_CURVES || (Object.values(OID) as string[]).includes(oid);
}
