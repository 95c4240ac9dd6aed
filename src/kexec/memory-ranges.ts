// kexec-tools' view of the machine's memory (kexec/arch/i386/kexec-x86-common.c get_memory_ranges and
// kexec/firmware_memmap.c), read from the machine's /sys/firmware/memmap and /proc/iomem text views.

import { UsageError } from '../errno.js';
import { parseIomem } from '../vm/machine/iomem.js';

/** kexec/kexec.h RANGE_* numbers (printed by -d in "MEMORY RANGES"). */
export const RANGE = {
  RAM: 0,
  RESERVED: 1,
  ACPI: 2,
  ACPI_NVS: 3,
  UNCACHED: 4,
  PMEM: 6,
  PRAM: 11,
} as const;
export type RangeType = (typeof RANGE)[keyof typeof RANGE];

export interface MemoryRange {
  start: bigint;
  /** Inclusive. */
  end: bigint;
  type: RangeType;
}

/** Where kexec-tools reads a running system: one text file by its path, null when absent. */
export type SystemFiles = (path: string) => string | null;

const REALMODE_IVT_END = 0x400n;

function sysfsType(name: string): RangeType {
  switch (name) {
    case 'System RAM':
      return RANGE.RAM;
    case 'ACPI Tables':
      return RANGE.ACPI;
    case 'ACPI Non-volatile Storage':
      return RANGE.ACPI_NVS;
    case 'Uncached RAM':
      return RANGE.UNCACHED;
    case 'Persistent Memory (legacy)':
      return RANGE.PRAM;
    case 'Persistent Memory':
      return RANGE.PMEM;
    default:
      return RANGE.RESERVED; // Reserved, reserved, Unusable memory, Unknown E820 type, anything else
  }
}

function parseHex(text: string | null, file: string): bigint {
  const t = text?.trim();
  if (!t || !/^0x[0-9a-fA-F]+$/.test(t)) throw new UsageError(`Cannot parse ${file}: ${JSON.stringify(t ?? '')}`);
  return BigInt(t);
}

/** get_memory_ranges_sysfs: /sys/firmware/memmap/N/{start,end,type}, sorted by start. */
function rangesFromSysfs(files: SystemFiles): MemoryRange[] {
  const out: MemoryRange[] = [];
  for (let i = 0; ; i++) {
    const dir = `/sys/firmware/memmap/${i}`;
    const start = files(`${dir}/start`);
    if (start === null) break;
    out.push({
      start: parseHex(start, `${dir}/start`),
      end: parseHex(files(`${dir}/end`), `${dir}/end`),
      type: sysfsType((files(`${dir}/type`) ?? '').trim()),
    });
  }
  return out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/** fixup_memory_ranges: drops or trims same-typed neighbours that overlap. */
function fixupMemoryRanges(ranges: MemoryRange[]): MemoryRange[] {
  const rp = ranges.slice();
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = 0; i + 1 < rp.length; i++) {
      const a = rp[i]!;
      const b = rp[i + 1]!;
      if (a.type !== b.type) continue;
      if (a.start === b.start) {
        rp.splice(a.end >= b.end ? i + 1 : i, 1);
        changed = true;
      } else if (a.end > b.start) {
        if (a.end < b.end) b.start = a.end;
        else rp.splice(i + 1, 1);
        changed = true;
      }
    }
  }
  return rp;
}

/** get_memory_ranges_proc_iomem: every line of /proc/iomem with a type kexec-tools knows. */
function rangesFromIomem(files: SystemFiles): MemoryRange[] {
  const text = files('/proc/iomem');
  if (text === null) throw new UsageError('Cannot open /proc/iomem: No such file or directory');
  const out: MemoryRange[] = [];
  for (const r of parseIomem(text)) {
    const known = ['System RAM', 'reserved', 'Reserved', 'ACPI Tables', 'ACPI Non-volatile Storage', 'Persistent Memory', 'Persistent Memory (legacy)'];
    if (!known.includes(r.name)) continue;
    out.push({ start: r.start, end: r.end, type: sysfsType(r.name) });
  }
  return out;
}

/** get_memory_ranges: sysfs when present (fixed up), /proc/iomem otherwise; the real-mode IVT is not RAM. */
export function getMemoryRanges(files: SystemFiles): MemoryRange[] {
  const ranges = files('/sys/firmware/memmap') !== null ? fixupMemoryRanges(rangesFromSysfs(files)) : rangesFromIomem(files);
  const first = ranges.find((r) => r.type === RANGE.RAM && r.start < REALMODE_IVT_END);
  if (first) first.start = REALMODE_IVT_END;
  return ranges;
}

/** get_crash_kernel_load_range: the "Crash kernel" line(s) of /proc/iomem (the last one is crashk_res). */
export function crashKernelRanges(files: SystemFiles): { start: bigint; end: bigint }[] {
  const text = files('/proc/iomem');
  if (text === null) return [];
  const out: { start: bigint; end: bigint }[] = [];
  const walk = (list: ReturnType<typeof parseIomem>) => {
    for (const r of list) {
      if (r.name === 'Crash kernel') out.push({ start: r.start, end: r.end });
      walk(r.children);
    }
  };
  walk(parseIomem(text));
  return out;
}
