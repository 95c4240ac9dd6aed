// kexec-tools' EFALLBACK: the file syscall is missing or did not understand the image (ENOSYS, EINVAL,
// ENOEXEC, ENOTSUP), so -a retries with kexec_load and -s stops with exit status 253.

import type { KexecError } from '../errno.js';

export class FileLoadFallback extends Error {
  constructor(
    readonly reason: string,
    override readonly cause?: KexecError,
  ) {
    super(reason);
  }
}
