// getopt_long as glibc implements it, because kexec users script against its behaviour: argument permutation
// (options after the kernel file), "--" ends options, clustered short options, "-tTYPE" and "-t TYPE", long
// options by unique prefix, "--opt=value" or "--opt value" for required arguments, glibc's error texts.

import { UsageError } from '../errno.js';

export interface LongOption {
  name: string;
  /** 0: no argument, 1: required. */
  hasArg: 0 | 1;
  /** The identifier returned for it (a short letter or a name). */
  id: string;
}

export interface ParsedOption {
  id: string;
  value: string | null;
}

/** getopt_long's complaint: its message, then kexec-tools' usage, exit status 1. */
export class GetoptError extends UsageError {
  constructor(message: string) {
    super(message, { usage: true });
  }
}

/** A refusal of the command line itself: kexec-tools prints the message (and usually the usage), exit 1. */
export class CommandLineError extends UsageError {
  constructor(message: string, showUsage = true) {
    super(message, { usage: showUsage });
  }
}

/** Parses argv (without the program name). Short options are given as getopt's string ("t:" takes a value). */
export function getoptLong(argv: readonly string[], shortopts: string, longopts: readonly LongOption[], prog: string): { options: ParsedOption[]; operands: string[] } {
  const shortArg = new Map<string, 0 | 1>();
  for (let i = 0; i < shortopts.length; i++) {
    const c = shortopts[i]!;
    if (c === ':') continue;
    shortArg.set(c, shortopts[i + 1] === ':' ? 1 : 0);
  }
  const options: ParsedOption[] = [];
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      const inline = eq === -1 ? null : arg.slice(eq + 1);
      const exact = longopts.find((o) => o.name === name);
      let opt = exact;
      if (!opt) {
        const matches = longopts.filter((o) => o.name.startsWith(name));
        const distinct = new Set(matches.map((o) => `${o.id}/${o.hasArg}`));
        if (matches.length === 0) throw new GetoptError(`${prog}: unrecognized option '--${name}'`);
        if (distinct.size > 1) {
          throw new GetoptError(`${prog}: option '--${name}' is ambiguous; possibilities:${matches.map((o) => ` '--${o.name}'`).join('')}`);
        }
        opt = matches[0]!;
      }
      if (opt.hasArg === 0) {
        if (inline !== null) throw new GetoptError(`${prog}: option '--${opt.name}' doesn't allow an argument`);
        options.push({ id: opt.id, value: null });
      } else if (inline !== null) {
        options.push({ id: opt.id, value: inline });
      } else {
        if (i + 1 >= argv.length) throw new GetoptError(`${prog}: option '--${opt.name}' requires an argument`);
        options.push({ id: opt.id, value: argv[++i]! });
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j]!;
        const kind = shortArg.get(c);
        if (kind === undefined) throw new GetoptError(`${prog}: invalid option -- '${c}'`);
        if (kind === 0) {
          options.push({ id: c, value: null });
          continue;
        }
        const rest = arg.slice(j + 1);
        if (rest !== '') options.push({ id: c, value: rest });
        else if (i + 1 < argv.length) options.push({ id: c, value: argv[++i]! });
        else throw new GetoptError(`${prog}: option requires an argument -- '${c}'`);
        break;
      }
      continue;
    }
    operands.push(arg);
  }
  return { options, operands };
}

/** strtoul(s, &end, 0) with a check that the whole string was used (kexec-tools' "Bad option value"). */
export function strtoul0(text: string): bigint | null {
  const t = text.trim();
  let m: RegExpExecArray | null;
  if ((m = /^0[xX]([0-9a-fA-F]+)$/.exec(t))) return BigInt('0x' + m[1]);
  if (/^0[0-7]*$/.test(t)) return BigInt('0o' + (t.slice(1) || '0'));
  if (/^[1-9][0-9]*$/.test(t)) return BigInt(t);
  return null;
}
