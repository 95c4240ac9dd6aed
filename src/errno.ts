// Errno names the kernel returns from kexec paths, with Linux x86_64 numbers and glibc's strerror texts
// (kexec-tools prints strerror(errno), so these strings are what a user of `kexec` sees).

export const ERRNO = {
  EPERM: [1, 'Operation not permitted'],
  ENOENT: [2, 'No such file or directory'],
  EIO: [5, 'Input/output error'],
  E2BIG: [7, 'Argument list too long'],
  ENOEXEC: [8, 'Exec format error'],
  EBADF: [9, 'Bad file descriptor'],
  ENOMEM: [12, 'Cannot allocate memory'],
  EACCES: [13, 'Permission denied'],
  EFAULT: [14, 'Bad address'],
  EBUSY: [16, 'Device or resource busy'],
  EEXIST: [17, 'File exists'],
  EINVAL: [22, 'Invalid argument'],
  ETXTBSY: [26, 'Text file busy'],
  EFBIG: [27, 'File too large'],
  ENOSYS: [38, 'Function not implemented'],
  ELOOP: [40, 'Too many levels of symbolic links'],
  ENODATA: [61, 'No data available'],
  ENOPKG: [65, 'Package not installed'],
  EBADMSG: [74, 'Bad message'],
  ELIBBAD: [80, 'Accessing a corrupted shared library'],
  EMSGSIZE: [90, 'Message too long'],
  EOPNOTSUPP: [95, 'Operation not supported'],
  EADDRNOTAVAIL: [99, 'Cannot assign requested address'],
  ENOKEY: [126, 'Required key not available'],
  EKEYREJECTED: [129, 'Key was rejected by service'],
  // Kernel-internal ENOTSUPP (524) leaks out of verify_pefile for bad WIN_CERTIFICATE headers; glibc has no text.
  ENOTSUPP: [524, 'Unknown error 524'],
} as const;

export type ErrnoName = keyof typeof ERRNO;

export function errnoNumber(name: ErrnoName): number {
  return ERRNO[name][0];
}

export function strerror(name: ErrnoName): string {
  return ERRNO[name][1];
}

/** Host file errors that are no kexec errno, with glibc's texts. */
const HOST_ERRNO_TEXT: Record<string, string> = {
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EDQUOT: 'Disk quota exceeded',
};

/** strerror() of a failed host file operation (a Node ErrnoException), as a C tool would print it. */
export function fileErrorText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code && code in ERRNO) return strerror(code as ErrnoName);
  if (code && code in HOST_ERRNO_TEXT) return HOST_ERRNO_TEXT[code]!;
  return code ?? (e instanceof Error ? e.message : String(e));
}

/**
 * A refusal by the (emulated) kernel: the errno it returns, the rule that refused (named after the kernel
 * function or check), the offending value, and one sentence telling the user what to change.
 */
export class KexecError extends Error {
  readonly errno: ErrnoName;
  readonly rule: string;
  readonly value: string | undefined;
  readonly hint: string | undefined;

  constructor(errno: ErrnoName, rule: string, detail: string, opts: { value?: string; hint?: string } = {}) {
    super(detail);
    this.name = 'KexecError';
    this.errno = errno;
    this.rule = rule;
    this.value = opts.value;
    this.hint = opts.hint;
  }
}

/**
 * A failure of the userspace side (kexec-tools' die(), a loader returning -1, a refused command line): the
 * lines kexec-tools prints and main()'s exit status. Not an errno: kexec-tools reports these with its own
 * text. `kernelError` is the kernel refusal behind the lines (its rule and fix are what vkexec explains);
 * `usage` asks for the usage text after the lines, as kexec-tools prints it for a bad command line.
 */
export class UsageError extends Error {
  readonly lines: readonly string[];
  readonly exitCode: number;
  readonly hint: string | undefined;
  readonly kernelError: KexecError | undefined;
  readonly usage: boolean;
  constructor(message: string | readonly string[], opts: { exitCode?: number; hint?: string; kernelError?: KexecError; usage?: boolean } = {}) {
    const lines = typeof message === 'string' ? [message] : message;
    super(lines.join('\n'));
    this.name = 'UsageError';
    this.lines = lines;
    this.exitCode = opts.exitCode ?? 1;
    this.hint = opts.hint;
    this.kernelError = opts.kernelError;
    this.usage = opts.usage ?? false;
  }
}
