// Growable output buffer with a hard cap, shared by the decoders that write byte by byte.
// Decoders read `buf`/`pos` directly in their hot loops and call ensure() before writing past `buf.length`.

import { CompressionFormat, DecompressError } from './error.js';

export class Output {
  buf: Uint8Array;
  pos = 0;

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
    if (need > this.maxOutput) throw tooLarge(this.format, this.maxOutput);
    const grown = new Uint8Array(Math.min(Math.max(need, this.buf.length * 2), this.maxOutput));
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
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
