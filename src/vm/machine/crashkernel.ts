// crashkernel= as Linux parses and reserves it (kernel/crash_reserve.c parse_crashkernel, arch/x86/kernel/
// setup.c reserve_crashkernel): SIZE[@OFFSET], RANGE:SIZE[,RANGE:SIZE...][@OFFSET], SIZE,high and SIZE,low.

import { alignDown } from '../../lib/align.js';
import { hex } from '../../lib/hex.js';
import { intersectRange } from '../../lib/range.js';
import { type Resource, insertResource, resourceRange, systemRam } from './iomem.js';
import { MiB, GiB } from './machine-config.js';
import { memparse } from '../../lib/memparse.js';

/** x86: CRASH_ALIGN is 16 MiB. CRASH_ADDR_LOW_MAX/HIGH_MAX: 4 GiB and 64 TiB on x86_64, both 512 MiB on x86_32. */
const CRASH_ALIGN = 16n * MiB;
const LIMITS = { x86_64: { low: 4n * GiB, high: 1n << 46n }, i386: { low: 512n * MiB, high: 512n * MiB } } as const;
/** DEFAULT_CRASH_KERNEL_LOW_SIZE on x86_64 (swiotlb is not modelled, so the 256 MiB floor applies). */
const DEFAULT_LOW_SIZE = 256n * MiB;

export interface CrashkernelSpec {
  size: bigint;
  offset: bigint | null;
  high: boolean;
  /** crashkernel=X,low (explicit low size); null = default when high. */
  lowSize: bigint | null;
}

export class CrashkernelError extends Error {}

/** Parses one or more crashkernel= values (e.g. ["512M-2G:64M,2G-:128M"], ["1G,high", "128M,low"]). */
export function parseCrashkernel(values: string[], systemRamBytes: bigint): CrashkernelSpec {
  let main: CrashkernelSpec | null = null;
  let lowSize: bigint | null = null;
  for (const v of values) {
    if (v.endsWith(',low')) {
      const s = memparse(v.slice(0, -4));
      if (s === null) throw new CrashkernelError(`crashkernel=${v}: cannot parse size (use e.g. 128M,low)`);
      lowSize = s;
      continue;
    }
    if (v.endsWith(',high')) {
      const s = memparse(v.slice(0, -5));
      if (s === null) throw new CrashkernelError(`crashkernel=${v}: cannot parse size (use e.g. 1G,high)`);
      main = { size: s, offset: null, high: true, lowSize: null };
      continue;
    }
    main = v.includes(':') ? parseRanges(v, systemRamBytes) : parseSimple(v);
  }
  if (!main) throw new CrashkernelError('crashkernel=...,low needs a main crashkernel= size as well');
  main.lowSize = lowSize;
  return main;
}

function parseSimple(v: string): CrashkernelSpec {
  const [sizeText, offText] = v.split('@') as [string, string | undefined];
  const size = memparse(sizeText);
  if (size === null || size === 0n) throw new CrashkernelError(`crashkernel=${v}: cannot parse SIZE[@OFFSET] (use e.g. 256M or 256M@512M)`);
  let offset: bigint | null = null;
  if (offText !== undefined) {
    offset = memparse(offText);
    if (offset === null) throw new CrashkernelError(`crashkernel=${v}: cannot parse OFFSET after @`);
  }
  return { size, offset, high: false, lowSize: null };
}

// "start-[end]:size[,start-[end]:size...][@offset]": the first range containing the RAM size wins
// (end exclusive, as parse_crashkernel_mem compares system_ram < end).
function parseRanges(v: string, systemRamBytes: bigint): CrashkernelSpec {
  const [list, offText] = v.split('@') as [string, string | undefined];
  let chosen: bigint | null = null;
  for (const item of list.split(',')) {
    const m = /^([^-:]+)-([^:]*):(.+)$/.exec(item);
    if (!m) throw new CrashkernelError(`crashkernel=${v}: "${item}" is not START-[END]:SIZE`);
    const start = memparse(m[1]!);
    const end = m[2] === '' ? null : memparse(m[2]!);
    const size = memparse(m[3]!);
    if (start === null || size === null || (m[2] !== '' && end === null)) {
      throw new CrashkernelError(`crashkernel=${v}: cannot parse "${item}"`);
    }
    if (end !== null && end <= start) throw new CrashkernelError(`crashkernel=${v}: range end must be above start in "${item}"`);
    if (chosen === null && systemRamBytes >= start && (end === null || systemRamBytes < end)) chosen = size;
  }
  if (chosen === null || chosen === 0n) throw new CrashkernelError(`crashkernel=${v}: no range matches this machine's ${systemRamBytes >> 20n} MiB of RAM`);
  let offset: bigint | null = null;
  if (offText !== undefined) {
    offset = memparse(offText);
    if (offset === null) throw new CrashkernelError(`crashkernel=${v}: cannot parse OFFSET after @`);
  }
  return { size: chosen, offset, high: false, lowSize: null };
}

/** The first resource nested in `ram` that overlaps [start, start + size). */
function childIn(ram: Resource, start: bigint, size: bigint): Resource | undefined {
  const block = { start, end: start + size };
  return ram.children.find((c) => intersectRange(block, resourceRange(c)) !== null);
}

/** memblock_phys_alloc_range top-down: the highest aligned block inside [min, max) free of other resources. */
function allocTopDown(iomem: Resource[], size: bigint, min: bigint, max: bigint): bigint | null {
  const rams = systemRam(iomem).slice().reverse();
  for (const ram of rams) {
    const window = intersectRange(resourceRange(ram), { start: min, end: max });
    if (!window) continue;
    let candidateEnd = window.end;
    while (candidateEnd - size >= window.start) {
      const base = alignDown(candidateEnd - size, CRASH_ALIGN);
      if (base < window.start) break;
      const clash = childIn(ram, base, size);
      if (!clash) return base;
      candidateEnd = clash.start;
    }
  }
  return null;
}

/**
 * Reserves the crash kernel region(s) in the resource tree ("Crash kernel" under System RAM), as
 * reserve_crashkernel does at boot. Returns the reserved [start, end] pairs.
 */
export function reserveCrashkernel(iomem: Resource[], spec: CrashkernelSpec, arch: 'x86_64' | 'i386' = 'x86_64'): Resource[] {
  const CRASH_ADDR_LOW_MAX = LIMITS[arch].low;
  const CRASH_ADDR_HIGH_MAX = LIMITS[arch].high;
  const made: Resource[] = [];
  let base: bigint | null;
  if (spec.offset !== null) {
    if (spec.offset % CRASH_ALIGN !== 0n && spec.offset % (1n * MiB) !== 0n) {
      throw new CrashkernelError(`crashkernel=...@${hex(spec.offset)}: the offset must be 1 MiB aligned`);
    }
    const end = spec.offset + spec.size - 1n;
    const ram = systemRam(iomem).find((r) => r.start <= spec.offset! && end <= r.end);
    if (!ram || childIn(ram, spec.offset, spec.size)) {
      throw new CrashkernelError(`crashkernel reservation failed - memory is in use (${hex(spec.offset)}-${hex(end)} is not free System RAM)`);
    }
    base = spec.offset;
  } else if (spec.high) {
    base = allocTopDown(iomem, spec.size, CRASH_ALIGN, CRASH_ADDR_HIGH_MAX);
  } else {
    base = allocTopDown(iomem, spec.size, CRASH_ALIGN, CRASH_ADDR_LOW_MAX);
    // reserve_crashkernel falls back to high memory when no low block fits and ,high was not asked for.
    if (base === null && CRASH_ADDR_HIGH_MAX > CRASH_ADDR_LOW_MAX) base = allocTopDown(iomem, spec.size, CRASH_ADDR_LOW_MAX, CRASH_ADDR_HIGH_MAX);
  }
  if (base === null) throw new CrashkernelError(`crashkernel reservation failed - No suitable area found (${spec.size >> 20n} MiB)`);
  const main: Resource = { start: base, end: base + spec.size - 1n, name: 'Crash kernel', children: [] };
  insertResource(iomem, main);
  made.push(main);
  if (base >= CRASH_ADDR_LOW_MAX) {
    // reserve_crashkernel_low: a high reservation gets a low one for DMA and swiotlb.
    const lowSize = spec.lowSize ?? DEFAULT_LOW_SIZE;
    if (lowSize > 0n) {
      const lowBase = allocTopDown(iomem, lowSize, 0n, CRASH_ADDR_LOW_MAX);
      if (lowBase === null) {
        throw new CrashkernelError(`cannot reserve ${lowSize >> 20n}MB crashkernel low memory, please try smaller size`);
      }
      const low: Resource = { start: lowBase, end: lowBase + lowSize - 1n, name: 'Crash kernel', children: [] };
      insertResource(iomem, low);
      made.push(low);
    }
  }
  return made;
}
