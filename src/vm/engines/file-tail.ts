// Follows a regular file that another process appends to, handing each new chunk to a callback.
//
// Why the QEMU engine needs it: QEMU makes its stdio chardev non-blocking, and its 16550 keeps THR full while
// a write returns EAGAIN. When the reader of a pipe falls behind (two TCG guests on two cores is enough), the
// guest's 8250 console driver gives up waiting after 10 ms and overwrites THR: console bytes are lost. A
// write to a regular file never returns EAGAIN, so the guest is never held up and nothing is lost.

import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

const POLL_MS = 10;
const CHUNK = 64 * 1024;

export class FileTail {
  private pos = 0;
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private onData: (chunk: Buffer) => void = () => {};

  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<FileTail> {
    return new FileTail(await open(path, 'r'));
  }

  /** Starts handing new bytes to `onData`, from the start of the file. */
  follow(onData: (chunk: Buffer) => void): void {
    this.onData = onData;
    this.timer = setInterval(() => this.schedule(), POLL_MS);
  }

  /** Reads what is left (the writer has ended), then closes the file. */
  async finish(): Promise<void> {
    clearInterval(this.timer);
    this.schedule();
    await this.chain;
    await this.fh.close();
  }

  private schedule(): void {
    this.chain = this.chain.then(() => this.drain());
  }

  private async drain(): Promise<void> {
    for (;;) {
      const buf = Buffer.alloc(CHUNK);
      const { bytesRead } = await this.fh.read(buf, 0, CHUNK, this.pos);
      if (bytesRead === 0) return;
      this.pos += bytesRead;
      this.onData(buf.subarray(0, bytesRead));
      if (bytesRead < CHUNK) return;
    }
  }
}
