// The guest's COM1 as the v86 engine sees it: bytes in, copies out (terminal echo, console log), and the
// console lines that decide how a run ended (kernel, purgatory and probe messages, the user's --expect).

import { closeSync, openSync, writeSync } from 'node:fs';
import { UsageError } from '../../errno.js';
import type { OutcomeStatus } from './engine.js';

export interface ConsoleVerdict {
  status: OutcomeStatus;
  detail: string;
}

interface ConsoleMarker {
  text: string;
  status: OutcomeStatus;
  detail: string;
}

/** Substrings of a console line that end a run, first match wins. */
export const CONSOLE_MARKERS: readonly ConsoleMarker[] = [
  // src/arch/x86/probe-kernel: printed after the report, then the probe halts.
  { text: 'VKEXEC-PROBE-POWEROFF', status: 'poweroff', detail: 'the probe kernel finished its report' },
  // The project's purgatory prints this on COM1 when a segment changed since load, then spins forever.
  {
    text: 'sha256 digests do not match',
    status: 'purgatory-mismatch',
    detail: 'the purgatory refused the segments (sha256 digests do not match)',
  },
  // kernel/panic.c
  { text: 'Kernel panic - not syncing', status: 'panic', detail: 'the kernel panicked' },
  // kernel/reboot.c: kernel_restart / kernel_power_off / kernel_halt
  { text: 'reboot: Restarting system', status: 'reboot', detail: 'the kernel restarted the machine' },
  { text: 'reboot: Power down', status: 'poweroff', detail: 'the kernel powered the machine off' },
  { text: 'System halted', status: 'poweroff', detail: 'the kernel halted the machine' },
  // arch/x86/boot/cpu.c (validate_cpu): an x86-64 kernel on v86's 32-bit CPU; it halts after this line.
  {
    text: 'This kernel requires an x86-64 CPU',
    status: 'hang',
    detail: 'the kernel needs an x86-64 CPU but v86 emulates a 32-bit one: boot it with --engine qemu',
  },
];

export const PANIC_END_MARKER = '---[ end Kernel panic';

const TAIL_LINES = 40;
const LF = 0x0a;

export interface SerialConsoleOptions {
  expect?: RegExp;
  echo?: NodeJS.WritableStream;
  consoleLog?: string;
}

export class SerialConsole {
  private readonly expect: RegExp | undefined;
  private readonly echo: NodeJS.WritableStream | undefined;
  private readonly logFd: number | undefined;
  private readonly decoder = new TextDecoder();
  private line: number[] = [];
  private pending: number[] = [];
  private readonly lines: string[] = [];
  bytesSeen = 0;

  constructor(opts: SerialConsoleOptions) {
    this.expect = opts.expect;
    this.echo = opts.echo;
    if (opts.consoleLog !== undefined) {
      try {
        this.logFd = openSync(opts.consoleLog, 'w');
      } catch (err) {
        throw new UsageError(`cannot write the console log ${opts.consoleLog}: ${(err as Error).message}`, {
          hint: 'choose a writable path for the console log',
        });
      }
    }
  }

  /** One byte from the guest; a verdict when it completes a line that decides the run. */
  byte(b: number): ConsoleVerdict | null {
    this.bytesSeen++;
    this.pending.push(b);
    if (b !== LF) {
      this.line.push(b);
      return null;
    }
    const text = this.takeLine();
    this.lines.push(text);
    if (this.lines.length > TAIL_LINES) this.lines.shift();
    return this.judge(text, true);
  }

  /** The unfinished last line, judged for --expect only (a prompt) or, at the end of a run, for markers too. */
  judgePartial(withMarkers: boolean): ConsoleVerdict | null {
    if (this.line.length === 0) return null;
    return this.judge(this.partialText(), withMarkers);
  }

  /** Whether the last complete line contains `text`. */
  lastLineHas(text: string): boolean {
    return this.lines.length > 0 && this.lines[this.lines.length - 1]!.includes(text);
  }

  /** Copies what arrived since the last flush to the echo stream and the console log. */
  flush(): void {
    if (this.pending.length === 0) return;
    const chunk = Buffer.from(this.pending);
    this.pending = [];
    this.echo?.write(chunk);
    if (this.logFd !== undefined) writeSync(this.logFd, chunk);
  }

  tail(): string {
    const partial = this.line.length > 0 ? [this.partialText()] : [];
    return [...this.lines, ...partial].join('\n');
  }

  close(): void {
    this.flush();
    if (this.logFd !== undefined) closeSync(this.logFd);
  }

  private judge(text: string, withMarkers: boolean): ConsoleVerdict | null {
    if (this.expect !== undefined) {
      this.expect.lastIndex = 0; // a /g or /y pattern must not carry state between lines
      if (this.expect.test(text)) return { status: 'matched', detail: `--expect ${this.expect} matched: ${text.trim()}` };
    }
    if (!withMarkers) return null;
    const marker = CONSOLE_MARKERS.find((m) => text.includes(m.text));
    return marker === undefined ? null : { status: marker.status, detail: `${marker.detail}: ${text.trim()}` };
  }

  private takeLine(): string {
    const text = this.partialText();
    this.line = [];
    return text;
  }

  private partialText(): string {
    return this.decoder.decode(Uint8Array.from(this.line)).replace(/\r/g, '');
  }
}
