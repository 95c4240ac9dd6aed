// kexec-tools' struct file_type: a userspace loader for the kexec_load path (-c). Each probes the (possibly
// decompressed) kernel file and, when chosen, lays the image out in a KexecInfo.

import type { RelocatedPurgatory } from '../arch/x86/kexec-purgatory-symbol.js';
import { UsageError } from '../errno.js';
import type { KexecFileOps } from '../vm/kernel/kexec-file-ops.js';
import type { Debug } from './debug.js';
import type { KexecInfo } from './kexec-info.js';
import type { SystemFiles } from './memory-ranges.js';
import type { PurgatoryConsole } from './purgatory-load.js';
import type { MachineArch } from '../vm/machine/machine-config.js';

/** The initrd as my_load hands it to a loader: streamed from its file, never held whole. */
export interface Initrd {
  path: string;
  size: number;
  /** Where its bytes start in the file (a UKI's .initrd section); 0 when absent. */
  offset?: number;
}

/** Every file type kexec-tools 2.0.32 knows on x86, implemented here or not (for "Unsupported kernel type"). */
export const KEXEC_TOOLS_TYPE_NAMES = ['multiboot2-x86', 'elf-x86_64', 'multiboot-x86', 'elf-x86', 'bzImage64', 'bzImage', 'beoboot-x86', 'nbi-x86', 'uki'];

export type ArgsMode = 'elf' | 'linux' | 'none';

export interface LoadRequest {
  kernelPath: string;
  kernel: Uint8Array;
  /** The assembled command line (reuse + append), null when none was given. */
  cmdline: string | null;
  initrd: Initrd | null;
  arch: MachineArch;
  crash: boolean;
  entry32bit: boolean;
  realMode: boolean;
  argsMode: ArgsMode;
  console: PurgatoryConsole;
  files: SystemFiles;
  debug: Debug;
  /** x86 crash-load options (kexec-tools arch_options): --elf32-core-headers / --elf64-core-headers
   *  (absent: get_core_type decides), --pass-memmap-cmdline, --noefi. */
  coreHeaderType?: 'elf32' | 'elf64';
  passMemmapCmdline?: boolean;
  noefi?: boolean;
  /** --module="FILE args" (multiboot loaders), in command-line order. */
  modules?: readonly string[];
  /** The --append/--command-line text alone (multiboot2-x86 drops --reuse-cmdline). */
  append?: string | null;
  /** vkexec's --fast: a bzImage64's payload decompressed here and its vmlinux entered directly (bzimage64-fast.ts). */
  fast?: boolean;
}

export interface LoadedLayout {
  purgatory: RelocatedPurgatory | null;
  /** Where the kernel proper landed (for reports). */
  kernelAddr: bigint;
  /** Where boot_params (the setup segment) landed, if any. */
  bootParamsAddr: bigint | null;
  /** The address the purgatory jumps to. */
  kernelEntry: bigint;
  /** Lines kexec-tools prints on stdout while loading (add_memmap notes for a panic kernel). */
  stdout?: string[];
  /** Lines kexec-tools prints on stderr while loading (the multiboot loaders' framebuffer notes). */
  stderr?: string[];
  /** Crash loads: backup region handled by the purgatory. */
  backup?: { srcStart: bigint; srcSize: bigint; start: bigint };
}

/** The loaders main() hands down (composed by src/loaders/index.ts): file_type[] and kexec_file_loaders[]. */
export interface Loaders {
  fileTypes: readonly KexecFileType[];
  /** The machine's kexec_file_loaders[]: the built-in ones, then the third-party ones. */
  kexecFileOps: readonly KexecFileOps[];
  /** The third-party loaders alone (they also stand in for kexec-tools' userspace probe, docs/loaders.md). */
  thirdParty: readonly KexecFileOps[];
}

export interface KexecFileType {
  readonly name: string;
  /** 0 = this loader takes the file (kexec-tools' probe returns 0 on success). */
  probe(buf: Uint8Array, debug: Debug): boolean;
  load(req: LoadRequest, info: KexecInfo): LoadedLayout;
  /**
   * The load() of the kexec_file_load path (kexec-tools' load with info->file_mode) for an envelope type (uki):
   * the kernel the syscall gets instead of the file (info->kernel_fd), its initrd unless --initrd names one
   * (implicit_initrd_fd, a window of the file), the inner type that loads, and -d lines. Absent: the file itself.
   */
  fileMode?(buf: Uint8Array, types: readonly KexecFileType[], o: { initrd: boolean; cmdline: string | null }): FileModeKernel;
}

export interface FileModeKernel {
  kernel: Uint8Array;
  /** What the kernel bytes are, for messages: "(.linux section)". */
  what: string;
  initrd: { offset: number; length: number } | null;
  inner: string;
  debug: string[];
}

/**
 * A loader's `return -1`: kexec-tools prints "Cannot load FILE" after the loader's own message (some only
 * under -d); vkexec always shows the reason and one line on what to change. Exit status 255.
 */
export class LoadFailed extends UsageError {
  constructor(
    readonly reason: string,
    hint: string,
    /** kexec-tools prints `reason` only with -d (dbgprintf); vkexec still prints it, marked as ours. */
    readonly debugOnly = false,
    exitCode = 255,
  ) {
    super(reason, { hint, exitCode });
  }
}

/** kexec/kexec.h ENOCRASHKERNEL: the loader return code main() turns into exit status 254 (EFAILED -1 is 255). */
export const ENOCRASHKERNEL = -2;

/** kexec/kexec.c my_load: what it prints for ENOCRASHKERNEL instead of "Cannot load %s". */
export const NO_CRASH_KERNEL_MESSAGE = 'No crash kernel segment found in /proc/iomem\nPlease check the crashkernel= boot parameter.';

/** A load refused for want of a crash region: kexec-tools' ENOCRASHKERNEL (exit status 254). */
export class NoCrashKernelSegment extends LoadFailed {
  readonly code = ENOCRASHKERNEL;
  constructor() {
    super(NO_CRASH_KERNEL_MESSAGE, 'the machine has no "Crash kernel" range in /proc/iomem: reserve one (machine init --crashkernel, e.g. 256M) before loading a panic kernel', false, 254);
  }
}
