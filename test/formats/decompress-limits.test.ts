// The limits the faster decoder loops (issue 15) must keep: an LZ4 legacy block's 8 MiB (the kernel's
// lib/decompress_unlz4.c decodes each block into an 8 MiB chunk and fails past it) and the caller's maxOutput,
// checked on crafted blocks at and around both limits; and the bzip2 block CRC (now four bytes a step)
// against bzip2's own output for lengths that are not a multiple of four.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { DecompressError, decompress } from '../../src/formats/compress.js';

const MiB = 1 << 20;

/** A legacy frame of one block: literal 'a', then one match of `matchLen` bytes at offset 1, then literal 'b'. */
function lz4Run(matchLen: number): Uint8Array {
  const extra = matchLen - 4 - 15; // the token holds 15, then bytes of 255 and a last one below 255
  const lenBytes = [...Array(Math.floor(extra / 255)).fill(255), extra % 255];
  const block = [0x1f, 0x61, 0x01, 0x00, ...lenBytes, 0x10, 0x62];
  const frame = new Uint8Array(8 + block.length);
  const dv = new DataView(frame.buffer);
  dv.setUint32(0, 0x184c2102, true);
  dv.setUint32(4, block.length, true);
  frame.set(block, 8);
  return frame;
}

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof DecompressError, `not a DecompressError: ${String(e)}`);
    return `${e.reason}: ${e.message}`;
  }
  return 'ok';
}

describe('lz4 legacy blocks at the limits', () => {
  it('a block of exactly 8 MiB decodes; one byte more is corrupt (the kernel fails past its 8 MiB chunk)', () => {
    const exact = decompress(lz4Run(8 * MiB - 2), 'lz4');
    assert.equal(exact.length, 8 * MiB);
    assert.equal(exact[0], 0x61);
    assert.equal(exact[8 * MiB - 2], 0x61);
    assert.equal(exact[8 * MiB - 1], 0x62);
    assert.match(reason(() => decompress(lz4Run(8 * MiB - 1), 'lz4')), /^corrupt: .*more than 8 MiB/);
  });

  it('maxOutput: exactly the output size decodes, one byte less is too-large naming the limit', () => {
    const frame = lz4Run(MiB);
    assert.equal(decompress(frame, 'lz4', { maxOutput: MiB + 2 }).length, MiB + 2);
    assert.match(reason(() => decompress(frame, 'lz4', { maxOutput: MiB + 1 })), /^too-large: .*1048577 bytes \(maxOutput\)/);
    assert.match(reason(() => decompress(frame, 'lz4', { maxOutput: 1 })), /^too-large: /);
  });
});

describe('bzip2 block CRC', () => {
  it('matches bzip2 for every length mod 4 (the CRC runs four bytes a step, then byte by byte)', () => {
    for (const n of [1, 2, 3, 4, 5, 6, 7, 1021, 1022, 1023, 1024]) {
      const data = Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + (i >> 3)) & 0xff));
      const r = spawnSync('bzip2', ['-c'], { input: data });
      if (r.error) throw new Error(`bzip2 is needed for this test and cannot run (${r.error.message}): apt-get install bzip2`);
      assert.ok(Buffer.from(decompress(r.stdout, 'bzip2')).equals(data), `length ${n}`);
      const bad = Buffer.from(r.stdout);
      bad[10] ^= 1; // the first block's stored CRC: "BZh9", 6 bytes of block magic, then the CRC
      assert.match(reason(() => decompress(bad, 'bzip2')), /^corrupt: .*block CRC mismatch/, `length ${n}: a changed block CRC is caught`);
    }
  });
});
