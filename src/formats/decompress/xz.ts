// The .xz container (The .xz File Format, version 1.1.0): stream header, blocks with a filter chain ending in
// LZMA2, integrity checks, index, footer, stream padding and concatenated streams. Filters decoded: LZMA2,
// x86 BCJ (what the kernel's xz_wrap.sh uses for x86) and Delta.

import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { bcjX86Decode } from './bcj-x86.js';
import { DecompressError } from './error.js';
import { decodeLzma2 } from './lzma2.js';
import { Output } from './output.js';

const XZ_MAGIC = Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00);
const FOOTER_MAGIC0 = 0x59; // "YZ"
const FOOTER_MAGIC1 = 0x5a;

const FILTER_DELTA = 0x03n;
const FILTER_X86 = 0x04n;
const FILTER_LZMA2 = 0x21n;
const FILTER_NAMES: Record<string, string> = { '5': 'PowerPC BCJ', '6': 'IA-64 BCJ', '7': 'ARM BCJ', '8': 'ARM-Thumb BCJ', '9': 'SPARC BCJ', '10': 'ARM64 BCJ', '11': 'RISC-V BCJ' };

// Check field size by check type (0 none, 1 CRC32, 4 CRC64, 10 SHA-256; the others are reserved sizes).
const CHECK_SIZE = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];

const corrupt = (what: string, at?: number) => new DecompressError('xz', 'corrupt', what, at);
const truncated = (what: string, at?: number) => new DecompressError('xz', 'truncated', what, at);

function le32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function checkCrc32(b: Uint8Array, start: number, end: number, at: number, what: string): void {
  if (at + 4 > b.length) throw truncated(`${what} CRC32 missing`, at);
  if (crc32(b.subarray(start, end)) !== le32(b, at)) throw corrupt(`${what} CRC32 mismatch`, at);
}

/** Variable-length integer: 7 bits a byte, low first, at most 9 bytes, minimally encoded. */
function readVli(b: Uint8Array, p: number, end: number): [bigint, number] {
  let v = 0n;
  for (let i = 0; i < 9; i++) {
    if (p + i >= end) throw truncated('variable-length integer cut short', p);
    const byte = b[p + i];
    v |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) {
      if (byte === 0 && i > 0) throw corrupt('variable-length integer is not minimally encoded', p);
      return [v, p + i + 1];
    }
  }
  throw corrupt('variable-length integer longer than 9 bytes', p);
}

let crc64Table: [Uint32Array, Uint32Array] | undefined;

/** CRC-64/XZ (ECMA-182 polynomial, reflected), on two 32-bit halves. */
function crc64(data: Uint8Array): [number, number] {
  if (!crc64Table) {
    const lo = new Uint32Array(256);
    const hi = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let l = n;
      let h = 0;
      for (let k = 0; k < 8; k++) {
        const carry = l & 1;
        l = ((l >>> 1) | (h << 31)) >>> 0;
        h >>>= 1;
        if (carry) {
          l = (l ^ 0xd7870f42) >>> 0;
          h = (h ^ 0xc96c5795) >>> 0;
        }
      }
      lo[n] = l;
      hi[n] = h;
    }
    crc64Table = [lo, hi];
  }
  const [tl, th] = crc64Table;
  let l = 0xffffffff;
  let h = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const idx = (l ^ data[i]) & 0xff;
    l = (((l >>> 8) | (h << 24)) ^ tl[idx]) >>> 0;
    h = ((h >>> 8) ^ th[idx]) >>> 0;
  }
  return [~l >>> 0, ~h >>> 0];
}

function verifyCheck(type: number, data: Uint8Array, input: Uint8Array, at: number): void {
  const stored = input.subarray(at, at + CHECK_SIZE[type]);
  let ok = true;
  if (type === 1) ok = crc32(data) === le32(stored, 0);
  else if (type === 4) {
    const [l, h] = crc64(data);
    ok = l === le32(stored, 0) && h === le32(stored, 4);
  } else if (type === 10) ok = Buffer.from(createHash('sha256').update(data).digest()).equals(stored);
  // Reserved check types: xz-utils skips verification; so do we.
  if (!ok) throw corrupt(`block ${['', 'CRC32', '', '', 'CRC64', '', '', '', '', '', 'SHA-256'][type]} check mismatch`, at);
}

interface Filter {
  id: bigint;
  props: Uint8Array;
}

/** Total uncompressed size recorded in the index of the last stream, when the input ends with a footer. */
function lastStreamSize(input: Uint8Array): bigint | null {
  const f = input.length - 12;
  if (f < 12 || input[f + 10] !== FOOTER_MAGIC0 || input[f + 11] !== FOOTER_MAGIC1) return null;
  const indexSize = (le32(input, f + 4) + 1) * 4;
  const idx = f - indexSize;
  if (idx < 12 || input[idx] !== 0) return null;
  try {
    let [count, p] = readVli(input, idx + 1, f);
    let total = 0n;
    for (; count > 0n; count--) {
      let size: bigint;
      [, p] = readVli(input, p, f);
      [size, p] = readVli(input, p, f);
      total += size;
    }
    return total;
  } catch {
    return null; // a damaged index is reported when the stream is decoded in order
  }
}

export function decodeXz(input: Uint8Array, maxOutput: number, sizeHint = 0): Uint8Array {
  const declared = lastStreamSize(input);
  if (declared !== null && declared > BigInt(maxOutput)) {
    throw new DecompressError('xz', 'too-large', `index declares ${declared} bytes, above the limit of ${maxOutput} bytes (maxOutput)`);
  }
  const out = new Output('xz', maxOutput, declared !== null ? Number(declared) : sizeHint);
  for (const chunk of decodeStreams(input, out, false)) void chunk; // nothing is yielded unless chunked
  return out.result();
}

/**
 * The same decoding one block at a time: yields each block's output as soon as its check passed, so a caller
 * (a .deb's data.tar.xz read by vkexec check) holds one block (dpkg-deb's xz writes 24 MiB blocks), never the
 * whole output. A single-block file still yields its whole output at once.
 */
export function* decodeXzBlocks(input: Uint8Array, maxOutput: number): Generator<Uint8Array, void, void> {
  yield* decodeStreams(input, new Output('xz', maxOutput), true);
}

/** All concatenated streams and their padding; yields block outputs (drained from `out`) when `chunked`. */
function* decodeStreams(input: Uint8Array, out: Output, chunked: boolean): Generator<Uint8Array, void, void> {
  let p = 0;
  for (;;) {
    p = yield* decodeStream(input, p, out, chunked);
    // Stream padding: zero bytes in multiples of four, then maybe another stream.
    const padStart = p;
    while (p < input.length && input[p] === 0) p++;
    if ((p - padStart) % 4 !== 0) throw corrupt('stream padding is not a multiple of four bytes', padStart);
    if (p === input.length) return;
    if (!startsWith(input, p, XZ_MAGIC)) throw corrupt(`${input.length - p} bytes of trailing data after the stream`, p);
  }
}

function startsWith(b: Uint8Array, at: number, magic: Uint8Array): boolean {
  if (at + magic.length > b.length) return false;
  for (let i = 0; i < magic.length; i++) if (b[at + i] !== magic[i]) return false;
  return true;
}

/** Decodes one stream starting at `start`; returns the offset just past its footer. */
function* decodeStream(input: Uint8Array, start: number, out: Output, chunked: boolean): Generator<Uint8Array, number, void> {
  if (input.length - start < 12) throw truncated('stream header cut short', start);
  if (!startsWith(input, start, XZ_MAGIC)) throw corrupt('no .xz magic', start);
  checkCrc32(input, start + 6, start + 8, start + 8, 'stream header');
  if (input[start + 6] !== 0 || input[start + 7] > 0x0f) throw new DecompressError('xz', 'unsupported', 'unknown stream flags', start + 6);
  const checkType = input[start + 7];
  const checkSize = CHECK_SIZE[checkType];
  const records: Array<[bigint, bigint]> = [];
  let p = start + 12;
  for (;;) {
    if (p >= input.length) throw truncated('stream ends before its index', p);
    if (input[p] === 0) break; // index indicator
    const blockStart = p;
    const outStart = out.pos;
    p = decodeBlock(input, p, out);
    const unpadded = p - blockStart;
    while (p % 4 !== start % 4) {
      if (p >= input.length) throw truncated('block padding cut short', p);
      if (input[p++] !== 0) throw corrupt('non-zero block padding', p - 1);
    }
    if (p + checkSize > input.length) throw truncated('block check cut short', p);
    verifyCheck(checkType, out.buf.subarray(outStart, out.pos), input, p);
    p += checkSize;
    records.push([BigInt(unpadded + checkSize), BigInt(out.pos - outStart)]);
    if (chunked) yield out.drain();
  }
  // Index: indicator, record count, (unpadded size, uncompressed size) pairs, padding, CRC32.
  const indexStart = p;
  let count: bigint;
  [count, p] = readVli(input, p + 1, input.length);
  if (count !== BigInt(records.length)) throw corrupt(`index lists ${count} blocks, stream has ${records.length}`, indexStart);
  for (const [unpadded, size] of records) {
    let u: bigint, s: bigint;
    [u, p] = readVli(input, p, input.length);
    [s, p] = readVli(input, p, input.length);
    if (u !== unpadded || s !== size) throw corrupt('index record does not match its block', p);
  }
  while ((p - indexStart) % 4 !== 0) {
    if (p >= input.length) throw truncated('index padding cut short', p);
    if (input[p++] !== 0) throw corrupt('non-zero index padding', p - 1);
  }
  checkCrc32(input, indexStart, p, p, 'index');
  p += 4;
  // Footer: CRC32, backward size, flags (equal to the header's), "YZ".
  if (p + 12 > input.length) throw truncated('stream footer cut short', p);
  checkCrc32(input, p + 4, p + 10, p, 'stream footer');
  if ((le32(input, p + 4) + 1) * 4 !== p - indexStart) throw corrupt('footer backward size does not match the index', p + 4);
  if (input[p + 8] !== input[start + 6] || input[p + 9] !== input[start + 7]) throw corrupt('footer flags differ from header flags', p + 8);
  if (input[p + 10] !== FOOTER_MAGIC0 || input[p + 11] !== FOOTER_MAGIC1) throw corrupt('no footer magic', p + 10);
  return p + 12;
}

/** Decodes one block (header + compressed data); returns the offset just past the compressed data. */
function decodeBlock(input: Uint8Array, start: number, out: Output): number {
  const headerSize = (input[start] + 1) * 4;
  const headerEnd = start + headerSize;
  if (headerEnd > input.length) throw truncated('block header cut short', start);
  checkCrc32(input, start, headerEnd - 4, headerEnd - 4, 'block header');
  const flags = input[start + 1];
  if (flags & 0x3c) throw new DecompressError('xz', 'unsupported', 'reserved block flags set', start + 1);
  let p = start + 2;
  let compressedSize: bigint | undefined;
  let uncompressedSize: bigint | undefined;
  if (flags & 0x40) [compressedSize, p] = readVli(input, p, headerEnd - 4);
  if (flags & 0x80) [uncompressedSize, p] = readVli(input, p, headerEnd - 4);
  const filters: Filter[] = [];
  for (let i = 0; i <= (flags & 3); i++) {
    let id: bigint, size: bigint;
    [id, p] = readVli(input, p, headerEnd - 4);
    [size, p] = readVli(input, p, headerEnd - 4);
    if (p + Number(size) > headerEnd - 4) throw corrupt('filter properties run past the block header', p);
    filters.push({ id, props: input.subarray(p, p + Number(size)) });
    p += Number(size);
  }
  for (; p < headerEnd - 4; p++) if (input[p] !== 0) throw corrupt('non-zero block header padding', p);

  const last = filters[filters.length - 1];
  if (last.id !== FILTER_LZMA2) throw unsupportedFilter(last.id, start);
  if (last.props.length !== 1 || last.props[0] > 40) throw corrupt('invalid LZMA2 dictionary size', start);
  for (const f of filters.slice(0, -1)) {
    if (f.id === FILTER_X86 && (f.props.length === 0 || f.props.length === 4)) continue;
    if (f.id === FILTER_DELTA && f.props.length === 1) continue;
    if (f.id === FILTER_X86 || f.id === FILTER_DELTA) throw corrupt(`bad properties for filter 0x${f.id.toString(16)}`, start);
    throw unsupportedFilter(f.id, start);
  }

  // A declared size sizes the output once (a drained Output starts small): no doubling copies per block.
  if (uncompressedSize !== undefined && uncompressedSize <= BigInt(out.maxOutput)) out.ensure(Number(uncompressedSize));
  const outStart = out.pos;
  const dataEnd = compressedSize === undefined ? input.length : headerEnd + Number(compressedSize);
  if (dataEnd > input.length) throw truncated('block data cut short', headerEnd);
  const end = decodeLzma2('xz', input, headerEnd, dataEnd, out);
  if (compressedSize !== undefined && end !== dataEnd) throw corrupt('block compressed size does not match its data', headerEnd);
  if (uncompressedSize !== undefined && BigInt(out.pos - outStart) !== uncompressedSize) {
    throw corrupt('block uncompressed size does not match its data', start);
  }
  // Filters were applied first to last when compressing; undo all but LZMA2 last to first.
  const data = out.buf.subarray(outStart, out.pos);
  for (let i = filters.length - 2; i >= 0; i--) {
    const f = filters[i];
    if (f.id === FILTER_X86) bcjX86Decode(data, f.props.length === 4 ? le32(f.props, 0) : 0);
    else deltaDecode(data, f.props[0] + 1);
  }
  return end;
}

function deltaDecode(data: Uint8Array, distance: number): void {
  for (let i = distance; i < data.length; i++) data[i] = (data[i] + data[i - distance]) & 0xff;
}

function unsupportedFilter(id: bigint, at: number): DecompressError {
  const name = FILTER_NAMES[id.toString()] ?? `filter 0x${id.toString(16)}`;
  return new DecompressError('xz', 'unsupported', `${name} is not decoded here (LZMA2, x86 BCJ and Delta are)`, at);
}
