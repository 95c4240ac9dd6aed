// Where vkexec talks to the user: kexec-tools' own messages verbatim, then vkexec's lines (prefixed
// "vkexec:"), coloured only on a terminal that wants colour (NO_COLOR honoured), or JSON with --json.

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
  /** stderr line from vkexec: what broke and what to change */
  note(text: string): void;
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

export async function makeOut(json: boolean): Promise<Out> {
  const color = wantsColor(process.stderr);
  let c = plain;
  if (color) {
    const { default: chalk, Chalk } = await import('chalk');
    c = new Chalk({ level: chalk.level || 1 });
  }
  return {
    json,
    color,
    c,
    line: (t) => void process.stdout.write(t + '\n'),
    err: (t) => void process.stderr.write(t + '\n'),
    note: (t) => void process.stderr.write(c.yellow('vkexec: ') + t + '\n'),
    hint: (t) => void process.stderr.write(c.cyan('vkexec: fix: ') + t + '\n'),
    emitJson: (v) =>
      void process.stdout.write(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? '0x' + x.toString(16) : x), 2) + '\n'),
  };
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
