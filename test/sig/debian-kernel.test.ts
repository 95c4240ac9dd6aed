// Debian's own signed kernel against Debian's Secure Boot CA (shipped in shim-unsigned, fetched with
// apt-get download), and its unsigned twin.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { KexecError } from '../../src/errno.js';
import { SignatureError } from '../../src/sig/facts.js';
import { Keyrings } from '../../src/sig/keyring.js';
import { describePeSignatures, verifyPefileSignature, type PeSignatureReport } from '../../src/sig/verify-pefile.js';
import { debianSecureBootCa, kernelSigned, kernelUnsigned, readBytes, sbverify } from './sig-fixtures-lib.js';

let ca: { der: string; pem: string };
let signed: Uint8Array;

before(() => {
  ca = debianSecureBootCa();
  signed = readBytes(kernelSigned());
});

describe('Debian-signed linux-image kernel', () => {
  it('verifies against Debian Secure Boot CA in the secondary keyring, as sbverify does', () => {
    const k = new Keyrings();
    const [cert] = k.addCertificateFile('secondary', ca.der);
    assert.equal(cert!.subject, 'CN=Debian Secure Boot CA');
    assert.equal(cert!.selfSigned, true);
    const r = verifyPefileSignature(signed, k);
    assert.equal(r.ok, true);
    assert.equal(r.signers[0]!.subject, 'CN=Debian Secure Boot Signer 2022 - linux');
    assert.equal(r.signers[0]!.issuer, 'CN=Debian Secure Boot CA');
    assert.equal(r.digestAlgorithm, 'sha256');
    assert.equal(r.digestMatches, true);
    assert.equal(r.trustedBy?.subject, 'CN=Debian Secure Boot CA');
    assert.equal(sbverify(kernelSigned(), ca.pem), true);
  });

  it('verifies against the CA in the platform keyring (UEFI db / MOK) after ENOKEY from the secondary', () => {
    const k = new Keyrings();
    k.addCertificateFile('platform', ca.pem);
    const r = verifyPefileSignature(signed, k);
    assert.deepEqual(r.keyringsSearched.map((s) => s.result), ['ENOKEY', 'ok']);
  });

  it('gives ENOKEY with empty keyrings, naming Debian Secure Boot CA as the missing key', () => {
    try {
      verifyPefileSignature(signed, new Keyrings());
      assert.fail('verified without keys');
    } catch (e) {
      assert.ok(e instanceof SignatureError);
      assert.equal(e.errno, 'ENOKEY');
      assert.match(e.hint!, /Debian Secure Boot CA/);
      const r = e.report as PeSignatureReport;
      assert.deepEqual(r.keyringsSearched.map((s) => [s.keyring, s.certificates]), [['secondary', 0], ['platform', 0]]);
    }
  });

  it('agrees with the digest Debian signed, computed independently of the signature', () => {
    const d = describePeSignatures(signed);
    assert.equal(d.entries[0]!.digestMatches, true);
    assert.equal(d.entries[0]!.embeddedDigest, d.imageSha256);
  });

  it('refuses the unsigned twin with ENODATA; sbverify refuses it too', () => {
    const k = new Keyrings();
    k.addCertificateFile('secondary', ca.der);
    assert.throws(() => verifyPefileSignature(readBytes(kernelUnsigned()), k), (e: unknown) => {
      assert.ok(e instanceof KexecError);
      assert.equal(e.errno, 'ENODATA');
      assert.equal(e.rule, 'pefile_parse_binary');
      return true;
    });
    assert.equal(sbverify(kernelUnsigned(), ca.pem), false);
  });

  it('has the same Authenticode hash as its unsigned twin (only the certificate table differs)', () => {
    const unsigned = describePeSignatures(readBytes(kernelUnsigned()));
    assert.equal(unsigned.imageSha256, describePeSignatures(signed).imageSha256);
  });
});
