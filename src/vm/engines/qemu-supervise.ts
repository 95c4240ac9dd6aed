// Supervision of one QEMU process: its console followed from a file (file-tail.ts says why not a pipe) and
// copied to the log and the terminal, the user's keystrokes forwarded, and QEMU stopped at a console event,
// the timeout or the user's Ctrl-A x (SIGTERM, then SIGKILL).

import { type ChildProcess, spawn } from 'node:child_process';
import type { WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { UsageError } from '../../errno.js';
import type { BootOptions } from './engine.js';
import { FileTail } from './file-tail.js';
import { QEMU_INSTALL_HINT } from './qemu-binary.js';
import { LINE_GRACE_MS } from './console-markers.js';
import { ConsoleWatcher } from './qemu-console.js';
import { decideQemuOutcome, type RunResult } from './qemu-outcome.js';
import { qmpInfoRegisters } from './qemu-qmp.js';
import { attachConsoleInput } from './serial-input.js';

/** SIGTERM first; SIGKILL if QEMU is still there after this. */
const KILL_GRACE_MS = 2000;
const STDERR_KEEP = 16384;

export interface SuperviseInput {
  binary: string;
  args: string[];
  opts: BootOptions;
  log: WriteStream | undefined;
  /** QEMU's -D log under TCG (null under KVM). */
  tcgLog: string | null;
  /** Where QEMU's stdout (the console) goes. */
  consoleFile: string;
  /** QEMU's QMP socket: the CPU registers are read there before a stop that is no success. */
  qmpSocket: string;
}

/** Runs QEMU until the guest ends, a console event, the timeout, or the user leaves (Ctrl-A x). */
export async function superviseQemu(p: SuperviseInput): Promise<RunResult> {
  const out = await open(p.consoleFile, 'wx');
  let tail: FileTail;
  try {
    tail = await FileTail.open(p.consoleFile);
  } catch (err) {
    await out.close();
    throw err;
  }
  let child: ChildProcess;
  try {
    child = spawn(p.binary, p.args, { stdio: [p.opts.interactive ? 'pipe' : 'ignore', out.fd, 'pipe'] });
  } finally {
    void out.close(); // the child has its own copy
  }
  return new Promise((resolve, reject) => new QemuRun(p, child, tail, resolve, reject));
}

class QemuRun {
  private readonly watcher: ConsoleWatcher;
  private stderr = '';
  private stopping = false;
  private timedOut = false;
  private userQuit = false;
  private interrupted: string | null = null;
  /** `info registers` read through QMP just before the stop (null: not read, or no answer). */
  private registers: string | null = null;
  private readonly onAbort = (): void => {
    this.interrupted = String(this.p.opts.abort?.reason ?? 'a signal');
    this.stop();
  };
  /** QEMU has exited: what the final read finds is only recorded, no stop timers are started. */
  private ended = false;
  private midLine = false;
  private spawnError: NodeJS.ErrnoException | undefined;
  private lineTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly timeout: NodeJS.Timeout;
  private readonly detachInput: () => void;

  constructor(
    private readonly p: SuperviseInput,
    private readonly child: ChildProcess,
    private readonly tail: FileTail,
    resolve: (r: RunResult) => void,
    reject: (err: unknown) => void,
  ) {
    this.watcher = new ConsoleWatcher(p.opts.expect);
    this.timeout = setTimeout(() => {
      this.timedOut = true;
      this.stop();
    }, p.opts.timeoutMs);
    const stdin = child.stdin;
    if (p.opts.interactive && stdin) {
      stdin.on('error', () => {}); // QEMU gone: input no longer matters
      this.detachInput = attachConsoleInput((bytes) => stdin.write(bytes), () => {
        this.userQuit = true;
        this.stop(false);
      });
    } else this.detachInput = () => {};
    tail.follow((chunk) => this.onConsole(chunk));
    if (p.opts.abort?.aborted) this.onAbort();
    else p.opts.abort?.addEventListener('abort', this.onAbort);
    child.stderr!.on('data', (chunk: Buffer) => {
      if (this.stderr.length < STDERR_KEEP) this.stderr += chunk.toString('utf8');
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      this.spawnError = err;
    });
    child.on('close', (code, signal) => this.onClose(code, signal).then(resolve, reject));
  }

  /** Stops QEMU; unless the run succeeded, the CPU registers are read through QMP first (bounded wait). */
  private stop(readState = true): void {
    if (this.stopping) return;
    this.stopping = true;
    const kill = () => {
      if (this.ended) return;
      this.child.kill('SIGTERM');
      this.killTimer = setTimeout(() => this.child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    if (!readState || this.interrupted) return kill(); // a signal: stop at once
    void qmpInfoRegisters(this.p.qmpSocket).then((r) => {
      this.registers = r;
      kill();
    });
  }

  private onConsole(chunk: Uint8Array): void {
    this.p.log?.write(chunk);
    this.p.opts.echo?.write(chunk);
    this.midLine = chunk.length > 0 && chunk[chunk.length - 1] !== 0x0a;
    const ev = this.watcher.feed(chunk);
    if (!ev || this.stopping || this.ended) return;
    const readState = ev.status !== 'matched';
    if (ev.complete) this.stop(readState);
    else this.lineTimer ??= setTimeout(() => this.stop(readState), LINE_GRACE_MS);
  }

  private async onClose(code: number | null, signal: NodeJS.Signals | null): Promise<RunResult> {
    this.ended = true;
    clearTimeout(this.timeout);
    clearTimeout(this.lineTimer);
    clearTimeout(this.killTimer);
    this.p.opts.abort?.removeEventListener('abort', this.onAbort);
    this.detachInput();
    // QEMU has ended: the rest of the console is in the file.
    await this.tail.finish();
    // Leave the user's terminal at the start of a line for vkexec's own report.
    if (this.midLine) this.p.opts.echo?.write('\n');
    const { binary, opts } = this.p;
    if (this.spawnError) {
      const missing = this.spawnError.code === 'ENOENT';
      const msg = missing ? `${binary} not found` : `${binary} did not start: ${this.spawnError.message}`;
      throw new UsageError(`vkexec: ${msg}`, { hint: QEMU_INSTALL_HINT });
    }
    const { stderr, watcher, stopping, timedOut, userQuit, interrupted, registers } = this;
    return decideQemuOutcome({ binary, code, signal, stderr, watcher, stopping, timedOut, userQuit, interrupted, registers, tcgLog: this.p.tcgLog, timeoutMs: opts.timeoutMs, expect: opts.expect });
  }
}
