// The real-kernel side of the differential test: Debian's 6.1 or 6.12 amd64 kernel boots in QEMU (TCG,
// -kernel/-initrd) with an initramfs built here: busybox, kx (test/differential/kx.c, built with gcc -static
// now) and the release's own signed, unsigned and tampered bzImages. /init runs a fixed list of
// kexec_file_load/kexec_load calls with dynamic debug on for the kexec files, before and after
// `echo integrity > /sys/kernel/security/lockdown`, and prints per call the result and what the kernel logged
// (dmesg -c). Last, with the capture kernel of the "panic-load" call still loaded, kx panic-on 0 writes "c" to
// /proc/sysrq-trigger from CPU 0; the capture kernel boots with its own small initramfs and prints
// /proc/vmcore's ELF headers and notes (kx vmcore), the vmcoreinfo text and the e820 it was given. One boot per
// release. Before the panic and the capture kernel's poweroff, kx drain waits until the serial port has sent
// everything (tcdrain): both drop the tty's unsent bytes, which lost the end of the console on a loaded host.

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

/** The guest's RAM, crash reservation and CPUs (QEMU pc, SeaBIOS). The suite runs the defaults; the variables
 *  run the same comparison on other guests by hand (e.g. VKEXEC_LINUX_MEM=6G VKEXEC_LINUX_CRASHKERNEL=256M,high). */
export const GUEST_MEM = process.env.VKEXEC_LINUX_MEM ?? '1G';
export const GUEST_CRASHKERNEL = process.env.VKEXEC_LINUX_CRASHKERNEL ?? '192M';
export const GUEST_CPUS = process.env.VKEXEC_LINUX_CPUS ?? '1';
/** The CPU the guest panics on (machine panic's model: CPU 0 panicked); VKEXEC_LINUX_PANIC_CPU tries another. */
export const PANIC_CPU = process.env.VKEXEC_LINUX_PANIC_CPU ?? '0';
/** The initrd the guest loads: a length that is not a page multiple, to show memsz rules. */
export const INITRD_LEN = 0x123456;
/** The command line every load passes (cmdline_len counts the NUL). */
export const LOAD_CMDLINE = 'console=ttyS0 panic=-1';
/** The capture kernel's command line for the real panic (panic=-1: a failing capture ends the QEMU run). */
export const CAPTURE_CMDLINE = 'console=ttyS0 panic=-1 loglevel=1 nr_cpus=1 reset_devices';
/** The byte of the signed image that the tampered copy flips: inside the PE .text (the compressed kernel). */
export const TAMPER_OFFSET = 0x400000;

/**
 * Symbols the releases' vmcoreinfo may name with SYMBOL() (kernel/crash_core.c crash_save_vmcoreinfo_init,
 * kernel/printk/printk.c log_buf_vmcoreinfo_setup, arch/x86/kernel/machine_kexec_64.c
 * arch_crash_save_vmcoreinfo, kernel/kallsyms.c), looked up in the guest's /proc/kallsyms.
 */
const VMCOREINFO_SYMBOL_CANDIDATES = [
  'init_uts_ns', 'node_online_map', 'swapper_pg_dir', '_stext', 'vmap_area_list', 'vmap_nodes', 'mem_map', 'contig_page_data', 'mem_section',
  'prb', 'printk_rb_static', 'clear_seq', 'log_buf', 'log_buf_len', 'init_top_pgt', 'node_data', 'phys_base', 'high_memory', 'vmemmap_base',
  'page_offset_base', 'vmalloc_base', 'kallsyms_names', 'kallsyms_num_syms', 'kallsyms_token_table', 'kallsyms_token_index', 'kallsyms_offsets',
  'kallsyms_relative_base', 'kallsyms_addresses', 'kallsyms_markers', 'kallsyms_seqs_of_names', '_text', '_end', 'init_task', 'vmcoreinfo_note',
  'node_states',
];

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
  // The capture kernel for the real panic at the end. It must be loaded before lockdown (the unsigned image) and
  // no ON_CRASH call may follow: kexec_file_load frees the loaded crash image before it checks the new one
  // (kernel/kexec_file.c, 6.1 and 6.12), so a lockdown ON_CRASH call here would leave nothing to panic into.
  ['panic-load', ['file', '/k/unsigned', '/k/capture', CAPTURE_CMDLINE, '2']],
  ['load-flag4', ['load', '4', '0x1000000', '0x1000']],
  ['load-flag2', ['load', '2', '0x1000000', '0x1000']],
  ['load', ['load', '0', '0x1000000', '0x1000']],
  ['load-unload', ['load-unload', '0']],
  ['lk-unsigned', ['file', '/k/unsigned', '/k/initrd', LOAD_CMDLINE, '0']],
  ['lk-tampered', ['file', '/k/tampered', '/k/initrd', LOAD_CMDLINE, '0']],
  ['lk-debug', ['file', '/k/signed', '/k/initrd', LOAD_CMDLINE, '8']],
  ['lk-signed', ['file', '/k/signed', '/k/initrd', LOAD_CMDLINE, '0']],
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
  /** /sys/firmware/memmap as "START-END : TYPE" lines. */
  memmap: string;
  /** /proc/kallsyms lines of VMCOREINFO_SYMBOL_CANDIDATES (nokaslr: the addresses System.map has). */
  kallsyms: string;
  /** What the capture kernel printed after the panic, by block: vmcore (kx vmcore's lines), e820, iomem, setup_data, random. */
  capture: Record<string, string[]>;
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
    // The firmware e820 (/sys/firmware/memmap), as machine init --memmap takes it.
    'echo "VKX-BEGIN memmap"; for d in $(ls /sys/firmware/memmap | sort -n); do f=/sys/firmware/memmap/$d; echo "$(cat $f/start)-$(cat $f/end) : $(cat $f/type)"; done; echo VKX-END',
    // The running kernel's addresses of the symbols vmcoreinfo names (nokaslr: System.map's), as a System.map.
    `echo "VKX-BEGIN kallsyms"; grep -E ' (${VMCOREINFO_SYMBOL_CANDIDATES.join('|')})$' /proc/kallsyms; echo VKX-END`,
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
    // setup_rng_seed adds the RNG seed only when crng is ready: record which it was at the capture kernel's load.
    if (name === 'panic-load') lines.push('/kx crng');
    lines.push(`run ${name} ${args.map(q).join(' ')}`);
  }
  // The panic drops what the serial port has not sent yet (the tty's buffer): drain it first.
  lines.push('echo VKX-DONE', '/kx drain', `/kx panic-on ${PANIC_CPU}`, 'sleep 5; reboot -f', '');
  return lines.join('\n');
}

/**
 * The capture kernel's /init: what it was given (the e820 table it printed at boot, its /proc/iomem) and what
 * /proc/vmcore shows, then power off. The same initramfs serves the real panic and `machine panic`.
 */
export function captureInitScript(): string {
  return [
    '#!/bin/sh',
    '/bin/busybox --install -s /bin',
    'export PATH=/bin',
    'mount -t proc proc /proc; mount -t sysfs sysfs /sys',
    'echo "VKX-CAPTURE $(cat /proc/sys/kernel/osrelease)"',
    'echo "VKX-BEGIN capture-vmcore"; /kx vmcore /proc/vmcore; echo VKX-END',
    'echo "VKX-BEGIN capture-e820"; dmesg | grep "BIOS-e820:"; echo VKX-END',
    'echo "VKX-BEGIN capture-iomem"; cat /proc/iomem; echo VKX-END',
    // The setup_data nodes the loader chained (arch/x86/kernel/ksysfs.c); a consumed RNG seed keeps its type 9.
    'echo "VKX-BEGIN capture-setup_data"; for d in $(ls /sys/kernel/boot_params/setup_data 2>/dev/null | sort -n); do echo "type=$(cat /sys/kernel/boot_params/setup_data/$d/type)"; done; echo VKX-END',
    'echo "VKX-BEGIN capture-random"; dmesg | grep -E "random:|crng"; echo VKX-END',
    'echo VKX-CAPTURE-DONE',
    '/kx drain', // poweroff -f drops what the serial port has not sent yet
    'poweroff -f; reboot -f',
    '',
  ].join('\n');
}

/** busybox, kx and an init script as a newc cpio. */
function smallInitramfs(kx: Uint8Array, init: string, extra: CpioEntry[]): Uint8Array {
  return buildCpio([
    ...['bin', 'dev', 'proc', 'sys', 'tmp', 'k'].map((p) => ({ type: 'dir' as const, path: p })),
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'bin/busybox', data: fs.readFileSync(fixture('busybox-amd64')), mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'kx', data: kx, mode: 0o755 },
    { type: 'file', path: 'init', data: Buffer.from(init), mode: 0o755 },
    ...extra,
  ]);
}

/** The files /k/NAME of the guest's initramfs (capture: the capture kernel's initramfs). */
const GUEST_FILES = ['unsigned', 'signed', 'tampered', 'initrd', 'capture'] as const;
export type GuestFile = (typeof GUEST_FILES)[number];

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
export function buildInitramfs(release: Release, dir: string): { cpio: string; files: Record<GuestFile, string> } {
  const kx = fs.readFileSync(buildKx(dir));
  const signed = fs.readFileSync(fixture(KERNELS[release].signed));
  const files = {
    unsigned: fixture(KERNELS[release].unsigned),
    signed: fixture(KERNELS[release].signed),
    tampered: path.join(dir, 'tampered'),
    initrd: path.join(dir, 'initrd'),
    capture: path.join(dir, 'capture.cpio'),
  };
  fs.writeFileSync(files.tampered, tampered(signed));
  fs.writeFileSync(files.initrd, initrdBytes());
  fs.writeFileSync(files.capture, smallInitramfs(kx, captureInitScript(), []));
  const guestFiles = GUEST_FILES.map((k) => ({ type: 'file' as const, path: `k/${k}`, data: fs.readFileSync(files[k]), mode: 0o644 }));
  const cpio = path.join(dir, `initramfs-${release}.cpio`);
  fs.writeFileSync(cpio, smallInitramfs(kx, initScript(), guestFiles));
  return { cpio, files };
}

export function guestCmdline(): string {
  const dyndbg = DYNDBG.map((f) => `file ${f} +p`).join('; ');
  return `console=ttyS0 panic=-1 quiet loglevel=1 nokaslr crashkernel=${GUEST_CRASHKERNEL} dyndbg="${dyndbg}"`;
}

/** Boots the release's unsigned kernel with the initramfs; resolves with the parsed console. */
export function bootGuest(release: Release, cpio: string, timeoutMs = 900_000): Promise<GuestRun> {
  const args = ['-accel', 'tcg', '-m', GUEST_MEM, '-smp', GUEST_CPUS, '-nographic', '-no-reboot', '-kernel', fixture(KERNELS[release].unsigned), '-initrd', cpio, '-append', guestCmdline()];
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run qemu-system-x86_64: ${e.message} (apt-get install qemu-system-x86)`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = out.replace(/\r/g, '');
      const how = timedOut ? `killed after the ${timeoutMs / 1000} s timeout` : `QEMU exited (${signal ?? `status ${code}`})`;
      if (!text.includes('VKX-DONE')) return reject(new Error(`the ${release} guest did not finish its calls: ${how}; console tail:\n${text.slice(-4000)}`));
      if (timedOut) return reject(new Error(`the ${release} guest's capture kernel did not power off: ${how}; console tail:\n${text.slice(-4000)}`));
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
  let memmap = '';
  let kallsyms = '';
  let boot: string[] = [];
  const capture: Record<string, string[]> = {};
  for (let i = 0; i < lines.length; i++) {
    const m = /^VKX-BEGIN (\S+)$/.exec(lines[i]!);
    if (!m) continue;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== 'VKX-END'; i++) body.push(lines[i]!);
    const name = m[1]!;
    if (name === 'iomem') iomem = body.join('\n') + '\n';
    else if (name === 'memmap') memmap = body.join('\n') + '\n';
    else if (name === 'kallsyms') kallsyms = body.join('\n') + '\n';
    else if (name === 'boot') boot = body.map(untime);
    else if (name.startsWith('capture-')) capture[name.slice('capture-'.length)] = body.map(untime);
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
  return { release, osrelease, iomem, memmap, kallsyms, boot, calls, views, capture, console: text };
}
