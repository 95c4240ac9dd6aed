// kexec_add_buffer and kexec_locate_mem_hole (kernel/kexec_file.c): how the kernel places the segments of a
// kexec_file_load image. Top-level System RAM only (walk_system_ram_res[_rev]); a crash image only inside
// crashk_res; candidates aligned down (top-down) or up (bottom-up), stepping a page past a placed segment.

import { KexecError } from '../../errno.js';
import type { Resource } from '../machine/iomem.js';
import { KEXEC_SEGMENT_MAX } from '../machine/kimage.js';
import { PAGE_SIZE } from '../machine/machine-config.js';
import type { ByteSource } from '../machine/store.js';
import { byteSourceLength } from '../machine/store.js';
import { alignDown, alignUp } from '../../lib/align.js';
import { hex } from '../../lib/hex.js';
import { fromInclusive, overlapsAny } from '../../lib/range.js';


export interface PlacedSegment {
  buf: ByteSource | null;
  bufsz: number;
  mem: bigint;
  memsz: bigint;
}

/** struct kexec_buf: what a loader asks for; mem is null for KEXEC_BUF_MEM_UNKNOWN. */
export interface KexecBuf {
  buffer: ByteSource | null;
  memsz: bigint;
  bufAlign: bigint;
  bufMin: bigint;
  bufMax: bigint;
  topDown: boolean;
  mem?: bigint | null;
  /** What the segment is, for -d output and error messages. */
  what: string;
}

export interface FileImageView {
  type: 'normal' | 'crash';
  /** kexec_locate_mem_hole's walk: reversed (walk_system_ram_res_rev, 6.8+) when top-down, else ascending. */
  rules: { reverseRamWalk: boolean; topDownOffByOne: boolean };
  fileMode: boolean;
  segments: PlacedSegment[];
  /** Top-level resources (System RAM) of the machine. */
  iomem: readonly Resource[];
  crashk: Resource | undefined;
}

/** kimage_is_destination_range: [start, end] (inclusive, as the hole search keeps it) overlaps a placed segment. */
function isDestinationRange(image: FileImageView, start: bigint, end: bigint): boolean {
  return overlapsAny(fromInclusive(start, end), image.segments.map((s) => ({ start: s.mem, end: s.mem + s.memsz })));
}

function topDown(image: FileImageView, start: bigint, end: bigint, kbuf: KexecBuf, memsz: bigint, align: bigint): bigint | null {
  let tempEnd = end < kbuf.bufMax ? end : kbuf.bufMax;
  let tempStart = tempEnd - memsz + (image.rules.topDownOffByOne ? 0n : 1n);
  for (;;) {
    tempStart = alignDown(tempStart, align);
    tempEnd = tempStart + memsz - 1n;
    if (tempStart < start || tempStart < kbuf.bufMin) return null;
    if (isDestinationRange(image, tempStart, tempEnd)) {
      tempStart -= PAGE_SIZE;
      continue;
    }
    return tempStart;
  }
}

function bottomUp(image: FileImageView, start: bigint, end: bigint, kbuf: KexecBuf, memsz: bigint, align: bigint): bigint | null {
  let tempStart = start > kbuf.bufMin ? start : kbuf.bufMin;
  for (;;) {
    tempStart = alignUp(tempStart, align);
    const tempEnd = tempStart + memsz - 1n;
    if (tempEnd > end || tempEnd > kbuf.bufMax) return null;
    if (isDestinationRange(image, tempStart, tempEnd)) {
      tempStart += PAGE_SIZE;
      continue;
    }
    return tempStart;
  }
}

/**
 * kexec_locate_mem_hole: walk the candidate ranges with locate_mem_hole_callback. 6.8+ walks them highest first
 * when top-down (walk_system_ram_res_rev); 6.1 always walks ascending (walk_system_ram_res) and is top-down only
 * inside a range, so a 6.1 image lands in the first range that fits (low memory on a PC).
 */
function kexecLocateMemHole(image: FileImageView, kbuf: KexecBuf, memsz: bigint, align: bigint): bigint {
  let ranges: { start: bigint; end: bigint }[];
  if (image.type === 'crash') ranges = image.crashk ? [{ start: image.crashk.start, end: image.crashk.end }] : [];
  else ranges = image.iomem.filter((r) => r.name === 'System RAM').map((r) => ({ start: r.start, end: r.end }));
  if (kbuf.topDown && image.rules.reverseRamWalk) ranges = ranges.slice().reverse();
  for (const r of ranges) {
    const start = r.start > kbuf.bufMin ? r.start : kbuf.bufMin;
    const end = r.end < kbuf.bufMax ? r.end : kbuf.bufMax;
    if (end < start || end - start + 1n < memsz) continue;
    const mem = kbuf.topDown ? topDown(image, start, end, kbuf, memsz, align) : bottomUp(image, start, end, kbuf, memsz, align);
    if (mem !== null) return mem;
  }
  throw new KexecError('EADDRNOTAVAIL', 'kexec_locate_mem_hole', `no ${hex(memsz)}-byte hole aligned to ${hex(align)} in [${hex(kbuf.bufMin)}, ${hex(kbuf.bufMax)}] for the ${kbuf.what}${image.type === 'crash' ? ' inside the crash kernel region' : ''}`, {
    value: hex(memsz),
    hint: image.type === 'crash' ? 'reserve a larger crash region (crashkernel=) or load a smaller kernel/initrd' : 'give the machine more RAM (machine init --mem) or load a smaller initrd',
  });
}

/** kexec_add_buffer: file mode only, at most 16 segments; memsz page-rounded, alignment at least a page. */
export function kexecAddBuffer(image: FileImageView, kbuf: KexecBuf): bigint {
  if (image.segments.length >= KEXEC_SEGMENT_MAX) {
    throw new KexecError('EINVAL', 'kexec_add_buffer', `the image already has ${KEXEC_SEGMENT_MAX} segments; no room for the ${kbuf.what}`, { hint: 'a loader may add at most 16 segments' });
  }
  if (!image.fileMode) throw new KexecError('EINVAL', 'kexec_add_buffer', 'kexec_add_buffer is for kexec_file_load images only');
  const memsz = alignUp(kbuf.memsz, PAGE_SIZE);
  const align = kbuf.bufAlign > PAGE_SIZE ? kbuf.bufAlign : PAGE_SIZE;
  const mem = kbuf.mem ?? kexecLocateMemHole(image, kbuf, memsz, align);
  const bufsz = kbuf.buffer ? byteSourceLength(kbuf.buffer) : 0;
  image.segments.push({ buf: kbuf.buffer, bufsz, mem, memsz });
  return mem;
}
