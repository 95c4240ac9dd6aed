// reboot(LINUX_REBOOT_CMD_KEXEC): kernel_kexec takes the kexec lock, machine_kexec hands the machine to the
// loaded image, and an engine runs it. The machine directory is left as it was (see man page: the machine is
// the kernel before the jump, so an image can be executed again).

import { KexecError } from '../errno.js';
import { readState, type MachineState } from '../vm/machine/machine.js';
import type { MemoryImage } from '../vm/memory/memory-image.js';
import { machineKexec } from '../vm/kernel/machine-kexec.js';
import { tryLock } from '../vm/machine/lock.js';
import { EXIT_ENDED_UNMATCHED, EXIT_QUIT_UNMATCHED, outcomeExit, type BootOptions, type Outcome } from '../vm/engines/engine.js';
import { selectEngine } from '../vm/engines/select.js';
import type { EngineOptions } from './engine-options.js';
import { safeText, type Out } from './output.js';
import { reportFailure } from './report.js';
import { catchInterrupts } from './signals.js';
import { describePlacement, loadKernelSymbols, postMortem, type PostMortem } from './post-mortem.js';
import { describeCpu } from '../vm/engines/cpu-state.js';

/** Seconds an engine may run before --timeout's default gives up (a kernel boot under TCG takes ~10 s). */
export const DEFAULT_TIMEOUT_S = 120;

/**
 * `prepare` lets the caller change the memory the engine presents (machine panic adds the old kernel's RAM:
 * crash notes, vmcoreinfo, fill pattern); it returns lines for the report.
 */
export interface KernelKexecRequest {
  engine: EngineOptions;
  json: boolean;
  /** -d: also the engine's verbose lines (its command line, why KVM was not used). */
  debug?: boolean;
  crash?: boolean;
  prepare?: (state: MachineState, memory: MemoryImage) => { memory: MemoryImage; details: string[] };
}

export async function kernelKexec(dir: string, r: KernelKexecRequest, out: Out, which: 'normal' | 'crash' = 'normal'): Promise<number> {
  const abort = catchInterrupts();
  let lock;
  try {
    lock = tryLock(dir, which === 'normal' ? 'kernel_kexec' : '__crash_kexec');
  } catch (e) {
    if (which === 'crash' && e instanceof KexecError && e.errno === 'EBUSY') {
      // kernel/crash_core.c __crash_kexec: kexec_trylock fails -> return without doing anything.
      out.err(`vkexec: __crash_kexec: the kexec lock is held, so the panic does not start the crash kernel (${e.message})`);
      out.hint('as in Linux, a panic during a kexec load or exec does nothing; run machine panic again when the other command has finished');
      return 1;
    }
    return reportFailure(e, out);
  }
  try {
    const state = readState(dir);
    const image = state.images[which];
    if (!image) {
      if (which === 'normal') {
        out.err('Nothing has been loaded!');
        out.hint('load a kernel first: vkexec -l KERNEL [--initrd FILE] [--append TEXT]');
      } else {
        out.err('vkexec: no crash kernel is loaded: the panic falls through to a normal panic');
        out.hint('load one with: vkexec -p KERNEL --initrd FILE --append TEXT');
      }
      return 1;
    }
    const handoff = machineKexec(dir, state, image);
    const { entry } = handoff;
    let memory = handoff.memory;
    let prepared: string[] = [];
    if (r.prepare) ({ memory, details: prepared } = r.prepare(state, memory));
    // --system-map is read before the run, so a bad file is refused before the guest starts.
    const symbols = r.engine.systemMap ? loadKernelSymbols(r.engine.systemMap) : null;
    const engine = await selectEngine(r.engine.engine, entry);
    if (abort.aborted) return 128; // main() replaces it with the signal's status; the finally releases the lock
    const opts: BootOptions = {
      timeoutMs: (r.engine.timeout ?? DEFAULT_TIMEOUT_S) * 1000,
      accel: r.engine.accel,
      disks: r.engine.disks,
      cpus: state.config.cpus,
      abort,
      interactive: Boolean(process.stdin.isTTY) && !r.json && !r.engine.expect,
      ...(r.engine.expect ? { expect: new RegExp(r.engine.expect) } : {}),
      ...(r.engine.consoleLog ? { consoleLog: r.engine.consoleLog } : {}),
      ...(r.json || engine.name === 'verify' ? {} : { echo: process.stdout }),
    };
    if (!r.json) out.note(`executing the ${which} image on engine ${engine.name}${engine.name === 'verify' ? ' (checks only: no code runs)' : ''}`);
    if (opts.interactive && engine.name !== 'verify') out.note('interactive console: Ctrl-A x leaves, Ctrl-A Ctrl-A sends Ctrl-A');
    const outcome = await engine.boot(memory, entry, opts);
    outcome.details.unshift(...prepared);
    const code = outcomeExit(outcome.status, opts.expect !== undefined);
    const pm = code === 0 || outcome.status === 'interrupted' || outcome.engine === 'verify' ? null : postMortem(dir, image, outcome, symbols, state.config.arch);
    report(outcome, code, opts.expect, out, r.json, Boolean(r.debug), pm);
    return code;
  } catch (e) {
    if (e instanceof KexecError) return reportFailure(e, out);
    return reportFailure(e, out);
  } finally {
    lock.release();
  }
}

function report(o: Outcome, code: number, expect: RegExp | undefined, out: Out, json: boolean, debug: boolean, pm: PostMortem | null): void {
  const unmatched = expect !== undefined && (code === EXIT_ENDED_UNMATCHED || code === EXIT_QUIT_UNMATCHED);
  if (json) {
    out.emitJson({ ...o, exitStatus: code, ...(expect ? { expect: expect.source, expectMatched: o.status === 'matched' } : {}), ...(pm ? { postMortem: pm } : {}) });
    return;
  }
  for (const d of [...(debug ? (o.verbose ?? []) : []), ...o.details]) out.note(safeText(d));
  const verdict = `${o.engine}: ${o.status}${unmatched ? ` without matching --expect ${String(expect)}` : ''} after ${(o.wallMs / 1000).toFixed(2)} s`;
  out.note(verdict, code === 0 ? 'green' : 'red');
  if (o.status === 'purgatory-mismatch') {
    // purgatory/purgatory.c verify_sha256_digest: the segments in memory are not the ones kexec_load hashed.
    out.note('purgatory: sha256 digests do not match: the purgatory refused to start the loaded image (its segments changed after loading)');
  }
  if (pm) reportPostMortem(pm, out);
}

/** The post-mortem in words: CPU state, where RIP is, the last console lines, the diagnosis and its fix. */
function reportPostMortem(pm: PostMortem, out: Out): void {
  if (pm.cpu) out.note(describeCpu(pm.cpu));
  if (pm.placement) out.note(`${pm.cpu?.mode === 'long64' ? 'RIP' : 'EIP'} is ${describePlacement(pm.placement)}`);
  if (pm.lastConsoleLines.length) out.note(`last console lines:\n${pm.lastConsoleLines.join('\n')}`);
  else out.note('the guest wrote nothing to the console');
  out.note(`diagnosis: ${pm.diagnosis}`);
  out.hint(pm.fix);
}
