// WIN_CERTIFICATE handling, the image digest and the PKCS#7 rules, on small synthetic PE32 and PE32+ images
// signed by sbsign (checked by sbverify) and by a test-side Authenticode signer for what sbsign cannot make.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KexecError, type ErrnoName } from '../../src/errno.js';
import { parsePe } from '../../src/formats/pe.js';
import { pefileDigestPeContents, pefileDigestRanges, pefileParseBinary, pefileStripSigWrapper } from '../../src/sig/authenticode.js';
import { Keyrings } from '../../src/sig/keyring.js';
import { verifyPefileSignature } from '../../src/sig/verify-pefile.js';
import {
  authenticodeSignature, buildPe, embedSignature, makePki, makeTempDir, padTo8, patternBytes, readBytes, removeDir, sbsign, sbverify,
  type AuthenticodeOptions, type Pki,
} from './sig-fixtures-lib.js';

let dir: string;
let pki: Pki;
let ecPki: Pki;
let keys: Keyrings;
const signedImages: Record<'PE32' | 'PE32+', { path: string; bytes: Uint8Array }> = {} as never;

function expectRefusal(image: Uint8Array, errno: ErrnoName, rule: string, message?: RegExp, k = keys): KexecError {
  try {
    verifyPefileSignature(image, k);
  } catch (e) {
    assert.ok(e instanceof KexecError, `expected KexecError, got ${String(e)}`);
    assert.equal(e.errno, errno, `${e.rule}: ${e.message}`);
    assert.equal(e.rule, rule, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${errno} (${rule}), but the image verified`);
}

function ownSigned(format: 'PE32' | 'PE32+', o: Partial<AuthenticodeOptions> = {}, p = pki): Uint8Array {
  const img = padTo8(buildPe(format, [{ name: '.text', data: patternBytes(3000, 11) }, { name: '.rdata', data: patternBytes(900, 12) }]));
  return embedSignature(img, authenticodeSignature(img, { keyPem: readFileSync(p.signerKey, 'utf8'), certPem: readFileSync(p.signerCert, 'utf8'), ...o }));
}

/** The signed image with its WIN_CERTIFICATE header and PKCS#7 bytes edited. */
function editSig(format: 'PE32' | 'PE32+', fn: (v: DataView, certAt: number, b: Uint8Array) => void): Uint8Array {
  const b = new Uint8Array(signedImages[format].bytes);
  fn(new DataView(b.buffer), parsePe(b).certDirent.virtualAddress, b);
  return b;
}

before(() => {
  dir = makeTempDir('authenticode');
  pki = makePki(join(dir, 'rsa'), 'vkexec');
  ecPki = makePki(join(dir, 'ec'), 'vkexec-ec', 'ec');
  keys = new Keyrings();
  keys.addCertificateFile('secondary', pki.caCert);
  keys.addCertificateFile('secondary', ecPki.caCert);
  for (const format of ['PE32', 'PE32+'] as const) {
    const unsigned = join(dir, `${format}.efi`);
    writeFileSync(unsigned, buildPe(format, [{ name: '.text', data: patternBytes(5000, 1) }, { name: '.data', data: patternBytes(700, 2), bss: 4096 }]));
    const path = `${unsigned}.signed`;
    sbsign(unsigned, path, pki);
    signedImages[format] = { path, bytes: readBytes(path) };
  }
});

after(() => removeDir(dir));

describe('sbsign on synthetic PE32 and PE32+', () => {
  for (const format of ['PE32', 'PE32+'] as const) {
    it(`${format}: verifies, and sbverify agrees; a changed section byte is a digest mismatch for both`, () => {
      const r = verifyPefileSignature(signedImages[format].bytes, keys);
      assert.equal(r.format, format);
      assert.equal(r.digestMatches, true);
      assert.equal(sbverify(signedImages[format].path, pki.caCert), true);
      const pe = parsePe(signedImages[format].bytes);
      const tampered = new Uint8Array(signedImages[format].bytes);
      tampered[pe.sections[1]!.dataAddr + 5]! ^= 0x80;
      expectRefusal(tampered, 'EKEYREJECTED', 'pefile_digest_pe', /Digest mismatch/);
      const p = join(dir, `${format}-tampered.efi`);
      writeFileSync(p, tampered);
      assert.equal(sbverify(p, pki.caCert), false);
    });
  }

  it('leaves CheckSum and the certificate table entry out of the digest', () => {
    const b = editSig('PE32', (v, _at, bytes) => {
      const pe = parsePe(bytes);
      v.setUint32(pe.checksumOffset, 0xdeadbeef, true);
    });
    assert.equal(verifyPefileSignature(b, keys).ok, true);
    const pe = parsePe(b);
    const ranges = pefileDigestRanges(b, { pe, sections: pe.sections, certsSize: pe.certDirent.size });
    assert.ok(ranges.every((r) => r.end <= pe.checksumOffset || r.start >= pe.checksumOffset + 4));
    assert.ok(ranges.every((r) => r.end <= pe.certDirent.offset || r.start >= pe.certDirent.offset + 8));
    assert.ok(ranges.every((r) => r.end <= pe.certDirent.virtualAddress), 'the certificate table itself is not hashed');
  });

  it('hashes sections in file-offset order whatever their order in the table, skipping empty ones', () => {
    const b = new Uint8Array(signedImages['PE32+'].bytes);
    const pe = parsePe(b);
    const [a, c] = [pe.sections[0]!.headerOffset, pe.sections[1]!.headerOffset];
    const first = b.slice(a, a + 40);
    b.copyWithin(a, c, c + 40);
    b.set(first, c);
    const swapped = parsePe(b);
    assert.deepEqual(swapped.sections.map((x) => x.name), ['.data', '.text']);
    const layout = { pe: swapped, sections: swapped.sections, certsSize: swapped.certDirent.size };
    assert.deepEqual(pefileDigestRanges(b, layout).filter((r) => r.what.startsWith('section')).map((r) => r.what), ['section .text', 'section .data']);
    new DataView(b.buffer).setUint32(swapped.sections[0]!.headerOffset + 16, 0, true); // .data raw size 0
    assert.deepEqual(pefileDigestRanges(b, { ...layout, pe: parsePe(b), sections: parsePe(b).sections }).filter((r) => r.what.startsWith('section')).map((r) => r.what), ['section .text']);
  });
});

describe('WIN_CERTIFICATE checks (pefile_strip_sig_wrapper)', () => {
  it('wants revision 0x0200 and type PKCS_SIGNED_DATA, else ENOTSUPP', () => {
    expectRefusal(editSig('PE32+', (v, at) => v.setUint16(at + 4, 0x0100, true)), 'ENOTSUPP', 'pefile_strip_sig_wrapper', /revision 0x100/);
    expectRefusal(editSig('PE32+', (v, at) => v.setUint16(at + 6, 0x0001, true)), 'ENOTSUPP', 'pefile_strip_sig_wrapper', /type 0x1/);
  });

  it('refuses a wrapper longer than the certificate table (ELIBBAD) and a too-small table', () => {
    expectRefusal(editSig('PE32+', (v, at) => v.setUint32(at, v.getUint32(at, true) + 64, true)), 'ELIBBAD', 'pefile_strip_sig_wrapper', /bigger than/);
    expectRefusal(editSig('PE32+', (v, _at, b) => v.setUint32(parsePe(b).certDirent.offset + 4, 7, true)), 'ELIBBAD', 'pefile_strip_sig_wrapper', /too short/);
  });

  it('gives EKEYREJECTED "Signature data missing" for a wrapper with under 4 bytes of data', () => {
    expectRefusal(editSig('PE32+', (v, at) => v.setUint32(at, 11, true)), 'EKEYREJECTED', 'pefile_strip_sig_wrapper', /Signature data missing/);
  });

  it('wants a DER SEQUENCE whose length fits (ELIBBAD) and under 64 KiB (EMSGSIZE)', () => {
    expectRefusal(editSig('PE32+', (_v, at, b) => (b[at + 8] = 0x31)), 'ELIBBAD', 'pefile_strip_sig_wrapper', /not PKCS#7/);
    expectRefusal(editSig('PE32+', (_v, at, b) => (b[at + 9] = 0x83)), 'EMSGSIZE', 'pefile_strip_sig_wrapper');
    expectRefusal(editSig('PE32+', (_v, at, b) => (b[at + 10] = 0x7f)), 'ELIBBAD', 'pefile_strip_sig_wrapper', /exceeds/);
  });

  it('drops the padding after the DER blob (sbsign pads the table to 8 bytes)', () => {
    const b = signedImages['PE32+'].bytes;
    const ctx = pefileParseBinary(b);
    const s = pefileStripSigWrapper(b, ctx);
    assert.equal(s.offset, ctx.sigOffset + 8);
    assert.ok(s.length <= s.wrapper.length - 8);
    assert.equal(ctx.sigLen % 8, 0);
  });

  it('refuses a certificate table overlapping the headers or running off the file (ELIBBAD)', () => {
    expectRefusal(editSig('PE32+', (v, _at, b) => v.setUint32(parsePe(b).certDirent.offset, 0x10, true)), 'ELIBBAD', 'pefile_parse_binary', /certificate table/);
    expectRefusal(editSig('PE32+', (v, _at, b) => v.setUint32(parsePe(b).certDirent.offset + 4, b.length, true)), 'ELIBBAD', 'pefile_parse_binary', /certificate table/);
  });

  it('refuses (ELIBBAD) a section pointing past the end of the file where the kernel would read out of bounds', () => {
    const b = editSig('PE32+', (v, _at, bytes) => v.setUint32(parsePe(bytes).sections[1]!.headerOffset + 20, bytes.length - 16, true));
    expectRefusal(b, 'ELIBBAD', 'pefile_digest_pe', /outside/);
  });
});

describe('digest algorithms and PKCS#7 rules (test-side Authenticode signer)', () => {
  it('the test signer makes signatures sbverify accepts', () => {
    const p = join(dir, 'own.efi');
    writeFileSync(p, ownSigned('PE32'));
    assert.equal(sbverify(p, pki.caCert), true);
  });

  for (const d of ['sha256', 'sha384', 'sha512', 'sha1'] as const) {
    it(`accepts a ${d} image digest with a ${d} signer digest`, () => {
      const r = verifyPefileSignature(ownSigned('PE32+', { imageDigest: d, signerDigest: d }), keys);
      assert.equal(r.digestAlgorithm, d);
      assert.equal(r.signers[0]!.digestAlgorithm, d);
      assert.equal(r.digestMatches, true);
    });
  }

  it('refuses SHA-1 when told to behave like kernels that dropped it (ENOPKG)', () => {
    assert.throws(() => verifyPefileSignature(ownSigned('PE32', { imageDigest: 'sha1', signerDigest: 'sha1' }), keys, { allowSha1: false }),
      (e: unknown) => e instanceof KexecError && e.errno === 'ENOPKG' && e.rule === 'pkcs7_parse_message');
    assert.throws(() => verifyPefileSignature(ownSigned('PE32', { imageDigest: 'sha1' }), keys, { allowSha1: false }),
      (e: unknown) => e instanceof KexecError && e.errno === 'ENOPKG' && e.rule === 'mscode_parse');
  });

  it('gives ENOPKG for a registered but unsupported image digest (MD5) and EBADMSG for an unknown OID', () => {
    expectRefusal(ownSigned('PE32', { imageDigest: 'md5' }), 'ENOPKG', 'mscode_parse', /md5/);
    expectRefusal(ownSigned('PE32', { imageDigestOid: '1.2.3.4.5' }), 'EBADMSG', 'mscode_parse', /unknown OID/);
  });

  it('gives EBADMSG for an image digest of the wrong length', () => {
    expectRefusal(ownSigned('PE32', { digestOverride: new Uint8Array(20) }), 'EBADMSG', 'pefile_digest_pe', /size mismatch/);
  });

  it('gives EKEYREJECTED "Digest mismatch" for a signature over another image digest', () => {
    expectRefusal(ownSigned('PE32', { digestOverride: new Uint8Array(32).fill(7) }), 'EKEYREJECTED', 'pefile_digest_pe', /Digest mismatch/);
  });

  it('refuses pkcs7-data content for a PE signature (EKEYREJECTED: not Authenticode)', () => {
    expectRefusal(ownSigned('PE32', { contentType: '1.2.840.113549.1.7.1' }), 'EKEYREJECTED', 'pkcs7_verify', /not Authenticode/);
  });

  it('refuses another content type at parse time (EINVAL)', () => {
    expectRefusal(ownSigned('PE32', { contentType: '1.2.840.113549.1.7.5' }), 'EINVAL', 'pkcs7_parse_message');
  });

  it('requires authenticated attributes on Authenticode (EBADMSG)', () => {
    expectRefusal(ownSigned('PE32', { noAuthattrs: true }), 'EBADMSG', 'pkcs7_parse_message', /requires authenticated attributes/);
  });

  it('checks the signer signature against the signer certificate (EKEYREJECTED)', () => {
    const b = ownSigned('PE32');
    const pe = parsePe(b);
    const end = pe.certDirent.virtualAddress + 8 + new DataView(b.buffer).getUint32(pe.certDirent.virtualAddress, true) - 8;
    b[end - 1]! ^= 1; // last byte of encryptedDigest
    expectRefusal(b, 'EKEYREJECTED', 'pkcs7_verify', /does not verify with the signer certificate/);
  });

  it('verifies ECDSA P-256 signatures', () => {
    const r = verifyPefileSignature(ownSigned('PE32+', {}, ecPki), keys);
    assert.equal(r.signers[0]!.signatureAlgorithm, 'ecdsa');
    assert.equal(r.trustedBy?.subject, 'CN=vkexec-ec test CA');
  });

  it('refuses a truncated PKCS#7 blob (EBADMSG)', () => {
    const b = editSig('PE32', (v, at) => v.setUint16(at + 10, v.getUint16(at + 10) - 40)); // DER length, big-endian
    expectRefusal(b, 'EBADMSG', 'pkcs7_parse_message');
  });

  it('computes sha256/384/512 digests over the same ranges', () => {
    const b = signedImages.PE32.bytes;
    const ctx = pefileParseBinary(b);
    const lens = (['sha256', 'sha384', 'sha512'] as const).map((a) => pefileDigestPeContents(b, ctx, a).length);
    assert.deepEqual(lens, [32, 48, 64]);
  });
});
