// The "newc" cpio format (magic 070701) that the kernel unpacks as an initramfs (init/initramfs.c,
// Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII header of 13 eight-digit hex
// fields, the NUL-terminated name padded to 4 bytes, the data padded to 4 bytes, and a final "TRAILER!!!"
// entry. Output is deterministic: mtime 0, uid/gid 0 unless given, inodes numbered 1, 2, ... in entry order.

import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export const NEWC_MAGIC = '070701';
export const NEWC_CRC_MAGIC = '070702';
export const TRAILER = 'TRAILER!!!';
const HEADER_SIZE = 110;
const PATH_MAX = 4096;

// File type bits of st_mode (include/uapi/linux/stat.h).
export const S_IFMT = 0o170000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;

export class CpioError extends Error {
  constructor(detail: string) {
    super(`cpio: ${detail}`);
    this.name = 'CpioError';
  }
}

interface Owner {
  mode?: number; // permission bits; the type bits come from the entry kind
  uid?: number;
  gid?: number;
}

export type CpioEntry =
  | ({ type: 'file'; path: string; data: Uint8Array } & Owner)
  | ({ type: 'dir'; path: string } & Owner)
  | ({ type: 'symlink'; path: string; target: string } & Owner)
  | ({ type: 'char' | 'block'; path: string; major: number; minor: number } & Owner);

const TYPE_BITS = { file: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK, char: S_IFCHR, block: S_IFBLK } as const;
const DEFAULT_PERM = { file: 0o644, dir: 0o755, symlink: 0o777, char: 0o600, block: 0o600 } as const;

const pad4 = (n: number) => (4 - (n % 4)) % 4;
const encoder = new TextEncoder();

function hex8(v: number, field: string, path: string): string {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new CpioError(`${field} ${v} of "${path}" does not fit 32 bits`);
  return v.toString(16).toUpperCase().padStart(8, '0');
}

/** Archive names carry no leading slash (the kernel and gen_init_cpio both accept and write them so). */
function archiveName(path: string): string {
  const name = path.replace(/^\/+/, '');
  if (name === '' || name.split('/').some((part) => part === '..' || part === '')) {
    throw new CpioError(`path "${path}" is empty or has an empty or ".." component`);
  }
  if (name === TRAILER) throw new CpioError(`path "${path}" is the trailer's name`);
  if (encoder.encode(name).length + 1 > PATH_MAX) throw new CpioError(`path "${path}" is longer than PATH_MAX`);
  return name;
}

function header(f: { ino: number; mode: number; uid: number; gid: number; nlink: number; size: number; rmaj: number; rmin: number; name: Uint8Array }, path: string): Uint8Array {
  const fields = [f.ino, f.mode, f.uid, f.gid, f.nlink, 0 /* mtime */, f.size, 0, 0 /* devmajor/minor of the fs */, f.rmaj, f.rmin, f.name.length + 1, 0 /* check */];
  const names = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'];
  const text = NEWC_MAGIC + fields.map((v, i) => hex8(v, names[i], path)).join('');
  const out = new Uint8Array(HEADER_SIZE + f.name.length + 1 + pad4(HEADER_SIZE + f.name.length + 1));
  out.set(encoder.encode(text));
  out.set(f.name, HEADER_SIZE);
  return out;
}

/** Yields the archive as chunks: per entry its header+name, then its data and padding; the trailer last. */
export function* cpioChunks(entries: Iterable<CpioEntry>): Generator<Uint8Array> {
  let ino = 1;
  for (const e of entries) {
    const name = encoder.encode(archiveName(e.path));
    const perm = e.mode ?? DEFAULT_PERM[e.type];
    if (perm & ~0o7777) throw new CpioError(`mode 0${perm.toString(8)} of "${e.path}" has bits beyond the permission bits`);
    let data: Uint8Array = new Uint8Array(0);
    if (e.type === 'file') data = e.data;
    else if (e.type === 'symlink') data = encoder.encode(e.target);
    const dev = e.type === 'char' || e.type === 'block' ? e : { major: 0, minor: 0 };
    yield header(
      { ino: ino++, mode: TYPE_BITS[e.type] | perm, uid: e.uid ?? 0, gid: e.gid ?? 0, nlink: e.type === 'dir' ? 2 : 1, size: data.length, rmaj: dev.major, rmin: dev.minor, name },
      e.path,
    );
    if (data.length) {
      yield data;
      if (pad4(data.length)) yield new Uint8Array(pad4(data.length));
    }
  }
  yield header({ ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, size: 0, rmaj: 0, rmin: 0, name: encoder.encode(TRAILER) }, TRAILER);
}

/** The whole archive in one buffer. */
export function buildCpio(entries: Iterable<CpioEntry>): Uint8Array {
  return Buffer.concat([...cpioChunks(entries)]);
}

/** Streams the archive into a Writable (honouring back-pressure); resolves when the Writable has finished. */
export async function writeCpio(entries: Iterable<CpioEntry>, out: Writable): Promise<void> {
  await pipeline(Readable.from(cpioChunks(entries), { objectMode: false }), out);
}

export interface CpioRecord {
  path: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  data: Uint8Array;
}

/**
 * Reads newc/crc archives up to the first trailer (as the kernel does for one archive). Returns the entries
 * and the offset just past the trailer's padding.
 */
export function parseCpio(buf: Uint8Array, start = 0): { entries: CpioRecord[]; end: number } {
  const decoder = new TextDecoder('latin1');
  const entries: CpioRecord[] = [];
  let p = start;
  for (;;) {
    if (p + HEADER_SIZE > buf.length) throw new CpioError(`archive ends inside a header at offset ${p}`);
    const text = decoder.decode(buf.subarray(p, p + HEADER_SIZE));
    const magic = text.slice(0, 6);
    if (magic !== NEWC_MAGIC && magic !== NEWC_CRC_MAGIC) throw new CpioError(`no newc magic at offset ${p} (found "${magic}")`);
    const f: number[] = [];
    for (let i = 0; i < 13; i++) {
      const field = text.slice(6 + i * 8, 14 + i * 8);
      if (!/^[0-9a-fA-F]{8}$/.test(field)) throw new CpioError(`header field ${i} at offset ${p} is not hex: "${field}"`);
      f.push(parseInt(field, 16));
    }
    const [ino, mode, uid, gid, nlink, mtime, size, devMajor, devMinor, rdevMajor, rdevMinor, namesize] = f;
    if (namesize < 1 || namesize > PATH_MAX) throw new CpioError(`name size ${namesize} at offset ${p} is out of range`);
    const nameEnd = p + HEADER_SIZE + namesize;
    if (nameEnd > buf.length) throw new CpioError(`archive ends inside a name at offset ${p}`);
    if (buf[nameEnd - 1] !== 0) throw new CpioError(`name at offset ${p} is not NUL-terminated`);
    const path = new TextDecoder().decode(buf.subarray(p + HEADER_SIZE, nameEnd - 1));
    const dataStart = nameEnd + pad4(HEADER_SIZE + namesize);
    if (dataStart + size > buf.length) throw new CpioError(`data of "${path}" runs past the end of the archive`);
    p = dataStart + size + pad4(size);
    if (path === TRAILER) return { entries, end: Math.min(p, buf.length) };
    entries.push({ path, ino, mode, uid, gid, nlink, mtime, devMajor, devMinor, rdevMajor, rdevMinor, data: buf.subarray(dataStart, dataStart + size) });
  }
}
