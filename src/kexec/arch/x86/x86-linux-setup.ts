// kexec-tools' x86 boot_params filling (kexec/arch/i386/x86-linux-setup.c): where the initrd and command line
// go, and what the BIOS would have told the kernel (e820, RNG seed, screen defaults).

import { randomBytes } from 'node:crypto';
import {
  CL_MAGIC_VALUE,
  E820_MAX,
  encodeE820,
  SETUP_E820_EXT,
  SETUP_RNG_SEED,
  setBp,
  setupDataNode,
  writeE820,
  type E820Record,
} from '../../../arch/x86/boot-params.js';
import { SETUP_HEADER } from '../../../formats/setup-header.js';
import { readField, writeField } from '../../../formats/struct.js';
import type { ByteSource } from '../../../vm/machine/store.js';
import type { Initrd } from '../../file-type.js';
import { type KexecInfo, ULONG_MAX } from '../../kexec-info.js';
import { type MemoryRange, RANGE, type SystemFiles } from '../../memory-ranges.js';
import { copyRunningScreenInfo, getAcpiRsdp } from './bootparam.js';
import { hex, hex16 } from '../../../lib/hex.js';
import type { Debug } from '../../debug.js';

export const INITRD_BASE = 0x1000000n; // 16 MiB
export const KERN32_BASE = 0x100000n; // 1 MiB
export const PURGATORY_CMDLINE_SIZE = 64;
export const COMMAND_LINE_SIZE = 2048;
/** DEFAULT_INITRD_ADDR_MAX for protocols before 2.03. */
const DEFAULT_INITRD_ADDR_MAX = 0x37ffffffn;
/** LOADER_TYPE_KEXEC << 4: type_of_loader 0xD0. */
export const LOADER_TYPE_KEXEC = 0x0d;


const hdr = (bp: Uint8Array, name: keyof typeof SETUP_HEADER, v: number | bigint) => writeField(bp, SETUP_HEADER[name], v);
const hdrGet = (bp: Uint8Array, name: keyof typeof SETUP_HEADER) => readField(bp, SETUP_HEADER[name]);

/** Copies the kernel's setup header (0x1f1 up to the end the jump at 0x200 implies, at most 0x7f bytes). */
export function copySetupHeader(realMode: Uint8Array, kernel: Uint8Array): void {
  let size = kernel[0x201]! + 0x202 - 0x1f1;
  if (size > 0x7f) size = 0x7f;
  realMode.set(kernel.subarray(0x1f1, 0x1f1 + size), 0x1f1);
}

/**
 * setup_linux_bootloader_parameters(_high): the initrd placed (highest hole above 16 MiB, below
 * initrd_addr_max unless `high`), ramdisk and command-line pointers with their ext_ halves, the command line
 * copied at cmdlineOffset of the setup segment.
 */
export function setupLinuxBootloaderParameters(
  info: KexecInfo,
  realMode: Uint8Array,
  realModeBase: bigint,
  cmdlineOffset: number,
  cmdline: Uint8Array,
  initrd: Initrd | null,
  high: boolean,
): { initrdBase: bigint } {
  hdr(realMode, 'type_of_loader', LOADER_TYPE_KEXEC << 4);
  hdr(realMode, 'loadflags', 0);
  const protocol = hdrGet(realMode, 'version') as number;
  let initrdAddrMax = ULONG_MAX;
  if (!high) {
    initrdAddrMax = DEFAULT_INITRD_ADDR_MAX;
    if (protocol >= 0x0203) {
      initrdAddrMax = BigInt(hdrGet(realMode, 'initrd_addr_max') as number);
      info.debug.print(`initrd_addr_max is ${hex(initrdAddrMax)}`);
    }
  }
  let initrdBase = 0n;
  let initrdSize = 0n;
  if (initrd) {
    const src: ByteSource = { kind: 'file', path: initrd.path, offset: initrd.offset ?? 0, length: initrd.size };
    initrdSize = BigInt(initrd.size);
    initrdBase = info.addBuffer(src, initrdSize, 4096n, INITRD_BASE, initrdAddrMax, -1);
    info.debug.print(`Loaded initrd at ${hex(initrdBase)} size ${hex(initrdSize)}`);
  }
  hdr(realMode, 'ramdisk_image', initrdBase & 0xffffffffn);
  hdr(realMode, 'ramdisk_size', initrdSize & 0xffffffffn);
  if (protocol >= 0x020c && initrdBase >> 32n !== 0n) setBp(realMode, 'ext_ramdisk_image', initrdBase >> 32n);
  if (protocol >= 0x020c && initrdSize >> 32n !== 0n) setBp(realMode, 'ext_ramdisk_size', initrdSize >> 32n);
  setBp(realMode, 'cl_magic', CL_MAGIC_VALUE);
  setBp(realMode, 'cl_offset', cmdlineOffset);
  if (protocol >= 0x0202) {
    const ptr = realModeBase + BigInt(cmdlineOffset);
    hdr(realMode, 'cmd_line_ptr', ptr & 0xffffffffn);
    if (protocol >= 0x020c && ptr >> 32n !== 0n) setBp(realMode, 'ext_cmd_line_ptr', ptr >> 32n);
  }
  const len = Math.min(cmdline.length, COMMAND_LINE_SIZE);
  realMode.set(cmdline.subarray(0, len), cmdlineOffset);
  realMode[cmdlineOffset + len - 1] = 0;
  return { initrdBase };
}

/** add_e820_map_from_mr: kexec-tools range types to e820 types. */
export function e820FromRanges(ranges: readonly MemoryRange[]): E820Record[] {
  return ranges.map((r) => ({
    addr: r.start,
    size: r.end - r.start + 1n,
    type:
      r.type === RANGE.RAM ? 1 : r.type === RANGE.ACPI ? 3 : r.type === RANGE.ACPI_NVS ? 4 : r.type === RANGE.PMEM ? 7 : r.type === RANGE.PRAM ? 12 : 2,
  }));
}

/**
 * add_e820_map_from_mr's side effects (kexec-tools 2.0.25 and 2.0.32 alike): one debug line per entry, and
 * ext_mem_k/alt_mem_k from the RAM range spanning 1 MiB: (end >> 10) - 1024 with end inclusive, ext_mem_k
 * capped at 0xfc00 (64 MiB), alt_mem_k at 0xffffffff.
 */
function addE820MapFromMr(realMode: Uint8Array, ranges: readonly MemoryRange[], debug: Debug): E820Record[] {
  const e820 = e820FromRanges(ranges);
  e820.forEach((e, i) => {
    debug.print(`${hex16(e.addr)}-${hex16(e.addr + e.size - 1n)} (${e.type})`);
    const r = ranges[i]!;
    if (r.type !== RANGE.RAM || !(r.start <= 0x100000n && r.end > 0x100000n)) return;
    const memK = (r.end >> 10n) - (0x100000n >> 10n);
    setBp(realMode, 'ext_mem_k', memK > 0xfc00n ? 0xfc00 : Number(memK));
    setBp(realMode, 'alt_mem_k', memK > 0xffffffffn ? 0xffffffff : Number(memK));
  });
  return e820;
}

/** add_setup_data: a page-aligned segment as low as possible above 1 MiB, prepended to the list. */
function addSetupData(info: KexecInfo, realMode: Uint8Array, type: number, payload: Uint8Array): bigint {
  const next = readField(realMode, SETUP_HEADER.setup_data) as bigint;
  const node = setupDataNode(type, payload, next);
  const addr = info.addBuffer({ kind: 'bytes', data: node }, BigInt(node.length), 4096n, 0x100000n, ULONG_MAX, 1);
  hdr(realMode, 'setup_data', addr);
  return addr;
}

/**
 * setup_linux_system_parameters: screen defaults (no framebuffer in the machine), root defaults, the e820
 * table (extra entries past 128 through SETUP_E820_EXT), a 32-byte RNG seed, acpi_rsdp_addr (the machine has
 * no ACPI tables: 0). `ranges` is the memory map to hand over (the crash map for a panic kernel).
 */
export function setupLinuxSystemParameters(info: KexecInfo, realMode: Uint8Array, ranges: readonly MemoryRange[], files: SystemFiles): void {
  setBp(realMode, 'orig_x', 0);
  setBp(realMode, 'orig_y', 0);
  setBp(realMode, 'orig_video_page', 0);
  setBp(realMode, 'orig_video_mode', 0);
  setBp(realMode, 'orig_video_cols', 80);
  setBp(realMode, 'orig_video_lines', 25);
  setBp(realMode, 'orig_video_ega_bx', 0);
  setBp(realMode, 'orig_video_isVGA', 1);
  setBp(realMode, 'orig_video_points', 16);
  copyRunningScreenInfo(realMode, files);
  setBp(realMode, 'ext_mem_k', 0);
  setBp(realMode, 'alt_mem_k', 0);
  setBp(realMode, 'root_flags', 0xffff);
  setBp(realMode, 'root_dev', 0x0300);
  setBp(realMode, 'aux_device_info', 0);
  // setup_e820: the first E820MAX entries in boot_params, the rest through a SETUP_E820_EXT node.
  info.debug.print('E820 memmap:');
  writeE820(realMode, addE820MapFromMr(realMode, ranges.slice(0, E820_MAX), info.debug));
  if (ranges.length > E820_MAX) {
    info.debug.print('extra E820 memmap are passed via setup_data');
    info.debug.print('Extended E820 via setup_data:');
    addSetupData(info, realMode, SETUP_E820_EXT, encodeE820(addE820MapFromMr(realMode, ranges.slice(E820_MAX), info.debug)));
  }
  addSetupData(info, realMode, SETUP_RNG_SEED, randomBytes(32));
  // setup_edd_info: the machine has no /sys/firmware/edd.
  info.debug.print('/sys/firmware/edd does not exist.');
  setBp(realMode, 'acpi_rsdp_addr', getAcpiRsdp(files)); // "Always try to fill acpi_rsdp_addr" (2.0.32)
}

/** setup_e820's choice: a panic kernel gets the crash map, unless --pass-memmap-cmdline passes it on the command line. */
export function handoverRanges(info: KexecInfo, crash: boolean, passMemmapCmdline: boolean | undefined): readonly MemoryRange[] {
  return crash && !passMemmapCmdline && info.crashRanges ? info.crashRanges : info.memoryRanges;
}
