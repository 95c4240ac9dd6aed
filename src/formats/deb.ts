// Debian binary packages (deb(5)): an ar archive whose members are "debian-binary" ("2.0\n"), control.tar[.xx]
// and data.tar[.xx], in that order; dpkg-deb accepts data.tar uncompressed or compressed with gzip, xz, zstd,
// bzip2 or lzma (dpkg 1.21: zstd since 1.21.18). The tar is read with tar-stream, the compression with the
// project's own decoders (compress.ts) and zlib's gunzip stream, in one pass that holds no whole data.tar; or
// with a decoder the caller injects (the reference tool, check-read-worker.ts), whose stream is used only when
// it ends cleanly: on any failure the own decoders read the package again and give their result or error.

import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import { ArchiveError, parseAr } from './ar.js';
import { decompress, DEFAULT_MAX_OUTPUT, detectCompression, type CompressionFormat } from './compress.js';
import { DecompressError } from './decompress/error.js';
import { decodeXzBlocks } from './decompress/xz.js';

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

interface DataMember {
  name: string;
  format: CompressionFormat | null;
  data: Uint8Array;
}

/** The data.tar member of a .deb (deb(5)), its compression checked against its name. */
function debDataMember(buf: Uint8Array): DataMember {
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
  if (format !== null) {
    const found = detectCompression(data.data);
    if (found !== format) throw new ArchiveError('deb', `${data.name} does not start with the ${format} magic (${found ?? 'no known magic'}): corrupt package`);
  }
  return { name: data.name, format, data: data.data };
}

const CHUNK = 1 << 20;

/**
 * The decompressed data.tar in pieces, never whole: uncompressed in 1 MiB views, gzip through zlib's stream,
 * xz one block at a time (decodeXzBlocks). zstd, bzip2 and lzma data.tar members are still decoded whole by
 * the project's one-shot decoders (documented in vkexec(8)); Debian writes xz.
 */
async function* dataTarChunks(m: DataMember, maxOutput: number): AsyncGenerator<Uint8Array, void, void> {
  if (m.format === null) {
    for (let at = 0; at < m.data.length; at += CHUNK) yield m.data.subarray(at, at + CHUNK);
  } else if (m.format === 'gzip') {
    const gunzip = createGunzip({ maxOutputLength: maxOutput });
    const input = Readable.from((function* () {
      for (let at = 0; at < m.data.length; at += CHUNK) yield Buffer.from(m.data.buffer, m.data.byteOffset + at, Math.min(CHUNK, m.data.length - at));
    })());
    input.pipe(gunzip);
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
    } catch (e) {
      throw new DecompressError('gzip', 'corrupt', (e as Error).message);
    }
  } else if (m.format === 'xz') {
    yield* decodeXzBlocks(m.data, maxOutput);
  } else {
    yield decompress(m.data, m.format, { maxOutput });
  }
}

/** The tar archive inside a .deb's data.tar member, decompressed whole (tests and small packages). */
export async function debDataTar(buf: Uint8Array, maxOutput = DEFAULT_MAX_OUTPUT): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of dataTarChunks(debDataMember(buf), maxOutput)) parts.push(c);
  return new Uint8Array(Buffer.concat(parts));
}

/** Lists a tar archive fed in pieces and keeps the bytes of the files `keep` selects; the rest is skipped unbuffered. */
export async function readTar(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, keep: KeepFile): Promise<PackageFile[]> {
  const files: PackageFile[] = [];
  const extract = tarStream.extract();
  let failed: Error | null = null;
  const done = new Promise<void>((resolve, reject) => {
    extract.on('error', (e: Error) => reject((failed = new ArchiveError('tar', e.message))));
    extract.on('finish', () => resolve());
  });
  done.catch(() => undefined); // observed below; a rejection before the await is not unhandled
  extract.on('entry', (h, stream, next) => {
    const path = normalizePath(h.name);
    const type = h.type === 'file' || h.type === 'contiguous-file' ? 'file' : h.type === 'symlink' ? 'symlink' : h.type === 'directory' ? 'directory' : 'other';
    const f: PackageFile = { path, type, size: h.size ?? 0, ...(h.linkname ? { linkname: h.linkname } : {}) };
    files.push(f);
    const parts: Buffer[] | null = type === 'file' && keep(path, f.size) ? [] : null;
    stream.on('data', (d: unknown) => parts?.push(d as Buffer));
    stream.on('end', () => {
      if (parts) f.data = new Uint8Array(Buffer.concat(parts)); // a copy: the decoder's block is not retained
      next();
    });
  });
  try {
    for await (const chunk of chunks) {
      if (failed) break;
      // Backpressure: wait until tar-stream has consumed what it holds before decoding the next piece (or
      // until it failed: a destroyed stream never drains).
      if (!extract.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length))) await Promise.race([new Promise<void>((r) => extract.once('drain', () => r())), done]);
    }
  } catch (e) {
    extract.destroy();
    throw e;
  }
  (extract.end as unknown as () => void).call(extract); // @types/tar-stream wants a final chunk; streamx takes none
  await done;
  return files;
}

/**
 * A data.tar decoder run elsewhere (formats starts no process): the decompressed bytes of a compressed member in
 * pieces, or null when it has none for this format. The stream must throw, not end, when the decoding failed or
 * gave more than maxOutput bytes.
 */
export interface DataTarDecoder {
  stream(data: Uint8Array, format: CompressionFormat, maxOutput: number): AsyncIterable<Uint8Array> | null;
}

/**
 * A .deb's files: the listing of data.tar and the bytes of the selected files, read in one streaming pass; with
 * `decoder`, through its stream first, and again through the own decoders if that stream failed in any way.
 */
export async function readDeb(buf: Uint8Array, keep: KeepFile, maxOutput = DEFAULT_MAX_OUTPUT, decoder?: DataTarDecoder): Promise<PackageFile[]> {
  try {
    const m = debDataMember(buf);
    const external = m.format === null ? null : decoder?.stream(m.data, m.format, maxOutput);
    if (external) {
      try {
        return await readTar(external, keep);
      } catch {
        // the own decoders' answer is the one given, success or error
      }
    }
    return await readTar(dataTarChunks(m, maxOutput), keep);
  } catch (e) {
    if (e instanceof DecompressError) throw new ArchiveError('deb', `data.tar: ${e.message}`);
    throw e;
  }
}
