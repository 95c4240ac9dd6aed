// The Linux release the machine's "running kernel" plays: Debian's 6.1 (bookworm) or 6.12 (trixie, bookworm
// backports). Every rule of kexec_load/kexec_file_load that differs between the two asks this module; the
// facts below were measured on Debian's 6.1.0-57 (6.1.192) and 6.12.118+deb12 amd64 kernels in QEMU by
// test/differential/linux-kexec.test.ts.

import type { MachineConfig } from './machine-config.js';

export type KernelRelease = '6.1' | '6.12';
export const KERNEL_RELEASES: readonly KernelRelease[] = ['6.1', '6.12'];
/**
 * The default: 6.12, the newest long-term release Debian ships (trixie's kernel, bookworm-backports), whose
 * kexec_file_load takes KEXEC_FILE_DEBUG, which kexec-tools 2.0.28+ passes with -d.
 */
export const DEFAULT_KERNEL_RELEASE: KernelRelease = '6.12';

/** uname -r of the machine for a release (/proc/sys/kernel/osrelease, vmcoreinfo OSRELEASE). */
export function osreleaseFor(release: KernelRelease): string {
  return release === '6.1' ? '6.1.0-vkexec' : '6.12.0-vkexec';
}

/** The machine's release; machine.json files written before the field existed play the default. */
export function kernelRelease(config: Pick<MachineConfig, 'kernelRelease'>): KernelRelease {
  return config.kernelRelease ?? DEFAULT_KERNEL_RELEASE;
}

export function isKernelRelease(v: unknown): v is KernelRelease {
  return typeof v === 'string' && (KERNEL_RELEASES as readonly string[]).includes(v);
}

/** A release's kexec rules, each named by the kernel function that has it. */
export interface ReleaseRules {
  /**
   * kexec_locate_mem_hole: 6.1 walks System RAM with walk_system_ram_res (ascending) for both directions and
   * only searches top-down inside each range; 6.8+ walks with walk_system_ram_res_rev when top_down.
   */
  reverseRamWalk: boolean;
  /**
   * locate_mem_hole_top_down: 6.1 starts at end - memsz (not end - memsz + 1), so a hole that ends exactly at
   * a range's end is missed by one page (Debian 6.1's crash purgatory lands at 0x3dffa000, not 0x3dffb000, in a
   * region ending at 0x3dffffff); 6.12 starts at end - memsz + 1.
   */
  topDownOffByOne: boolean;
  /** kexec_file_load's KEXEC_FILE_FLAGS: 6.1 knows UNLOAD|ON_CRASH|NO_INITRAMFS; 6.8 added DEBUG (0x8). */
  fileFlags: number;
  /**
   * kexec_load's KEXEC_FLAGS low bits, Debian builds (no CONFIG_KEXEC_JUMP, so no PRESERVE_CONTEXT): 6.1
   * ON_CRASH; 6.12 adds UPDATE_ELFCOREHDR (6.6) and CRASH_HOTPLUG_SUPPORT (6.10).
   */
  loadFlags: number;
  /** Log lines: 6.1 pr_debug with pr_fmt prefixes; 6.8+ kexec_dprintk (printed only with KEXEC_FILE_DEBUG). */
  logStyle: 'pr_debug' | 'kexec_dprintk';
  /**
   * crash_load_segments (arch/x86/kernel/crash.c): 6.12 with CONFIG_CRASH_HOTPLUG and MEMORY_HOTPLUG sizes the
   * elfcorehdr segment for 2 + NR_CPUS_DEFAULT + CRASH_MAX_MEMORY_RANGES program headers (Debian: 8192 + 8192)
   * and records that as elf_headers_sz; 6.1 uses the headers' own page-aligned size. null: no hotplug room.
   */
  hotplugPhdrs: number | null;
}

const RULES: Record<KernelRelease, ReleaseRules> = {
  '6.1': { reverseRamWalk: false, topDownOffByOne: true, fileFlags: 0x7, loadFlags: 0x1, logStyle: 'pr_debug', hotplugPhdrs: null },
  '6.12': { reverseRamWalk: true, topDownOffByOne: false, fileFlags: 0xf, loadFlags: 0xd, logStyle: 'kexec_dprintk', hotplugPhdrs: 2 + 8192 + 8192 },
};

/**
 * Whether the machine's kernel has its crng ready when kexec_file_load runs. The machine plays the measured
 * guests: Debian 6.1 and 6.12 under QEMU TCG (no RDRAND, no virtio-rng) still have it not ready when their init
 * loads (getrandom GRND_NONBLOCK: EAGAIN), so %p prints (____ptrval____) and setup_rng_seed
 * (arch/x86/kernel/kexec-bzimage64.c, both releases: `if (!rng_is_initialized()) return;`) chains no seed;
 * the capture kernel of a real panic shows no SETUP_RNG_SEED node (test/differential/linux-kexec.test.ts).
 * With RDRAND (qemu -cpu max) Debian 6.1's crng is ready at boot, %p prints hashed pointers and the capture
 * kernel shows the seed node (type 9): measured once by hand, not modelled (that CPU also brings 5-level paging).
 */
export function crngReady(_config: Pick<MachineConfig, 'kernelRelease'>): boolean {
  return false;
}

export function releaseRules(config: Pick<MachineConfig, 'kernelRelease'>): ReleaseRules {
  return RULES[kernelRelease(config)];
}
