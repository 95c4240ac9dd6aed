// Half-open physical ranges [start, end) and the one operation the machine needs on them.

export interface PhysRange {
  start: bigint;
  /** Exclusive. */
  end: bigint;
}

/** The parts of `from` left after every range of `cut` is removed, in `from`'s order. */
export function subtractRanges(from: readonly PhysRange[], cut: readonly PhysRange[]): PhysRange[] {
  let out = [...from];
  for (const c of cut) {
    out = out.flatMap((r) => {
      if (c.end <= r.start || c.start >= r.end) return [r];
      const parts: PhysRange[] = [];
      if (r.start < c.start) parts.push({ start: r.start, end: c.start });
      if (c.end < r.end) parts.push({ start: c.end, end: r.end });
      return parts;
    });
  }
  return out;
}
