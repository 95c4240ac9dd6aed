// `vkexec [kexec options] [kernel]`: kexec-tools' main() against a machine directory. Messages and exit codes
// as kexec-tools (usage 1, die() 1, load failures 255, ENOCRASHKERNEL 254, EFALLBACK 253; -S answers 1 when
// loaded, 0 when not), each failure followed by vkexec lines naming the rule and the fix.

import { KexecError, UsageError, strerror } from '../errno.js';
import { makeDebug } from '../kexec/debug.js';
import { concatCmdline, reuseCommandLine } from '../kexec/cmdline.js';
import { LoadError } from '../kexec/load-error.js';
import { readView } from '../vm/machine/views.js';
import { signatureFactsLine, signatureReportOf } from '../sig/failure-line.js';
import { crashkRes } from '../vm/machine/machine-config.js';
import { parseKexecArgs, type KexecRequest } from './kexec-options.js';
import { CommandLineError, GetoptError } from './getopt.js';
import { usage, versionText } from './usage.js';
import { startSpinner, type Out, type Spinner } from './output.js';
import { openMachine } from './machine-open.js';
import { FileLoadFallback } from '../kexec/file-load-fallback.js';

export async function kexecMain(argv: readonly string[], out: Out): Promise<number> {
  let r: KexecRequest;
  try {
    r = parseKexecArgs(argv);
  } catch (e) {
    if (e instanceof GetoptError) {
      out.err(e.message);
      out.line(usage());
      return 1;
    }
    if (e instanceof CommandLineError) {
      out.err(e.message);
      if (e.showUsage) out.line(usage());
      return 1;
    }
    throw e;
  }
  if (r.help) {
    out.line(usage());
    return 0;
  }
  if (r.version) {
    out.line(versionText());
    return 0;
  }
  const m = openMachine(r.machine, out);
  if (r.printCkrSize) {
    const res = crashkRes(m.state.config);
    out.line(res ? (res.end - res.start + 1n).toString() : '0');
    return 0;
  }
  if (r.status) {
    const crash = r.crash || (!r.hasOptLoad && !r.preserveContext);
    const file = crash ? '/sys/kernel/kexec_crash_loaded' : '/sys/kernel/kexec_loaded';
    const loaded = readView(m.state, file)!.trim() === '1';
    if (r.json) out.emitJson({ image: crash ? 'crash' : 'normal', loaded });
    // k_status returns the value of the sysfs file, and main() exits with it.
    return loaded ? 1 : 0;
  }
  if (r.load && r.crash && !crashkRes(m.state.config)) {
    out.err('Memory for crashkernel is not reserved\nPlease reserve memory by passing"crashkernel=Y@X" parameter to kernel\nThen try to loading kdump kernel');
    out.hint(`the reservation is made at boot: create the machine with one, e.g. vkexec --machine DIR machine init --crashkernel 256M`);
    return 1;
  }
  if (r.load && r.preserveContext && r.memMax === null) {
    out.err('Please specify memory range used by kexeced kernel\nto preserve the context of original kernel with \n"--mem-max" parameter');
    return 1;
  }
  if (!r.load && r.loaderOptionsGiven.length > 0) {
    out.line(usage());
    out.note(`--${r.loaderOptionsGiven[0]} only applies when loading a kernel`);
    return 1;
  }
  let useFile = r.syscall !== 'load';
  const fallback = r.syscall === 'auto';
  if (r.load && r.fast) {
    // kexec_file_load has no loader for a host-decompressed vmlinux: --fast is a kexec_load layout.
    if (r.syscall === 'file') {
      out.err('--fast is not supported with kexec_file_load');
      out.hint('use -c (kexec_load), or drop -s: without -s a --fast load goes through kexec_load');
      return 1;
    }
    useFile = false;
  }
  if (useFile && r.jumpBackHelper && !fallback) return die(out, '--load-jump-back-helper not supported with kexec_file_load');
  if (useFile && r.preserveContext && r.load) return die(out, '--load-preserve-context not supported with kexec_file_load');
  const debug = makeDebug(r.debug);
  let result = 0;
  let spinner: Spinner | null = null;
  try {
    if (r.unload) {
      if (useFile) {
        const { kexecFileUnload } = await import('./file-load.js');
        const rc = kexecFileUnload(m.dir, r.crash, out);
        if (rc === 'fallback' && fallback) useFile = false;
        else if (rc === 'fallback') return efallback(out);
        else result = rc;
      }
      if (!useFile) result = await kUnload(m.dir, r.crash, m.state.config.arch, out);
    }
    if (r.load && result === 0) {
      const crash = r.crash;
      const loaders = async () => (await import('../loaders/index.js')).loadersFor(m.state.config.arch);
      spinner = r.debug ? null : await startSpinner(out, `loading ${r.operands[0] ?? ''}`);
      const reuse = r.reuseCmdline ? reuseCommandLine(readView(m.state, '/proc/cmdline')!, crash) : null;
      const cmdline = concatCmdline(reuse, r.append);
      if (r.operands.length === 0) {
        out.err('No kernel specified');
        out.line(usage());
        return 255;
      }
      if (useFile) {
        try {
          const { doKexecFileLoad } = await import('./file-load.js');
          result = await doKexecFileLoad(m, r, cmdline, debug, out, await loaders());
        } catch (e) {
          if (!(e instanceof FileLoadFallback)) throw e;
          if (!fallback) {
            if (e.cause) explain(e.cause, out);
            return efallback(out);
          }
          debug.print(`kexec_file_load: ${e.reason}; falling back to kexec_load`);
          useFile = false;
        }
      }
      if (!useFile) {
        const { myLoad } = await import('../kexec/my-load.js');
        const res = myLoad({
          fileTypes: (await loaders()).fileTypes,
          type: r.type,
          kernelPath: r.operands[0]!,
          cmdline,
          initrdPath: r.initrd,
          arch: m.state.config.arch,
          crash,
          preserveContext: r.preserveContext,
          skipChecks: r.skipChecks,
          entry: r.entry,
          memMin: r.memMin,
          memMax: r.memMax,
          entry32bit: r.entry32bit,
          realMode: r.realMode,
          fast: r.fast,
          argsMode: r.argsMode,
          ...(r.coreHeaderType ? { coreHeaderType: r.coreHeaderType } : {}),
          passMemmapCmdline: r.passMemmapCmdline,
          console: r.console,
          files: (p) => readView(m.state, p),
          debug,
          machineDir: m.dir,
        });
        if (r.json && !r.exec && !r.shutdown) {
          out.emitJson({ syscall: 'kexec_load', type: res.typeName, image: res.image.type, entry: res.image.start, segments: res.image.segments.map((s) => ({ mem: s.mem, memsz: s.memsz, bufsz: s.bufsz, sha256: s.blob })) });
        }
      }
    }
  } catch (e) {
    spinner?.stop();
    return reportFailure(e, out);
  }
  spinner?.stop();
  if (result !== 0) return result;
  if (r.exec || r.shutdown) {
    // kexec-tools without -l/-e loads and then reboots through shutdown, whose last step is `kexec -e`.
    const { kernelKexec } = await import('./exec.js');
    return kernelKexec(m.dir, r, out);
  }
  return 0;
}

function die(out: Out, message: string): number {
  out.err(message);
  return 1;
}

function efallback(out: Out): number {
  out.err('syscall kexec_file_load not available.');
  return 253;
}

/** k_unload: kexec_load with no segments frees the (crash) image. */
async function kUnload(dir: string, crash: boolean, arch: 'x86_64' | 'i386', out: Out): Promise<number> {
  const { kexecLoad, KEXEC_ON_CRASH, KEXEC_ARCH_X86_64, KEXEC_ARCH_386 } = await import('../vm/kernel/kexec-load.js');
  const flags = (crash ? KEXEC_ON_CRASH : 0) | (arch === 'x86_64' ? KEXEC_ARCH_X86_64 : KEXEC_ARCH_386);
  try {
    kexecLoad(dir, 0n, [], flags, { syscall: 'kexec_load' });
    return 0;
  } catch (e) {
    if (e instanceof KexecError) {
      out.err(`kexec unload failed: ${strerror(e.errno)}`);
      explain(e, out);
      return 255;
    }
    throw e;
  }
}

export function explain(e: KexecError, out: Out): void {
  out.note(`${e.rule}: ${e.message}${e.value ? ` (${e.value})` : ''}`);
  const sig = signatureReportOf(e);
  if (sig) out.note(`signature: ${signatureFactsLine(sig)}`);
  if (e.hint) out.hint(e.hint);
}

/** Turns a failure into kexec-tools' text and exit code, plus vkexec's explanation. */
export function reportFailure(e: unknown, out: Out): number {
  if (e instanceof LoadError) {
    for (const l of e.lines) out.err(l);
    if (e.kernelError) explain(e.kernelError, out);
    else if (e.hint) out.hint(e.hint);
    return e.exitCode;
  }
  if (e instanceof UsageError) {
    out.err(e.message);
    if (e.hint) out.hint(e.hint);
    return e.exitCode;
  }
  if (e instanceof KexecError) {
    out.err(`kexec failed: ${strerror(e.errno)}`);
    explain(e, out);
    return 255;
  }
  throw e;
}
