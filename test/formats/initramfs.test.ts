// The initramfs reader: archives one after another as initramfs-tools writes them (an uncompressed early
// microcode cpio, then a compressed main cpio), NUL padding, several cpio archives inside one compressed stream,
// and the kernel's two refusals (bad magic, junk inside a compressed stream).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { buildCpio } from '../../src/formats/cpio.js';
import { InitramfsError, readInitramfs } from '../../src/formats/initramfs.js';

const micro = Buffer.from(buildCpio([
  { type: 'dir', path: 'kernel' }, { type: 'dir', path: 'kernel/x86' }, { type: 'dir', path: 'kernel/x86/microcode' },
  { type: 'file', path: 'kernel/x86/microcode/GenuineIntel.bin', data: Buffer.alloc(1000, 1) },
]));
const main1 = Buffer.from(buildCpio([{ type: 'file', path: 'init', data: Buffer.from('#!/bin/sh\necho hi\n') }]));
const main2 = Buffer.from(buildCpio([{ type: 'file', path: 'bin/sh', data: Buffer.alloc(10) }]));

test('microcode cpio, NUL padding, then a gzip stream holding two cpio archives', () => {
  const pad = Buffer.alloc(512 - (micro.length % 512));
  const z = gzipSync(Buffer.concat([main1, Buffer.alloc(4), main2]));
  const a = readInitramfs(Buffer.concat([micro, pad, z]));
  assert.equal(a.length, 2);
  assert.deepEqual([a[0]!.offset, a[0]!.compression, a[0]!.entries.length, a[0]!.archives], [0, null, 4, 1]);
  assert.deepEqual([a[1]!.offset, a[1]!.compression, a[1]!.entries.length, a[1]!.archives], [micro.length + pad.length, 'gzip', 2, 2]);
  assert.equal(a[1]!.cpioSize, main1.length + 4 + main2.length);
  assert.equal(a[1]!.storedSize, z.length);
});

test('bytes that are neither cpio nor a known compression, or junk after cpio inside a stream, are refused', () => {
  assert.throws(() => readInitramfs(Buffer.concat([micro, Buffer.from('garbage!')])), (e) => e instanceof InitramfsError && /invalid magic at start of compressed archive/.test(e.message));
  assert.throws(() => readInitramfs(gzipSync(Buffer.concat([main1, Buffer.from('junk')]))), /junk within compressed archive/);
  assert.deepEqual(readInitramfs(Buffer.alloc(64)), [], 'only padding: no archive');
});
