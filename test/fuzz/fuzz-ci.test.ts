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
