// A failed my_load as kexec-tools reports it: its stderr lines and main()'s exit status
// (EFAILED -1 -> 255, ENOCRASHKERNEL -2 -> 254), plus what vkexec knows about why.

import type { KexecError } from '../errno.js';

export class LoadError extends Error {
  constructor(
    readonly lines: string[],
    readonly exitCode: number,
    readonly hint?: string,
    readonly kernelError?: KexecError,
  ) {
    super(lines.join('\n'));
  }
}

