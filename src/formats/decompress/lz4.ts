// LZ4 "legacy" frames, the format of `lz4 -l` that the kernel's lib/decompress_unlz4.c reads: magic
// 0x184C2102, then blocks of [32-bit LE compressed size][LZ4 block], each decompressing independently to at
// most 8 MiB; a repeated magic starts a new frame. Block format per lz4's lz4_Block_format.md.

import { DecompressError } from './error.js';
import { Output, tooLarge } from './output.js';

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

/**
 * One LZ4 block: sequences of [token][literal length+][literals][offset LE16][match length+]. The output is
 * made room for once (the block's 8 MiB limit, within the caller's cap), so the loop keeps buf/pos in locals.
 */
function decodeBlock(input: Uint8Array, start: number, end: number, out: Output): void {
  const blockOut = out.pos;
  const corrupt = (what: string, at: number) => new DecompressError('lz4', 'corrupt', what, at);
  reserve(out, Math.min(LEGACY_BLOCK_MAX, (end - start) * 255 + 16));
  const buf = out.buf;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const limit = Math.min(buf.length, blockOut + LEGACY_BLOCK_MAX);
  let pos = blockOut;
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
    if (pos + lit > limit) throw outOfRoom(out, pos - blockOut + lit, start);
    if (lit > SHORT) buf.set(input.subarray(p, p + lit), pos);
    else for (let i = 0; i < lit; i++) buf[pos + i] = input[p + i];
    pos += lit;
    p += lit;
    if (p === end) break; // the last sequence carries literals only
    if (p + 2 > end) throw corrupt('match offset cut short', p);
    const offset = input[p] | (input[p + 1] << 8);
    p += 2;
    if (offset === 0 || offset > pos - blockOut) throw corrupt(`match offset ${offset} reaches outside the block`, p - 2);
    let len = (token & 15) + 4;
    if (len === 19) {
      let b: number;
      do {
        if (p >= end) throw corrupt('match length cut short', p);
        b = input[p++];
        len += b;
      } while (b === 255);
    }
    if (pos + len > limit) throw outOfRoom(out, pos - blockOut + len, start);
    const from = pos - offset;
    if (offset >= len && len > SHORT) buf.copyWithin(pos, from, from + len);
    else if (offset >= 4 && pos + len + 3 <= buf.length) {
      // Four bytes a step, each read from bytes already final (offset >= 4); up to 3 bytes past the match are
      // written and then overwritten by what follows (or left beyond out.pos, outside the result).
      for (let i = 0; i < len; i += 4) dv.setUint32(pos + i, dv.getUint32(from + i, true), true);
    } else for (let i = 0; i < len; i++) buf[pos + i] = buf[from + i]; // overlapping: repeats the last offset bytes
    pos += len;
  }
  out.pos = pos;
}

/** Below this many bytes a plain loop beats set()/copyWithin() and the subarray they need (most LZ4 sequences). */
const SHORT = 32;

/** Room for up to `n` more bytes: all of them when the cap allows, else what is left under it. */
function reserve(out: Output, n: number): void {
  const left = out.maxOutput - out.drained - out.pos;
  if (left > 0) out.ensure(Math.min(n, left));
}

/** A block that needs more than the room made for it: past 8 MiB (the format's limit) or past the caller's cap. */
function outOfRoom(out: Output, blockBytes: number, start: number): DecompressError {
  if (blockBytes > LEGACY_BLOCK_MAX) return new DecompressError('lz4', 'corrupt', 'block decompresses to more than 8 MiB', start);
  return tooLarge('lz4', out.maxOutput);
}
