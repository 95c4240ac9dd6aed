// The kexec_file_load path of kexec-tools' main (do_kexec_file_load, kexec_file_unload).
// This machine's kernel does not implement kexec_file_load yet: the syscall answers ENOSYS, so -s exits
// with kexec-tools' EFALLBACK and -a falls back to kexec_load, as on a kernel built without KEXEC_FILE.

import type { Debug } from '../kexec/debug.js';
import type { KexecRequest } from './kexec-options.js';
import type { OpenMachine } from './machine-open.js';
import type { Out } from './output.js';

/** kexec-tools' EFALLBACK: the file syscall is missing or did not understand the image. */
export class FileLoadFallback extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export function doKexecFileLoad(_m: OpenMachine, _r: KexecRequest, _cmdline: string | null, _debug: Debug, _out: Out): number {
  throw new FileLoadFallback('kexec_file_load: Function not implemented (ENOSYS)');
}

export function kexecFileUnload(_dir: string, _crash: boolean, _out: Out): number | 'fallback' {
  return 'fallback';
}
