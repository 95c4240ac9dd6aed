// The cache of decompressed kernel payloads for --fast: a Makefile loop that boots the same kernel with new
// initrds decodes its payload once. Entries live in the user's cache directory ($XDG_CACHE_HOME/vkexec/payloads,
// else ~/.cache/vkexec/payloads; VKEXEC_PAYLOAD_CACHE=off turns the cache off, =DIR moves it), named by the
// sha256 of the compressed payload. An entry is the sha256 of the decompressed bytes followed by those bytes, so
// a damaged entry is never used: it is checked on every read. Writers write a temporary and rename it (readers
// see a whole entry or none, whatever runs at the same time); the total is bounded (VKEXEC_PAYLOAD_CACHE_MB,
// default 512), the least recently used entries going first. The cache is an optimisation: any failure
// to read or write it means decoding, never an error.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const DEFAULT_LIMIT_MB = 512;
const ENTRY = /^[0-9a-f]{64}$/;
const TEMP = /^\.tmp\.[0-9]+\.[0-9a-f]{8}$/;
/** A temporary older than this belongs to a writer that died. */
const STALE_TEMP_MS = 3600_000;

/** The cache directory, or null when VKEXEC_PAYLOAD_CACHE=off. */
export function payloadCacheDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const v = env.VKEXEC_PAYLOAD_CACHE;
  if (v === 'off' || v === '0') return null;
  if (v) return path.resolve(v);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'vkexec', 'payloads');
}

function limitBytes(env: NodeJS.ProcessEnv): number {
  const mb = Number(env.VKEXEC_PAYLOAD_CACHE_MB);
  return (Number.isFinite(mb) && mb >= 0 ? mb : DEFAULT_LIMIT_MB) * (1 << 20);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/** The cache key of a compressed payload. */
export const payloadKey = (compressed: Uint8Array): string => sha256(compressed).toString('hex');

/** The decompressed payload stored under key, when an intact entry of the expected size is there. */
export function cacheGet(key: string, size: number, env: NodeJS.ProcessEnv = process.env): Uint8Array | null {
  const dir = payloadCacheDir(env);
  if (!dir) return null;
  const file = path.join(dir, key);
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || st.size !== size + 32) return null;
      const buf = Buffer.allocUnsafe(st.size);
      let got = 0;
      while (got < buf.length) {
        const n = fs.readSync(fd, buf, got, buf.length - got, got);
        if (n <= 0) return null;
        got += n;
      }
      const data = buf.subarray(32);
      if (!sha256(data).equals(buf.subarray(0, 32))) return null;
      const now = new Date();
      fs.futimesSync(fd, now, now); // recently used: evicted last
      return data;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** Stores data under key (temporary file, then rename) and trims the cache to its bound; false when it could not. */
export function cachePut(key: string, data: Uint8Array, env: NodeJS.ProcessEnv = process.env): boolean {
  const dir = payloadCacheDir(env);
  const limit = limitBytes(env);
  if (!dir || data.length + 32 > limit) return false;
  const tmp = path.join(dir, `.tmp.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeSync(fd, sha256(data));
      fs.writeSync(fd, data);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(dir, key));
  } catch {
    fs.rmSync(tmp, { force: true });
    return false;
  }
  trim(dir, limit, key);
  return true;
}

/** Removes least recently used entries until the total fits the bound (never `keep`), and dead temporaries. */
function trim(dir: string, limit: number, keep: string): void {
  try {
    const entries: { file: string; size: number; used: number }[] = [];
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      const st = fs.lstatSync(file, { throwIfNoEntry: false });
      if (!st?.isFile()) continue;
      if (TEMP.test(name) && Date.now() - st.mtimeMs > STALE_TEMP_MS) fs.rmSync(file, { force: true });
      else if (ENTRY.test(name)) entries.push({ file, size: st.size, used: name === keep ? Infinity : st.mtimeMs });
    }
    entries.sort((a, b) => a.used - b.used);
    let total = entries.reduce((t, e) => t + e.size, 0);
    for (const e of entries) {
      if (total <= limit || e.used === Infinity) break;
      fs.rmSync(e.file, { force: true }); // another process may have removed it already
      total -= e.size;
    }
  } catch {
    // a cache that cannot be trimmed now is trimmed by the next writer
  }
}
