// The long lock stress run, by hand: node dist/test/vm/machine/lock-stress-run.js [rounds] [workers] [iters]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { newFigures, stressRound } from './lock-stress-lib.js';

const [rounds = 1000, workers = 16, iters = 15] = process.argv.slice(2).map(Number);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vkexec-lock-stress-'));
const f = newFigures();
try {
  for (let r = 0; r < rounds; r++) {
    await stressRound(dir, r, workers, iters, f);
    if ((r + 1) % 50 === 0) console.log(`${r + 1} rounds: acquisitions ${f.acquired}, EBUSY ${f.busy}, killed ${f.killed}, two holders ${f.twoHolders}, blocked ${f.blockedAfter}, leftovers ${f.leftovers}`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify({ ...f, failures: f.failures.slice(0, 20) }, null, 1));
process.exitCode = f.failures.length ? 1 : 0;
