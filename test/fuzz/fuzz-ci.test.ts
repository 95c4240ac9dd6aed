// The short, bounded fuzz run CI does on every `npm test` (the full bar is `npm run fuzz`: 100,000 per class).
// A fixed seed, so a failure here replays with the command the runner prints.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLASSES } from './classes.js';
import { fuzzClass, type Failure } from './fuzz.js';

const SEED = 20261206;
/** Mutations per class: every class's base is small now (bases.ts), so all run the same count. */
const COUNT = 300;

test(`fuzz: every class, seed ${SEED}, no crash, hang over 10 s or heap over 256 MB`, { timeout: 1_200_000 }, async (t) => {
  const failures: Failure[] = [];
  for (const c of CLASSES) {
    const f = await fuzzClass(c.name, SEED, 0, COUNT, 10_000, failures);
    t.diagnostic(`${c.name}: ${f.mutations} mutations, ${f.crashes} crashes, ${f.hangs} hangs, ${f.memory} out of memory`);
  }
  assert.deepEqual(failures.map((f) => `${f.kind} ${f.cls} #${f.index}: ${f.message} (replay: node dist/test/fuzz/fuzz.js --seed ${SEED} --class ${f.cls} --index ${f.index})`), []);
});

// The runner's own bound: outputs a mutation leaves are freed when the worker's event loop turns (engine.ts
// release()). The old loop never turned, so from about 3,000 gzip mutations on it forced a full collection after
// nearly every mutation (27 in the first 5,000, then one per mutation: 100,000 took hours at 634 MB RSS).
test('fuzz runner: 5,000 gzip mutations need (almost) no forced collection and stay under 256 MB', { timeout: 1_200_000 }, async () => {
  const failures: Failure[] = [];
  const f = await fuzzClass('decompress-gzip', SEED, 0, 5000, 10_000, failures);
  assert.deepEqual(failures, []);
  assert.ok(f.collections <= 2, `${f.collections} forced collections in 5,000 mutations`);
  assert.ok(f.peakRssMb < 256, `peak RSS ${f.peakRssMb} MB`);
});
