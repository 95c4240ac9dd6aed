// A test observer preloaded into real vkexec commands by load-stress-run.ts (node --import THIS bin/vkexec.js):
// it proves "never two holders" from outside the lock's own code. It wraps the fs calls the lock makes
// (src/vm/machine/lock.ts): the rename of a candidate `lock.new.<name>` onto `lock` is a take, the unlink of
// `lock/<our pid>.*` the start of a release. While it holds the lock, the process claims a marker file (outside
// the machine directory, VKEXEC_LOCK_AUDIT_MARKER) with O_EXCL; a marker of a LIVE other process means two
// holders, which is appended to VKEXEC_LOCK_AUDIT_LOG. A marker of a dead process is one a holder killed with
// SIGKILL left: it is taken over. With VKEXEC_LOCK_AUDIT_FD set, "taken" is written to that descriptor after a
// take, so the runner can kill a holder while it holds the lock. Nothing of vkexec's behaviour changes.

import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as path from 'node:path';

const marker = process.env.VKEXEC_LOCK_AUDIT_MARKER;
const log = process.env.VKEXEC_LOCK_AUDIT_LOG;
const notifyFd = process.env.VKEXEC_LOCK_AUDIT_FD ? Number(process.env.VKEXEC_LOCK_AUDIT_FD) : null;

/** `<pid> <start time>`: a pid reused by a later process is not the same holder. */
function identity(pid: number | 'self'): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${pid === 'self' ? process.pid : pid} ${fields[19]}`;
  } catch {
    return null; // gone
  }
}

const self = identity('self');
let ownMarker = false;

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function claim(m: string, logFile: string): void {
  for (let tries = 0; tries < 100; tries++) {
    try {
      fs.writeFileSync(m, `${self}\n`, { flag: 'wx' });
      ownMarker = true;
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let other = '';
    try {
      other = fs.readFileSync(m, 'utf8');
    } catch {
      continue; // removed meanwhile
    }
    if (!other.endsWith('\n')) {
      sleepMs(20); // being written; or torn by a SIGKILL between open and write: then stale after the wait
      if (fs.existsSync(m) && fs.readFileSync(m, 'utf8') === other) fs.rmSync(m, { force: true });
      continue;
    }
    const [pid] = other.trim().split(' ');
    if (identity(Number(pid)) === other.trim()) {
      fs.appendFileSync(logFile, `TWO HOLDERS: ${self} took the lock while ${other.trim()} holds it\n`);
      return;
    }
    fs.rmSync(m, { force: true }); // left by a holder killed with SIGKILL
  }
}

if (marker && log && self) {
  const rename = fs.renameSync;
  const unlink = fs.unlinkSync;
  fs.renameSync = (from: fs.PathLike, to: fs.PathLike): void => {
    rename(from, to);
    if (path.basename(String(to)) === 'lock' && path.basename(String(from)).startsWith('lock.new.')) {
      claim(marker, log);
      if (notifyFd !== null) fs.writeSync(notifyFd, 'taken\n');
    }
  };
  fs.unlinkSync = (p: fs.PathLike): void => {
    const s = String(p);
    if (ownMarker && path.basename(path.dirname(s)) === 'lock' && path.basename(s).startsWith(`${process.pid}.`)) {
      fs.rmSync(marker, { force: true });
      ownMarker = false;
    }
    unlink(p);
  };
  syncBuiltinESMExports();
}
