// vkexec's check init (src/arch/x86/init/init.c, built by init/build.sh; the binaries are committed): the
// initramfs `vkexec check` boots, and the lines it prints. The format of the lines is specified in init.c.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../errno.js';
import { buildCpio } from '../../formats/cpio.js';

export type InitArch = 'x86_64' | 'i386';

export const INIT_MARKER = 'VKEXEC-CHECK-INIT';
export const VMCORE_MARKER = 'VKEXEC-CHECK-VMCORE';
/** The line init prints once it runs: the digest of /proc/cmdline (without its newline). */
export const INIT_LINE = /VKEXEC-CHECK-INIT bits=(32|64) cmdline-sha256=([0-9a-f]{64})/;
/** The capture side's verdict line (its end: the engine stops at the match, so the regex covers the whole line). */
export const VMCORE_LINE = /VKEXEC-CHECK-VMCORE (ok|bad) ([^\r\n]*)\r?\n/;

// As probe-kernel.ts: dist/src/arch/x86/check-init.js or src/arch/x86/check-init.ts; the binaries live in src.
const DIR_CANDIDATES = ['../../../../src/arch/x86/init/', './init/'];

/** Path of the committed init binary for an architecture. */
export function checkInitPath(arch: InitArch): string {
  for (const rel of DIR_CANDIDATES) {
    const file = fileURLToPath(new URL(`${rel}init-${arch}`, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new UsageError(`check init: src/arch/x86/init/init-${arch} is missing beside this package`, {
    hint: 'reinstall vkexec, or run src/arch/x86/init/build.sh (needs gcc and binutils) to rebuild it',
  });
}

/** The newc initramfs: /init, /dev/console (init/main.c opens it for init's stdio), /proc, /dev. */
export function checkInitramfs(arch: InitArch): Uint8Array {
  return buildCpio([
    { type: 'dir', path: 'dev', mode: 0o755 },
    { type: 'char', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'dir', path: 'proc', mode: 0o555 },
    { type: 'file', path: 'init', data: new Uint8Array(readFileSync(checkInitPath(arch))), mode: 0o755 },
  ]);
}
