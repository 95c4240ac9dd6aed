// Benchmark (not a test): `vkexec boot` on the normal path (kexec_load layout, the purgatory, the kernel's own
// decompressor) against `qemu-system-x86_64 -kernel K -initrd I`, from spawning the command to the marker on the
// console, runs alternating (qemu, vkexec, qemu, ...) so that load from other processes hits both alike. For the
// vkexec side it also splits the wall time at QEMU's start: the engine reports how long QEMU ran until the
// marker ("qemu: matched after S s"), so host = wall - that. Figures are printed, never asserted.
// With --also BIN (another checkout's bin/vkexec.js, e.g. the commit before a change) that vkexec runs as a third
// side, alternating with the other two.
//   node dist/bench/boot-normal.js [--kernel F] [--initrd F] [--runs 5] [--marker T] [--also BIN]

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, FIXTURE_CACHE, median, opt, timeToMarker } from './common.js';

const kernel = opt('--kernel', join(FIXTURE_CACHE, 'vmlinuz-amd64-unsigned'));
const initrd = opt('--initrd', join(FIXTURE_CACHE, 'initramfs-busybox-amd64.cpio'));
const runs = Number(opt('--runs', '5'));
const marker = opt('--marker', 'VKEXEC-INIT-OK');
const append = 'console=ttyS0 panic=-1';
const LIMIT_MS = 300_000;
const also = opt('--also', '');

/** vkexec boot to the marker: wall ms from spawn to the marker on stdout, and QEMU's own time from its report. */
function vkexecBoot(bin: string, env: NodeJS.ProcessEnv): Promise<{ wall: number; guest: number }> {
  const args = [bin, 'boot', '--mem', '512M', kernel, '--initrd', initrd, '--append', append, '--engine', 'qemu', '--accel', 'tcg', '--expect', marker, '--timeout', String(LIMIT_MS / 1000)];
  return new Promise((resolveRun, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let wall: number | null = null;
    child.stdout.on('data', (d: Buffer) => {
      out = (out + d.toString('latin1')).slice(-4096);
      if (wall === null && out.includes(marker)) wall = Number(process.hrtime.bigint() - t0) / 1e6;
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString('latin1')));
    child.on('close', (code) => {
      const m = /qemu: matched after ([0-9.]+) s/.exec(err);
      if (code === 0 && wall !== null && m) resolveRun({ wall, guest: Number(m[1]) * 1000 });
      else reject(new Error(`vkexec boot: exit ${code}, marker ${wall !== null}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

for (const f of [kernel, initrd]) {
  if (!existsSync(f)) {
    console.error(`bench: ${f} missing: run node test/setup/fixtures.mjs or pass --kernel/--initrd`);
    process.exit(2);
  }
}
const dir = mkdtempSync(join(tmpdir(), 'vkexec-bench-boot-normal-'));
const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: join(dir, 'cache'), NO_COLOR: '1' };
delete env.VKEXEC_MACHINE; // boot makes a fresh machine per run
console.log(`boot to "${marker}" (TCG, 512 MiB), ${runs} alternating runs; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const bins = also ? [BIN, also] : [BIN];
const direct: number[] = [];
const sides = bins.map(() => ({ wall: [] as number[], guest: [] as number[] }));
try {
  for (let i = 0; i < runs; i++) {
    const q = await timeToMarker(marker, LIMIT_MS, ['qemu-system-x86_64', '-accel', 'tcg', '-m', '512', '-nographic', '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', append], process.env, true);
    direct.push(q);
    let line = `  run ${i + 1}: qemu -kernel ${(q / 1000).toFixed(2)} s`;
    for (const [k, bin] of bins.entries()) {
      const v = await vkexecBoot(bin, env);
      sides[k]!.wall.push(v.wall);
      sides[k]!.guest.push(v.guest);
      line += `, ${bin} ${(v.wall / 1000).toFixed(2)} s (host ${((v.wall - v.guest) / 1000).toFixed(2)} s)`;
    }
    console.log(line);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`| qemu-system-x86_64 -kernel -initrd | ${(median(direct) / 1000).toFixed(2)} s | reference |`);
for (const [k, bin] of bins.entries()) {
  const { wall, guest } = sides[k]!;
  const host = wall.map((w, j) => w - guest[j]!);
  console.log(`| vkexec boot (normal path), ${bin} | ${(median(wall) / 1000).toFixed(2)} s | ${(median(wall) / median(direct)).toFixed(2)}x (host ${(median(host) / 1000).toFixed(2)} s, QEMU ${(median(guest) / 1000).toFixed(2)} s) |`);
}
console.log(`load average at end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
