// kexec_file_load's PE signature check on a real Debian kernel signed with sbsign by a throwaway CA,
// with sbverify (sbsigntool) as an independent judge of every case.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KexecError } from '../../src/errno.js';
import { parsePe } from '../../src/formats/pe.js';
import { SignatureError } from '../../src/sig/facts.js';
import { Keyrings } from '../../src/sig/keyring.js';
import { signatureFactsLine } from '../../src/sig/failure-line.js';
import { describePeSignatures, verifyPefileSignature, type PeSignatureReport } from '../../src/sig/verify-pefile.js';
import { x509CertParse } from '../../src/sig/x509.js';
import { splitCertificates } from '../../src/sig/keyring.js';
import { copyUnsignedKernel, makePki, makeTempDir, readBytes, removeDir, sbsign, sbverify, type Pki } from './sig-fixtures-lib.js';

let dir: string;
let pki: Pki;
let other: Pki;
let signedPath: string;
let signed: Uint8Array;
let unsignedPath: string;

function rings(setup: (k: Keyrings) => void): Keyrings {
  const k = new Keyrings();
  setup(k);
  return k;
}

function refusal(image: Uint8Array, k: Keyrings, errno: string, rule: string): SignatureError<PeSignatureReport> {
  try {
    verifyPefileSignature(image, k, { source: 'vmlinuz' });
  } catch (e) {
    assert.ok(e instanceof SignatureError, `expected SignatureError, got ${String(e)}`);
    assert.ok(e instanceof KexecError);
    assert.equal(e.errno, errno, e.message);
    assert.equal(e.rule, rule, e.message);
    assert.ok(e.hint, 'every refusal says what to do');
    assert.match(e.message, /^vmlinuz: /);
    const report = e.report as PeSignatureReport;
    assert.equal(report.ok, false);
    assert.equal(report.failure?.errno, errno);
    return e as SignatureError<PeSignatureReport>;
  }
  assert.fail(`expected ${errno} from ${rule}, but the image verified`);
}

before(() => {
  dir = makeTempDir('pe');
  pki = makePki(join(dir, 'pki'), 'vkexec');
  other = makePki(join(dir, 'other'), 'other');
  unsignedPath = copyUnsignedKernel(dir);
  signedPath = join(dir, 'vmlinuz.signed');
  sbsign(unsignedPath, signedPath, pki);
  signed = readBytes(signedPath);
});

after(() => removeDir(dir));

describe('sbsign-signed Debian kernel', () => {
  it('verifies with the CA in the secondary keyring, and sbverify agrees', () => {
    const k = rings((k) => k.addCertificateFile('secondary', pki.caCert));
    const r = verifyPefileSignature(signed, k);
    assert.equal(r.ok, true);
    assert.equal(r.format, 'PE32+');
    assert.equal(r.digestAlgorithm, 'sha256');
    assert.equal(r.digestMatches, true);
    assert.equal(r.expectedDigest, r.computedDigest);
    assert.equal(r.signers.length, 1);
    assert.equal(r.signers[0]!.subject, 'CN=vkexec test signer');
    assert.equal(r.signers[0]!.issuer, 'CN=vkexec test CA');
    assert.equal(r.signers[0]!.anchor, 'CN=vkexec test CA');
    assert.deepEqual(r.keyringsSearched.map((s) => [s.keyring, s.certificates, s.result]), [['secondary', 1, 'ok']]);
    assert.equal(r.trustedBy?.subject, 'CN=vkexec test CA');
    assert.equal(r.trustedBy?.via, 'trusted key signed the top certificate');
    assert.equal(sbverify(signedPath, pki.caCert), true);
  });

  it('counts the builtin keyring as part of the secondary search', () => {
    const r = verifyPefileSignature(signed, rings((k) => k.addCertificateFile('builtin', pki.caCert)));
    assert.equal(r.ok, true);
    assert.deepEqual(r.keyringsSearched.map((s) => s.kernelKeyrings), [['.secondary_trusted_keys', '.builtin_trusted_keys']]);
  });

  it('trusts the signer certificate itself when it is in a keyring', () => {
    const r = verifyPefileSignature(signed, rings((k) => k.addCertificateFile('secondary', pki.signerCert)));
    assert.equal(r.trustedBy?.via, 'certificate in message is trusted');
  });

  it('falls back to the platform keyring only after ENOKEY from the secondary one', () => {
    const k = rings((k) => k.addCertificateFile('platform', pki.caCert));
    const r = verifyPefileSignature(signed, k);
    assert.equal(r.ok, true);
    assert.deepEqual(r.keyringsSearched.map((s) => [s.keyring, s.certificates, s.result]), [['secondary', 0, 'ENOKEY'], ['platform', 1, 'ok']]);
    assert.equal(r.trustedBy?.keyring, '.platform');
    assert.throws(() => verifyPefileSignature(signed, k, { platformKeyring: false }), (e: unknown) => e instanceof KexecError && e.errno === 'ENOKEY');
  });

  it('rejects an image with one byte of .text changed (Digest mismatch), and so does sbverify', () => {
    const pe = parsePe(signed);
    const text = pe.sections.find((s) => s.name === '.text')!;
    const tampered = new Uint8Array(signed);
    tampered[text.dataAddr + 0x12345]! ^= 0x01;
    const e = refusal(tampered, rings((k) => k.addCertificateFile('secondary', pki.caCert)), 'EKEYREJECTED', 'pefile_digest_pe');
    assert.match(e.message, /Digest mismatch/);
    assert.equal(signatureFactsLine(e.report),
      `signed by "CN=vkexec test signer" (issuer "CN=vkexec test CA"); searched .secondary_trusted_keys + .builtin_trusted_keys (1 certificate): EKEYREJECTED; ` +
      `sha256 digest signed ${e.report.expectedDigest}, computed ${e.report.computedDigest} (MISMATCH)`);
    assert.equal(e.report.digestMatches, false);
    assert.notEqual(e.report.expectedDigest, e.report.computedDigest);
    // The PKCS#7 itself is intact and trusted: only the digest comparison catches this.
    assert.deepEqual(e.report.keyringsSearched.map((s) => s.result), ['EKEYREJECTED']);
    const p = join(dir, 'tampered.efi');
    writeFileSync(p, tampered);
    assert.equal(sbverify(p, pki.caCert), false);
  });

  it('gives ENOKEY for a CA no keyring holds, naming the missing CA; sbverify with that CA fails too', () => {
    const k = rings((k) => {
      k.addCertificateFile('secondary', other.caCert);
      k.addCertificateFile('platform', other.caCert);
    });
    const e = refusal(signed, k, 'ENOKEY', 'pkcs7_validate_trust');
    assert.match(e.hint!, /CN=vkexec test CA/);
    assert.match(e.message, /CN=vkexec test signer/);
    assert.deepEqual(e.report.keyringsSearched.map((s) => [s.keyring, s.certificates, s.result]), [['secondary', 1, 'ENOKEY'], ['platform', 1, 'ENOKEY']]);
    // The digest facts are still there for the user.
    assert.equal(e.report.digestMatches, true);
    assert.equal(sbverify(signedPath, other.caCert), false);
  });

  it('rejects a signer certificate on the revocation list (.blacklist), which sbverify does not know about', () => {
    const k = rings((k) => {
      k.addCertificateFile('secondary', pki.caCert);
      k.addCertificateFile('blacklist', pki.signerCert);
    });
    const e = refusal(signed, k, 'EKEYREJECTED', 'is_key_on_revocation_list');
    assert.match(e.message, /revoked certificate "CN=vkexec test signer"/);
    assert.equal(e.report.digestMatches, true);
    assert.equal(sbverify(signedPath, pki.caCert), true);
  });

  it('rejects a signer certificate whose TBS hash is blacklisted ("tbs:")', () => {
    const signer = x509CertParse(splitCertificates(readBytes(pki.signerCert), pki.signerCert)[0]!);
    const k = rings((k) => {
      k.addCertificateFile('secondary', pki.caCert);
      k.addBlacklistHash(`tbs:${signer.tbsHash}`);
    });
    const e = refusal(signed, k, 'EKEYREJECTED', 'pkcs7_verify');
    assert.match(e.message, /blacklisted: "CN=vkexec test signer"/);
    assert.equal(sbverify(signedPath, pki.caCert), true);
  });

  it('ignores a trusted CA whose own TBS hash is blacklisted (it could never have been loaded)', () => {
    const ca = x509CertParse(splitCertificates(readBytes(pki.caCert), pki.caCert)[0]!);
    const k = rings((k) => k.addCertificateFile('secondary', pki.caCert));
    k.addBlacklistHash(`tbs:${ca.tbsHash}`);
    const e = refusal(signed, k, 'ENOKEY', 'pkcs7_validate_trust');
    assert.equal(e.report.keyringsSearched[0]!.certificates, 0);
  });

  it('does not consult "bin:" blacklist entries for a PE image, as verify_pefile_signature does not, but reports them', () => {
    const k = rings((k) => k.addCertificateFile('secondary', pki.caCert));
    const first = verifyPefileSignature(signed, k);
    assert.equal(first.imageBlacklisted, false);
    k.addBlacklistHash(`bin:${first.imageSha256}`);
    const r = verifyPefileSignature(signed, k);
    assert.equal(r.ok, true);
    assert.equal(r.imageBlacklisted, true);
  });

  it('gives ENODATA for the unsigned original, and sbverify refuses it too', () => {
    const e = refusal(readBytes(unsignedPath), rings((k) => k.addCertificateFile('secondary', pki.caCert)), 'ENODATA', 'pefile_parse_binary');
    assert.match(e.message, /Unsigned PE binary/);
    assert.equal(e.report.format, 'PE32+');
    assert.equal(sbverify(unsignedPath, pki.caCert), false);
  });

  it('describes the signed image for inspection without keyrings', () => {
    const d = describePeSignatures(signed);
    assert.deepEqual(d.problems, []);
    assert.equal(d.entries.length, 1);
    assert.equal(d.entries[0]!.selfCheck, 'ok');
    assert.equal(d.entries[0]!.digestMatches, true);
    assert.equal(d.entries[0]!.signers[0]!.subject, 'CN=vkexec test signer');
    assert.deepEqual(d.sections.map((s) => s.name), ['.setup', '.compat', '.text', '.data']);
    assert.deepEqual(d.digestRanges.slice(0, 3).map((r) => r.what), [
      'headers up to CheckSum', 'headers from CheckSum to the certificate table entry', 'headers after the certificate table entry',
    ]);
  });

  it('describes an unsigned or broken image as problems, never by throwing', () => {
    const d = describePeSignatures(readBytes(unsignedPath));
    assert.equal(d.format, 'PE32+');
    assert.match(d.problems.join('\n'), /ENODATA.*Unsigned PE binary/);
    assert.match(describePeSignatures(new Uint8Array(100)).problems.join('\n'), /ELIBBAD/);
    const pe = parsePe(signed);
    const broken = new Uint8Array(signed);
    broken[pe.certDirent.virtualAddress + 8] = 0x31;
    const db = describePeSignatures(broken);
    assert.match(db.problems.join('\n'), /Signature data not PKCS#7/);
    assert.ok(db.entries[0]!.problems.length > 0);
  });
});
