// The newc writer checked with GNU cpio as an independent reader (listing and extraction), the reader checked
// on GNU cpio's own output, and the test initramfs fixture checked for what the boot tests rely on.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { CpioEntry, CpioError, S_IFCHR, S_IFDIR, S_IFMT, buildCpio, parseCpio, writeCpio } from '../../src/formats/cpio.js';
import { INIT_MARKER, fixture } from '../helpers/fixtures.js';

function cpio(args: string[], opts: { input?: Uint8Array; cwd?: string } = {}): string {
  const r = spawnSync('cpio', args, { ...opts, maxBuffer: 1 << 28 });
  if (r.error) throw new Error(`GNU cpio is needed for this test: apt-get install cpio (${r.error.message})`);
  assert.equal(r.status, 0, `cpio ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

const bytes = (s: string) => new TextEncoder().encode(s);

const ENTRIES: CpioEntry[] = [
  { type: 'dir', path: '/dev' },
  { type: 'char', path: '/dev/console', major: 5, minor: 1 },
  { type: 'block', path: 'dev/vda', major: 254, minor: 0, mode: 0o660, gid: 6 },
  { type: 'dir', path: 'bin', mode: 0o700 },
  { type: 'file', path: 'bin/a', data: bytes('') },
  { type: 'file', path: 'bin/b', data: bytes('1') },
  { type: 'file', path: 'bin/cc', data: bytes('22'), uid: 1000, gid: 1000 },
  { type: 'file', path: 'bin/ddd', data: bytes('333'), mode: 0o4755 },
  { type: 'file', path: 'bin/eeee', data: bytes('4444') },
  { type: 'symlink', path: 'bin/sh', target: 'busybox' },
  { type: 'file', path: 'init', data: bytes('#!/bin/sh\necho hello\n'), mode: 0o755 },
];

describe('cpio writer', () => {
  const archive = buildCpio(ENTRIES);

  it('GNU cpio lists every entry with its type, mode, numeric owner, device numbers and link target', () => {
    const lines = cpio(['-itvn', '--quiet'], { input: archive }).trim().split('\n');
    const want = [
      /^drwxr-xr-x +2 0 +0 +0 .* dev$/,
      /^crw------- +1 0 +0 +5, +1 .* dev\/console$/,
      /^brw-rw---- +1 0 +6 +254, +0 .* dev\/vda$/,
      /^drwx------ +2 0 +0 +0 .* bin$/,
      /^-rw-r--r-- +1 0 +0 +0 .* bin\/a$/,
      /^-rw-r--r-- +1 0 +0 +1 .* bin\/b$/,
      /^-rw-r--r-- +1 1000 +1000 +2 .* bin\/cc$/,
      /^-rwsr-xr-x +1 0 +0 +3 .* bin\/ddd$/,
      /^-rw-r--r-- +1 0 +0 +4 .* bin\/eeee$/,
      /^lrwxrwxrwx +1 0 +0 +7 .* bin\/sh -> busybox$/,
      /^-rwxr-xr-x +1 0 +0 +21 .* init$/,
    ];
    assert.equal(lines.length, want.length, lines.join('\n'));
    lines.forEach((l, i) => assert.match(l, want[i]));
  });

  it('GNU cpio extracts the same files, links and device nodes', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vkexec-cpio-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    cpio(['-idmu', '--quiet', '--no-absolute-filenames'], { input: archive, cwd: dir });
    assert.equal(readFileSync(join(dir, 'init'), 'utf8'), '#!/bin/sh\necho hello\n');
    for (const [name, data] of [['a', ''], ['b', '1'], ['cc', '22'], ['ddd', '333'], ['eeee', '4444']]) {
      assert.equal(readFileSync(join(dir, 'bin', name), 'utf8'), data);
    }
    assert.equal(readlinkSync(join(dir, 'bin/sh')), 'busybox');
    assert.equal(lstatSync(join(dir, 'init')).mode & 0o7777, 0o755);
    if (process.getuid?.() === 0) {
      const console = lstatSync(join(dir, 'dev/console'));
      assert.ok(console.isCharacterDevice());
      assert.equal(console.rdev, (5 << 8) | 1);
      assert.ok(lstatSync(join(dir, 'dev/vda')).isBlockDevice());
    } else {
      t.diagnostic('not root: device nodes were not created by cpio -i, only listed');
    }
  });

  it('is deterministic, 4-byte aligned, with mtime 0 and inodes numbered in order', () => {
    assert.deepEqual(buildCpio(ENTRIES), archive);
    const { entries, end } = parseCpio(archive);
    assert.equal(end, archive.length);
    assert.equal(archive.length % 4, 0);
    assert.deepEqual(entries.map((e) => e.ino), ENTRIES.map((_, i) => i + 1));
    assert.ok(entries.every((e) => e.mtime === 0));
    for (const e of entries) assert.equal((e.data.byteOffset - archive.byteOffset) % 4, 0, e.path);
    assert.equal(entries[0].mode, S_IFDIR | 0o755);
    assert.equal(entries[1].mode & S_IFMT, S_IFCHR);
    assert.deepEqual([entries[1].rdevMajor, entries[1].rdevMinor], [5, 1]);
    assert.equal(new TextDecoder().decode(entries[9].data), 'busybox');
  });

  it('streams the same bytes into a Writable', async () => {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    await writeCpio(ENTRIES, sink);
    assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), new Uint8Array(archive));
  });

  it('refuses bad paths and fields', () => {
    const bad: CpioEntry[] = [
      { type: 'file', path: '../etc/passwd', data: bytes('') },
      { type: 'file', path: '/', data: bytes('') },
      { type: 'file', path: 'a//b', data: bytes('') },
      { type: 'file', path: 'TRAILER!!!', data: bytes('') },
      { type: 'file', path: 'x', data: bytes(''), mode: 0o100644 },
      { type: 'file', path: 'x', data: bytes(''), uid: 2 ** 32 },
      { type: 'file', path: 'x'.repeat(5000), data: bytes('') },
    ];
    for (const e of bad) assert.throws(() => buildCpio([e]), CpioError, e.path.slice(0, 20));
  });
});

describe('cpio reader', () => {
  it('reads what GNU cpio -o -H newc writes', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vkexec-cpio-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'etc'));
    writeFileSync(join(dir, 'etc/hostname'), 'vkexec\n');
    writeFileSync(join(dir, 'odd'), Buffer.alloc(4097, 7));
    symlinkSync('etc/hostname', join(dir, 'link'));
    const archive = spawnSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: dir, input: 'etc\netc/hostname\nodd\nlink\n' });
    if (archive.error) throw new Error(`GNU cpio is needed for this test: apt-get install cpio`);
    const { entries } = parseCpio(archive.stdout);
    assert.deepEqual(entries.map((e) => e.path), ['etc', 'etc/hostname', 'odd', 'link']);
    assert.equal(Buffer.from(entries[1].data).toString(), 'vkexec\n');
    assert.deepEqual(Buffer.from(entries[2].data), Buffer.alloc(4097, 7));
    assert.equal(Buffer.from(entries[3].data).toString(), 'etc/hostname');
  });

  it('refuses truncated and malformed archives with CpioError', () => {
    const archive = buildCpio(ENTRIES);
    for (const cut of [0, 50, 120, archive.length - 1]) assert.throws(() => parseCpio(archive.subarray(0, cut)), CpioError, `cut at ${cut}`);
    const magic = Buffer.from(archive);
    magic.write('070707', 0);
    assert.throws(() => parseCpio(magic), /no newc magic/);
    const hex = Buffer.from(archive);
    hex.write('zz', 8);
    assert.throws(() => parseCpio(hex), /not hex/);
    const size = Buffer.from(archive);
    size.write('7FFFFFFF', 6 + 6 * 8); // filesize of the first entry
    assert.throws(() => parseCpio(size), /runs past the end/);
  });
});

describe('test initramfs fixtures', () => {
  for (const name of ['initramfs-busybox-amd64.cpio', 'initramfs-busybox-i386.cpio'] as const) {
    it(`${name} has /init printing the marker, /dev/console and busybox`, () => {
      const { entries } = parseCpio(readFileSync(fixture(name)));
      const byPath = new Map(entries.map((e) => [e.path, e]));
      const init = byPath.get('init');
      assert.ok(init && (init.mode & 0o111) !== 0);
      assert.match(Buffer.from(init.data).toString(), new RegExp(`echo ${INIT_MARKER}\\n.*cat /proc/cmdline\\n.*reboot -f`, 's'));
      const console = byPath.get('dev/console');
      assert.ok(console && (console.mode & S_IFMT) === S_IFCHR && console.rdevMajor === 5 && console.rdevMinor === 1);
      const busybox = byPath.get('bin/busybox');
      assert.ok(busybox && busybox.data[0] === 0x7f && busybox.data[1] === 0x45);
    });
  }
});
