// The lock in the machine directory that plays the kernel's kexec_lock (kernel/kexec_core.c): kexec_trylock
// is non-blocking, so contention is EBUSY, never a wait.
//
// Design (a lock directory holding exactly one holder record):
//   DIR/lock/            exists and holds one entry <pid>.<start>.<token> while a command holds the lock
//   DIR/lock.new.<name>/ a candidate: a private directory with the holder record already inside
// Take:    mkdir lock.new.<name>, create <name> inside (fsync), then rename(lock.new.<name>, lock).
//          rename(2) of a directory succeeds only onto a missing or EMPTY directory (else ENOTEMPTY/EEXIST),
//          atomically, so this is a compare-and-swap "lock is free -> lock is mine".
// Release: unlink lock/<name>, then rmdir lock (rmdir fails on a non-empty directory, so it cannot remove
//          a later holder's lock).
// Recover: a record whose process is gone (pid not alive, or alive with another start time: a reused pid)
//          or whose name is not a record (torn, foreign) is unlinked BY ITS EXACT NAME, then the take is
//          tried again.
//
// Why two commands can never hold it at once:
//   - A record enters lock/ only by the rename of a directory holding exactly one record onto a missing or
//     empty lock/, so lock/ never holds more than one record and the holder is the one whose record is there.
//   - A holder's record leaves lock/ only by its own release or by a recoverer that saw it dead. Names are
//     unique (pid, the process's start time, 8 random bytes), so unlinking a dead holder's name can never
//     remove a live holder's record, whatever happened between the recoverer's look and its unlink: the
//     record-by-name check and the removal are one system call. Dead is permanent (a pid with the same
//     start time never comes back), so the judgement cannot go stale. There is no read-then-replace window.
//   - A crash at any instruction leaves one of: a candidate directory (not the lock; removed later when its
//     pid is dead), a record of a dead process in lock/ (recovered), an empty lock/ (free: rename replaces it).
//     The record is complete before it is visible, so there is no empty or torn record of ours.
//   - Doubt counts as alive (EPERM from kill, an unreadable /proc): a wrong "alive" gives EBUSY, never two
//     holders. Limit: commands in different pid namespaces sharing one machine directory are not supported.
// Symbolic links are refused: a symlinked lock or lock/ entry is never followed. A lock file of older vkexec
// versions (a regular file `lock` holding "pid what") is honoured while its pid lives and unlinked (which
// fails if it has meanwhile become a lock directory) when it is dead, empty or torn.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { KexecError } from '../../errno.js';

const LOCK = 'lock';
const CANDIDATE = 'lock.new.';
const RECORD = /^([1-9][0-9]{0,9})\.([0-9]{1,20})\.([0-9a-f]{16})$/;

/** Whether a process with this pid exists (a lock or temporary of a dead one is stale). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/PID/stat (starttime, clock ticks since boot); '0' when /proc cannot say. */
function processStart(pid: number | 'self'): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return /^[0-9]+$/.test(fields[19] ?? '') ? fields[19]! : '0';
  } catch {
    return '0';
  }
}

/** A holder record's process is the same live process: pid alive and, when both are known, same start time. */
export function holderAlive(pid: number, start: string): boolean {
  if (!processAlive(pid)) return false;
  const now = processStart(pid);
  return start === '0' || now === '0' || now === start;
}

/** A pid-tagged temporary name (`<prefix><pid>.<rest>`) of this process or of a live one. */
export function ownerAlive(pid: number): boolean {
  return pid === process.pid || processAlive(pid);
}

/** A host error of a write through a descriptor carries no path: give it the file's, for the report. */
export function withPath(e: unknown, p: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (err instanceof Error && typeof err.code === 'string' && !err.path) err.path = p;
  return e;
}

export interface HeldLock {
  release(): void;
}

function busy(dir: string, holder: string): KexecError {
  return new KexecError('EBUSY', 'kexec_trylock', `the machine at ${dir} is busy: ${holder} holds its kexec lock`, {
    hint: 'wait for the other vkexec command to finish, then run this one again',
  });
}

function symlinkRefused(p: string): KexecError {
  return new KexecError('ELOOP', 'kexec_trylock', `${p} is a symbolic link; vkexec never follows links inside a machine directory`, {
    hint: `remove it (rm ${p}); vkexec makes the lock itself`,
  });
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function unlinkIfThere(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'EPERM') throw e;
  }
}

/** What holds the lock now: null when it is free (after removing dead records), else a description. */
function liveHolder(dir: string): string | null {
  const lockPath = path.join(dir, LOCK);
  const st = lstatOrNull(lockPath);
  if (!st) return null;
  if (st.isSymbolicLink()) throw symlinkRefused(lockPath);
  if (st.isFile()) {
    // An older vkexec's lock file: "pid what". Dead, empty or torn: unlink (fails if it became a directory).
    let text = '';
    try {
      text = fs.readFileSync(lockPath, 'utf8');
    } catch {
      return null;
    }
    const m = /^([1-9][0-9]*) (.+)\n$/.exec(text); // complete only with its newline: else torn
    if (m && processAlive(Number(m[1]))) return text.trim();
    unlinkIfThere(lockPath);
    return null;
  }
  if (!st.isDirectory()) throw symlinkRefused(lockPath);
  let names: string[];
  try {
    names = fs.readdirSync(lockPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null; // released meanwhile
    throw e;
  }
  for (const name of names) {
    const m = RECORD.exec(name);
    const entry = path.join(lockPath, name);
    if (m && holderAlive(Number(m[1]), m[2]!)) {
      let what = 'another command';
      try {
        const fd = fs.openSync(entry, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
        try {
          what = fs.readFileSync(fd, 'utf8').trim() || what;
        } finally {
          fs.closeSync(fd);
        }
      } catch {
        /* released meanwhile */
      }
      return `pid ${m[1]} (${what})`;
    }
    // Dead holder, or a name that is no record (torn, foreign): removed by exact name, never a live record.
    if (lstatOrNull(entry)?.isDirectory()) {
      throw new KexecError('EBUSY', 'kexec_trylock', `${entry} is a directory vkexec did not make, so the lock cannot be taken`, { hint: `remove it (rmdir ${entry})` });
    }
    unlinkIfThere(entry);
  }
  return null;
}

/** writeFileAtomic's temporary (store.ts): `machine.json.<pid>.<8 hex>.tmp`. */
const STATE_TEMP = /^machine\.json\.([1-9][0-9]{0,9})\.[0-9a-f]{8}\.tmp$/;

/**
 * Removes what dead processes left beside the lock: candidate directories (a take that crashed before its
 * rename) and machine.json temporaries (a state write killed before its rename: SIGKILL leaves one each time,
 * and nothing else ever removes it). Called by the holder; only exact vkexec names, never a link, and never a
 * live process's (a pid in use counts as alive, so a reused pid only keeps a temporary longer).
 */
function sweepLeftovers(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    if (name.startsWith(CANDIDATE)) {
      const m = RECORD.exec(name.slice(CANDIDATE.length));
      if (!m || holderAlive(Number(m[1]), m[2]!)) continue;
      if (lstatOrNull(p)?.isDirectory()) fs.rmSync(p, { recursive: true, force: true });
      continue;
    }
    const t = STATE_TEMP.exec(name);
    if (t && !ownerAlive(Number(t[1])) && lstatOrNull(p)?.isFile()) unlinkIfThere(p);
  }
}

function makeCandidate(dir: string, name: string, what: string): string {
  const cand = path.join(dir, CANDIDATE + name);
  fs.mkdirSync(cand, { mode: 0o755 });
  try {
    const fd = fs.openSync(path.join(cand, name), 'wx', 0o644);
    try {
      fs.writeSync(fd, `${what}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    fs.rmSync(cand, { recursive: true, force: true });
    throw withPath(e, path.join(cand, name));
  }
  return cand;
}

/** rename(2) onto lock/: true when it was missing or empty (we hold it), false when someone holds it. */
function swapIn(cand: string, lockPath: string): boolean {
  try {
    fs.renameSync(cand, lockPath);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') return false;
    throw e;
  }
}

/** N random bytes in hex: node:crypto is loaded here, by a writer, not by every reader of the state (vkexec -S). */
const randomHex = (n: number): string => (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).randomBytes(n).toString('hex');

/** kexec_trylock: see the design and the safety argument at the top of this file. */
export function tryLock(dir: string, what: string): HeldLock {
  const lockPath = path.join(dir, LOCK);
  const name = `${process.pid}.${processStart('self')}.${randomHex(8)}`;
  const cand = makeCandidate(dir, name, what);
  try {
    for (let attempt = 0; attempt < 4; attempt++) {
      const holder = liveHolder(dir);
      if (holder) throw busy(dir, holder);
      if (swapIn(cand, lockPath)) {
        try {
          sweepLeftovers(dir);
        } catch {
          /* best effort */
        }
        return { release: () => releaseLock(lockPath, name) };
      }
    }
    throw busy(dir, 'another command');
  } finally {
    fs.rmSync(cand, { recursive: true, force: true });
  }
}

function releaseLock(lockPath: string, name: string): void {
  unlinkIfThere(path.join(lockPath, name));
  try {
    fs.rmdirSync(lockPath);
  } catch {
    /* a later holder's lock (not empty), or already gone */
  }
}
