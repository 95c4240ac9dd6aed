// kexec_file_load's signature checks end to end through the real binary: Debian's kernel signed with sbsign by
// a throwaway CA (openssl), Debian's own signed kernel against Debian's Secure Boot CA, `machine keys`, the
// messages on refusal, and the policy matrix (secure boot x lockdown x sig-enforce x IMA x syscall) with the
// kernel's answer in every cell. sbverify (sbsigntool) judges every signature case independently.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePe } from '../../src/formats/pe.js';
import { snapshot, tempDir, vkexec, vkexecAsync, type Run } from '../helpers/cli.js';
import { appendModsig, debianSecureBootCa, kernelSigned, kernelUnsigned, makePki, removeDir, requireTool, sbsign, sbverify, type Pki } from '../sig/sig-fixtures-lib.js';

/** glibc's strerror texts, which kexec-tools prints after "kexec_file_load failed: ". */
const STRERROR = {
  EPERM: 'Operation not permitted',
  EACCES: 'Permission denied',
  ENODATA: 'No data available',
  ENOKEY: 'Required key not available',
  EKEYREJECTED: 'Key was rejected by service',
} as const;
type Refusal = keyof typeof STRERROR;

let work: string;
let pki: Pki; // the CA the machines trust
let other: Pki; // a CA no machine trusts
let unsigned: string; // Debian's unsigned kernel (a PE with an empty certificate table)
let signed: string; // the same, signed with sbsign by pki's signer
let tampered: string; // signed, then one byte of .text changed
let otherSigned: string; // signed by other's signer
let modsig: string; // unsigned PE with an appended (module-style) signature by pki's signer
let machineNo = 0;

function run(machine: string, args: string[]): Run {
  return vkexec(machine, args);
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return r;
}

/** A machine with the given policy knobs and keys, made and keyed through the CLI. */
function newMachine(init: string[], keys: [string, string][] = []): string {
  const dir = join(work, `m${machineNo++}`);
  ok(run(dir, ['machine', 'init', ...init]), 'machine init');
  for (const [ring, file] of keys) ok(run(dir, ['machine', 'keys', 'add', '--keyring', ring, file]), `keys add ${ring} ${file}`);
  return dir;
}

const ENFORCING = ['--secure-boot', 'on', '--sig-enforce', 'on'];

/** exit 255, kexec-tools' line, then vkexec's rule line and its signature-facts line (when there is one). */
function refusedWith(r: Run, errno: Refusal, rule: RegExp): string[] {
  assert.equal(r.code, 255, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines[0], `kexec_file_load failed: ${STRERROR[errno]}`, r.stderr);
  assert.match(lines[1]!, rule);
  assert.match(lines[lines.length - 1]!, /^vkexec: fix: /);
  return lines;
}

function tbsHash(certPem: string): string {
  const der = join(work, `tbs-${machineNo++}.der`);
  execFileSync('openssl', ['asn1parse', '-in', certPem, '-strparse', '4', '-noout', '-out', der]);
  return execFileSync('sha256sum', [der], { encoding: 'utf8' }).split(' ')[0]!;
}

before(() => {
  requireTool('openssl', 'openssl');
  requireTool('sbsign', 'sbsigntool');
  work = tempDir('vkexec-sig-cli-');
  pki = makePki(join(work, 'pki'), 'vkexec');
  other = makePki(join(work, 'other'), 'other');
  unsigned = kernelUnsigned();
  signed = join(work, 'vmlinuz.signed');
  sbsign(unsigned, signed, pki);
  otherSigned = join(work, 'vmlinuz.other');
  sbsign(unsigned, otherSigned, other);
  const bytes = readFileSync(signed);
  const text = parsePe(new Uint8Array(bytes)).sections.find((s) => s.name === '.text')!;
  bytes[text.dataAddr + 0x12345]! ^= 0x01;
  tampered = join(work, 'vmlinuz.tampered');
  writeFileSync(tampered, bytes);
  modsig = join(work, 'vmlinuz.modsig');
  appendModsig(unsigned, pki, modsig);
});

after(() => removeDir(work));

describe('machine keys', () => {
  it('adds PEM and DER certificates, lists them (human and --json) and removes them by file or fingerprint', () => {
    const m = newMachine([]);
    const der = join(work, 'ca.der');
    execFileSync('openssl', ['x509', '-in', other.caCert, '-outform', 'DER', '-out', der]);
    assert.match(ok(run(m, ['machine', 'keys', 'add', '--keyring', 'secondary', pki.caCert]), 'add').stdout, /^added "CN=vkexec test CA" .* to \.secondary_trusted_keys$/m);
    ok(run(m, ['machine', 'keys', 'add', '--keyring', 'platform', der]), 'add DER');
    const list = ok(run(m, ['machine', 'keys', 'list']), 'list').stdout;
    assert.match(list, /^\.secondary_trusted_keys \(secondary\): 1 certificate\n {2}CN=vkexec test CA\n/m);
    assert.match(list, /^\.platform \(platform\): 1 certificate\n {2}CN=other test CA\n/m);
    assert.match(list, /^\.blacklist \(blacklist\): 0 certificates, 0 hashes$/m);
    const json = JSON.parse(ok(run(m, ['--json', 'machine', 'keys', 'list']), 'list --json').stdout);
    assert.deepEqual(Object.keys(json), ['builtin', 'secondary', 'platform', 'blacklist']);
    assert.equal(json.secondary.kernelName, '.secondary_trusted_keys');
    assert.equal(json.secondary.certificates[0].subject, 'CN=vkexec test CA');
    assert.equal(json.secondary.certificates[0].tbs, `tbs:${tbsHash(pki.caCert)}`);
    const fp = json.platform.certificates[0].sha256 as string;
    assert.match(fp, /^[0-9a-f]{64}$/);
    ok(run(m, ['machine', 'keys', 'remove', '--keyring', 'secondary', pki.caCert]), 'remove by file');
    ok(run(m, ['machine', 'keys', 'remove', '--keyring', 'platform', fp.toUpperCase().match(/../g)!.join(':')]), 'remove by fingerprint');
    const after = JSON.parse(ok(run(m, ['--json', 'machine', 'keys', 'list']), 'list').stdout);
    assert.deepEqual([after.secondary.certificates, after.platform.certificates], [[], []]);
  });

  it('takes tbs:/bin: hashes for the blacklist only, lowercased, and refuses malformed ones with exit 1', () => {
    const m = newMachine([]);
    const hash = 'AB'.repeat(32);
    assert.match(ok(run(m, ['machine', 'keys', 'add', '--keyring', 'blacklist', `BIN:${hash}`, `tbs:${'0c'.repeat(32)}`]), 'add hashes').stdout, new RegExp(`added bin:${hash.toLowerCase()}`));
    const json = JSON.parse(ok(run(m, ['--json', 'machine', 'keys', 'list', '--keyring', 'blacklist']), 'list').stdout);
    assert.deepEqual(json.blacklist.hashes, [`bin:${hash.toLowerCase()}`, `tbs:${'0c'.repeat(32)}`]);
    const before = snapshot(m);
    for (const [args, message] of [
      [['--keyring', 'blacklist', 'bin:abc'], /not an even number of lowercase hex digits/],
      [['--keyring', 'blacklist', `bin:${'g'.repeat(64)}`], /not an even number of lowercase hex digits/],
      [['--keyring', 'blacklist', `tbs:${'00'.repeat(65)}`], /longer than 128 hex digits/],
      [['--keyring', 'secondary', `bin:${'00'.repeat(32)}`], /hash entries belong in the blacklist keyring/],
      [['--keyring', 'secondary', join(work, 'no-such.crt')], /cannot read certificate file .*no-such\.crt: No such file or directory/],
      [['--keyring', 'secondary', pki.caKey], /PEM file holds no CERTIFICATE block/],
      [['--keyring', 'secondary', unsigned], /does not start a DER certificate/],
      [['--keyring', 'keyring-x', pki.caCert], /Allowed choices are builtin, secondary, platform, blacklist/],
    ] as [string[], RegExp][]) {
      const r = run(m, ['machine', 'keys', 'add', ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.deepEqual(snapshot(m), before, 'refused key changes leave the machine as it was');
  });

  it('refuses a certificate whose TBS hash is blacklisted into a trusted keyring (EKEYREJECTED)', () => {
    const m = newMachine([], [['blacklist', `tbs:${tbsHash(pki.caCert)}`]]);
    const r = run(m, ['machine', 'keys', 'add', '--keyring', 'secondary', pki.caCert]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot add .* to \.secondary_trusted_keys: .*blacklisted .*\(EKEYREJECTED: Key was rejected by service\)/);
  });

  it('answers EBUSY while another command holds the machine lock, changing nothing', () => {
    const m = newMachine([]);
    writeFileSync(join(m, 'lock'), `${process.pid} test holds it\n`);
    const before = snapshot(m);
    const r = run(m, ['machine', 'keys', 'add', '--keyring', 'secondary', pki.caCert]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /busy/);
    assert.deepEqual(snapshot(m), before);
  });
});

describe('sbsign-signed kernel under secure boot and sig-enforce', () => {
  it('loads with -s when the CA is in the secondary keyring, and sbverify agrees', () => {
    const m = newMachine(ENFORCING, [['secondary', pki.caCert]]);
    const r = ok(run(m, ['-s', '-d', '-l', signed]), '-s -l');
    assert.match(r.stderr, /vkexec: signed by "CN=vkexec test signer", trusted through the \.secondary_trusted_keys \+ \.builtin_trusted_keys keyring/);
    assert.doesNotMatch(r.stderr, /warning/);
    assert.equal(ok(run(m, ['machine', 'show', '--file', '/sys/kernel/kexec_loaded']), 'show').stdout.trim(), '1');
    assert.equal(sbverify(signed, pki.caCert), true);
  });

  it('loads with -s when the CA is in the platform keyring (after ENOKEY from the secondary one)', () => {
    const m = newMachine(ENFORCING, [['platform', pki.caCert]]);
    assert.match(ok(run(m, ['-s', '-d', '-l', signed]), '-s').stderr, /trusted through the \.platform keyring/);
  });

  it('refuses one changed byte of .text with EKEYREJECTED, printing both digests; sbverify refuses it too', () => {
    const m = newMachine(ENFORCING, [['secondary', pki.caCert]]);
    const before = snapshot(m);
    const lines = refusedWith(run(m, ['-s', '-l', tampered]), 'EKEYREJECTED', /^vkexec: pefile_digest_pe: .*vmlinuz\.tampered: Digest mismatch/);
    assert.match(lines[2]!, /^vkexec: signature: signed by "CN=vkexec test signer" \(issuer "CN=vkexec test CA"\); searched \.secondary_trusted_keys \+ \.builtin_trusted_keys \(1 certificate\): EKEYREJECTED; sha256 digest signed ([0-9a-f]{64}), computed (?!\1)[0-9a-f]{64} \(MISMATCH\)$/);
    assert.deepEqual(snapshot(m), before);
    assert.equal(sbverify(tampered, pki.caCert), false);
  });

  it('refuses a kernel signed by an untrusted CA with ENOKEY, naming both searches and their counts; sbverify agrees', () => {
    const m = newMachine(ENFORCING, [['secondary', pki.caCert]]);
    const lines = refusedWith(run(m, ['-s', '-l', otherSigned]), 'ENOKEY', /^vkexec: pkcs7_validate_trust: /);
    assert.match(lines[2]!, /signed by "CN=other test signer" \(issuer "CN=other test CA"\); searched \.secondary_trusted_keys \+ \.builtin_trusted_keys \(1 certificate\): ENOKEY, \.platform \(0 certificates\): ENOKEY; sha256 digest signed (\w+), computed \1 \(match\)$/);
    assert.match(lines[3]!, /CN=other test CA/);
    assert.equal(sbverify(otherSigned, pki.caCert), false);
  });

  it('refuses a signer on the revocation list (.blacklist certificate) with EKEYREJECTED; sbverify, knowing no blacklist, accepts', () => {
    const m = newMachine(ENFORCING, [['secondary', pki.caCert], ['blacklist', pki.signerCert]]);
    refusedWith(run(m, ['-s', '-l', signed]), 'EKEYREJECTED', /is_key_on_revocation_list: .*revoked certificate "CN=vkexec test signer"/);
    assert.equal(sbverify(signed, pki.caCert), true);
  });

  it('refuses a signer whose TBS hash is blacklisted (tbs:, computed with openssl) with EKEYREJECTED', () => {
    const m = newMachine(ENFORCING, [['secondary', pki.caCert], ['blacklist', `tbs:${tbsHash(pki.signerCert)}`]]);
    refusedWith(run(m, ['-s', '-l', signed]), 'EKEYREJECTED', /pkcs7_verify: .*blacklisted: "CN=vkexec test signer"/);
  });

  it('loads an image whose Authenticode hash is a "bin:" entry: verify_pefile_signature never consults them', () => {
    const m = newMachine(ENFORCING, [['secondary', pki.caCert]]);
    const inspect = JSON.parse(ok(vkexec(null, ['--json', 'inspect', signed]), 'inspect').stdout);
    ok(run(m, ['machine', 'keys', 'add', '--keyring', 'blacklist', `bin:${inspect.pe.imageSha256}`]), 'blacklist bin:');
    ok(run(m, ['-s', '-l', signed]), '-s with a bin: entry for the image');
  });

  it('refuses the unsigned kernel with ENODATA; sbverify finds no signature either', () => {
    const m = newMachine(ENFORCING, [['secondary', pki.caCert]]);
    const lines = refusedWith(run(m, ['-s', '-l', unsigned]), 'ENODATA', /^vkexec: pefile_parse_binary: .*Unsigned PE binary/);
    assert.equal(lines[2], 'vkexec: signature: no signer could be read; no keyring searched');
    assert.equal(sbverify(unsigned, pki.caCert), false);
  });

  it('-a does not fall back to kexec_load on a signature error (only ENOSYS/EINVAL/ENOEXEC/ENOTSUP do)', () => {
    // sig-enforce alone: kexec_load itself would accept the image, so a fallback would load it.
    const m = newMachine(['--sig-enforce', 'on'], [['secondary', pki.caCert]]);
    const before = snapshot(m);
    refusedWith(run(m, ['-a', '-l', tampered]), 'EKEYREJECTED', /Digest mismatch/);
    assert.deepEqual(snapshot(m), before, 'nothing loaded');
    ok(run(m, ['-c', '-l', tampered]), 'kexec_load takes the same file');
  });
});

describe("Debian's signed kernel", () => {
  let ca: { der: string; pem: string };
  before(() => {
    ca = debianSecureBootCa();
  });

  it("loads with -s under enforcement when Debian's Secure Boot CA is trusted; sbverify agrees", () => {
    const m = newMachine(ENFORCING, [['secondary', ca.der]]);
    const r = ok(run(m, ['-s', '-d', '-l', kernelSigned()]), '-s Debian-signed');
    assert.match(r.stderr, /signed by "CN=Debian Secure Boot Signer 2022 - linux", trusted through the \.secondary_trusted_keys/);
    assert.equal(sbverify(kernelSigned(), ca.pem), true);
  });

  it('refuses its unsigned twin with ENODATA under enforcement; sbverify refuses it too', () => {
    const m = newMachine(ENFORCING, [['secondary', ca.der]]);
    refusedWith(run(m, ['-s', '-l', kernelUnsigned()]), 'ENODATA', /Unsigned PE binary/);
    assert.equal(sbverify(kernelUnsigned(), ca.pem), false);
  });

  it('loads the unsigned twin with a warning when nothing enforces signatures', () => {
    const m = newMachine([]);
    const r = ok(run(m, ['-s', '-l', kernelUnsigned()]), '-s unsigned, no policy');
    assert.match(r.stderr, /^vkexec: warning: signature not verified \(ENODATA: .*Unsigned PE binary.*\); accepted because nothing enforces signatures on this machine$/m);
  });
});

// ---- the policy matrix ---------------------------------------------------------------------------------------
//
// Expected answers come from the kernel's rules (reference/kernel-kexec.md), not from running vkexec:
// kexec_file_load (-s), after the kernel file is read:
//   1. IMA (ima-appraise on: an "appraise func=KEXEC_KERNEL_CHECK appraise_type=imasig|modsig" rule): the file
//      must carry an appended signature that verifies, else EACCES.
//   2. verify_sig: T (sbsigned, CA trusted) passes; U (unsigned PE) and M (unsigned PE + trusted modsig) fail
//      with ENODATA ("Unsigned PE binary": the modsig is not a PE signature).
//   3. kimage_validate_signature on failure: sig_enforce (KEXEC_SIG_FORCE = --sig-enforce, or set by the IMA arch
//      policy when secure boot is on) -> that error; else lockdown and IMA not appraising the image -> EPERM;
//      else accepted (vkexec warns: "signature not verified").
// kexec_load (-c), before any image is looked at: secure boot (KEXEC_SIG and arch secure boot) or an IMA
// appraise rule for kexec -> EACCES (ima_load_data); then lockdown -> EPERM (LOCKDOWN_KEXEC is below both
// integrity and confidentiality); sig-enforce alone does not concern kexec_load.

type Cell = 'ok' | 'warn' | Refusal;
interface Row {
  sb: boolean;
  lockdown: 'none' | 'integrity' | 'confidentiality';
  enforce: boolean;
  ima: boolean;
  /** -s with T, U, M; -c with T and U (the same answer: kexec_load never looks at signatures). */
  s: [Cell, Cell, Cell];
  c: Cell;
  why: string;
}

const MATRIX: Row[] = [
  { sb: false, lockdown: 'none', enforce: false, ima: false, s: ['ok', 'warn', 'warn'], c: 'ok', why: 'nothing enforced: failed checks are only noted' },
  { sb: false, lockdown: 'none', enforce: false, ima: true, s: ['EACCES', 'EACCES', 'warn'], c: 'EACCES', why: 'IMA needs a modsig (only M has one); kexec_load has no fd to appraise' },
  { sb: false, lockdown: 'none', enforce: true, ima: false, s: ['ok', 'ENODATA', 'ENODATA'], c: 'ok', why: 'KEXEC_SIG_FORCE returns verify_sig\'s error; kexec_load is not concerned' },
  { sb: false, lockdown: 'none', enforce: true, ima: true, s: ['EACCES', 'EACCES', 'ENODATA'], c: 'EACCES', why: 'IMA first; M passes IMA, then the enforced PE check fails' },
  { sb: false, lockdown: 'integrity', enforce: false, ima: false, s: ['ok', 'EPERM', 'EPERM'], c: 'EPERM', why: 'lockdown refuses what is not verified (IMA does not appraise)' },
  { sb: false, lockdown: 'integrity', enforce: false, ima: true, s: ['EACCES', 'EACCES', 'warn'], c: 'EACCES', why: 'IMA appraised M, so lockdown permits it; IMA precedes lockdown for -c' },
  { sb: false, lockdown: 'integrity', enforce: true, ima: false, s: ['ok', 'ENODATA', 'ENODATA'], c: 'EPERM', why: 'enforcement is decided before lockdown' },
  { sb: false, lockdown: 'integrity', enforce: true, ima: true, s: ['EACCES', 'EACCES', 'ENODATA'], c: 'EACCES', why: 'IMA, then enforcement' },
  { sb: true, lockdown: 'none', enforce: false, ima: false, s: ['ok', 'ENODATA', 'ENODATA'], c: 'EACCES', why: 'secure boot sets sig_enforce (IMA arch policy) and refuses kexec_load' },
  { sb: true, lockdown: 'none', enforce: false, ima: true, s: ['EACCES', 'EACCES', 'ENODATA'], c: 'EACCES', why: 'IMA, then secure-boot enforcement' },
  { sb: true, lockdown: 'none', enforce: true, ima: false, s: ['ok', 'ENODATA', 'ENODATA'], c: 'EACCES', why: 'as secure boot alone' },
  { sb: true, lockdown: 'none', enforce: true, ima: true, s: ['EACCES', 'EACCES', 'ENODATA'], c: 'EACCES', why: 'as secure boot with IMA' },
  { sb: true, lockdown: 'integrity', enforce: false, ima: false, s: ['ok', 'ENODATA', 'ENODATA'], c: 'EACCES', why: 'enforcement before lockdown; for -c the IMA hook before lockdown' },
  { sb: true, lockdown: 'integrity', enforce: false, ima: true, s: ['EACCES', 'EACCES', 'ENODATA'], c: 'EACCES', why: 'IMA, then secure-boot enforcement' },
  { sb: true, lockdown: 'integrity', enforce: true, ima: false, s: ['ok', 'ENODATA', 'ENODATA'], c: 'EACCES', why: 'as secure boot with lockdown' },
  { sb: true, lockdown: 'integrity', enforce: true, ima: true, s: ['EACCES', 'EACCES', 'ENODATA'], c: 'EACCES', why: 'everything on: IMA first' },
  { sb: false, lockdown: 'confidentiality', enforce: false, ima: false, s: ['ok', 'EPERM', 'EPERM'], c: 'EPERM', why: 'confidentiality includes integrity' },
  { sb: false, lockdown: 'confidentiality', enforce: false, ima: true, s: ['EACCES', 'EACCES', 'warn'], c: 'EACCES', why: 'IMA appraisal lifts lockdown at any level' },
];

const onOff = (b: boolean) => (b ? 'on' : 'off');

function cellOf(r: Run, syscall: 'kexec_file_load' | 'kexec_load'): Cell {
  if (r.code === 0) return /warning: signature not verified/.test(r.stderr) ? 'warn' : 'ok';
  const m = new RegExp(`^${syscall} failed: (.*)$`, 'm').exec(r.stderr);
  const errno = (Object.keys(STRERROR) as Refusal[]).find((k) => STRERROR[k] === m?.[1]);
  assert.ok(r.code === 255 && errno, `${syscall}: unexpected exit ${r.code}:\n${r.stderr}`);
  return errno;
}

describe('policy matrix: secure boot x lockdown x sig-enforce x IMA, -s and -c', () => {
  let base: string;
  before(() => {
    base = newMachine([], [['secondary', pki.caCert]]);
  });

  it('gives the kernel\'s answer in every cell', async () => {
    const rows = MATRIX.map((row, i) => async () => {
      const m = join(work, `matrix-${i}`);
      cpSync(base, m, { recursive: true });
      ok(run(m, ['machine', 'set', '--secure-boot', onOff(row.sb), '--lockdown', row.lockdown, '--sig-enforce', onOff(row.enforce), '--ima-appraise', onOff(row.ima)]), 'machine set');
      const got: Cell[] = [];
      for (const image of [signed, unsigned, modsig]) got.push(cellOf(await vkexecAsync(m, ['-s', '-l', image]), 'kexec_file_load'));
      for (const image of [signed, unsigned]) got.push(cellOf(await vkexecAsync(m, ['-c', '-l', image]), 'kexec_load'));
      return { row, got };
    });
    // Two rows at a time: the machine has two cores.
    const results: { row: Row; got: Cell[] }[] = [];
    for (let i = 0; i < rows.length; i += 2) results.push(...(await Promise.all(rows.slice(i, i + 2).map((f) => f()))));
    const wrong = results
      .filter(({ row, got }) => JSON.stringify(got) !== JSON.stringify([...row.s, row.c, row.c]))
      .map(({ row, got }) => `sb=${onOff(row.sb)} lockdown=${row.lockdown} enforce=${onOff(row.enforce)} ima=${onOff(row.ima)}: expected ${[...row.s, row.c, row.c].join(' ')}, got ${got.join(' ')} (${row.why})`);
    assert.deepEqual(wrong, []);
  });

  it('IMA consults "bin:" entries for a modsig image (ima_check_blacklist): EACCES, where the PE check would not', () => {
    const m = newMachine(['--ima-appraise', 'on'], [['secondary', pki.caCert]]);
    ok(run(m, ['-s', '-l', modsig]), 'modsig image appraised');
    const content = readFileSync(unsigned);
    const digest = execFileSync('sha256sum', ['-'], { input: content, encoding: 'utf8' }).split(' ')[0]!;
    ok(run(m, ['machine', 'keys', 'add', '--keyring', 'blacklist', `bin:${digest}`]), 'blacklist the content digest');
    const r = run(m, ['-s', '-l', modsig]);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /^kexec_file_load failed: Permission denied\nvkexec: ima_check_blacklist: IMA appraisal of .* failed: the sha256 digest of its signed content is blacklisted/);
  });

  it('keeps the signature facts on the lockdown refusal (EPERM)', () => {
    const m = newMachine(['--lockdown', 'integrity'], [['secondary', other.caCert]]);
    const r = run(m, ['-s', '-l', signed]);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /^kexec_file_load failed: Operation not permitted\nvkexec: kimage_validate_signature: Lockdown: .*\nvkexec: signature: signed by "CN=vkexec test signer" .*searched .*\(1 certificate\): ENOKEY, \.platform \(0 certificates\): ENOKEY/);
  });
});
