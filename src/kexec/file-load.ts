// The kexec_file_load path of kexec-tools' main (do_kexec_file_load, kexec_file_unload): open the kernel,
// decompress it into a memfd when compressed, probe the userspace types, open the initrd, call the syscall.
// ENOSYS, EINVAL, ENOEXEC and ENOTSUP are EFALLBACK (-a retries with kexec_load); anything else is fatal.

import * as fs from 'node:fs';
import { KexecError, UsageError, fileErrorText, strerror } from '../errno.js';
import type { Debug } from './debug.js';
import { cmdlineBytes } from './cmdline.js';
import type { Loaders } from './file-type.js';
import { unpackKernel } from './my-load.js';
import { KEXEC_FILE_DEBUG, KEXEC_FILE_NO_INITRAMFS, KEXEC_FILE_ON_CRASH, KEXEC_FILE_UNLOAD, kexecFileLoad, noKexecFileLoad32, type FileArg, type KexecFileResult } from '../vm/kernel/kexec-file.js';
import { readState } from '../vm/machine/machine.js';

const FALLBACK_ERRNOS = new Set(['ENOSYS', 'EINVAL', 'ENOEXEC', 'EOPNOTSUPP']);

/** kexec-tools' EFALLBACK: -a retries with kexec_load, -s stops with exit status 253. */
export class FileLoadFallback extends UsageError {
  constructor(
    readonly reason: string,
    cause?: KexecError,
  ) {
    super(['syscall kexec_file_load not available.'], { exitCode: 253, ...(cause ? { kernelError: cause } : {}) });
  }
}

/** What do_kexec_file_load needs from the -l/-p request. */
export interface FileLoadArgs {
  kernelPath: string;
  initrd: string | null;
  cmdline: string | null;
  crash: boolean;
  debug: boolean;
  entry32bit: boolean;
  realMode: boolean;
}

/** do_kexec_file_load: the syscall's result, or a UsageError (FileLoadFallback for EFALLBACK). */
export function doKexecFileLoad(dir: string, a: FileLoadArgs, debug: Debug, loaders: Loaders): KexecFileResult {
  // kexec-tools built for i386 has no __NR_kexec_file_load (kexec/kexec-syscall.h): is_kexec_file_load_implemented()
  // is false and do_kexec_file_load returns EFALLBACK before it opens the kernel (2.0.32).
  if (readState(dir).config.arch === 'i386') {
    const e = noKexecFileLoad32();
    throw new FileLoadFallback(`${e.errno} from ${e.rule}: ${e.message}`, e);
  }
  const kernelPath = a.kernelPath;
  let raw: Buffer;
  try {
    raw = fs.readFileSync(kernelPath);
  } catch (e) {
    throw new UsageError([`Failed to open file ${kernelPath}:${fileErrorText(e)}`], { exitCode: 255, hint: 'check the kernel path' });
  }
  const { data: kernel, format } = unpackKernel(raw, kernelPath);
  let kernelArg: FileArg = format ? { kind: 'memfd', name: `${kernelPath} (${format}-decompressed)`, data: kernel } : { kind: 'path', path: kernelPath };
  // 2.0.32's do_kexec_file_load prints nothing with -d (its fd debug lines came after it); the kernel's log does.
  const quiet: Debug = { enabled: false, print: () => {} };
  // kexec-tools probes its own file types first. A loader module from VKEXEC_LOADERS stands in for the userspace
  // file type kexec-tools would need for its format (docs/loaders.md).
  const type = loaders.fileTypes.find((t) => t.probe(kernel, quiet)) ?? loaders.thirdParty.find((ops) => ops.probe(kernel) === null);
  if (!type) throw new UsageError([`Cannot determine the file type of ${kernelPath}`], { exitCode: 255, hint: 'vkexec inspect shows what each loader says about the file' });
  // An envelope (uki) hands the syscall its inner kernel and, without --initrd, its own initrd (kexec-uki.c).
  const inner = ('fileMode' in type && type.fileMode?.(kernel, loaders.fileTypes, { initrd: a.initrd !== null, cmdline: a.cmdline })) || null;
  if ((inner?.inner ?? type.name) === 'bzImage64' && (a.entry32bit || a.realMode)) {
    throw new UsageError(['Kexec2 syscall does not support 16bit or 32bit entry yet', `Cannot load ${kernelPath}`], { exitCode: 255, hint: 'drop --entry-32bit/--real-mode, or use -c' });
  }
  let initrdArg: FileArg | null = null;
  if (inner) {
    for (const line of inner.debug) debug.print(line);
    kernelArg = { kind: 'memfd', name: `${kernelPath} ${inner.what}`, data: inner.kernel };
    if (inner.initrd && a.initrd === null) {
      if (format) throw new UsageError([`Cannot load ${kernelPath}`], { exitCode: 255, hint: `vkexec reads a UKI's .initrd in place and cannot from a ${format}-compressed UKI: decompress it first, or name the initrd with --initrd` });
      initrdArg = { kind: 'path', path: kernelPath, window: inner.initrd };
    }
  }
  if (a.initrd !== null) {
    try {
      fs.accessSync(a.initrd, fs.constants.R_OK);
    } catch (e) {
      throw new UsageError([`Could not open initrd file ${a.initrd}:${fileErrorText(e)}`, `Cannot load ${kernelPath}`], { exitCode: 255, hint: 'check the --initrd path' });
    }
    initrdArg = { kind: 'path', path: a.initrd };
  }
  let flags = (a.crash ? KEXEC_FILE_ON_CRASH : 0) | (a.debug ? KEXEC_FILE_DEBUG : 0);
  if (!initrdArg) flags |= KEXEC_FILE_NO_INITRAMFS;
  try {
    const res = kexecFileLoad(dir, { kernel: kernelArg, initrd: initrdArg, cmdline: a.cmdline === null ? null : cmdlineBytes(a.cmdline), flags }, loaders.kexecFileOps);
    for (const line of res.log) debug.print(line);
    return res;
  } catch (e) {
    if (!(e instanceof KexecError)) throw e;
    if (FALLBACK_ERRNOS.has(e.errno)) throw new FileLoadFallback(`${e.errno} from ${e.rule}: ${e.message}`, e);
    throw new UsageError([`kexec_file_load failed: ${strerror(e.errno)}`], { exitCode: 255, kernelError: e });
  }
}

/** kexec_file_unload: KEXEC_FILE_UNLOAD frees the (crash) image; ENOSYS is EFALLBACK (FileLoadFallback). */
export function kexecFileUnload(dir: string, crash: boolean): void {
  try {
    kexecFileLoad(dir, { kernel: { kind: 'badfd' }, initrd: null, cmdline: null, flags: KEXEC_FILE_UNLOAD | (crash ? KEXEC_FILE_ON_CRASH : 0) }, []);
  } catch (e) {
    if (!(e instanceof KexecError)) throw e;
    if (e.errno === 'ENOSYS') throw new FileLoadFallback(`${e.errno} from ${e.rule}: ${e.message}`, e);
    throw new UsageError([`kexec_file_load(unload) failed: ${strerror(e.errno)}`], { exitCode: 255, kernelError: e });
  }
}
