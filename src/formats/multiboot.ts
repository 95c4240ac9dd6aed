// The Multiboot (v1) header as a boot loader finds it (Multiboot Specification 0.6.96, section 3.1; kexec-tools'
// include/x86/mb_header.h): a 4-byte-aligned struct in the first 8 KiB of the image whose magic, flags and
// checksum add up to zero modulo 2^32. Reading only; what a loader does with it is loader policy.

import type { FieldSpec } from './struct.js';
import { readField } from './struct.js';

/** mb_header.h MULTIBOOT_SEARCH: the header must start in the first 8192 bytes. */
export const MULTIBOOT_SEARCH = 8192;
export const MULTIBOOT_MAGIC = 0x1badb002;
/** What the boot loader leaves in EAX (mb_info.h MULTIBOOT_VALID). */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
export const MULTIBOOT_PAGE_ALIGN = 0x1;
export const MULTIBOOT_MEMORY_INFO = 0x2;
export const MULTIBOOT_VIDEO_MODE = 0x4;
/** Flag bits 3..15 a boot loader must understand; kexec-tools understands none of them (MULTIBOOT_UNSUPPORTED). */
export const MULTIBOOT_UNSUPPORTED = 0x0000fff8;
export const MULTIBOOT_AOUT_KLUDGE = 0x00010000;

/** struct multiboot_header (mb_header.h), 48 bytes. */
export const MULTIBOOT_HEADER = {
  magic: { offset: 0, size: 4 },
  flags: { offset: 4, size: 4 },
  checksum: { offset: 8, size: 4 },
  header_addr: { offset: 12, size: 4 },
  load_addr: { offset: 16, size: 4 },
  load_end_addr: { offset: 20, size: 4 },
  bss_end_addr: { offset: 24, size: 4 },
  entry_addr: { offset: 28, size: 4 },
  mode_type: { offset: 32, size: 4 },
  width: { offset: 36, size: 4 },
  height: { offset: 40, size: 4 },
  depth: { offset: 44, size: 4 },
} as const satisfies Record<string, FieldSpec>;
export const MULTIBOOT_HEADER_SIZE = 48;

export type MultibootHeader = { -readonly [K in keyof typeof MULTIBOOT_HEADER]: number } & {
  /** Where the header starts in the file. */
  offset: number;
};

/**
 * The first multiboot header (multiboot_x86_probe's search): every 4-byte offset up to len-12 in the first 8 KiB
 * whose magic matches and whose magic+flags+checksum is 0 mod 2^32. Fields past the end of a short file read as
 * zero (kexec-tools reads them from its zeroed static copy of the first 8 KiB).
 */
export function findMultibootHeader(buf: Uint8Array): MultibootHeader | null {
  const len = Math.min(buf.length, MULTIBOOT_SEARCH);
  if (len < 12) return null;
  const copy = new Uint8Array(MULTIBOOT_SEARCH + MULTIBOOT_HEADER_SIZE);
  copy.set(buf.subarray(0, len));
  for (let off = 0; off <= len - 12; off += 4) {
    const magic = readField(copy, MULTIBOOT_HEADER.magic, off) as number;
    if (magic !== MULTIBOOT_MAGIC) continue;
    const flags = readField(copy, MULTIBOOT_HEADER.flags, off) as number;
    const checksum = readField(copy, MULTIBOOT_HEADER.checksum, off) as number;
    if ((magic + flags + checksum) % 2 ** 32 !== 0) continue;
    const h = { offset: off } as MultibootHeader;
    for (const k of Object.keys(MULTIBOOT_HEADER) as (keyof typeof MULTIBOOT_HEADER)[]) h[k] = readField(copy, MULTIBOOT_HEADER[k], off) as number;
    return h;
  }
  return null;
}
