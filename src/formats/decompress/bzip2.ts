// bzip2 streams (the format of bzip2 1.0.x, as the kernel's lib/decompress_bunzip2.c reads it): "BZh" + level,
// blocks of Huffman-coded MTF/RLE symbols over a Burrows-Wheeler transform, block and stream CRCs; concatenated
// streams (pbzip2) are decoded in turn. Randomised blocks (bzip2 0.9.0 and older) are refused.

import { DecompressError } from './error.js';
import { Output } from './output.js';

const BLOCK_MAGIC_HI = 0x314159;
const BLOCK_MAGIC_LO = 0x265359;
const END_MAGIC_HI = 0x177245;
const END_MAGIC_LO = 0x385090;
const MAX_GROUPS = 6;
const MAX_CODE_LEN = 20;
const MAX_SELECTORS = 18002; // bzip2 1.0.8 reads more but keeps only these
const GROUP_SIZE = 50;

const corrupt = (what: string, at?: number) => new DecompressError('bzip2', 'corrupt', what, at);

let crcTables: Uint32Array[] | undefined;
/** t[0]: one byte through the MSB-first register; t[k]: that byte followed by k zero bytes (slicing by four). */
function crcTablesGet(): Uint32Array[] {
  if (!crcTables) {
    const t = [0, 1, 2, 3].map(() => new Uint32Array(256));
    for (let n = 0; n < 256; n++) {
      let c = n << 24;
      for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
      t[0][n] = c >>> 0;
    }
    for (let k = 1; k < 4; k++) for (let n = 0; n < 256; n++) t[k][n] = ((t[k - 1][n] << 8) ^ t[0][t[k - 1][n] >>> 24]) >>> 0;
    crcTables = t;
  }
  return crcTables;
}

/** CRC-32 as bzip2 computes it (BZ_UPDATE_CRC): MSB first, polynomial 0x04C11DB7; four bytes a step. */
function bzCrc(data: Uint8Array): number {
  const [t0, t1, t2, t3] = crcTablesGet();
  let c = 0xffffffff;
  let i = 0;
  for (const end4 = data.length - 3; i < end4; i += 4) {
    c ^= (data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3];
    c = t3[c >>> 24] ^ t2[(c >>> 16) & 0xff] ^ t1[(c >>> 8) & 0xff] ^ t0[c & 0xff];
  }
  for (; i < data.length; i++) c = (c << 8) ^ t0[((c >>> 24) ^ data[i]) & 0xff];
  return ~c >>> 0;
}

/** MSB-first bit reader holding at most 31 bits. Reading past the end yields zeros and marks it overrun. */
class Bits {
  private acc = 0;
  private n = 0;
  constructor(
    private readonly b: Uint8Array,
    public p: number,
  ) {}

  private fill(need: number): void {
    while (this.n < need) {
      this.acc = ((this.acc << 8) | (this.p < this.b.length ? this.b[this.p] : 0)) >>> 0;
      this.p++;
      this.n += 8;
    }
  }

  get overrun(): boolean {
    return this.p * 8 - this.n > this.b.length * 8;
  }

  /** Up to 24 bits. */
  read(count: number): number {
    if (this.n < count) this.fill(count);
    this.n -= count;
    const v = (this.acc >>> this.n) & ((1 << count) - 1);
    this.acc &= (1 << this.n) - 1;
    return v;
  }

  peek(count: number): number {
    if (this.n < count) this.fill(count);
    return (this.acc >>> (this.n - count)) & ((1 << count) - 1);
  }

  skip(count: number): void {
    this.n -= count;
    this.acc &= (1 << this.n) - 1;
  }

  /** Offset of the first byte not (even partly) consumed. */
  get bytePos(): number {
    return this.p - Math.floor(this.n / 8);
  }

  alignToByte(): void {
    this.skip(this.n % 8);
  }
}

/** Canonical Huffman decoding table for one coding group. */
interface Table {
  minLen: number;
  maxLen: number;
  limit: Int32Array; // last code of each length, -1 when none
  base: Int32Array; // code - base[len] = index into perm
  perm: Uint16Array;
  /** The next FAST_BITS bits (fewer when maxLen is smaller) -> symbol << 5 | length, 0 for longer codes. */
  fast: Uint16Array;
  fastBits: number;
}

const FAST_BITS = 10;

function buildTable(lengths: Uint8Array, alphaSize: number): Table {
  let minLen = MAX_CODE_LEN;
  let maxLen = 0;
  const count = new Int32Array(MAX_CODE_LEN + 2);
  for (let i = 0; i < alphaSize; i++) {
    count[lengths[i]]++;
    if (lengths[i] > maxLen) maxLen = lengths[i];
    if (lengths[i] < minLen) minLen = lengths[i];
  }
  const perm = new Uint16Array(alphaSize);
  let k = 0;
  for (let l = minLen; l <= maxLen; l++) for (let s = 0; s < alphaSize; s++) if (lengths[s] === l) perm[k++] = s;
  const limit = new Int32Array(MAX_CODE_LEN + 2).fill(-1);
  const base = new Int32Array(MAX_CODE_LEN + 2);
  let code = 0;
  let index = 0;
  for (let l = minLen; l <= maxLen; l++) {
    base[l] = code - index;
    code += count[l];
    index += count[l];
    limit[l] = code - 1;
    code <<= 1;
  }
  const fastBits = Math.min(FAST_BITS, maxLen);
  const fast = new Uint16Array(1 << fastBits);
  for (let v = 0; v < fast.length; v++) {
    for (let l = minLen; l <= fastBits; l++) {
      const c = v >>> (fastBits - l);
      if (c <= limit[l]) {
        fast[v] = (perm[c - base[l]] << 5) | l;
        break;
      }
    }
  }
  return { minLen, maxLen, limit, base, perm, fast, fastBits };
}

export function decodeBzip2(input: Uint8Array, maxOutput: number, sizeHint = 0): Uint8Array {
  const out = new Output('bzip2', maxOutput, sizeHint);
  let p = 0;
  do {
    p = decodeStream(input, p, out);
    // bzip2 ignores trailing bytes that do not start another stream (it warns); the kernel stops at the end.
  } while (p + 4 <= input.length && input[p] === 0x42 && input[p + 1] === 0x5a && input[p + 2] === 0x68);
  return out.result();
}

function decodeStream(input: Uint8Array, start: number, out: Output): number {
  if (input.length - start < 4) throw new DecompressError('bzip2', 'truncated', 'stream header cut short', start);
  if (input[start] !== 0x42 || input[start + 1] !== 0x5a || input[start + 2] !== 0x68) throw corrupt('no "BZh" magic', start);
  const level = input[start + 3] - 0x30;
  if (level < 1 || level > 9) throw corrupt(`block size digit ${String.fromCharCode(input[start + 3])} is not 1-9`, start + 3);
  const blockMax = level * 100000;
  const bits = new Bits(input, start + 4);
  const tt = new Uint32Array(blockMax);
  let combined = 0;
  for (;;) {
    const at = bits.bytePos;
    const hi = bits.read(24);
    const lo = bits.read(24);
    if (bits.overrun) throw new DecompressError('bzip2', 'truncated', 'stream ends without its end-of-stream marker', at);
    if (hi === END_MAGIC_HI && lo === END_MAGIC_LO) {
      const crc = ((bits.read(16) << 16) | bits.read(16)) >>> 0;
      if (bits.overrun) throw new DecompressError('bzip2', 'truncated', 'stream CRC cut short', at);
      if (crc !== combined) throw corrupt('stream CRC mismatch', at);
      bits.alignToByte();
      return bits.bytePos;
    }
    if (hi !== BLOCK_MAGIC_HI || lo !== BLOCK_MAGIC_LO) throw corrupt('no block or end-of-stream magic', at);
    const crc = ((bits.read(16) << 16) | bits.read(16)) >>> 0;
    const outStart = out.pos;
    decodeBlock(bits, tt, blockMax, out, at);
    if (bzCrc(out.buf.subarray(outStart, out.pos)) !== crc) throw corrupt('block CRC mismatch', at);
    combined = (((combined << 1) | (combined >>> 31)) ^ crc) >>> 0;
  }
}

/** One block (bzip2's block header and data): tables, symbols, inverse BWT, then the first RLE undone into `out`. */
function decodeBlock(bits: Bits, tt: Uint32Array, blockMax: number, out: Output, at: number): void {
  if (bits.read(1)) throw new DecompressError('bzip2', 'unsupported', 'randomised block (bzip2 0.9.0 or older)', at);
  const origPtr = bits.read(24);
  const coding = readCoding(bits, at);
  const counts = new Int32Array(256);
  const n = decodeSymbols(bits, coding, tt, counts, blockMax, at);
  if (origPtr >= n) throw corrupt('BWT origin pointer beyond the block', at);
  inverseBwt(tt, counts, n);
  writeBlock(tt, origPtr, n, out);
}

/** How a block's symbols are coded, from its header. */
interface Coding {
  seqToUnseq: Uint8Array; // MTF symbol -> byte value
  eob: number; // the end-of-block symbol
  selectors: Uint8Array; // table of each GROUP_SIZE symbols
  tables: Table[];
}

/** The block header after origPtr: symbol map, selectors, code lengths. */
function readCoding(bits: Bits, at: number): Coding {
  const seqToUnseq = new Uint8Array(256);
  const inUse = readSymbolMap(bits, seqToUnseq, at);
  const nGroups = bits.read(3);
  if (nGroups < 2 || nGroups > MAX_GROUPS) throw corrupt(`${nGroups} Huffman groups (2-6 allowed)`, at);
  const selectors = readSelectors(bits, nGroups, at);
  const tables = readTables(bits, nGroups, inUse + 2, at);
  return { seqToUnseq, eob: inUse + 1, selectors, tables };
}

/** The byte values in use, 16 groups of 16 bits, into seqToUnseq; returns how many. */
function readSymbolMap(bits: Bits, seqToUnseq: Uint8Array, at: number): number {
  let inUse = 0;
  const used16 = bits.read(16);
  for (let i = 0; i < 16; i++) {
    if (!(used16 & (0x8000 >>> i))) continue;
    const u = bits.read(16);
    for (let j = 0; j < 16; j++) if (u & (0x8000 >>> j)) seqToUnseq[inUse++] = i * 16 + j;
  }
  if (inUse === 0) throw corrupt('block uses no symbols', at);
  return inUse;
}

/** The Huffman group of each 50 symbols: unary MTF indexes over the group numbers. */
function readSelectors(bits: Bits, nGroups: number, at: number): Uint8Array {
  const nSelectors = bits.read(15);
  if (nSelectors === 0) throw corrupt('no selectors', at);
  const selectors = new Uint8Array(Math.min(nSelectors, MAX_SELECTORS));
  const groupMtf = [0, 1, 2, 3, 4, 5];
  for (let i = 0; i < nSelectors; i++) {
    let j = 0;
    while (bits.read(1)) {
      if (++j >= nGroups) throw corrupt('selector out of range', at);
    }
    const g = groupMtf[j];
    for (; j > 0; j--) groupMtf[j] = groupMtf[j - 1];
    groupMtf[0] = g;
    if (i < MAX_SELECTORS) selectors[i] = g;
    if (bits.overrun) throw new DecompressError('bzip2', 'truncated', 'selectors cut short', at);
  }
  return selectors;
}

/** Each group's code lengths, delta-coded from a 5-bit start, as decoding tables. */
function readTables(bits: Bits, nGroups: number, alphaSize: number, at: number): Table[] {
  const tables: Table[] = [];
  const lengths = new Uint8Array(alphaSize);
  for (let t = 0; t < nGroups; t++) {
    let len = bits.read(5);
    for (let s = 0; s < alphaSize; s++) {
      for (;;) {
        if (len < 1 || len > MAX_CODE_LEN) throw corrupt('Huffman code length out of range', at);
        if (!bits.read(1)) break;
        len += bits.read(1) ? -1 : 1;
      }
      lengths[s] = len;
    }
    tables.push(buildTable(lengths, alphaSize));
  }
  return tables;
}

/**
 * Huffman symbols into tt (one byte each) and counts (occurrences of each byte): RUNA/RUNB runs of the front
 * byte, MTF indexes, end of block. Returns the block length.
 */
function decodeSymbols(bits: Bits, coding: Coding, tt: Uint32Array, counts: Int32Array, blockMax: number, at: number): number {
  const { seqToUnseq, eob, selectors, tables } = coding;
  const mtf = new Uint8Array(256);
  for (let i = 0; i < 256; i++) mtf[i] = i;
  let n = 0;
  let run = 0;
  let runWeight = 1;
  let groupLeft = 0;
  let sel = 0;
  let table = tables[0];
  for (;;) {
    if (groupLeft === 0) {
      if (sel >= selectors.length) throw corrupt('more symbols than selectors', at);
      table = tables[selectors[sel++]];
      groupLeft = GROUP_SIZE;
    }
    groupLeft--;
    const v = bits.peek(table.maxLen);
    const hit = table.fast[v >>> (table.maxLen - table.fastBits)];
    let sym: number;
    if (hit !== 0) {
      bits.skip(hit & 31);
      sym = hit >>> 5;
    } else {
      let l = table.fastBits + 1;
      let code = v >>> (table.maxLen - l);
      while (code > table.limit[l]) {
        if (++l > table.maxLen) throw corrupt('invalid Huffman code', at);
        code = v >>> (table.maxLen - l);
      }
      bits.skip(l);
      sym = table.perm[code - table.base[l]];
    }
    if (bits.overrun) throw new DecompressError('bzip2', 'truncated', 'block data cut short', at);
    if (sym <= 1) {
      run += runWeight << sym;
      runWeight <<= 1;
      if (run > blockMax) throw corrupt('run longer than the block', at);
      continue;
    }
    if (run > 0) {
      if (n + run > blockMax) throw corrupt('block longer than its declared size', at);
      const b = seqToUnseq[mtf[0]];
      counts[b] += run;
      tt.fill(b, n, n + run);
      n += run;
      run = 0;
      runWeight = 1;
    }
    if (sym === eob) return n;
    if (n >= blockMax) throw corrupt('block longer than its declared size', at);
    let idx = sym - 1;
    const m = mtf[idx];
    for (; idx > 0; idx--) mtf[idx] = mtf[idx - 1];
    mtf[0] = m;
    const b = seqToUnseq[m];
    counts[b]++;
    tt[n++] = b;
  }
}

/** Inverse BWT: tt[i] keeps the byte of column L in its low 8 bits and gets the link to the next row above. */
function inverseBwt(tt: Uint32Array, counts: Int32Array, n: number): void {
  let sum = 0;
  const firstRow = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    firstRow[b] = sum;
    sum += counts[b];
  }
  for (let i = 0; i < n; i++) {
    const b = tt[i] & 0xff;
    tt[firstRow[b]++] |= i << 8;
  }
}

/** Walks the rows from the origin, undoing the initial run-length step (4 equal bytes + a repeat count). */
function writeBlock(tt: Uint32Array, origPtr: number, n: number, out: Output): void {
  let buf = out.buf;
  let o = out.pos;
  let pos = tt[origPtr] >>> 8;
  let last = -1;
  let same = 0;
  for (let k = 0; k < n; k++) {
    const entry = tt[pos];
    const b = entry & 0xff;
    pos = entry >>> 8;
    if (same === 4) {
      // The byte after four equal ones is a repeat count (bzip2's initial run-length stage).
      if (o + b > buf.length) [buf, o] = grow(out, o, b);
      buf.fill(last, o, o + b);
      o += b;
      same = 0;
      continue;
    }
    if (b === last) same++;
    else {
      last = b;
      same = 1;
    }
    if (o === buf.length) [buf, o] = grow(out, o, 1);
    buf[o++] = b;
  }
  out.pos = o;
}

function grow(out: Output, pos: number, n: number): [Uint8Array, number] {
  out.pos = pos;
  out.ensure(n);
  return [out.buf, pos];
}
