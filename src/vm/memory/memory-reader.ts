// Reads guest-physical memory out of a MemoryImage's extents (file regions, buffers, zeros) without ever
// materialising RAM: small reads return bytes, large ranges stream through a callback.

import * as fs from 'node:fs';
import { fillPatternBytes } from './fill-pattern.js';
import type { Extent, MemoryImage } from './memory-image.js';

const CHUNK = 1 << 20;

export class MemoryReader {
  private readonly extents: Extent[];
  private readonly fds = new Map<string, number>();

  constructor(image: MemoryImage) {
    this.extents = image.extents;
  }

  close(): void {
    for (const fd of this.fds.values()) fs.closeSync(fd);
    this.fds.clear();
  }

  /** True when every byte of [addr, addr+len) was written by the image (loaded, not just present RAM). */
  covered(addr: bigint, len: bigint): boolean {
    let at = addr;
    const end = addr + len;
    for (const e of this.extents) {
      const eEnd = e.addr + BigInt(e.length);
      if (eEnd <= at) continue;
      if (e.addr > at) return false;
      at = eEnd;
      if (at >= end) return true;
    }
    return at >= end;
  }

  /** Streams [addr, addr+len) in order; bytes no extent covers read as zero, as fresh RAM in the engines. */
  stream(addr: bigint, len: bigint, fn: (chunk: Uint8Array) => void): void {
    let at = addr;
    const end = addr + len;
    const zeros = new Uint8Array(Math.min(CHUNK, Number(len > BigInt(CHUNK) ? BigInt(CHUNK) : len)));
    const zeroFill = (n: bigint) => {
      while (n > 0n) {
        const k = n > BigInt(zeros.length) ? zeros.length : Number(n);
        fn(zeros.subarray(0, k));
        n -= BigInt(k);
      }
    };
    for (const e of this.extents) {
      if (at >= end) break;
      const eEnd = e.addr + BigInt(e.length);
      if (eEnd <= at) continue;
      if (e.addr >= end) break;
      if (e.addr > at) {
        zeroFill(e.addr - at);
        at = e.addr;
      }
      const from = Number(at - e.addr);
      const to = Number((eEnd < end ? eEnd : end) - e.addr);
      this.readExtent(e, from, to, fn);
      at = e.addr + BigInt(to);
    }
    if (at < end) zeroFill(end - at);
  }

  read(addr: bigint, len: number): Uint8Array {
    const out = new Uint8Array(len);
    let o = 0;
    this.stream(addr, BigInt(len), (c) => {
      out.set(c, o);
      o += c.length;
    });
    return out;
  }

  private readExtent(e: Extent, from: number, to: number, fn: (chunk: Uint8Array) => void): void {
    if (e.kind === 'bytes') {
      fn(e.data.subarray(from, to));
      return;
    }
    if (e.kind === 'zero') {
      const z = new Uint8Array(Math.min(CHUNK, to - from));
      for (let o = from; o < to; o += z.length) fn(z.subarray(0, Math.min(z.length, to - o)));
      return;
    }
    if (e.kind === 'pattern') {
      const buf = new Uint8Array(Math.min(CHUNK, to - from));
      for (let o = from; o < to; o += buf.length) {
        const piece = buf.subarray(0, Math.min(buf.length, to - o));
        fillPatternBytes(piece, e.addr + BigInt(o), e.pattern);
        fn(piece);
      }
      return;
    }
    let fd = this.fds.get(e.path);
    if (fd === undefined) {
      fd = fs.openSync(e.path, 'r');
      this.fds.set(e.path, fd);
    }
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, to - from));
    for (let o = from; o < to; ) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, to - o), e.offset + o);
      if (n <= 0) throw new Error(`${e.path}: short read at ${e.offset + o}`);
      fn(buf.subarray(0, n));
      o += n;
    }
  }
}
