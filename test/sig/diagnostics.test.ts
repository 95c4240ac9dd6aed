// The explanations of two ENOKEY answers (issue 16, item 8): the errno is Linux's, the words must name the
// real cause. (1) A signer certificate without authorityKeyIdentifier (X.509 v1, as a bare `openssl x509
// -req` makes it) cannot be linked to its issuer by pkcs7_validate_trust_one, even with the CA in the keyring:
// only the signer itself in a keyring is trusted. (2) A trusted CA whose TBS hash is blacklisted is never used:
// the message says the keyring holds it but may not use it, and does not advise adding the CA.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { KexecError } from '../../src/errno.js';
import { Keyrings } from '../../src/sig/keyring.js';
import { verifyPefileSignature } from '../../src/sig/verify-pefile.js';
import { NO_AKI_HINT } from '../../src/sig/pkcs7-trust.js';
import { bzImage64FileOps } from '../../src/loaders/kernel/kexec-bzimage64.js';
import { copyUnsignedKernel, kernelSigned, makePki, makeTempDir, removeDir, requireTool, sbsign, type Pki } from './sig-fixtures-lib.js';

const dir = makeTempDir('diag');
after(() => removeDir(dir));

/** The certificate table (data directory 4) of a PE image: file offset and size. */
function certTableOf(pe: Uint8Array): { offset: number; size: number } {
  const v = new DataView(pe.buffer, pe.byteOffset, pe.byteLength);
  const peOff = v.getUint32(0x3c, true);
  const opt = peOff + 24;
  const dirs = opt + (v.getUint16(opt, true) === 0x20b ? 112 : 96);
  return { offset: v.getUint32(dirs + 4 * 8, true), size: v.getUint32(dirs + 4 * 8 + 4, true) };
}

function refusal(image: Uint8Array, k: Keyrings): KexecError {
  try {
    verifyPefileSignature(image, k, { platformKeyring: true, source: 'vmlinuz' });
  } catch (e) {
    if (e instanceof KexecError) return e;
    throw e;
  }
  assert.fail('the signature was accepted');
}

/** A CA and a signer issued by `openssl x509 -req` without extensions: an X.509 v1 certificate, no AKI. */
function v1Pki(): Pki {
  requireTool('openssl', 'openssl');
  const p = (f: string) => join(dir, `v1-${f}`);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca.key'), '-out', p('ca.crt'), '-subj', '/CN=v1 test CA', '-days', '3650']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('signer.key'), '-out', p('signer.csr'), '-subj', '/CN=v1 test signer']);
  run(['x509', '-req', '-in', p('signer.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('signer.crt'), '-days', '3650']);
  return { dir, caCert: p('ca.crt'), caKey: p('ca.key'), signerCert: p('signer.crt'), signerKey: p('signer.key') };
}

test('a v1 signer (no authorityKeyIdentifier) with its CA trusted: ENOKEY that names the missing AKI, not the CA', () => {
  const pki = v1Pki();
  const [signer] = new Keyrings().addCertificateFile('blacklist', pki.signerCert);
  assert.deepEqual(signer!.authIds, [undefined, undefined], 'openssl made a certificate without AKI');
  const image = join(dir, 'v1-signed');
  sbsign(copyUnsignedKernel(dir), image, pki);
  const bytes = readFileSync(image);
  const k = new Keyrings();
  k.addCertificateFile('secondary', pki.caCert);
  const e = refusal(bytes, k);
  assert.equal(e.errno, 'ENOKEY');
  assert.match(e.message, /"CN=v1 test signer" has no authorityKeyIdentifier, so it cannot be linked to its issuer "CN=v1 test CA", although that CA is in the searched keyring/);
  assert.equal(e.hint, NO_AKI_HINT);
  assert.doesNotMatch(`${e.message} ${e.hint}`, /add it to the machine's secondary/);
  // What Linux trusts instead: the signer certificate itself in a keyring.
  k.addCertificateFile('secondary', pki.signerCert);
  assert.equal(verifyPefileSignature(bytes, k, { platformKeyring: true }).ok, true);
});

test('a trusted CA whose TBS hash is blacklisted: ENOKEY that names the revocation, not a missing CA', () => {
  const pki = makePki(join(dir, 'bl'), 'bl');
  const image = join(dir, 'bl-signed');
  sbsign(copyUnsignedKernel(dir), image, pki);
  const bytes = readFileSync(image);
  const k = new Keyrings();
  k.addCertificateFile('secondary', pki.caCert);
  assert.equal(verifyPefileSignature(bytes, k, { platformKeyring: false }).ok, true, 'trusted before the blacklist entry');
  const [ca] = new Keyrings().addCertificateFile('blacklist', pki.caCert);
  k.addBlacklistHash(`tbs:${ca!.tbsHash}`);
  const e = refusal(bytes, k);
  assert.equal(e.errno, 'ENOKEY');
  assert.match(e.message, new RegExp(`also holds a certificate it may not use because its TBS hash is in the blacklist: "CN=bl test CA" \\(tbs:${ca!.tbsHash}\\)`));
  assert.match(e.hint ?? '', /revoked by a tbs: entry in the blacklist keyring/);
  assert.doesNotMatch(e.hint ?? '', /add it to the machine's secondary/);
});

test('a "bin:" entry for a signed image: kexec_file_load accepts it, as Linux does, and says so', () => {
  const pki = makePki(join(dir, 'bin'), 'bin');
  const image = join(dir, 'bin-signed');
  sbsign(copyUnsignedKernel(dir), image, pki);
  const bytes = readFileSync(image);
  const k = new Keyrings();
  k.addCertificateFile('secondary', pki.caCert);
  const clean = bzImage64FileOps.verifySig!(bytes, { keyrings: k });
  assert.doesNotMatch(clean.summary, /warning/);
  k.addBlacklistHash(`bin:${verifyPefileSignature(bytes, k).imageSha256}`);
  const listed = bzImage64FileOps.verifySig!(bytes, { keyrings: k });
  assert.match(listed.summary, /^signed by "CN=bin test signer".*; warning: its hash bin:[0-9a-f]{64} is in the blacklist keyring, which Linux's kexec signature check does not consult/);
});

test('a PKCS#7 whose [0] wrapper claims one byte more than its parent holds: EBADMSG (asn1_ber_decoder: data overrun)', () => {
  const signed = Uint8Array.from(readFileSync(kernelSigned()));
  const { offset } = certTableOf(signed);
  // WIN_CERTIFICATE (8 bytes), then SEQUENCE (30 82 LL LL), contentType OID (06 09 + 9 bytes), [0] (A0 82 LL LL).
  const wrapper = offset + 8 + 4 + 11;
  assert.equal(signed[wrapper], 0xa0, 'the [0] wrapper of signedData');
  assert.equal(signed[wrapper + 1], 0x82);
  const tampered = Uint8Array.from(signed);
  tampered[wrapper + 3] = (tampered[wrapper + 3]! + 1) & 0xff;
  const e = refusal(tampered, new Keyrings());
  assert.equal(e.errno, 'EBADMSG');
  assert.match(e.message, /ASN\.1 decoder: Data overrun error/);
});
