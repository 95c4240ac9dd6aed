// Physical address ranges. One representation inside vkexec: half-open [start, end), `end` exclusive, so a
// range's length is end - start and adjacent ranges share an address. Linux's struct resource, /proc/iomem,
// /sys/firmware/memmap and kexec-tools' struct memory_range use inclusive ends: convert at that boundary with
// fromInclusive/toInclusiveEnd, never in the middle of a computation.

export interface PhysRange {
  start: bigint;
  /** Exclusive. */
  end: bigint;
}

/** [start, last] with an inclusive last byte, as struct resource and /proc/iomem give it. */
export const fromInclusive = (start: bigint, last: bigint): PhysRange => ({ start, end: last + 1n });

/** The inclusive last byte of a non-empty range. */
export const toInclusiveEnd = (r: PhysRange): bigint => r.end - 1n;

export const rangeLength = (r: PhysRange): bigint => r.end - r.start;

/** The parts of `from` left after every range of `cut` is removed, in `from`'s order. */
export function subtractRanges<T extends PhysRange>(from: readonly T[], cut: readonly PhysRange[]): T[] {
  let out = [...from];
  for (const c of cut) {
    out = out.flatMap((r) => {
      if (c.end <= r.start || c.start >= r.end) return [r];
      const parts: T[] = [];
      if (r.start < c.start) parts.push({ ...r, start: r.start, end: c.start });
      if (c.end < r.end) parts.push({ ...r, start: c.end, end: r.end });
      return parts;
    });
  }
  return out;
}

/** The overlap of two ranges, or null when they do not overlap. */
export function intersectRange(a: PhysRange, b: PhysRange): PhysRange | null {
  const start = a.start > b.start ? a.start : b.start;
  const end = a.end < b.end ? a.end : b.end;
  return start < end ? { start, end } : null;
}

/** Whether [start, end) overlaps any of `ranges`. */
export const overlapsAny = (r: PhysRange, ranges: readonly PhysRange[]): boolean => ranges.some((x) => r.start < x.end && x.start < r.end);
