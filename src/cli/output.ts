// Where vkexec talks to the user: kexec-tools' own messages verbatim, then vkexec's lines (prefixed
// "vkexec:"), coloured only on a terminal that wants colour (NO_COLOR honoured), or JSON with --json.

import { safeText } from '../lib/safe-text.js';

// Built-ins by process.getBuiltinModule, not import: no ES module facade to build (node:fs's loads its streams)
// and no import to resolve, on every command's path (issue 15, bench/startup.ts).
const { createRequire } = process.getBuiltinModule('node:module');

/** The few styles vkexec uses; identity functions when colour is off, so chalk loads only for a terminal. */
export interface Styles {
  yellow(t: string): string;
  cyan(t: string): string;
  green(t: string): string;
  red(t: string): string;
  bold(t: string): string;
}
const plain: Styles = { yellow: (t) => t, cyan: (t) => t, green: (t) => t, red: (t) => t, bold: (t) => t };

export interface Out {
  readonly json: boolean;
  readonly color: boolean;
  /** stdout line */
  line(text: string): void;
  /** stderr line, kexec-tools' text as it is */
  err(text: string): void;
  /** stderr line from vkexec: what broke and what to change (`style` colours it on a colour terminal) */
  note(text: string, style?: keyof Styles): void;
  hint(text: string): void;
  emitJson(value: unknown): void;
  c: Styles;
}

export function wantsColor(stream: NodeJS.WriteStream): boolean {
  if ('NO_COLOR' in process.env && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR === '0') return false;
  return Boolean(stream.isTTY) && (stream.columns ?? 0) > 0;
}

/** Spinners only where they can be seen and cannot flood: a TTY with a width, not --json, not NO_COLOR. */
export function spinnerAllowed(out: Out): boolean {
  return !out.json && out.color && Boolean(process.stderr.isTTY) && (process.stderr.columns ?? 0) > 0;
}

export { safeText };

/**
 * What every line printed through Out goes through: control characters escaped as safeText does, except the
 * newlines that separate the lines of a block vkexec itself prints (usage, console lines). A newline inside a
 * user-controlled value is escaped where the value is put in its line (safeText at the call site).
 */
export function safeLines(t: string): string {
  return t.split('\n').map(safeText).join('\n');
}

/**
 * A reader that goes away (`vkexec machine show | head -1`) ends the output quietly: EPIPE on stdout or
 * stderr turns later writes to that stream into no-ops and the command finishes as it would have (lock
 * released, state written), with its own exit status. Never a stack trace.
 * The listener goes on each stream when the stream is made: process.stdout and process.stderr are getters that
 * make their stream on first use (a pipe's costs about 3 ms, which a `vkexec -S` that prints nothing need not
 * pay; issue 15), so the getter is wrapped and every user of the stream, vkexec's or a library's, gets it watched.
 */
export function quietOnEpipe(): void {
  for (const name of ['stdout', 'stderr'] as const) {
    const d = Object.getOwnPropertyDescriptor(process, name);
    const make = d?.get;
    if (make && d.configurable) Object.defineProperty(process, name, { ...d, get: () => watch(make.call(process) as NodeJS.WriteStream) });
    else watch(process[name]);
  }
}
const watched = new WeakSet<NodeJS.WriteStream>();
function watch(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  if (!watched.has(stream)) {
    watched.add(stream);
    stream.on('error', () => broken.add(stream)); // EPIPE, or any other end of the reader
  }
  return stream;
}
const broken = new Set<NodeJS.WriteStream>();
function write(stream: NodeJS.WriteStream, text: string): void {
  if (broken.has(stream)) return;
  try {
    stream.write(text);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPIPE') throw e;
    broken.add(stream);
  }
}

/**
 * Whether stderr wants colour, and chalk, are settled on the first coloured line: asking needs the stderr
 * stream, which a command that prints nothing never makes (quietOnEpipe). chalk is loaded with require() then.
 */
export async function makeOut(json: boolean): Promise<Out> {
  let color: boolean | undefined;
  let styles: Styles | undefined;
  const c = (): Styles => (styles ??= (color ??= wantsColor(process.stderr)) ? chalkStyles() : plain);
  return {
    json,
    get color() {
      return (color ??= wantsColor(process.stderr));
    },
    get c() {
      return c();
    },
    // Escaped before colour is added: colour is vkexec's, never the text's.
    line: (t) => write(process.stdout, safeLines(t) + '\n'),
    err: (t) => write(process.stderr, safeLines(t) + '\n'),
    note: (t, style) => write(process.stderr, c().yellow('vkexec: ') + (style ? c()[style](safeLines(t)) : safeLines(t)) + '\n'),
    hint: (t) => write(process.stderr, c().cyan('vkexec: fix: ') + safeText(t) + '\n'),
    emitJson: (v) => write(process.stdout, JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? '0x' + x.toString(16) : x), 2) + '\n'),
  };
}

function chalkStyles(): Styles {
  const { default: chalk, Chalk } = createRequire(import.meta.url)('chalk') as typeof import('chalk');
  return new Chalk({ level: chalk.level || 1 });
}

export interface Spinner {
  stop(): void;
}

/** An ora spinner on stderr while `text` is under way; nothing at all when spinners are not allowed. */
export async function startSpinner(out: Out, text: string): Promise<Spinner> {
  if (!spinnerAllowed(out)) return { stop: () => {} };
  const { default: ora } = await import('ora');
  const s = ora({ text, stream: process.stderr }).start();
  return { stop: () => s.stop() };
}
