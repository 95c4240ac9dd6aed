// LZ4 "legacy" frames, the format of `lz4 -l` that the kernel's lib/decompress_unlz4.c reads: magic
// 0x184C2102, then blocks of [32-bit LE compressed size][LZ4 block], each decompressing independently to at
// most 8 MiB; a repeated magic starts a new frame. Block format per lz4's lz4_Block_format.md.

import { DecompressError } from './error.js';
import { Output } from './output.js';

const LZ4_LEGACY_MAGIC = 0x184c2102;
const LEGACY_BLOCK_MAX = 8 << 20;

const le32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;

export function decodeLz4Legacy(input: Uint8Array, maxOutput: number, sizeHint = 0): Uint8Array {
  if (input.length < 4 || le32(input, 0) !== LZ4_LEGACY_MAGIC) {
    throw new DecompressError('lz4', 'corrupt', 'no lz4 legacy frame magic 0x184C2102', 0);
  }
  const out = new Output('lz4', maxOutput, sizeHint);
  let p = 4;
  while (p < input.length) {
    if (p + 4 > input.length) throw new DecompressError('lz4', 'truncated', 'block size field cut short', p);
    const size = le32(input, p);
    p += 4;
    if (size === LZ4_LEGACY_MAGIC) continue;
    if (size > input.length - p) throw new DecompressError('lz4', 'truncated', `block of ${size} bytes runs past the end of the input`, p - 4);
    decodeBlock(input, p, p + size, out);
    p += size;
  }
  return out.result();
}

/** One LZ4 block: sequences of [token][literal length+][literals][offset LE16][match length+]. */
function decodeBlock(input: Uint8Array, start: number, end: number, out: Output): void {
  const blockOut = out.pos;
  const corrupt = (what: string, at: number) => new DecompressError('lz4', 'corrupt', what, at);
  let p = start;
  for (;;) {
    if (p >= end) throw corrupt('block ends without its final literals', p);
    const token = input[p++];
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (p >= end) throw corrupt('literal length cut short', p);
        b = input[p++];
        lit += b;
      } while (b === 255);
    }
    if (p + lit > end) throw corrupt('literals run past the block', p);
    if (out.pos - blockOut + lit > LEGACY_BLOCK_MAX) throw corrupt('block decompresses to more than 8 MiB', start);
    out.ensure(lit);
    copyBytes(input, p, out.buf, out.pos, lit);
    out.pos += lit;
    p += lit;
    if (p === end) return; // the last sequence carries literals only
    if (p + 2 > end) throw corrupt('match offset cut short', p);
    const offset = input[p] | (input[p + 1] << 8);
    p += 2;
    if (offset === 0 || offset > out.pos - blockOut) throw corrupt(`match offset ${offset} reaches outside the block`, p - 2);
    let len = (token & 15) + 4;
    if (len === 19) {
      let b: number;
      do {
        if (p >= end) throw corrupt('match length cut short', p);
        b = input[p++];
        len += b;
      } while (b === 255);
    }
    if (out.pos - blockOut + len > LEGACY_BLOCK_MAX) throw corrupt('block decompresses to more than 8 MiB', start);
    out.ensure(len);
    const buf = out.buf;
    const from = out.pos - offset;
    if (offset >= len && len > SHORT) buf.copyWithin(out.pos, from, from + len);
    else for (let i = 0; i < len; i++) buf[out.pos + i] = buf[from + i]; // overlapping: repeats the last offset bytes
    out.pos += len;
  }
}

/** Below this many bytes a plain loop beats set()/copyWithin() and the subarray they need (most LZ4 sequences). */
const SHORT = 32;

function copyBytes(src: Uint8Array, from: number, dst: Uint8Array, to: number, n: number): void {
  if (n > SHORT) dst.set(src.subarray(from, from + n), to);
  else for (let i = 0; i < n; i++) dst[to + i] = src[from + i];
}
