// LZMA2 chunks (the .xz format's LZMA2 description): a control byte per chunk (end, uncompressed with or without
// a dictionary reset, or LZMA with a state/properties/dictionary reset level), sizes, then the chunk's data,
// decoded by the LZMA core (lzma.ts) into one flat output buffer.

import { CompressionFormat, DecompressError } from './error.js';
import { LzmaDecoder, decodePropsByte } from './lzma.js';
import type { Output } from './output.js';

/**
 * LZMA2 chunks starting at input[start] (as in an .xz block) up to their end-of-data byte.
 * Output is appended to `out`; returns the input offset just past the end byte.
 */
export function decodeLzma2(format: CompressionFormat, input: Uint8Array, start: number, end: number, out: Output): number {
  const dec = new LzmaDecoder(format, input, out);
  let p = start;
  let needDictReset = true;
  let needProps = true;
  const truncated = () => new DecompressError(format, 'truncated', 'LZMA2 data ends before its end-of-data chunk', p);
  for (;;) {
    if (p >= end) throw truncated();
    const control = input[p];
    if (control === 0x00) return p + 1;
    if (control === 0x01 || control === 0x02) {
      // Uncompressed chunk; 0x01 also resets the dictionary.
      if (p + 3 > end) throw truncated();
      if (control === 0x02 && needDictReset) throw new DecompressError(format, 'corrupt', 'first LZMA2 chunk does not reset the dictionary', p);
      if (control === 0x01) {
        dec.dictStart = out.pos;
        needDictReset = false;
      }
      const size = ((input[p + 1] << 8) | input[p + 2]) + 1;
      p += 3;
      if (p + size > end) throw truncated();
      out.ensure(size);
      out.buf.set(input.subarray(p, p + size), out.pos);
      out.pos += size;
      p += size;
      continue;
    }
    if (control < 0x80) throw new DecompressError(format, 'corrupt', `invalid LZMA2 control byte 0x${control.toString(16)}`, p);
    if (p + 5 > end) throw truncated();
    const unpacked = ((control & 0x1f) << 16) + (input[p + 1] << 8) + input[p + 2] + 1;
    const packed = ((input[p + 3] << 8) | input[p + 4]) + 1;
    const reset = (control >>> 5) & 3; // 0 none, 1 state, 2 state + props, 3 state + props + dictionary
    p += 5;
    if (reset === 3) {
      dec.dictStart = out.pos;
      needDictReset = false;
    } else if (needDictReset) {
      throw new DecompressError(format, 'corrupt', 'first LZMA2 chunk does not reset the dictionary', p - 5);
    }
    if (reset >= 2) {
      if (p >= end) throw truncated();
      const props = decodePropsByte(input[p]);
      if (!props || props.lc + props.lp > 4) {
        throw new DecompressError(format, 'corrupt', `invalid LZMA2 properties byte 0x${input[p].toString(16)}`, p);
      }
      dec.setProps(props);
      needProps = false;
      p++;
    } else if (needProps) {
      throw new DecompressError(format, 'corrupt', 'LZMA chunk without properties', p - 5);
    }
    if (reset >= 1) dec.resetState();
    if (p + packed > end) throw truncated();
    dec.initRangeCoder(p, p + packed);
    out.ensure(unpacked);
    dec.decode(out.pos + unpacked, false);
    if (dec.inPos !== p + packed || !dec.rangeCoderFinished) {
      throw new DecompressError(format, 'corrupt', 'LZMA chunk size does not match its data', p);
    }
    p += packed;
  }
}
