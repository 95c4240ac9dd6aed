// What a QEMU run came to, decided after QEMU has exited: the console event first, then the engine's own stops
// (timeout, the user's Ctrl-A x), then how QEMU ended (exit status, signal, its messages, the TCG reset log).

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { KexecError, UsageError } from '../../errno.js';
import { QEMU_DEBIAN_PACKAGE } from './qemu-binary.js';
import { hex } from '../../lib/hex.js';
import type { OutcomeStatus } from './engine.js';
import { DEBUG_EXIT_PORT } from './qemu-args.js';
import type { ConsoleWatcher } from './qemu-console.js';
import { parseQemuRegisters, type CpuState } from './cpu-state.js';
import { STUB_PML4 } from '../../arch/x86/stub/params.js';

export interface RunResult {
  status: OutcomeStatus;
  details: string[];
  /** Lines for -d only (Outcome.verbose). */
  verbose?: string[];
  consoleTail: string;
  cpu?: CpuState;
  /** The byte the guest wrote to isa-debug-exit, when it ended that way. */
  debugExitCode?: number;
}

export interface QemuEnd {
  binary: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  watcher: ConsoleWatcher;
  /** The engine stopped QEMU (SIGTERM), so a signal is no crash. */
  stopping: boolean;
  timedOut: boolean;
  userQuit: boolean;
  /** The signal that interrupted vkexec (BootOptions.abort), if any. */
  interrupted: string | null;
  /** `info registers` read through QMP before the stop, if it was. */
  registers: string | null;
  /** QEMU's -D log under TCG, which names a triple fault. */
  tcgLog: string | null;
  timeoutMs: number;
  expect: RegExp | undefined;
}

type Done = (status: OutcomeStatus, detail: string, debugExitCode?: number) => RunResult;

export async function decideQemuOutcome(s: QemuEnd): Promise<RunResult> {
  const r = await decideRun(s);
  if (r.status === 'matched' || r.status === 'interrupted' || r.status === 'quit') return r;
  // The post-mortem's CPU state: QMP's answer before the stop, else the state QEMU logged at the last CPU
  // reset (x86_cpu_reset logs it before resetting: the state of a triple fault).
  const fromQmp = s.registers ? parseQemuRegisters(s.registers, 'QMP info registers') : null;
  const log = fromQmp || !s.tcgLog ? '' : await readFile(s.tcgLog, 'latin1').catch(() => '');
  const cpu = fromQmp ?? (r.status === 'triple-fault' || r.status === 'reboot' ? parseQemuRegisters(log, 'QEMU cpu_reset log') : null);
  return cpu ? { ...r, cpu: { ...cpu, handoffPaging: cpu.mode === 'long64' && BigInt(cpu.cr3) === STUB_PML4 } } : r;
}

async function decideRun(s: QemuEnd): Promise<RunResult> {
  const consoleTail = s.watcher.tail();
  const done: Done = (status, detail, debugExitCode) =>
    debugExitCode === undefined ? { status, details: [detail], consoleTail } : { status, details: [detail], consoleTail, debugExitCode };
  const ev = s.watcher.event;
  if (ev) {
    switch (ev.status) {
      case 'stub-failure':
        throw new KexecError('ENOEXEC', 'qemu firmware stub', `the firmware stub stopped: ${ev.line.trim()}`, {
          value: ev.line.trim(),
          hint: 'the CPU QEMU emulates lacks long mode or 1 GiB pages: try --accel tcg',
        });
      case 'matched':
        return done('matched', `console matched ${String(s.expect)}: ${JSON.stringify(ev.line)}`);
      default:
        return done(ev.status, `console: ${ev.line.trim()}`);
    }
  }
  if (s.interrupted) return done('interrupted', `vkexec got ${s.interrupted}; QEMU stopped`);
  if (s.timedOut) return done('timeout', `no outcome within ${s.timeoutMs} ms; QEMU stopped`);
  if (s.userQuit) return done('quit', 'console closed by the user (Ctrl-A x); QEMU stopped');
  return decideExit(s, done);
}

/** QEMU ended by itself: a reset under -no-reboot, isa-debug-exit, or a failure. */
async function decideExit(s: QemuEnd, done: Done): Promise<RunResult> {
  const qemuErrors = s.stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !/: warning: /.test(l) && !/terminating on signal/.test(l));
  const name = basename(s.binary);
  if (s.signal && !s.stopping) {
    // QEMU's own failure, not the kernel's: its words, not an errno (no "kexec failed: Exec format error").
    throw new UsageError(`vkexec: ${name} died of ${s.signal}${qemuErrors.length ? ': ' + qemuErrors.join('; ') : ''}`, {
      hint: 'with KVM, try --accel tcg',
    });
  }
  if (s.code === 0) {
    if (s.watcher.rebootRequested) return done('reboot', 'guest reset the CPU after the kernel\'s restart notice; QEMU ended (-no-reboot)');
    if (s.tcgLog) {
      const log = await readFile(s.tcgLog, 'latin1').catch(() => '');
      if (log.includes('Triple fault')) return done('triple-fault', 'triple fault: the CPU reset itself (QEMU log: "Triple fault")');
      return done('reboot', 'guest reset the CPU (keyboard controller or reset port); QEMU ended (-no-reboot)');
    }
    return done('triple-fault', 'CPU reset with no restart notice on the console; under KVM QEMU cannot tell a triple fault from a silent reset, so it is taken for one');
  }
  if (s.code !== null && s.code % 2 === 1 && qemuErrors.length === 0) {
    const v = (s.code - 1) >> 1;
    return done('poweroff', `guest wrote ${hex(v)} to isa-debug-exit (port ${hex(DEBUG_EXIT_PORT)}); QEMU exit status ${s.code}`, v);
  }
  throw new UsageError(`vkexec: ${name} could not run the machine (exit status ${s.code}): ${qemuErrors.join('; ') || 'no message'}`, {
    hint: qemuFailureFix(qemuErrors),
  });
}

/** The fix for QEMU's own start failure, from its message: accelerator, disk image, or an option it refused. */
function qemuFailureFix(errors: string[]): string {
  const text = errors.join(' ');
  if (/kvm|accel/i.test(text)) return 'KVM does not work here: use --accel tcg';
  if (/Could not open|drive|file=/i.test(text)) return 'check the --disk image: it must exist and be readable and writable';
  if (/invalid|unsupported|not supported|unknown/i.test(text)) return `QEMU refused an option: upgrade ${QEMU_DEBIAN_PACKAGE}, or see its message above`;
  return 'see QEMU\'s message above; run with -d for its command line';
}
