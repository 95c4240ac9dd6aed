// The real-kernel side of the differential test: Debian's 6.1 or 6.12 amd64 kernel boots in QEMU (TCG,
// -kernel/-initrd) with an initramfs built here: busybox, kx (test/differential/kx.c, built with gcc -static
// now) and the release's own signed, unsigned and tampered bzImages. /init runs a fixed list of
// kexec_file_load/kexec_load calls with dynamic debug on for the kexec files, before and after
// `echo integrity > /sys/kernel/security/lockdown`, and prints per call the result and what the kernel logged
// (dmesg -c). One boot per release.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildCpio, type CpioEntry } from '../../src/formats/cpio.js';
import { fixture, type FixtureName } from '../helpers/fixtures.js';
import { ROOT } from '../helpers/cli.js';

export type Release = '6.1' | '6.12';

export const KERNELS: Record<Release, { signed: FixtureName; unsigned: FixtureName }> = {
  '6.1': { signed: 'vmlinuz-amd64', unsigned: 'vmlinuz-amd64-unsigned' },
  '6.12': { signed: 'vmlinuz-612-amd64', unsigned: 'vmlinuz-612-amd64-unsigned' },
};

/** The guest's RAM and crash reservation (QEMU pc, SeaBIOS). */
export const GUEST_MEM = '1G';
export const GUEST_CRASHKERNEL = '192M';
/** The initrd the guest loads: a length that is not a page multiple, to show memsz rules. */
export const INITRD_LEN = 0x123456;
/** The command line every load passes (cmdline_len counts the NUL). */
export const LOAD_CMDLINE = 'console=ttyS0 panic=-1';
/** The byte of the signed image that the tampered copy flips: inside the PE .text (the compressed kernel). */
export const TAMPER_OFFSET = 0x400000;

/** The kernel files dynamic debug is switched on for (pr_debug of kexec_file_load and its helpers). */
const DYNDBG = ['kexec_file.c', 'kexec-bzimage64.c', 'crash.c', 'kexec_core.c', 'kexec.c', 'machine_kexec_64.c', 'crash_core.c', 'crash_reserve.c', 'kexec_elf.c'];

export interface Call {
  /** kx arguments after the name: file KERNEL INITRD CMDLINE FLAGS | load FLAGS MEM MEMSZ | load-unload FLAGS */
  args: string[];
}

/** The calls, in order; names starting "lk-" run under lockdown=integrity. Kernel paths: /k/{unsigned,signed,tampered}. */
export const CALLS: [string, string[]][] = [
  ['normal', ['file', '/k/unsigned', '/k/initrd', LOAD_CMDLINE, '0']],
  ['unload', ['file', '/k/unsigned', '-', '-', '1']],
  ['debug', ['file', '/k/unsigned', '/k/initrd', LOAD_CMDLINE, '8']],
  ['unload-debug', ['file', '/k/unsigned', '-', '-', '1']],
  ['noinitrd', ['file', '/k/unsigned', '-', LOAD_CMDLINE, '4']],
  ['unload-noinitrd', ['file', '/k/unsigned', '-', '-', '1']],
  ['crash', ['file', '/k/unsigned', '/k/initrd', LOAD_CMDLINE, '2']],
  ['crash-debug', ['file', '/k/unsigned', '/k/initrd', LOAD_CMDLINE, '10']],
  ['unload-crash', ['file', '/k/unsigned', '-', '-', '3']],
  ['signed', ['file', '/k/signed', '/k/initrd', LOAD_CMDLINE, '0']],
  ['tampered', ['file', '/k/tampered', '/k/initrd', LOAD_CMDLINE, '0']],
  ['unload-signed', ['file', '/k/unsigned', '-', '-', '1']],
  ['load-flag4', ['load', '4', '0x1000000', '0x1000']],
  ['load-flag2', ['load', '2', '0x1000000', '0x1000']],
  ['load', ['load', '0', '0x1000000', '0x1000']],
  ['load-unload', ['load-unload', '0']],
  ['lk-unsigned', ['file', '/k/unsigned', '/k/initrd', LOAD_CMDLINE, '0']],
  ['lk-tampered', ['file', '/k/tampered', '/k/initrd', LOAD_CMDLINE, '0']],
  ['lk-debug', ['file', '/k/signed', '/k/initrd', LOAD_CMDLINE, '8']],
  ['lk-signed', ['file', '/k/signed', '/k/initrd', LOAD_CMDLINE, '0']],
  ['lk-crash-signed', ['file', '/k/signed', '/k/initrd', LOAD_CMDLINE, '2']],
  ['lk-load', ['load', '0', '0x1000000', '0x1000']],
];

export interface CallResult {
  name: string;
  rc: number;
  errno: number;
  /** dmesg lines logged during the call, without timestamps. */
  log: string[];
}

export interface GuestRun {
  release: Release;
  osrelease: string;
  iomem: string;
  /** dmesg lines of the boot that mention crashkernel or kexec. */
  boot: string[];
  calls: Map<string, CallResult>;
  /** crash_notes_size, vmcoreinfo (address and size) as the guest's sysfs prints them. */
  views: Record<string, string>;
  console: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function initScript(): string {
  const lines = [
    '#!/bin/sh',
    '/bin/busybox --install -s /bin',
    'export PATH=/bin',
    'mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev',
    'mount -t securityfs securityfs /sys/kernel/security',
    'echo "VKX-OSRELEASE $(cat /proc/sys/kernel/osrelease)"',
    'echo "VKX-BEGIN iomem"; cat /proc/iomem; echo VKX-END',
    'echo "VKX-VIEW crash_notes_size $(cat /sys/devices/system/cpu/cpu0/crash_notes_size)"',
    'echo "VKX-VIEW vmcoreinfo $(cat /sys/kernel/vmcoreinfo)"',
    'echo "VKX-BEGIN boot"; dmesg -c | grep -iE "crash|kexec|random"; echo VKX-END',
    'run() { n=$1; shift; echo "VKX-BEGIN $n"; /kx "$n" "$@"; dmesg -c; echo VKX-END; }',
  ];
  let locked = false;
  for (const [name, args] of CALLS) {
    if (name.startsWith('lk-') && !locked) {
      lines.push('echo integrity > /sys/kernel/security/lockdown; echo "VKX-LOCKDOWN $(cat /sys/kernel/security/lockdown)"; dmesg -c >/dev/null');
      locked = true;
    }
    lines.push(`run ${name} ${args.map(q).join(' ')}`);
  }
  lines.push('echo VKX-DONE', 'reboot -f', '');
  return lines.join('\n');
}

/** gcc -static of kx.c into dir; throws with gcc's words when it fails. */
export function buildKx(dir: string): string {
  const out = path.join(dir, 'kx');
  const src = path.join(ROOT, 'test/differential/kx.c');
  const r = spawnSync('gcc', ['-static', '-O2', '-Wall', '-Werror', '-o', out, src], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`gcc -static ${src} failed: ${r.error?.message ?? r.stderr}`);
  return out;
}

export function tampered(signed: Uint8Array): Uint8Array {
  const t = Uint8Array.from(signed);
  t[TAMPER_OFFSET] = t[TAMPER_OFFSET]! ^ 0xff;
  return t;
}

export function initrdBytes(): Uint8Array {
  const b = new Uint8Array(INITRD_LEN);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
  return b;
}

/** The initramfs for one release; its files are also written to dir (kernels, initrd) for vkexec to load. */
export function buildInitramfs(release: Release, dir: string): { cpio: string; files: Record<'unsigned' | 'signed' | 'tampered' | 'initrd', string> } {
  const kx = fs.readFileSync(buildKx(dir));
  const signed = fs.readFileSync(fixture(KERNELS[release].signed));
  const files = {
    unsigned: fixture(KERNELS[release].unsigned),
    signed: fixture(KERNELS[release].signed),
    tampered: path.join(dir, 'tampered'),
    initrd: path.join(dir, 'initrd'),
  };
  fs.writeFileSync(files.tampered, tampered(signed));
  fs.writeFileSync(files.initrd, initrdBytes());
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'tmp', 'k'].map((p) => ({ type: 'dir' as const, path: p })),
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'bin/busybox', data: fs.readFileSync(fixture('busybox-amd64')), mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'kx', data: kx, mode: 0o755 },
    { type: 'file', path: 'init', data: Buffer.from(initScript()), mode: 0o755 },
    ...(['unsigned', 'signed', 'tampered', 'initrd'] as const).map((k) => ({ type: 'file' as const, path: `k/${k}`, data: fs.readFileSync(files[k]), mode: 0o644 })),
  ];
  const cpio = path.join(dir, `initramfs-${release}.cpio`);
  fs.writeFileSync(cpio, buildCpio(entries));
  return { cpio, files };
}

export function guestCmdline(): string {
  const dyndbg = DYNDBG.map((f) => `file ${f} +p`).join('; ');
  return `console=ttyS0 panic=-1 quiet loglevel=1 nokaslr crashkernel=${GUEST_CRASHKERNEL} dyndbg="${dyndbg}"`;
}

/** Boots the release's unsigned kernel with the initramfs; resolves with the parsed console. */
export function bootGuest(release: Release, cpio: string, timeoutMs = 400_000): Promise<GuestRun> {
  const args = ['-accel', 'tcg', '-m', GUEST_MEM, '-smp', '1', '-nographic', '-no-reboot', '-kernel', fixture(KERNELS[release].unsigned), '-initrd', cpio, '-append', guestCmdline()];
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run qemu-system-x86_64: ${e.message} (apt-get install qemu-system-x86)`));
    });
    child.on('close', () => {
      clearTimeout(timer);
      const text = out.replace(/\r/g, '');
      if (!text.includes('VKX-DONE')) return reject(new Error(`the ${release} guest did not finish its calls (timeout ${timeoutMs} ms?); console tail:\n${text.slice(-4000)}`));
      resolve(parseConsole(release, text));
    });
  });
}

/** Strips dmesg's "[    1.234567] " timestamp. */
const untime = (l: string) => l.replace(/^\[\s*\d+\.\d+\]\s?/, '');

export function parseConsole(release: Release, text: string): GuestRun {
  const lines = text.split('\n');
  const calls = new Map<string, CallResult>();
  let iomem = '';
  let boot: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^VKX-BEGIN (\S+)$/.exec(lines[i]!);
    if (!m) continue;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== 'VKX-END'; i++) body.push(lines[i]!);
    const name = m[1]!;
    if (name === 'iomem') iomem = body.join('\n') + '\n';
    else if (name === 'boot') boot = body.map(untime);
    else {
      const r = body.map((l) => /^VKX-RESULT \S+ rc=(-?\d+) errno=(\d+)$/.exec(l)).find(Boolean);
      if (!r) throw new Error(`call ${name} printed no VKX-RESULT line:\n${body.join('\n')}`);
      // What dmesg -c printed after the call's result (console echoes before it are dropped).
      const log = body.slice(body.findIndex((l) => l.startsWith('VKX-RESULT')) + 1).map(untime);
      calls.set(name, { name, rc: Number(r[1]), errno: Number(r[2]), log });
    }
  }
  const osrelease = /VKX-OSRELEASE (\S+)/.exec(text)?.[1] ?? '';
  const views = Object.fromEntries([...text.matchAll(/^VKX-VIEW (\S+) (.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  return { release, osrelease, iomem, boot, calls, views, console: text };
}
