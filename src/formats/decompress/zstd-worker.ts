// The worker thread of zstd-bounded.ts: loads libzstd once, decodes one job at a time and hands the result back
// on its port.

import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { DecompressError } from './error.js';
import { loadLibzstd } from './libzstd.js';
import { decodeZstdDirect } from './zstd.js';

interface Job {
  input: Uint8Array;
  maxOutput: number;
  sizeHint: number;
}

const { port, flag } = workerData as { port: MessagePort; flag: SharedArrayBuffer };
const done = new Int32Array(flag);

parentPort?.on('message', (job: Job) => {
  void loadLibzstd().then(
    (z) => answer(job, z),
    (e: unknown) => reply({ kind: 'crash', name: 'Error', message: `libzstd's wasm module did not load: ${(e as Error)?.message ?? String(e)}` }, []),
  );
});

function answer(job: Job, z: Awaited<ReturnType<typeof loadLibzstd>>): void {
  try {
    const out = decodeZstdDirect(z, job.input, job.maxOutput, job.sizeHint);
    const copy = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : out.slice();
    reply({ kind: 'ok', data: copy }, [copy.buffer as ArrayBuffer]);
  } catch (e) {
    if (e instanceof DecompressError) reply({ kind: 'decompress', reason: e.reason, message: e.message, offset: e.offset }, []);
    else reply({ kind: 'crash', name: (e as Error)?.name ?? 'Error', message: (e as Error)?.message ?? String(e) }, []);
  }
}

function reply(message: unknown, transfer: ArrayBuffer[]): void {
  port.postMessage(message, transfer);
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
}
