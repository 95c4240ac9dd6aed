// struct kexec_info and its placement helpers (kexec-tools kexec/kexec.c): add_segment, add_buffer,
// locate_hole, sort_segments. Addresses are bigint; buffers are byte sources so a large initrd is streamed.

import { UsageError } from '../errno.js';
import type { ByteSource } from '../vm/machine/store.js';
import { byteSourceLength } from '../vm/machine/store.js';
import { type MemoryRange, RANGE } from './memory-ranges.js';
import type { Debug } from './debug.js';
import { hex } from '../lib/hex.js';
import { alignDown, alignUp } from '../lib/align.js';

export const PAGE_SIZE = 4096n;
export const ULONG_MAX = (1n << 64n) - 1n;

export interface InfoSegment {
  buf: ByteSource | null;
  bufsz: number;
  mem: bigint;
  memsz: bigint;
}


/** Direction of a hole search, as kexec-tools' `buf_end`/`hole_end` argument: 1 lowest, -1 highest. */
export type HoleEnd = 1 | -1;

export class KexecInfo {
  segments: InfoSegment[] = [];
  entry = 0n;
  memMin = 0n;
  memMax = ULONG_MAX;
  /** info->crash_range: the memory map handed to a panic kernel (set by load_crashdump_segments). */
  crashRanges: MemoryRange[] | null = null;

  constructor(
    readonly memoryRanges: MemoryRange[],
    public kexecFlags: number,
    readonly debug: Debug,
  ) {}

  /** sort_segments: by destination; any overlap is fatal ("Overlapping memory segments at %p"). */
  sortSegments(): void {
    this.segments.sort((a, b) => (a.mem < b.mem ? -1 : a.mem > b.mem ? 1 : 0));
    let end = 0n;
    for (const s of this.segments) {
      if (end > s.mem) throw new UsageError(`Overlapping memory segments at ${hex(end)}`, { hint: 'two segments were given overlapping destinations; check --mem-min/--mem-max and the image' });
      end = s.mem + s.memsz;
    }
  }

  /** valid_memory_range: [start, last] inside one RAM range and within mem_min/mem_max. */
  validMemoryRange(start: bigint, last: bigint): boolean {
    if (start > last || last > this.memMax || start < this.memMin) return false;
    return this.memoryRanges.some((r) => r.type === RANGE.RAM && start >= r.start && last <= r.end);
  }

  /** add_segment: a buffer at a fixed address; bufsz clamped to memsz, memsz rounded to a page, range checked. */
  addSegment(buf: ByteSource | null, mem: bigint, memsz: bigint): void {
    let bufsz = buf ? byteSourceLength(buf) : 0;
    if (BigInt(bufsz) > memsz) {
      bufsz = Number(memsz);
      if (buf) buf = buf.kind === 'bytes' ? { kind: 'bytes', data: buf.data.subarray(0, bufsz) } : { ...buf, length: bufsz };
    }
    if (memsz === 0n) return;
    const size = alignUp(memsz, PAGE_SIZE);
    if (mem % PAGE_SIZE !== 0n) {
      throw new UsageError(`Base address: ${hex(mem)} is not page aligned`, { hint: 'segment addresses (ELF p_paddr) must be multiples of 4096' });
    }
    const last = mem + size - 1n;
    if (!this.validMemoryRange(mem, last)) {
      throw new UsageError(`Invalid memory segment ${hex(mem)} - ${hex(last)}`, {
        hint: "the segment is not inside the machine's RAM (see vkexec machine show --file /proc/iomem); link the image for addresses the machine has, or give the machine more RAM",
      });
    }
    this.segments.push({ buf, bufsz, mem, memsz: size });
  }

  /**
   * locate_hole: RAM minus placed segments, clipped by mem_min/mem_max and [holeMin, holeMax], aligned; the first
   * fitting range for the lowest, the last for the highest (as kexec-tools, which aligns the highest candidate
   * down without re-checking the range start: a later sort_segments catches a resulting overlap).
   */
  locateHole(holeSize: bigint, holeAlign: bigint, holeMin: bigint, holeMax: bigint, holeEnd: HoleEnd): bigint {
    const align = holeAlign < PAGE_SIZE ? PAGE_SIZE : holeAlign;
    const free: { start: bigint; end: bigint }[] = [];
    let j = 0;
    for (const r of this.memoryRanges) {
      if (r.type !== RANGE.RAM) continue;
      let mstart = r.start;
      const mend = r.end;
      while (j < this.segments.length && this.segments[j]!.mem <= mend) {
        const s = this.segments[j]!;
        if (mstart < s.mem) free.push({ start: mstart, end: s.mem - 1n });
        mstart = s.mem + s.memsz;
        j++;
      }
      if (mstart < mend) free.push({ start: mstart, end: mend });
    }
    let base: bigint | null = null;
    for (const f of free) {
      let start = f.start;
      let end = f.end;
      if (start < this.memMin) start = this.memMin;
      if (start < holeMin) start = holeMin;
      start = alignUp(start, align);
      if (end > this.memMax) end = this.memMax;
      if (end > holeMax) end = holeMax;
      if (start >= end || start >= this.memMax || end <= this.memMin) continue;
      if (holeSize === 0n || end - start >= holeSize - 1n) {
        if (holeEnd > 0) {
          base = start;
          break;
        }
        base = alignDown(end - holeSize + 1n, align);
      }
    }
    if (base === null) {
      throw new UsageError(`Could not find a free area of memory of ${hex(holeSize)} bytes...`, {
        hint: 'the machine has too little free RAM in the allowed range: give it more (machine init --mem), widen --mem-min/--mem-max, or load a smaller image',
      });
    }
    if (holeSize !== 0n && base + holeSize - 1n > holeMax) {
      throw new UsageError(`Could not find a free area of memory below: ${hex(holeMax)}...`, {
        hint: 'the segment must lie below that address; free memory there or use a smaller image',
      });
    }
    return base;
  }

  /** add_buffer: sort, round memsz to pages, find a hole, add the segment; returns its address. */
  addBuffer(buf: ByteSource | null, memsz: bigint, align: bigint, min: bigint, max: bigint, end: HoleEnd): bigint {
    this.sortSegments();
    const size = alignUp(memsz, PAGE_SIZE);
    let base: bigint;
    try {
      base = this.locateHole(size, align, min, max, end);
    } catch (e) {
      // add_buffer_phys_virt (kexec/kexec.c, 2.0.25 and 2.0.32): die("locate_hole failed\n") after
      // locate_hole's own message.
      if (!(e instanceof UsageError)) throw e;
      throw new UsageError([...e.lines, 'locate_hole failed'], { exitCode: e.exitCode, hint: e.hint });
    }
    this.addSegment(buf, base, size);
    return base;
  }
}
