// The Multiboot2 header and its tags (Multiboot2 Specification 2.0, section 3.1; kexec-tools'
// include/x86/multiboot2.h): an 8-byte-aligned header in the first 32 KiB whose magic, architecture,
// header_length and checksum add up to zero modulo 2^32, followed by 8-byte-aligned tags up to an end tag.

import type { FieldSpec } from './struct.js';
import { readField } from './struct.js';

export class Multiboot2FormatError extends Error {}

/** multiboot2.h MULTIBOOT_SEARCH (32 KiB, not Multiboot v1's 8 KiB) and MULTIBOOT_HEADER_ALIGN. */
export const MULTIBOOT2_SEARCH = 32768;
export const MULTIBOOT2_HEADER_ALIGN = 8;
export const MULTIBOOT2_HEADER_MAGIC = 0xe85250d6;
export const MULTIBOOT2_BOOTLOADER_MAGIC = 0x36d76289;
export const MULTIBOOT_TAG_ALIGN = 8;
export const MULTIBOOT_HEADER_TAG_OPTIONAL = 1;

/** Header tag types (MULTIBOOT_HEADER_TAG_*). */
export const MB2_HEADER_TAG = {
  END: 0,
  INFORMATION_REQUEST: 1,
  ADDRESS: 2,
  ENTRY_ADDRESS: 3,
  CONSOLE_FLAGS: 4,
  FRAMEBUFFER: 5,
  MODULE_ALIGN: 6,
  EFI_BS: 7,
  ENTRY_ADDRESS_EFI32: 8,
  ENTRY_ADDRESS_EFI64: 9,
  RELOCATABLE: 10,
} as const;

/** Information tag types (MULTIBOOT_TAG_TYPE_*) a boot loader writes. */
export const MB2_TAG = {
  END: 0,
  CMDLINE: 1,
  BOOT_LOADER_NAME: 2,
  MODULE: 3,
  BASIC_MEMINFO: 4,
  BOOTDEV: 5,
  MMAP: 6,
  VBE: 7,
  FRAMEBUFFER: 8,
  ELF_SECTIONS: 9,
  APM: 10,
  EFI32: 11,
  EFI64: 12,
  SMBIOS: 13,
  ACPI_OLD: 14,
  ACPI_NEW: 15,
  NETWORK: 16,
  EFI_MMAP: 17,
  EFI_BS: 18,
  EFI32_IH: 19,
  EFI64_IH: 20,
  LOAD_BASE_ADDR: 21,
} as const;

const HEADER_TAG_NAMES: Record<number, string> = {
  0: 'end', 1: 'information request', 2: 'address', 3: 'entry address', 4: 'console flags', 5: 'framebuffer',
  6: 'module align', 7: 'EFI boot services', 8: 'EFI i386 entry address', 9: 'EFI amd64 entry address', 10: 'relocatable',
};

export function mb2HeaderTagName(type: number): string {
  return HEADER_TAG_NAMES[type] ?? `unknown (${type})`;
}

/** struct multiboot_header (multiboot2.h), 16 bytes. */
export const MULTIBOOT2_HEADER = {
  magic: { offset: 0, size: 4 },
  architecture: { offset: 4, size: 4 },
  header_length: { offset: 8, size: 4 },
  checksum: { offset: 12, size: 4 },
} as const satisfies Record<string, FieldSpec>;
export const MULTIBOOT2_HEADER_SIZE = 16;

/** struct multiboot_header_tag: the common head of every header tag. */
export const MB2_HEADER_TAG_HEAD = {
  type: { offset: 0, size: 2 },
  flags: { offset: 2, size: 2 },
  size: { offset: 4, size: 4 },
} as const satisfies Record<string, FieldSpec>;

/** struct multiboot_header_tag_relocatable. */
export const MB2_RELOCATABLE = {
  min_addr: { offset: 8, size: 4 },
  max_addr: { offset: 12, size: 4 },
  align: { offset: 16, size: 4 },
  preference: { offset: 20, size: 4 },
} as const satisfies Record<string, FieldSpec>;

export interface Multiboot2Header {
  offset: number;
  architecture: number;
  headerLength: number;
  checksum: number;
}

export interface Multiboot2HeaderTag {
  type: number;
  flags: number;
  size: number;
  /** Offset of the tag in the file. */
  offset: number;
  /** The tag's u32 words after its 8-byte head (as many as its size holds). */
  words: number[];
}

/** The first Multiboot2 header (multiboot2_x86_probe's search): 8-byte steps while a whole 16-byte header fits. */
export function findMultiboot2Header(buf: Uint8Array): Multiboot2Header | null {
  const len = Math.min(buf.length, MULTIBOOT2_SEARCH);
  for (let off = 0; off + MULTIBOOT2_HEADER_SIZE <= len; off += MULTIBOOT2_HEADER_ALIGN) {
    const magic = readField(buf, MULTIBOOT2_HEADER.magic, off) as number;
    if (magic !== MULTIBOOT2_HEADER_MAGIC) continue;
    const architecture = readField(buf, MULTIBOOT2_HEADER.architecture, off) as number;
    const headerLength = readField(buf, MULTIBOOT2_HEADER.header_length, off) as number;
    const checksum = readField(buf, MULTIBOOT2_HEADER.checksum, off) as number;
    if ((magic + architecture + headerLength + checksum) % 2 ** 32 !== 0) continue;
    return { offset: off, architecture, headerLength, checksum };
  }
  return null;
}

/**
 * The header's tags up to and including the end tag (multiboot2_read_header_tags' walk: each tag's size rounded
 * up to 8). kexec-tools walks without a bound (a zero-sized tag loops forever); here a tag that does not fit
 * the file's first 32 KiB, or is smaller than its 8-byte head, is a format error.
 */
export function readMultiboot2HeaderTags(buf: Uint8Array, h: Multiboot2Header): Multiboot2HeaderTag[] {
  const limit = Math.min(buf.length, MULTIBOOT2_SEARCH);
  const tags: Multiboot2HeaderTag[] = [];
  let off = h.offset + MULTIBOOT2_HEADER_SIZE;
  for (;;) {
    if (off + 8 > limit) throw new Multiboot2FormatError(`multiboot2 header at ${off}: the tag list runs past the first ${limit} bytes without an end tag`);
    const type = readField(buf, MB2_HEADER_TAG_HEAD.type, off) as number;
    const flags = readField(buf, MB2_HEADER_TAG_HEAD.flags, off) as number;
    const size = readField(buf, MB2_HEADER_TAG_HEAD.size, off) as number;
    if (size < 8 || off + size > limit) throw new Multiboot2FormatError(`multiboot2 header tag ${type} at offset ${off} has size ${size}, which does not fit`);
    const words: number[] = [];
    for (let o = 8; o + 4 <= size; o += 4) words.push(readField(buf, { offset: off + o, size: 4 }) as number);
    tags.push({ type, flags, size, offset: off, words });
    if (type === MB2_HEADER_TAG.END) return tags;
    off += (size + MULTIBOOT_TAG_ALIGN - 1) & ~(MULTIBOOT_TAG_ALIGN - 1);
  }
}
