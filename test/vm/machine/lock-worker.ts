// A stress worker for lock-stress.test.ts: takes the machine lock again and again; while it holds it, it
// claims a marker file with O_EXCL. Finding the marker of a LIVE other holder proves two holders (exit 3).
// Prints "<acquired> <busy>" at the end. Killed with SIGKILL at random points by the test.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { tryLock, processAlive } from '../../../src/vm/machine/lock.js';

const [dir, itersText] = process.argv.slice(2);
const marker = path.join(dir!, 'holder-marker');
let acquired = 0;
let busy = 0;

function spin(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    /* hold the lock for a while */
  }
}

function claimMarker(): void {
  for (;;) {
    try {
      fs.writeFileSync(marker, String(process.pid), { flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const other = Number(fs.readFileSync(marker, 'utf8'));
    if (other && processAlive(other)) {
      process.stdout.write(`TWO HOLDERS: ${process.pid} and ${other}\n`);
      process.exit(3);
    }
    fs.rmSync(marker, { force: true }); // left by a holder killed with -9 (the lock is ours now)
  }
}

for (let i = 0; i < Number(itersText); i++) {
  let lock;
  try {
    lock = tryLock(dir!, 'stress');
  } catch (e) {
    if ((e as { errno?: string }).errno !== 'EBUSY') throw e;
    busy++;
    continue;
  }
  claimMarker();
  acquired++;
  spin(Math.random() * 3);
  fs.rmSync(marker);
  lock.release();
}
process.stdout.write(`${acquired} ${busy}\n`);
