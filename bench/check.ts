// Benchmark (not a test): the full `vkexec check` of one package (default: Debian's signed amd64 .deb from the
// fixtures) with --jobs 2: wall time, each case's time, the reading of the package, and peak memory: vkexec's
// own (VmHWM of its process) and the whole process tree's (vkexec plus its QEMU guests, RSS sampled every
// 200 ms from /proc). Figures are printed, never asserted.
//   node dist/bench/check.js [--input FILE] [--jobs 2]
// Measured (2026-12-06, 2 cores shared with other sessions; linux-image-6.1.0-57-amd64):
//   load average ~35, package read on a worker thread: wall 34.1 s: reading the .deb 18.3 s, then boot 11.3 s
//   and kdump 14.5 s in parallel, loads 0.2-0.3 s each; peak 621 MiB in vkexec (VmHWM), 611 MiB with QEMU.
//   load average 48, read on the main thread: wall 102.9 s: reading 59.7 s, boot 33.0 s, kdump 39.1 s;
//   peak 554 MiB in vkexec, 546 MiB with QEMU (sampled).
// After the streaming read (data.tar.xz block by block, 2026-12-06 15:33, load ~30): reading 41.8 s, peak
//   339 MiB in vkexec (VmHWM), against 621 MiB for the whole-data.tar read in the same conditions (36.9 s).
//   (boot and kdump failed at once in both runs, on main too: the System.map placeholder refusal.)

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, FIXTURE_CACHE, opt } from './common.js';

const input = opt('--input', join(FIXTURE_CACHE, 'linux-image-amd64.deb'));
const jobs = opt('--jobs', '2');
if (!existsSync(input)) {
  console.error(`bench: ${input} missing: run node test/setup/fixtures.mjs or pass --input`);
  process.exit(2);
}

const kib = (status: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
const read = (f: string) => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

/** The pid and all its descendants (through /proc/PID/task/TID/children). */
function tree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    out.push(...read(`/proc/${p}/task/${p}/children`).split(/\s+/).filter(Boolean).map(Number));
  }
  return out;
}

const t0 = Date.now();
const child = spawn(process.execPath, [BIN, '--json', 'check', input, '--jobs', jobs], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NO_COLOR: '1' } });
let stdout = '';
child.stdout.on('data', (d) => (stdout += d));
let ownPeak = 0;
let treePeak = 0;
const timer = setInterval(() => {
  ownPeak = Math.max(ownPeak, kib(read(`/proc/${child.pid}/status`), 'VmHWM'));
  treePeak = Math.max(treePeak, tree(child.pid!).reduce((a, p) => a + kib(read(`/proc/${p}/status`), 'VmRSS'), 0));
}, 200);
child.on('close', (code) => {
  clearInterval(timer);
  const wall = (Date.now() - t0) / 1000;
  const res = JSON.parse(stdout) as { summary: { passed: number; failed: number; skipped: number }; inputs: { kind: string; readMs: number }[]; cases: { check: string; outcome: string; durationMs: number }[] };
  console.log(`vkexec check ${input} --jobs ${jobs}: exit ${code}, ${res.summary.passed} passed, ${res.summary.failed} failed, ${res.summary.skipped} skipped`);
  console.log(`  wall time          ${wall.toFixed(1)} s`);
  for (const i of res.inputs) console.log(`  reading the ${i.kind.padEnd(8)} ${(i.readMs / 1000).toFixed(1).padStart(6)} s`);
  for (const c of res.cases) console.log(`  ${c.check.padEnd(18)} ${(c.durationMs / 1000).toFixed(1).padStart(6)} s  ${c.outcome}`);
  console.log(`  peak memory        vkexec ${(ownPeak / 1024).toFixed(0)} MiB (VmHWM), vkexec + QEMU guests ${(treePeak / 1024).toFixed(0)} MiB (sampled RSS)`);
});
