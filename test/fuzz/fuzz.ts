// `npm run fuzz`: seeded, reproducible, in-process mutation fuzzing of every parser and decoder vkexec reads
// untrusted bytes with. Each class runs in a worker thread with a 256 MB heap; a mutation that takes longer
// than the time limit is a hang (the worker is stopped and the run goes on after it).
//   node dist/test/fuzz/fuzz.js [--seed N] [--count N] [--class NAME,...] [--index I] [--timeout-ms MS] [--save DIR]
//   node dist/test/fuzz/fuzz.js --class NAME --replay FILE   (one saved input, e.g. test/fuzz/regressions/*.bin)
// Prints mutations, crashes and hangs per class, the seed, and for each failure the command that replays it.

import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLASSES } from './classes.js';

const ENGINE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'engine.js');

export interface Failure {
  cls: string;
  index: number;
  kind: 'crash' | 'hang' | 'memory';
  message: string;
  input: string | null;
}

export interface ClassFigures {
  cls: string;
  mutations: number;
  crashes: number;
  hangs: number;
  memory: number;
  ms: number;
  /** The process's peak resident set while the class ran, sampled every 200 ms (MB). */
  peakRssMb: number;
  /** Full collections the workers forced (engine.ts release(): only when a turn of the event loop was not enough). */
  collections: number;
}

/** Runs mutations [from, to) of one class; restarts the worker after a hang or an out-of-memory death. */
export async function fuzzClass(cls: string, seed: number, from: number, to: number, timeoutMs: number, failures: Failure[], input?: Uint8Array): Promise<ClassFigures> {
  const fig: ClassFigures = { cls, mutations: to - from, crashes: 0, hangs: 0, memory: 0, ms: 0, peakRssMb: 0, collections: 0 };
  const t0 = Date.now();
  let next = from;
  while (next < to) {
    const progress = new SharedArrayBuffer(4);
    const view = new Int32Array(progress);
    Atomics.store(view, 0, next);
    const worker = new Worker(ENGINE, { workerData: { cls, seed, from: next, to, progress, input }, resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32 } });
    const end = await new Promise<{ kind: 'done' | 'hang' | 'memory'; at: number; message: string }>((resolve) => {
      let last = Atomics.load(view, 0);
      let since = Date.now();
      // The hang clock runs from the worker's `ready` (its base input built): building a base (reading a
      // kernel, running xz) is no mutation, and took over 10 s under load (6 false hangs at #0 to #5).
      let ready = false;
      const timer = setInterval(() => {
        fig.peakRssMb = Math.max(fig.peakRssMb, Math.round(process.memoryUsage.rss() / 2 ** 20));
        const now = Atomics.load(view, 0);
        if (now !== last) {
          last = now;
          since = Date.now();
        } else if (ready && Date.now() - since > timeoutMs) {
          clearInterval(timer);
          void worker.terminate();
          resolve({ kind: 'hang', at: now, message: `no result after ${timeoutMs} ms` });
        }
      }, 200);
      worker.on('message', (m: { kind: string; index: number; message: string; input: string | null; collections?: number }) => {
        if (m.kind === 'ready') {
          ready = true;
          since = Date.now();
        } else if (m.kind === 'crash') {
          fig.crashes++;
          failures.push({ cls, index: m.index, kind: 'crash', message: m.message, input: m.input });
        } else if (m.kind === 'done') {
          fig.collections += m.collections ?? 0;
          clearInterval(timer);
          resolve({ kind: 'done', at: to, message: '' });
        }
      });
      worker.on('error', (e) => {
        clearInterval(timer);
        if ((e as NodeJS.ErrnoException).code !== 'ERR_WORKER_OUT_OF_MEMORY') {
          // Not a mutation's fault: the class could not be set up (its base input). Stop the class.
          failures.push({ cls, index: -1, kind: 'crash', message: `class setup failed: ${(e as Error).message}`, input: null });
          fig.crashes++;
          resolve({ kind: 'done', at: to, message: '' });
          return;
        }
        resolve({ kind: 'memory', at: Atomics.load(view, 0), message: (e as Error).message });
      });
    });
    if (end.kind === 'done') break;
    if (end.kind === 'hang') fig.hangs++;
    else fig.memory++;
    failures.push({ cls, index: end.at, kind: end.kind, message: end.message, input: null });
    next = end.at + 1;
  }
  fig.ms = Date.now() - t0;
  return fig;
}

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<number> {
  const seed = Number(arg(argv, '--seed') ?? Math.floor(Math.random() * 2 ** 31));
  const count = Number(arg(argv, '--count') ?? 1000);
  const timeoutMs = Number(arg(argv, '--timeout-ms') ?? 10_000);
  const index = arg(argv, '--index');
  const save = arg(argv, '--save');
  const only = arg(argv, '--class')?.split(',');
  const replay = arg(argv, '--replay');
  if (replay) {
    const failures: Failure[] = [];
    await fuzzClass(only?.[0] ?? '', 0, 0, 1, timeoutMs, failures, new Uint8Array(fs.readFileSync(replay)));
    for (const f of failures) console.log(`FAIL ${f.kind} ${f.cls} ${replay}: ${f.message}`);
    console.log(`fuzz: ${replay}: ${failures.length ? 'FAILED' : 'no crash, hang or memory blow-up'}`);
    return failures.length ? 1 : 0;
  }
  const classes = CLASSES.map((c) => c.name).filter((n) => !only || only.includes(n));
  console.log(`fuzz: seed ${seed}, ${index !== undefined ? `mutation ${index}` : `${count} mutations`} per class, hang limit ${timeoutMs} ms, classes: ${classes.join(' ')}`);
  const failures: Failure[] = [];
  for (const cls of classes) {
    const from = index !== undefined ? Number(index) : 0;
    const f = await fuzzClass(cls, seed, from, index !== undefined ? from + 1 : count, timeoutMs, failures);
    console.log(`${cls.padEnd(20)} ${String(f.mutations).padStart(7)} mutations  ${f.crashes} crashes  ${f.hangs} hangs  ${f.memory} out of memory  ${(f.ms / 1000).toFixed(1)} s  peak RSS ${f.peakRssMb} MB  ${f.collections} forced collections`);
  }
  for (const f of failures.slice(0, 50)) {
    console.log(`FAIL ${f.kind} ${f.cls} #${f.index}: ${f.message}\n  replay: node dist/test/fuzz/fuzz.js --seed ${seed} --class ${f.cls} --index ${f.index}`);
    if (save && f.input) fs.writeFileSync(path.join(save, `${f.cls}-${seed}-${f.index}.bin`), Buffer.from(f.input, 'base64'));
  }
  console.log(`fuzz: seed ${seed}: ${failures.length} failures`);
  return failures.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) process.exitCode = await main(process.argv.slice(2));
