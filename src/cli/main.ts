// Entry point: `vkexec machine|boot|inspect|...` are subcommands (commander); anything else is the kexec
// command line, parsed as kexec-tools parses it. Never a stack trace for a user's mistake.

// Start-up is a feature (`vkexec -S` in scripts): only what a command needs is imported, when it needs it.
// The kexec command line (-S, -l, -e, ...) is loaded with require() (node >= 20.19: require of an ES module), the
// synchronous loader: a `vkexec -S` that imports nothing asynchronously never starts the ES module loader's
// machinery (about 7 ms; issue 15, bench/startup.ts); nor does `machine show` (runSubcommand). The other
// subcommands' modules and the failure paths still use import().
import type { GlobalOpts } from './global-opts.js';
import { makeOut, quietOnEpipe, type Out } from './output.js';

// Built-ins by process.getBuiltinModule, not import: no ES module facade to build (node:fs's loads its streams)
// and no import to resolve, on every command's path (issue 15, bench/startup.ts).
const { createRequire } = process.getBuiltinModule('node:module');

const kexecMainModule = (): typeof import('./kexec-main.js') => createRequire(import.meta.url)('./kexec-main.js') as typeof import('./kexec-main.js');

export const SUBCOMMANDS = ['machine', 'boot', 'inspect', 'probe-kernel', 'vmcore', 'kdump-size', 'check', 'help'];

/** Splits leading global options (--machine DIR, --json) from the rest to find a subcommand word. */
function findSubcommand(argv: readonly string[]): { global: GlobalOpts; index: number; first: number } {
  const global: GlobalOpts = { machine: null, json: false };
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    if (a === '--json') global.json = true;
    else if (a === '--machine' && i + 1 < argv.length) global.machine = argv[++i]!;
    else if (a.startsWith('--machine=')) global.machine = a.slice(10);
    else break;
    i++;
  }
  return { global, index: i < argv.length && SUBCOMMANDS.includes(argv[i]!) ? i : -1, first: i };
}

async function runSubcommand(argv: readonly string[], index: number, global: GlobalOpts, out: Out): Promise<number> {
  // require() too (the same modules import() gives): `machine show` then starts no asynchronous loader either.
  const require = createRequire(import.meta.url);
  const { Command, CommanderError } = require('commander') as typeof import('commander');
  const { commandsFor } = require('./commands.js') as typeof import('./commands.js');
  const { VKEXEC_VERSION } = require('./usage.js') as typeof import('./usage.js');
  let exitCode = 0;
  const program = new Command('vkexec')
    .version(VKEXEC_VERSION, '-v, --version') // kexec's own -v (there is no -V)
    .description('kexec-tools for an emulated x86 machine')
    .option('--machine <dir>', 'machine directory (default $VKEXEC_MACHINE or ~/.local/state/vkexec/default)')
    .option('--json', 'machine-readable output')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const g = (): GlobalOpts => {
    const o = program.opts<{ machine?: string; json?: boolean }>();
    return { machine: o.machine ?? global.machine, json: Boolean(o.json) || global.json };
  };
  // Only the command on the line is built (its modules imported); `help` lists them all.
  for (const c of await commandsFor(argv, index, g, out, (code) => (exitCode = code))) program.addCommand(c);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    throw e;
  }
  return exitCode;
}

/** Edit distance (insertions, deletions, substitutions) between two short words. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The word after the global options when it is no file but a near-miss of a subcommand ("machin init"). */
async function nearMissSubcommand(word: string | undefined): Promise<string | null> {
  if (word === undefined || word.startsWith('-')) return null;
  const { existsSync } = await import('node:fs');
  if (existsSync(word)) return null;
  const best = SUBCOMMANDS.map((c) => ({ c, d: distance(word, c) })).sort((x, y) => x.d - y.d)[0]!;
  return best.d > 0 && best.d <= 2 ? best.c : null;
}

/**
 * A command interrupted by SIGINT/SIGTERM/SIGHUP (signals.ts) has cleaned up; it ends as the signal's status.
 * signals.ts is asked only when its handlers were installed (catchInterrupts): otherwise nothing was caught.
 */
async function finalStatus(code: number): Promise<number> {
  if (process.listenerCount('SIGINT') === 0) return code;
  return (await import('./signals.js')).interruptStatus() ?? code;
}

export async function main(argv: readonly string[]): Promise<number> {
  quietOnEpipe();
  const { global, index, first } = findSubcommand(argv);
  const out = await makeOut(global.json || argv.includes('--json'));
  try {
    const typo = index < 0 ? await nearMissSubcommand(argv[first]) : null;
    if (typo) {
      const { UsageError } = await import('../errno.js');
      throw new UsageError(`vkexec: '${argv[first]}' is neither a file nor a vkexec command`, { hint: `did you mean: vkexec ${typo} ...?` });
    }
    const code = index >= 0 ? await runSubcommand(argv, index, global, out) : await kexecMainModule().kexecMain(argv, out);
    return await finalStatus(code);
  } catch (e) {
    // The last line of defence: known failures get their message and hint; anything else is a bug report.
    const { reportFailure } = await import('./report.js');
    return await finalStatus(reportFailure(e, out, 'vkexec'));
  }
}
