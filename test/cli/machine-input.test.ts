// The machine directory is input (issue 11): crafted directories, absurd fields, disk faults, --machine DIR,
// -S's error status, EPIPE and control characters in names. Every refusal has the rule and the fix line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fixture } from '../helpers/fixtures.js';
import { BIN, snapshot, tempDir, vkexec, type Run } from '../helpers/cli.js';

const KERNEL = fixture('vmlinuz-amd64-unsigned');
const work = tempDir();
test.after(() => fs.rmSync(work, { recursive: true, force: true }));
let n = 0;

function newMachine(): string {
  const m = path.join(work, `m${n++}`);
  const r = vkexec(m, ['machine', 'init']);
  assert.equal(r.code, 0, r.stderr);
  return m;
}

/** A refusal: the status, no internal error or stack, a `vkexec:` line matching `rule` and a fix line. */
function refused(r: Run, code: number, rule: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error|    at |this is a bug/);
  assert.match(r.stderr, rule);
  assert.match(r.stderr, /^vkexec: fix: /m);
}

function editState(m: string, edit: (s: any) => void): void {
  const file = path.join(m, 'machine.json');
  const s = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(s);
  fs.writeFileSync(file, JSON.stringify(s));
}

test('blobs/ as a symlink: refused, nothing written, read or deleted through it', () => {
  const m = newMachine();
  const outside = path.join(work, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'keep-me'), 'thesis');
  fs.writeFileSync(path.join(outside, 'a'.repeat(64)), 'looks like a blob');
  fs.symlinkSync(outside, path.join(m, 'blobs'));
  refused(vkexec(m, ['-c', '-l', KERNEL]), 1, /blobs is a symbolic link/);
  assert.deepEqual(fs.readdirSync(outside).sort(), ['a'.repeat(64), 'keep-me']);
  refused(vkexec(m, ['-u']), 1, /blobs is a symbolic link/);
  assert.deepEqual(fs.readdirSync(outside).sort(), ['a'.repeat(64), 'keep-me']);
});

test('a traversal blob name, a symlinked blob, a wrong blob size: corrupt, naming the field', () => {
  const m = newMachine();
  assert.equal(vkexec(m, ['-c', '-l', KERNEL]).code, 0);
  const good = JSON.parse(fs.readFileSync(path.join(m, 'machine.json'), 'utf8'));
  editState(m, (s) => (s.images.normal.segments[0].blob = '../../../../../etc/hostname'));
  refused(vkexec(m, ['-e', '--engine', 'verify']), 1, /images\.normal\.segments\[0\]\.blob is "\.\.\/\.\.\/.*64 lowercase hex digits/);
  fs.writeFileSync(path.join(m, 'machine.json'), JSON.stringify(good));
  const blob = good.images.normal.segments[0].blob as string;
  const bp = path.join(m, 'blobs', blob);
  const saved = fs.readFileSync(bp);
  fs.rmSync(bp);
  fs.symlinkSync('/etc/hostname', bp);
  refused(vkexec(m, ['-e', '--engine', 'verify']), 1, /is not a regular file \(links are never followed\)/);
  fs.rmSync(bp);
  fs.writeFileSync(bp, saved.subarray(1));
  refused(vkexec(m, ['-e', '--engine', 'verify']), 1, /holds \d+ bytes, the state claims/);
});

test('absurd fields are refused with the field, the value and what it must be', () => {
  const cases: [string, (s: any) => void, RegExp][] = [
    ['cpus', (s) => (s.config.cpus = 1e9), /config\.cpus is 1000000000: a whole number from 1 to 64/],
    ['load limit', (s) => (s.sysctl.kexec_load_limit_panic = -1.5), /sysctl\.kexec_load_limit_panic is -1\.5/],
    ['negative limit', (s) => (s.sysctl.kexec_load_limit_reboot = -7), /sysctl\.kexec_load_limit_reboot is -7/],
    ['mem as a number', (s) => (s.config.memBytes = 536870912), /config\.memBytes is 536870912/],
    ['address too wide', (s) => (s.config.iomem[0].start = { $u64: '0x1' + '0'.repeat(20) }), /config\.iomem\[0\]\.start is/],
  ];
  for (const [what, edit, rule] of cases) {
    const m = newMachine();
    editState(m, edit);
    const before = snapshot(m);
    refused(vkexec(m, ['-c', '-p', KERNEL]), 1, rule);
    assert.deepEqual(snapshot(m), before, `${what}: nothing changed`);
  }
  const m = newMachine();
  assert.equal(vkexec(m, ['-c', '-l', KERNEL]).code, 0);
  const good = fs.readFileSync(path.join(m, 'machine.json'));
  editState(m, (s) => (s.images.normal.segments[0].bufsz = 1e300));
  refused(vkexec(m, ['-e', '--engine', 'verify']), 1, /segments\[0\]\.bufsz is 1e\+300/);
  fs.writeFileSync(path.join(m, 'machine.json'), good);
  editState(m, (s) => (s.images.normal.sourceRuns[0].addr = { $u64: '0xzz' }));
  refused(vkexec(m, ['machine', 'show']), 1, /sourceRuns\[0\]\.addr/);
});

test('collection deletes only blobs vkexec would have written', () => {
  const m = newMachine();
  fs.mkdirSync(path.join(m, 'blobs'));
  for (const name of ['notes.txt', 'A'.repeat(64), '.in.999999999.zz']) fs.writeFileSync(path.join(m, 'blobs', name), 'x');
  fs.mkdirSync(path.join(m, 'blobs', 'b'.repeat(64)));
  assert.equal(vkexec(m, ['-c', '-l', KERNEL]).code, 0);
  assert.equal(vkexec(m, ['-u']).code, 0);
  assert.deepEqual(fs.readdirSync(path.join(m, 'blobs')).sort(), ['.in.999999999.zz', 'A'.repeat(64), 'b'.repeat(64), 'notes.txt'].sort());
});

test('machine destroy removes only what vkexec created and refuses what is no machine', () => {
  const fake = path.join(work, 'fake');
  fs.mkdirSync(fake);
  fs.writeFileSync(path.join(fake, 'machine.json'), '{}');
  fs.writeFileSync(path.join(fake, 'thesis.tex'), 'years of work');
  refused(vkexec(null, ['--machine', fake, 'machine', 'destroy']), 1, /not a vkexec machine/);
  assert.equal(fs.readFileSync(path.join(fake, 'thesis.tex'), 'utf8'), 'years of work');
  assert.ok(fs.existsSync(path.join(fake, 'machine.json')));

  const m = newMachine();
  assert.equal(vkexec(m, ['-c', '-l', KERNEL]).code, 0);
  fs.writeFileSync(path.join(m, 'thesis.tex'), 'years of work');
  fs.writeFileSync(path.join(m, 'blobs', 'notes'), 'mine');
  const r = vkexec(null, ['--machine', m, 'machine', 'destroy']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kept the directory/);
  assert.deepEqual(fs.readdirSync(m).sort(), ['blobs', 'thesis.tex']);
  assert.deepEqual(fs.readdirSync(path.join(m, 'blobs')), ['notes']);

  const clean = newMachine();
  assert.equal(vkexec(null, ['--machine', clean, 'machine', 'destroy']).code, 0);
  assert.equal(fs.existsSync(clean), false);
});

test('--machine DIR must hold a machine; -S answers 2 when it cannot tell', () => {
  const missing = path.join(work, 'typo');
  refused(vkexec(null, ['--machine', missing, '-S']), 2, /no machine at .*typo/);
  assert.equal(fs.existsSync(missing), false, 'not created');
  refused(vkexec(null, ['--machine', missing, '-c', '-l', KERNEL]), 1, /no machine at/);
  assert.equal(fs.existsSync(missing), false, 'not created by a load either');
  refused(vkexec(null, ['--machine', '/etc/hostname', '-S']), 2, /is not a directory/);
  refused(vkexec(null, ['--machine', '/etc', '-S']), 2, /no machine at \/etc/);
  const m = newMachine();
  assert.equal(vkexec(m, ['-S', '-l']).code, 0);
  assert.equal(vkexec(m, ['-c', '-l', KERNEL]).code, 0);
  assert.equal(vkexec(m, ['-S', '-l']).code, 1);
});

test('EPIPE ends the command quietly; the lock is released', () => {
  const m = newMachine();
  for (const cmd of [`node ${BIN} machine show | head -1`, `node ${BIN} machine show --file /proc/iomem | true`]) {
    const r = spawnSync('bash', ['-c', `set -o pipefail; ${cmd}`], { encoding: 'utf8', env: { ...process.env, VKEXEC_MACHINE: m, NO_COLOR: '1' } });
    assert.doesNotMatch(r.stderr, /EPIPE|    at |internal error/, cmd);
  }
  assert.equal(fs.existsSync(path.join(m, 'lock')), false);
});

test('a file name with a newline cannot forge a fix line; every refusal has rule and fix', () => {
  const m = newMachine();
  const evil = path.join(work, 'x\nvkexec: fix: run rm -rf ~');
  const r = vkexec(m, ['-c', '-l', evil]);
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.stderr, /^vkexec: fix: run rm/m);
  assert.match(r.stderr, /x\\nvkexec: fix: run rm/);
  refused(vkexec(m, ['-c', '-l', KERNEL, '--initrd', path.join(work, 'no-such-initrd')]), 1, /^vkexec: /m);
  refused(vkexec(m, ['-c', '-l', KERNEL, '--append', 'x'.repeat(3000)]), 255, /^vkexec: /m);
});

/** Runs fn with a filesystem mounted at a fresh directory, or says loudly why it cannot. */
function withMount(t: { skip(msg: string): void }, args: string[], fn: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(work, 'mnt-'));
  const r = spawnSync('mount', [...args, dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    t.skip(`CANNOT RUN: mount ${args.join(' ')} failed (${(r.stderr || r.error?.message || '').trim()}); needs root`);
    return;
  }
  try {
    fn(dir);
  } finally {
    spawnSync('umount', ['-l', dir]);
  }
}

test('a full disk: a clear error naming the path and fix, the machine as it was, the lock released', (t) => {
  withMount(t, ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs'], (mnt) => {
    const m = path.join(mnt, 'm');
    assert.equal(vkexec(m, ['machine', 'init']).code, 0);
    const before = snapshot(m);
    refused(vkexec(m, ['-c', '-l', KERNEL]), 1, /cannot write .*\/m\/blobs\/\.in\.[^:]*: No space left on device \(ENOSPC\)/);
    assert.deepEqual(snapshot(m), before, 'state and blobs as they were, no temporary left');
    assert.deepEqual(fs.readdirSync(m).filter((x) => x !== 'blobs').sort(), ['machine.json'], 'lock released, no temporary left');
    if (fs.existsSync(path.join(m, 'blobs'))) assert.deepEqual(fs.readdirSync(path.join(m, 'blobs')), [], 'no blob or temporary left');
    assert.equal(vkexec(m, ['-S', '-l']).code, 0);
  });
});

test('a full disk under a large initrd (copied on a second thread while it is hashed): the same clear error, nothing left', async (t) => {
  const initrd = path.join(work, 'initrd-20m');
  fs.writeFileSync(initrd, Buffer.alloc(20 << 20, 0x5a));
  await new Promise((r) => setTimeout(r, 120)); // older than the racy window, so the staged copy is the one kept
  withMount(t, ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs'], (mnt) => {
    const m = path.join(mnt, 'm');
    assert.equal(vkexec(m, ['machine', 'init']).code, 0);
    const before = snapshot(m);
    refused(vkexec(m, ['-c', '-l', KERNEL, '--initrd', initrd]), 1, /cannot copyfile .*initrd-20m -> .*\/m\/blobs\/\.in\.[^:]*: No space left on device \(ENOSPC\)/);
    assert.deepEqual(snapshot(m), before, 'state and blobs as they were');
    if (fs.existsSync(path.join(m, 'blobs'))) assert.deepEqual(fs.readdirSync(path.join(m, 'blobs')), [], 'no blob or temporary left');
  });
});

test('a read-only machine directory: read-only commands work, writers get a clear error', (t) => {
  const m = newMachine();
  assert.equal(vkexec(m, ['-c', '-l', KERNEL]).code, 0);
  withMount(t, ['--bind', '-o', 'ro', m], (ro) => {
    spawnSync('mount', ['-o', 'remount,bind,ro', ro]);
    const before = snapshot(ro);
    assert.equal(vkexec(ro, ['-S', '-l']).code, 1);
    assert.equal(vkexec(ro, ['machine', 'show']).code, 0);
    assert.equal(vkexec(ro, ['inspect', KERNEL]).code, 0);
    refused(vkexec(ro, ['-u']), 1, /Read-only file system \(EROFS\)/);
    refused(vkexec(ro, ['machine', 'sysctl', 'kexec_load_disabled=1']), 1, /EROFS/);
    assert.deepEqual(snapshot(ro), before);
  });
});
