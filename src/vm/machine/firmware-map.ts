// The firmware's e820 map (what /sys/firmware/memmap shows: drivers/firmware/memmap.c keeps the table the
// BIOS handed over, before the kernel changes it) and /proc/iomem derived from it as Linux derives it
// (arch/x86/kernel/e820.c): page 0 becomes reserved (trim_bios_range), RAM between 640 KiB and 1 MiB is
// dropped, every entry becomes a top-level resource named by its type (e820__reserve_resources), and the
// running kernel's code, rodata, data and bss are nested in the System RAM that holds them.

import { hex } from '../../lib/hex.js';
import { type Resource, insertResource } from './iomem.js';

export interface FirmwareMapEntry {
  start: bigint;
  /** Inclusive. */
  end: bigint;
  type: string;
}

export class MemmapParseError extends Error {}

/** e820 type names as /sys/firmware/memmap/N/type spells them (firmware_map_add_entry's e820_type_to_string). */
export const MEMMAP_TYPES = ['System RAM', 'Reserved', 'ACPI Tables', 'ACPI Non-volatile Storage', 'Unusable memory', 'Persistent Memory', 'Persistent Memory (legacy)', 'Soft Reserved'];

const LINE = /^\s*(?:0[xX])?([0-9a-fA-F]+)\s*-\s*(?:0[xX])?([0-9a-fA-F]+)\s*:?\s*(.+?)\s*$/;

/**
 * The firmware map from text: one "START-END : TYPE" line per entry (hex, 0x optional, END inclusive), as
 * `for d in /sys/firmware/memmap/*; do echo "$(cat $d/start)-$(cat $d/end) : $(cat $d/type)"; done` prints it.
 * Sorted by start; entries must not overlap.
 */
export function parseMemmapText(text: string, source: string): FirmwareMapEntry[] {
  const out: FirmwareMapEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    const m = LINE.exec(raw);
    if (!m) throw new MemmapParseError(`${source}:${i + 1}: expected "START-END : TYPE", got ${JSON.stringify(raw)}`);
    out.push(entry(BigInt('0x' + m[1]), BigInt('0x' + m[2]), m[3]!, `${source}:${i + 1}`));
  });
  return checkMap(out, source);
}

/** The firmware map from a saved /sys/firmware/memmap tree: its N/start, N/end, N/type files. */
export function memmapFromTree(files: Map<number, { start: string; end: string; type: string }>, source: string): FirmwareMapEntry[] {
  const out = [...files.entries()].map(([n, f]) => {
    const num = (t: string, what: string) => {
      if (!/^\s*0[xX][0-9a-fA-F]+\s*$/.test(t)) throw new MemmapParseError(`${source}/${n}/${what}: expected a 0x number, got ${JSON.stringify(t.trim())}`);
      return BigInt(t.trim());
    };
    return entry(num(f.start, 'start'), num(f.end, 'end'), f.type.trim(), `${source}/${n}`);
  });
  return checkMap(out, source);
}

function entry(start: bigint, end: bigint, type: string, where: string): FirmwareMapEntry {
  if (end < start) throw new MemmapParseError(`${where}: end ${hex(end)} is below start ${hex(start)}`);
  if (!MEMMAP_TYPES.includes(type)) throw new MemmapParseError(`${where}: unknown type ${JSON.stringify(type)} (known: ${MEMMAP_TYPES.join(', ')})`);
  return { start, end, type };
}

function checkMap(map: FirmwareMapEntry[], source: string): FirmwareMapEntry[] {
  map.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  if (map.length === 0) throw new MemmapParseError(`${source}: no entries`);
  for (let i = 1; i < map.length; i++) {
    if (map[i]!.start <= map[i - 1]!.end) throw new MemmapParseError(`${source}: ${hex(map[i]!.start)} overlaps the entry before it`);
  }
  return map;
}

const PAGE = 0x1000n;
const BIOS_BEGIN = 0xa0000n;
const BIOS_END = 0x100000n;

/** The kernel's e820 table after trim_bios_range: page 0 reserved, no RAM in [640 KiB, 1 MiB). */
export function kernelE820(map: readonly FirmwareMapEntry[]): FirmwareMapEntry[] {
  const out: FirmwareMapEntry[] = [];
  for (const e of map) {
    if (e.type !== 'System RAM') {
      out.push({ ...e });
      continue;
    }
    let { start, end } = e;
    if (start < PAGE) {
      out.push({ start, end: end < PAGE ? end : PAGE - 1n, type: 'Reserved' });
      start = PAGE;
    }
    if (start > end) continue;
    // e820__range_remove(BIOS_BEGIN, BIOS_END - BIOS_BEGIN, E820_TYPE_RAM)
    if (start < BIOS_BEGIN) out.push({ start, end: end < BIOS_BEGIN ? end : BIOS_BEGIN - 1n, type: 'System RAM' });
    if (end >= BIOS_END) out.push({ start: start > BIOS_END ? start : BIOS_END, end, type: 'System RAM' });
  }
  return out;
}

/** /proc/iomem for a firmware map: the kernel's e820 as top-level resources, the kernel image nested in RAM. */
export function iomemFromFirmware(map: readonly FirmwareMapEntry[], kernel: readonly [bigint, bigint, string][]): Resource[] {
  const roots: Resource[] = kernelE820(map).map((e) => ({ start: e.start, end: e.end, name: e.type, children: [] }));
  for (const [start, end, name] of kernel) insertResource(roots, { start, end, name, children: [] });
  return roots;
}
