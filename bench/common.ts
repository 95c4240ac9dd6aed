// What every benchmark script needs: the repository's paths and `--name value` options with defaults.

import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin/vkexec.js');
export const FIXTURE_CACHE = join(ROOT, 'test/fixtures/cache');

/** The value after `name` on the command line, or `def`. */
export function opt(name: string, def: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
}

export const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Milliseconds from spawning argv until `marker` is on its stdout. With `stop` (QEMU itself) the child is stopped
 * then; vkexec stops its own QEMU at --expect and is left to (killing it would orphan its QEMU) and must exit 0.
 */
export function timeToMarker(marker: string, limitMs: number, argv: string[], env: NodeJS.ProcessEnv, stop: boolean): Promise<number> {
  return new Promise((resolveRun, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let seen: number | null = null;
    const limit = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.stdout.on('data', (d: Buffer) => {
      if (seen !== null) return;
      out = (out + d.toString('latin1')).slice(-4096);
      if (!out.includes(marker)) return;
      seen = Number(process.hrtime.bigint() - t0) / 1e6;
      if (stop) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString('latin1')).slice(-2000)));
    child.on('close', (code) => {
      clearTimeout(limit);
      if (seen !== null && (stop || code === 0)) resolveRun(seen);
      else reject(new Error(`${argv.slice(0, 4).join(' ')}: no marker or exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}
