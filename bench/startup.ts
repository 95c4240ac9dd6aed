// Benchmark (not a test): start-up of the command line. Wall time of `vkexec -S`, `vkexec -S -p`,
// `vkexec machine show` and `vkexec --version` against a bare `node -e 0`, runs alternating (node, -S, -S -p,
// show, --version, node, ...) so that load from other processes hits every side alike; medians and ratios. Then
// the same rounds again, each process reporting its own CPU time (user+sys, process.cpuUsage at exit, from a
// --require preload that every side gets), which other processes disturb far less than wall time. Also the ES
// modules each command loads, by import() or require(), as NODE_DEBUG=esm names them. Figures are printed,
// never asserted.
// With --also BIN (another checkout's bin/vkexec.js, e.g. the commit before a change) its commands run too.
//   node dist/bench/startup.js [--runs 20] [--also BIN]
//
// Measured 2026-12-06 20:13 UTC (2 vCPUs, load average 0.8), 30 runs, --also the build of 66e6b0e (ESM
// launcher, every module imported): -S 1.32x wall, 1.31x CPU (before 1.44x, 1.48x); -S -p 1.30x (1.43x);
// machine show 1.58x (1.73x); --version 1.20x (1.44x). README.md ("Start-up") has the table.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, median, opt } from './common.js';

const runs = Number(opt('--runs', '20'));
const also = opt('--also', '');
const dir = mkdtempSync(join(tmpdir(), 'vkexec-bench-startup-'));
const env = { ...process.env, VKEXEC_MACHINE: join(dir, 'machine') };
const cpuProbe = join(dir, 'cpu.cjs');
writeFileSync(cpuProbe, "process.on('exit', () => { const u = process.cpuUsage(); process._rawDebug('CPU-MS ' + (u.user + u.system) / 1000); });\n");

function run(argv: string[], extraEnv: NodeJS.ProcessEnv = env): { ms: number; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { env: extraEnv, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, stderr: r.stderr };
}

/** The CPU time (ms) `node ARGS` reports for itself at exit. */
function cpuMs(argv: string[]): number {
  const r = run([argv[0]!, '--require', cpuProbe, ...argv.slice(1)]);
  const m = /^CPU-MS ([\d.]+)$/m.exec(r.stderr);
  if (!m) throw new Error(`${argv.join(' ')} reported no CPU time: ${r.stderr}`);
  return Number(m[1]);
}

/** How many ES modules `vkexec ARGS` loads (each file once, whether by import() or require()). */
function moduleCount(bin: string, args: string[]): number {
  const r = run([process.execPath, bin, ...args], { ...env, NODE_DEBUG: 'esm' });
  const urls = new Set(r.stderr.split('\n').map((l) => /^ESM \d+: Storing (\S+) /.exec(l)?.[1]).filter((u) => u !== undefined && !u.endsWith('/bin/vkexec.js')));
  return urls.size;
}

try {
  run([process.execPath, BIN, 'machine', 'init']);
  const commands = [['-S'], ['-S', '-p'], ['machine', 'show'], ['--version']];
  const sides: [string, string[]][] = [['node -e 0', [process.execPath, '-e', '0']]];
  for (const bin of also ? [BIN, also] : [BIN]) {
    for (const c of commands) sides.push([`vkexec ${c.join(' ')}${bin === BIN ? '' : ` (${bin})`}`, [process.execPath, bin, ...c]]);
  }
  const ms: number[][] = sides.map(() => []);
  const cpu: number[][] = sides.map(() => []);
  for (let i = 0; i < runs; i++) for (const [k, [, argv]] of sides.entries()) ms[k]!.push(run(argv).ms);
  for (let i = 0; i < runs; i++) for (const [k, [, argv]] of sides.entries()) cpu[k]!.push(cpuMs(argv));
  const [base, baseCpu] = [median(ms[0]!), median(cpu[0]!)];
  console.log(`start-up, ${runs} alternating runs each (wall, then CPU), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log('| command | wall | ratio | CPU | ratio | ES modules |\n| --- | --- | --- | --- | --- | --- |');
  for (const [k, [name, argv]] of sides.entries()) {
    const mods = k === 0 ? '' : String(moduleCount(argv[1]!, argv.slice(2)));
    const [w, c] = [median(ms[k]!), median(cpu[k]!)];
    const ratio = (x: number, b: number) => (k === 0 ? 'reference' : `${(x / b).toFixed(2)}x`);
    console.log(`| ${name} | ${w.toFixed(0)} ms | ${ratio(w, base)} | ${c.toFixed(0)} ms | ${ratio(c, baseCpu)} | ${mods} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
