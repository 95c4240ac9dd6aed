// `vkexec machine destroy`: removes what vkexec created in a machine directory and nothing else. A directory
// whose machine.json is not a regular file, or is not vkexec's (version 1 with a config) while other files
// sit beside it, is refused; files vkexec did not create are kept, and then so is the directory.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errno.js';
import { tryLock } from '../vm/machine/lock.js';
import { STATE_FILE, isBlobName } from '../vm/machine/store.js';
import { safeText, type Out } from './output.js';

/** Names vkexec writes at the top of a machine directory (state, its temporaries, the lock and candidates). */
const OURS = /^(machine\.json|machine\.json\.[0-9]+\.[0-9a-f]{8}\.tmp|lock|lock\.new\.[0-9]+\.[0-9]+\.[0-9a-f]{16}|blobs)$/;
const BLOB_TEMP = /^\.in\.[0-9]+\.[0-9a-f]{8}$/;

function looksLikeMachine(file: string): boolean {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: unknown; config?: unknown };
    return v?.version === 1 && typeof v.config === 'object' && v.config !== null;
  } catch {
    return false;
  }
}

/** Removes blobs/ entries vkexec writes (regular files with blob or temporary names), then blobs/ if empty. */
function removeBlobs(blobs: string): void {
  const st = fs.lstatSync(blobs, { throwIfNoEntry: false });
  if (!st?.isDirectory()) return; // a link or a file named blobs is not ours: kept
  for (const name of fs.readdirSync(blobs)) {
    const p = path.join(blobs, name);
    if ((isBlobName(name) || BLOB_TEMP.test(name)) && fs.lstatSync(p).isFile()) fs.unlinkSync(p);
  }
  rmdirIfEmpty(blobs);
}

function rmdirIfEmpty(d: string): boolean {
  try {
    fs.rmdirSync(d);
    return true;
  } catch (e) {
    if (['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes((e as NodeJS.ErrnoException).code ?? '')) return false;
    throw e;
  }
}

/** machine destroy: returns the names it kept (files vkexec did not create). */
export function destroyMachine(dir: string): string[] {
  const state = path.join(dir, STATE_FILE);
  const st = fs.lstatSync(state, { throwIfNoEntry: false });
  if (!st) throw new UsageError(`no machine at ${dir} (${STATE_FILE} missing): nothing deleted`, { hint: 'name the machine directory with --machine DIR' });
  if (!st.isFile()) throw new UsageError(`${state} is not a regular file: ${dir} is not a machine vkexec made; nothing deleted`, { hint: 'remove the directory by hand if it is yours' });
  const foreign = fs.readdirSync(dir).filter((n) => !OURS.test(n));
  if (foreign.length > 0 && !looksLikeMachine(state)) {
    throw new UsageError(`${dir} holds ${STATE_FILE} that is not a vkexec machine, beside other files (${foreign.slice(0, 3).join(', ')}): nothing deleted`, {
      hint: 'check the directory; remove it by hand if it really is a machine',
    });
  }
  const lock = tryLock(dir, 'machine destroy');
  try {
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name);
      if (name === 'blobs') removeBlobs(p);
      else if (OURS.test(name) && name !== 'lock' && !name.startsWith('lock.new.') && fs.lstatSync(p).isFile()) fs.unlinkSync(p);
    }
  } finally {
    lock.release();
  }
  if (!rmdirIfEmpty(dir)) return fs.readdirSync(dir);
  return [];
}

export function reportDestroy(dir: string, kept: string[], out: Out, json: boolean): void {
  if (json) return out.emitJson({ destroyed: dir, kept });
  if (kept.length === 0) return out.line(safeText(`destroyed ${dir}`));
  out.line(safeText(`destroyed the machine in ${dir}; kept the directory: it holds files vkexec did not create (${kept.slice(0, 5).join(', ')})`));
}
