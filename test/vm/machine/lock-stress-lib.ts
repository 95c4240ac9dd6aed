// Lock stress rounds shared by lock.test.ts (bounded) and lock-stress-run.ts (the long run by hand): each
// round seeds a dead, empty or torn lock, starts N workers that take the lock in a loop (lock-worker.ts) and
// kills some with SIGKILL at random points; then the lock must be free for the next command.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tryLock } from '../../../src/vm/machine/lock.js';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lock-worker.js');
const DEAD_PID = 999_999_999; // above any pid_max

/** The stale states a crash or an older vkexec leaves; round i seeds SEEDS[i % length]. */
export const SEEDS: Record<string, (dir: string) => void> = {
  none: () => {},
  'legacy lock file of a dead pid': (d) => fs.writeFileSync(path.join(d, 'lock'), `${DEAD_PID} kexec_load\n`),
  'empty legacy lock file': (d) => fs.writeFileSync(path.join(d, 'lock'), ''),
  'torn legacy lock file': (d) => fs.writeFileSync(path.join(d, 'lock'), '12'),
  'record of a dead pid': (d) => seedRecord(d, `${DEAD_PID}.5.0123456789abcdef`),
  'empty lock directory': (d) => fs.mkdirSync(path.join(d, 'lock')),
  'torn record name': (d) => seedRecord(d, '4242.'),
  'record of a reused pid': (d) => seedRecord(d, `${process.pid}.1.0123456789abcdef`),
  'candidate of a dead pid': (d) => {
    fs.mkdirSync(path.join(d, `lock.new.${DEAD_PID}.5.0123456789abcdef`));
    fs.writeFileSync(path.join(d, `lock.new.${DEAD_PID}.5.0123456789abcdef`, `${DEAD_PID}.5.0123456789abcdef`), 'x\n');
  },
};

function seedRecord(dir: string, name: string): void {
  fs.mkdirSync(path.join(dir, 'lock'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'lock', name), 'stale\n');
}

export interface StressFigures {
  rounds: number;
  acquired: number;
  busy: number;
  killed: number;
  twoHolders: number;
  blockedAfter: number;
  leftovers: number;
  failures: string[];
}

interface WorkerEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runWorker(dir: string, iters: number, killAfterMs: number | null): Promise<WorkerEnd> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WORKER, dir, String(iters)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = killAfterMs === null ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** One round; adds its figures to `f`. */
export async function stressRound(dir: string, round: number, workers: number, iters: number, f: StressFigures): Promise<void> {
  const seeds = Object.entries(SEEDS);
  const [seedName, seed] = seeds[round % seeds.length]!;
  seed(dir);
  const ends = await Promise.all(
    Array.from({ length: workers }, (_v, i) => runWorker(dir, iters, i % 4 === round % 4 ? 50 + Math.floor(Math.random() * 400) : null)),
  );
  for (const e of ends) {
    if (e.signal === 'SIGKILL') f.killed++;
    else if (e.code === 0) {
      const [a, b] = e.stdout.trim().split(' ').map(Number);
      f.acquired += a!;
      f.busy += b!;
    } else if (e.code === 3) {
      f.twoHolders++;
      f.failures.push(`round ${round} (${seedName}): ${e.stdout.trim()}`);
    } else f.failures.push(`round ${round} (${seedName}): worker exit ${e.code}: ${e.stderr.trim().split('\n').slice(0, 6).join(' | ')}`);
  }
  try {
    tryLock(dir, 'after the round').release(); // a dead holder must never block the next command
  } catch (e) {
    f.blockedAfter++;
    f.failures.push(`round ${round} (${seedName}): blocked after the round: ${(e as Error).message}`);
  }
  const left = fs.readdirSync(dir).filter((n) => n === 'lock' || n.startsWith('lock.'));
  if (left.length > 0) {
    f.leftovers++;
    f.failures.push(`round ${round} (${seedName}): left behind: ${left.join(', ')}`);
    for (const n of left) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
  }
  fs.rmSync(path.join(dir, 'holder-marker'), { force: true });
  f.rounds++;
}

export function newFigures(): StressFigures {
  return { rounds: 0, acquired: 0, busy: 0, killed: 0, twoHolders: 0, blockedAfter: 0, leftovers: 0, failures: [] };
}
