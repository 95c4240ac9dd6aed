// Benchmark (not a test): wall time from the start of `vkexec -e` to the initramfs marker on the console, for the
// normal kexec_load path, the --fast path, and QEMU's own direct boot of the same kernel and initrd
// (`qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot -kernel ... -initrd ... -append ...`, SeaBIOS and
// the linuxboot option ROM included). Runs alternate (normal, fast, direct, normal, ...) on one machine so that
// load from other processes hits all three alike. The loads themselves happen once, before, and are not timed.
// Figures are printed, never asserted.
//   node dist/bench/boot.js [--kernel FILE] [--initrd FILE] [--runs 3] [--syscall c|s] [--marker TEXT]

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, FIXTURE_CACHE, median, opt, timeToMarker } from './common.js';

const kernel = opt('--kernel', join(FIXTURE_CACHE, 'vmlinuz-amd64-unsigned'));
const initrd = opt('--initrd', join(FIXTURE_CACHE, 'initramfs-busybox-amd64.cpio'));
const runs = Number(opt('--runs', '3'));
const syscall = opt('--syscall', 'c');
const marker = opt('--marker', 'VKEXEC-INIT-OK');
const append = 'console=ttyS0 panic=-1';
const LIMIT_MS = 180_000;

for (const f of [kernel, initrd]) {
  if (!existsSync(f)) {
    console.error(`bench: ${f} missing: run node test/setup/fixtures.mjs or pass --kernel/--initrd`);
    process.exit(2);
  }
}
if (syscall !== 'c' && syscall !== 's') {
  console.error('bench: --syscall takes c (kexec_load) or s (kexec_file_load)');
  process.exit(2);
}
if (spawnSync('qemu-system-x86_64', ['-version']).error) {
  console.error('bench: qemu-system-x86_64 missing: apt-get install qemu-system-x86');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'vkexec-bench-boot-'));
try {
  const machines = { normal: join(dir, 'normal'), fast: join(dir, 'fast') };
  const envFor = (m: string): NodeJS.ProcessEnv => ({ ...process.env, VKEXEC_MACHINE: m, NO_COLOR: '1' });
  for (const [name, m] of Object.entries(machines)) {
    const load = ['-l', ...(name === 'fast' ? ['-c', '--fast'] : [`-${syscall}`]), kernel, '--initrd', initrd, '--append', append];
    for (const argv of [['machine', 'init', '--mem', '512M'], load]) {
      const r = spawnSync(process.execPath, [BIN, ...argv], { env: envFor(m), encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`vkexec ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
    }
  }
  const exec = ['-e', '--engine', 'qemu', '--accel', 'tcg', '--expect', marker, '--timeout', String(LIMIT_MS / 1000)];
  const cases: { name: string; argv: string[]; env: NodeJS.ProcessEnv }[] = [
    { name: `normal (-${syscall} -l, then -e)`, argv: [process.execPath, BIN, ...exec], env: envFor(machines.normal) },
    { name: 'fast (-l --fast, then -e)', argv: [process.execPath, BIN, ...exec], env: envFor(machines.fast) },
    {
      name: 'qemu direct (-kernel -initrd)',
      argv: ['qemu-system-x86_64', '-accel', 'tcg', '-m', '512', '-nographic', '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', append],
      env: process.env,
    },
  ];
  console.log(`kernel ${kernel}\ninitrd ${initrd}\nappend "${append}", TCG, 512 MiB, ${runs} alternating runs, time to "${marker}"`);
  const times: number[][] = cases.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, c] of cases.entries()) {
      const t = await timeToMarker(marker, LIMIT_MS, c.argv, c.env, k === 2);
      times[k]!.push(t);
      console.log(`run ${i + 1} ${c.name.padEnd(32)} ${(t / 1000).toFixed(2)} s`);
    }
  }
  const med = times.map(median);
  const direct = med[2]!;
  console.log('\nmedian wall to the marker:');
  for (const [k, c] of cases.entries()) {
    const ratio = k === 2 ? '' : `  ${(med[k]! / direct).toFixed(2)} of direct (target ${k === 0 ? '0.9' : '0.5'})`;
    console.log(`  ${c.name.padEnd(32)} ${(med[k]! / 1000).toFixed(2)} s${ratio}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
