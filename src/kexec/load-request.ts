// The typed request of `kexec -l/-p` (kexec-tools' main() options, the x86 arch options and the loaders'
// options) for both system calls, and what a load returns. The command line, `vkexec boot` and
// `vkexec kdump-size` build one and call the load step (load.ts) with it.

import type { MachineState } from '../vm/machine/machine.js';
import type { Kimage } from '../vm/machine/kimage.js';
import type { ArgsMode } from './file-type.js';
import type { PurgatoryConsole } from './purgatory-load.js';

/** -s (kexec_file_load), -c (kexec_load), -a (file first, kexec_load on EFALLBACK: kexec-tools' default). */
export type SyscallChoice = 'file' | 'load' | 'auto';

/** What `kexec -l/-p` takes besides the kernel file, for both system calls. */
export interface KexecLoadOptions {
  syscall: SyscallChoice;
  /** -t TYPE */
  type: string | null;
  initrd: string | null;
  /** --append/--command-line, after the reused line (--reuse-cmdline) when both are given. */
  append: string | null;
  reuseCmdline: boolean;
  /** -p: the panic (crash) image. */
  crash: boolean;
  preserveContext: boolean;
  /** -i: the purgatory skips its sha256 check. */
  skipChecks: boolean;
  entry: bigint | null;
  memMin: bigint | null;
  memMax: bigint | null;
  realMode: boolean;
  entry32bit: boolean;
  argsMode: ArgsMode;
  /** --module="FILE args", repeatable: the multiboot loaders' modules (other loaders ignore it, as kexec-tools). */
  modules: string[];
  /** --fast: load a bzImage64's host-decompressed vmlinux (kexec_load path only). */
  fast: boolean;
  console: PurgatoryConsole;
  coreHeaderType: 'elf32' | 'elf64' | null;
  passMemmapCmdline: boolean;
  /** -d */
  debug: boolean;
}

export interface KexecLoadRequest extends KexecLoadOptions {
  kernelPath: string;
}

/** The machine a load acts on. */
export interface LoadMachine {
  dir: string;
  state: MachineState;
}

export interface KexecLoadResult {
  syscall: 'kexec_file_load' | 'kexec_load';
  /** The loader that took the kernel. */
  type: string | null;
  image: Kimage | null;
  /** kexec_file_load only: verify_sig's verdict. */
  signature?: string;
}

/** kexec-tools' defaults for the load options (kexec/kexec.c main, x86 arch_options, the loaders' own). */
export function defaultLoadOptions(): KexecLoadOptions {
  return {
    syscall: 'auto',
    type: null,
    initrd: null,
    append: null,
    reuseCmdline: false,
    crash: false,
    preserveContext: false,
    skipChecks: false,
    entry: null,
    memMin: null,
    memMax: null,
    realMode: false,
    entry32bit: false,
    argsMode: 'elf',
    fast: false,
    modules: [],
    console: { resetVga: false, consoleVga: false, consoleSerial: false, serialBase: 0x3f8, serialBaud: 115200 },
    coreHeaderType: null,
    passMemmapCmdline: false,
    debug: false,
  };
}
