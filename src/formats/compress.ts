// Compression formats of kernel files, bzImage payloads and initrds: detection by magic and capped
// decompression. The decoders live in ./decompress/ (one module a format); this module is the entry point.

import { decodeBzip2 } from './decompress/bzip2.js';
import { CompressionFormat, DecompressError } from './decompress/error.js';
import { decodeGzip } from './decompress/gzip.js';
import { decodeLz4Legacy } from './decompress/lz4.js';
import { decodeLzmaAlone, decodePropsByte } from './decompress/lzma.js';
import { decodeXz } from './decompress/xz.js';
import { decodeZstd } from './decompress/zstd.js';

export { DecompressError };
export type { CompressionFormat, DecompressFailure } from './decompress/error.js';

/** Default output cap: far above any vmlinux (Debian's amd64 one is 63 MiB), far below what would hurt. */
export const DEFAULT_MAX_OUTPUT = 1 << 30;

export interface DecompressOptions {
  /** Refuse (DecompressError 'too-large') output beyond this many bytes. Default DEFAULT_MAX_OUTPUT. */
  maxOutput?: number;
  /** Expected output size, used only to size the first allocation. */
  sizeHint?: number;
}

const startsWith = (b: Uint8Array, ...magic: number[]) => b.length >= magic.length && magic.every((m, i) => b[i] === m);

/**
 * The format a buffer starts with, by the magics of lib/decompress.c's decompress_method() made exact where the
 * format has a longer magic: gzip 1f 8b, xz fd 37 7a 58 5a 00, zstd 28 b5 2f fd, lz4 legacy 02 21 4c 18,
 * bzip2 "BZh1".."BZh9", lzma (LZMA_Alone, no magic) 5d 00 as xz-utils' presets write it. null when none.
 */
export function detectCompression(buf: Uint8Array): CompressionFormat | null {
  if (startsWith(buf, 0x1f, 0x8b)) return 'gzip';
  if (startsWith(buf, 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (startsWith(buf, 0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (startsWith(buf, 0x02, 0x21, 0x4c, 0x18)) return 'lz4';
  if (startsWith(buf, 0x42, 0x5a, 0x68) && buf.length > 3 && buf[3] >= 0x31 && buf[3] <= 0x39) return 'bzip2';
  if (startsWith(buf, 0x5d, 0x00)) return 'lzma';
  return null;
}

/** Decompresses a whole buffer of the given format; throws DecompressError (never a raw exception). */
export function decompress(buf: Uint8Array, format: CompressionFormat, opts: DecompressOptions = {}): Uint8Array {
  const max = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  const hint = opts.sizeHint ?? 0;
  try {
    switch (format) {
      case 'gzip':
        return decodeGzip(buf, max, hint);
      case 'xz':
        return decodeXz(buf, max, hint);
      case 'zstd':
        return decodeZstd(buf, max, hint);
      case 'lz4':
        return decodeLz4Legacy(buf, max, hint);
      case 'bzip2':
        return decodeBzip2(buf, max, hint);
      case 'lzma':
        return decodeLzmaAlone(buf, max, hint);
    }
  } catch (e) {
    if (e instanceof DecompressError) throw e;
    // The decoders check their input; what is left is an allocation the engine refused (RangeError).
    if (e instanceof RangeError) throw new DecompressError(format, 'too-large', `cannot allocate the output: ${e.message}`);
    throw new DecompressError(format, 'corrupt', `decoder failed: ${(e as Error).message}`);
  }
}

/**
 * liblzma's LZMA_Alone header test as kexec-tools reaches it (kexec/lzma.c is_lzma_file: 13 bytes and a valid
 * LZMA1 properties byte; then lzma_auto_decoder's picky alone decoder: dictionary size 2^n, 2^n + 2^(n-1) or
 * all ones, known uncompressed size below 256 GiB).
 */
export function isLzmaAloneHeader(buf: Uint8Array): boolean {
  if (buf.length < 13 || !decodePropsByte(buf[0])) return false;
  const dv = new DataView(buf.buffer, buf.byteOffset, 13);
  const dict = dv.getUint32(1, true);
  if (dict !== 0xffffffff) {
    let d = dict - 1;
    d |= d >>> 2;
    d |= d >>> 3;
    d |= d >>> 4;
    d |= d >>> 8;
    d |= d >>> 16;
    if (((d + 1) >>> 0) !== dict) return false;
  }
  const size = dv.getBigUint64(5, true);
  return size === 0xffffffffffffffffn || size < 1n << 38n;
}

export interface KernelFile {
  /** The format the whole file was decompressed from, or null when it is used as it is. */
  format: CompressionFormat | null;
  data: Uint8Array;
  /** Why a file that looked compressed was used raw (kexec-tools only says so under -d). */
  fallback?: DecompressError;
}

/**
 * kexec/kexec.c slurp_decompress_file(): try gzip (zlib's gzopen: magic 1f 8b), then zstd (frame magic), then
 * LZMA_Alone (is_lzma_file + lzma_auto_decoder), then .xz, else the raw bytes. A decoder that fails also falls
 * back to the raw bytes, as there. .xz is vkexec's addition (kexec-tools' is_lzma_file() rejects its first byte
 * 0xFD, no valid LZMA1 properties byte); lz4 and bzip2 are not tried, as kexec-tools never tries them.
 * Exceeding maxOutput is not a fallback: it throws, since the raw bytes would then be loaded for the wrong reason.
 */
export function decompressKernelFile(buf: Uint8Array, opts: DecompressOptions = {}): KernelFile {
  let format: CompressionFormat | null = null;
  if (startsWith(buf, 0x1f, 0x8b)) format = 'gzip';
  else if (startsWith(buf, 0x28, 0xb5, 0x2f, 0xfd)) format = 'zstd';
  else if (isLzmaAloneHeader(buf)) format = 'lzma';
  // vkexec also takes .xz (kexec-tools' is_lzma_file() refuses xz's 0xFD magic): documented in the man page.
  else if (startsWith(buf, 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) format = 'xz';
  if (!format) return { format: null, data: buf };
  try {
    return { format, data: decompress(buf, format, opts) };
  } catch (e) {
    const err = e as DecompressError;
    if (err.reason === 'too-large') throw err;
    return { format: null, data: buf, fallback: err };
  }
}
