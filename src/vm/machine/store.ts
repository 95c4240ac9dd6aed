// The machine directory on disk: machine.json (state, replaced atomically), blobs/ (content-addressed segment
// data, named by sha256). The lock that plays the kernel's kexec_lock is lock.ts.

import type { Stats } from 'node:fs';
import type { StagedCopy } from './blob-stage.js';
import { KexecError } from '../../errno.js';
import { hex } from '../../lib/hex.js';

// Built-ins by process.getBuiltinModule, not import: no ES module facade to build (node:fs's loads its streams)
// and no import to resolve, on every command's path (issue 15, bench/startup.ts).
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');
const os = process.getBuiltinModule('node:os');
const { createRequire } = process.getBuiltinModule('node:module');

// node:crypto costs several ms to load and only writers need it: `vkexec -S` only reads the state. So are
// lock.ts (withPath, ownerAlive) and blob-stage.ts, loaded by their first use (each module is about 0.5 ms of a
// start; issue 15).
let cryptoModule: typeof import('node:crypto') | undefined;
const crypto = (): typeof import('node:crypto') => (cryptoModule ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto'));
const lock = (): typeof import('./lock.js') => createRequire(import.meta.url)('./lock.js') as typeof import('./lock.js');
const stage = (): typeof import('./blob-stage.js') => createRequire(import.meta.url)('./blob-stage.js') as typeof import('./blob-stage.js');
const withPath = (e: unknown, p: string): unknown => lock().withPath(e, p);

export const STATE_FILE = 'machine.json';
const BLOB_DIR = 'blobs';

export class MachineDirError extends Error {
  constructor(
    readonly dir: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** --machine DIR, else $VKEXEC_MACHINE, else $XDG_STATE_HOME/vkexec/default (~/.local/state/vkexec/default). */
export function resolveMachineDir(explicit?: string): string {
  if (explicit) return path.resolve(explicit);
  if (process.env.VKEXEC_MACHINE) return path.resolve(process.env.VKEXEC_MACHINE);
  const base = process.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'vkexec', 'default');
}

// bigint survives JSON as {"$u64": "0x..."}: unambiguous, and readable in the file.
export function encodeJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? { $u64: hex(v) } : v), 2) + '\n';
}

export function decodeJson(text: string): unknown {
  return JSON.parse(text, (_k, v) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      // Only what encodeJson writes: lowercase hex of at most 64 bits (anything else stays an object and fails validation).
      if (keys.length === 1 && keys[0] === '$u64' && typeof v.$u64 === 'string' && /^0x[0-9a-f]{1,16}$/.test(v.$u64)) {
        return BigInt(v.$u64);
      }
    }
    return v;
  });
}

/** Writes a file so that readers see the old or the new content, never a mix: temp file, fsync, rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.${crypto().randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'wx', 0o644);
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true }); // a full disk or a read-only one: the old file stays as it was
    throw withPath(e, tmp);
  }
  fsyncDir(path.dirname(file));
}

/** The refusal for a path inside the machine directory that is a symbolic link or not what vkexec makes. */
function notOurs(dir: string, p: string, what: string): MachineDirError {
  return new MachineDirError(dir, `${p} is ${what}; vkexec never follows links or uses foreign files inside a machine directory`, `remove it, or recreate the machine: vkexec --machine ${dir} machine init`);
}

/** Bound on machine.json: a real one is a few KiB (keyrings hold certificates). */
const STATE_MAX_BYTES = 16 << 20;

/** The text of DIR/machine.json, read without following a link and within a size bound. */
export function readStateText(dir: string): string {
  const file = path.join(dir, STATE_FILE);
  let st: Stats;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MachineDirError(dir, `no machine at ${dir} (${STATE_FILE} is missing)`, `create one with: vkexec --machine ${dir} machine init`);
    if (code === 'ENOTDIR') throw new MachineDirError(dir, `${dir} is not a directory, so it is no machine`, 'point --machine at a machine directory');
    throw e;
  }
  if (st.isSymbolicLink()) throw notOurs(dir, file, 'a symbolic link');
  if (!st.isFile()) throw notOurs(dir, file, 'not a regular file');
  if (st.size > STATE_MAX_BYTES) throw notOurs(dir, file, `${st.size} bytes, more than a machine state can be (${STATE_MAX_BYTES})`);
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

// ---------------------------------------------------------------------------------------------------------
// Blobs

export function blobPath(dir: string, sha: string): string {
  return path.join(dir, BLOB_DIR, sha);
}

const CHUNK = 1 << 20;

/** Source of segment bytes: a buffer in memory, or a region of a file streamed in chunks. */
export type ByteSource = { kind: 'bytes'; data: Uint8Array } | { kind: 'file'; path: string; offset: number; length: number };

export function byteSourceLength(src: ByteSource): number {
  return src.kind === 'bytes' ? src.data.length : src.length;
}

/** What one read of a source learned: its blob name and, for a file, which file it was and when the read began. */
interface Hashed {
  sha: string;
  file: { dev: number; ino: number; size: number; readFromMs: number } | null;
  /** The copy into blobs/ made while the file was hashed (withBlobStaging), for storeHashed to keep or drop. */
  staged?: StagedCopy;
}

/** The blobs/ directory large sources are copied into while they are hashed, and the copies not yet kept. */
let staging: { dir: string; copies: Set<StagedCopy> } | null = null;

/**
 * Runs a load during which large whole files are copied into DIR/blobs on another thread while they are hashed
 * (blob-stage.ts); copies the load did not keep (an existing blob, a failure) are removed before it returns.
 */
export function withBlobStaging<T>(dir: string, fn: () => T): T {
  const mine = { dir, copies: new Set<StagedCopy>() };
  staging = mine;
  try {
    return fn();
  } finally {
    staging = null;
    for (const c of mine.copies) c.discard();
    if (mine.copies.size > 0) rmdirIfEmpty(path.join(dir, BLOB_DIR));
  }
}

/** Starts the staged copy of a whole file about to be hashed, when a load asked for it and the file is large. */
function stageCopy(src: ByteSource & { kind: 'file' }, size: number): StagedCopy | undefined {
  if (!staging || src.offset !== 0 || src.length !== size || size < stage().STAGE_MIN_BYTES) return undefined;
  const blobs = blobDir(staging.dir, true)!;
  let copy: StagedCopy;
  try {
    copy = new (stage().StagedCopy)(blobs, blobTemp(blobs), src.path);
  } catch {
    return undefined; // no thread to be had (ERR_WORKER_INIT_FAILED): storeHashed copies after the hash
  }
  staging.copies.add(copy);
  return copy;
}

/** The staged copy of this source into `blobs`, taken out of the load's list: the caller keeps or removes it. */
function takeStaged(known: Hashed, blobs: string): StagedCopy | undefined {
  const c = known.staged;
  if (!c || !staging?.copies.delete(c)) return undefined;
  if (c.blobs === blobs) return c;
  c.discard();
  return undefined;
}

/** Sources hashed by segmentsSha256 on this load: putBlob names and stores them without reading them again. */
const hashedSources = new WeakMap<ByteSource, Hashed>();

/** Calls fn on successive chunks of the source; never holds more than one chunk of a file in memory. */
export function forEachChunk(src: ByteSource, fn: (chunk: Uint8Array) => void): void {
  readChunks(src, fn, false);
}

function readChunks(src: ByteSource, fn: (chunk: Uint8Array) => void, stage: boolean): Omit<Hashed, 'sha'> {
  if (src.kind === 'bytes') {
    for (let o = 0; o < src.data.length; o += CHUNK) fn(src.data.subarray(o, Math.min(o + CHUNK, src.data.length)));
    return { file: null };
  }
  const readFromMs = Date.now();
  const fd = fs.openSync(src.path, 'r');
  try {
    const st = fs.fstatSync(fd);
    const staged = stage ? stageCopy(src, st.size) : undefined;
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(src.length, 1)));
    let done = 0;
    while (done < src.length) {
      const want = Math.min(buf.length, src.length - done);
      const n = fs.readSync(fd, buf, 0, want, src.offset + done);
      if (n <= 0) {
        throw new KexecError('EFAULT', 'copy_from_user', `${src.path}: file ended at ${src.offset + done} bytes, ${src.length - done} bytes short`, {
          hint: 'the file changed while it was being loaded; load it again',
        });
      }
      fn(buf.subarray(0, n));
      done += n;
    }
    const file = { dev: st.dev, ino: st.ino, size: st.size, readFromMs };
    return staged ? { file, staged } : { file };
  } finally {
    fs.closeSync(fd);
  }
}

const ZEROS = new Uint8Array(1 << 16);

/**
 * The sha256 both purgatory digests are made of (kexec-tools update_purgatory, Linux
 * kexec_calculate_store_digests): each segment contributes bufsz bytes then memsz - bufsz zeros, in order.
 * Streamed, so a large initrd never sits in memory. One SHA-256 stream also names the blobs: a segment's blob
 * is named by the digest of the stream up to the end of its bytes (a copy of the running state), a content
 * address of the segment and those before it, so putBlob neither reads nor hashes it again.
 */
export function segmentsSha256(segments: readonly { buf: ByteSource | null; bufsz: number; memsz: bigint }[]): Buffer {
  const hash = crypto().createHash('sha256');
  for (const s of segments) {
    if (s.buf) {
      const read = readChunks(s.buf, (c) => hash.update(c), true);
      hashedSources.set(s.buf, { sha: hash.copy().digest('hex'), ...read });
    }
    for (let left = s.memsz - BigInt(s.bufsz); left > 0n; ) {
      const n = left > BigInt(ZEROS.length) ? ZEROS.length : Number(left);
      hash.update(ZEROS.subarray(0, n));
      left -= BigInt(n);
    }
  }
  return hash.digest();
}

const BLOB_NAME = /^[0-9a-f]{64}$/;
const BLOB_TEMP = /^\.in\.([1-9][0-9]{0,9})\.[0-9a-f]{8}$/;

/** A blob name as vkexec writes them: a sha256 that addresses the bytes (putBlob), 64 lowercase hex digits. */
export function isBlobName(v: unknown): v is string {
  return typeof v === 'string' && BLOB_NAME.test(v);
}

/** DIR/blobs as a real directory (created when `create`); null when missing. Never a link. */
function blobDir(dir: string, create: boolean): string | null {
  const blobs = path.join(dir, BLOB_DIR);
  let st: Stats | null = null;
  try {
    st = fs.lstatSync(blobs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (st === null) {
    if (!create) return null;
    fs.mkdirSync(blobs, { mode: 0o755 });
    return blobs;
  }
  if (st.isSymbolicLink()) throw notOurs(dir, blobs, 'a symbolic link');
  if (!st.isDirectory()) throw notOurs(dir, blobs, 'not a directory');
  return blobs;
}

/**
 * Stores the bytes under a sha256 (the one segmentsSha256 gave them, else their own); returns the name.
 * Existing blobs are reused (content-addressed).
 */
export function putBlob(dir: string, src: ByteSource): string {
  const blobs = blobDir(dir, true)!;
  const known = hashedSources.get(src);
  if (known) {
    const stored = storeHashed(blobs, src, known);
    if (stored) return stored;
  }
  return writeBlob(blobs, blobTemp(blobs), null, src);
}

/** Writes the source to tmp (hashing it unless its sha is known), fsyncs it and gives it its name. */
function writeBlob(blobs: string, tmp: string, sha: string | null, src: ByteSource | Uint8Array): string {
  const hash = sha ? null : crypto().createHash('sha256');
  const from: ByteSource = src instanceof Uint8Array ? { kind: 'bytes', data: src } : src;
  try {
    const fd = fs.openSync(tmp, 'wx', 0o644);
    try {
      forEachChunk(from, (chunk) => {
        hash?.update(chunk);
        fs.writeSync(fd, chunk);
      });
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return settle(blobs, tmp, sha ?? hash!.digest('hex'), byteSourceLength(from));
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    rmdirIfEmpty(blobs); // as it was before the first blob
    throw withPath(e, tmp);
  }
}

const blobTemp = (blobs: string) => path.join(blobs, `.in.${process.pid}.${crypto().randomBytes(4).toString('hex')}`);

/** Moves a written temporary to its name, or drops it when an intact blob of that name is there already. */
function settle(blobs: string, tmp: string, sha: string, size: number): string {
  const final = path.join(blobs, sha);
  const have = fs.lstatSync(final, { throwIfNoEntry: false });
  if (have?.isFile() && have.size === size) fs.rmSync(tmp);
  else fs.renameSync(tmp, final); // replaces a damaged or foreign entry of that name, never follows it
  return sha;
}

/**
 * Time stamps of ext4 and the like come from a coarse clock (one tick, a few ms): a write in the same tick as
 * the start of the read could leave ctime unchanged. A source whose ctime is this close to (or after) the read
 * counts as possibly changed (git's "racy" rule) and is read again instead.
 */
const RACY_MS = 50;

/**
 * A source segmentsSha256 already read: nothing to do when its blob exists; a whole file is copied by the
 * kernel (copy-on-write clone where the filesystem has one, else copy_file_range), never through this process,
 * and kept only if the file is provably the one that was hashed (same inode and size, no change since before
 * the read: ctime older than the read's start). null when the caller must read and hash it itself.
 */
function storeHashed(blobs: string, src: ByteSource, known: Hashed): string | null {
  const size = byteSourceLength(src);
  const staged = takeStaged(known, blobs);
  const have = fs.lstatSync(path.join(blobs, known.sha), { throwIfNoEntry: false });
  if (have?.isFile() && have.size === size) {
    staged?.discard();
    return known.sha;
  }
  const tmp = staged?.tmp ?? blobTemp(blobs);
  if (src.kind === 'bytes') return writeBlob(blobs, tmp, known.sha, src.data); // a buffer of this process: unchanged since
  const f = known.file;
  if (!f || src.offset !== 0 || src.length !== f.size) return null;
  try {
    if (staged) {
      const err = staged.finish();
      if (err) throw err;
    } else {
      try {
        stage().copyAndSync(src.path, tmp);
      } catch (e) {
        throw Object.assign(e as Error, { path: stage().copyPaths(src.path, tmp) });
      }
    }
    // Checked after the copy: the file the copy read is then the one the hash read.
    const after = fs.statSync(src.path, { bigint: false });
    if (after.dev !== f.dev || after.ino !== f.ino || after.size !== f.size || after.ctimeMs >= f.readFromMs - RACY_MS) {
      fs.rmSync(tmp, { force: true });
      return null;
    }
    return settle(blobs, tmp, known.sha, size);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw withPath(e, tmp);
  }
}

/**
 * Removes blobs no state references, and temporaries of dead writers; only names vkexec writes (a sha256,
 * `.in.PID.RANDOM`) and only regular files: nothing else in blobs/ is ours to delete.
 */
export function collectBlobs(dir: string, referenced: Set<string>): void {
  const blobs = blobDir(dir, false);
  if (!blobs) return;
  for (const name of fs.readdirSync(blobs)) {
    if (referenced.has(name)) continue;
    const temp = BLOB_TEMP.exec(name);
    if (!BLOB_NAME.test(name) && !temp) continue;
    if (temp && lock().ownerAlive(Number(temp[1]))) continue;
    const p = path.join(blobs, name);
    if (fs.lstatSync(p, { throwIfNoEntry: false })?.isFile()) fs.rmSync(p, { force: true });
  }
}

function rmdirIfEmpty(d: string): void {
  try {
    fs.rmdirSync(d);
  } catch {
    /* holds other files */
  }
}
