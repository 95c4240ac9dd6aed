// `vkexec [kexec options] [kernel]`: kexec-tools' main() against a machine directory. Messages and exit codes
// as kexec-tools (usage 1, die() 1, load failures 255, ENOCRASHKERNEL 254, EFALLBACK 253; -S answers 1 when
// loaded, 0 when not), each failure followed by vkexec lines naming the rule and the fix (report.ts).

// Start-up is a feature (`vkexec -S` in scripts): what only some modes need is imported when they run.
import { UsageError } from '../errno.js';
import type { KexecLoadResult } from '../kexec/load-request.js';
import { parseKexecArgs, type KexecRequest, type SyscallChoice } from './kexec-options.js';
import { safeText, startSpinner, type Out, type Spinner } from './output.js';
import type { OpenMachine } from './machine-open.js';
import type { Voice } from './report.js';

// Built-ins by process.getBuiltinModule, not import: no ES module facade to build (node:fs's loads its streams)
// and no import to resolve, on every command's path (issue 15, bench/startup.ts).
const { createRequire } = process.getBuiltinModule('node:module');

/** A module of the machine side, required when a request opens its machine: --version and --help never do. */
function machineSide<T>(spec: string): T {
  return createRequire(import.meta.url)(spec) as T;
}

/** report.ts's reportFailure, imported on the failure path only. */
async function reportFailure(e: unknown, out: Out, voice?: Voice): Promise<number> {
  return (await import('./report.js')).reportFailure(e, out, voice);
}

async function usageText(): Promise<string> {
  return (await import('./usage.js')).usage();
}

/** `-S` could not tell (no machine, a corrupt one): neither 1 (loaded) nor 0 (not loaded). See EXIT STATUS. */
export const STATUS_ERROR = 2;

export async function kexecMain(argv: readonly string[], out: Out): Promise<number> {
  let r: KexecRequest;
  try {
    r = parseKexecArgs(argv);
  } catch (e) {
    return await reportFailure(e, out);
  }
  if (r.help || r.version) {
    // require(), as main.ts loads this module: import() would start the asynchronous ES module loader.
    const { usage, versionText } = createRequire(import.meta.url)('./usage.js') as typeof import('./usage.js');
    out.line(r.help ? usage() : versionText());
    return 0;
  }
  return runKexecRequest(r, out);
}

/** main() after the parse: the modes of a parsed request on its machine (also `vkexec boot`: load, then exec). */
export async function runKexecRequest(r: KexecRequest, out: Out): Promise<number> {
  let m: OpenMachine;
  try {
    m = machineSide<typeof import('./machine-open.js')>('./machine-open.js').openMachine(r.machine, out);
  } catch (e) {
    const code = await reportFailure(e, out, 'vkexec');
    return r.status ? STATUS_ERROR : code;
  }
  if (r.printCkrSize) {
    // require(), as for openMachine (machine.ts has loaded machine-config.js): import() would start the ES module loader.
    const res = machineSide<typeof import('../vm/machine/machine-config.js')>('../vm/machine/machine-config.js').crashkRes(m.state.config);
    out.line(res ? (res.end - res.start + 1n).toString() : '0');
    return 0;
  }
  if (r.status) return kStatus(m, r, out);
  const execModule = (r.exec || r.shutdown) && (r.load || m.state.images.normal) ? prefetchExec(r) : null;
  let spinner: Spinner | null = null;
  try {
    let syscall = await checkModes(m, r, out);
    if (syscall === null) return 1;
    if (r.unload) syscall = (await import('../kexec/load.js')).doUnload(syscall, r.crash, m);
    if (r.load) {
      spinner = r.debug ? null : await startSpinner(out, `loading ${r.operands[0] ?? ''}`);
      if (r.operands.length === 0) throw new UsageError('No kernel specified', { exitCode: 255, usage: true });
      const { loadersFor } = await import('../loaders/index.js');
      const { doLoad } = await import('../kexec/load.js');
      const res = doLoad({ ...r, syscall, kernelPath: r.operands[0]! }, m, await loadersFor(m.state.config.arch, undefined, { dir: m.dir, config: m.state.config, trustedLoaders: m.state.trustedLoaders ?? [] }), (l) => out.line(l));
      printLoad(res, r, out);
    }
  } catch (e) {
    spinner?.stop();
    return await reportFailure(e, out);
  }
  spinner?.stop();
  if (r.exec || r.shutdown) {
    // kexec-tools without -l/-e loads and then reboots through shutdown, whose last step is `kexec -e`.
    const { kernelKexec } = await (execModule ?? import('./exec.js'));
    return kernelKexec(m.dir, r, out);
  }
  return 0;
}

/**
 * An exec starts importing its modules (exec.ts, the engines) now, beside the loader's, and one that may run on
 * QEMU asks `qemu-system-x86_64 -version` (qemu-binary.ts, once per process) now, so that question runs beside
 * the load instead of before QEMU starts. Both answers are used, and their failures reported, where they were
 * before: the module after the load, the QEMU check where the engine is chosen.
 */
function prefetchExec(r: KexecRequest): Promise<typeof import('./exec.js')> {
  if (r.engine.engine === 'qemu' || r.engine.engine === 'auto') {
    void import('../vm/engines/qemu-binary.js').then((q) => q.checkQemuBinary(q.QEMU_BINARY)).catch(() => {});
  }
  const exec = import('./exec.js');
  exec.catch(() => {}); // a load that fails returns before awaiting it
  return exec;
}

/** k_status: the sysfs file's value, which main() exits with. */
function kStatus(m: OpenMachine, r: KexecRequest, out: Out): number {
  const crash = r.crash || (!r.hasOptLoad && !r.preserveContext);
  const file = crash ? '/sys/kernel/kexec_crash_loaded' : '/sys/kernel/kexec_loaded';
  const loaded = machineSide<typeof import('../vm/machine/views.js')>('../vm/machine/views.js').readView(m.state, file)!.trim() === '1';
  if (r.json) out.emitJson({ image: crash ? 'crash' : 'normal', loaded });
  return loaded ? 1 : 0;
}

/**
 * main()'s checks of the modes against each other and the system call they will use (null: refused with the
 * usage text already printed).
 */
async function checkModes(m: OpenMachine, r: KexecRequest, out: Out): Promise<SyscallChoice | null> {
  const { loadSyscall } = await import('../kexec/load.js');
  const syscall = r.load ? loadSyscall(r, m.state) : r.syscall;
  if (!r.load && r.loaderOptionsGiven.length > 0) {
    out.line(await usageText());
    out.note(`--${r.loaderOptionsGiven[0]} only applies when loading a kernel`);
    return null;
  }
  if (syscall === 'file' && r.jumpBackHelper) throw new UsageError('--load-jump-back-helper not supported with kexec_file_load');
  if (syscall !== 'load' && r.preserveContext && r.load) throw new UsageError('--load-preserve-context not supported with kexec_file_load');
  return syscall;
}

/** What a load prints: the signature verdict of kexec_file_load, and the image with --json. */
function printLoad(res: KexecLoadResult, r: KexecRequest, out: Out): void {
  if (res.signature?.startsWith('signature not verified')) out.note(safeText(`warning: ${res.signature}`));
  else if (res.signature && r.debug) out.note(safeText(res.signature));
  if (!r.json || r.exec || r.shutdown || !res.image) return;
  // Addresses and sizes as hex strings, all of them (they pass 2^53): bufsz too.
  const segments = res.image.segments.map((s) => ({ mem: s.mem, memsz: s.memsz, bufsz: BigInt(s.bufsz), sha256: s.blob }));
  const signature = res.syscall === 'kexec_file_load' ? { signature: res.signature } : {};
  out.emitJson({ syscall: res.syscall, type: res.type, image: res.image.type, entry: res.image.start, ...signature, segments });
}
