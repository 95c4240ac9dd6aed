// Appended (module-style) signatures made with `openssl cms -sign -binary -noattr -outform DER` and the
// scripts/sign-file trailer built by hand.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KexecError, type ErrnoName } from '../../src/errno.js';
import { SignatureError } from '../../src/sig/facts.js';
import { Keyrings } from '../../src/sig/keyring.js';
import { MODULE_SIG_STRING, MODULE_SIGNATURE_SIZE, parseAppendedSignature, verifyAppendedSignature, type AppendedSignatureReport } from '../../src/sig/module-sig.js';
import { makePki, makeTempDir, patternBytes, removeDir, requireTool, type Pki } from './sig-fixtures-lib.js';

let dir: string;
let pki: Pki;
let ecPki: Pki;
let contentPath: string;
const content = patternBytes(300_000, 99);

/** openssl cms signature over the content file (detached unless told otherwise). */
function cms(p: Pki, extra: string[] = ['-noattr']): Uint8Array {
  const out = join(dir, `sig-${Math.random().toString(16).slice(2)}.der`);
  execFileSync('openssl', ['cms', '-sign', '-binary', '-in', contentPath, '-signer', p.signerCert, '-inkey', p.signerKey, '-outform', 'DER', '-out', out, ...extra]);
  return new Uint8Array(readFileSync(out));
}

/** [content][sig][struct module_signature][marker], with optional edits to the trailer fields. */
function appended(sig: Uint8Array, edit: Partial<{ algo: number; idType: number; sigLen: number; pad: number }> = {}, body = content): Uint8Array {
  const trailer = new Uint8Array(MODULE_SIGNATURE_SIZE);
  const v = new DataView(trailer.buffer);
  v.setUint8(0, edit.algo ?? 0);
  v.setUint8(2, edit.idType ?? 2);
  v.setUint8(6, edit.pad ?? 0);
  v.setUint32(8, edit.sigLen ?? sig.length, false);
  return new Uint8Array(Buffer.concat([body, sig, trailer, Buffer.from(MODULE_SIG_STRING, 'latin1')]));
}

function keyringsWith(ring: 'secondary' | 'platform' | 'builtin', ...certs: string[]): Keyrings {
  const k = new Keyrings();
  for (const c of certs) k.addCertificateFile(ring, c);
  return k;
}

function refused(buf: Uint8Array, k: Keyrings, errno: ErrnoName, rule: string, message?: RegExp): AppendedSignatureReport {
  try {
    verifyAppendedSignature(buf, k, { source: 'Image' });
  } catch (e) {
    assert.ok(e instanceof SignatureError, `expected SignatureError, got ${String(e)}`);
    assert.ok(e instanceof KexecError);
    assert.equal(e.errno, errno, e.message);
    assert.equal(e.rule, rule, e.message);
    assert.ok(e.hint);
    if (message) assert.match(e.message, message);
    return e.report as AppendedSignatureReport;
  }
  assert.fail(`expected ${errno} (${rule}), but the signature verified`);
}

before(() => {
  requireTool('openssl', 'openssl');
  dir = makeTempDir('modsig');
  pki = makePki(join(dir, 'rsa'), 'modsig');
  ecPki = makePki(join(dir, 'ec'), 'modsig-ec', 'ec');
  contentPath = join(dir, 'Image');
  writeFileSync(contentPath, content);
});

after(() => removeDir(dir));

describe('appended signatures', () => {
  it('locate the PKCS#7 blob from the module_signature trailer', () => {
    const sig = cms(pki);
    const a = parseAppendedSignature(appended(sig));
    assert.equal(a.contentLength, content.length);
    assert.equal(a.sigLength, sig.length);
    assert.equal(a.info.idType, 2);
  });

  it('verify with the CA in the secondary keyring (the message carries the signer certificate)', () => {
    const r = verifyAppendedSignature(appended(cms(pki)), keyringsWith('secondary', pki.caCert));
    assert.equal(r.ok, true);
    assert.equal(r.contentLength, content.length);
    assert.equal(r.signers[0]!.subject, 'CN=modsig test signer');
    assert.deepEqual(r.keyringsSearched.map((s) => s.result), ['ok']);
  });

  it('fall back to the platform keyring only on ENOKEY', () => {
    const r = verifyAppendedSignature(appended(cms(pki)), keyringsWith('platform', pki.caCert));
    assert.deepEqual(r.keyringsSearched.map((s) => [s.keyring, s.result]), [['secondary', 'ENOKEY'], ['platform', 'ok']]);
  });

  it('signed like sign-file (-nocerts) need the signing certificate itself in a keyring', () => {
    const sig = cms(pki, ['-noattr', '-nocerts']);
    const r = verifyAppendedSignature(appended(sig), keyringsWith('builtin', pki.signerCert));
    assert.equal(r.trustedBy?.via, 'trusted key signed directly');
    const report = refused(appended(sig), keyringsWith('secondary', pki.caCert), 'ENOKEY', 'pkcs7_validate_trust');
    assert.equal(report.signers[0]!.subject, undefined);
    assert.match(report.signers[0]!.sid, /^serial [0-9a-f]+ issued by "CN=modsig test CA"$/);
    assert.equal(report.signers[0]!.issuer, 'CN=modsig test CA');
    assert.match(report.signers[0]!.anchor!, /^the signing certificate \(serial/);
  });

  it('match a subjectKeyIdentifier signer (sign-file -k, CMS SignerInfo version 3)', () => {
    const sig = cms(pki, ['-noattr', '-nocerts', '-keyid']);
    const r = verifyAppendedSignature(appended(sig), keyringsWith('secondary', pki.signerCert));
    assert.match(r.signers[0]!.sid, /^subjectKeyIdentifier /);
  });

  it('verify ECDSA signatures', () => {
    assert.equal(verifyAppendedSignature(appended(cms(ecPki)), keyringsWith('secondary', ecPki.caCert)).signers[0]!.signatureAlgorithm, 'ecdsa');
  });

  it('reject changed content (EKEYREJECTED: the signature no longer verifies)', () => {
    const buf = appended(cms(pki));
    buf[1000]! ^= 1;
    refused(buf, keyringsWith('secondary', pki.caCert), 'EKEYREJECTED', 'pkcs7_verify', /does not verify/);
  });

  it('reject authenticated attributes (EKEYREJECTED) and embedded content (EBADMSG)', () => {
    refused(appended(cms(pki, ['-nosmimecap'])), keyringsWith('secondary', pki.caCert), 'EKEYREJECTED', 'pkcs7_verify', /authenticated attributes/);
    // openssl's default attributes include S/MIME capabilities, which the parser allows only in Authenticode.
    refused(appended(cms(pki, [])), keyringsWith('secondary', pki.caCert), 'EKEYREJECTED', 'pkcs7_parse_message', /S\/MIME/);
    refused(appended(cms(pki, ['-noattr', '-nodetach'])), keyringsWith('secondary', pki.caCert), 'EBADMSG', 'verify_pkcs7_message_sig', /non-detached/);
  });

  it('apply mod_check_sig: sig_len EBADMSG, id_type ENOPKG, other fields EBADMSG', () => {
    const sig = cms(pki);
    const k = keyringsWith('secondary', pki.caCert);
    refused(appended(sig, { sigLen: content.length + sig.length }), k, 'EBADMSG', 'mod_check_sig', /sig_len/);
    refused(appended(sig, { idType: 1 }), k, 'ENOPKG', 'mod_check_sig', /PKCS#7/);
    refused(appended(sig, { algo: 4 }), k, 'EBADMSG', 'mod_check_sig', /non-zero/);
    refused(appended(sig, { pad: 1 }), k, 'EBADMSG', 'mod_check_sig', /non-zero/);
  });

  it('reject a file without the marker (EKEYREJECTED, as s390_verify_sig) or too short for the trailer', () => {
    const k = keyringsWith('secondary', pki.caCert);
    refused(content, k, 'EKEYREJECTED', 'verify_appended_signature', /no appended signature/);
    refused(new Uint8Array(Buffer.from(`abc${MODULE_SIG_STRING}`, 'latin1')), k, 'EBADMSG', 'mod_check_sig');
  });

  it('reject a revoked signer (EKEYREJECTED)', () => {
    const k = keyringsWith('secondary', pki.caCert);
    k.addCertificateFile('blacklist', pki.signerCert);
    refused(appended(cms(pki)), k, 'EKEYREJECTED', 'is_key_on_revocation_list');
  });
});
