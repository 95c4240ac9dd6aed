// kdump end to end through the real binary: crashkernel= reservations, `vkexec -p` (-s and -c) of Debian's
// amd64 kernel with the capture initramfs (fixture initramfs-kdump-amd64.cpio: virtio-blk modules; its /init
// copies /proc/vmcore to /dev/vda), `vkexec machine panic --fill --disk` on QEMU, `vkexec vmcore check` of the
// saved dump against the machine, `vkexec kdump-size`, and the refusals. Needs qemu-system-x86 and the
// fixtures of test/setup/fixtures.mjs. Four or five QEMU boots (TCG), 20-40 s each.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture } from '../helpers/fixtures.js';
import { snapshot, tempDir, vkexec, type Run } from '../helpers/cli.js';

const KERNEL = fixture('vmlinuz-amd64');
const INITRD = fixture('initramfs-kdump-amd64.cpio');
const APPEND = 'console=ttyS0 reset_devices nr_cpus=1';
/** The capture initramfs's last word: saved, or why not. */
const DONE = 'VKEXEC-KDUMP-(SAVED|FAILED|NODISK)';
const BOOT = ['--engine', 'qemu', '--accel', 'tcg', '--timeout', '180'];
const MiB = 1 << 20;

const qemu = spawnSync('qemu-system-x86_64', ['-version'], { encoding: 'utf8' });
assert.ok(!qemu.error && /QEMU emulator version/.test(qemu.stdout), 'qemu-system-x86_64 is needed for these tests: apt-get install qemu-system-x86');

const scratch: string[] = [];
after(() => {
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = tempDir('vkexec-kdump-');
  scratch.push(d);
  return d;
}

function newMachine(...init: string[]): string {
  const m = path.join(dir(), 'm');
  ok(vkexec(m, ['machine', 'init', ...init]), 'machine init');
  return m;
}

function ok(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n--- stderr\n${r.stderr}\n--- stdout (tail)\n${r.stdout.slice(-3000)}`);
}

function show(m: string, file: string): string {
  const r = vkexec(m, ['machine', 'show', '--file', file]);
  ok(r, `machine show --file ${file}`);
  return r.stdout;
}

/** "Crash kernel" lines of the machine's /proc/iomem as [start, end] pairs. */
function crashLines(m: string): [number, number][] {
  return [...show(m, '/proc/iomem').matchAll(/^\s+([0-9a-f]+)-([0-9a-f]+) : Crash kernel$/gm)].map((x) => [parseInt(x[1]!, 16), parseInt(x[2]!, 16)]);
}

test('crashkernel=: SIZE, SIZE@OFFSET, ranges, SIZE,high with SIZE,low; /proc/iomem, kexec_crash_size, --print-ckr-size', () => {
  const plain = newMachine('--mem', '1G', '--crashkernel', '256M');
  const [[start, end]] = crashLines(plain) as [[number, number]];
  assert.equal(end - start + 1, 256 * MiB);
  assert.equal(start % (16 * MiB), 0, 'CRASH_ALIGN');
  assert.equal(show(plain, '/sys/kernel/kexec_crash_size'), `${256 * MiB}\n`);
  assert.equal(vkexec(plain, ['--print-ckr-size']).stdout, `${256 * MiB}\n`);
  assert.match(show(plain, '/proc/cmdline'), / crashkernel=256M\n$/);

  const at = newMachine('--mem', '1G', '--crashkernel', '128M@512M');
  assert.deepEqual(crashLines(at), [[512 * MiB, 640 * MiB - 1]]);

  // The first range holding the RAM size wins (start inclusive, end exclusive).
  const small = newMachine('--mem', '1G', '--crashkernel', '512M-2G:64M,2G-:128M');
  assert.equal(vkexec(small, ['--print-ckr-size']).stdout, `${64 * MiB}\n`);
  const big = newMachine('--mem', '3G', '--crashkernel', '512M-2G:64M,2G-:128M');
  assert.equal(vkexec(big, ['--print-ckr-size']).stdout, `${128 * MiB}\n`);

  // ,high goes above 4 GiB and brings a low companion; crashk_res (the high one) is what the sizes report.
  const high = newMachine('--mem', '6G', '--crashkernel', '512M,high 128M,low');
  const lines = crashLines(high);
  assert.equal(lines.length, 2);
  assert.ok(lines[0]![1] < 2 ** 32 && lines[0]![1] - lines[0]![0] + 1 === 128 * MiB, 'low companion below 4 GiB');
  assert.ok(lines[1]![0] >= 2 ** 32 && lines[1]![1] - lines[1]![0] + 1 === 512 * MiB, 'crashk_res above 4 GiB');
  assert.equal(show(high, '/sys/kernel/kexec_crash_size'), `${512 * MiB}\n`);
  assert.equal(vkexec(high, ['--print-ckr-size']).stdout, `${512 * MiB}\n`);

  const none = newMachine('--mem', '1G');
  assert.equal(vkexec(none, ['--print-ckr-size']).stdout, '0\n');
  assert.deepEqual(crashLines(none), []);

  const tooBig = vkexec(path.join(dir(), 'm'), ['machine', 'init', '--mem', '1G', '--crashkernel', '2G']);
  assert.equal(tooBig.code, 1);
  assert.match(tooBig.stderr, /crashkernel reservation failed - No suitable area found/);
});

test('refusals: no reservation, a crash entry outside the region, panic with nothing loaded, panic under the kexec lock', () => {
  const none = newMachine('--mem', '1G');
  for (const sys of ['-s', '-c']) {
    const r = vkexec(none, ['-p', sys, KERNEL, '--initrd', INITRD, '--append', APPEND]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Memory for crashkernel is not reserved\nPlease reserve memory by passing"crashkernel=Y@X" parameter to kernel\nThen try to loading kdump kernel$/m);
  }

  const m = newMachine('--mem', '1G', '--crashkernel', '256M');
  const idle = vkexec(m, ['machine', 'panic', ...BOOT]);
  assert.equal(idle.code, 1);
  assert.match(idle.stderr, /no crash kernel is loaded: the panic falls through to a normal panic/);

  ok(vkexec(m, ['-p', '-s', KERNEL, '--initrd', INITRD, '--append', APPEND]), '-p -s');
  assert.equal(show(m, '/sys/kernel/kexec_crash_loaded'), '1\n');
  // kexec_load: the entry must lie in crashk_res (EADDRNOTAVAIL); the old crash image was freed first.
  const outside = vkexec(m, ['-p', '-c', '--entry=0x100000', KERNEL, '--initrd', INITRD, '--append', APPEND]);
  assert.equal(outside.code, 255, outside.stderr);
  assert.match(outside.stderr, /^kexec_load failed: Cannot assign requested address$/m);
  assert.equal(show(m, '/sys/kernel/kexec_crash_loaded'), '0\n', 'a failed crash load leaves no crash kernel');
  const gone = vkexec(m, ['machine', 'panic', ...BOOT]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /no crash kernel is loaded/);

  // __crash_kexec only trylocks: with the lock held by a live process nothing happens.
  ok(vkexec(m, ['-p', '-c', KERNEL, '--initrd', INITRD, '--append', APPEND]), '-p -c');
  fs.writeFileSync(path.join(m, 'lock'), `${process.pid} test holds the kexec lock\n`);
  const before = snapshot(m);
  const locked = vkexec(m, ['machine', 'panic', ...BOOT]);
  fs.rmSync(path.join(m, 'lock'));
  assert.equal(locked.code, 1, locked.stderr);
  assert.match(locked.stderr, /__crash_kexec: the kexec lock is held, so the panic does not start the crash kernel/);
  assert.doesNotMatch(locked.stderr, /executing the crash image/);
  before.delete('lock');
  const afterSnap = snapshot(m);
  assert.deepEqual(afterSnap, before);

  const badFill = vkexec(m, ['machine', 'panic', '--fill', 'ones', ...BOOT]);
  assert.equal(badFill.code, 1);
  assert.match(badFill.stderr, /--fill ones: not a fill pattern/);
  const noDisk = vkexec(m, ['machine', 'panic', '--disk', path.join(dir(), 'missing.img'), ...BOOT]);
  assert.equal(noDisk.code, 1);
  assert.match(noDisk.stderr, /--disk .*missing\.img: No such file or directory/);
});

test('machine panic --engine verify: a -p -s and a -p -c capture image pass; the core headers and backup region lie outside its RAM by design', () => {
  const m = newMachine('--mem', '1G', '--crashkernel', '256M');
  for (const load of ['-s', '-c']) {
    ok(vkexec(m, ['-p', load, KERNEL, '--initrd', INITRD, '--append', APPEND]), `-p ${load}`);
    const r = vkexec(m, ['machine', 'panic', '--engine', 'verify']);
    ok(r, `machine panic --engine verify after -p ${load}`);
    assert.doesNotMatch(r.stderr, /FAIL/);
    const e820 = /PASS e820 table: .*/.exec(r.stderr)?.[0] ?? '';
    assert.match(e820, /every segment inside reported RAM but the ELF core headers at 0x[0-9a-f]+/);
    if (load === '-c') assert.match(e820, /and the backup region at 0x[0-9a-f]+, which a capture kernel's map leaves out/);
  }
});

/**
 * The bar's scenario: a 1 GiB machine with crashkernel=256M, the capture kernel loaded with -p, a panic with
 * the old RAM filled, the dump copied to the disk by the capture kernel, and vmcore check on that disk.
 */
function dumpAndCheck(load: string, fill: string): { check: { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] }; panic: Run } {
  const m = newMachine('--mem', '1G', '--crashkernel', '256M');
  ok(vkexec(m, ['-p', load, KERNEL, '--initrd', INITRD, '--append', APPEND]), `-p ${load}`);
  const disk = path.join(dir(), 'dump.img');
  fs.writeFileSync(disk, '');
  fs.truncateSync(disk, 1024 * MiB);
  const before = snapshot(m);
  const panic = vkexec(m, ['machine', 'panic', '--fill', fill, '--disk', disk, '--expect', DONE, ...BOOT]);
  ok(panic, 'machine panic');
  assert.match(panic.stdout, /Command line: .*elfcorehdr=/);
  const saved = /VKEXEC-KDUMP-SAVED size=(\d+)/.exec(panic.stdout);
  assert.ok(saved, `the capture kernel saved the dump:\n${panic.stdout.slice(-2000)}`);
  assert.match(panic.stderr, /crash_notes for 1 CPU .* and the vmcoreinfo note written to old RAM/);
  assert.match(panic.stderr, new RegExp(`old RAM filled with pattern ${fill.replace(/\^/g, '\\^')}`));
  assert.deepEqual(snapshot(m), before, 'a panic leaves the machine directory as it was');

  const human = vkexec(m, ['vmcore', 'check', disk]);
  ok(human, 'vmcore check');
  assert.match(human.stdout, /^vmcore {7}.*ELF64 ET_CORE EM_X86_64/m);
  assert.match(human.stdout, /CORE NT_PRSTATUS {2}pid 1 ip 0xffffffff81000000/);
  assert.match(human.stdout, /VMCOREINFO {2}OSRELEASE=\S+ PAGESIZE=4096 /);
  const r = vkexec(m, ['--json', 'vmcore', 'check', disk]);
  const check = JSON.parse(r.stdout) as { ok: boolean; dumpSize: string; checks: { name: string; ok: boolean; detail: string }[] };
  assert.equal(r.code, 0, r.stdout);
  assert.equal(BigInt(check.dumpSize), BigInt(saved[1]!), 'the headers describe what the capture kernel wrote');
  for (const c of check.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
  assert.deepEqual(check.checks.map((c) => c.name), ['load sizes', 'file size', 'notes', 'RAM loads', 'kernel text load', 'crash notes', 'vmcoreinfo', `fill pattern ${fill}`]);
  return { check, panic };
}

test('-p -s: panic on QEMU, the capture kernel saves /proc/vmcore, vmcore check passes by kexec_file_load rules', { timeout: 300_000 }, () => {
  const { check } = dumpAndCheck('-s', 'addr');
  assert.match(check.checks.find((c) => c.name === 'RAM loads')!.detail, /kexec_file_load's \(System RAM minus the low 1 MiB and the crash regions\)/);
});

test('-p -c: the same with kexec-tools\' core header; the low 640 KiB read back from the backup copy', { timeout: 300_000 }, () => {
  const { check } = dumpAndCheck('-c', 'addr^0x5a5a5a5a00000000');
  assert.match(check.checks.find((c) => c.name === 'RAM loads')!.detail, /kexec-tools' -c/);
});

test('kdump-size: the smallest working crashkernel= boots, 16 MiB less did not, 32 MiB less fails', { timeout: 600_000 }, () => {
  const r = vkexec(null, ['--json', 'kdump-size', KERNEL, '--initrd', INITRD, '--append', APPEND, '--mem', '512M', '--max', '256M', '--accel', 'tcg', '--timeout', '180']);
  ok(r, 'kdump-size');
  const res = JSON.parse(r.stdout) as { crashkernel: string; bytes: string; tries: { crashkernel: string; stage: string; ok: boolean; status: string }[] };
  const size = Number(BigInt(res.bytes)) / MiB;
  assert.equal(res.crashkernel, `${size}M`);
  const tried = (mib: number, stage: string) => res.tries.filter((t) => t.crashkernel === `${mib}M` && t.stage === stage);
  assert.ok(tried(size, 'boot').some((t) => t.ok && t.status === 'matched'), `a boot at ${size}M reached the marker`);
  assert.ok([...tried(size - 16, 'boot'), ...tried(size - 16, 'load')].some((t) => !t.ok), `${size - 16}M was tried and failed`);
  assert.ok(res.tries.filter((t) => t.stage === 'boot').length <= 4, 'a handful of boots');

  // An independent try 32 MiB smaller: it fails to load, or its capture kernel does not get to save the dump.
  const m = newMachine('--mem', '512M', '--crashkernel', `${size - 32}M`);
  const load = vkexec(m, ['-p', '-s', KERNEL, '--initrd', INITRD, '--append', APPEND]);
  if (load.code !== 0) {
    assert.equal(load.code, 255, load.stderr);
    assert.match(load.stderr, /kexec_file_load failed: Cannot assign requested address/);
    return;
  }
  const disk = path.join(dir(), 'dump.img');
  fs.writeFileSync(disk, '');
  fs.truncateSync(disk, 600 * MiB);
  const boot = vkexec(m, ['machine', 'panic', '--disk', disk, '--expect', 'VKEXEC-KDUMP-SAVED', ...BOOT]);
  assert.notEqual(boot.code, 0, boot.stdout.slice(-2000));
});
