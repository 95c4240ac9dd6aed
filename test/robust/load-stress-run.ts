// The issue-11 bar with real commands, by hand (long): each round seeds a stale lock (lock-stress-lib SEEDS),
// starts N concurrent `vkexec` loads and unloads (-c -l, -s -l, -c -l --initrd, -u) on one machine and kills
// some with SIGKILL at random points; then `-S -l` must answer (never EBUSY from a dead holder), `machine show`
// must read the machine (never corrupt) and a loaded image must pass `-e --engine verify`.
//   node dist/test/robust/load-stress-run.js [rounds] [concurrent]

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SEEDS } from '../vm/machine/lock-stress-lib.js';
import { fixture } from '../helpers/fixtures.js';
import { BIN, tempDir, vkexec } from '../helpers/cli.js';

const [rounds = 100, concurrent = 16] = process.argv.slice(2).map(Number);
const KERNEL = fixture('vmlinuz-amd64-unsigned');
const INITRD = fixture('initramfs-busybox-amd64.cpio');
const COMMANDS = [['-c', '-l', KERNEL], ['-s', '-l', KERNEL], ['-c', '-l', KERNEL, '--initrd', INITRD], ['-u']];

interface Figures { rounds: number; runs: number; ok: number; busy: number; killed: number; otherFailures: number; blockedAfter: number; corrupt: number; verifyFailed: number; problems: string[] }
const f: Figures = { rounds: 0, runs: 0, ok: 0, busy: 0, killed: 0, otherFailures: 0, blockedAfter: 0, corrupt: 0, verifyFailed: 0, problems: [] };

function run(machine: string, args: string[], killAfterMs: number | null): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, '--machine', machine, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = killAfterMs === null ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

const work = tempDir('vkexec-load-stress-');
const machine = path.join(work, 'm');
try {
  if (vkexec(null, ['--machine', machine, 'machine', 'init']).code !== 0) throw new Error('machine init failed');
  const seeds = Object.entries(SEEDS);
  for (let r = 0; r < rounds; r++) {
    const [seedName, seed] = seeds[r % seeds.length]!;
    if (!fs.existsSync(path.join(machine, 'lock'))) seed(machine);
    const ends = await Promise.all(Array.from({ length: concurrent }, (_v, i) =>
      run(machine, COMMANDS[(r + i) % COMMANDS.length]!, Math.random() < 0.3 ? Math.floor(Math.random() * 3000) : null)));
    for (const e of ends) {
      f.runs++;
      if (e.signal === 'SIGKILL') f.killed++;
      else if (e.code === 0) f.ok++;
      else if (/EBUSY|Device or resource busy/.test(e.stderr)) f.busy++;
      else {
        f.otherFailures++;
        f.problems.push(`round ${r} (${seedName}): status ${e.code}: ${e.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
        console.log(f.problems[f.problems.length - 1]);
      }
    }
    const s = vkexec(machine, ['-S', '-l']);
    if (s.code !== 0 && s.code !== 1) {
      if (/EBUSY|busy/.test(s.stderr)) f.blockedAfter++;
      else f.corrupt++;
      f.problems.push(`round ${r} (${seedName}): -S -l after the round: status ${s.code}: ${s.stderr.trim()}`);
    }
    const show = vkexec(machine, ['machine', 'show']);
    if (show.code !== 0) {
      f.corrupt++;
      f.problems.push(`round ${r} (${seedName}): machine show: ${show.stderr.trim()}`);
    }
    if (s.code === 1) {
      const v = vkexec(machine, ['-e', '--engine', 'verify']);
      if (v.code !== 0) {
        f.verifyFailed++;
        f.problems.push(`round ${r} (${seedName}): -e --engine verify: ${v.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      }
    }
    f.rounds++;
    if ((r + 1) % 10 === 0) console.log(JSON.stringify({ ...f, problems: f.problems.length }));
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify(f, null, 1));
process.exitCode = f.blockedAfter + f.corrupt + f.verifyFailed + f.otherFailures ? 1 : 0;
