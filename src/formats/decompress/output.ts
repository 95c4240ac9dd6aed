// Growable output buffer with a hard cap, shared by the decoders that write byte by byte.
// Decoders read `buf`/`pos` directly in their hot loops and call ensure() before writing past `buf.length`.

import { CompressionFormat, DecompressError } from './error.js';

export class Output {
  buf: Uint8Array;
  pos = 0;
  /** Bytes already handed out by drain() (they count against maxOutput). */
  drained = 0;

  constructor(
    readonly format: CompressionFormat,
    readonly maxOutput: number,
    sizeHint = 0,
  ) {
    this.buf = new Uint8Array(Math.min(Math.max(sizeHint, 1 << 16), maxOutput));
  }

  /** Makes room for `n` more bytes, or throws too-large naming the cap. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    if (this.drained + need > this.maxOutput) throw tooLarge(this.format, this.maxOutput);
    const grown = new Uint8Array(Math.min(Math.max(need, this.buf.length * 2), this.maxOutput - this.drained));
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  /**
   * Hands out what was written so far and starts a small empty buffer; only valid where the
   * decoder needs none of the old bytes again (between xz blocks: each block starts a new dictionary).
   */
  drain(): Uint8Array {
    const done = this.buf.subarray(0, this.pos);
    this.drained += this.pos;
    this.buf = new Uint8Array(Math.min(1 << 16, Math.max(this.maxOutput - this.drained, 1)));
    this.pos = 0;
    return done;
  }

  result(): Uint8Array {
    return this.pos === this.buf.length ? this.buf : this.buf.subarray(0, this.pos);
  }
}

export function tooLarge(format: CompressionFormat, maxOutput: number): DecompressError {
  return new DecompressError(
    format,
    'too-large',
    `decompressed size exceeds the limit of ${maxOutput} bytes (maxOutput); raise the limit if the input is trusted`,
  );
}
