import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KexecError, UsageError } from '../../src/errno.js';
import { Keyrings, splitCertificates, vetBlacklistDescription } from '../../src/sig/keyring.js';
import { x509CertParse } from '../../src/sig/x509.js';
import { makePki, makeTempDir, removeDir, type Pki } from './sig-fixtures-lib.js';

let dir: string;
let pki: Pki;
const file = (name: string, data: string | Uint8Array): string => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};
const derOf = (pem: string): Uint8Array => new Uint8Array(execFileSync('openssl', ['x509', '-in', pem, '-outform', 'DER']));

function kexecError(errno: string, pattern?: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof KexecError, `expected KexecError, got ${String(e)}`);
    assert.equal(e.errno, errno, e.message);
    if (pattern) assert.match(e.message, pattern);
    assert.ok(e.hint);
    return true;
  };
}

before(() => {
  dir = makeTempDir('keyring');
  pki = makePki(dir, 'ring');
});

after(() => removeDir(dir));

describe('X.509 certificates as the kernel sees them', () => {
  it('reads names, serial, key identifiers and self-signedness', () => {
    const ca = x509CertParse(derOf(pki.caCert));
    const signer = x509CertParse(derOf(pki.signerCert));
    assert.equal(ca.subject, 'CN=ring test CA');
    assert.equal(ca.subjectName, 'ring test CA');
    assert.equal(ca.selfSigned, true);
    assert.equal(signer.selfSigned, false);
    assert.equal(signer.issuer, 'CN=ring test CA');
    assert.equal(signer.authIds[1], ca.skid, 'the signer names its issuer by key identifier');
    assert.equal(signer.sigHashAlgo, 'sha256');
    assert.equal(signer.pkeyAlgo, 'rsa');
    const serial = execFileSync('openssl', ['x509', '-in', pki.signerCert, '-noout', '-serial'], { encoding: 'utf8' }).trim().split('=')[1]!;
    assert.equal(BigInt(`0x${signer.serial}`), BigInt(`0x${serial}`));
    const fp = execFileSync('openssl', ['x509', '-in', pki.signerCert, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
    assert.equal(signer.fingerprint256, fp.trim().split('=')[1]!.replace(/:/g, '').toLowerCase());
  });

  it('refuses a self-signed certificate whose own signature is broken (EKEYREJECTED)', () => {
    const der = new Uint8Array(derOf(pki.caCert));
    der[der.length - 5]! ^= 0x40;
    assert.throws(() => x509CertParse(der, 'broken.der'), kexecError('EKEYREJECTED', /broken.der/));
  });
});

describe('keyrings', () => {
  it('loads PEM, PEM bundles, DER and concatenated DER', () => {
    const k = new Keyrings();
    assert.equal(k.addCertificateFile('secondary', pki.caCert).length, 1);
    const bundle = file('bundle.pem', readFileSync(pki.caCert, 'utf8') + readFileSync(pki.signerCert, 'utf8'));
    assert.equal(k.addCertificateFile('platform', bundle).length, 2);
    const der = file('ca.der', derOf(pki.caCert));
    assert.equal(k.addCertificateFile('builtin', der).length, 1);
    const both = file('both.der', Buffer.concat([derOf(pki.caCert), derOf(pki.signerCert)]));
    assert.deepEqual(k.addCertificateFile('blacklist', both).map((c) => c.subject), ['CN=ring test CA', 'CN=ring test signer']);
    assert.equal(k.entries('secondary')[0]!.source, pki.caCert);
    assert.equal(k.trustedCerts('secondary').length, 2, 'secondary search includes builtin');
    assert.equal(k.trustedCerts('platform').length, 2);
    assert.equal(k.revokedCerts().length, 2);
  });

  it('adds a certificate once', () => {
    const k = new Keyrings();
    k.addCertificateFile('secondary', pki.caCert);
    k.addCertificateFile('secondary', file('again.der', derOf(pki.caCert)));
    assert.equal(k.entries('secondary').length, 1);
    assert.equal(k.removeCertificate('secondary', k.entries('secondary')[0]!.cert.fingerprint256), true);
    assert.equal(k.entries('secondary').length, 0);
  });

  it('says clearly which file is not a certificate', () => {
    const k = new Keyrings();
    assert.throws(() => k.addCertificateFile('secondary', file('junk.bin', 'hello world, not a cert')), kexecError('EBADMSG', /junk\.bin/));
    assert.throws(() => k.addCertificateFile('secondary', pki.caKey), kexecError('EBADMSG', /no CERTIFICATE block/));
    const cut = derOf(pki.caCert).subarray(0, 300);
    assert.throws(() => k.addCertificateFile('secondary', file('cut.der', cut)), kexecError('EBADMSG', /cut\.der/));
    assert.throws(() => k.addCertificateFile('secondary', join(dir, 'missing.pem')), (e: unknown) => e instanceof UsageError && /missing\.pem/.test(e.message));
    assert.equal(k.entries('secondary').length, 0);
  });

  it('vets blacklist entries as blacklist_vet_description does', () => {
    assert.deepEqual(vetBlacklistDescription('bin:00ff'), { type: 'bin', hash: '00ff' });
    assert.throws(() => vetBlacklistDescription('foo:00'), kexecError('EINVAL'));
    assert.throws(() => vetBlacklistDescription('bin:00FF'), kexecError('EINVAL'));
    assert.throws(() => vetBlacklistDescription('tbs:abc'), kexecError('EINVAL'));
    assert.throws(() => vetBlacklistDescription('tbs:'), kexecError('EINVAL'));
    assert.throws(() => vetBlacklistDescription(`tbs:${'ab'.repeat(65)}`), kexecError('ENOPKG'));
  });

  it('keeps a blacklisted certificate out of trusted keyrings (EKEYREJECTED) but not out of .blacklist', () => {
    const k = new Keyrings();
    const ca = x509CertParse(derOf(pki.caCert));
    k.addBlacklistHash(`tbs:${ca.tbsHash}`);
    assert.throws(() => k.addCertificateFile('secondary', pki.caCert), kexecError('EKEYREJECTED', /blacklisted/));
    assert.equal(k.addCertificateFile('blacklist', pki.caCert).length, 1);
    assert.equal(k.isCertBlacklisted(ca), true);
  });

  it('round-trips through JSON (base64 DER) for the machine state file', () => {
    const k = new Keyrings();
    k.addCertificateFile('builtin', pki.caCert);
    k.addCertificateFile('platform', pki.signerCert);
    k.addCertificateFile('blacklist', pki.signerCert);
    k.addBlacklistHash(`bin:${'11'.repeat(32)}`);
    k.addBlacklistHash(`tbs:${'22'.repeat(32)}`);
    const json = JSON.parse(JSON.stringify(k));
    assert.equal(json.version, 1);
    assert.equal(typeof json.builtin[0].der, 'string');
    const back = Keyrings.fromJSON(json);
    assert.deepEqual(JSON.parse(JSON.stringify(back)), json);
    assert.equal(back.isHashBlacklisted('bin', '11'.repeat(32)), true);
    assert.equal(back.entries('builtin')[0]!.cert.subject, 'CN=ring test CA');
  });

  it('refuses damaged state with EINVAL, and a damaged certificate in it with the parser\'s errno', () => {
    assert.throws(() => Keyrings.fromJSON(null), kexecError('EINVAL'));
    assert.throws(() => Keyrings.fromJSON({ version: 1, builtin: 'x' }), kexecError('EINVAL'));
    const good = JSON.parse(JSON.stringify(new Keyrings()));
    assert.throws(() => Keyrings.fromJSON({ ...good, secondary: [{ der: 'AAAA', source: 's' }] }), kexecError('EBADMSG', /secondary_trusted_keys entry 0/));
    assert.throws(() => Keyrings.fromJSON({ ...good, blacklist: { certs: [], hashes: ['nope'] } }), kexecError('EINVAL'));
  });

  it('splits certificates without reading past a truncated DER length', () => {
    assert.throws(() => splitCertificates(new Uint8Array([0x30, 0x84, 0xff]), 'x'), kexecError('EBADMSG'));
  });
});
