// Benchmark (not a test): QEMU's TCG settings on a real boot. QEMU's own direct boot of the kernel and initrd
// (-kernel -initrd, the CPU model vkexec's engine uses: -cpu max, one vCPU) to the initramfs marker, with each
// variant of the settings vkexec could choose in src/vm/engines/qemu-args.ts: translation-block cache size
// (-accel tcg,tb-size=MiB; QEMU 7.2's default on a 64-bit host is 1 GiB), single- or multi-threaded TCG, and
// (guest-visible, for comparison only) the qemu64 CPU model. Alternating runs, medians, ratio to the first.
//   node dist/bench/tcg.js [--kernel F] [--initrd F] [--runs 5] [--marker T]
// Measured 2026-12-06 15:32-15:38 UTC, 2 vCPUs AMD EPYC shared with six other sessions (load average 29.1 ->
// 27.5), QEMU 7.2, 5 runs, medians: today's settings 13.79 s; tb-size=64 15.85 s (1.15x); tb-size=256 14.61 s
// (1.06x); thread=single 13.90 s (1.01x); -cpu qemu64 13.85 s (1.00x). Single runs spread 11.8-26.8 s, so
// only the small translation caches are clearly slower; vkexec keeps QEMU's defaults.

import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { FIXTURE_CACHE, median, opt, timeToMarker } from './common.js';

const kernel = opt('--kernel', join(FIXTURE_CACHE, 'vmlinuz-amd64-unsigned'));
const initrd = opt('--initrd', join(FIXTURE_CACHE, 'initramfs-busybox-amd64.cpio'));
const runs = Number(opt('--runs', '5'));
const marker = opt('--marker', 'VKEXEC-INIT-OK');

if (spawnSync('qemu-system-x86_64', ['-version']).error) {
  console.error('bench: qemu-system-x86_64 missing: apt-get install qemu-system-x86');
  process.exit(2);
}

const variants: [string, string[]][] = [
  ['-accel tcg -cpu max (vkexec today)', ['-accel', 'tcg', '-cpu', 'max']],
  ['-accel tcg,tb-size=64', ['-accel', 'tcg,tb-size=64', '-cpu', 'max']],
  ['-accel tcg,tb-size=256', ['-accel', 'tcg,tb-size=256', '-cpu', 'max']],
  ['-accel tcg,thread=single', ['-accel', 'tcg,thread=single', '-cpu', 'max']],
  ['-accel tcg -cpu qemu64 (guest-visible)', ['-accel', 'tcg', '-cpu', 'qemu64']],
];
const common = ['-m', '512', '-smp', '1', '-nodefaults', '-nographic', '-no-reboot', '-serial', 'stdio', '-kernel', kernel, '-initrd', initrd, '-append', 'console=ttyS0 panic=-1'];

console.log(`load average at start ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${runs} alternating runs; time to "${marker}"`);
const times: number[][] = variants.map(() => []);
for (let i = 0; i < runs; i++) {
  for (const [k, [name, args]] of variants.entries()) {
    const t = await timeToMarker(marker, 300_000, ['qemu-system-x86_64', ...args, ...common], process.env, true);
    times[k]!.push(t);
    console.log(`  run ${i + 1} ${name.padEnd(40)} ${(t / 1000).toFixed(2)} s`);
  }
}
const base = median(times[0]!);
for (const [k, [name]] of variants.entries()) {
  const m = median(times[k]!);
  console.log(`| ${name} | ${(m / 1000).toFixed(2)} s | ${k === 0 ? 'reference' : `${(m / base).toFixed(2)}x`} | ${times[k]!.map((t) => (t / 1000).toFixed(1)).join(', ')} |`);
}
console.log(`load average at end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
