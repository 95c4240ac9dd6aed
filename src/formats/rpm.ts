// RPM packages (rpm's lib/rpmlead.h, lib/header.c; the "RPM file format" of the LSB): a 96-byte lead (magic
// ed ab ee db), the signature header padded to 8 bytes, the main header, then the payload: a cpio archive (newc)
// compressed as the header's PAYLOADCOMPRESSOR tag says (gzip, xz, zstd, bzip2, lzma). Each header is the magic
// 8e ad e8 01, four reserved bytes, the index count and the store size (big-endian u32), 16-byte index entries
// (tag, type, offset, count), then the store.

import { ArchiveError } from './ar.js';
import { decompress, detectCompression } from './compress.js';
import { parseCpio, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, CpioError } from './cpio.js';
import { DecompressError } from './decompress/error.js';
import { normalizePath, type KeepFile, type PackageFile } from './deb.js';

const LEAD_SIZE = 96;
const RPMTAG_PAYLOADFORMAT = 1124;
const RPMTAG_PAYLOADCOMPRESSOR = 1125;
const RPM_STRING_TYPE = 6;

export function isRpm(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0xed && buf[1] === 0xab && buf[2] === 0xee && buf[3] === 0xdb;
}

interface Header {
  end: number;
  strings: Map<number, string>;
}

/** One header structure at `at`: its end and its string tags. */
function readHeader(b: Buffer, at: number, what: string): Header {
  if (at + 16 > b.length || b.readUInt32BE(at) !== 0x8eade801) throw new ArchiveError('rpm', `no header magic 8e ad e8 01 at offset ${at} (${what})`);
  const count = b.readUInt32BE(at + 8);
  const size = b.readUInt32BE(at + 12);
  const store = at + 16 + count * 16;
  const end = store + size;
  if (count > 0x10000 || end > b.length) throw new ArchiveError('rpm', `the ${what} header (${count} entries, ${size} bytes) runs past the end of the ${b.length}-byte file (truncated download?)`);
  const strings = new Map<number, string>();
  for (let i = 0; i < count; i++) {
    const e = at + 16 + i * 16;
    if (b.readUInt32BE(e + 4) !== RPM_STRING_TYPE) continue;
    const off = store + b.readUInt32BE(e + 8);
    const nul = b.indexOf(0, off);
    if (off < end && nul >= 0 && nul < end) strings.set(b.readUInt32BE(e), b.subarray(off, nul).toString('latin1'));
  }
  return { end, strings };
}

/** The decompressed cpio payload of an RPM. */
export function rpmPayload(buf: Uint8Array, maxOutput?: number): Uint8Array {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (!isRpm(b)) throw new ArchiveError('rpm', 'no lead magic ed ab ee db at offset 0');
  if (b.length < LEAD_SIZE) throw new ArchiveError('rpm', `the file ends inside the ${LEAD_SIZE}-byte lead`);
  const sig = readHeader(b, LEAD_SIZE, 'signature');
  const main = readHeader(b, (sig.end + 7) & ~7, 'main');
  const format = main.strings.get(RPMTAG_PAYLOADFORMAT) ?? 'cpio';
  if (format !== 'cpio') throw new ArchiveError('rpm', `payload format "${format}": only cpio payloads are read`);
  const payload = b.subarray(main.end);
  const named = main.strings.get(RPMTAG_PAYLOADCOMPRESSOR) ?? 'gzip';
  const found = detectCompression(payload);
  if (!found) throw new ArchiveError('rpm', `payload compressor "${named}": not one vkexec decodes (gzip, xz, zstd, bzip2, lzma), or a corrupt payload`);
  try {
    return decompress(payload, found, maxOutput === undefined ? {} : { maxOutput });
  } catch (e) {
    if (e instanceof DecompressError) throw new ArchiveError('rpm', `payload: ${e.message}`);
    throw e;
  }
}

/** An RPM's files: the listing of its cpio payload and the bytes of the selected files. */
export function readRpm(buf: Uint8Array, keep: KeepFile): PackageFile[] {
  const cpio = rpmPayload(buf);
  let entries;
  try {
    entries = parseCpio(cpio).entries;
  } catch (e) {
    if (e instanceof CpioError) throw new ArchiveError('rpm', `payload cpio: ${e.message}`);
    throw e;
  }
  return entries.map((e) => {
    const fmt = e.mode & S_IFMT;
    const type = fmt === S_IFREG ? 'file' : fmt === S_IFLNK ? 'symlink' : fmt === S_IFDIR ? 'directory' : 'other';
    const path = normalizePath(e.path);
    const f: PackageFile = { path, type, size: e.data.length };
    if (type === 'file' && keep(path, f.size)) f.data = e.data;
    if (type === 'symlink') f.linkname = Buffer.from(e.data).toString('latin1');
    return f;
  });
}
