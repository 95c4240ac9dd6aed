// Host tools some tests cross-check against (binutils, gcc, QEMU, SeaBIOS): a missing one fails the test with
// what to install, unless the named opt-out variable is 1, when the test is skipped with the same loud reason.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';

export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when the test may go on; otherwise it skipped loudly (env opt-out) or the assertion fails it. Absolute paths name files. */
export function requireTools(t: TestContext, tools: string[], optOut: string, install: string): boolean {
  const missing = tools.filter((x) => (x.startsWith('/') ? !existsSync(x) : !hasTool(x)));
  if (missing.length === 0) return true;
  const msg = `CANNOT RUN: ${missing.join(', ')} missing (Debian: apt-get install -y ${install})`;
  if (process.env[optOut] === '1') {
    t.skip(`${msg}; skipped because ${optOut}=1`);
    return false;
  }
  assert.fail(`${msg}; set ${optOut}=1 to skip this test deliberately`);
}
