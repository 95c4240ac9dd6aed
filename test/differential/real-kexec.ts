// The real kexec-tools binary (Debian's kexec, a test fixture) run on a vkexec machine's views: the views are
// rendered into a temporary tree and bind-mounted over /proc and /sys in a private mount namespace
// (`unshare -m`, root only), and kexec-shim.c, preloaded, dumps the kexec_load call instead of making it.
// Nothing here may pass quietly: a missing tool, a non-root run or a failed mount throws with what to do.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readState } from '../../src/vm/machine/machine.js';
import { readView } from '../../src/vm/machine/views.js';
import { fixture } from '../helpers/fixtures.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The C sources live beside the .ts files (tsc does not copy them to dist/). */
const SOURCE_DIR = path.resolve(HERE.replace(`${path.sep}dist${path.sep}`, path.sep));

export interface DumpSegment {
  mem: bigint;
  memsz: bigint;
  bufsz: number;
  bytes: Buffer;
}

export interface KexecLoadDump {
  entry: bigint;
  flags: bigint;
  segments: DumpSegment[];
}

export class HarnessError extends Error {}

function must(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new HarnessError(`${what}: cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new HarnessError(`${what}: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

export type KexecArch = 'x86_64' | 'i386';

export interface RealKexecTools {
  arch: KexecArch;
  kexec: string;
  libDir: string;
  shim: string;
  /** i386: the fixture's ld-linux.so.2, which runs kexec with --preload and --library-path (no multilib). */
  loader: string | null;
}

/**
 * Builds the shim (and, for x86_64, the libxenctrl stand-in) with gcc and copies the kexec fixture into `dir`.
 * i386: Debian's i386 kexec needs only libc.so.6; it runs under the fixture's own ld-linux.so.2 and the shim is
 * built with gcc -m32 without libc headers or libraries (the host has no 32-bit multilib).
 */
export function prepareRealKexec(dir: string, arch: KexecArch = 'x86_64'): RealKexecTools {
  if (process.getuid?.() !== 0) throw new HarnessError('the differential test must run as root (it bind-mounts views in a private mount namespace with unshare -m); CI runs it as root');
  must('unshare', ['-m', 'true'], 'unshare -m (util-linux) is needed to give the real kexec private /proc and /sys views');
  const kexec = path.join(dir, `kexec-${arch}`);
  fs.copyFileSync(fixture(arch === 'i386' ? 'kexec-i386' : 'kexec-amd64'), kexec);
  fs.chmodSync(kexec, 0o755);
  const shim = path.join(dir, `kexec-shim-${arch}.so`);
  const libDir = path.join(dir, `lib-${arch}`);
  fs.mkdirSync(libDir);
  if (arch === 'i386') {
    must('gcc', ['-m32', '-ffreestanding', '-nostdlib', '-O2', '-shared', '-fPIC', '-Wall', '-Werror', '-o', shim, path.join(SOURCE_DIR, 'kexec-shim.c')], 'building kexec-shim.c for i386 (gcc -m32)');
    const loader = path.join(libDir, 'ld-linux.so.2');
    fs.copyFileSync(fixture('ld-linux-i386.so.2'), loader);
    fs.chmodSync(loader, 0o755);
    fs.copyFileSync(fixture('libc-i386.so.6'), path.join(libDir, 'libc.so.6'));
    return { arch, kexec, libDir, shim, loader };
  }
  must('gcc', ['-O2', '-shared', '-fPIC', '-Wall', '-Werror', '-o', shim, path.join(SOURCE_DIR, 'kexec-shim.c'), '-ldl'], 'building kexec-shim.c');
  const map = path.join(dir, 'vers.map');
  fs.writeFileSync(map, 'VERS_4.17.0 { global: *; };\n');
  must('gcc', ['-O2', '-shared', '-fPIC', '-Wall', `-Wl,--version-script=${map}`, '-Wl,-soname,libxenctrl.so.4.17', '-o', path.join(libDir, 'libxenctrl.so.4.17'), path.join(SOURCE_DIR, 'xenctrl-stub.c')], 'building xenctrl-stub.c');
  return { arch, kexec, libDir, shim, loader: null };
}

/** Every file kexec-tools reads on x86, as the machine's views render them (null: absent on this machine). */
function viewFiles(machineDir: string): Map<string, string> {
  const state = readState(machineDir);
  const out = new Map<string, string>();
  const add = (p: string) => {
    const text = readView(state, p);
    if (text !== null) out.set(p, text);
  };
  for (const p of ['/proc/iomem', '/proc/cmdline', '/proc/kcore', '/proc/kallsyms', '/proc/mounts', '/sys/kernel/kexec_loaded', '/sys/kernel/kexec_crash_loaded', '/sys/kernel/kexec_crash_size', '/sys/kernel/vmcoreinfo', '/sys/kernel/boot_params/data', '/sys/devices/system/cpu/possible']) add(p);
  const entries = (readView(state, '/sys/firmware/memmap') ?? '').split('\n').filter(Boolean);
  for (const n of entries) for (const f of ['start', 'end', 'type']) add(`/sys/firmware/memmap/${n}/${f}`);
  for (let cpu = 0; cpu < state.config.cpus; cpu++) for (const f of ['crash_notes', 'crash_notes_size']) add(`/sys/devices/system/cpu/cpu${cpu}/${f}`);
  return out;
}

/**
 * A shell script that replaces /proc and /sys with tmpfs copies of the rendered tree, then runs kexec: the
 * real kexec sees the machine's files and nothing of the host's (kexec needs no other /proc, /sys or /dev file).
 */
function mountScript(root: string): string {
  const lines = ['set -e'];
  for (const d of ['/proc', '/sys']) lines.push(`mount -t tmpfs vkexec-views ${d}`, `cp -a ${root}${d}/. ${d}/`);
  // An empty /dev: no host framebuffer (/dev/fb0) for setup_linux_vesafb to find; the machine has none.
  lines.push('mount -t tmpfs vkexec-dev /dev');
  lines.push('exec "$@"');
  return lines.join('\n');
}

export interface RealRun {
  code: number;
  stdout: string;
  stderr: string;
  dump: KexecLoadDump | null;
  /** Wall time of the unshare + kexec process alone (bench/compare.ts), without rendering or parsing. */
  wallMs: number;
}

/** Runs `kexec ARGS` (the real one) on the machine's views; the dump is null when kexec made no kexec_load call. */
export function runRealKexec(tools: RealKexecTools, machineDir: string, args: string[], work: string): RealRun {
  const root = fs.mkdtempSync(path.join(work, 'views-'));
  const files = viewFiles(machineDir);
  for (const [p, text] of files) {
    fs.mkdirSync(path.dirname(root + p), { recursive: true });
    fs.writeFileSync(root + p, Buffer.from(text, 'latin1'));
  }
  for (const d of ['proc', 'sys']) fs.mkdirSync(path.join(root, d), { recursive: true });
  const out = path.join(root, 'dump.bin');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', VKEXEC_SHIM_OUT: out };
  let command: string[];
  if (tools.loader) {
    // The 32-bit shim is preloaded by the i386 loader alone (LD_PRELOAD would reach the 64-bit sh too), and
    // uname says i686, as on an i386 machine (kexec-tools' physical_arch maps uname's machine to the arch).
    command = [tools.loader, '--library-path', tools.libDir, '--preload', tools.shim, tools.kexec];
    env.VKEXEC_SHIM_MACHINE = 'i686';
  } else {
    command = [tools.kexec];
    Object.assign(env, { LD_LIBRARY_PATH: tools.libDir, LD_PRELOAD: tools.shim });
  }
  const t0 = process.hrtime.bigint();
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', mountScript(root), 'sh', ...command, ...args], { encoding: 'utf8', env });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw new HarnessError(`cannot run unshare: ${r.error.message}`);
  if (/mount: /.test(r.stderr)) throw new HarnessError(`mounting the views failed: ${r.stderr.trim()}`);
  const dump = fs.existsSync(out) ? parseDump(fs.readFileSync(out)) : null;
  fs.rmSync(root, { recursive: true, force: true });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, dump, wallMs };
}

/** kexec-shim.c's format: "VKXSHIM1", entry, flags, nr, then per segment mem, memsz, bufsz and the bytes. */
export function parseDump(b: Buffer): KexecLoadDump {
  if (b.subarray(0, 8).toString('latin1') !== 'VKXSHIM1') throw new HarnessError('kexec-shim dump: bad magic');
  const entry = b.readBigUInt64LE(8);
  const flags = b.readBigUInt64LE(16);
  const nr = Number(b.readBigUInt64LE(24));
  const segments: DumpSegment[] = [];
  let off = 32;
  for (let i = 0; i < nr; i++) {
    const mem = b.readBigUInt64LE(off);
    const memsz = b.readBigUInt64LE(off + 8);
    const bufsz = Number(b.readBigUInt64LE(off + 16));
    off += 24;
    segments.push({ mem, memsz, bufsz, bytes: b.subarray(off, off + bufsz) });
    off += bufsz;
  }
  if (off !== b.length) throw new HarnessError(`kexec-shim dump: ${b.length - off} trailing bytes`);
  return { entry, flags, segments };
}
