// The machine lock (kexec_trylock): never two holders, dead/empty/torn holders recovered, symlinks refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tryLock } from '../../../src/vm/machine/lock.js';
import { newFigures, stressRound, SEEDS } from './lock-stress-lib.js';

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vkexec-lock-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('a held lock answers EBUSY naming the holder; release frees it and leaves nothing', (t) => {
  const d = tmp(t);
  const held = tryLock(d, 'kexec_load');
  assert.throws(() => tryLock(d, 'kexec_file_load'), (e: Error & { errno?: string }) => e.errno === 'EBUSY' && /pid \d+ \(kexec_load\)/.test(e.message));
  held.release();
  assert.deepEqual(fs.readdirSync(d), []);
  tryLock(d, 'again').release();
});

test('every stale state is recovered by the next command', (t) => {
  for (const [name, seed] of Object.entries(SEEDS)) {
    const d = tmp(t);
    seed(d);
    tryLock(d, 'after').release();
    assert.deepEqual(fs.readdirSync(d), [], `${name}: nothing left`);
  }
});

test('a live legacy lock file still answers EBUSY', (t) => {
  const d = tmp(t);
  fs.writeFileSync(path.join(d, 'lock'), `${process.pid} test\n`);
  assert.throws(() => tryLock(d, 'x'), /busy/);
});

test('a symlinked lock is refused, its target untouched', (t) => {
  const d = tmp(t);
  const outside = tmp(t);
  fs.writeFileSync(path.join(outside, 'victim'), 'keep');
  fs.symlinkSync(outside, path.join(d, 'lock'));
  assert.throws(() => tryLock(d, 'x'), (e: Error & { errno?: string; hint?: string }) => e.errno === 'ELOOP' && /symbolic link/.test(e.message) && /rm /.test(e.hint ?? ''));
  fs.rmSync(path.join(d, 'lock'));
  fs.symlinkSync(path.join(outside, 'victim'), path.join(d, 'lock'));
  assert.throws(() => tryLock(d, 'x'), /symbolic link/);
  assert.equal(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'keep');
  assert.deepEqual(fs.readdirSync(outside), ['victim']);
});

test('the holder removes machine.json temporaries of dead processes only: not a live one\'s, a link or a foreign name', (t) => {
  const d = tmp(t);
  const outside = tmp(t);
  fs.writeFileSync(path.join(outside, 'victim'), 'keep');
  const dead = 'machine.json.999999999.0123abcd.tmp'; // SIGKILL between writeFileAtomic's open and its rename
  const live = `machine.json.${process.pid}.0123abcd.tmp`;
  const link = 'machine.json.999999998.0123abcd.tmp';
  const foreign = 'machine.json.notes.tmp';
  for (const n of [dead, live, foreign]) fs.writeFileSync(path.join(d, n), '{"torn":');
  fs.symlinkSync(path.join(outside, 'victim'), path.join(d, link));
  tryLock(d, 'x').release();
  assert.deepEqual(fs.readdirSync(d).sort(), [link, live, foreign].sort());
  assert.equal(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'keep');
});

test('stress: 50 rounds of 16 concurrent takers, stale/empty/torn locks, SIGKILL at random points', { timeout: 900_000 }, async (t) => {
  const d = tmp(t);
  const f = newFigures();
  for (let round = 0; round < 50; round++) await stressRound(d, round, 16, 10, f);
  t.diagnostic(`rounds ${f.rounds}, acquisitions ${f.acquired}, EBUSY ${f.busy}, killed ${f.killed}, two holders ${f.twoHolders}, blocked after ${f.blockedAfter}`);
  assert.deepEqual(f.failures, []);
  assert.ok(f.acquired > 50 && f.killed > 50, 'the stress really ran: locks taken and holders killed');
});
