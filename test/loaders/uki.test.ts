// The uki file type through the real vkexec binary: a UKI (systemd's stub + Debian's signed kernel + the busybox
// initramfs + an embedded command line, built by objcopy in test/setup/fixtures.mjs) loads with -c and -s onto
// exactly the segments the plain kernel with --initrd gives (kexec-tools 2.0.32 kexec-uki.c: .linux and .initrd
// taken, .cmdline ignored); --initrd overrides .initrd; on a machine enforcing signatures the inner kernel's
// signature decides and the envelope's does not matter (sbsign with a key of the test's own); inspect says so.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { parseUki } from '../../src/formats/uki.js';
import { fixture } from '../helpers/fixtures.js';
import { tempDir, vkexec, type Run } from '../helpers/cli.js';
import { debianSecureBootCa, makePki, sbsign, sbverify } from '../sig/sig-fixtures-lib.js';

const UKI = fixture('uki-amd64.efi');
const KERNEL = fixture('vmlinuz-amd64');
const INITRD = fixture('initramfs-busybox-amd64.cpio');
const OTHER_INITRD = fixture('initramfs-kdump-amd64.cpio');
const CMDLINE = 'console=ttyS0 panic=-1';
const work = tempDir();

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n--- stderr\n${r.stderr}\n--- stdout\n${r.stdout.slice(-2000)}`);
  return r;
}

let n = 0;
function machine(...init: string[]): string {
  const dir = path.join(work, `m${n++}`);
  ok(vkexec(dir, ['machine', 'init', ...init]), 'machine init');
  return dir;
}

interface Segment { mem: string; memsz: string; bufsz: number; blob: string }
/** The loaded segments, each `blob` replaced by the sha256 of the blob's bytes (a blob's name also covers the
 *  segments before it: src/vm/machine/store.ts). */
function segments(m: string): Segment[] {
  const show = JSON.parse(ok(vkexec(m, ['--json', 'machine', 'show']), 'machine show').stdout) as { images: { normal: { segments: Segment[] } } };
  return show.images.normal.segments.map((seg) => ({ ...seg, blob: createHash('sha256').update(fs.readFileSync(path.join(m, 'blobs', seg.blob))).digest('hex') }));
}

/**
 * The UKI load equals the plain one: same places and sizes for every segment, same bytes for every segment
 * whose bytes are the same in two plain loads (the SETUP_RNG_SEED setup_data, and with it the purgatory's
 * digests, differ from load to load).
 */
function assertSameLoad(viaUki: Segment[], plain: () => Segment[]): void {
  const a = plain();
  const b = plain();
  const shape = (segs: Segment[]) => segs.map(({ mem, memsz, bufsz }) => ({ mem, memsz, bufsz }));
  assert.deepEqual(shape(viaUki), shape(a));
  const fixed = a.map((seg, i) => seg.blob === b[i]!.blob);
  assert.ok(fixed.filter(Boolean).length >= 2, 'the kernel and initrd segments are the same in every load');
  assert.deepEqual(viaUki.map((seg, i) => (fixed[i] ? seg.blob : '(random)')), a.map((seg, i) => (fixed[i] ? seg.blob : '(random)')));
}

/** Loads `args` on a fresh machine and returns its segments (and the run). */
function load(args: string[], ...init: string[]): { segs: Segment[]; run: Run } {
  const m = machine(...init);
  const run = ok(vkexec(m, args), `vkexec ${args.join(' ')}`);
  return { segs: segments(m), run };
}

for (const mode of ['-c', '-s']) {
  test(`${mode}: the UKI loads onto the segments of its .linux with --initrd of its .initrd; .cmdline is not used`, () => {
    const viaUki = load([mode, '-d', '-l', UKI, '--command-line', CMDLINE]);
    assertSameLoad(viaUki.segs, () => load([mode, '-l', KERNEL, '--initrd', INITRD, '--command-line', CMDLINE]).segs);
    const err = viaUki.run.stderr;
    assert.match(err, /^uki: \.linux 8\d{6} bytes at 0x[0-9a-f]+, loaded as bzImage64$/m);
    assert.match(err, /^uki: \.initrd \d+ bytes at 0x[0-9a-f]+ is the initrd$/m);
    assert.match(err, /^uki: \.cmdline "console=ttyS0 panic=-1 vkexec\.uki=embedded" not used/m);
    // Equal setup segments mean equal command lines: the user's, not the embedded one.
    assert.deepEqual(err.split('\n').filter((l) => l.includes('vkexec.uki=') && !l.startsWith('uki: .cmdline')), []);
  });

  test(`${mode}: --initrd names the initrd instead of the UKI's .initrd`, () => {
    const viaUki = load([mode, '-d', '-l', UKI, '--initrd', OTHER_INITRD, '--command-line', CMDLINE]);
    assertSameLoad(viaUki.segs, () => load([mode, '-l', KERNEL, '--initrd', OTHER_INITRD, '--command-line', CMDLINE]).segs);
    assert.match(viaUki.run.stderr, /^uki: \.initrd \d+ bytes at 0x[0-9a-f]+ not used: --initrd names the initrd$/m);
  });
}

test('-s --entry-32bit: refused as for the bzImage64 inside (bzImage64_load_file)', () => {
  const m = machine();
  const r = vkexec(m, ['-s', '-l', '--entry-32bit', UKI]);
  assert.equal(r.code, 255, r.stderr);
  assert.match(r.stderr, /Kexec2 syscall does not support 16bit or 32bit entry yet/);
  assert.match(r.stderr, new RegExp(`Cannot load ${UKI.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});

test('secure boot: the inner kernel\'s signature decides; the envelope\'s (signed by an unknown key or not) is not checked', () => {
  const pki = makePki(path.join(work, 'pki'), 'vkexec-uki');
  const signed = path.join(work, 'uki-signed.efi');
  sbsign(UKI, signed, pki);
  assert.ok(sbverify(signed, pki.signerCert), 'sbverify accepts the signed UKI');
  for (const file of [UKI, signed]) {
    // Debian's CA trusted: the Debian-signed .linux verifies, whoever signed the envelope.
    const trusting = machine('--secure-boot', 'on', '--sig-enforce', 'on');
    ok(vkexec(trusting, ['machine', 'keys', 'add', '--keyring', 'platform', debianSecureBootCa().pem]), 'keys add');
    const r = ok(vkexec(trusting, ['-s', '-l', file, '--command-line', CMDLINE]), `-s ${path.basename(file)} on a machine trusting Debian`);
    assert.doesNotMatch(r.stderr, /warning: signature not verified/);
    // Only the envelope's signer trusted: the kernel still refuses the .linux (its signer is Debian's).
    const other = machine('--secure-boot', 'on', '--sig-enforce', 'on');
    ok(vkexec(other, ['machine', 'keys', 'add', '--keyring', 'secondary', pki.caCert]), 'keys add test CA');
    const refused = vkexec(other, ['-s', '-l', file, '--command-line', CMDLINE]);
    assert.equal(refused.code, 255, refused.stderr);
    assert.match(refused.stderr, /kexec_file_load failed: Required key not available/);
    assert.match(refused.stderr, /\(\.linux section\)/);
  }
});

test('why VirtualSize: .linux taken by SizeOfRawData, as kexec-tools 2.0.32 takes it, fails the signed kernel\'s digest', () => {
  const uki = new Uint8Array(fs.readFileSync(UKI));
  const linux = parseUki(uki).linux;
  assert.ok(linux.rawSize > linux.size, 'objcopy padded .linux to FileAlignment');
  const padded = path.join(work, 'linux-raw-size');
  fs.writeFileSync(padded, uki.subarray(linux.offset, linux.offset + linux.rawSize));
  const m = machine('--secure-boot', 'on', '--sig-enforce', 'on');
  ok(vkexec(m, ['machine', 'keys', 'add', '--keyring', 'platform', debianSecureBootCa().pem]), 'keys add');
  const r = vkexec(m, ['-s', '-l', padded, '--command-line', CMDLINE]);
  assert.equal(r.code, 255, r.stderr);
  assert.match(r.stderr, /kexec_file_load failed: Key was rejected by service/);
  assert.match(r.stderr, /Digest mismatch/);
  ok(vkexec(m, ['-s', '-l', UKI, '--command-line', CMDLINE]), 'the UKI itself (VirtualSize) on the same machine');
});

test('inspect: sections and their roles, the inner kernel\'s probe, and both signatures with what each covers', () => {
  const pki = makePki(path.join(work, 'pki2'), 'vkexec-uki2');
  const signed = path.join(work, 'uki-signed2.efi');
  sbsign(UKI, signed, pki);
  const out = ok(vkexec(null, ['inspect', signed]), 'inspect').stdout;
  assert.match(out, /^ {2}uki {12}yes {2}A UKI: its \.linux section \(\d+ bytes\) is a bzImage64$/m);
  assert.match(out, /-s hands the kernel its \.linux section/);
  assert.match(out, /^ {2}\.cmdline file 0x[0-9a-f]+, 42 bytes .*: NOT used/m);
  assert.match(out, /^ {2}\.initrd {2}file 0x[0-9a-f]+, \d+ bytes .*: the initrd, unless --initrd names one$/m);
  assert.match(out, /^ {2}inner kernel \(\.linux, \d+ bytes\): -c loads it as bzImage64, -s hands it to bzImage64$/m);
  assert.match(out, /^ {2}UKI envelope \(Authenticode\): signed by CN=vkexec-uki2 test signer, sha256 digest matches the image$/m);
  assert.match(out, /On kexec it is checked by nobody/);
  assert.match(out, /^ {2}inner kernel \(Authenticode\): signed by CN=Debian Secure Boot Signer 2022 - linux, sha256 digest matches the image$/m);
  const json = JSON.parse(ok(vkexec(null, ['inspect', '--json', UKI]), 'inspect --json').stdout) as { uki: { envelopeSignature: { signed: boolean }; kernelSignature: { signed: boolean }; cmdline: string; inner: { chosen: string } } };
  assert.equal(json.uki.envelopeSignature.signed, false);
  assert.equal(json.uki.kernelSignature.signed, true);
  assert.equal(json.uki.cmdline, 'console=ttyS0 panic=-1 vkexec.uki=embedded');
  assert.equal(json.uki.inner.chosen, 'bzImage64');
});
