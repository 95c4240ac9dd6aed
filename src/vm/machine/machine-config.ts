// What a machine is: architecture, RAM and its firmware map, the running kernel's command line, and the
// policy knobs a real kernel has (lockdown, sysctls). Defaults mirror a QEMU pc guest's map.

import { type PhysRange, rangeLength } from '../../lib/range.js';
import type { FirmwareMapEntry } from './firmware-map.js';
import { type Resource, insertResource, resourceRange, walkResources } from './iomem.js';

export type MachineArch = 'x86_64' | 'i386';
export type Lockdown = 'none' | 'integrity' | 'confidentiality';

export const PAGE_SIZE = 4096n;
export const MiB = 1n << 20n;
export const GiB = 1n << 30n;

export interface MachineConfig {
  arch: MachineArch;
  memBytes: bigint;
  cpus: number;
  /** The running kernel's command line (/proc/cmdline). */
  cmdline: string;
  /** The resource tree printed as /proc/iomem; top level mirrors the firmware map. */
  iomem: Resource[];
  /**
   * The firmware's e820 as /sys/firmware/memmap shows it, when it differs from iomem's top level (a real
   * machine cloned with machine init --memmap); absent: read off iomem.
   */
  firmwareMap?: FirmwareMapEntry[];
  /** The running kernel's boot_params.acpi_rsdp_addr (machine init --acpi-rsdp); absent: 0, no ACPI. */
  acpiRsdp?: bigint;
  lockdown: Lockdown;
  secureBoot: boolean;
  sigEnforce: boolean;
  imaAppraise: boolean;
  /** Release string of the "running kernel" (vmcoreinfo OSRELEASE, uname -r). */
  osrelease: string;
  /** The Linux release whose kexec rules the machine follows (src/vm/machine/kernel-release.ts); absent in old machines. */
  kernelRelease?: '6.1' | '6.12';
  /** Addresses of the release's vmcoreinfo SYMBOL()s, from machine init --system-map (src/vm/kernel/vmcoreinfo.ts). */
  kernelSymbols?: Record<string, bigint>;
  /** The vmcoreinfo note's lines from machine init --vmcoreinfo (a real kernel's text, CRASHTIME left out). */
  vmcoreinfo?: string[];
}

export interface Sysctls {
  kexec_load_disabled: 0 | 1;
  kexec_load_limit_panic: number;
  kexec_load_limit_reboot: number;
}

export const DEFAULT_MEM = 512n * MiB;
export const DEFAULT_CMDLINE = 'BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro console=ttyS0';

/** The running kernel's own footprint, nested under System RAM as Linux shows it (no KASLR). */
export const KERNEL_RESOURCES: [bigint, bigint, string][] = [
  [0x01000000n, 0x01e01fffn, 'Kernel code'],
  [0x02000000n, 0x0257cfffn, 'Kernel rodata'],
  [0x02600000n, 0x02a4b57fn, 'Kernel data'],
  [0x02d7d000n, 0x02ffffffn, 'Kernel bss'],
];

function res(start: bigint, end: bigint, name: string, children: Resource[] = []): Resource {
  return { start, end, name, children };
}

/**
 * A QEMU pc-style map for `mem` bytes of RAM: low RAM to 0x9fc00, the legacy hole, RAM from 1 MiB with the
 * top 128 KiB holding the firmware's ACPI tables (the QEMU engine's stub installs QEMU's there; SeaBIOS
 * reports the same 128 KiB as plain reserved, OVMF as "ACPI Tables", which keeps them across kexec), RAM above 4 GiB for what does not fit below 3 GiB (the engines run QEMU
 * with max-ram-below-4g=3G). Deliberate difference from a PC: the first 12 KiB are reserved, because the
 * engines' hand-off stubs live there (a real machine's relocate_kernel code lives in a control page instead).
 */
export const STUB_RESERVED_END = 0x3000n;
export function defaultIomem(mem: bigint): Resource[] {
  const below4g = mem > 0xc0000000n ? 0xc0000000n : mem;
  const roots: Resource[] = [
    res(0x0n, STUB_RESERVED_END - 1n, 'Reserved'),
    res(STUB_RESERVED_END, 0x9fbffn, 'System RAM'),
    res(0x9fc00n, 0x9ffffn, 'Reserved'),
    res(0xa0000n, 0xbffffn, 'PCI Bus 0000:00'),
    res(0xf0000n, 0xfffffn, 'Reserved', [res(0xf0000n, 0xfffffn, 'System ROM')]),
    res(0x100000n, below4g - 0x20001n, 'System RAM'),
    res(below4g - 0x20000n, below4g - 1n, 'ACPI Tables'),
    res(0xfeffc000n, 0xfeffffffn, 'Reserved'),
    res(0xfffc0000n, 0xffffffffn, 'Reserved'),
  ];
  if (mem > below4g) roots.push(res(0x100000000n, 0x100000000n + (mem - below4g) - 1n, 'System RAM'));
  for (const [s, e, n] of KERNEL_RESOURCES) {
    if (e < below4g - 0x20001n) insertResource(roots, res(s, e, n));
  }
  return roots;
}

export function defaultSysctls(): Sysctls {
  return { kexec_load_disabled: 0, kexec_load_limit_panic: -1, kexec_load_limit_reboot: -1 };
}

function crashResources(config: MachineConfig): Resource[] {
  const out: Resource[] = [];
  for (const r of walkResources(config.iomem)) if (r.name === 'Crash kernel') out.push(r);
  return out;
}

/** crashk_res: the (highest) "Crash kernel" resource, if reserved. */
export function crashkRes(config: MachineConfig): Resource | undefined {
  const all = crashResources(config);
  return all[all.length - 1];
}

/** crashk_low_res: the low companion of a reservation above 4 GiB, if any. */
export function crashkLowRes(config: MachineConfig): Resource | undefined {
  const all = crashResources(config);
  return all.length > 1 ? all[0] : undefined;
}

/** Every "Crash kernel" resource (crashk_low_res and crashk_res), in address order. */
export function crashRegions(config: MachineConfig): PhysRange[] {
  return crashResources(config).map(resourceRange);
}

/** Total pages of System RAM (totalram_pages), for sanity_check_segment_list's half-of-RAM rule. */
export function totalRamPages(config: MachineConfig): bigint {
  let bytes = 0n;
  for (const r of config.iomem) if (r.name === 'System RAM') bytes += rangeLength(resourceRange(r));
  return bytes / PAGE_SIZE;
}

/**
 * Where the running kernel keeps its per-CPU crash_notes buffers and the vmcoreinfo note: fixed spots inside
 * "Kernel data" (a real kernel's are percpu/kernel-data addresses too). Sizes as Linux 6.1 reports them.
 */
// sizeof(note_buf_t) = CRASH_CORE_NOTE_BYTES: one NT_PRSTATUS note (12 + 8 + 336) and the final empty note (12);
// /sys/devices/system/cpu/cpu0/crash_notes_size reads 368 on Debian's 6.1.0-57 and 6.12.118 kernels alike.
export const CRASH_NOTES_SIZE = 368n;
export const VMCOREINFO_NOTE_SIZE = 24n + 12n + 4096n; // Elf64_Nhdr + "VMCOREINFO" + VMCOREINFO_BYTES, as the reference states
export function crashNotesAddr(cpu: number): bigint {
  return 0x02a00000n + BigInt(cpu) * 0x400n;
}
export function vmcoreinfoNoteAddr(): bigint {
  return 0x02a40000n;
}
