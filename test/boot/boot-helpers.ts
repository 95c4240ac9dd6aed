// Shared by the test/boot suites: temporary directories removed after the file's tests, the exit-0 check with
// the output that explains a failure, and the QEMU presence check (a missing QEMU fails loudly, never skips).

import { after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tempDir, type Run } from '../helpers/cli.js';

/** A function making temporary directories that are removed once the calling test file has finished. */
export function scratchDirs(prefix: string): () => string {
  const made: string[] = [];
  after(() => {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = tempDir(prefix);
    made.push(d);
    return d;
  };
}

export function ok(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n--- stderr\n${r.stderr}\n--- stdout (tail)\n${r.stdout.slice(-4000)}`);
}

export function requireQemu(): void {
  const q = spawnSync('qemu-system-x86_64', ['-version'], { encoding: 'utf8' });
  assert.ok(!q.error && /QEMU emulator version/.test(q.stdout), 'qemu-system-x86_64 is needed for these tests: apt-get install qemu-system-x86');
}
