// LZMA decoding (the core that LZMA2 chunks, lzma2.ts, also run on) into one flat output buffer (the whole
// output is the dictionary, as in the kernel's single-call xz decoder, lib/xz/xz_dec_lzma2.c). Written from the LZMA specification (lzma-specification.txt
// in the LZMA SDK) and the .xz format's LZMA2 chunk description.

import { CompressionFormat, DecompressError } from './error.js';
import { Output } from './output.js';

// Offsets of the probability groups in one Uint16Array (sizes from the specification).
const IS_MATCH = 0; // [state 12][posState 16]
const IS_REP = 192;
const IS_REP_G0 = 204;
const IS_REP_G1 = 216;
const IS_REP_G2 = 228;
const IS_REP0_LONG = 240; // [state][posState]
const POS_SLOT = 432; // [lenToPosState 4][64]
const SPEC_POS = 688; // 1 + kNumFullDistances(128) - kEndPosModelIndex(14) = 115
const ALIGN = 803; // 16
const MATCH_LEN = 819; // length decoder: choice, choice2, low[16][8], mid[16][8], high[256]
const REP_LEN = 1333;
const LITERAL = 1847; // 0x300 per literal coder
const LEN_CHOICE2 = 1;
const LEN_LOW = 2;
const LEN_MID = 130;
const LEN_HIGH = 258;
const PROB_INIT = 1024;
const END_MARKER_DIST = 0xffffffff;

export interface LzmaProps {
  lc: number;
  lp: number;
  pb: number;
}

/** Splits the lc/lp/pb properties byte; null when the byte is out of range (> (4*5+4)*9+8). */
export function decodePropsByte(b: number): LzmaProps | null {
  if (b > 224) return null;
  return { lc: b % 9, lp: Math.floor(b / 9) % 5, pb: Math.floor(b / 45) };
}

/** Core LZMA decoder: probability model, match state and range coder over a slice of the input. */
export class LzmaDecoder {
  private probs = new Uint16Array(0);
  private lc = 0;
  private lpMask = 0;
  private pbMask = 0;
  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;
  // Range coder.
  // range, code: unsigned 32-bit, in a typed array (an object field above 2^30 would hold a boxed number).
  private readonly rc = new Uint32Array(2);
  inPos = 0;
  private inEnd = 0;
  /** Output position where the current dictionary began (distances may not reach before it). */
  dictStart = 0;

  constructor(
    private readonly format: CompressionFormat,
    private readonly input: Uint8Array,
    private readonly out: Output,
  ) {}

  setProps(p: LzmaProps): void {
    this.lc = p.lc;
    this.lpMask = (1 << p.lp) - 1;
    this.pbMask = (1 << p.pb) - 1;
    const size = LITERAL + (0x300 << (p.lc + p.lp));
    if (this.probs.length !== size) this.probs = new Uint16Array(size);
  }

  resetState(): void {
    this.probs.fill(PROB_INIT);
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  /** Starts the range coder on input[start, end): first byte 0, then the 32-bit big-endian code. */
  initRangeCoder(start: number, end: number): void {
    if (end - start < 5) throw this.truncated(start);
    if (this.input[start] !== 0) throw this.corrupt('range coder does not start with a zero byte', start);
    this.rc[1] = ((this.input[start + 1] << 24) | (this.input[start + 2] << 16) | (this.input[start + 3] << 8) | this.input[start + 4]) >>> 0;
    this.rc[0] = 0xffffffff;
    this.inPos = start + 5;
    this.inEnd = end;
  }

  /** The range coder ends cleanly when its code is 0 (the encoder flushed all of its low bits). */
  get rangeCoderFinished(): boolean {
    return this.rc[1] === 0;
  }

  private truncated(at: number): DecompressError {
    return new DecompressError(this.format, 'truncated', 'compressed stream ends before its data is complete', at);
  }

  private corrupt(what: string, at = this.inPos): DecompressError {
    return new DecompressError(this.format, 'corrupt', what, at);
  }

  /** One bit with the probability at probs[i] (spec: DecodeBit), adapting it. */
  private bit(i: number): number {
    const probs = this.probs;
    const rc = this.rc;
    const p = probs[i];
    let range = rc[0];
    let code = rc[1];
    const bound = (range >>> 11) * p;
    let b = 0;
    if (code < bound) {
      range = bound;
      probs[i] = p + ((2048 - p) >>> 5);
    } else {
      range -= bound;
      code -= bound;
      probs[i] = p - (p >>> 5);
      b = 1;
    }
    if (range < 0x1000000) {
      if (this.inPos >= this.inEnd) throw this.truncated(this.inPos);
      range = (range << 8) >>> 0;
      code = ((code << 8) | this.input[this.inPos++]) >>> 0;
    }
    rc[0] = range;
    rc[1] = code;
    return b;
  }

  /** `n` bits at probability one half (spec: DecodeDirectBits), the range coder in locals. */
  private directBits(n: number): number {
    const input = this.input;
    let range = this.rc[0];
    let code = this.rc[1];
    let r = 0;
    while (n-- > 0) {
      range >>>= 1;
      let b = 0;
      if (code >= range) {
        code -= range;
        b = 1;
      }
      r = ((r << 1) | b) >>> 0;
      if (range < 0x1000000) {
        if (this.inPos >= this.inEnd) throw this.truncated(this.inPos);
        range = (range << 8) >>> 0;
        code = ((code << 8) | input[this.inPos++]) >>> 0;
      }
    }
    this.rc[0] = range;
    this.rc[1] = code;
    return r;
  }

  /**
   * A bit tree of `bits` levels (spec: BitTreeDecode), the range coder in locals for the whole tree: bit()'s
   * step written out again on purpose (calling bit() per level measured 6% slower on Debian's xz payload).
   */
  private bitTree(base: number, bits: number): number {
    const probs = this.probs;
    const input = this.input;
    let range = this.rc[0];
    let code = this.rc[1];
    let m = 1;
    const top = 1 << bits;
    while (m < top) {
      const p = probs[base + m];
      const bound = (range >>> 11) * p;
      if (code < bound) {
        range = bound;
        probs[base + m] = p + ((2048 - p) >>> 5);
        m <<= 1;
      } else {
        range -= bound;
        code -= bound;
        probs[base + m] = p - (p >>> 5);
        m = (m << 1) | 1;
      }
      if (range < 0x1000000) {
        if (this.inPos >= this.inEnd) throw this.truncated(this.inPos);
        range = (range << 8) >>> 0;
        code = ((code << 8) | input[this.inPos++]) >>> 0;
      }
    }
    this.rc[0] = range;
    this.rc[1] = code;
    return m - top;
  }

  private bitTreeReverse(base: number, bits: number): number {
    let m = 1;
    let sym = 0;
    for (let i = 0; i < bits; i++) {
      const b = this.bit(base + m);
      m = (m << 1) | b;
      sym |= b << i;
    }
    return sym;
  }

  private len(base: number, posState: number): number {
    if (this.bit(base) === 0) return this.bitTree(base + LEN_LOW + (posState << 3), 3);
    if (this.bit(base + LEN_CHOICE2) === 0) return 8 + this.bitTree(base + LEN_MID + (posState << 3), 3);
    return 16 + this.bitTree(base + LEN_HIGH, 8);
  }

  private distance(len: number): number {
    const lenState = len < 3 ? len : 3;
    const slot = this.bitTree(POS_SLOT + (lenState << 6), 6);
    if (slot < 4) return slot;
    const direct = (slot >>> 1) - 1;
    let dist = ((2 | (slot & 1)) << direct) >>> 0;
    if (slot < 14) return dist + this.bitTreeReverse(SPEC_POS + dist - slot, direct);
    dist = (dist + this.directBits(direct - 4) * 16) >>> 0;
    return (dist + this.bitTreeReverse(ALIGN, 4)) >>> 0;
  }

  /**
   * Decodes until the output reaches `limit` or, when `endMarkerAllowed`, an end marker is read.
   * Returns true when it stopped on an end marker.
   */
  decode(limit: number, endMarkerAllowed: boolean): boolean {
    const out = this.out;
    const pbMask = this.pbMask;
    const dictStart = this.dictStart;
    let buf = out.buf;
    let pos = out.pos;
    let state = this.state;
    while (pos < limit) {
      const rel = pos - dictStart;
      const posState = rel & pbMask;
      if (this.bit(IS_MATCH + (state << 4) + posState) === 0) {
        const b = this.literal(buf, pos, rel, state);
        if (pos === buf.length) {
          out.pos = pos;
          out.ensure(1);
          buf = out.buf;
        }
        buf[pos++] = b;
        state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      let len: number;
      if (this.bit(IS_REP + state) === 0) {
        len = this.match(posState);
        state = state < 7 ? 7 : 10;
        if (len === 0) {
          if (!endMarkerAllowed) throw this.corrupt('end marker where none is allowed');
          this.state = state;
          out.pos = pos;
          return true;
        }
      } else {
        if (rel === 0) throw this.corrupt('repeated match before any data');
        len = this.rep(state, posState);
        state = state >= 7 ? 11 : len === 1 ? 9 : 8;
      }
      out.pos = pos;
      this.copyMatch(len, limit);
      buf = out.buf;
      pos = out.pos;
    }
    this.state = state;
    out.pos = pos;
    return false;
  }

  /**
   * A literal (spec: DecodeLiteral): coder chosen by the position's lp low bits and the previous byte's lc high
   * bits; after a match the byte at rep0 steers the first bits until they differ. The range coder runs in locals.
   */
  private literal(buf: Uint8Array, pos: number, rel: number, state: number): number {
    const probs = this.probs;
    const input = this.input;
    const lc = this.lc;
    const prev = rel > 0 ? buf[pos - 1] : 0;
    const base = LITERAL + 0x300 * (((rel & this.lpMask) << lc) + (prev >>> (8 - lc)));
    let range = this.rc[0];
    let code = this.rc[1];
    let sym = 1;
    // Not matched: offset 0 and no steering byte; matched: the steering byte's bit picks one of two halves.
    let matched = state >= 7;
    let matchByte = matched ? buf[pos - this.rep0 - 1] : 0;
    while (sym < 0x100) {
      let i = base + sym;
      let matchBit = 0;
      if (matched) {
        matchBit = (matchByte >>> 7) & 1;
        matchByte <<= 1;
        i += (1 + matchBit) << 8;
      }
      const p = probs[i];
      const bound = (range >>> 11) * p;
      let b: number;
      if (code < bound) {
        range = bound;
        probs[i] = p + ((2048 - p) >>> 5);
        b = 0;
      } else {
        range -= bound;
        code -= bound;
        probs[i] = p - (p >>> 5);
        b = 1;
      }
      sym = (sym << 1) | b;
      if (matchBit !== b) matched = false;
      if (range < 0x1000000) {
        if (this.inPos >= this.inEnd) throw this.truncated(this.inPos);
        range = (range << 8) >>> 0;
        code = ((code << 8) | input[this.inPos++]) >>> 0;
      }
    }
    this.rc[0] = range;
    this.rc[1] = code;
    return sym & 0xff;
  }

  /** A simple match (IsRep 0): length, then distance pushed onto the reps. Returns its length, 0 for the end marker. */
  private match(posState: number): number {
    const len = this.len(MATCH_LEN, posState);
    const dist = this.distance(len);
    if (dist === END_MARKER_DIST) return 0;
    this.rep3 = this.rep2;
    this.rep2 = this.rep1;
    this.rep1 = this.rep0;
    this.rep0 = dist;
    return len + 2;
  }

  /** A rep match (IsRep 1): rep0-rep3 chosen and moved to rep0. Returns its length, 1 for a short rep (IsRep0Long 0). */
  private rep(state: number, posState: number): number {
    if (this.bit(IS_REP_G0 + state) === 0) {
      if (this.bit(IS_REP0_LONG + (state << 4) + posState) === 0) return 1;
    } else {
      let dist: number;
      if (this.bit(IS_REP_G1 + state) === 0) {
        dist = this.rep1;
      } else {
        if (this.bit(IS_REP_G2 + state) === 0) {
          dist = this.rep2;
        } else {
          dist = this.rep3;
          this.rep3 = this.rep2;
        }
        this.rep2 = this.rep1;
      }
      this.rep1 = this.rep0;
      this.rep0 = dist;
    }
    return this.len(REP_LEN, posState) + 2;
  }

  /** Appends `len` bytes from distance rep0 + 1 back; an overlapping copy repeats the pattern. */
  private copyMatch(len: number, limit: number): void {
    const out = this.out;
    const pos = out.pos;
    const from = pos - this.rep0 - 1;
    if (from < this.dictStart) throw this.corrupt(`match distance ${this.rep0 + 1} reaches before the start of the data`);
    if (pos + len > limit) throw this.corrupt('match runs past the end of the data');
    if (pos + len > out.buf.length) out.ensure(len);
    const buf = out.buf;
    // copyWithin() pays off only for long non-overlapping copies; an overlapping one repeats the pattern.
    if (len > 64 && this.rep0 + 1 >= len) buf.copyWithin(pos, from, from + len);
    else for (let i = 0; i < len; i++) buf[pos + i] = buf[from + i];
    out.pos = pos + len;
  }
}

/**
 * The legacy .lzma ("LZMA_Alone") container: props byte, 32-bit dictionary size, 64-bit uncompressed size
 * (all ones = unknown, then an end marker ends the data), LZMA data.
 */
export function decodeLzmaAlone(input: Uint8Array, maxOutput: number, sizeHint = 0): Uint8Array {
  if (input.length < 13) throw new DecompressError('lzma', 'truncated', `header needs 13 bytes, input has ${input.length}`);
  const props = decodePropsByte(input[0]);
  if (!props) throw new DecompressError('lzma', 'corrupt', `properties byte 0x${input[0].toString(16)} is above 224`, 0);
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const sizeLo = dv.getUint32(5, true);
  const sizeHi = dv.getUint32(9, true);
  const known = !(sizeLo === 0xffffffff && sizeHi === 0xffffffff);
  const size = sizeHi * 2 ** 32 + sizeLo;
  if (known && size > maxOutput) {
    throw new DecompressError('lzma', 'too-large', `header declares ${size} bytes, above the limit of ${maxOutput} bytes (maxOutput)`, 5);
  }
  const out = new Output('lzma', maxOutput, known ? size : sizeHint);
  const dec = new LzmaDecoder('lzma', input, out);
  dec.setProps(props);
  dec.resetState();
  dec.initRangeCoder(13, input.length);
  // Without a known size only the end marker ends the data; writing past maxOutput throws too-large first.
  if (dec.decode(known ? size : Infinity, true) && known && out.pos !== size) {
    throw new DecompressError('lzma', 'corrupt', `end marker after ${out.pos} bytes, the header declares ${size}`, dec.inPos);
  }
  return out.result();
}
