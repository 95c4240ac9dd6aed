// The kexec_file_load path of kexec-tools' main (do_kexec_file_load, kexec_file_unload): open the kernel,
// decompress it into a memfd when compressed, probe the userspace types, open the initrd, call the syscall.
// ENOSYS, EINVAL, ENOEXEC and ENOTSUP are EFALLBACK (-a retries with kexec_load); anything else is fatal.

import * as fs from 'node:fs';
import { KexecError, fileErrorText, strerror } from '../errno.js';
import type { Loaders } from '../loaders/index.js';
import type { Debug } from '../kexec/debug.js';
import { cmdlineBytes } from '../kexec/cmdline.js';
import { LoadError } from '../kexec/load-error.js';
import { unpackKernel } from '../kexec/my-load.js';
import { KEXEC_FILE_DEBUG, KEXEC_FILE_NO_INITRAMFS, KEXEC_FILE_ON_CRASH, KEXEC_FILE_UNLOAD, kexecFileLoad, type FileArg } from '../vm/kernel/kexec-file.js';
import { FileLoadFallback } from '../kexec/file-load-fallback.js';
import type { KexecRequest } from './kexec-options.js';
import type { OpenMachine } from './machine-open.js';
import type { Out } from './output.js';
import { explain } from './kexec-main.js';

const FALLBACK_ERRNOS = new Set(['ENOSYS', 'EINVAL', 'ENOEXEC', 'EOPNOTSUPP']);

export async function doKexecFileLoad(m: OpenMachine, r: KexecRequest, cmdline: string | null, debug: Debug, out: Out, loaders: Loaders): Promise<number> {
  const kernelPath = r.operands[0]!;
  let raw: Buffer;
  try {
    raw = fs.readFileSync(kernelPath);
  } catch (e) {
    throw new LoadError([`Failed to open file ${kernelPath}:${fileErrorText(e)}`], 255, 'check the kernel path');
  }
  const { data: kernel, format } = unpackKernel(raw, kernelPath);
  const kernelArg: FileArg = format ? { kind: 'memfd', name: `${kernelPath} (${format}-decompressed)`, data: kernel } : { kind: 'path', path: kernelPath };
  debug.print(format ? `do_kexec_file_load: compressed input, using memfd kernel fd` : `do_kexec_file_load: using original kernel file fd`);
  const quiet: Debug = { enabled: false, print: () => {} };
  // kexec-tools probes its own file types first. A loader module from VKEXEC_LOADERS stands in for the userspace
  // file type kexec-tools would need for its format (docs/loaders.md).
  const type = loaders.fileTypes.find((t) => t.probe(kernel, quiet)) ?? loaders.thirdParty.find((ops) => ops.probe(kernel) === null);
  if (!type) throw new LoadError([`Cannot determine the file type of ${kernelPath}`], 255, 'vkexec inspect shows what each loader says about the file');
  if (type.name === 'bzImage64' && (r.entry32bit || r.realMode)) {
    throw new LoadError(['Kexec2 syscall does not support 16bit or 32bit entry yet', `Cannot load ${kernelPath}`], 255, 'drop --entry-32bit/--real-mode, or use -c');
  }
  let initrdArg: FileArg | null = null;
  if (r.initrd !== null) {
    try {
      fs.accessSync(r.initrd, fs.constants.R_OK);
    } catch (e) {
      throw new LoadError([`Could not open initrd file ${r.initrd}:${fileErrorText(e)}`, `Cannot load ${kernelPath}`], 255, 'check the --initrd path');
    }
    initrdArg = { kind: 'path', path: r.initrd };
  }
  let flags = (r.crash ? KEXEC_FILE_ON_CRASH : 0) | (r.debug ? KEXEC_FILE_DEBUG : 0);
  if (!initrdArg) flags |= KEXEC_FILE_NO_INITRAMFS;
  debug.print(`kexec_file_load: flags = 0x${flags.toString(16)}`);
  try {
    const res = kexecFileLoad(m.dir, { kernel: kernelArg, initrd: initrdArg, cmdline: cmdline === null ? null : cmdlineBytes(cmdline), flags }, loaders.kexecFileOps);
    for (const line of res.log) debug.print(line);
    if (res.signature.startsWith('signature not verified')) out.note(`warning: ${res.signature}`);
    else if (r.debug) out.note(res.signature);
    if (r.json && !r.exec && !r.shutdown && res.image) {
      out.emitJson({ syscall: 'kexec_file_load', type: res.loader, image: res.image.type, entry: res.image.start, signature: res.signature, segments: res.image.segments.map((s) => ({ mem: s.mem, memsz: s.memsz, bufsz: s.bufsz, sha256: s.blob })) });
    }
    return 0;
  } catch (e) {
    if (!(e instanceof KexecError)) throw e;
    if (FALLBACK_ERRNOS.has(e.errno)) throw new FileLoadFallback(`${e.errno} from ${e.rule}: ${e.message}`, e);
    out.err(`kexec_file_load failed: ${strerror(e.errno)}`);
    explain(e, out);
    return 255;
  }
}

export function kexecFileUnload(dir: string, crash: boolean, out: Out): number | 'fallback' {
  try {
    kexecFileLoad(dir, { kernel: { kind: 'badfd' }, initrd: null, cmdline: null, flags: KEXEC_FILE_UNLOAD | (crash ? KEXEC_FILE_ON_CRASH : 0) }, []);
    return 0;
  } catch (e) {
    if (!(e instanceof KexecError)) throw e;
    if (e.errno === 'ENOSYS') return 'fallback';
    out.err(`kexec_file_load(unload) failed: ${strerror(e.errno)}`);
    explain(e, out);
    return 255;
  }
}
