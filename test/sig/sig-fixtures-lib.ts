// Helpers for signature tests (a library, not a test file): throwaway CAs made with openssl, sbsign/sbverify
// runs, the Debian kernels (test/helpers/fixtures.ts) and Debian's Secure Boot CA, a synthetic PE builder and an
// Authenticode signer for cases sbsign cannot produce. Everything that needs a missing tool or file throws, so
// tests fail loudly.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import { parsePe } from '../../src/formats/pe.js';
import { MODULE_SIG_STRING } from '../../src/sig/module-sig.js';
import { pefileDigestPeContents } from '../../src/sig/authenticode.js';
import { FIXTURE_CACHE, fixture } from '../helpers/fixtures.js';

/** Debian's signed amd64 kernel (PE/COFF with an Authenticode signature), from the test fixture cache. */
export const kernelSigned = (): string => fixture('vmlinuz-amd64');
/** Its unsigned twin (same build, empty certificate table). */
export const kernelUnsigned = (): string => fixture('vmlinuz-amd64-unsigned');

export function requireTool(tool: string, pkg: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`]);
  if (r.status !== 0) throw new Error(`${tool} is not installed; apt-get install -y ${pkg}`);
}

export function makeTempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `vkexec-sig-${tag}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

function openssl(args: string[], cwd: string): void {
  requireTool('openssl', 'openssl');
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

const EXTENSIONS = `
[ca_ext]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[signer_ext]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=codeSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
`;

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  signerCert: string;
  signerKey: string;
}

/** A throwaway CA and a code-signing certificate it issued, in `dir` (PEM files). */
export function makePki(dir: string, name: string, keyAlg: 'rsa' | 'ec' = 'rsa'): Pki {
  mkdirSync(dir, { recursive: true });
  const ext = join(dir, 'ext.cnf');
  writeFileSync(ext, EXTENSIONS);
  const p = (f: string): string => join(dir, `${name}-${f}`);
  const newkey = keyAlg === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(['req', '-x509', ...newkey, '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'), '-subj', `/CN=${name} test CA`,
    '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', ...newkey, '-nodes', '-keyout', p('signer.key'), '-out', p('signer.csr'), '-subj', `/CN=${name} test signer`], dir);
  openssl(['x509', '-req', '-in', p('signer.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-out', p('signer.crt'), '-days', '3650', '-extfile', ext, '-extensions', 'signer_ext'], dir);
  return { dir, caCert: p('ca.crt'), caKey: p('ca.key'), signerCert: p('signer.crt'), signerKey: p('signer.key') };
}

export function sbsign(input: string, output: string, pki: Pki): void {
  requireTool('sbsign', 'sbsigntool');
  execFileSync('sbsign', ['--key', pki.signerKey, '--cert', pki.signerCert, '--output', output, input], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** sbverify --cert: true when it reports "Signature verification OK". */
export function sbverify(file: string, cert: string): boolean {
  requireTool('sbverify', 'sbsigntool');
  const r = spawnSync('sbverify', ['--cert', cert, file], { encoding: 'utf8' });
  return r.status === 0 && /Signature verification OK/.test(r.stdout + r.stderr);
}

/**
 * [content][PKCS#7 by openssl cms, detached, no attributes][struct module_signature][marker], as the kernel's
 * sign-file writes it. Returns the signed bytes; writes them to `output` when given.
 */
export function appendModsig(input: string, p: Pki, output?: string): Buffer {
  requireTool('openssl', 'openssl');
  const p7 = execFileSync('openssl', ['cms', '-sign', '-binary', '-noattr', '-in', input, '-signer', p.signerCert, '-inkey', p.signerKey, '-outform', 'DER']);
  const trailer = Buffer.alloc(12);
  trailer[2] = 2; // id_type PKEY_ID_PKCS7
  trailer.writeUInt32BE(p7.length, 8);
  const signed = Buffer.concat([readFileSync(input), p7, trailer, Buffer.from(MODULE_SIG_STRING, 'latin1')]);
  if (output) writeFileSync(output, signed);
  return signed;
}

/** A private copy of the unsigned Debian kernel. */
export function copyUnsignedKernel(dir: string): string {
  const out = join(dir, 'vmlinuz');
  copyFileSync(kernelUnsigned(), out);
  return out;
}

const CACHE = FIXTURE_CACHE;

/**
 * Debian's Secure Boot CA, from Debian's shim-unsigned package fetched with `apt-get download` (cached in
 * test/fixtures/cache next to the kernels): the DER file as shipped, and a PEM copy for sbverify. Throws when
 * it cannot be had.
 */
export function debianSecureBootCa(): { der: string; pem: string } {
  const der = join(CACHE, 'debian-uefi-ca.der');
  const pem = join(CACHE, 'debian-uefi-ca.pem');
  if (!existsSync(der)) {
    mkdirSync(CACHE, { recursive: true });
    const work = makeTempDir('shim');
    try {
      const r = spawnSync('apt-get', ['download', 'shim-unsigned'], { cwd: work, encoding: 'utf8' });
      const deb = readdirSync(work).find((f) => f.startsWith('shim-unsigned_') && f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download shim-unsigned failed (status ${r.status}): ${r.stderr}`);
      execFileSync('dpkg-deb', ['-x', join(work, deb), join(work, 'x')]);
      const found = execFileSync('find', [join(work, 'x'), '-name', 'debian-uefi-ca.der'], { encoding: 'utf8' }).trim().split('\n')[0];
      if (!found) throw new Error(`${deb} holds no debian-uefi-ca.der`);
      copyFileSync(found, der);
    } finally {
      removeDir(work);
    }
  }
  if (!existsSync(pem)) openssl(['x509', '-inform', 'DER', '-in', der, '-out', pem], CACHE);
  return { der, pem };
}

// ---- synthetic PE images ------------------------------------------------------------------------------------

export interface SyntheticSection {
  name: string;
  data: Uint8Array;
  /** Extra virtual size beyond the raw data (bss). */
  bss?: number;
}

/** Builds a small EFI application-shaped PE32 or PE32+ image, with file alignment 0x200. */
export function buildPe(format: 'PE32' | 'PE32+', sections: SyntheticSection[], trailing = new Uint8Array(0)): Uint8Array {
  const peaddr = 0x80;
  const optSize = (format === 'PE32' ? 96 : 112) + 16 * 8;
  const secTable = peaddr + 24 + optSize;
  const align = (n: number, a: number): number => Math.ceil(n / a) * a;
  const headerSize = align(secTable + 40 * sections.length, 0x200);
  let fileOff = headerSize;
  let rva = 0x1000;
  const placed = sections.map((s) => {
    const raw = align(s.data.length, 0x200);
    const p = { ...s, raw, fileOff, rva, vsize: s.data.length + (s.bss ?? 0) };
    fileOff += raw;
    rva += align(Math.max(p.vsize, 1), 0x1000);
    return p;
  });
  const buf = new Uint8Array(fileOff + trailing.length);
  const v = new DataView(buf.buffer);
  v.setUint16(0, 0x5a4d, true);
  v.setUint32(0x3c, peaddr, true);
  v.setUint32(peaddr, 0x00004550, true);
  v.setUint16(peaddr + 4, format === 'PE32' ? 0x14c : 0x8664, true);
  v.setUint16(peaddr + 6, sections.length, true);
  v.setUint16(peaddr + 20, optSize, true);
  v.setUint16(peaddr + 22, format === 'PE32' ? 0x0102 : 0x0022, true);
  const o = peaddr + 24;
  v.setUint16(o, format === 'PE32' ? 0x10b : 0x20b, true);
  v.setUint32(o + 16, placed[0]?.rva ?? 0, true); // entry point
  v.setUint32(o + 20, placed[0]?.rva ?? 0, true); // base of code
  if (format === 'PE32') v.setUint32(o + 28, 0x400000, true);
  else v.setBigUint64(o + 24, 0x140000000n, true);
  v.setUint32(o + 32, 0x1000, true); // section alignment
  v.setUint32(o + 36, 0x200, true); // file alignment
  v.setUint16(o + 48, 1, true); // subsystem version
  v.setUint32(o + 56, rva, true); // SizeOfImage
  v.setUint32(o + 60, headerSize, true); // SizeOfHeaders
  v.setUint16(o + 68, 10, true); // EFI application
  v.setUint32(o + (format === 'PE32' ? 92 : 108), 16, true); // NumberOfRvaAndSizes
  placed.forEach((s, i) => {
    const at = secTable + 40 * i;
    buf.set(new TextEncoder().encode(s.name.slice(0, 8)), at);
    v.setUint32(at + 8, s.vsize, true);
    v.setUint32(at + 12, s.rva, true);
    v.setUint32(at + 16, s.raw, true);
    v.setUint32(at + 20, s.fileOff, true);
    v.setUint32(at + 36, i === 0 ? 0x60000020 : 0xc0000040, true);
    buf.set(s.data, s.fileOff);
  });
  buf.set(trailing, fileOff);
  return buf;
}

/** Deterministic filler bytes. */
export function patternBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** mulberry32: a small seeded PRNG for fuzzing. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- an Authenticode signer for cases sbsign cannot make ---------------------------------------------------

const OIDS = {
  sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1', sha384: '2.16.840.1.101.3.4.2.2', sha512: '2.16.840.1.101.3.4.2.3',
  md5: '1.2.840.113549.2.5',
};

export interface AuthenticodeOptions {
  keyPem: string;
  certPem: string;
  /** Digest of the image inside SpcIndirectDataContent. */
  imageDigest?: 'sha1' | 'sha256' | 'sha384' | 'sha512' | 'md5';
  /** Override the image digest OID (e.g. an unknown one). */
  imageDigestOid?: string;
  /** Signer digest (message digest and signature hash). */
  signerDigest?: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  /** Encapsulated content type (Authenticode is 1.3.6.1.4.1.311.2.1.4). */
  contentType?: string;
  /** Leave out the authenticated attributes. */
  noAuthattrs?: boolean;
  /** Replace the image digest bytes. */
  digestOverride?: Uint8Array;
}

function pemToDer(pem: string): Uint8Array {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error('no certificate in PEM');
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

const algId = (oid: string, nullParams = true): asn1js.Sequence =>
  new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), ...(nullParams ? [new asn1js.Null()] : [])] });

function ber(b: asn1js.BaseBlock): Uint8Array {
  return new Uint8Array(b.toBER(false));
}

/** Builds a detached-free Authenticode SignedData for a PE image (unsigned, certificate table entry zero). */
export function authenticodeSignature(image: Uint8Array, o: AuthenticodeOptions): Uint8Array {
  const pe = parsePe(image);
  const imageDigest = o.imageDigest ?? 'sha256';
  const signerDigest = o.signerDigest ?? 'sha256';
  const digest = o.digestOverride ?? (imageDigest === 'md5'
    ? createHash('md5').update(image).digest()
    : pefileDigestPeContents(image, { pe, sections: pe.sections, certsSize: 0 }, imageDigest));
  const spc = new asn1js.Sequence({
    value: [
      new asn1js.Sequence({
        value: [
          new asn1js.ObjectIdentifier({ value: '1.3.6.1.4.1.311.2.1.15' }),
          new asn1js.Sequence({ value: [new asn1js.BitString({ valueHex: new Uint8Array(0) })] }),
        ],
      }),
      new asn1js.Sequence({ value: [algId(o.imageDigestOid ?? OIDS[imageDigest]), new asn1js.OctetString({ valueHex: digest })] }),
    ],
  });
  const spcDer = ber(spc);
  const spcContent = spcDer.subarray(2 + (spcDer[1]! & 0x80 ? spcDer[1]! & 0x7f : 0));
  const contentType = o.contentType ?? '1.3.6.1.4.1.311.2.1.4';
  const certDer = pemToDer(o.certPem);
  const certAsn = asn1js.fromBER(certDer).result as asn1js.Sequence;
  const tbs = (certAsn.valueBlock.value[0] as asn1js.Sequence).valueBlock.value;
  const hasVersion = tbs[0]!.idBlock.tagClass === 3;
  const serial = tbs[hasVersion ? 1 : 0]!;
  const issuer = tbs[hasVersion ? 3 : 2]!;

  const attrs = [
    new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.9.3' }), new asn1js.Set({ value: [new asn1js.ObjectIdentifier({ value: contentType })] })] }),
    new asn1js.Sequence({
      value: [
        new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.9.4' }),
        new asn1js.Set({ value: [new asn1js.OctetString({ valueHex: createHash(signerDigest).update(spcContent).digest() })] }),
      ],
    }),
  ];
  const key = createPrivateKey(o.keyPem);
  const setDer = ber(new asn1js.Set({ value: attrs }));
  const signed = o.noAuthattrs ? spcContent : setDer;
  const signature = cryptoSign(signerDigest, signed, key);
  const signerInfo = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 1 }),
      new asn1js.Sequence({ value: [issuer, serial] }),
      algId(OIDS[signerDigest]),
      ...(o.noAuthattrs ? [] : [new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: attrs })]),
      algId(key.asymmetricKeyType === 'ec' ? '1.2.840.10045.4.3.2' : '1.2.840.113549.1.1.1', key.asymmetricKeyType !== 'ec'),
      new asn1js.OctetString({ valueHex: signature }),
    ],
  });
  const signedData = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 1 }),
      new asn1js.Set({ value: [algId(OIDS[signerDigest])] }),
      new asn1js.Sequence({
        value: [new asn1js.ObjectIdentifier({ value: contentType }), new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [spc] })],
      }),
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [asn1js.fromBER(certDer).result] }),
      new asn1js.Set({ value: [signerInfo] }),
    ],
  });
  return ber(new asn1js.Sequence({
    value: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.7.2' }), new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [signedData] })],
  }));
}

/** Pads `image` to 8 bytes, appends one WIN_CERTIFICATE holding `pkcs7` and points data directory 4 at it. */
export function embedSignature(image: Uint8Array, pkcs7: Uint8Array): Uint8Array {
  const pe = parsePe(image);
  const base = Math.ceil(image.length / 8) * 8;
  const entryLen = 8 + pkcs7.length;
  const tableLen = Math.ceil(entryLen / 8) * 8;
  const out = new Uint8Array(base + tableLen);
  out.set(image);
  const v = new DataView(out.buffer);
  v.setUint32(base, entryLen, true);
  v.setUint16(base + 4, 0x0200, true);
  v.setUint16(base + 6, 0x0002, true);
  out.set(pkcs7, base + 8);
  v.setUint32(pe.certDirent.offset, base, true);
  v.setUint32(pe.certDirent.offset + 4, tableLen, true);
  return out;
}

/** Pads an unsigned image to 8 bytes (so its digest already covers what embedSignature keeps). */
export function padTo8(image: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(image.length / 8) * 8);
  out.set(image);
  return out;
}

export function readBytes(path: string): Uint8Array {
  return new Uint8Array(readFileSync(path));
}
