// zstd with a time limit. fzstd, the decoder zstd.ts used before libzstd, could loop forever on crafted FSE
// tables (five changed bytes in a kernel made `vkexec -s -l` spin at 100% CPU, issue 11). libzstd is linear in
// its input, but a synchronous decode cannot be interrupted from inside, so it still runs in a worker thread
// that the caller waits for (Atomics.wait, still synchronous to the caller) and stops when the time limit
// passes: 10 s plus 1 s per 64 KiB, far beyond what a real kernel needs even on a slow machine (Debian's
// 9.4 MiB payload decodes in well under a second).

import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { DecompressError } from './error.js';

interface Helper {
  worker: Worker;
  port: MessagePort;
  done: Int32Array;
}
let helper: Helper | null = null;

function startHelper(): Helper {
  const flag = new SharedArrayBuffer(4);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./zstd-worker.js', import.meta.url), { workerData: { port: port2, flag }, transferList: [port2] });
  worker.unref();
  port1.unref();
  return { worker, port: port1, done: new Int32Array(flag) };
}

/** The time a decode of `inputBytes` may take before it counts as a hang. */
export function zstdTimeLimitMs(inputBytes: number): number {
  return 10_000 + Math.ceil(inputBytes / 65536) * 1000;
}

type Reply =
  | { kind: 'ok'; data: Uint8Array }
  | { kind: 'decompress'; reason: DecompressError['reason']; message: string; offset: number | undefined }
  | { kind: 'crash'; name: string; message: string };

/** decodeZstdDirect in the helper thread, within zstdTimeLimitMs; a DecompressError 'corrupt' when it hangs. */
export function decodeZstdBounded(input: Uint8Array, maxOutput: number, sizeHint: number, limitMs = zstdTimeLimitMs(input.length)): Uint8Array {
  const h = (helper ??= startHelper());
  Atomics.store(h.done, 0, 0);
  h.worker.postMessage({ input, maxOutput, sizeHint });
  const deadline = Date.now() + limitMs;
  while (Atomics.load(h.done, 0) === 0) {
    const left = deadline - Date.now();
    if (left <= 0) {
      void h.worker.terminate();
      helper = null;
      throw new DecompressError('zstd', 'corrupt', `the decoder made no end within ${Math.round(limitMs / 1000)} s (a crafted or damaged stream; a real one takes seconds)`);
    }
    Atomics.wait(h.done, 0, 0, Math.min(left, 1000));
  }
  const reply = receiveMessageOnPort(h.port)?.message as Reply | undefined;
  if (!reply) throw new DecompressError('zstd', 'corrupt', 'the decoder thread gave no result');
  if (reply.kind === 'ok') return reply.data;
  if (reply.kind === 'decompress') {
    const e = new DecompressError('zstd', reply.reason, '', reply.offset);
    Object.defineProperty(e, 'message', { value: reply.message });
    throw e;
  }
  const e = new Error(reply.message);
  e.name = reply.name;
  throw e;
}
