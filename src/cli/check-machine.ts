// What each check of `vkexec check` does with a machine: a fresh temporary one (with the policy and keys the
// run was given), a load through the same doLoad as `vkexec -l/-p`, an execution through kernelKexec as
// `vkexec -e` and `machine panic` run it, and a failure turned into the case's message, rule and fix.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { KexecError, UsageError, fileErrorText } from '../errno.js';
import { doLoad } from '../kexec/load.js';
import { defaultLoadOptions, type KexecLoadRequest, type KexecLoadResult } from '../kexec/load-request.js';
import { loadersFor } from '../loaders/index.js';
import { Keyrings, type KeyringName } from '../sig/keyring.js';
import type { Outcome } from '../vm/engines/engine.js';
import { readState, writeState, type MachineState } from '../vm/machine/machine.js';
import type { Lockdown, MachineArch } from '../vm/machine/machine-config.js';
import type { EngineChoice } from './engine-options.js';
import { kernelKexec, type KernelKexecRequest } from './exec.js';
import { quietOut } from './kdump-size.js';
import { initMachine, type InitOpts } from './machine-cmd.js';
import { reportFailure } from './report.js';

export type Outcome3 = 'pass' | 'fail' | 'skip';

export interface CaseResult {
  outcome: Outcome3;
  /** One line: what was checked and found (pass), or what refused (fail), or why it did not run (skip). */
  message: string;
  /** The kernel or kexec-tools rule that refused, as a `vkexec:` line gives it; null on pass. */
  rule: string | null;
  fix: string | null;
  /** The guest console, for checks that boot. */
  console: string;
}

export interface KeyOption {
  ring: KeyringName;
  file: string;
}

export interface CheckOptions {
  secureBoot: boolean;
  lockdown: Lockdown | null;
  keys: KeyOption[];
  append: string | null;
  expect: string | null;
  timeout: number;
  engine: EngineChoice;
  accel: 'auto' | 'kvm' | 'tcg';
  mem: string;
  crashkernel: string;
}

export const pass = (message: string, console = ''): CaseResult => ({ outcome: 'pass', message, rule: null, fix: null, console });
export const skip = (message: string): CaseResult => ({ outcome: 'skip', message, rule: null, fix: null, console: '' });
export const fail = (message: string, rule: string | null, fix: string | null, console = ''): CaseResult => ({ outcome: 'fail', message, rule, fix, console });

/** A failure as vkexec reports it (report.ts): its lines become the message, its rule and its fix line. */
export function failureOf(e: unknown, console = ''): CaseResult {
  const out = quietOut();
  reportFailure(e, out, 'vkexec');
  const fixLine = out.text.find((t) => t.startsWith('fix: '));
  const lines = out.text.filter((t) => t !== fixLine);
  const kernel = e instanceof KexecError ? e : e instanceof UsageError ? e.kernelError : undefined;
  return fail(lines.join(' / ') || String(e), kernel ? `${kernel.errno} ${kernel.rule}` : null, fixLine ? fixLine.slice(5) : null, console);
}

export interface CheckMachine {
  dir: string;
  state: MachineState;
}

/** A fresh machine in `dir` with `o`; the run's keys go into their keyrings as `machine keys add` puts them. */
export function newMachine(dir: string, arch: MachineArch, o: InitOpts, keys: readonly KeyOption[] = []): CheckMachine {
  initMachine(dir, { arch, ...o });
  const state = readState(dir);
  if (keys.length > 0) {
    const k = new Keyrings();
    for (const key of keys) {
      let bytes: Uint8Array;
      try {
        bytes = fs.readFileSync(key.file);
      } catch (e) {
        throw new UsageError(`check: --key ${key.ring}:${key.file}: ${fileErrorText(e)}`, { hint: 'give a readable PEM or DER certificate' });
      }
      k.addCertificates(key.ring, bytes, key.file);
    }
    state.keyrings = k.toJSON();
    writeState(dir, state);
  }
  return { dir, state: readState(dir) };
}

/** `vkexec -l/-p` on the machine: doLoad with the loaders its policy allows; the load's stdout is kept. */
export async function loadOn(m: CheckMachine, r: Partial<KexecLoadRequest> & { kernelPath: string }): Promise<{ res: KexecLoadResult; stdout: string[] }> {
  const stdout: string[] = [];
  const loaders = await loadersFor(m.state.config.arch, undefined, { dir: m.dir, config: m.state.config, trustedLoaders: m.state.trustedLoaders ?? [] });
  const res = doLoad({ ...defaultLoadOptions(), ...r }, { dir: m.dir, state: m.state }, loaders, (l) => void stdout.push(l));
  m.state = readState(m.dir);
  return { res, stdout };
}

/** `vkexec -e` (or machine panic) with the console copied to a file; the outcome and the console text. */
export async function execOn(m: CheckMachine, r: KernelKexecRequest, which: 'normal' | 'crash'): Promise<{ outcome: Outcome | null; console: string; said: string[] }> {
  const log = path.join(path.dirname(m.dir), `console-${which}.log`);
  r.engine.consoleLog = log;
  const out = quietOut();
  await kernelKexec(m.dir, { ...r, json: true }, out, which);
  const outcome = out.values.find((v): v is Outcome => typeof v === 'object' && v !== null && 'status' in v && 'engine' in v) ?? null;
  const console = fs.existsSync(log) ? fs.readFileSync(log, 'latin1') : '';
  const said = out.values.flatMap((v) => {
    const err = (v as { error?: { message: string; fix: string | null } }).error;
    return err ? [err.message, ...(err.fix ? [`fix: ${err.fix}`] : [])] : [];
  });
  return { outcome, console, said: [...out.text, ...said] };
}

/** The last lines of a console, for a failure message. */
export function consoleTail(console: string, n = 4): string {
  const lines = console.split(/\r?\n/).map((l) => l.trimEnd()).filter(Boolean);
  return lines.slice(-n).join(' | ');
}
