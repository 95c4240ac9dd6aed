// Benchmark (not a test): every side-by-side comparison of issue 15 in ONE run on the same files, alternating
// runs (A, B, C, A, B, C, ...) so that load from other processes hits every side alike, medians and ratios.
//   boots, wall from spawning the command to the marker on the console (TCG, 512 MiB):
//     vkexec boot --fast (payload cache cold: a fresh $XDG_CACHE_HOME each run; the payload decoded by the
//     tools on PATH, and by vkexec's own decoders: VKEXEC_PAYLOAD_DECODER=builtin), vkexec boot --fast (payload
//     cached), vkexec boot (normal path), vkexec -e of a -c -l --fast load (the load untimed), all against
//     qemu-system-x86_64 -kernel K -initrd I (SeaBIOS and its linuxboot option ROM included);
//   loads of the kernel with a random N MB initrd: vkexec -c -l and -s -l against Debian's kexec 2.0.25 -l with
//     its kexec_load intercepted (test/differential's shim, views bind-mounted with unshare -m: needs root; the
//     shim writes the segments to a file where the kernel would copy them in). kexec-tools has no -s row: with
//     the real kexec_file_load the kernel, not kexec, does the work, and the shim refuses that call;
//   vkexec -S against node -e 0;
//   then bench/check.js (one package, --jobs 2) as it is.
// Figures are printed, never asserted.
//   node dist/bench/compare.js [--kernel F] [--initrd F] [--initrd-mb 200] [--runs 3] [--marker T] [--no-check]
//     [--boots-only: the boot comparison alone]

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareRealKexec, runRealKexec } from '../test/differential/real-kexec.js';
import { BIN, FIXTURE_CACHE, ROOT, median, opt, timeToMarker } from './common.js';

const kernel = opt('--kernel', join(FIXTURE_CACHE, 'vmlinuz-amd64-unsigned'));
const initrd = opt('--initrd', join(FIXTURE_CACHE, 'initramfs-busybox-amd64.cpio'));
const bigMb = Number(opt('--initrd-mb', '200'));
const runs = Number(opt('--runs', '3'));
const marker = opt('--marker', 'VKEXEC-INIT-OK');
const append = 'console=ttyS0 panic=-1';
const LIMIT_MS = 300_000; // also vkexec's --timeout

/** One side of a comparison: `run` returns wall milliseconds (and peak RSS in KiB where measured). */
interface Side {
  name: string;
  run: () => Promise<{ ms: number; rssKb?: number }>;
}

const nodeBin = process.execPath;

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

/** vkexec ARGS, which must succeed. */
function vkexec(args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(nodeBin, [BIN, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vkexec ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

/** vkexec ARGS under GNU time: wall from our clock, peak RSS from time's %M. */
function timedVkexec(args: string[], env: NodeJS.ProcessEnv): { ms: number; rssKb: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', nodeBin, BIN, ...args], { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`vkexec ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, rssKb: Number(r.stderr.trim().split('\n').pop()) };
}

/** Alternating runs of every side; prints each run, then medians and each side's ratio to the first. */
async function compare(title: string, sides: Side[], n = runs): Promise<string[]> {
  console.log(`\n== ${title}`);
  const ms: number[][] = sides.map(() => []);
  const rss: number[][] = sides.map(() => []);
  for (let i = 0; i < n; i++) {
    for (const [k, s] of sides.entries()) {
      const r = await s.run();
      ms[k]!.push(r.ms);
      if (r.rssKb !== undefined) rss[k]!.push(r.rssKb);
      console.log(`  run ${i + 1} ${s.name.padEnd(44)} ${(r.ms / 1000).toFixed(2)} s`);
    }
  }
  const base = median(ms[0]!);
  const rows = sides.map((s, k) => {
    const m = median(ms[k]!);
    const mem = rss[k]!.length ? `, peak RSS ${(Math.max(...rss[k]!) / 1024).toFixed(0)} MiB` : '';
    return `| ${s.name} | ${(m / 1000).toFixed(2)} s | ${k === 0 ? 'reference' : `${(m / base).toFixed(2)}x`}${mem} |`;
  });
  for (const r of rows) console.log(r);
  return [`| **${title}** | | |`, ...rows];
}

function bootSides(dir: string): Side[] {
  const envFor = (machine: string | null, cache: string): NodeJS.ProcessEnv => ({
    ...process.env,
    ...(machine ? { VKEXEC_MACHINE: machine } : {}),
    XDG_CACHE_HOME: cache,
    NO_COLOR: '1',
  });
  const engine = ['--engine', 'qemu', '--accel', 'tcg', '--expect', marker, '--timeout', String(LIMIT_MS / 1000)];
  const boot = (fast: boolean) => [BIN, 'boot', ...(fast ? ['--fast'] : []), '--mem', '512M', kernel, '--initrd', initrd, '--append', append, ...engine];
  const warm = join(dir, 'cache-warm');
  const execMachine = join(dir, 'exec-machine');
  vkexec(['machine', 'init', '--mem', '512M'], envFor(execMachine, warm));
  vkexec(['-c', '-l', '--fast', kernel, '--initrd', initrd, '--append', append], envFor(execMachine, warm)); // fills the warm cache
  let cold = 0;
  /** boot --fast with a fresh payload cache; the payload decoded by the tools on PATH or vkexec's own decoders. */
  const coldFast = (decoder: 'tools' | 'builtin'): Side => ({
    name: `vkexec boot --fast (payload cache cold, ${decoder === 'tools' ? 'xz on PATH' : 'own decoder'})`,
    run: async () => {
      const cache = join(dir, `cache-cold-${cold++}`);
      mkdirSync(cache);
      try {
        return { ms: await timeToMarker(marker, LIMIT_MS, [nodeBin, ...boot(true)], { ...envFor(null, cache), VKEXEC_PAYLOAD_DECODER: decoder }, false) };
      } finally {
        rmSync(cache, { recursive: true, force: true });
      }
    },
  });
  return [
    { name: 'qemu-system-x86_64 -kernel -initrd', run: async () => ({ ms: await timeToMarker(marker, LIMIT_MS, ['qemu-system-x86_64', '-accel', 'tcg', '-m', '512', '-nographic', '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', append], process.env, true) }) },
    coldFast('tools'),
    coldFast('builtin'),
    { name: 'vkexec boot --fast (payload cached)', run: async () => ({ ms: await timeToMarker(marker, LIMIT_MS, [nodeBin, ...boot(true)], envFor(null, warm), false) }) },
    { name: 'vkexec boot (normal path)', run: async () => ({ ms: await timeToMarker(marker, LIMIT_MS, [nodeBin, ...boot(false)], envFor(null, warm), false) }) },
    {
      name: 'vkexec -e of a -c -l --fast load',
      run: async () => {
        vkexec(['-c', '-l', '--fast', kernel, '--initrd', initrd, '--append', append], envFor(execMachine, warm)); // untimed
        return { ms: await timeToMarker(marker, LIMIT_MS, [nodeBin, BIN, '-e', ...engine], envFor(execMachine, warm), false) };
      },
    },
  ];
}

function loadSides(dir: string): Side[] {
  const big = join(dir, 'initrd-big');
  const chunks: Buffer[] = [];
  for (let i = 0; i < bigMb; i++) chunks.push(randomBytes(1 << 20));
  writeFileSync(big, Buffer.concat(chunks));
  const machine = join(dir, 'load-machine');
  const env = { ...process.env, VKEXEC_MACHINE: machine, XDG_CACHE_HOME: join(dir, 'cache-load'), NO_COLOR: '1' };
  vkexec(['machine', 'init', '--mem', '2G'], env);
  const load = [kernel, '--initrd', big, '--append', append];
  const work = join(dir, 'real');
  mkdirSync(work);
  const tools = prepareRealKexec(work, 'x86_64');
  return [
    {
      name: "Debian's kexec 2.0.25 -l (kexec_load intercepted)",
      run: async () => {
        const r = runRealKexec(tools, machine, ['-l', ...load], work);
        if (r.code !== 0 || !r.dump) throw new Error(`real kexec -l failed (${r.code}): ${r.stderr}`);
        return { ms: r.wallMs };
      },
    },
    { name: 'vkexec -c -l', run: async () => (vkexec(['-u'], env), timedVkexec(['-c', '-l', ...load], env)) },
    { name: 'vkexec -s -l', run: async () => (vkexec(['-u'], env), timedVkexec(['-s', '-l', ...load], env)) },
  ];
}

function startSides(dir: string): Side[] {
  const env = { ...process.env, VKEXEC_MACHINE: join(dir, 'load-machine'), NO_COLOR: '1' };
  const spawnMs = (argv: string[], e: NodeJS.ProcessEnv) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(argv[0]!, argv.slice(1), { env: e });
    if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status})`);
    return { ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  };
  return [
    { name: 'node -e 0', run: async () => spawnMs([nodeBin, '-e', '0'], process.env) },
    { name: 'vkexec -S', run: async () => spawnMs([nodeBin, BIN, '-S'], env) },
  ];
}

for (const f of [kernel, initrd]) if (!existsSync(f)) fail(`${f} missing: run node test/setup/fixtures.mjs or pass --kernel/--initrd`);
if (spawnSync('qemu-system-x86_64', ['-version']).error) fail('qemu-system-x86_64 missing: apt-get install qemu-system-x86');
if (!existsSync('/usr/bin/time')) fail('GNU time missing (peak RSS): apt-get install time');
if (process.getuid?.() !== 0) fail('the kexec-tools rows need root (unshare -m to give the real kexec the machine\'s /proc and /sys); run as root');

const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
console.log(`machine: ${cpus().length} x ${cpuModel}; load average at start ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`kernel ${kernel}\nboot initrd ${initrd}; load initrd ${bigMb} MiB random; ${runs} alternating runs each; medians`);
const dir = mkdtempSync(join(tmpdir(), 'vkexec-bench-compare-'));
const table = ['| side (median of alternating runs) | wall | ratio |', '| --- | --- | --- |'];
try {
  table.push(...(await compare(`boot to "${marker}" (TCG, 512 MiB)`, bootSides(dir))));
  if (!process.argv.includes('--boots-only')) {
    table.push(...(await compare(`load, ${bigMb} MB initrd`, loadSides(dir))));
    table.push(...(await compare('start-up (11 runs)', startSides(dir), 11)));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`\nload average at end ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n\n${table.join('\n')}`);
if (!process.argv.includes('--no-check') && !process.argv.includes('--boots-only')) {
  console.log('\n== check of one package (bench/check.js)');
  spawnSync(nodeBin, [join(ROOT, 'dist/bench/check.js')], { stdio: 'inherit' });
}
