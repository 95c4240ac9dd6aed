// `vkexec kdump-size KERNEL --initrd F`: the smallest crashkernel= with which this capture kernel and
// initramfs boot after a panic and reach the expected console line, found by real boots. Each try is a fresh
// temporary machine with that reservation, a `vkexec -p` load and a `machine panic`; sizes are tried on a grid
// of --step MiB, assuming a size that works keeps working when made larger. Loads are cheap, so the smallest
// size that loads at all is found first by bisection without booting. Boots then gallop up from there (1, 2,
// 4, ... steps) and bisect the last gap: a capture kernel short of memory panics within seconds while a
// successful try copies the whole dump, so the search spends its boots near the bottom and succeeds rarely.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { UsageError } from '../errno.js';
import { memparse } from '../lib/memparse.js';
import type { Outcome } from '../vm/engines/engine.js';
import { initMachine } from './machine-cmd.js';
import type { GlobalOpts } from './global-opts.js';
import { kernelKexec } from './exec.js';
import { doLoad } from '../kexec/load.js';
import { defaultLoadOptions, type KexecLoadRequest } from '../kexec/load-request.js';
import { loadersFor } from '../loaders/index.js';
import { readState } from '../vm/machine/machine.js';
import { reportFailure } from './report.js';
import { catchInterrupts } from './signals.js';
import { engineOptionsFrom, panicRequest, type PanicCliOpts } from './panic-cmd.js';
import { safeText, type Out } from './output.js';

const MiB = 1n << 20n;
/** Sizes closer than this are not worth a boot each (and reservations are 16 MiB aligned on x86 anyway). */
export const MIN_STEP = 16n * MiB;
/** The line the vkexec capture initramfs prints once /proc/vmcore is on the disk. */
export const DEFAULT_KDUMP_EXPECT = 'VKEXEC-KDUMP-SAVED';
export const DEFAULT_KDUMP_APPEND = 'console=ttyS0 reset_devices nr_cpus=1 irqpoll';

export interface KdumpSizeOptions {
  kernel: string;
  initrd: string | null;
  append: string;
  /** -s (kexec_file_load) or -c (kexec_load). */
  syscall: 'file' | 'load';
  mem: string;
  min: bigint;
  max: bigint;
  step: bigint;
  /** Engine options for each boot, as machine panic takes them (expect defaults to DEFAULT_KDUMP_EXPECT). */
  panic: PanicCliOpts;
  /** Per-try console logs go here as crashkernel-<N>M.log, if set. */
  consoleDir: string | null;
}

export interface KdumpTry {
  crashkernel: string;
  bytes: bigint;
  stage: 'load' | 'boot';
  ok: boolean;
  /** 'loaded', the load's failure, or the boot's outcome status. */
  status: string;
  detail: string;
  wallMs: number;
}

const sizeText = (b: bigint) => `${b / MiB}M`;

/** An Out that keeps everything (the tries' own output is summarised, not echoed). */
export function quietOut(): Out & { text: string[]; values: unknown[] } {
  const text: string[] = [];
  const values: unknown[] = [];
  const id = (t: string) => t;
  return {
    json: true,
    color: false,
    c: { yellow: id, cyan: id, green: id, red: id, bold: id },
    text,
    values,
    line: (t) => void text.push(t),
    err: (t) => void text.push(t),
    note: (t) => void text.push(t),
    hint: (t) => void text.push(`fix: ${t}`),
    emitJson: (v) => void values.push(v),
  };
}

class Sizer {
  readonly tries: KdumpTry[] = [];

  constructor(
    private readonly o: KdumpSizeOptions,
    private readonly report: (t: KdumpTry) => void,
  ) {}

  /** A fresh machine with crashkernel=SIZE and the capture kernel loaded with -p; null when it loaded. */
  private async prepare(dir: string, size: bigint): Promise<string | null> {
    try {
      initMachine(dir, { mem: this.o.mem, crashkernel: sizeText(size) });
    } catch (e) {
      if (e instanceof UsageError) return `crashkernel=${sizeText(size)} cannot be reserved: ${e.message}`;
      throw e;
    }
    const request: KexecLoadRequest = { ...defaultLoadOptions(), kernelPath: this.o.kernel, syscall: this.o.syscall, crash: true, append: this.o.append, initrd: this.o.initrd };
    try {
      const state = readState(dir);
      doLoad(request, { dir, state }, await loadersFor(state.config.arch, undefined, { dir, config: state.config, trustedLoaders: state.trustedLoaders ?? [] }), () => {});
      return null;
    } catch (e) {
      const out = quietOut();
      reportFailure(e, out);
      return out.text.join(' / ');
    }
  }

  async attempt(size: bigint, stage: 'load' | 'boot'): Promise<boolean> {
    const t0 = Date.now();
    if (catchInterrupts().aborted) throw interruptedSearch();
    const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'vkexec-kdump-size-'));
    const dir = path.join(temp, 'machine');
    const record = (ok: boolean, status: string, detail: string) => {
      const t: KdumpTry = { crashkernel: sizeText(size), bytes: size, stage, ok, status, detail, wallMs: Date.now() - t0 };
      this.tries.push(t);
      this.report(t);
      return ok;
    };
    try {
      const failed = await this.prepare(dir, size);
      if (failed !== null) return record(false, 'load failed', failed);
      if (stage === 'load') return record(true, 'loaded', '');
      const panic: PanicCliOpts = { ...this.o.panic, expect: this.o.panic.expect ?? DEFAULT_KDUMP_EXPECT };
      if (!panic.disk || panic.disk.length === 0) {
        // A fresh sparse disk big enough for the whole dump.
        const disk = path.join(temp, 'dump.img');
        fs.writeFileSync(disk, '');
        fs.truncateSync(disk, Number(memparse(this.o.mem)! + 64n * MiB));
        panic.disk = [disk];
      }
      if (this.o.consoleDir) panic.console = path.join(this.o.consoleDir, `crashkernel-${sizeText(size)}.log`);
      const out = quietOut();
      await kernelKexec(dir, panicRequest(engineOptionsFrom(panic), true, null), out, 'crash');
      const outcome = out.values.find((v): v is Outcome => typeof v === 'object' && v !== null && 'status' in v && 'engine' in v);
      if (!outcome) {
        throw new UsageError(`crashkernel=${sizeText(size)}: the panic did not run: ${out.text.join(' / ')}`, { hint: 'fix the engine problem above (machine panic shows the same message), then size again' });
      }
      if (outcome.status === 'interrupted') throw interruptedSearch();
      const seen = outcome.status === 'matched' ? outcome.details.find((d) => d.startsWith('console matched')) : outcome.details[outcome.details.length - 1];
      return record(outcome.status === 'matched', outcome.status, seen ?? '');
    } finally {
      fs.rmSync(temp, { recursive: true, force: true });
    }
  }
}

/** A signal (signals.ts) ends the search; main() turns it into 128 + signo. */
const interruptedSearch = () => new UsageError('kdump-size was interrupted: the search stopped before it found a size', { hint: 'run kdump-size again; each try is independent' });

/** Runs the search; returns the smallest working size, or null when none up to --max works. */
export async function kdumpSize(o: KdumpSizeOptions, report: (t: KdumpTry) => void): Promise<{ size: bigint | null; tries: KdumpTry[] }> {
  const grid: bigint[] = [];
  for (let s = o.min; s <= o.max; s += o.step) grid.push(s);
  const sizer = new Sizer(o, report);
  // Loads: lo is known to fail, hi known to load (grid.length: nothing loaded yet).
  let lo = -1;
  let hi = grid.length;
  if (!(await sizer.attempt(grid[grid.length - 1]!, 'load'))) return { size: null, tries: sizer.tries };
  hi = grid.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await sizer.attempt(grid[mid]!, 'load')) hi = mid;
    else lo = mid;
  }
  // Boots: gallop up from the smallest size that loads until one works, then bisect the gap below it.
  const loadMin = hi;
  hi = grid.length;
  for (let gap = 1, probe = loadMin; ; gap *= 2) {
    if (await sizer.attempt(grid[probe]!, 'boot')) {
      hi = probe;
      break;
    }
    lo = probe;
    if (probe === grid.length - 1) return { size: null, tries: sizer.tries };
    probe = Math.min(lo + gap, grid.length - 1);
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await sizer.attempt(grid[mid]!, 'boot')) hi = mid;
    else lo = mid;
  }
  return { size: grid[hi]!, tries: sizer.tries };
}

function sizeOption(v: string, name: string): bigint {
  const n = memparse(v);
  if (n === null || n <= 0n || n % MiB !== 0n) throw new UsageError(`--${name} ${v}: a size in whole MiB, e.g. 64M or 1G`);
  return n;
}

const collect = (v: string, prev: string[]) => [...prev, v];

interface KdumpSizeCli extends PanicCliOpts {
  initrd?: string;
  append?: string;
  mem: string;
  min: string;
  max: string;
  step: string;
  s?: boolean;
  c?: boolean;
  consoleDir?: string;
}

export function kdumpSizeCommand(g: () => GlobalOpts, out: Out, setExit: (code: number) => void): Command {
  return new Command('kdump-size')
    .description('find the smallest crashkernel= with which a capture kernel boots after a panic and reaches --expect, by real boots')
    .argument('<kernel>', 'the capture kernel')
    .option('--initrd <file>', 'its initramfs')
    .option('--append <text>', 'its command line', DEFAULT_KDUMP_APPEND)
    .option('-s', 'load with kexec_file_load (default)')
    .option('-c', 'load with kexec_load')
    .option('--mem <size>', 'RAM of each trial machine', '1G')
    .option('--min <size>', 'smallest crashkernel= to consider', '64M')
    .option('--max <size>', 'largest crashkernel= to consider', '512M')
    .option('--step <size>', 'granularity of the search (at least 16M)', '16M')
    .option('--expect <regex>', 'the console line that proves the capture kernel did its job', DEFAULT_KDUMP_EXPECT)
    .option('--timeout <sec>', 'seconds each boot may take')
    .addOption(new Option('--engine <engine>').choices(['auto', 'qemu']).default('auto'))
    .addOption(new Option('--accel <accel>').choices(['auto', 'kvm', 'tcg']))
    .option('--disk <file>', 'the disk each capture kernel writes to (default: a fresh sparse image per try)', collect, [])
    .option('--console-dir <dir>', 'keep each try\'s console as DIR/crashkernel-<N>M.log')
    .action(async (kernel: string, o: KdumpSizeCli) => {
      catchInterrupts();
      if (o.s && o.c) throw new UsageError('give -s or -c, not both');
      const min = sizeOption(o.min, 'min');
      const max = sizeOption(o.max, 'max');
      const step = sizeOption(o.step, 'step');
      if (step < MIN_STEP) throw new UsageError(`--step ${o.step}: at least 16M (each step costs a boot)`);
      if (max < min) throw new UsageError(`--max ${o.max} is below --min ${o.min}`);
      const mem = memparse(o.mem);
      if (mem === null || max * 2n > mem) throw new UsageError(`--max ${o.max} must be at most half of --mem ${o.mem} (kexec refuses segments over half of RAM)`, { hint: 'raise --mem or lower --max' });
      for (const f of [kernel, o.initrd]) if (f && !fs.existsSync(f)) throw new UsageError(`${f}: No such file or directory`, { hint: 'check the kernel and --initrd paths' });
      if (o.consoleDir) fs.mkdirSync(o.consoleDir, { recursive: true });
      const json = g().json;
      const opts: KdumpSizeOptions = {
        kernel,
        initrd: o.initrd ?? null,
        append: o.append ?? DEFAULT_KDUMP_APPEND,
        syscall: o.c ? 'load' : 'file',
        mem: o.mem,
        min,
        max,
        step,
        panic: { engine: o.engine, expect: o.expect, timeout: o.timeout, accel: o.accel, disk: o.disk },
        consoleDir: o.consoleDir ?? null,
      };
      const res = await kdumpSize(opts, (t) => {
        if (json) return;
        const verdict = t.ok ? 'ok' : 'FAIL';
        out.line(safeText(`crashkernel=${t.crashkernel.padEnd(5)} ${t.stage.padEnd(4)} ${verdict.padEnd(4)} ${t.status}${t.detail ? `: ${t.detail}` : ''} (${(t.wallMs / 1000).toFixed(1)} s)`));
      });
      if (json) out.emitJson({ crashkernel: res.size === null ? null : sizeText(res.size), bytes: res.size, tries: res.tries });
      else if (res.size !== null) out.line(`crashkernel=${sizeText(res.size)}`);
      if (res.size === min && !json) out.note(`--min ${o.min} itself works: the smallest size may be lower (lower --min to look further)`);
      if (res.size === null) {
        if (!json) out.err(safeText(`vkexec: no crashkernel= up to ${sizeText(max)} lets the capture kernel reach /${o.expect}/`));
        out.hint('raise --max (and --mem), check the capture kernel\'s command line (console=ttyS0), or look at --console-dir logs');
        setExit(1);
        return;
      }
      setExit(0);
    });
}
