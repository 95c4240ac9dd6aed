// `vkexec inspect` on a real Debian initrd.img (fixture initrd.img-amd64: mkinitramfs from bookworm's
// initramfs-tools and amd64-microcode for linux-image-amd64.deb): both archives, the early microcode, /init and
// its interpreter through initramfs-tools' `bin -> usr/bin` symlink, and the modules. GNU cpio and zstd list the
// same archives independently. A missing fixture fails here (fixture() throws), it never skips.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fixture } from '../helpers/fixtures.js';
import { vkexec } from '../helpers/cli.js';

const IMG = fixture('initrd.img-amd64');

/** GNU cpio's listing (-t) of the first newc archive in a file or buffer (it stops at that archive's TRAILER!!!). */
function cpioList(input: string | Buffer): string[] {
  const opts = { maxBuffer: 1 << 28 };
  if (Buffer.isBuffer(input)) return lines(execFileSync('cpio', ['-i', '-t', '--quiet'], { ...opts, input }));
  const fd = openSync(input, 'r'); // as stdin: cpio stops reading early, which a pipe would report as EPIPE
  try {
    return lines(execFileSync('cpio', ['-i', '-t', '--quiet'], { ...opts, stdio: [fd, 'pipe', 'pipe'] }));
  } finally {
    closeSync(fd);
  }
}
const lines = (b: Buffer) => b.toString('utf8').split('\n').filter(Boolean);

function inspect(args: string[]): string {
  const r = vkexec(null, [...args, 'inspect', IMG]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'inspect reports on stdout only');
  return r.stdout;
}

describe("inspect on Debian's initrd.img (initramfs-tools, early microcode)", () => {
  const raw = readFileSync(IMG);
  const j = JSON.parse(inspect(['--json']));
  const [early, main] = j.initramfs.archives;
  const earlyList = cpioList(IMG);
  const mainList = cpioList(execFileSync('zstd', ['-d', '-c', '-q'], { input: raw.subarray(main.offset), maxBuffer: 1 << 30 }));

  it('finds both archives: the uncompressed early cpio with AMD microcode, then the zstd main cpio', () => {
    assert.equal(j.initramfs.archives.length, 2);
    assert.deepEqual([early.offset, early.compression, main.compression], [0, null, 'zstd']);
    assert.ok(earlyList.includes('kernel/x86/microcode/AuthenticAMD.bin'), `GNU cpio lists ${earlyList.join(' ')}`);
    assert.deepEqual(early.microcode, ['kernel/x86/microcode/AuthenticAMD.bin']);
    assert.deepEqual(main.microcode, []);
    // The main archive starts where the early one's padding ends: zstd's frame magic (RFC 8878 3.1.1).
    assert.equal(main.offset % 4, 0);
    assert.equal(raw.readUInt32LE(main.offset), 0xfd2fb528);
    assert.equal(main.offset + main.storedSize, raw.length);
    // Entry counts as GNU cpio sees them (it leaves out the TRAILER!!! record, as inspect does).
    assert.deepEqual([early.entries, main.entries], [earlyList.length, mainList.length]);
    assert.equal(j.initramfs.totalEntries, earlyList.length + mainList.length);
  });

  it('shows /init as a shell script whose interpreter is in the archives through bin -> usr/bin', () => {
    assert.ok(mainList.includes('bin') && mainList.includes('usr/bin/sh'), 'initramfs-tools merged /usr: bin is a symlink, sh is under usr/bin');
    assert.deepEqual([j.initramfs.init.path, j.initramfs.init.kind, j.initramfs.init.interpreter, j.initramfs.init.interpreterPresent], ['/init', 'script', '/bin/sh', true]);
  });

  it('counts the kernel modules of the one kernel the image is for', () => {
    const kos = mainList.filter((p) => /^usr\/lib\/modules\/[^/]+\/.*\.ko(\.(xz|zst))?$/.test(p));
    assert.ok(kos.length > 100, `MODULES=most puts hundreds of modules in; GNU cpio lists ${kos.length}`);
    assert.equal(j.initramfs.modules.count, kos.length);
    const version = /^usr\/lib\/modules\/([^/]+)\//.exec(kos[0]!)![1]!;
    assert.match(version, /^6\.1\.0-\d+-amd64$/);
    assert.deepEqual(j.initramfs.modules.kernelVersions, [version]);
    assert.ok(j.initramfs.modules.names.includes('virtio_blk') && j.initramfs.modules.names.includes('ext4'));
  });

  it('says the same in text: archives, microcode, /init, modules; no kernel type takes the file', () => {
    const text = inspect([]);
    assert.match(text, new RegExp(`^initramfs {5}2 archives, ${j.initramfs.totalEntries} entries in all$`, 'm'));
    assert.match(text, new RegExp(`^ {2}archive 1 at 0x0: uncompressed cpio, ${early.storedSize} bytes, ${early.entries} entries$`, 'm'));
    assert.match(text, /^ {4}early microcode: \/kernel\/x86\/microcode\/AuthenticAMD\.bin$/m);
    assert.match(text, new RegExp(`^ {2}archive 2 at 0x${main.offset.toString(16)}: zstd-compressed, ${main.storedSize} bytes -> ${main.cpioSize} bytes of cpio, ${main.entries} entries$`, 'm'));
    assert.match(text, /^ {2}\/init {9}script for \/bin\/sh, \d+ bytes$/m);
    assert.match(text, new RegExp(`^ {2}modules {7}${j.initramfs.modules.count} kernel modules for 6\\.1\\.0-\\d+-amd64: `, 'm'));
    assert.match(text, /-> no userspace type takes it/);
  });
});
