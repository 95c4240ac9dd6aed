// The lock file in the machine directory that plays the kernel's kexec_lock (kernel/kexec_core.c):
// kexec_trylock is non-blocking, so contention is EBUSY, never a wait.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { KexecError } from '../../errno.js';

const LOCK_FILE = 'lock';

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

export interface HeldLock {
  release(): void;
}

/** kexec_trylock: the lock file names its holder; a dead holder's lock is stale and removed. */
export function tryLock(dir: string, what: string): HeldLock {
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      fs.writeSync(fd, `${process.pid} ${what}\n`);
      fs.closeSync(fd);
      return {
        release: () => {
          fs.rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = '';
      try {
        holder = fs.readFileSync(file, 'utf8').trim();
      } catch {
        continue; // released between our open and read: try again
      }
      const pid = Number(holder.split(' ')[0]);
      if (holder !== '' && !processAlive(pid)) {
        // A holder that died cannot release; its lock is stale. Rename first so two cleaners cannot both win.
        const stale = `${file}.stale.${process.pid}`;
        try {
          fs.renameSync(file, stale);
          fs.rmSync(stale, { force: true });
        } catch {
          /* another process cleaned it */
        }
        continue;
      }
      throw new KexecError('EBUSY', 'kexec_trylock', `the machine at ${dir} is busy: ${holder || 'another command'} holds its kexec lock`, {
        hint: 'wait for the other vkexec command to finish, then run this one again',
      });
    }
  }
  throw new KexecError('EBUSY', 'kexec_trylock', `the machine at ${dir} is busy`, { hint: 'run the command again' });
}
