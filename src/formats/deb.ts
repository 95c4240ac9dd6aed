// Debian binary packages (deb(5)): an ar archive whose members are "debian-binary" ("2.0\n"), control.tar[.xx]
// and data.tar[.xx], in that order; dpkg-deb accepts data.tar uncompressed or compressed with gzip, xz, zstd,
// bzip2 or lzma (dpkg 1.21: zstd since 1.21.18). The tar is read with tar-stream, the compression with the
// project's own decoders (compress.ts).

import tarStream from 'tar-stream';
import { ArchiveError, parseAr } from './ar.js';
import { decompress, detectCompression, type CompressionFormat } from './compress.js';
import { DecompressError } from './decompress/error.js';

export interface PackageFile {
  /** Path inside the package, without a leading "./" (e.g. "boot/vmlinuz-6.1.0-57-amd64"). */
  path: string;
  type: 'file' | 'symlink' | 'directory' | 'other';
  size: number;
  /** The bytes, only for the files the caller asked to keep. */
  data?: Uint8Array;
  linkname?: string;
}

/** Which files' bytes to keep (all paths are listed either way). */
export type KeepFile = (path: string, size: number) => boolean;

const SUFFIX_FORMAT: Record<string, CompressionFormat | null> = { '': null, '.gz': 'gzip', '.xz': 'xz', '.zst': 'zstd', '.bz2': 'bzip2', '.lzma': 'lzma' };

export const normalizePath = (p: string) => p.replace(/^\.?\/+/, '').replace(/\/+$/, '');

/** The tar archive inside a .deb's data.tar member, decompressed. */
export function debDataTar(buf: Uint8Array, maxOutput?: number): Uint8Array {
  const members = parseAr(buf);
  if (members[0]?.name !== 'debian-binary') throw new ArchiveError('deb', `first ar member is ${members[0]?.name ?? 'missing'}, not debian-binary (deb(5))`);
  const version = Buffer.from(members[0].data).toString('latin1');
  if (!/^2\.\d+\n/.test(version)) throw new ArchiveError('deb', `debian-binary says ${JSON.stringify(version)}; only format 2.x is a binary package`);
  const data = members.find((m) => /^data\.tar(\.[a-z0-9]+)?$/.test(m.name));
  if (!data) throw new ArchiveError('deb', `no data.tar member (members: ${members.map((m) => m.name).join(', ')})`);
  const suffix = data.name.slice('data.tar'.length);
  if (!(suffix in SUFFIX_FORMAT)) {
    throw new ArchiveError('deb', `${data.name}: compression "${suffix.slice(1)}" is not one dpkg-deb writes (gz, xz, zst, bz2, lzma or none)`);
  }
  const format = SUFFIX_FORMAT[suffix] ?? null;
  if (format === null) return data.data;
  const found = detectCompression(data.data);
  if (found !== format) throw new ArchiveError('deb', `${data.name} does not start with the ${format} magic (${found ?? 'no known magic'}): corrupt package`);
  return decompress(data.data, format, maxOutput === undefined ? {} : { maxOutput });
}

/** Lists a tar archive and keeps the bytes of the files `keep` selects. */
export function readTar(tar: Uint8Array, keep: KeepFile): Promise<PackageFile[]> {
  return new Promise((resolve, reject) => {
    const files: PackageFile[] = [];
    const extract = tarStream.extract();
    extract.on('entry', (h, stream, next) => {
      const path = normalizePath(h.name);
      const type = h.type === 'file' || h.type === 'contiguous-file' ? 'file' : h.type === 'symlink' ? 'symlink' : h.type === 'directory' ? 'directory' : 'other';
      const f: PackageFile = { path, type, size: h.size ?? 0, ...(h.linkname ? { linkname: h.linkname } : {}) };
      files.push(f);
      if (type === 'file' && keep(path, f.size)) {
        const parts: Buffer[] = [];
        stream.on('data', (d: unknown) => parts.push(d as Buffer));
        stream.on('end', () => {
          f.data = new Uint8Array(Buffer.concat(parts));
          next();
        });
      } else {
        stream.on('end', next);
        stream.resume();
      }
    });
    extract.on('error', (e: Error) => reject(new ArchiveError('tar', e.message)));
    extract.on('finish', () => resolve(files));
    extract.end(Buffer.from(tar.buffer, tar.byteOffset, tar.length));
  });
}

/** A .deb's files: the listing of data.tar and the bytes of the selected files. */
export async function readDeb(buf: Uint8Array, keep: KeepFile): Promise<PackageFile[]> {
  try {
    return await readTar(debDataTar(buf), keep);
  } catch (e) {
    if (e instanceof DecompressError) throw new ArchiveError('deb', `data.tar: ${e.message}`);
    throw e;
  }
}
