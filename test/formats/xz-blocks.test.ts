// Block-by-block .xz decoding (decodeXzBlocks), which `vkexec check` uses to stream a .deb's data.tar.xz:
// checked against xz-utils' own multi-block output (xz --block-size), as dpkg-deb writes it (24 MiB blocks).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DecompressError } from '../../src/formats/compress.js';
import { decodeXzBlocks } from '../../src/formats/decompress/xz.js';
import { fixture } from '../helpers/fixtures.js';

function xz(args: string[], input: Uint8Array): Buffer {
  const r = spawnSync('xz', args, { input, maxBuffer: 1 << 28 });
  if (r.error) throw new Error(`xz is needed for this test and cannot run (${r.error.message}): apt-get install xz-utils`);
  assert.equal(r.status, 0, `xz ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const data = readFileSync(fixture('busybox-amd64')).subarray(0, 600 * 1024);

test('xz --block-size=64KiB: one piece a block, together the original bytes; the cap counts all blocks', () => {
  const packed = xz(['-6', '-T1', '--block-size=65536', '-c'], data);
  const pieces = [...decodeXzBlocks(packed, 1 << 30)];
  assert.equal(pieces.length, Math.ceil(data.length / 65536));
  assert.ok(pieces.every((p) => p.length <= 65536), 'a piece is larger than one block');
  assert.ok(Buffer.concat(pieces).equals(data), 'the pieces differ from the input');
  // maxOutput is a limit on the whole output, not on one block.
  assert.throws(() => [...decodeXzBlocks(packed, data.length - 1)], (e: unknown) => e instanceof DecompressError && e.reason === 'too-large');
  // A damaged later block fails after the earlier blocks were yielded, with xz's "corrupt" reason.
  const bad = Buffer.from(packed);
  bad[Math.floor(bad.length * 0.8)] ^= 0xff;
  let yielded = 0;
  assert.throws(() => {
    for (const p of decodeXzBlocks(bad, 1 << 30)) yielded += p.length;
  }, (e: unknown) => e instanceof DecompressError && e.format === 'xz');
  assert.ok(yielded > 0 && yielded < data.length, `yielded ${yielded} bytes before the damaged block`);
});

test('a single-block .xz (xz without --block-size) comes as one piece', () => {
  const pieces = [...decodeXzBlocks(xz(['-6', '-T1', '-c'], data), 1 << 30)];
  assert.equal(pieces.length, 1);
  assert.ok(Buffer.from(pieces[0]).equals(data));
});
