// Benchmark (not a test): start-up of the command line. Wall time of `vkexec -S`, `vkexec machine show` and
// `vkexec --version` against a bare `node -e 0`, runs alternating (node, -S, show, --version, node, ...) so that
// load from other processes hits every side alike; medians and ratios. Also the modules each command imports
// (counted with a module.register load hook). Figures are printed, never asserted.
// With --also BIN (another checkout's bin/vkexec.js, e.g. the commit before a change) its three commands run too.
//   node dist/bench/startup.js [--runs 20] [--also BIN]

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIN, median, opt } from './common.js';

const runs = Number(opt('--runs', '20'));
const also = opt('--also', '');
const dir = mkdtempSync(join(tmpdir(), 'vkexec-bench-startup-'));
const env = { ...process.env, VKEXEC_MACHINE: join(dir, 'machine') };

function run(argv: string[], extraEnv: NodeJS.ProcessEnv = env): { ms: number; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { env: extraEnv, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { ms, stderr: r.stderr };
}

/** How many modules `vkexec ARGS` loads (ESM and node: built-ins, through a load hook). */
function moduleCount(bin: string, args: string[]): number {
  const hook = join(dir, 'hook.mjs');
  const reg = join(dir, 'register.mjs');
  writeFileSync(hook, "export async function load(u, c, next) { process._rawDebug('LOAD ' + u); return next(u, c); }\n");
  writeFileSync(reg, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`);
  const r = run([process.execPath, '--import', reg, bin, ...args]);
  return r.stderr.split('\n').filter((l) => l.startsWith('LOAD ') && !l.includes(bin)).length;
}

try {
  run([process.execPath, BIN, 'machine', 'init']);
  const commands = [['-S'], ['machine', 'show'], ['--version']];
  const sides: [string, string[]][] = [['node -e 0', [process.execPath, '-e', '0']]];
  for (const bin of also ? [BIN, also] : [BIN]) {
    for (const c of commands) sides.push([`vkexec ${c.join(' ')}${bin === BIN ? '' : ` (${bin})`}`, [process.execPath, bin, ...c]]);
  }
  const ms: number[][] = sides.map(() => []);
  for (let i = 0; i < runs; i++) for (const [k, [, argv]] of sides.entries()) ms[k]!.push(run(argv).ms);
  const base = median(ms[0]!);
  console.log(`start-up, ${runs} alternating runs each, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const [k, [name, argv]] of sides.entries()) {
    const mods = k === 0 ? '' : `, ${moduleCount(argv[1]!, argv.slice(2))} modules`;
    console.log(`| ${name} | ${median(ms[k]!).toFixed(0).padStart(5)} ms | ${k === 0 ? 'reference' : `${(median(ms[k]!) / base).toFixed(2)}x`}${mods} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
