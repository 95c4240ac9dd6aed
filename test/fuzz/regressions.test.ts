// Every failure the fuzz runner or a hand attack ever found, kept as a saved input in test/fuzz/regressions
// (named CLASS--WHAT.bin: the class whose parser it is fed to, as `npm run fuzz` feeds it) and run by the suite
// in a worker under the runner's limits (no crash, 10 s, 256 MB heap). The whole-kernel forms of the issue-11
// certificate table inputs also go through `vkexec inspect` as a user would run it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLASSES } from './classes.js';
import { fuzzClass, type Failure } from './fuzz.js';
import { fixture } from '../helpers/fixtures.js';
import { ROOT, tempDir, vkexec } from '../helpers/cli.js';

const DIR = path.join(ROOT, 'test', 'fuzz', 'regressions');
const saved = fs.readdirSync(DIR).filter((f) => f.endsWith('.bin')).sort();

test('the saved regression inputs are there, each named after a fuzz class', () => {
  assert.ok(saved.length >= 3, `only ${saved.length} inputs in ${DIR}`);
  for (const f of saved) assert.ok(CLASSES.some((c) => f.startsWith(`${c.name}--`)), `${f}: no class ${f.split('--')[0]}`);
});

for (const f of saved) {
  const cls = f.split('--')[0]!;
  test(`regression ${f}: no crash, hang over 10 s or heap over 256 MB`, { timeout: 120_000 }, async () => {
    const failures: Failure[] = [];
    await fuzzClass(cls, 0, 0, 1, 10_000, failures, new Uint8Array(fs.readFileSync(path.join(DIR, f))));
    assert.deepEqual(failures.map((x) => `${x.kind}: ${x.message} (replay: node dist/test/fuzz/fuzz.js --class ${cls} --replay test/fuzz/regressions/${f})`), []);
  });
}

test('vkexec inspect on the signed kernel whose WIN_CERTIFICATE length is 0xfffffff9 or 0x80000000: the problem named, no loop, no crash', { timeout: 300_000 }, () => {
  const work = tempDir('vkexec-regress-');
  try {
    const img = fs.readFileSync(fixture('vmlinuz-amd64'));
    const certAt = img.readUInt32LE(img.readUInt32LE(0x3c) + 24 + 112 + 4 * 8);
    for (const len of [0xfffffff9, 0x80000000]) {
      const file = path.join(work, `len-${len.toString(16)}`);
      const bad = Buffer.from(img);
      bad.writeUInt32LE(len, certAt);
      fs.writeFileSync(file, bad);
      const r = vkexec(null, ['inspect', file]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /internal error|    at /);
      assert.match(r.stdout, new RegExp(`WIN_CERTIFICATE length 0x${len.toString(16)} runs past the end of the certificate table`));
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
