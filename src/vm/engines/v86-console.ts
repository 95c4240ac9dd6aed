// The guest's COM1 as the v86 engine sees it: bytes in, copies out (terminal echo, console log), and the
// console lines that decide how a run ended (console-markers.ts), judged one complete line at a time.

import { closeSync, openSync, writeSync } from 'node:fs';
import { UsageError } from '../../errno.js';
import type { OutcomeStatus } from './engine.js';
import { expectExec, expectMatcher, findMarker } from './console-markers.js';

export interface ConsoleVerdict {
  status: OutcomeStatus;
  detail: string;
}

const TAIL_LINES = 40;
const LF = 0x0a;

export interface SerialConsoleOptions {
  expect?: RegExp;
  echo?: NodeJS.WritableStream;
  consoleLog?: string;
}

export class SerialConsole {
  private readonly expect: RegExp | undefined;
  private readonly expectMatch: RegExp | undefined;
  private readonly echo: NodeJS.WritableStream | undefined;
  private readonly logFd: number | undefined;
  private readonly decoder = new TextDecoder();
  private line: number[] = [];
  private pending: number[] = [];
  private readonly lines: string[] = [];
  bytesSeen = 0;

  constructor(opts: SerialConsoleOptions) {
    this.expect = opts.expect;
    this.expectMatch = expectMatcher(opts.expect);
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
    return this.judge(text, true, true);
  }

  /** The unfinished last line, judged for --expect only (a prompt) or, at the end of a run, for markers too. */
  judgePartial(withMarkers: boolean): ConsoleVerdict | null {
    if (this.line.length === 0) return null;
    return this.judge(this.partialText(), withMarkers, withMarkers); // at the end of a run the line is final
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

  private judge(text: string, withMarkers: boolean, complete: boolean): ConsoleVerdict | null {
    // A complete line is judged with its newline, so `$` matches at its end; a partial one only without `$`.
    if (this.expectMatch && expectExec(this.expectMatch, complete ? `${text}\n` : text)) {
      return { status: 'matched', detail: `--expect ${this.expect} matched: ${text.trim()}` };
    }
    if (!withMarkers) return null;
    const marker = findMarker(text);
    if (marker === undefined) return null;
    // The firmware stub halts after its message: nothing runs any more.
    return { status: marker.status === 'stub-failure' ? 'hang' : marker.status, detail: `${marker.detail}: ${text.trim()}` };
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
