// The issue-11 bar with real commands, by hand (long): each round seeds a stale lock (lock-stress-lib SEEDS),
// starts N concurrent `vkexec` loads and unloads (-c -l, -s -l, -c -l --initrd, -u) on one machine and kills
// some with SIGKILL at random points; then `-S -l` must answer (never EBUSY from a dead holder), `machine show`
// must read the machine (never corrupt), a loaded image must pass `-e --engine verify` and `-p -u` (which takes
// the lock) must not be refused EBUSY by a dead holder. Every command runs with lock-audit.js preloaded, which
// records any moment two processes hold the lock (two holders). Figures every 10 rounds, the total at the end.
// The kernel is small and real (fuzz/bases.ts shortBzImage: Debian's bzImage setup and decompressor head with
// a 32 KB xz payload of the real vmlinux, 53 KB), so a round's time goes to the lock and the state rather than
// to copying 8 MB per load; `full` as the third argument loads Debian's whole 8 MB vmlinuz instead.
//   node dist/test/robust/load-stress-run.js [rounds] [concurrent] [full]

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SEEDS } from '../vm/machine/lock-stress-lib.js';
import { fixture } from '../helpers/fixtures.js';
import { shortBzImage } from '../fuzz/bases.js';
import { fileURLToPath } from 'node:url';
import { BIN, tempDir } from '../helpers/cli.js';

const [rounds = 100, concurrent = 16] = process.argv.slice(2, 4).map(Number);
const INITRD = fixture('initramfs-busybox-amd64.cpio');
const AUDIT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lock-audit.js');
const work = tempDir('vkexec-load-stress-');
const machine = path.join(work, 'm');
const KERNEL = process.argv[4] === 'full' ? fixture('vmlinuz-amd64-unsigned') : path.join(work, 'short-bzImage');
if (process.argv[4] !== 'full') fs.writeFileSync(KERNEL, shortBzImage());
const COMMANDS = [['-c', '-l', KERNEL], ['-s', '-l', KERNEL], ['-c', '-l', KERNEL, '--initrd', INITRD], ['-u']];

interface Figures { rounds: number; runs: number; ok: number; busy: number; killed: number; killedAfterTake: number; twoHolders: number; otherFailures: number; blockedAfter: number; corrupt: number; verified: number; verifyFailed: number; leftovers: number; seconds: number; problems: string[] }
const f: Figures = { rounds: 0, runs: 0, ok: 0, busy: 0, killed: 0, killedAfterTake: 0, twoHolders: 0, otherFailures: 0, blockedAfter: 0, corrupt: 0, verified: 0, verifyFailed: 0, leftovers: 0, seconds: 0, problems: [] };
const auditLog = path.join(work, 'two-holders.log');
const ENV = { ...process.env, NO_COLOR: '1', VKEXEC_PAYLOAD_CACHE: 'off', VKEXEC_LOCK_AUDIT_MARKER: path.join(work, 'holder-marker'), VKEXEC_LOCK_AUDIT_LOG: auditLog, VKEXEC_LOCK_AUDIT_FD: '3' };

/** When to SIGKILL a command: never, a random time after its start, or a random moment after it took the lock. */
type Kill = { at: 'never' } | { at: 'start' | 'taken'; ms: number };

interface End { code: number | null; signal: string | null; stdout: string; stderr: string; took: boolean }

function run(machine: string, args: string[], kill: Kill = { at: 'never' }): Promise<End> {
  return new Promise((resolve) => {
    // fd 3: lock-audit.js writes "taken" there when the command takes the lock.
    const child = spawn(process.execPath, ['--import', AUDIT, BIN, '--machine', machine, ...args], { env: ENV, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let took = false;
    let timer: NodeJS.Timeout | null = null;
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', () => {
      took = true;
      if (kill.at === 'taken' && !timer) timer = setTimeout(() => child.kill('SIGKILL'), kill.ms);
    });
    if (kill.at === 'start') timer = setTimeout(() => child.kill('SIGKILL'), kill.ms);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, took });
    });
  });
}

/** 15 % of the commands are killed at a random time in their first 2 s, 15 % 0 to 100 ms after taking the lock. */
function pickKill(): Kill {
  const r = Math.random();
  if (r < 0.15) return { at: 'start', ms: Math.floor(Math.random() * 2000) };
  if (r < 0.3) return { at: 'taken', ms: Math.floor(Math.random() * 100) };
  return { at: 'never' };
}

// SIGINT or SIGTERM stops the run after the round in flight (its commands end, its checks run), with the
// figures so far and no temporary directory left behind.
let stopBy: string | null = null;
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void (stopBy = sig));
const t0 = Date.now();
try {
  if ((await run(machine, ['machine', 'init'])).code !== 0) throw new Error('machine init failed');
  const seeds = Object.entries(SEEDS);
  for (let r = 0; r < rounds && !stopBy; r++) {
    const [seedName, seed] = seeds[r % seeds.length]!;
    if (!fs.existsSync(path.join(machine, 'lock'))) seed(machine);
    const ends = await Promise.all(Array.from({ length: concurrent }, (_v, i) =>
      run(machine, COMMANDS[(r + i) % COMMANDS.length]!, pickKill())));
    for (const e of ends) {
      f.runs++;
      if (e.signal === 'SIGKILL') {
        f.killed++;
        if (e.took) f.killedAfterTake++;
      }
      else if (e.code === 0) f.ok++;
      else if (/EBUSY|Device or resource busy/.test(e.stderr)) f.busy++;
      else {
        f.otherFailures++;
        f.problems.push(`round ${r} (${seedName}): status ${e.code}: ${e.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
        console.log(f.problems[f.problems.length - 1]);
      }
    }
    // machine show reads and validates machine.json and every blob it names (a corrupt machine fails here).
    const show = await run(machine, ['machine', 'show']);
    if (show.code !== 0) {
      f.corrupt++;
      f.problems.push(`round ${r} (${seedName}): machine show: ${show.stderr.trim()}`);
    }
    if (/^normal\s+(?!not loaded)\S/m.test(show.stdout)) {
      const v = await run(machine, ['-e', '--engine', 'verify']);
      if (v.code === 0) f.verified++;
      else {
        f.verifyFailed++;
        f.problems.push(`round ${r} (${seedName}): -e --engine verify: ${v.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      }
    }
    // -p -u takes the lock (kexec_file_load's unload, kexec_trylock) and changes nothing here: a dead holder
    // of this round must not make it EBUSY.
    const u = await run(machine, ['-p', '-u']);
    if (u.code !== 0) {
      if (/EBUSY|busy/.test(u.stderr)) f.blockedAfter++;
      else f.otherFailures++;
      f.problems.push(`round ${r} (${seedName}): -p -u after the round: status ${u.code}: ${u.stderr.trim()}`);
    }
    // Every command of the round has ended and -p -u took the lock after them: what they left beside the lock
    // (candidates, machine.json temporaries of killed writers) must be gone.
    const left = fs.readdirSync(machine).filter((n) => n.startsWith('lock.new.') || /^machine\.json\..*\.tmp$/.test(n));
    if (left.length > 0) {
      f.leftovers++;
      f.problems.push(`round ${r} (${seedName}): left beside the lock: ${left.join(', ')}`);
    }
    f.twoHolders = fs.existsSync(auditLog) ? fs.readFileSync(auditLog, 'utf8').split('\n').filter(Boolean).length : 0;
    f.seconds = Math.round((Date.now() - t0) / 1000);
    f.rounds++;
    if ((r + 1) % 10 === 0) console.log(JSON.stringify({ ...f, problems: f.problems.length }));
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify(stopBy ? { ...f, stoppedBy: stopBy } : f, null, 1));
process.exitCode = stopBy || f.twoHolders + f.blockedAfter + f.corrupt + f.verifyFailed + f.leftovers + f.otherFailures ? 1 : 0;
