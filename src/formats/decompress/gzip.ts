// gzip (RFC 1952) with node:zlib's raw inflate. The member framing is parsed here so that truncation, CRC and
// size errors name what broke, and so that member concatenation and trailing bytes follow zlib's gzread()
// (which kexec-tools uses): further members are decoded, other trailing bytes are ignored.

import { crc32, inflateRawSync } from 'node:zlib';
import { DecompressError } from './error.js';
import { Output, tooLarge } from './output.js';

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

const le32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const truncated = (what: string, at: number) => new DecompressError('gzip', 'truncated', what, at);
const isMember = (b: Uint8Array, p: number) => p + 2 <= b.length && b[p] === 0x1f && b[p + 1] === 0x8b;

export function decodeGzip(input: Uint8Array, maxOutput: number, sizeHint = 0): Uint8Array {
  const out = new Output('gzip', maxOutput, sizeHint);
  let p = 0;
  do {
    p = decodeMember(input, p, out);
  } while (isMember(input, p));
  return out.result();
}

function decodeMember(input: Uint8Array, start: number, out: Output): number {
  if (!isMember(input, start)) throw new DecompressError('gzip', 'corrupt', 'no gzip magic 1f 8b', start);
  if (input.length - start < 10) throw truncated('member header cut short', start);
  if (input[start + 2] !== 8) throw new DecompressError('gzip', 'unsupported', `compression method ${input[start + 2]} (only deflate, 8, exists)`, start + 2);
  const flags = input[start + 3];
  if (flags & 0xe0) throw new DecompressError('gzip', 'corrupt', 'reserved header flags set', start + 3);
  let p = start + 10;
  if (flags & FEXTRA) {
    if (p + 2 > input.length) throw truncated('extra field cut short', p);
    p += 2 + (input[p] | (input[p + 1] << 8));
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    while (p < input.length && input[p] !== 0) p++;
    p++;
  }
  if (flags & FHCRC) p += 2;
  if (p > input.length) throw truncated('member header cut short', start);

  let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    inflated = inflateRawSync(input.subarray(p), { info: true, maxOutputLength: Math.max(1, out.maxOutput - out.pos) }) as unknown as typeof inflated;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('gzip', out.maxOutput);
    if (err.code === 'Z_BUF_ERROR') throw truncated('deflate data cut short', p);
    throw new DecompressError('gzip', 'corrupt', `deflate: ${err.message}`, p);
  }
  const data = inflated.buffer;
  p += inflated.engine.bytesWritten;
  if (p + 8 > input.length) throw truncated('member trailer (CRC32, ISIZE) cut short', p);
  if (crc32(data) !== le32(input, p)) throw new DecompressError('gzip', 'corrupt', 'CRC32 mismatch', p);
  if (data.length % 2 ** 32 !== le32(input, p + 4)) throw new DecompressError('gzip', 'corrupt', 'ISIZE does not match the data', p + 4);
  out.ensure(data.length);
  out.buf.set(data, out.pos);
  out.pos += data.length;
  return p + 8;
}
