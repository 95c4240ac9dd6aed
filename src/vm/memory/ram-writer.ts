// Puts a MemoryImage into an engine's guest RAM: walks the extents and hands their bytes, CHUNK at a time, to a
// sink (QEMU's RAM file, v86's write_memory). File extents are streamed from their blobs, fill patterns computed
// from the address, so no extent is ever held whole in memory.

import { open, type FileHandle } from 'node:fs/promises';
import { KexecError } from '../../errno.js';
import { fillPatternBytes } from './fill-pattern.js';
import type { Extent, MemoryImage, PhysAddr } from './memory-image.js';

const CHUNK = 8 << 20;

export interface RamSink {
  /** The rule named in errors (e.g. 'qemu memory-backend'). */
  readonly rule: string;
  /** False when memory not written reads as zeros already (a new sparse file): zero extents are skipped. */
  readonly writesZeros: boolean;
  /** Copies `data` (a reused buffer: the sink must not keep it) to guest-physical `addr`. */
  write(data: Uint8Array, addr: PhysAddr): void | Promise<void>;
}

/** Writes every extent of `image` through `sink`; returns the bytes the extents cover. */
export async function writeMemoryImage(image: MemoryImage, sink: RamSink): Promise<number> {
  const buf = new Uint8Array(CHUNK);
  let bytes = 0;
  for (const e of image.extents) {
    bytes += e.length;
    if (e.kind === 'bytes') await sink.write(e.data.subarray(0, e.length), e.addr);
    else if (e.kind === 'file') await writeFileExtent(e, buf, sink);
    else if (e.kind === 'pattern' || sink.writesZeros) await writeComputed(e, buf, sink);
  }
  return bytes;
}

/** A zero or fill-pattern run (machine panic --fill), computed CHUNK bytes at a time. */
async function writeComputed(e: Extent & { kind: 'pattern' | 'zero' }, buf: Uint8Array, sink: RamSink): Promise<void> {
  if (e.kind === 'zero') buf.fill(0);
  for (let done = 0; done < e.length; done += buf.length) {
    const piece = buf.subarray(0, Math.min(buf.length, e.length - done));
    if (e.kind === 'pattern') fillPatternBytes(piece, e.addr + BigInt(done), e.pattern);
    await sink.write(piece, e.addr + BigInt(done));
  }
}

function blobError(rule: string, path: string, message: string, hint: string): KexecError {
  return new KexecError('EIO', rule, message, { value: path, hint });
}

async function writeFileExtent(e: Extent & { kind: 'file' }, buf: Uint8Array, sink: RamSink): Promise<void> {
  const changed = 'the blob changed since it was loaded: reload the image (vkexec -u, then -l)';
  let src: FileHandle;
  try {
    src = await open(e.path, 'r');
  } catch (err) {
    throw blobError(sink.rule, e.path, `cannot read ${e.path}: ${(err as Error).message}`, 'the machine state refers to a missing blob: reload the image (vkexec -u, then -l)');
  }
  try {
    const size = (await src.stat()).size;
    if (e.offset < 0 || e.offset + e.length > size) {
      throw blobError(sink.rule, e.path, `${e.path} is ${size} bytes, shorter than the segment bytes [${e.offset}, ${e.offset + e.length}) loaded from it`, changed);
    }
    for (let done = 0; done < e.length; ) {
      const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, e.length - done), e.offset + done);
      if (bytesRead === 0) throw blobError(sink.rule, e.path, `${e.path} ended early at ${e.offset + done}`, changed);
      await sink.write(buf.subarray(0, bytesRead), e.addr + BigInt(done));
      done += bytesRead;
    }
  } finally {
    await src.close();
  }
}
