// `vkexec check INPUT...`: which cases run (--only/--skip, --shard K/N), in parallel (--jobs N), each on its own
// temporary machine under one temporary directory that is removed at the end, on failure and on a signal; then
// the reports. Exit 0 only when no selected case failed (a skip names why the check does not apply).

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../errno.js';
import { KEYRING_NAMES, type KeyringName } from '../sig/keyring.js';
import type { Lockdown } from '../vm/machine/machine-config.js';
import type { EngineChoice } from './engine-options.js';
import type { Out } from './output.js';
import { spinnerAllowed } from './output.js';
import { catchInterrupts } from './signals.js';
import { CHECKS, DEFAULT_CHECKS, runCheck, type CheckName } from './check-cases.js';
import { resolveInput, type CheckInput } from './check-input.js';
import { failureOf, type CaseResult, type CheckOptions, type KeyOption } from './check-machine.js';
import { jsonReport, junitXml, printTable, summarize, tapReport, writeReport, type CaseRecord, type InputRecord } from './check-report.js';

export interface CheckCli {
  only?: string;
  skip?: string;
  kdumpSize?: boolean;
  json: boolean;
  junit?: string;
  tap?: boolean;
  list?: boolean;
  jobs?: string;
  shard?: string;
  secureBoot?: boolean;
  lockdown?: Lockdown;
  key: string[];
  initrd?: string;
  expect?: string;
  append?: string;
  engine: EngineChoice;
  accel: 'auto' | 'kvm' | 'tcg';
  timeout: string;
  mem: string;
  crashkernel: string;
}

export interface PlannedCase {
  input: string;
  check: CheckName;
}

function checkList(text: string, opt: string): CheckName[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(CHECKS as readonly string[]).includes(n));
  if (unknown.length) throw new UsageError(`check: ${opt} ${unknown.join(',')}: no such check`, { hint: `the checks are ${CHECKS.join(', ')}` });
  return names as CheckName[];
}

/** --shard K/N: 1 <= K <= N. */
export function parseShard(text: string | undefined): { k: number; n: number } | null {
  if (text === undefined) return null;
  const m = /^(\d+)\/(\d+)$/.exec(text);
  const k = Number(m?.[1]);
  const n = Number(m?.[2]);
  if (!m || n < 1 || k < 1 || k > n) throw new UsageError(`check: --shard ${text}: give K/N with 1 <= K <= N`, { hint: 'e.g. --shard 1/4 ... --shard 4/4 on four runners (${{ matrix.shard }}/4, or $CI_NODE_INDEX/$CI_NODE_TOTAL)' });
  return { k, n };
}

/**
 * Shard of an (input, check) pair: sha256 of the input as given and the check name, modulo N. It depends on
 * nothing else (not on the order or number of the other inputs), so every runner computes the same split.
 */
export function shardOf(c: PlannedCase, n: number): number {
  return createHash('sha256').update(`${c.input}\0${c.check}`).digest().readUInt32BE(0) % n;
}

export function planCases(inputs: readonly string[], o: Pick<CheckCli, 'only' | 'skip' | 'shard' | 'kdumpSize'>): PlannedCase[] {
  let checks: readonly CheckName[] = o.only ? checkList(o.only, '--only') : DEFAULT_CHECKS;
  if (o.kdumpSize) checks = [...checks, 'kdump-size'];
  if (o.skip) {
    const skipped = checkList(o.skip, '--skip');
    checks = checks.filter((c) => !skipped.includes(c));
  }
  const shard = parseShard(o.shard);
  const all = inputs.flatMap((input) => CHECKS.filter((c) => checks.includes(c)).map((check) => ({ input, check })));
  return shard ? all.filter((c) => shardOf(c, shard.n) === shard.k - 1) : all;
}

function parseKey(text: string): KeyOption {
  const at = text.indexOf(':');
  const ring = text.slice(0, at);
  if (at < 0 || !(KEYRING_NAMES as readonly string[]).includes(ring)) {
    throw new UsageError(`check: --key ${text}: give KEYRING:FILE with KEYRING ${KEYRING_NAMES.join(', ')}`, { hint: 'e.g. --key platform:debian-uefi-ca.pem (secure boot trusts the platform keyring for kexec)' });
  }
  return { ring: ring as KeyringName, file: text.slice(at + 1) };
}

function checkOptions(o: CheckCli): CheckOptions {
  const timeout = Number(o.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`check: --timeout ${o.timeout}: seconds, more than 0`);
  if (o.expect !== undefined && o.initrd === undefined) throw new UsageError('check: --expect goes with --initrd (vkexec\'s own init is checked by its own lines)', { hint: 'drop --expect, or give --initrd FILE with it' });
  if (o.initrd !== undefined && o.expect === undefined) throw new UsageError('check: --initrd needs --expect REGEX: the line your init prints when it runs (and, on a capture kernel, when the dump is good)', { hint: "e.g. --initrd initrd.img --expect 'login:'" });
  return {
    secureBoot: Boolean(o.secureBoot), lockdown: o.lockdown ?? null, keys: o.key.map(parseKey), append: o.append ?? null, expect: o.expect ?? null,
    timeout, engine: o.engine, accel: o.accel, mem: o.mem, crashkernel: o.crashkernel,
  };
}

/** Runs `jobs` at a time, in order of the list; stops starting new ones once `stop()` says so. */
async function pool<T>(items: readonly T[], jobs: number, work: (t: T, i: number) => Promise<void>, stop: () => boolean): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const i = next++;
      await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
}

function jobsOption(text: string | undefined): number {
  if (text === undefined) return Math.max(1, os.availableParallelism());
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`check: --jobs ${text}: a whole number from 1 to 64`);
  return n;
}

/** A one-line progress display on a TTY's stderr (nothing when it is not a TTY, with --json or --tap). */
function progress(total: number, on: boolean): (done: number, running: string[]) => void {
  if (!on) return () => {};
  return (done, running) => {
    const text = `vkexec check: ${done}/${total} done${running.length ? `; running ${running.join(', ')}` : ''}`;
    process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns ?? 80) - 1)}${done === total ? '\n' : ''}`);
  };
}

/** Files extracted from a package are named after the package (PACKAGE:vmlinuz-R), not by the run's temporary path. */
function named(r: CaseResult, input: CheckInput): CaseResult {
  if (input.kind !== 'deb' && input.kind !== 'rpm') return r;
  const dir = path.dirname(input.kernel) + path.sep;
  const fix = (t: string) => t.split(dir).join(`${input.arg}:`);
  return { ...r, message: fix(r.message), ...(r.fix ? { fix: fix(r.fix) } : {}) };
}

export async function checkMain(args: readonly string[], o: CheckCli, out: Out): Promise<number> {
  const abort = catchInterrupts();
  if (args.length === 0) throw new UsageError('check needs at least one INPUT', { hint: 'vkexec check linux-image-*.deb, a /boot-like directory, or a kernel file' });
  const planned = planCases(args, o);
  const opts = checkOptions(o);
  if (o.list) {
    if (out.json) out.emitJson({ cases: planned });
    else for (const c of planned) out.line(`${c.input}\t${c.check}`);
    return 0;
  }
  const jobs = jobsOption(o.jobs);
  const t0 = Date.now();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vkexec-check-'));
  const records: CaseRecord[] = [];
  const inputs: InputRecord[] = [];
  try {
    const resolved = new Map<string, Promise<CheckInput>>();
    const resolve = (arg: string) => {
      if (!resolved.has(arg)) {
        const dir = fs.mkdtempSync(path.join(root, 'input-'));
        const t = Date.now();
        const p = resolveInput(arg, dir, o.initrd ?? null);
        p.then(
          (i) => void inputs.push({ input: arg, kind: i.kind, release: i.release, arch: i.arch, readMs: Date.now() - t, error: null }),
          (e: unknown) => void inputs.push({ input: arg, kind: null, release: null, arch: null, readMs: Date.now() - t, error: (e as Error).message }),
        );
        resolved.set(arg, p);
      }
      return resolved.get(arg)!;
    };
    const running = new Set<string>();
    const show = progress(planned.length, spinnerAllowed(out) && !o.tap);
    await pool(planned, jobs, async (c, i) => {
      const label = `${path.basename(c.input)}:${c.check}`;
      running.add(label);
      show(records.length, [...running]);
      let start = Date.now();
      const tmp = fs.mkdtempSync(path.join(root, 'case-'));
      let result;
      try {
        const input = await resolve(c.input);
        start = Date.now(); // a case's time is its own, not the reading of its package
        result = named(await runCheck(c.check, { input, opts, tmp }), input);
      } catch (e) {
        result = failureOf(e); // the input could not be read: every one of its cases says why
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
      records[i] = { input: c.input, check: c.check, durationMs: Date.now() - start, ...result };
      running.delete(label);
      show(records.filter(Boolean).length, [...running]);
    }, () => abort.aborted);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  if (abort.aborted) return 130; // main() replaces it with the signal's own status
  const s = summarize(records, Date.now() - t0);
  if (o.junit) writeReport(o.junit, junitXml(records, s));
  if (out.json) out.emitJson(jsonReport(records, s, inputs));
  else if (o.tap) process.stdout.write(tapReport(records, s));
  else printTable(records, s, out, inputs);
  return s.failed === 0 ? 0 : 1;
}
