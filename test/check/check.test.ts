// `vkexec check` through the real binary: the bar's run (Debian's signed 6.1 and 6.12 amd64 packages and the
// 686 one pass every check; the -unsigned package fails only its signature check, with the reason, under
// --secure-boot and Debian's CA), its JUnit and TAP reports read by real parsers, --shard, and bad inputs.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { fixture } from '../helpers/fixtures.js';
import { tempDir, vkexec, type Run } from '../helpers/cli.js';
import { requireTools } from '../helpers/tools.js';
import { debianSecureBootCa } from '../sig/sig-fixtures-lib.js';
import { buildDeb, buildRpm } from './packages.js';
import { parseJunit, parseTap, type JunitCase } from './reports.js';

/** Runs vkexec check with a private TMPDIR, and asserts it left nothing there. */
function check(args: string[]): Run {
  const tmp = tempDir('vkexec-test-check-tmp-');
  const r = vkexec(null, ['check', ...args], { TMPDIR: tmp });
  assert.deepEqual(fs.readdirSync(tmp), [], `vkexec check left files in its TMPDIR: ${r.stderr}`);
  return r;
}

const key = (c: JunitCase) => `${c.suite} ${c.name}`;

test('--shard 1/2 and 2/2 together are exactly the unsharded cases, in --list and in real runs', () => {
  const inputs = [fixture('vmlinuz-amd64'), fixture('vmlinuz-686'), fixture('vmlinuz-612-amd64')];
  const list = (extra: string[], given: readonly string[] = inputs) => {
    const r = check(['--list', ...extra, ...given]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  };
  const all = list([]);
  assert.equal(all.length, 3 * 7); // every default check of every input
  const a = list(['--shard', '1/2']);
  const b = list(['--shard', '2/2']);
  assert.ok(a.length > 0 && b.length > 0, 'both shards have cases');
  assert.deepEqual([...a, ...b].sort(), [...all].sort());
  assert.equal(new Set([...a, ...b]).size, all.length, 'no case in both shards');
  // Stable: the order of the inputs does not move a case to another shard.
  assert.deepEqual(list(['--shard', '1/2'], [...inputs].reverse()).sort(), [...a].sort());

  const dir = tempDir();
  const run = (name: string, extra: string[]) => {
    const file = path.join(dir, `${name}.xml`);
    const r = check([...inputs.slice(0, 2), '--only', 'types,load-c,signature', '--junit', file, ...extra]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return parseJunit(fs.readFileSync(file, 'utf8'));
  };
  const whole = run('whole', []);
  const parts = [...run('s1', ['--shard', '1/2']), ...run('s2', ['--shard', '2/2'])];
  assert.deepEqual(parts.map(key).sort(), whole.map(key).sort());
  assert.deepEqual(parts.map((c) => `${key(c)} ${c.failure ? 'fail' : c.skipped !== null ? 'skip' : 'pass'}`).sort(), whole.map((c) => `${key(c)} ${c.failure ? 'fail' : c.skipped !== null ? 'skip' : 'pass'}`).sort());
});

test('bad inputs: no kernel, corrupt archive, unsupported compression, another architecture; each says why, the good input is still checked', (t) => {
  if (!requireTools(t, ['dpkg-deb'], 'VKEXEC_NO_DPKG', 'dpkg')) return;
  const dir = tempDir();
  const noKernel = buildDeb(dir, 'linux-headers-test', 'xz', { 'usr/src/linux-headers-test/Makefile': 'all:\n' });
  const good = fs.readFileSync(buildDeb(dir, 'pkg', 'xz', { 'boot/vmlinuz-1.0': 'x' }));
  const corrupt = path.join(dir, 'corrupt.deb');
  fs.writeFileSync(corrupt, good.subarray(0, good.length - 200));
  const lz4 = path.join(dir, 'lz4.deb');
  const renamed = Buffer.from(good);
  renamed.write('data.tar.lz4', renamed.indexOf('data.tar.xz'), 'latin1');
  fs.writeFileSync(lz4, renamed);
  const arm64 = path.join(dir, 'Image');
  const img = Buffer.alloc(0x1000);
  img.writeUInt32LE(0x644d5241, 0x38); // arm64 Image header magic "ARM\x64"
  fs.writeFileSync(arm64, img);
  const kernel = fixture('vmlinuz-amd64');
  const r = check(['--json', '--only', 'types,load-c', noKernel, corrupt, lz4, arm64, kernel]);
  assert.equal(r.code, 1, r.stderr);
  const res = JSON.parse(r.stdout) as { summary: { passed: number; failed: number }; cases: { input: string; check: string; outcome: string; message: string; fix: string | null }[] };
  const of = (input: string) => res.cases.filter((c) => c.input === input);
  for (const [input, why] of [
    [noKernel, /holds no kernel \(no \/boot\/vmlinuz-\*/],
    [corrupt, /not a readable Debian package: ar: member data\.tar\.xz declares \d+ bytes .* past the end/],
    [lz4, /compression "lz4" is not one dpkg-deb writes/],
    [arm64, /an arm64 kernel/],
  ] as const) {
    assert.equal(of(input).length, 2);
    for (const c of of(input)) {
      assert.equal(c.outcome, 'fail', `${input} ${c.check}`);
      assert.match(c.message, why);
      assert.ok(c.fix, `a fix line for ${input}`);
    }
  }
  assert.deepEqual(of(kernel).map((c) => c.outcome), ['pass', 'pass']);
  assert.deepEqual(res.summary, { ...res.summary, passed: 2, failed: 8 });
});

test("the bar: Debian's 6.1 and 6.12 amd64 packages and the 686 one pass every check; -unsigned fails only its signature, with the reason; JUnit and TAP parse", { timeout: 3_600_000 }, async (t) => {
  if (!requireTools(t, ['qemu-system-x86_64'], 'VKEXEC_NO_QEMU', 'qemu-system-x86')) return;
  const debs = ['linux-image-amd64.deb', 'linux-image-612-amd64.deb', 'linux-image-686.deb', 'linux-image-amd64-unsigned.deb'] as const;
  const inputs = debs.map((d) => fixture(d));
  const junit = path.join(tempDir(), 'report.xml');
  const ca = debianSecureBootCa().pem; // fetched from Debian's shim-unsigned on first use
  const r = check([...inputs, '--jobs', '2', '--secure-boot', '--key', `platform:${ca}`, '--junit', junit, '--tap']);
  assert.equal(r.code, 1, `exit 1: one case (the unsigned package's signature) fails\n${r.stdout}\n${r.stderr}`);
  const tap = await parseTap(r.stdout);
  assert.equal(tap.count, 4 * 7);
  assert.equal(tap.plan.end, 4 * 7);
  assert.equal(tap.fail, 1, r.stdout);
  assert.equal(tap.skip, 3, 'the 686 kernel: load-s-6.1, load-s-6.12, signature (no kexec_file_load on i386)');
  assert.equal(tap.pass, 4 * 7 - 1);
  assert.match(tap.failures[0]!.name, /linux-image-amd64-unsigned\.deb signature$/);
  const cases = parseJunit(fs.readFileSync(junit, 'utf8'));
  assert.equal(cases.length, 4 * 7);
  const failed = cases.filter((c) => c.failure);
  assert.deepEqual(failed.map(key), [`${inputs[3]} signature`]);
  assert.match(failed[0]!.failure!.message, /refused under secure-boot on.*Unsigned PE binary/);
  assert.match(failed[0]!.failure!.text, /^vkexec: .*\nvkexec: rule: ENODATA pefile_parse_binary\nvkexec: fix: /);
  for (const input of inputs.slice(0, 2)) {
    const sig = cases.find((c) => key(c) === `${input} signature`)!;
    assert.equal(sig.failure, null);
  }
  for (const c of cases.filter((x) => x.name === 'boot')) assert.match(c.systemOut ?? '', /VKEXEC-CHECK-INIT bits=(64|32) cmdline-sha256=[0-9a-f]{64}/, key(c));
  for (const c of cases.filter((x) => x.name === 'kdump')) assert.match(c.systemOut ?? '', /VKEXEC-CHECK-VMCORE ok class=ELF(64|32) machine=(62|3) notes=1 loads=\d+ checked-mib=\d+/, key(c));
  assert.deepEqual(cases.filter((c) => c.skipped !== null).map(key).sort(), ['load-s-6.1', 'load-s-6.12', 'signature'].map((n) => `${inputs[2]} ${n}`).sort());
});

test('an RPM (kernel in /lib/modules/RELEASE/vmlinuz) and a /boot-like directory are inputs as a .deb is', (t) => {
  if (!requireTools(t, ['rpmbuild'], 'VKEXEC_NO_RPM', 'rpm')) return;
  const dir = tempDir();
  const kernel = fixture('vmlinuz-amd64');
  const rpm = buildRpm(dir, 'kernel-core', 'w9.xzdio', { 'lib/modules/6.1.0-test/vmlinuz': kernel });
  const boot = path.join(dir, 'boot');
  fs.mkdirSync(boot);
  fs.copyFileSync(kernel, path.join(boot, 'vmlinuz-6.1.0-test'));
  fs.writeFileSync(path.join(boot, 'config-6.1.0-test'), 'CONFIG_KEXEC=y\n');
  const r = check(['--json', '--only', 'types,load-c', rpm, boot]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const res = JSON.parse(r.stdout) as { inputs: { input: string; kind: string; release: string; arch: string }[]; cases: { input: string; outcome: string; message: string }[] };
  assert.deepEqual(res.inputs.map((i) => [i.input, i.kind, i.release, i.arch]).sort(), [[rpm, 'rpm', '6.1.0-test', 'x86_64'], [boot, 'directory', '6.1.0-test', 'x86_64']].sort());
  assert.deepEqual(res.cases.map((c) => c.outcome), ['pass', 'pass', 'pass', 'pass']);
  assert.match(res.cases.find((c) => c.input === boot)!.message, /release 6\.1\.0-test, x86_64, no System\.map, config/);
});

test('kdump fails, saying so, when the capture kernel cannot work in the reservation (crashkernel=80M)', { timeout: 900_000 }, (t) => {
  if (!requireTools(t, ['qemu-system-x86_64'], 'VKEXEC_NO_QEMU', 'qemu-system-x86')) return;
  const r = check(['--json', '--only', 'kdump', '--crashkernel', '80M', '--timeout', '240', fixture('vmlinuz-amd64')]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const c = (JSON.parse(r.stdout) as { cases: { outcome: string; message: string; fix: string }[] }).cases[0]!;
  assert.equal(c.outcome, 'fail');
  // Debian's 6.1 kernel panics early in 80 MiB (kdump-size measures 96M on a 512M machine).
  assert.match(c.message, /^qemu: panic after [\d.]+ s without a vmcore verdict; last console lines: /);
  assert.match(c.fix, /try a larger --crashkernel \(now 80M\)/);
});
