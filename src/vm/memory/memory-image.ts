// The machine's physical memory as handed to an engine after machine_kexec: sparse runs of known content.
// No whole-RAM buffers: a run names where its bytes live (a blob file region, a small buffer, zeros, or a
// fill pattern computed from the address, see fill-pattern.ts).

import type { PhysRange } from '../../lib/range.js';
import type { FillPattern } from './fill-pattern.js';

export type PhysAddr = bigint;

export type Extent =
  | { addr: PhysAddr; length: number; kind: 'file'; path: string; offset: number }
  | { addr: PhysAddr; length: number; kind: 'bytes'; data: Uint8Array }
  | { addr: PhysAddr; length: number; kind: 'zero' }
  | { addr: PhysAddr; length: number; kind: 'pattern'; pattern: FillPattern };

/** One e820 entry as the machine firmware reports it (type: 1 RAM, 2 reserved, 3 ACPI, 4 NVS, 5 unusable). */
export interface E820Entry {
  addr: PhysAddr;
  size: PhysAddr;
  type: number;
}

export interface MemoryImage {
  /** Bytes of RAM the engine must give the guest (the machine's configured size). */
  ramSize: PhysAddr;
  /** The machine's firmware map, for engines that need to mirror it (the guest reads its own from boot_params). */
  e820: E820Entry[];
  /** Sorted by addr, non-overlapping. Memory not covered is undefined (engines zero it). */
  extents: Extent[];
  /**
   * The loaded segments' destinations (kimage->segment[i].mem, memsz), for engines that check the hand-off
   * instead of running it (verify); the segment holding the entry is the purgatory's when there is one.
   */
  segments?: PhysRange[];
}

/**
 * CPU state at the hand-off from the old kernel (relocate_kernel) to image->start:
 * 'long64': 64-bit mode, identity-mapped page tables covering RAM, interrupts off (x86_64 machines);
 * 'protected32': flat 32-bit protected mode, paging off (i386 machines).
 */
export interface EntryState {
  mode: 'long64' | 'protected32';
  entry: PhysAddr;
}
