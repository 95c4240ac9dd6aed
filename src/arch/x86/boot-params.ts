// struct boot_params, the "zero page" (arch/x86/include/uapi/asm/bootparam.h; kexec-tools calls it
// x86_linux_param_header). Offsets as the header lists them; the setup header part lives in setup-header.ts.

import { type FieldSpec, writeField, readField } from '../../formats/struct.js';
import { SETUP_HEADER } from '../../formats/setup-header.js';

/** The setup header's magic ("HdrS"), for code that reads boot_params without the setup-header module. */
export { HDRS_MAGIC } from '../../formats/setup-header.js';

export const BOOT_PARAMS_SIZE = 4096;

/** struct boot_params, its setup header (struct setup_header hdr at 0x1f1) included. */
export const BOOT_PARAMS = {
  ...SETUP_HEADER,
  orig_x: { offset: 0x00, size: 1 },
  orig_y: { offset: 0x01, size: 1 },
  ext_mem_k: { offset: 0x02, size: 2 },
  orig_video_page: { offset: 0x04, size: 2 },
  orig_video_mode: { offset: 0x06, size: 1 },
  orig_video_cols: { offset: 0x07, size: 1 },
  orig_video_ega_bx: { offset: 0x0a, size: 2 },
  orig_video_lines: { offset: 0x0e, size: 1 },
  orig_video_isVGA: { offset: 0x0f, size: 1 },
  orig_video_points: { offset: 0x10, size: 2 },
  cl_magic: { offset: 0x20, size: 2 },
  cl_offset: { offset: 0x22, size: 2 },
  acpi_rsdp_addr: { offset: 0x70, size: 8 },
  ext_ramdisk_image: { offset: 0xc0, size: 4 },
  ext_ramdisk_size: { offset: 0xc4, size: 4 },
  ext_cmd_line_ptr: { offset: 0xc8, size: 4 },
  alt_mem_k: { offset: 0x1e0, size: 4 },
  e820_entries: { offset: 0x1e8, size: 1 },
  eddbuf_entries: { offset: 0x1e9, size: 1 },
  edd_mbr_sig_buf_entries: { offset: 0x1ea, size: 1 },
  sentinel: { offset: 0x1ef, size: 1 },
  /** kexec-tools' mount_root_rdonly is the setup header's root_flags. */
  root_flags: { offset: 0x1f2, size: 2 },
  root_dev: { offset: 0x1fc, size: 2 },
  /** kexec-tools' aux_device_info: overlaps the high byte of boot_flag, and kexec-tools writes 0 there. */
  aux_device_info: { offset: 0x1ff, size: 1 },
  e820_table: { offset: 0x2d0, size: 1 },
} as const satisfies Record<string, FieldSpec>;

export const CL_MAGIC_VALUE = 0xa33f;
/** E820_MAX_ENTRIES_ZEROPAGE */
export const E820_MAX = 128;
export const E820_ENTRY_SIZE = 20;
/** struct boot_e820_entry: u64 addr, u64 size, u32 type, packed. */
const BOOT_E820_ENTRY = {
  addr: { offset: 0, size: 8 },
  size: { offset: 8, size: 8 },
  type: { offset: 16, size: 4 },
} as const satisfies Record<string, FieldSpec>;

// setup_data types (arch/x86/include/uapi/asm/setup_data.h)
export const SETUP_E820_EXT = 1;
export const SETUP_DTB = 2;
export const SETUP_EFI = 4;
export const SETUP_IMA = 8;
export const SETUP_RNG_SEED = 9;
export const SETUP_KEXEC_KHO = 10;
/** struct setup_data: u64 next; u32 type; u32 len; u8 data[] */
export const SETUP_DATA_HEADER = 16;
const SETUP_DATA = {
  next: { offset: 0, size: 8 },
  type: { offset: 8, size: 4 },
  len: { offset: 12, size: 4 },
} as const satisfies Record<string, FieldSpec>;

export interface E820Record {
  addr: bigint;
  size: bigint;
  type: number;
}

export function setBp(bp: Uint8Array, name: keyof typeof BOOT_PARAMS, value: number | bigint): void {
  writeField(bp, BOOT_PARAMS[name], value);
}

export function getBp(bp: Uint8Array, name: keyof typeof BOOT_PARAMS): number | bigint {
  return readField(bp, BOOT_PARAMS[name]);
}

/** struct boot_e820_entry[]: u64 addr, u64 size, u32 type, packed. */
export function encodeE820(entries: readonly E820Record[]): Uint8Array {
  const buf = new Uint8Array(entries.length * E820_ENTRY_SIZE);
  entries.forEach((e, i) => {
    const o = i * E820_ENTRY_SIZE;
    writeField(buf, BOOT_E820_ENTRY.addr, e.addr, o);
    writeField(buf, BOOT_E820_ENTRY.size, e.size, o);
    writeField(buf, BOOT_E820_ENTRY.type, e.type, o);
  });
  return buf;
}

/** Writes up to E820_MAX entries into the zero page's e820_table and sets e820_entries. */
export function writeE820(bp: Uint8Array, entries: readonly E820Record[]): void {
  const first = entries.slice(0, E820_MAX);
  bp.set(encodeE820(first), BOOT_PARAMS.e820_table.offset);
  setBp(bp, 'e820_entries', first.length);
}

export function readE820(bp: Uint8Array): E820Record[] {
  const n = Math.min(Number(getBp(bp, 'e820_entries')), E820_MAX);
  const out: E820Record[] = [];
  for (let i = 0; i < n; i++) {
    const o = BOOT_PARAMS.e820_table.offset + i * E820_ENTRY_SIZE;
    out.push({
      addr: readField(bp, BOOT_E820_ENTRY.addr, o) as bigint,
      size: readField(bp, BOOT_E820_ENTRY.size, o) as bigint,
      type: readField(bp, BOOT_E820_ENTRY.type, o) as number,
    });
  }
  return out;
}

/** A setup_data node: header + payload, `next` filled by the caller when it links the list. */
export function setupDataNode(type: number, payload: Uint8Array, next: bigint): Uint8Array {
  const node = new Uint8Array(SETUP_DATA_HEADER + payload.length);
  writeField(node, SETUP_DATA.next, next);
  writeField(node, SETUP_DATA.type, type);
  writeField(node, SETUP_DATA.len, payload.length);
  node.set(payload, SETUP_DATA_HEADER);
  return node;
}
