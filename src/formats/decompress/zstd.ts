// Zstandard (RFC 8878): a frame walk of our own, then libzstd (libzstd.ts) decodes each frame. The walk checks
// every frame's limits and structure first (window, dictionary, declared sizes against the cap, trailing data),
// so the decoder is only handed frames that are whole and within bounds; the decode counts its output against
// the cap, and libzstd verifies each frame's content checksum.

import { DecompressError } from './error.js';
import { decodeFrameLibzstd, type LibzstdExports, loadLibzstd } from './libzstd.js';
import { Output } from './output.js';

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** zstd's default decoder window limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT = 27); the zstd tool refuses more too. */
const WINDOW_MAX = 1 << 27;

const le32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const truncated = (what: string, at: number) => new DecompressError('zstd', 'truncated', what, at);
const corrupt = (what: string, at: number) => new DecompressError('zstd', 'corrupt', what, at);

interface Frame {
  start: number;
  end: number;
  contentSize: number | null;
}

/** Walks all frames (skippable ones are dropped), checking sizes, limits and block structure. */
function walkFrames(input: Uint8Array, maxOutput: number): Frame[] {
  const frames: Frame[] = [];
  let p = 0;
  while (p < input.length) {
    if (p + 4 > input.length) throw truncated('frame magic cut short', p);
    const magic = le32(input, p);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (p + 8 > input.length) throw truncated('skippable frame header cut short', p);
      const size = le32(input, p + 4);
      if (p + 8 + size > input.length) throw truncated('skippable frame cut short', p);
      p += 8 + size;
      continue;
    }
    if (magic !== ZSTD_MAGIC) {
      throw corrupt(p === 0 ? 'no zstd frame magic' : `${input.length - p} bytes of trailing data after the last frame`, p);
    }
    const start = p;
    if (p + 5 > input.length) throw truncated('frame header cut short', p);
    const fhd = input[p + 4];
    const single = (fhd >>> 5) & 1;
    if (fhd & 0x08) throw corrupt('reserved frame header bit set', p + 4);
    p += 5;
    // Single-segment frames have no window: their content size (checked below) bounds memory.
    let window = 0;
    if (!single) {
      const wd = input[p++];
      const base = 2 ** (10 + (wd >>> 3));
      window = base + (base / 8) * (wd & 7);
    }
    const dictBytes = [0, 1, 2, 4][fhd & 3];
    const fcsBytes = [single, 2, 4, 8][fhd >>> 6];
    if (p + dictBytes + fcsBytes > input.length) throw truncated('frame header cut short', start);
    let dictId = 0;
    for (let i = dictBytes - 1; i >= 0; i--) dictId = dictId * 256 + input[p + i];
    p += dictBytes;
    let contentSize: number | null = null;
    if (fcsBytes) {
      contentSize = 0;
      for (let i = fcsBytes - 1; i >= 0; i--) contentSize = contentSize * 256 + input[p + i];
      if (fcsBytes === 2) contentSize += 256;
    }
    p += fcsBytes;
    if (dictId !== 0) throw new DecompressError('zstd', 'unsupported', `frame needs dictionary ${dictId}`, start);
    if (window > WINDOW_MAX) {
      throw new DecompressError('zstd', 'unsupported', `window of ${window} bytes is above the decoder limit of ${WINDOW_MAX} (as zstd without --long=31)`, start);
    }
    if (contentSize !== null && contentSize > maxOutput) {
      throw new DecompressError('zstd', 'too-large', `frame declares ${contentSize} bytes, above the limit of ${maxOutput} bytes (maxOutput)`, start);
    }
    for (;;) {
      if (p + 3 > input.length) throw truncated('block header cut short', p);
      const bh = input[p] | (input[p + 1] << 8) | (input[p + 2] << 16);
      if (((bh >>> 1) & 3) === 3) throw corrupt('reserved block type', p);
      const stored = ((bh >>> 1) & 3) === 1 ? 1 : bh >>> 3;
      if (p + 3 + stored > input.length) throw truncated('block cut short', p);
      p += 3 + stored;
      if (bh & 1) break;
    }
    if (fhd & 0x04) {
      if (p + 4 > input.length) throw truncated('content checksum cut short', p);
      p += 4;
    }
    frames.push({ start, end: p, contentSize });
  }
  return frames;
}

/** A zstd stream (one or more frames, skippable ones dropped) decoded within maxOutput bytes. */
export function decodeZstd(input: Uint8Array, maxOutput: number, sizeHint = 0): Uint8Array {
  return decodeZstdDirect(loadLibzstd(), input, maxOutput, sizeHint);
}

/** The decode itself, frame by frame through libzstd (libzstd.ts) after the walk. */
function decodeZstdDirect(z: LibzstdExports, input: Uint8Array, maxOutput: number, sizeHint: number): Uint8Array {
  const frames = walkFrames(input, maxOutput);
  const declared = frames.reduce<number | null>((sum, f) => (sum === null || f.contentSize === null ? null : sum + f.contentSize), 0);
  if (declared !== null && declared > maxOutput) {
    throw new DecompressError('zstd', 'too-large', `frames declare ${declared} bytes, above the limit of ${maxOutput} bytes (maxOutput)`);
  }
  const out = new Output('zstd', maxOutput, declared ?? sizeHint);
  for (const f of frames) {
    const n = decodeFrameLibzstd(z, input, f.start, f.end, out);
    if (f.contentSize !== null && n !== f.contentSize) throw corrupt(`frame declares ${f.contentSize} bytes but decodes to ${n}`, f.start);
  }
  return out.result();
}
