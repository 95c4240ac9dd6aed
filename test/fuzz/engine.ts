// Seeded mutation and one class's run inside a worker thread: mutation i of class C under seed S is the same
// bytes on every machine (xorshift seeded from S, C and i), so any failure replays alone.

import { parentPort, workerData } from 'node:worker_threads';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { CLASSES, type FuzzClass } from './classes.js';

function rng(seed: number, cls: string, i: number): () => number {
  let x = (seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  for (const ch of cls) x = (Math.imul(x ^ ch.charCodeAt(0), 0x85ebca6b) + 0x6b) >>> 0;
  if (x === 0) x = 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x30, 0x81, 0x82, 0x84, 0xf9, 0x20, 0x0a, 0x2d, 0x3a, 0x40];

/** 1 to 8 changes: bit flips, interesting bytes, 32-bit extremes, cuts, duplicated runs. */
export function mutate(base: Uint8Array, seed: number, cls: FuzzClass, i: number): Uint8Array {
  const r = rng(seed, cls.name, i);
  let out = new Uint8Array(base);
  const n = 1 + Math.floor(r() * 8);
  for (let k = 0; k < n && out.length > 0; k++) {
    const at = Math.floor(r() * out.length);
    const op = r();
    if (op < 0.35) out[at] = out[at]! ^ (1 << Math.floor(r() * 8));
    else if (op < 0.6) out[at] = cls.text && r() < 0.5 ? 0x30 + Math.floor(r() * 10) : INTERESTING[Math.floor(r() * INTERESTING.length)]!;
    else if (op < 0.75) {
      const v = [0xffffffff, 0x80000000, 0xfffffff9, 0x7fffffff, 0][Math.floor(r() * 5)]!;
      for (let b = 0; b < 4 && at + b < out.length; b++) out[at + b] = (v >>> (8 * b)) & 0xff;
    } else if (op < 0.85) out[at] = Math.floor(r() * 256);
    else if (op < 0.93) out = out.subarray(0, at);
    else {
      const len = Math.min(64, out.length - at);
      const copy = new Uint8Array(out.length + len);
      copy.set(out.subarray(0, at + len));
      copy.set(out.subarray(at, at + len), at + len);
      copy.set(out.subarray(at + len), at + 2 * len);
      out = copy;
    }
  }
  return out;
}

const CRASH_NAMES = new Set(['Error', 'TypeError', 'RangeError', 'ReferenceError', 'EvalError', 'URIError']);

/** Whether a thrown value is a crash rather than a parser's own refusal. */
export function isCrash(e: unknown): boolean {
  if (!(e instanceof Error)) return true;
  return CRASH_NAMES.has(e.constructor.name) || e.constructor === SyntaxError;
}

export interface WorkerJob {
  cls: string;
  seed: number;
  from: number;
  to: number;
  progress: SharedArrayBuffer;
  /** A saved input to run once instead of the mutations (a regression input, or a replay of a saved failure). */
  input?: Uint8Array;
}

/**
 * The worker's 256 MB heap limit does not cover ArrayBuffers (decoder outputs). Memory a mutation leaves is
 * released only when the worker's event loop turns (zlib handles are closed and ArrayBuffer backing stores freed
 * by tasks on it): a loop of 100,000 mutations that never returned to the event loop kept every output alive
 * (arrayBuffers grew by about 15 KB a mutation), and once they passed 64 MB the old code ran a full gc() after
 * EVERY mutation (150-200 ms each, as the count could not drop until the loop turned): the gzip, zstd and
 * detect-compression classes of a 100,000 run took hours at 634 MB RSS. So the loop yields to the event loop
 * every TURN_EVERY mutations, and collects (then yields again) only when the buffers alive still pass
 * EXTERNAL_GC_BYTES after a turn; the process's peak RSS then measures what one mutation needs (the memory bar).
 */
const TURN_EVERY = 64;
const EXTERNAL_GC_BYTES = 64 << 20;
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** Full collections the worker had to force (reported with `done`: a storm of them was the old slowness). */
let collections = 0;

/** Lets the event loop free what earlier mutations left; a full collection only when that was not enough. */
async function release(i: number): Promise<void> {
  if (i % TURN_EVERY !== 0 && process.memoryUsage().arrayBuffers <= EXTERNAL_GC_BYTES) return;
  await turn();
  if (process.memoryUsage().arrayBuffers <= EXTERNAL_GC_BYTES) return;
  gc();
  collections++;
  await turn();
}

async function runJob(job: WorkerJob): Promise<void> {
  const cls = CLASSES.find((c) => c.name === job.cls)!;
  const base = job.input ? new Uint8Array(0) : cls.base();
  const progress = new Int32Array(job.progress);
  parentPort!.postMessage({ kind: 'ready' });
  for (let i = job.from; i < job.to; i++) {
    Atomics.store(progress, 0, i);
    const input = job.input ?? mutate(base, job.seed, cls, i);
    try {
      cls.run(input);
    } catch (e) {
      if (isCrash(e)) {
        const message = `${(e as Error)?.constructor?.name}: ${(e as Error)?.message ?? String(e)}`;
        parentPort!.postMessage({ kind: 'crash', index: i, message, input: input.length <= 1 << 20 ? Buffer.from(input).toString('base64') : null });
      }
    }
    await release(i + 1);
  }
  Atomics.store(progress, 0, job.to);
  parentPort!.postMessage({ kind: 'done', collections });
}

if (parentPort && workerData) await runJob(workerData as WorkerJob);
