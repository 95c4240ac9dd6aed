// kexec-tools' main() load and unload steps, given one typed request: -l/-p go through kexec_file_load
// (do_kexec_file_load, falling back to my_load's kexec_load on EFALLBACK under -a) or kexec_load (my_load);
// -u through kexec_file_unload or k_unload. Results are returned and failures thrown (UsageError with
// kexec-tools' lines and exit status); the command line prints them.

import { KexecError, UsageError, strerror } from '../errno.js';
import { readView } from '../vm/machine/views.js';
import { crashkRes } from '../vm/machine/machine-config.js';
import type { MachineState } from '../vm/machine/machine.js';
import { withBlobStaging } from '../vm/machine/store.js';
import { KEXEC_ON_CRASH, kexecLoad } from '../vm/kernel/kexec-load.js';
import { concatCmdline, reuseCommandLine } from './cmdline.js';
import { makeDebug } from './debug.js';
import type { Loaders } from './file-type.js';
import type { KexecLoadOptions, KexecLoadRequest, KexecLoadResult, LoadMachine, SyscallChoice } from './load-request.js';
import { FileLoadFallback, doKexecFileLoad, kexecFileUnload } from './file-load.js';
import { kexecArchFlag, myLoad } from './my-load.js';

/**
 * main()'s checks before a load, and the system call it will use: a panic load needs a crash reservation, and
 * --fast (a kexec_load layout) is refused with -s and turns -a into kexec_load.
 */
export function loadSyscall(o: KexecLoadOptions, state: MachineState): SyscallChoice {
  if (o.crash && !crashkRes(state.config)) {
    throw new UsageError(['Memory for crashkernel is not reserved', 'Please reserve memory by passing"crashkernel=Y@X" parameter to kernel', 'Then try to loading kdump kernel'], {
      hint: 'the reservation is made at boot: create the machine with one, e.g. vkexec --machine DIR machine init --crashkernel 256M',
    });
  }
  if (o.preserveContext && o.memMax === null) {
    throw new UsageError(['Please specify memory range used by kexeced kernel', 'to preserve the context of original kernel with ', '"--mem-max" parameter']);
  }
  if (!o.fast) return o.syscall;
  // kexec_file_load has no loader for a host-decompressed vmlinux: --fast is a kexec_load layout.
  if (o.syscall === 'file') throw new UsageError('--fast is not supported with kexec_file_load', { hint: 'use -c (kexec_load), or drop -s: without -s a --fast load goes through kexec_load' });
  return 'load';
}

/**
 * main()'s do_load: kexec_file_load first unless -c, kexec_load (my_load) after EFALLBACK under -a. `stdout`
 * takes what kexec-tools prints on stdout while loading.
 */
export function doLoad(r: KexecLoadRequest, m: LoadMachine, loaders: Loaders, stdout: (line: string) => void): KexecLoadResult {
  // Large files are copied into the machine while the SHA-256 pass reads them (store.ts withBlobStaging).
  return withBlobStaging(m.dir, () => loadOn(r, m, loaders, stdout));
}

function loadOn(r: KexecLoadRequest, m: LoadMachine, loaders: Loaders, stdout: (line: string) => void): KexecLoadResult {
  let syscall = loadSyscall(r, m.state);
  const debug = makeDebug(r.debug);
  const reuse = r.reuseCmdline ? reuseCommandLine(readView(m.state, '/proc/cmdline')!, r.crash) : null;
  const cmdline = concatCmdline(reuse, r.append);
  if (syscall !== 'load') {
    try {
      const res = doKexecFileLoad(m.dir, { ...r, cmdline }, debug, loaders);
      return { syscall: 'kexec_file_load', type: res.loader, image: res.image, signature: res.signature };
    } catch (e) {
      if (!(e instanceof FileLoadFallback) || syscall !== 'auto') throw e;
      debug.print(`kexec_file_load: ${e.reason}; falling back to kexec_load`);
      syscall = 'load';
    }
  }
  const res = myLoad({
    ...r,
    fileTypes: loaders.fileTypes,
    cmdline,
    arch: m.state.config.arch,
    files: (p) => readView(m.state, p),
    debug,
    stdout,
    machineDir: m.dir,
  });
  return { syscall: 'kexec_load', type: res.typeName, image: res.image };
}

/**
 * main()'s do_unload: kexec_file_unload unless -c, k_unload after its EFALLBACK under -a. Returns the system
 * call a load in the same command uses (main() stays with kexec_load once the file syscall fell back).
 */
export function doUnload(syscall: SyscallChoice, crash: boolean, m: LoadMachine): SyscallChoice {
  if (syscall !== 'load') {
    try {
      kexecFileUnload(m.dir, crash);
      return syscall;
    } catch (e) {
      if (!(e instanceof FileLoadFallback) || syscall !== 'auto') throw e;
    }
  }
  kUnload(m.dir, crash, m.state.config.arch);
  return 'load';
}

/** k_unload: kexec_load with no segments frees the (crash) image. */
function kUnload(dir: string, crash: boolean, arch: 'x86_64' | 'i386'): void {
  const flags = (crash ? KEXEC_ON_CRASH : 0) | kexecArchFlag(arch);
  try {
    kexecLoad(dir, 0n, [], flags, { syscall: 'kexec_load' });
  } catch (e) {
    if (e instanceof KexecError) throw new UsageError([`kexec unload failed: ${strerror(e.errno)}`], { exitCode: 255, kernelError: e });
    throw e;
  }
}
