// `vkexec check` inputs: a kernel package (Debian .deb or RPM), a directory laid out like /boot or
// /lib/modules/VERSION, or a kernel file. Each is reduced to a kernel file on disk (extracted into the run's
// temporary directory when it came from a package), its release, its System.map and config when present, the
// modules a capture initramfs would need, and the machine architecture that runs it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { UsageError, fileErrorText } from '../errno.js';
import { isAr } from '../formats/ar.js';
import type { PackageFile } from '../formats/deb.js';
import { isRpm } from '../formats/rpm.js';
import { readField } from '../formats/struct.js';
import { SETUP_HEADER, XLF_KERNEL_64 } from '../formats/setup-header.js';
import type { MachineArch } from '../vm/machine/machine-config.js';

export interface CheckInput {
  /** The argument as given: the name of the input in every report. */
  arg: string;
  kind: 'deb' | 'rpm' | 'directory' | 'kernel';
  kernel: string;
  /** The kernel release: from the file name (vmlinuz-RELEASE) or the setup header's kernel_version string. */
  release: string | null;
  systemMap: string | null;
  config: string | null;
  /** virtio-blk's modules (virtio_pci, virtio_blk) found with the kernel: what a disk-writing capture initramfs needs. */
  modules: string[];
  arch: MachineArch;
  /** The --initrd given with a kernel file, else null (the check init is used). */
  initrd: string | null;
}

const KERNEL_NAME = /^vmlinu[xz]-(.+)$/;
const CAPTURE_MODULES = /\/(virtio_pci|virtio_blk|virtio_ring|virtio)\.ko(\.xz|\.zst)?$/;

/** Refusal of one input: a `vkexec:` line and a fix, as every other failure. */
function bad(arg: string, why: string, fix: string): UsageError {
  return new UsageError(`check: ${arg}: ${why}`, { hint: fix });
}

/**
 * The architecture a kernel file runs on: x86_64 for a bzImage with XLF_KERNEL_64 (boot protocol 2.12,
 * arch/x86/boot/header.S) or an ELF64 x86-64, i386 for other bzImages and ELF32 i386; anything else is another
 * architecture's kernel (arm64 Image, PE for another machine) or not a kernel.
 */
export function kernelArch(arg: string, head: Uint8Array): MachineArch {
  const b = Buffer.from(head.buffer, head.byteOffset, head.length);
  if (b.length >= 20 && b.readUInt32BE(0) === 0x7f454c46) {
    const machine = b.readUInt16LE(18);
    if (machine === 62) return 'x86_64';
    if (machine === 3) return 'i386';
    throw bad(arg, `an ELF kernel for another architecture (e_machine ${machine}; x86-64 is 62, i386 is 3)`, 'check an x86 kernel package (amd64, 686 or 686-pae)');
  }
  if (b.length >= 0x240 && readField(b, SETUP_HEADER.header) === 0x53726448) {
    return (Number(readField(b, SETUP_HEADER.xloadflags)) & XLF_KERNEL_64) !== 0 ? 'x86_64' : 'i386';
  }
  if (b.length >= 0x40 && b.readUInt32LE(0x38) === 0x644d5241) throw bad(arg, 'an arm64 kernel (Image magic "ARM\\x64" at 0x38), not an x86 one', 'check an x86 kernel package (amd64, 686 or 686-pae)');
  throw bad(arg, 'not an x86 kernel: neither a bzImage ("HdrS" at 0x202) nor an x86 ELF', 'give a kernel package (.deb), a /boot-like directory or a vmlinuz/bzImage file');
}

/** The setup header's kernel_version string (boot protocol 2.00+: offset - 0x200 of a NUL-terminated string). */
function headerRelease(k: Uint8Array): string | null {
  const b = Buffer.from(k.buffer, k.byteOffset, k.length);
  if (b.length < 0x240 || readField(b, SETUP_HEADER.header) !== 0x53726448) return null;
  const at = Number(readField(b, SETUP_HEADER.kernel_version));
  if (at === 0 || at + 0x200 >= b.length) return null;
  const text = b.subarray(at + 0x200, Math.min(b.length, at + 0x200 + 256)).toString('latin1').split('\0')[0]!;
  return /^\S+/.exec(text)?.[0] ?? null;
}

function readOrRefuse(arg: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw bad(arg, `cannot read ${file}: ${fileErrorText(e)}`, 'give a readable file');
  }
}

/** Where packages keep the kernel and its files: /boot/NAME-RELEASE (Debian) or /lib/modules/RELEASE/NAME (Fedora). */
export const PACKAGED_FILE = /^(?:boot\/(vmlinu[xz]|System\.map|config)-([^/]+)|(?:usr\/)?lib\/modules\/([^/]+)\/(vmlinuz|System\.map|config))$/;

function packaged(p: string): { name: string; release: string } | null {
  const m = PACKAGED_FILE.exec(p);
  return m ? { name: (m[1] ?? m[4])!, release: (m[2] ?? m[3])! } : null;
}

/** The package's files as check-read-worker.ts reads them on a worker thread; an unreadable package's reason. */
function readInWorker(file: string, kind: 'deb' | 'rpm'): Promise<{ files: PackageFile[] } | { error: string }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./check-read-worker.js', import.meta.url), { workerData: { file, kind } });
    w.once('message', (m: { files?: PackageFile[]; error?: string | null; internal?: string | null }) => {
      void w.terminate();
      if (m.files) resolve({ files: m.files });
      else if (m.error) resolve({ error: m.error });
      else reject(new Error(`reading ${file}: ${m.internal ?? 'the reader stopped'}`));
    });
    w.once('error', reject);
  });
}

/** A package (.deb or .rpm): the kernel, System.map and config are extracted to `tmp`; modules are listed. */
async function fromPackage(arg: string, tmp: string, kind: 'deb' | 'rpm'): Promise<Omit<CheckInput, 'arg' | 'initrd' | 'arch'>> {
  const read = await readInWorker(arg, kind);
  if ('error' in read) {
    const fix = kind === 'deb' ? 'download the package again (apt-get download PACKAGE) and check it with dpkg-deb --info' : 'download the package again and check it with rpm -K';
    throw bad(arg, `not a readable ${kind === 'deb' ? 'Debian' : 'RPM'} package: ${read.error}`, fix);
  }
  const files = read.files;
  const kernel = files.find((f) => f.data && packaged(f.path)?.name.startsWith('vmlinu'));
  if (!kernel) {
    throw bad(arg, `the package holds no kernel (no /boot/vmlinuz-* or /lib/modules/*/vmlinuz among its ${files.length} entries)`, 'give the kernel image package itself (linux-image-*, kernel-core), not a meta-package, headers or modules-only package');
  }
  const release = packaged(kernel.path)!.release;
  const save = (name: string): string | null => {
    const f = files.find((x) => x.data && packaged(x.path)?.name === name && packaged(x.path)?.release === release);
    if (!f?.data) return null;
    const out = path.join(tmp, `${name}-${release}`);
    fs.writeFileSync(out, f.data);
    return out;
  };
  return {
    kind,
    kernel: save(packaged(kernel.path)!.name)!,
    release,
    systemMap: save('System.map'),
    config: save('config'),
    modules: files.filter((f) => f.path.includes(`lib/modules/${release}/`) && CAPTURE_MODULES.test(f.path)).map((f) => f.path),
  };
}

/** A directory like /boot (vmlinuz-RELEASE, System.map-RELEASE, config-RELEASE) or /lib/modules/RELEASE (vmlinuz). */
function fromDirectory(arg: string, dir: string): Omit<CheckInput, 'arg' | 'initrd' | 'arch'> {
  const names = fs.readdirSync(dir).sort();
  const named = names.find((n) => /^vmlinu[xz]-/.test(n) && fs.statSync(path.join(dir, n)).isFile());
  const plain = names.find((n) => ['vmlinuz', 'bzImage', 'vmlinux'].includes(n));
  if (!named && !plain) throw bad(arg, 'the directory holds no vmlinuz-RELEASE, vmlinuz or bzImage', 'give a directory laid out like /boot or /lib/modules/RELEASE');
  const release = named ? KERNEL_NAME.exec(named)![1]! : /^\d+\.\d+/.test(path.basename(dir)) ? path.basename(dir) : null;
  const opt = (n: string) => (fs.existsSync(path.join(dir, n)) ? path.join(dir, n) : null);
  const moduleDir = release && fs.existsSync(path.join(dir, 'kernel')) ? dir : null;
  return {
    kind: 'directory',
    kernel: path.join(dir, (named ?? plain)!),
    release,
    systemMap: release ? (opt(`System.map-${release}`) ?? opt('System.map')) : opt('System.map'),
    config: release ? (opt(`config-${release}`) ?? opt('config')) : opt('config'),
    modules: moduleDir ? listModules(moduleDir) : [],
  };
}

function listModules(dir: string): string[] {
  const out: string[] = [];
  for (const sub of ['kernel/drivers/virtio', 'kernel/drivers/block']) {
    const d = path.join(dir, sub);
    if (fs.existsSync(d)) for (const n of fs.readdirSync(d).sort()) if (CAPTURE_MODULES.test(`/${n}`)) out.push(path.join(d, n));
  }
  return out;
}

/** Resolves one input; throws UsageError (a per-input failure) for anything it cannot check. */
export async function resolveInput(arg: string, tmp: string, initrd: string | null): Promise<CheckInput> {
  let st: fs.Stats;
  try {
    st = fs.statSync(arg);
  } catch (e) {
    throw bad(arg, `cannot open it: ${fileErrorText(e)}`, 'give the path of a .deb, a /boot-like directory or a kernel file');
  }
  let found: Omit<CheckInput, 'arg' | 'initrd' | 'arch'>;
  if (st.isDirectory()) found = fromDirectory(arg, arg);
  else {
    const buf = readOrRefuse(arg, arg);
    if (isAr(buf)) found = await fromPackage(arg, tmp, 'deb');
    else if (isRpm(buf)) found = await fromPackage(arg, tmp, 'rpm');
    else found = { kind: 'kernel', kernel: arg, release: headerRelease(buf), systemMap: null, config: null, modules: [] };
  }
  const head = readOrRefuse(arg, found.kernel).subarray(0, 0x1000);
  const arch = kernelArch(arg, head);
  if (found.release === null) found.release = headerRelease(readOrRefuse(arg, found.kernel));
  if (initrd !== null && found.kind !== 'kernel') throw bad(arg, '--initrd goes with a kernel file; a package or directory is checked with vkexec\'s own init', 'drop --initrd, or give the kernel file itself');
  return { arg, ...found, arch, initrd };
}
