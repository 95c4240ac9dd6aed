#!/usr/bin/env node
// Runs every compiled *.test.js under dist/test with node's test runner (helpers there are not tests).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'test');
const files = [];
const walk = (d) => {
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
};
walk(root);
if (files.length === 0) {
  console.error('test/run.mjs: no compiled tests under dist/test (did tsc run?)');
  process.exit(1);
}
const only = process.argv.slice(2);
const chosen = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
// Every temporary file of the run (the tests' own, vkexec's, QEMU's) goes under one directory, removed at the end.
// What vkexec itself leaves there (its run directories: vkexec-boot-*, vkexec-qemu-*, vkexec-kdump-size-*, vkexec-check-*) is
// a leak in vkexec and fails the run.
const runTmp = mkdtempSync(join(tmpdir(), 'vkexec-test-run-'));
// An interrupted run (Ctrl-C, SIGTERM) passes the signal to the test runner's whole process group (its per-file
// test processes included) and still removes runTmp once they have ended.
let interrupted = null;
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...chosen], { stdio: 'inherit', env: { ...process.env, TMPDIR: runTmp }, detached: true });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    interrupted ??= sig;
    process.kill(-child.pid, sig);
  });
}
let status = await new Promise((done) => child.once('close', (code) => done(code ?? 1)));
try {
  const leaked = readdirSync(runTmp).filter((n) => /^vkexec-(boot|qemu|kdump-size|check)-/.test(n) && !n.includes('-test-'));
  if (leaked.length > 0 && !interrupted) {
    console.error(`test/run.mjs: vkexec left temporary directories behind: ${leaked.join(', ')}`);
    status ||= 1;
  }
} finally {
  rmSync(runTmp, { recursive: true, force: true });
}
process.exit(interrupted ? 128 + constants.signals[interrupted] : status);
