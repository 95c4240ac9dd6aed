// struct kimage as the machine keeps it: segments, control page, the indirection list (normal images) and where
// the image's pages sit in the running machine's RAM until machine_kexec copies them (kernel/kexec_core.c).

import type { PhysRange } from '../../lib/range.js';
import type { MachineArch } from './machine-config.js';

// Indirection entries (include/linux/kexec.h): u64 physical address with flags in the low bits.
export const IND_DESTINATION = 0x1n;
export const IND_INDIRECTION = 0x2n;
export const IND_DONE = 0x4n;
export const IND_SOURCE = 0x8n;
/** Entries per list page: 4096 / 8 = 512, the last slot links to the next page. */
export const ENTRIES_PER_PAGE = 511;

/** KEXEC_SEGMENT_MAX (include/linux/kexec.h). */
export const KEXEC_SEGMENT_MAX = 16;

export type KimageType = 'normal' | 'crash';

export interface KimageSegment {
  mem: bigint;
  memsz: bigint;
  bufsz: number;
  /** sha256 name of the stored bytes in blobs/, null when bufsz is 0. */
  blob: string | null;
}

/** A run of contiguous source pages holding pages [firstPage, firstPage+pages) of one segment. */
export interface SourceRun {
  addr: bigint;
  pages: number;
  segment: number;
  firstPage: number;
}

/** What the loader told us about the image, for `machine show` and the verify engine's hand-off checks. */
export interface KimageInfo {
  syscall: 'kexec_load' | 'kexec_file_load';
  loader?: string;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  /** Index of the purgatory segment, if the loader knows it. */
  purgatorySegment?: number;
}

export interface Kimage {
  type: KimageType;
  arch: MachineArch;
  /** image->start: where machine_kexec jumps (the purgatory entry). */
  start: bigint;
  flags: number;
  segments: KimageSegment[];
  /** control_code_page: where relocate_kernel's code would be copied. */
  controlPage: bigint;
  /** image->head: the first indirection entry (IND_DONE alone for crash images). */
  head: bigint;
  /** Physical addresses of the indirection list pages, in allocation order. */
  indirectionPages: bigint[];
  /** Their contents, concatenated (4096 bytes each), or null when there are none. */
  indirectionBlob: string | null;
  sourceRuns: SourceRun[];
  info: KimageInfo;
  loadedAt: string;
}

/** Every physical page range the image occupies in the running machine (for allocators to avoid). */
export function kimageFootprint(image: Kimage): PhysRange[] {
  const out: PhysRange[] = [];
  const page = (a: bigint, n: bigint) => out.push({ start: a, end: a + n * 4096n });
  if (image.type === 'crash') {
    for (const s of image.segments) if (s.memsz > 0n) out.push({ start: s.mem, end: s.mem + s.memsz });
  } else {
    for (const r of image.sourceRuns) page(r.addr, BigInt(r.pages));
    for (const p of image.indirectionPages) page(p, 1n);
  }
  page(image.controlPage, 1n);
  return out;
}
