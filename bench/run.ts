// Benchmarks (not tests): wall time and peak memory of `vkexec -c -l` with a real 8 MB kernel and a 200 MB
// initrd, and start-up time of `vkexec -S`. Figures are printed, never asserted.
//   node dist/bench/run.js [--kernel FILE] [--initrd-mb 200] [--runs 3]

import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, FIXTURE_CACHE, median, opt } from './common.js';

const kernel = opt('--kernel', join(FIXTURE_CACHE, 'vmlinuz-amd64-unsigned'));
const initrdMb = Number(opt('--initrd-mb', '200'));
const runs = Number(opt('--runs', '3'));

if (!existsSync(kernel)) {
  console.error(`bench: kernel ${kernel} missing: run node test/setup/fixtures.mjs or pass --kernel`);
  process.exit(2);
}

async function makeInitrd(path: string, mb: number): Promise<void> {
  const out = createWriteStream(path);
  for (let i = 0; i < mb; i++) {
    if (!out.write(randomBytes(1 << 20))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
}

interface Measure {
  wallMs: number;
  cpuMs: number;
  maxRssKb: number;
  code: number;
}

/** Runs a command under GNU time for peak RSS; wall from our clock. */
function measure(argv: string[], env: NodeJS.ProcessEnv): Measure {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, BIN, ...argv], { env, encoding: 'utf8' });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const last = r.stderr.trim().split('\n').pop() ?? '';
  const [, u, s, m] = last.split(' ').map(Number);
  if (r.status !== 0) console.error(r.stderr);
  return { wallMs, cpuMs: ((u ?? 0) + (s ?? 0)) * 1000, maxRssKb: m ?? 0, code: r.status ?? -1 };
}


const dir = mkdtempSync(join(tmpdir(), 'vkexec-bench-'));
try {
  if (!existsSync('/usr/bin/time')) throw new Error('bench needs GNU time (apt-get install time)');
  const initrd = join(dir, 'initrd.img');
  await makeInitrd(initrd, initrdMb);
  const machine = join(dir, 'machine');
  const env = { ...process.env, VKEXEC_MACHINE: machine, NO_COLOR: '1' };
  spawnSync(process.execPath, [BIN, 'machine', 'init', '--mem', '2G'], { env });
  console.log(`kernel ${kernel} (${statSync(kernel).size} bytes), initrd ${initrdMb} MiB, machine 2 GiB`);
  const loads: Measure[] = [];
  for (let i = 0; i < runs; i++) {
    spawnSync(process.execPath, [BIN, '-u'], { env });
    loads.push(measure(['-c', '-l', kernel, '--initrd', initrd, '--append', 'console=ttyS0'], env));
  }
  const fileLoads: Measure[] = [];
  for (let i = 0; i < runs; i++) {
    spawnSync(process.execPath, [BIN, '-u'], { env });
    fileLoads.push(measure(['-s', '-l', kernel, '--initrd', initrd, '--append', 'console=ttyS0'], env));
  }
  const status: Measure[] = [];
  for (let i = 0; i < 11; i++) status.push(measure(['-S'], env));
  const bare: Measure[] = [];
  for (let i = 0; i < 11; i++) {
    const t0 = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0']);
    bare.push({ wallMs: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: 0, maxRssKb: 0, code: 0 });
  }
  const row = (name: string, ms: Measure[]) =>
    console.log(`${name.padEnd(26)} wall median ${median(ms.map((m) => m.wallMs)).toFixed(0)} ms, cpu median ${median(ms.map((m) => m.cpuMs)).toFixed(0)} ms, peak RSS max ${(Math.max(...ms.map((m) => m.maxRssKb)) / 1024).toFixed(1)} MiB, exit ${ms.map((m) => m.code).join(',')}`);
  row(`vkexec -c -l (${initrdMb} MB rd)`, loads);
  row(`vkexec -s -l (${initrdMb} MB rd)`, fileLoads);
  row('vkexec -S', status);
  console.log(`${'node -e 0 (baseline)'.padEnd(26)} wall median ${median(bare.map((m) => m.wallMs)).toFixed(0)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
