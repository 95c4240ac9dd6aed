// The compressed kernel inside a bzImage (boot protocol 2.08+: payload_offset/payload_length, relative to the
// protected-mode code that follows the (setup_sects + 1) * 512 bytes of real-mode setup).
// Layout from arch/x86/boot/compressed/Makefile and mkpiggy.c: the payload is vmlinux.bin (objcopy'd vmlinux,
// an ELF file) plus, with CONFIG_X86_NEED_RELOCS, vmlinux.relocs, compressed with the configured tool; every
// format but gzip gets the decompressed size appended as 4 little-endian bytes (size_append), and gzip's own
// trailer ends in ISIZE, so mkpiggy reads z_output_len from the last 4 bytes in all cases.

import { DEFAULT_MAX_OUTPUT, CompressionFormat, DecompressError, decompress, detectCompression } from './compress.js';
import { SetupHeader } from './setup-header.js';
import { readField } from './struct.js';

/** A bzImage whose payload cannot be located or is not a compressed ELF kernel. */
export class PayloadError extends Error {
  constructor(detail: string) {
    super(`bzImage payload: ${detail}`);
    this.name = 'PayloadError';
  }
}

export interface BzImagePayload {
  format: CompressionFormat;
  /** File offset of the payload: kern16Size + payload_offset. */
  compressedOffset: number;
  /** The whole payload (payload_length bytes), trailer included; a view into the kernel buffer. */
  compressed: Uint8Array;
  /** z_output_len: the last 4 bytes of the payload. */
  outputLength: number;
  /** The decompressed payload: the vmlinux ELF image, followed by the relocation table when the kernel has one. */
  vmlinux: Uint8Array;
}

const PAYLOAD_PROTOCOL = 0x0208;

/**
 * Where decoded payloads may be kept between runs (the caller's policy; formats touches no files): get answers
 * the decoded bytes of a compressed payload of the given output size, or null; put keeps a fresh decode.
 */
export interface PayloadStore {
  get(compressed: Uint8Array, outputLength: number): Uint8Array | null;
  put(compressed: Uint8Array, vmlinux: Uint8Array): void;
}

/**
 * A decoder outside vkexec (the caller's policy: formats runs no processes), as Linux's scripts/extract-vmlinux
 * hands each format to the installed tool. null: none for this format. Its bytes are used only when they are
 * exactly the outputLength bytes the size trailer declares and start with the ELF magic; otherwise (and on
 * `failed`) vkexec's own decoder decodes, so the result and every error message are those of the own decoder.
 */
export interface PayloadDecoder {
  decode(stream: Uint8Array, format: CompressionFormat, outputLength: number): { by: string; bytes: Uint8Array } | { by: string; failed: string } | null;
}

/** Who produced the vmlinux: 'the payload cache', the external decoder's name, or 'vkexec'; why the external one was not used. */
export interface DecodedBy {
  decodedBy: string;
  fallback?: string;
}

const hasElfMagic = (b: Uint8Array): boolean => b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;

type ExtractOptions = { maxOutput?: number; store?: PayloadStore; decoder?: PayloadDecoder };

export function extractPayload(kernel: Uint8Array, opts: ExtractOptions = {}): BzImagePayload & DecodedBy & { fromStore: boolean } {
  const hdr = new SetupHeader(kernel);
  if (!hdr.hasMagic) throw new PayloadError('no "HdrS" setup header magic at 0x202; not a bzImage');
  const version = hdr.num('version');
  if (version < PAYLOAD_PROTOCOL) {
    throw new PayloadError(`boot protocol ${(version >> 8)}.${(version & 0xff).toString().padStart(2, '0')} predates payload_offset (2.08)`);
  }
  const offset = hdr.kern16Size + hdr.num('payload_offset');
  const length = hdr.num('payload_length');
  if (length < 8 || offset + length > kernel.length) {
    throw new PayloadError(`payload_offset/payload_length (${offset}+${length}) lie outside the ${kernel.length}-byte file`);
  }
  const compressed = kernel.subarray(offset, offset + length);
  const format = detectCompression(compressed);
  if (!format) {
    const magic = Array.from(compressed.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new PayloadError(`payload starts with ${magic}, no compression format decoded here (lzo is not)`);
  }
  const outputLength = zOutputLen(compressed);
  const max = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  if (outputLength > max) {
    throw new DecompressError(format, 'too-large', `payload declares ${outputLength} bytes, above the limit of ${max} bytes (maxOutput)`);
  }
  // gzip's trailer is part of its stream; for the others the 4 size bytes follow the stream.
  const stream = format === 'gzip' ? compressed : compressed.subarray(0, length - 4);
  const stored = opts.store?.get(compressed, outputLength) ?? null;
  const external = stored ? null : externalDecode(opts.decoder, stream, format, outputLength);
  const vmlinux = stored ?? external?.bytes ?? decodePayload(stream, format, outputLength);
  if (!hasElfMagic(vmlinux)) throw new PayloadError('decompressed payload is not an ELF file');
  if (!stored) opts.store?.put(compressed, vmlinux);
  const decodedBy = stored ? 'the payload cache' : external?.bytes ? external.by : 'vkexec';
  return { format, compressedOffset: offset, compressed, outputLength, vmlinux, fromStore: stored !== null, decodedBy, fallback: external?.fallback };
}

/** The external decoder's bytes when they can be trusted, else why not (null: no external decoder for format). */
function externalDecode(decoder: PayloadDecoder | undefined, stream: Uint8Array, format: CompressionFormat, outputLength: number): { by: string; bytes?: Uint8Array; fallback?: string } | null {
  const r = decoder?.decode(stream, format, outputLength) ?? null;
  if (!r) return null;
  if ('failed' in r) return { by: r.by, fallback: `${r.by}: ${r.failed}` };
  if (r.bytes.length !== outputLength) return { by: r.by, fallback: `${r.by}: gave ${r.bytes.length} bytes, the size trailer declares ${outputLength}` };
  if (!hasElfMagic(r.bytes)) return { by: r.by, fallback: `${r.by}: its output is not an ELF file` };
  return { by: r.by, bytes: r.bytes };
}

/** The payload's stream decoded to exactly the outputLength bytes its size trailer declares. */
function decodePayload(stream: Uint8Array, format: CompressionFormat, outputLength: number): Uint8Array {
  let vmlinux: Uint8Array;
  try {
    vmlinux = decompress(stream, format, { maxOutput: outputLength, sizeHint: outputLength });
  } catch (e) {
    if (e instanceof DecompressError && e.reason === 'too-large') {
      throw new DecompressError(format, 'corrupt', `payload decompresses to more than the ${outputLength} bytes its size trailer declares`);
    }
    throw e;
  }
  if (vmlinux.length !== outputLength) {
    throw new DecompressError(format, 'corrupt', `payload decompresses to ${vmlinux.length} bytes, its size trailer declares ${outputLength}`);
  }
  return vmlinux;
}

/** z_output_len: the decompressed size in the payload's last 4 bytes (little-endian, as mkpiggy writes it). */
export function zOutputLen(payload: Uint8Array): number {
  return readField(payload, { offset: payload.length - 4, size: 4 }) as number;
}
