// `vkexec boot` is `vkexec -l` followed by `vkexec -e` through the one kexec option table: the load options
// (-s, -c, --reuse-cmdline, --mem-min ...) and the engine options (--disk ...) are the same, the mode options
// refused; the engine is chosen before anything is built (an x86-64 kernel without QEMU is refused at once);
// inputs are checked before QEMU starts. Fast: the verify and v86 engines and refusals; no kernel boots on QEMU.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture } from '../helpers/fixtures.js';
import { tempDir, vkexec } from '../helpers/cli.js';
import { debianSecureBootCa } from '../sig/sig-fixtures-lib.js';

const KERNEL64 = fixture('vmlinuz-amd64-unsigned');
const SIGNED64 = fixture('vmlinuz-amd64');
const DEBIAN_CA = debianSecureBootCa().pem;

/** Every failure names its rule and a fix the same command accepts. */
function refused(r: { code: number; stderr: string }, code: number, rule: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, rule);
  assert.match(r.stderr, /vkexec: fix: /);
}

test('boot takes the load options of -l: -s is kexec_file_load, -c kexec_load, --reuse-cmdline, --mem-min, -t', () => {
  const s = vkexec(null, ['boot', '-d', '-s', '--probe', '--engine', 'verify']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stderr, /^kexec_file: kexec_file_load: type:0, start:0x[0-9a-f]+ head:0x[0-9a-f]+ flags:0x/m, 'the kernel logged kexec_file_load');
  const c = vkexec(null, ['boot', '-d', '-c', '--probe', '--engine', 'verify', '--reuse-cmdline', '--mem-min', '0x2000000', '-t', 'bzImage64']);
  assert.equal(c.code, 0, c.stderr);
  assert.doesNotMatch(c.stderr, /^kexec_file: /m);
  assert.match(c.stderr, /^kexec_load: entry = /m);
  assert.match(c.stderr, /verify: verified after/);
});

test('boot refuses the mode options with the command that has them', () => {
  for (const mode of ['-e', '-l', '-p', '-u', '-S', '-f']) {
    refused(vkexec(null, ['boot', mode, '--probe', '--engine', 'verify']), 1, /boot: .* is not a boot option: boot itself loads \(-l\) and executes \(-e\)/);
  }
});

test('boot --disk is accepted, and a missing disk image is refused before any engine starts', () => {
  const dir = tempDir();
  refused(vkexec(null, ['boot', '--probe', '--engine', 'qemu', '--disk', path.join(dir, 'missing.img')]), 1, /--disk .*missing\.img: No such file or directory/);
  const disk = path.join(dir, 'disk.img');
  fs.writeFileSync(disk, Buffer.alloc(1 << 20));
  const r = vkexec(null, ['boot', '--probe', '--engine', 'verify', '--disk', disk]);
  assert.equal(r.code, 0, r.stderr);
});

test('without QEMU: an amd64 kernel is refused at once with the package to install; the probe kernel runs on v86', () => {
  // A PATH holding only node: no qemu-system-x86_64.
  const bin = tempDir();
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const env = { PATH: bin };
  const r = vkexec(null, ['boot', KERNEL64], env);
  refused(r, 1, /is an x86-64 kernel; QEMU is not installed and the v86 engine emulates a 32-bit CPU/);
  assert.match(r.stderr, /apt-get install qemu-system-x86/);
  const probe = vkexec(null, ['boot', '--probe', '--expect', 'VKEXEC-PROBE-END', '--timeout', '120'], env);
  assert.equal(probe.code, 0, probe.stderr);
  assert.match(probe.stderr, /engine v86/);
});

test('--machine NEWDIR boot --probe --engine v86 makes an i386 machine and runs; an x86_64 machine is refused at once', () => {
  const m = path.join(tempDir(), 'new');
  const r = vkexec(m, ['boot', '--probe', '--engine', 'v86', '--expect', 'VKEXEC-PROBE-END', '--timeout', '120']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(vkexec(m, ['machine', 'show']).stdout, /arch\s+i386/);
  const x64 = path.join(tempDir(), 'x64');
  assert.equal(vkexec(x64, ['machine', 'init']).code, 0);
  refused(vkexec(x64, ['boot', '--probe', '--engine', 'v86']), 1, /is an x86_64 machine, whose kexec enters the purgatory in 64-bit mode/);
});

test('boot -s loads the Debian-signed kernel on a secure-boot machine that trusts Debian\'s CA (plain boot refuses unsigned)', () => {
  const m = path.join(tempDir(), 'sb');
  assert.equal(vkexec(m, ['machine', 'init', '--secure-boot', 'on', '--sig-enforce', 'on']).code, 0);
  assert.equal(vkexec(m, ['machine', 'keys', 'add', '--keyring', 'platform', DEBIAN_CA]).code, 0);
  const r = vkexec(m, ['boot', '-s', SIGNED64, '--engine', 'verify']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /verify: verified after/);
  const unsigned = vkexec(m, ['boot', '-s', KERNEL64, '--engine', 'verify']);
  assert.equal(unsigned.code, 255, unsigned.stderr);
});

test('boot --help describes boot, and its fix lines name options boot accepts', () => {
  const h = vkexec(null, ['boot', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^Usage: vkexec boot /);
  const none = vkexec(null, ['boot']);
  refused(none, 1, /boot needs a KERNEL or --probe/);
});

test('--json: a failure is a JSON object on stdout with its exit status; a load gives bufsz as hex like mem', () => {
  const m = path.join(tempDir(), 'j');
  assert.equal(vkexec(m, ['machine', 'init']).code, 0, '--machine DIR must hold a machine (issue 11)');
  const bad = vkexec(m, ['--json', '-l', path.join(tempDir(), 'missing-kernel')]);
  assert.notEqual(bad.code, 0);
  const o = JSON.parse(bad.stdout) as { error: { message: string; fix: string | null }; exitStatus: number };
  assert.equal(o.exitStatus, bad.code);
  assert.match(o.error.message, /missing-kernel/);
  const probe = path.join(tempDir(), 'probe');
  assert.equal(vkexec(m, ['probe-kernel', '--out', probe]).code, 0);
  const load = vkexec(m, ['--json', '-c', '-l', probe]);
  assert.equal(load.code, 0, load.stderr);
  for (const s of (JSON.parse(load.stdout) as { segments: Record<string, unknown>[] }).segments) {
    for (const k of ['mem', 'memsz', 'bufsz']) assert.match(String(s[k]), /^0x[0-9a-f]+$/, `${k} is a hex string`);
  }
});

test('a mistyped subcommand is not taken for a kernel file: "did you mean"', () => {
  const r = vkexec(path.join(tempDir(), 'm'), ['machin', 'init']);
  refused(r, 1, /'machin' is neither a file nor a vkexec command/);
  assert.match(r.stderr, /did you mean: vkexec machine/);
  const h = vkexec(null, ['help']);
  assert.doesNotMatch(h.stdout + h.stderr, /-V\b/, 'help lists no -V (kexec has -v)');
});

test('QEMU\'s own failure (--accel kvm where KVM is broken or absent) gives its real cause and the fix, not an errno', () => {
  const r = vkexec(null, ['boot', '--probe', '--engine', 'qemu', '--accel', 'kvm', '--expect', 'VKEXEC-PROBE-END', '--timeout', '60']);
  assert.doesNotMatch(r.stderr, /Exec format error/);
  if (r.code === 0) {
    assert.match(r.stderr, /qemu: matched after/, 'KVM works here: the probe ran under it');
    return;
  }
  assert.match(r.stderr, /vkexec: qemu-system-x86_64 (died of SIG\w+|could not run the machine)/);
  assert.match(r.stderr, /vkexec: fix: .*--accel tcg/);
});
