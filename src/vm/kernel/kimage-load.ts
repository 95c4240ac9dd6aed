// Building a kimage in the machine's RAM (kernel/kexec_core.c): control pages, source pages and the
// indirection list for normal images; crash images go straight to their destinations inside crashk_res.

import { KexecError } from '../../errno.js';
import { type Resource, resourceRange } from '../machine/iomem.js';
import { crashkRes } from '../machine/machine-config.js';
import type { MachineState } from '../machine/machine.js';
import { type ByteSource, putBlob } from '../machine/store.js';
import {
  type Kimage,
  type KimageInfo,
  type KimageSegment,
  type KimageType,
  type SourceRun,
  ENTRIES_PER_PAGE,
  IND_DESTINATION,
  IND_DONE,
  IND_INDIRECTION,
  IND_SOURCE,
  kimageFootprint,
} from '../machine/kimage.js';
import { alignDown, alignUp } from '../../lib/align.js';
import { hex } from '../../lib/hex.js';
import { type PhysRange, intersectRange, subtractRanges } from '../../lib/range.js';

const PAGE = 4096n;
const MiB = 1n << 20n;

/**
 * Pages the buddy allocator could hand out: System RAM above 1 MiB, minus everything nested in it (the running
 * kernel, crashk_res, firmware holes), minus pages other loaded images hold. Handed out lowest first, which
 * makes layouts reproducible (a real allocator's order is arbitrary; the rules on what is excluded are the same).
 */
class PageAllocator {
  private free: PhysRange[];

  constructor(iomem: readonly Resource[], busy: PhysRange[]) {
    let free: PhysRange[] = [];
    for (const r of iomem) {
      if (r.name !== 'System RAM') continue;
      const ram = resourceRange(r);
      const start = alignUp(ram.start > MiB ? ram.start : MiB, PAGE);
      const end = alignDown(ram.end, PAGE);
      if (start < end) free.push({ start, end });
      // A page any part of which is taken is taken whole.
      const taken = r.children.map(resourceRange).map((c) => ({ start: alignDown(c.start, PAGE), end: alignUp(c.end, PAGE) }));
      free = subtractRanges(free, taken);
    }
    free = subtractRanges(free, busy);
    this.free = free;
  }

  /** Marks a range as unusable (e.g. this image's destinations: kimage_alloc_page sets such pages aside). */
  exclude(r: PhysRange): void {
    this.free = subtractRanges(this.free, [r]);
  }

  allocPage(what: string): bigint {
    const r = this.free[0];
    if (!r) {
      throw new KexecError('ENOMEM', 'kimage_alloc_page', `out of machine memory while allocating ${what}`, {
        hint: 'give the machine more RAM (machine init --mem) or load smaller segments',
      });
    }
    const addr = r.start;
    r.start += PAGE;
    if (r.start >= r.end) this.free.shift();
    return addr;
  }
}

/** kimage_add_entry and friends: a list of u64 entries in 4 KiB pages, 511 entries and a link per page. */
class IndirectionList {
  head = 0n;
  readonly pages: bigint[] = [];
  readonly data: Buffer[] = [];
  private slot = -1; // index of the next free slot in the current page; -1: "entry" is &head

  constructor(private readonly alloc: PageAllocator) {}

  add(entry: bigint): void {
    if (this.slot === -1 || this.slot === ENTRIES_PER_PAGE) {
      const page = this.alloc.allocPage('an indirection page');
      const link = page | IND_INDIRECTION;
      if (this.slot === -1) this.head = link;
      else this.data[this.data.length - 1]!.writeBigUInt64LE(link, ENTRIES_PER_PAGE * 8);
      this.pages.push(page);
      this.data.push(Buffer.alloc(4096));
      this.slot = 0;
    }
    this.data[this.data.length - 1]!.writeBigUInt64LE(entry, this.slot * 8);
    this.slot++;
  }

  /** kimage_terminate: IND_DONE in the next slot (the link slot is allowed), no allocation. */
  terminate(): void {
    if (this.slot === -1) {
      this.head = IND_DONE;
      return;
    }
    this.data[this.data.length - 1]!.writeBigUInt64LE(IND_DONE, this.slot * 8);
  }
}

interface LoadedImageParts {
  controlPage: bigint;
  head: bigint;
  indirectionPages: bigint[];
  indirectionData: Buffer | null;
  sourceRuns: SourceRun[];
}

/**
 * kimage_alloc_control_pages + kimage_load_normal_segment + kimage_terminate for a normal image: the control
 * and swap pages and the source pages avoid every destination; each segment is one IND_DESTINATION followed
 * by one IND_SOURCE per page of memsz (pages past bufsz are zero).
 */
function loadNormalImage(segments: readonly KimageSegment[], iomem: readonly Resource[], others: (Kimage | null)[]): LoadedImageParts {
  const busy = others.flatMap((img) => (img ? kimageFootprint(img) : []));
  const alloc = new PageAllocator(iomem, busy);
  for (const s of segments) alloc.exclude({ start: s.mem, end: s.mem + s.memsz });
  const controlPage = alloc.allocPage('control_code_buffer');
  alloc.allocPage('swap_page');
  const list = new IndirectionList(alloc);
  const runs: SourceRun[] = [];
  segments.forEach((s, i) => {
    list.add(s.mem | IND_DESTINATION);
    const pages = Number(s.memsz / PAGE);
    for (let p = 0; p < pages; p++) {
      const src = alloc.allocPage(`source page ${p} of segment ${i}`);
      const last = runs[runs.length - 1];
      if (last && last.segment === i && last.firstPage + last.pages === p && last.addr + BigInt(last.pages) * PAGE === src) last.pages++;
      else runs.push({ addr: src, pages: 1, segment: i, firstPage: p });
      list.add(src | IND_SOURCE);
    }
  });
  list.terminate();
  return {
    controlPage,
    head: list.head,
    indirectionPages: list.pages,
    indirectionData: list.data.length ? Buffer.concat(list.data) : null,
    sourceRuns: runs,
  };
}

/**
 * kimage_alloc_crash_control_pages: the first page-aligned hole in crashk_res, from its start, that overlaps
 * no segment. Crash segments are already in place (kimage_load_crash_segment copies straight to them).
 */
function loadCrashImage(segments: readonly KimageSegment[], crashk: Resource): LoadedImageParts {
  const region = resourceRange(crashk);
  const dests: PhysRange[] = segments.filter((s) => s.memsz > 0n).map((s) => ({ start: s.mem, end: s.mem + s.memsz }));
  let hole = alignUp(region.start, PAGE);
  for (;;) {
    const page = { start: hole, end: hole + PAGE };
    if (page.end > region.end) {
      throw new KexecError('ENOMEM', 'kimage_alloc_crash_control_pages', `no free page left in the crash kernel region [${hex(crashk.start)}-${hex(crashk.end)}] for the control page`, {
        hint: 'reserve a larger crash region (machine init --crashkernel)',
      });
    }
    const clash = dests.find((d) => intersectRange(page, d));
    if (!clash) break;
    hole = alignUp(clash.end, PAGE);
  }
  return { controlPage: hole, head: IND_DONE, indirectionPages: [], indirectionData: null, sourceRuns: [] };
}

/** A segment as a syscall hands it over: its bytes (bufsz of them) and its destination. */
export interface StagedSegment {
  buf: ByteSource | null;
  bufsz: number;
  mem: bigint;
  memsz: bigint;
}

/**
 * kimage_load_segment for every segment (bytes stored as blobs), then kimage_alloc_control_pages and the
 * indirection list: the Kimage record both kexec_load and kexec_file_load swap into the machine.
 */
export function kimageLoad(dir: string, state: MachineState, type: KimageType, start: bigint, flags: number, staged: readonly StagedSegment[], info: KimageInfo): Kimage {
  const { config } = state;
  const segments: KimageSegment[] = staged.map((s) => ({ mem: s.mem, memsz: s.memsz, bufsz: s.bufsz, blob: s.buf && s.bufsz > 0 ? putBlob(dir, s.buf) : null }));
  const parts = type === 'crash' ? loadCrashImage(segments, crashkRes(config)!) : loadNormalImage(segments, config.iomem, [state.images.normal, state.images.crash]);
  return {
    type,
    arch: config.arch,
    start,
    flags,
    segments,
    controlPage: parts.controlPage,
    head: parts.head,
    indirectionPages: parts.indirectionPages,
    indirectionBlob: parts.indirectionData ? putBlob(dir, { kind: 'bytes', data: parts.indirectionData }) : null,
    sourceRuns: parts.sourceRuns,
    info,
    loadedAt: new Date().toISOString(),
  };
}
