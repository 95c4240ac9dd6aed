// The copy of a large input file into blobs/, run on another thread while this one reads the same file for the
// SHA-256 stream (store.ts segmentsSha256): the kernel-side copy (a clone, else copy_file_range) and its fsync
// overlap the hash instead of following it. Whether the copy may be kept is decided afterwards, as for a copy
// made after the hash (store.ts storeHashed: same inode and size, no change since before the read began).

import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';

/** Files smaller than this are copied after the hash: a thread costs more than it saves. */
export const STAGE_MIN_BYTES = 16 << 20;

/** The copy itself, on whichever thread makes it: a clone where the filesystem has one, else copy_file_range; then fsync. */
export function copyAndSync(src: string, tmp: string): void {
  fs.copyFileSync(src, tmp, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL);
  const fd = fs.openSync(tmp, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// Run by the worker (CommonJS, requiring this module for copyAndSync): copy, then report on the port and wake the
// waiting thread, whatever happened (the waiting thread blocks until then).
const COPIER = `
const { workerData } = require('node:worker_threads');
const { self, src, tmp, flag, port } = workerData;
let msg = { ok: true };
try {
  require(self).copyAndSync(src, tmp);
} catch (e) {
  msg = { ok: false, code: e.code, errno: e.errno, syscall: e.syscall, message: String(e.message) };
} finally {
  port.postMessage(msg);
  const f = new Int32Array(flag);
  Atomics.store(f, 0, 1);
  Atomics.notify(f, 0);
}
`;

interface CopyReport {
  ok: boolean;
  code?: string;
  errno?: number;
  syscall?: string;
  message?: string;
}

/** Both ends of a failed copy, as its error's path: ENOSPC or EROFS is the target's, EIO may be either's. */
export function copyPaths(src: string, tmp: string): string {
  return `${src} -> ${tmp}`;
}

/** A copy under way into `tmp` (a temporary name collectBlobs knows as this process's). */
export class StagedCopy {
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));
  private readonly port: MessagePort;
  private result: CopyReport | null = null;

  constructor(
    readonly blobs: string,
    readonly tmp: string,
    private readonly src: string,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const worker = new Worker(COPIER, { eval: true, workerData: { self: fileURLToPath(import.meta.url), src, tmp, flag: this.flag.buffer, port: port2 }, transferList: [port2] });
    worker.unref();
  }

  /** Waits for the copy; the error it met (ENOSPC, EIO, ...), or null once tmp holds the file, synced. */
  finish(): NodeJS.ErrnoException | null {
    if (this.result === null) {
      Atomics.wait(this.flag, 0, 0);
      this.result = (receiveMessageOnPort(this.port)?.message as CopyReport | undefined) ?? { ok: false, message: 'the copier thread ended without a report' };
      this.port.close();
    }
    if (this.result.ok) return null;
    const { message, code, errno, syscall } = this.result;
    return Object.assign(new Error(message), { code, errno, syscall, path: copyPaths(this.src, this.tmp) }) as NodeJS.ErrnoException;
  }

  /** Waits for the copy and removes what it wrote: the blob was there already, or the load failed. */
  discard(): void {
    this.finish();
    fs.rmSync(this.tmp, { force: true });
  }
}
