// Where guest-physical memory lives on QEMU's pc machine as the QEMU engine configures it, and the checks a
// memory image must pass before it is written into the guest's RAM file.
import { KexecError, type ErrnoName } from '../../errno.js';
import { STUB_MAX_GIB, STUB_SCRATCH } from '../../arch/x86/stub/params.js';
import { hex } from '../../lib/hex.js';
import type { EntryState, Extent, MemoryImage, PhysAddr } from '../memory/memory-image.js';

const GiB = 1n << 30n;
/**
 * The engine passes -machine max-ram-below-4g=3G, so QEMU's pc machine (hw/i386/pc_piix.c) puts RAM at
 * [0, min(ram, 3 GiB)) and the rest at [4 GiB, 4 GiB + ram - 3 GiB), whatever the RAM size.
 */
export const BELOW_4G_MAX = 3n * GiB;
const FOUR_GIB = 4n * GiB;
/** Legacy VGA window and BIOS area: on the pc machine these addresses are not RAM. */
export const LEGACY_HOLE = { start: 0xa0000n, end: 0x100000n } as const;

/** A run of guest RAM and where it sits in the RAM backing file. */
export interface RamRegion {
  start: PhysAddr;
  end: PhysAddr; // exclusive
  fileOffset: bigint;
}

export function qemuRamRegions(ramSize: PhysAddr): RamRegion[] {
  const low = ramSize < BELOW_4G_MAX ? ramSize : BELOW_4G_MAX;
  const regions: RamRegion[] = [{ start: 0n, end: low, fileOffset: 0n }];
  if (ramSize > low) regions.push({ start: FOUR_GIB, end: FOUR_GIB + ramSize - low, fileOffset: low });
  return regions;
}

/** 1 GiB pages the stub must map: all of RAM, and never less than 4 GiB (its ROM sits just below 4 GiB). */
export function identityMapGib(ramSize: PhysAddr): number {
  const regions = qemuRamRegions(ramSize);
  const top = regions[regions.length - 1]!.end;
  const span = top > FOUR_GIB ? top : FOUR_GIB;
  return Number((span + GiB - 1n) / GiB);
}

function extentName(e: Extent): string {
  const where = `[${hex(e.addr)}, ${hex(e.addr + BigInt(e.length))})`;
  return e.kind === 'file' ? `${where} (${e.path} at offset ${e.offset})` : `${where} (${e.kind})`;
}

function ramList(regions: RamRegion[]): string {
  return regions.map((r) => `[${hex(r.start)}, ${hex(r.end)})`).join(' ');
}

function refuse(errno: ErrnoName, rule: string, detail: string, value: string, hint: string): never {
  throw new KexecError(errno, rule, detail, { value, hint });
}

/** e820 type of "ACPI Tables" (E820_TYPE_ACPI, arch/x86/include/asm/e820/types.h). */
const E820_ACPI = 3;

/**
 * The range the firmware stub fills with QEMU's ACPI tables: the machine's largest "ACPI Tables" e820 entry
 * that is RAM on QEMU's pc machine below 4 GiB (the stub works with 32-bit addresses) and holds no loaded
 * extent. A machine without one (an older machine, a cloned map without ACPI) boots without ACPI tables.
 */
export function acpiTablesRange(image: MemoryImage): { base: bigint; size: bigint } | null {
  const regions = qemuRamRegions(image.ramSize);
  let best: { base: bigint; size: bigint } | null = null;
  for (const e of image.e820) {
    if (e.type !== E820_ACPI || e.size === 0n || e.addr + e.size > FOUR_GIB) continue;
    if (ramFileOffset(regions, e.addr, e.size) === null) continue;
    if (image.extents.some((x) => x.length > 0 && x.addr < e.addr + e.size && x.addr + BigInt(x.length) > e.addr)) continue;
    if (!best || e.size > best.size) best = { base: e.addr, size: e.size };
  }
  return best;
}

/** File offset of [addr, addr+length) in the RAM file, or null when the range is not entirely in one RAM region. */
export function ramFileOffset(regions: RamRegion[], addr: PhysAddr, length: bigint): bigint | null {
  for (const r of regions) {
    if (addr >= r.start && addr + length <= r.end) return r.fileOffset + (addr - r.start);
  }
  return null;
}

/**
 * Refuses images QEMU cannot hold as given: sizes it cannot back, extents outside its RAM or in the legacy
 * hole or over the stub's scratch area, unsorted or overlapping extents, e820 RAM QEMU does not have.
 */
export function checkImageForQemu(image: MemoryImage, entry: EntryState): void {
  const MiB = 1n << 20n;
  if (image.ramSize < 16n * MiB || image.ramSize % MiB !== 0n) {
    refuse('EINVAL', 'qemu memory-backend', `RAM size ${hex(image.ramSize)} is not a whole number of MiB of at least 16 MiB`, hex(image.ramSize), 'configure the machine with a RAM size in MiB, 16 MiB or more');
  }
  if (identityMapGib(image.ramSize) > STUB_MAX_GIB) {
    refuse('ENOMEM', 'qemu stub identity map', `RAM up to ${hex(qemuRamRegions(image.ramSize).at(-1)!.end)} is beyond the ${STUB_MAX_GIB} GiB the firmware stub identity-maps`, hex(image.ramSize), 'configure a smaller machine');
  }
  if (entry.mode === 'protected32' && entry.entry >= FOUR_GIB) {
    refuse('EINVAL', 'qemu entry state', `the 32-bit entry point ${hex(entry.entry)} lies above 4 GiB`, hex(entry.entry), 'a protected32 entry must be a 32-bit address');
  }
  if (entry.entry < 0n || entry.entry >= 1n << 64n) refuse('EINVAL', 'qemu entry state', `entry ${entry.entry} is not a 64-bit address`, String(entry.entry), 'this is a bug in machine_kexec');

  const regions = qemuRamRegions(image.ramSize);
  for (const e of image.e820) {
    if (e.type !== 1 || e.size === 0n) continue;
    if (ramFileOffset(regions, e.addr, e.size) === null) {
      refuse(
        'EFAULT',
        'qemu pc memory layout',
        `the machine's e820 RAM [${hex(e.addr)}, ${hex(e.addr + e.size)}) is not RAM on QEMU's pc machine (RAM: ${ramList(regions)})`,
        hex(e.addr),
        'give the machine a memory map that keeps RAM below 3 GiB and puts the rest at 4 GiB',
      );
    }
  }

  let prevEnd = -1n;
  for (const e of image.extents) {
    if (!Number.isSafeInteger(e.length) || e.length < 0 || (e.kind === 'bytes' && e.data.length !== e.length)) {
      refuse('EINVAL', 'qemu memory image', `extent at ${hex(e.addr)} has a bad length ${e.length}`, hex(e.addr), 'this is a bug in machine_kexec\'s memory image');
    }
    const len = BigInt(e.length);
    const end = e.addr + len;
    if (e.addr < prevEnd) {
      refuse('EINVAL', 'qemu memory image', `extent ${extentName(e)} overlaps or precedes the one before it`, hex(e.addr), 'memory image extents must be sorted and disjoint: this is a bug in machine_kexec\'s memory image');
    }
    prevEnd = end;
    if (len === 0n) continue;
    if (e.addr < STUB_SCRATCH.end && end > STUB_SCRATCH.start) {
      refuse(
        'EBUSY',
        'qemu firmware stub',
        `extent ${extentName(e)} overlaps the firmware stub's scratch area [${hex(STUB_SCRATCH.start)}, ${hex(STUB_SCRATCH.end)})`,
        hex(e.addr),
        'keep segments at 0x3000 or above, as kexec does',
      );
    }
    if (e.addr < LEGACY_HOLE.end && end > LEGACY_HOLE.start) {
      refuse('EFAULT', 'qemu pc memory layout', `extent ${extentName(e)} lies in the legacy VGA/BIOS hole [0xa0000, 0x100000), which is not RAM`, hex(e.addr), 'keep segments out of 640 KiB - 1 MiB');
    }
    if (ramFileOffset(regions, e.addr, len) === null) {
      refuse('EFAULT', 'qemu pc memory layout', `extent ${extentName(e)} is outside the guest's RAM (${ramList(regions)})`, hex(e.addr), 'reload the image into this machine (vkexec -u, then -l)');
    }
  }
}
