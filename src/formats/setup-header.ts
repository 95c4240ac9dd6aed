// The x86 boot protocol's setup header (Documentation/arch/x86/boot.rst), at offset 0x1F1 of a bzImage and of
// struct boot_params. Offsets are absolute (from the start of the file / boot_params), as the spec lists them.

import { type FieldSpec, readField } from './struct.js';

export const SETUP_HEADER = {
  setup_sects: { offset: 0x1f1, size: 1 },
  root_flags: { offset: 0x1f2, size: 2 },
  syssize: { offset: 0x1f4, size: 4 },
  ram_size: { offset: 0x1f8, size: 2 },
  vid_mode: { offset: 0x1fa, size: 2 },
  root_dev: { offset: 0x1fc, size: 2 },
  boot_flag: { offset: 0x1fe, size: 2 },
  jump: { offset: 0x200, size: 2 },
  header: { offset: 0x202, size: 4 },
  version: { offset: 0x206, size: 2 },
  realmode_swtch: { offset: 0x208, size: 4 },
  start_sys_seg: { offset: 0x20c, size: 2 },
  kernel_version: { offset: 0x20e, size: 2 },
  type_of_loader: { offset: 0x210, size: 1 },
  loadflags: { offset: 0x211, size: 1 },
  setup_move_size: { offset: 0x212, size: 2 },
  code32_start: { offset: 0x214, size: 4 },
  ramdisk_image: { offset: 0x218, size: 4 },
  ramdisk_size: { offset: 0x21c, size: 4 },
  bootsect_kludge: { offset: 0x220, size: 4 },
  heap_end_ptr: { offset: 0x224, size: 2 },
  ext_loader_ver: { offset: 0x226, size: 1 },
  ext_loader_type: { offset: 0x227, size: 1 },
  cmd_line_ptr: { offset: 0x228, size: 4 },
  initrd_addr_max: { offset: 0x22c, size: 4 },
  kernel_alignment: { offset: 0x230, size: 4 },
  relocatable_kernel: { offset: 0x234, size: 1 },
  min_alignment: { offset: 0x235, size: 1 },
  xloadflags: { offset: 0x236, size: 2 },
  cmdline_size: { offset: 0x238, size: 4 },
  hardware_subarch: { offset: 0x23c, size: 4 },
  hardware_subarch_data: { offset: 0x240, size: 8 },
  payload_offset: { offset: 0x248, size: 4 },
  payload_length: { offset: 0x24c, size: 4 },
  setup_data: { offset: 0x250, size: 8 },
  pref_address: { offset: 0x258, size: 8 },
  init_size: { offset: 0x260, size: 4 },
  handover_offset: { offset: 0x264, size: 4 },
  kernel_info_offset: { offset: 0x268, size: 4 },
} as const satisfies Record<string, FieldSpec>;

export type SetupHeaderField = keyof typeof SETUP_HEADER;

/** Boot protocol version each field appeared in (Documentation/arch/x86/boot.rst); absent: since the start. */
export const SETUP_HEADER_SINCE: Partial<Record<SetupHeaderField, number>> = {
  jump: 0x200, header: 0x200, version: 0x200, realmode_swtch: 0x200, start_sys_seg: 0x200, kernel_version: 0x200,
  type_of_loader: 0x200, loadflags: 0x200, setup_move_size: 0x200, code32_start: 0x200, ramdisk_image: 0x200,
  ramdisk_size: 0x200, bootsect_kludge: 0x200, heap_end_ptr: 0x201, ext_loader_ver: 0x202, ext_loader_type: 0x202,
  cmd_line_ptr: 0x202, initrd_addr_max: 0x203, kernel_alignment: 0x205, relocatable_kernel: 0x205,
  min_alignment: 0x20a, xloadflags: 0x20c, cmdline_size: 0x206, hardware_subarch: 0x207, hardware_subarch_data: 0x207,
  payload_offset: 0x208, payload_length: 0x208, setup_data: 0x209, pref_address: 0x20a, init_size: 0x20a,
  handover_offset: 0x20b, kernel_info_offset: 0x20f,
};

export const HDRS_MAGIC = 0x53726448; // "HdrS"
export const BOOT_FLAG = 0xaa55;

// loadflags (0x211)
export const LOADED_HIGH = 0x01;
export const KEEP_SEGMENTS = 0x40;
export const CAN_USE_HEAP = 0x80;

// xloadflags (0x236)
export const XLF_KERNEL_64 = 1 << 0;
export const XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1;
export const XLF_EFI_HANDOVER_32 = 1 << 2;
export const XLF_EFI_HANDOVER_64 = 1 << 3;
export const XLF_EFI_KEXEC = 1 << 4;
export const XLF_5LEVEL = 1 << 5;

/** loadflags bits by name, as boot.rst names them. */
export const LOADFLAG_NAMES: readonly [number, string][] = [[LOADED_HIGH, 'LOADED_HIGH'], [KEEP_SEGMENTS, 'KEEP_SEGMENTS'], [CAN_USE_HEAP, 'CAN_USE_HEAP']];

/** xloadflags bits by name (boot protocol 2.12+), without the XLF_ prefix. */
export const XLOADFLAG_NAMES: readonly [number, string][] = [
  [XLF_KERNEL_64, 'KERNEL_64'], [XLF_CAN_BE_LOADED_ABOVE_4G, 'CAN_BE_LOADED_ABOVE_4G'], [XLF_EFI_HANDOVER_32, 'EFI_HANDOVER_32'],
  [XLF_EFI_HANDOVER_64, 'EFI_HANDOVER_64'], [XLF_EFI_KEXEC, 'EFI_KEXEC'], [XLF_5LEVEL, '5LEVEL'],
];

/** A bzImage's setup header, read with bounds checks (fields past the end of a short file read as 0). */
export class SetupHeader {
  constructor(readonly bytes: Uint8Array) {}

  num(name: Exclude<SetupHeaderField, 'hardware_subarch_data' | 'setup_data' | 'pref_address'>): number {
    const f = SETUP_HEADER[name];
    if (f.offset + f.size > this.bytes.length) return 0;
    return readField(this.bytes, f) as number;
  }

  big(name: 'hardware_subarch_data' | 'setup_data' | 'pref_address'): bigint {
    const f = SETUP_HEADER[name];
    if (f.offset + f.size > this.bytes.length) return 0n;
    return readField(this.bytes, f) as bigint;
  }

  /** setup_sects with the boot protocol's rule that 0 means 4. */
  get setupSects(): number {
    const s = this.num('setup_sects');
    return s === 0 ? 4 : s;
  }

  /** Size of the real-mode part (boot sector + setup): (setup_sects + 1) * 512. */
  get kern16Size(): number {
    return (this.setupSects + 1) * 512;
  }

  get hasMagic(): boolean {
    return this.num('header') === HDRS_MAGIC;
  }
}
