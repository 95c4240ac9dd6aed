// Zstandard (RFC 8878) through fzstd, behind a frame walk of our own. fzstd trusts frame headers (it allocates
// whatever window or content size a header declares), reports errors as bare codes and skips the content
// checksum; so the walk checks every frame's limits and structure first, the decode counts its output against
// the cap, and the checksum is verified here.
// Speed: fzstd's one-shot mode decodes in place when a frame declares its content size; without one (the
// kernel's `zstd -22 --ultra` from a pipe, 128 MiB window) its streaming mode shifts the whole window after every
// block, about 20 times slower. A known size (the bzImage size trailer) is therefore written into such a frame's
// header, and the checksum decides whether the result stands; if it does not, the frame is decoded again by
// streaming.

import { Decompress, decompress as fzstdDecompress } from 'fzstd';
import { DecompressError } from './error.js';
import { Output } from './output.js';
import { xxh64 } from './xxhash64.js';

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
  /** Offset of the first block header. */
  blocks: number;
  end: number;
  contentSize: number | null;
  checksum: boolean;
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
    const blocks = p;
    for (;;) {
      if (p + 3 > input.length) throw truncated('block header cut short', p);
      const bh = input[p] | (input[p + 1] << 8) | (input[p + 2] << 16);
      if (((bh >>> 1) & 3) === 3) throw corrupt('reserved block type', p);
      const stored = ((bh >>> 1) & 3) === 1 ? 1 : bh >>> 3;
      if (p + 3 + stored > input.length) throw truncated('block cut short', p);
      p += 3 + stored;
      if (bh & 1) break;
    }
    const checksum = (fhd & 0x04) !== 0;
    if (checksum) {
      if (p + 4 > input.length) throw truncated('content checksum cut short', p);
      p += 4;
    }
    frames.push({ start, blocks, end: p, contentSize, checksum });
  }
  return frames;
}

function fzstdError(e: unknown, at: number): DecompressError {
  if (e instanceof DecompressError) return e;
  const reason = (e as { code?: number }).code === 5 ? 'truncated' : 'corrupt';
  return new DecompressError('zstd', reason, `fzstd: ${(e as Error).message}`, at);
}

const checksumOk = (input: Uint8Array, f: Frame, data: Uint8Array) =>
  !f.checksum || Number(xxh64(data) & 0xffffffffn) === le32(input, f.end - 4);

/** A copy of the frame declaring `size` as its content size, single-segment (no window beyond the output). */
function withContentSize(input: Uint8Array, f: Frame, size: number): Uint8Array {
  const header = [0x28, 0xb5, 0x2f, 0xfd, 0xa0 | (input[f.start + 4] & 0x04), size & 0xff, (size >>> 8) & 0xff, (size >>> 16) & 0xff, size >>> 24];
  const copy = new Uint8Array(header.length + f.end - f.blocks);
  copy.set(header);
  copy.set(input.subarray(f.blocks, f.end), header.length);
  return copy;
}

function streamFrame(input: Uint8Array, f: Frame, out: Output): void {
  const from = out.pos;
  const dec = new Decompress((chunk) => {
    out.ensure(chunk.length);
    out.buf.set(chunk, out.pos);
    out.pos += chunk.length;
  });
  try {
    dec.push(input.subarray(f.start, f.end), true);
  } catch (e) {
    throw fzstdError(e, f.start);
  }
  if (f.contentSize !== null && out.pos - from !== f.contentSize) {
    throw corrupt(`frame declares ${f.contentSize} bytes but decodes to ${out.pos - from}`, f.start);
  }
  if (!checksumOk(input, f, out.buf.subarray(from, out.pos))) throw corrupt('content checksum mismatch', f.end - 4);
}

/** The decode itself, unbounded in time (fzstd can loop on crafted tables): run it through decodeZstd. */
export function decodeZstdDirect(input: Uint8Array, maxOutput: number, sizeHint = 0): Uint8Array {
  const frames = walkFrames(input, maxOutput);
  const declared = frames.reduce<number | null>((sum, f) => (sum === null || f.contentSize === null ? null : sum + f.contentSize), 0);
  if (declared !== null && declared > maxOutput) {
    throw new DecompressError('zstd', 'too-large', `frames declare ${declared} bytes, above the limit of ${maxOutput} bytes (maxOutput)`);
  }
  const out = new Output('zstd', maxOutput, declared ?? sizeHint);
  for (const f of frames) {
    let size = f.contentSize;
    let frame = input.subarray(f.start, f.end);
    if (size === null && frames.length === 1 && f.checksum && sizeHint > 0 && sizeHint <= maxOutput && sizeHint < 2 ** 32) {
      size = sizeHint;
      frame = withContentSize(input, f, sizeHint);
    }
    if (size === null || size === 0) {
      streamFrame(input, f, out);
      continue;
    }
    let data: Uint8Array;
    try {
      data = fzstdDecompress(frame);
    } catch (e) {
      if (f.contentSize !== null) throw fzstdError(e, f.start);
      streamFrame(input, f, out); // the size guess was wrong; let the stream decoder tell what is
      continue;
    }
    if (!checksumOk(input, f, data)) {
      if (f.contentSize !== null) throw corrupt('content checksum mismatch', f.end - 4);
      streamFrame(input, f, out);
      continue;
    }
    out.ensure(data.length);
    out.buf.set(data, out.pos);
    out.pos += data.length;
  }
  return out.result();
}
