#!/usr/bin/env node
// Test fixtures: real Debian kernels and busybox initramfs images, cached in test/fixtures/cache/ (gitignored).
// Run by `npm test` after `tsc` (it needs dist/src/formats/cpio.js). Idempotent: a fixture whose source package
// is unchanged is not fetched again. Needs apt-get, apt-cache, dpkg, dpkg-deb and network access to Debian's
// archive the first time; exits non-zero with a message saying what failed otherwise.
//
// To add a fixture: add a package to PACKAGES (if it needs a new .deb) and an entry to FIXTURES, either
// {pkg, member} (a file from a .deb), {inputs, recipe, build(paths)} (bytes made from earlier fixtures; the
// recipe string names how, so a changed recipe rebuilds) or {pkg, inputs, recipe, build(paths, deb)} (made from
// a .deb and earlier fixtures); the manifest and the cache check follow from the table. Planned: a ~1 MiB plain
// initrd (pattern data for placement tests).

import { spawnSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import tarStream from 'tar-stream';
import { debianInitrd } from './debian-initrd.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE = join(ROOT, 'test/fixtures/cache');
const MANIFEST = join(CACHE, 'manifest.json');
const SOURCES = join(CACHE, 'sources.json'); // fixture name -> the package versions and inputs it was built from
const CPIO_JS = join(ROOT, 'dist/src/formats/cpio.js');

/** Debian packages, resolved to exact names (meta-packages through their dependency). */
const PACKAGES = {
  'kernel-amd64': { meta: 'linux-image-amd64' }, // signed: linux-image-<abi>-amd64
  'kernel-amd64-unsigned': { meta: 'linux-image-amd64', suffix: '-unsigned' },
  'kernel-686': { meta: 'linux-image-686:i386', foreign: 'i386' },
  // Debian bookworm's 6.12 kernel (bookworm-backports/security; the meta-package names the newest ABI).
  'kernel-612-amd64': { meta: 'linux-image-6.12-amd64' },
  'kernel-612-amd64-unsigned': { meta: 'linux-image-6.12-amd64', suffix: '-unsigned' },
  'busybox-amd64': { name: 'busybox-static:amd64' },
  'busybox-i386': { name: 'busybox-static:i386', foreign: 'i386' },
  'xen-amd64': { name: 'xen-hypervisor-4.17-amd64' }, // a multiboot v1 + v2 image (issue 14)
  'kexec-tools': { name: 'kexec-tools' }, // the real kexec for test/differential (Debian 12: 2.0.25)
  // Debian's i386 kexec and the i386 glibc it runs on (its own ld-linux.so.2, no multilib needed).
  'kexec-tools-i386': { name: 'kexec-tools:i386', foreign: 'i386' },
  'libc6-i386': { name: 'libc6:i386', foreign: 'i386' },
  'systemd-boot-efi': { name: 'systemd-boot-efi' }, // linuxx64.efi.stub, the EFI stub of unified kernel images (issue 14)
};

/** The command line and os-release the test UKI embeds (test/loaders/uki.test.ts checks kexec-tools ignores the first). */
export const UKI_CMDLINE = 'console=ttyS0 panic=-1 vkexec.uki=embedded';
const UKI_OSREL = 'ID=debian\nVERSION_ID=12\nPRETTY_NAME="vkexec test UKI"\n';

/** The marker line the test initramfs prints once /init runs; the kernel command line follows it. */
export const INIT_MARKER = 'VKEXEC-INIT-OK';

const INIT_SCRIPT = `#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
echo ${INIT_MARKER}
/bin/busybox cat /proc/cmdline
/bin/busybox reboot -f
`;

/** Lines the kdump capture initramfs prints (its /init saves /proc/vmcore to /dev/vda from offset 0). */
export const KDUMP_MARKERS = {
  saved: 'VKEXEC-KDUMP-SAVED', // size=N: N bytes of /proc/vmcore are on /dev/vda
  vmcore: 'VKEXEC-KDUMP-VMCORE', // size=N: /proc/vmcore exists (printed before the copy)
  noDisk: 'VKEXEC-KDUMP-NODISK', // no /dev/vda appeared: nothing saved
  failed: 'VKEXEC-KDUMP-FAILED', // followed by what failed
};

/** The modules the capture kernel needs for /dev/vda (virtio-blk on virtio-pci); their depends= add the rest. */
const KDUMP_MODULES = ['virtio_pci', 'virtio_blk'];

const KDUMP_INIT = (modules) => `#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
${modules.map((m) => `insmod /lib/modules/${m}.ko || echo "${KDUMP_MARKERS.failed} insmod ${m}"`).join('\n')}
if [ ! -e /proc/vmcore ]; then
  echo "${KDUMP_MARKERS.failed} no /proc/vmcore: this kernel was not started as a crash kernel (elfcorehdr=)"
  reboot -f
fi
size=$(stat -c %s /proc/vmcore)
echo "${KDUMP_MARKERS.vmcore} size=$size"
i=0
while [ ! -b /dev/vda ] && [ $i -lt 10 ]; do sleep 1; i=$((i + 1)); done
if [ ! -b /dev/vda ]; then
  echo "${KDUMP_MARKERS.noDisk} size=$size"
elif [ "$(blockdev --getsize64 /dev/vda)" -lt "$size" ]; then
  echo "${KDUMP_MARKERS.failed} /dev/vda holds $(blockdev --getsize64 /dev/vda) bytes, the dump needs $size"
elif dd if=/proc/vmcore of=/dev/vda bs=1M conv=fsync 2>/tmp/dd.log; then
  sync
  echo "${KDUMP_MARKERS.saved} size=$size"
else
  echo "${KDUMP_MARKERS.failed} dd: $(cat /tmp/dd.log)"
fi
reboot -f
`;

const FIXTURES = [
  { name: 'vmlinuz-amd64', pkg: 'kernel-amd64', member: /^\.?\/boot\/vmlinuz-/ },
  { name: 'vmlinuz-amd64-unsigned', pkg: 'kernel-amd64-unsigned', member: /^\.?\/boot\/vmlinuz-/ },
  { name: 'vmlinuz-686', pkg: 'kernel-686', member: /^\.?\/boot\/vmlinuz-/ },
  // The 6.12 kernels for the real-kernel differential test (test/differential/linux-kexec.test.ts).
  { name: 'vmlinuz-612-amd64', pkg: 'kernel-612-amd64', member: /^\.?\/boot\/vmlinuz-/ },
  { name: 'vmlinuz-612-amd64-unsigned', pkg: 'kernel-612-amd64-unsigned', member: /^\.?\/boot\/vmlinuz-/ },
  { name: 'busybox-amd64', pkg: 'busybox-amd64', member: /^\.?\/(usr\/)?bin\/busybox$/ },
  { name: 'busybox-i386', pkg: 'busybox-i386', member: /^\.?\/(usr\/)?bin\/busybox$/ },
  { name: 'xen-4.17-amd64.gz', pkg: 'xen-amd64', member: /^\.?\/boot\/xen-4\.17-amd64\.gz$/ },
  { name: 'kexec-amd64', pkg: 'kexec-tools', member: /^\.?\/(usr\/)?sbin\/kexec$/ },
  { name: 'kexec-i386', pkg: 'kexec-tools-i386', member: /^\.?\/(usr\/)?sbin\/kexec$/ },
  { name: 'ld-linux-i386.so.2', pkg: 'libc6-i386', member: /^\.?\/(usr\/)?lib\/i386-linux-gnu\/ld-linux\.so\.2$/ },
  { name: 'libc-i386.so.6', pkg: 'libc6-i386', member: /^\.?\/(usr\/)?lib\/i386-linux-gnu\/libc\.so\.6$/ },
  { name: 'linuxx64.efi.stub', pkg: 'systemd-boot-efi', member: /^\.?\/usr\/lib\/systemd\/boot\/efi\/linuxx64\.efi\.stub$/ },
  // The kernel packages themselves, as `apt-get download` gives them, for `vkexec check` (test/check/).
  { name: 'linux-image-amd64.deb', pkg: 'kernel-amd64', inputs: [], ...wholeDeb() },
  { name: 'linux-image-amd64-unsigned.deb', pkg: 'kernel-amd64-unsigned', inputs: [], ...wholeDeb() },
  { name: 'linux-image-686.deb', pkg: 'kernel-686', inputs: [], ...wholeDeb() },
  { name: 'linux-image-612-amd64.deb', pkg: 'kernel-612-amd64', inputs: [], ...wholeDeb() },
  { name: 'initramfs-busybox-amd64.cpio', inputs: ['busybox-amd64'], ...busyboxInitramfs('busybox-amd64') },
  { name: 'initramfs-busybox-i386.cpio', inputs: ['busybox-i386'], ...busyboxInitramfs('busybox-i386') },
  // Capture initramfs for kdump tests: busybox plus the kernel package's virtio modules; /init copies
  // /proc/vmcore to /dev/vda and prints KDUMP_MARKERS. Built from the .deb of the kernel it must match.
  { name: 'initramfs-kdump-amd64.cpio', pkg: 'kernel-amd64-unsigned', inputs: ['busybox-amd64'], ...kdumpInitramfs('busybox-amd64') },
  // Debian's own initrd.img for that kernel: mkinitramfs (initramfs-tools, early AMD microcode, zstd) from
  // downloaded packages in a private mount namespace; see debian-initrd.mjs.
  { name: 'initrd.img-amd64', inputs: ['linux-image-amd64.deb'], ...debianInitrd('linux-image-amd64.deb', CACHE, (msg) => new FixtureError(msg)) },
  // A unified kernel image as systemd-stub(7) documents building one by hand: objcopy adds .osrel, .cmdline,
  // .linux (Debian's signed kernel) and .initrd (the busybox initramfs) to systemd's linuxx64.efi.stub. Unsigned:
  // the UKI test signs it with a key of its own (sbsign).
  { name: 'uki-amd64.efi', inputs: ['linuxx64.efi.stub', 'vmlinuz-amd64', 'initramfs-busybox-amd64.cpio'], ...ukiImage() },
  // The amd64 kernel's payload decompressed by xz-utils (independent of our decoder): vmlinux ELF + relocs.
  { name: 'vmlinux-amd64', inputs: ['vmlinuz-amd64-unsigned'], ...vmlinuxOf('vmlinuz-amd64-unsigned') },
  // The 686 kernel's vmlinux (ELF32), likewise: test/differential loads it with the real i386 kexec.
  { name: 'vmlinux-686', inputs: ['vmlinuz-686'], ...vmlinuxOf('vmlinuz-686') },
  // That vmlinux compressed as arch/x86/boot/compressed/Makefile does for each CONFIG_KERNEL_* choice
  // (scripts/Makefile.lib cmd_gzip, cmd_bzip2_with_size, ...): the size trailer of size_append included.
  // lz4: 6.1's `lz4 -l -c1 stdin stdout` is refused by lz4 1.9.4's CLI; later kernels' `lz4 -l -9 - -` is used.
  { name: 'payload-amd64.gzip', inputs: ['vmlinux-amd64'], ...kernelPayload('vmlinux-amd64', 'gzip', ['-n', '-f', '-9'], false) },
  { name: 'payload-amd64.bzip2', inputs: ['vmlinux-amd64'], ...kernelPayload('vmlinux-amd64', 'bzip2', ['-9'], true) },
  { name: 'payload-amd64.lzma', inputs: ['vmlinux-amd64'], ...kernelPayload('vmlinux-amd64', 'lzma', ['-9'], true) },
  { name: 'payload-amd64.lz4', inputs: ['vmlinux-amd64'], ...kernelPayload('vmlinux-amd64', 'lz4', ['-l', '-9', '-', '-'], true) },
  { name: 'payload-amd64.zstd', inputs: ['vmlinux-amd64'], ...kernelPayload('vmlinux-amd64', 'zstd', ['-22', '--ultra', '-q'], true) },
];

/** Debian packages of the tools the built fixtures run (CI installs them). */
const TOOL_PACKAGES = { gzip: 'gzip', bzip2: 'bzip2', lzma: 'xz-utils', xz: 'xz-utils', lz4: 'lz4', zstd: 'zstd', objcopy: 'binutils' };


function ukiImage() {
  const args = (dir, linuxVma, initrdVma) => [
    '--add-section', `.osrel=${join(dir, 'osrel')}`, '--change-section-vma', '.osrel=0x20000',
    '--add-section', `.cmdline=${join(dir, 'cmdline')}`, '--change-section-vma', '.cmdline=0x30000',
    '--add-section', `.linux=${join(dir, 'linux')}`, '--change-section-vma', `.linux=0x${linuxVma.toString(16)}`,
    '--add-section', `.initrd=${join(dir, 'initrd')}`, '--change-section-vma', `.initrd=0x${initrdVma.toString(16)}`,
    join(dir, 'stub'), join(dir, 'uki'),
  ];
  return {
    recipe: `objcopy ${args('.', 0x2000000, 0).join(' ')} cmdline=${UKI_CMDLINE}`,
    build: (paths) => {
      const stub = readFileSync(paths['linuxx64.efi.stub']);
      // The added sections must lie above the stub's image (SizeOfImage, optional header offset 56).
      const imageSize = stub.readUInt32LE(stub.readUInt32LE(0x3c) + 24 + 56);
      if (imageSize > 0x20000) throw new FixtureError(`linuxx64.efi.stub's SizeOfImage 0x${imageSize.toString(16)} overlaps the UKI sections at 0x20000: move them`);
      const linux = readFileSync(paths['vmlinuz-amd64']);
      const dir = join(CACHE, '.build-uki');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      try {
        writeFileSync(join(dir, 'stub'), stub);
        writeFileSync(join(dir, 'osrel'), UKI_OSREL);
        writeFileSync(join(dir, 'cmdline'), UKI_CMDLINE);
        writeFileSync(join(dir, 'linux'), linux);
        writeFileSync(join(dir, 'initrd'), readFileSync(paths['initramfs-busybox-amd64.cpio']));
        const linuxVma = 0x2000000;
        const initrdVma = Math.ceil((linuxVma + linux.length) / 0x1000000) * 0x1000000;
        tool('objcopy', args(dir, linuxVma, initrdVma));
        return readFileSync(join(dir, 'uki'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

function tool(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  if (r.error) throw new FixtureError(`cannot run ${cmd}: ${r.error.message} (apt-get install ${TOOL_PACKAGES[cmd] ?? cmd})`);
  if (r.status !== 0) throw new FixtureError(`\`${cmd} ${args.join(' ')}\` failed (exit ${r.status}): ${r.stderr.toString().trim()}`);
  return r.stdout;
}

/** Boot protocol 2.08+: the payload sits payload_offset bytes into the protected-mode code; xz-utils decodes it. */
function vmlinuxOf(bzImage) {
  return {
    recipe: 'xz -dc of the payload without its 4-byte size trailer',
    build: (paths) => {
      const k = readFileSync(paths[bzImage]);
      const start = ((k[0x1f1] || 4) + 1) * 512 + k.readUInt32LE(0x248);
      const payload = k.subarray(start, start + k.readUInt32LE(0x24c));
      return tool('xz', ['-dc'], payload.subarray(0, payload.length - 4));
    },
  };
}

function kernelPayload(input, cmd, args, sizeAppend) {
  return {
    recipe: `${cmd} ${args.join(' ')}${sizeAppend ? ' + size_append' : ''}`,
    build: (paths) => {
      const data = readFileSync(paths[input]);
      const compressed = tool(cmd, args, data);
      if (!sizeAppend) return compressed;
      const size = Buffer.alloc(4);
      size.writeUInt32LE(data.length);
      return Buffer.concat([compressed, size]);
    },
  };
}

class FixtureError extends Error {}

function sha256(b) {
  return createHash('sha256').update(b).digest('hex');
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw new FixtureError(`cannot run ${cmd}: ${r.error.message} (install it: it is part of Debian's apt/dpkg)`);
  return r;
}

function must(cmd, args, opts = {}) {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new FixtureError(`\`${cmd} ${args.join(' ')}\` failed (exit ${r.status}):\n${(r.stderr || r.stdout || '').trim()}`);
  return r.stdout;
}

let updated = false;
function aptUpdate() {
  if (updated) return;
  console.error('fixtures: apt-get update');
  // A mirror mid-sync fails one index now and then: apt keeps the lists it had, and a package that is then
  // really missing fails its own look-up or download below with apt's words.
  const r = run('apt-get', ['update', '-q']);
  if (r.status !== 0) console.error(`fixtures: apt-get update failed in part (exit ${r.status}); going on with the lists apt has:\n${(r.stderr || '').trim()}`);
  updated = true;
}

function ensureForeignArch(arch) {
  const foreign = must('dpkg', ['--print-foreign-architectures']).split(/\s+/);
  if (foreign.includes(arch)) return;
  console.error(`fixtures: dpkg --add-architecture ${arch}`);
  must('dpkg', ['--add-architecture', arch]);
  updated = false;
  aptUpdate();
}

/** Splits apt-cache output into blocks keyed by their unindented first line (without a trailing colon). */
function aptBlocks(text) {
  const blocks = new Map();
  let current;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) blocks.set((current = line.replace(/:$/, '')), []);
    else if (current) blocks.get(current).push(line.trim());
  }
  return blocks;
}

/** apt-cache names native-architecture packages without their ":arch". */
let nativeArch;
function aptName(pkg) {
  nativeArch ??= must('dpkg', ['--print-architecture']).trim();
  return pkg.endsWith(`:${nativeArch}`) ? pkg.slice(0, -nativeArch.length - 1) : pkg;
}

/**
 * Exact package names and candidate versions for the given PACKAGES keys, with two apt-cache calls (each
 * loads the whole package cache, about a second): a meta-package resolves to its linux-image dependency
 * (plus a suffix), other names stand as they are. Runs apt-get update once if a name does not resolve.
 */
function resolvePackages(keys) {
  for (const k of keys) if (PACKAGES[k].foreign) ensureForeignArch(PACKAGES[k].foreign);
  const attempt = () => {
    const metas = [...new Set(keys.map((k) => PACKAGES[k].meta).filter(Boolean))];
    const deps = metas.length ? aptBlocks(run('apt-cache', ['depends', ...metas]).stdout ?? '') : new Map();
    const names = {};
    for (const k of keys) {
      const spec = PACKAGES[k];
      if (!spec.meta) {
        names[k] = spec.name;
        continue;
      }
      const dep = (deps.get(aptName(spec.meta)) ?? []).map((l) => /^Depends: (linux-image-\S+)/.exec(l)?.[1]).find(Boolean);
      if (!dep) return null;
      const [name, arch] = dep.split(':');
      names[k] = name + (spec.suffix ?? '') + (arch ? `:${arch}` : '');
    }
    const policy = aptBlocks(run('apt-cache', ['policy', ...Object.values(names)]).stdout ?? '');
    const out = {};
    for (const k of keys) {
      const version = (policy.get(aptName(names[k])) ?? []).map((l) => /^Candidate: (\S+)/.exec(l)?.[1]).find(Boolean);
      if (!version || version === '(none)') return null;
      out[k] = { package: names[k], version };
    }
    return out;
  };
  let out = attempt();
  if (!out) {
    aptUpdate();
    out = attempt();
  }
  if (!out) {
    const what = keys.map((k) => PACKAGES[k].meta ?? PACKAGES[k].name).join(', ');
    throw new FixtureError(`cannot resolve the Debian packages ${what} with apt-cache (after apt-get update)`);
  }
  return out;
}

/** apt-get download into a scratch directory; on failure, apt-get update once and try again. */
function download(pkg) {
  const dir = join(CACHE, '.download');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777); // apt's _apt user downloads into it (else apt warns and downloads unsandboxed)
  console.error(`fixtures: apt-get download ${pkg}`);
  let r = run('apt-get', ['download', '-q', pkg], { cwd: dir });
  if (r.status !== 0 && !updated) {
    aptUpdate();
    r = run('apt-get', ['download', '-q', pkg], { cwd: dir });
  }
  if (r.status !== 0) {
    throw new FixtureError(
      `cannot download ${pkg} (no network or no such package?):\n${(r.stderr || r.stdout).trim()}\n` +
        'The tests need real Debian packages; run this again where Debian\'s archive is reachable.',
    );
  }
  const deb = readdirSync(dir).find((f) => f.endsWith('.deb'));
  if (!deb) throw new FixtureError(`apt-get download ${pkg} produced no .deb`);
  return join(dir, deb);
}

/** The members of the .deb's data archive whose paths match `re` (only the first unless `all`), via dpkg-deb --fsys-tarfile. */
function extractMembers(deb, re, all) {
  return new Promise((resolveP, reject) => {
    const child = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
    const extract = tarStream.extract();
    const found = [];
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => reject(new FixtureError(`cannot run dpkg-deb: ${e.message}`)));
    extract.on('entry', (header, stream, next) => {
      if ((all || found.length === 0) && header.type === 'file' && re.test(header.name)) {
        const parts = [];
        stream.on('data', (d) => parts.push(d));
        stream.on('end', () => {
          found.push({ name: header.name, data: Buffer.concat(parts) });
          next();
        });
      } else {
        stream.on('end', next);
        stream.resume();
      }
    });
    extract.on('error', (e) => reject(new FixtureError(`reading ${deb}: ${e.message}`)));
    extract.on('finish', () => {
      if (found.length) resolveP(found);
      else reject(new FixtureError(`${deb} has no member matching ${re}${stderr ? `\n${stderr}` : ''}`));
    });
    child.stdout.pipe(extract);
  });
}

async function extractMember(deb, re) {
  return (await extractMembers(deb, re, false))[0];
}

/** A module's .modinfo "depends=" list (NUL-separated KEY=VALUE strings in the .ko). */
function moduleDepends(ko) {
  const m = /\0depends=([^\0]*)\0/.exec(ko.toString('latin1'));
  return m && m[1] ? m[1].split(',') : [];
}

/** Module bytes as insmod takes them: .ko.xz and .ko.zst (newer Debian kernels) decompressed here. */
function plainModule(name, data) {
  if (name.endsWith('.ko.xz')) return tool('xz', ['-dc'], data);
  if (name.endsWith('.ko.zst')) return tool('zstd', ['-dc'], data);
  return data;
}

function kdumpInitramfs(busyboxFixture) {
  const dirs = ['bin', 'dev', 'proc', 'sys', 'tmp', 'lib', 'lib/modules'];
  const entries = (busybox, modules) => [
    ...dirs.map((path) => ({ type: 'dir', path })),
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    ...modules.map((m) => ({ type: 'file', path: `lib/modules/${m.name}.ko`, data: m.data, mode: 0o644 })),
    { type: 'file', path: 'init', data: Buffer.from(KDUMP_INIT(modules.map((m) => m.name))), mode: 0o755 },
  ];
  return {
    recipe: () => sha256(readFileSync(CPIO_JS, 'utf8') + JSON.stringify(entries(Buffer.alloc(0), KDUMP_MODULES.map((name) => ({ name, data: Buffer.alloc(0) }))))),
    build: async (paths, deb) => {
      const found = await extractMembers(deb, /^\.?\/lib\/modules\/[^/]+\/kernel\/drivers\/(virtio|block)\/[^/]+\.ko(\.xz|\.zst)?$/, true);
      const byName = new Map(found.map((f) => [f.name.replace(/^.*\//, '').replace(/\.ko(\.xz|\.zst)?$/, '').replace(/-/g, '_'), plainModule(f.name, f.data)]));
      // insmod order: every module after the modules it depends on.
      const order = [];
      const visit = (name, chain) => {
        if (order.some((m) => m.name === name)) return;
        if (chain.includes(name)) throw new FixtureError(`module dependency loop: ${[...chain, name].join(' -> ')}`);
        const data = byName.get(name);
        if (!data) throw new FixtureError(`${deb} has no module ${name}.ko under drivers/virtio or drivers/block (needed for virtio-blk)`);
        for (const dep of moduleDepends(data)) visit(dep, [...chain, name]);
        order.push({ name, data });
      };
      for (const m of KDUMP_MODULES) visit(m, []);
      const { buildCpio } = await import(CPIO_JS);
      return buildCpio(entries(readFileSync(paths[busyboxFixture]), order));
    },
  };
}

/** The .deb as downloaded (for tests that read packages themselves). */
function wholeDeb() {
  return { recipe: () => 'the .deb as apt-get download gives it', build: (_paths, deb) => readFileSync(deb) };
}

function busyboxInitramfs(busyboxFixture) {
  const dirs = ['bin', 'dev', 'proc', 'sys', 'sbin', 'tmp', 'root', 'usr', 'usr/bin', 'usr/sbin'];
  const entries = (busybox) => [
    ...dirs.map((path) => ({ type: 'dir', path })),
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'init', data: Buffer.from(INIT_SCRIPT), mode: 0o755 },
  ];
  return {
    // The archive changes when the writer, the layout or the script does.
    recipe: () => sha256(readFileSync(CPIO_JS, 'utf8') + JSON.stringify(entries(Buffer.alloc(0)))),
    build: async (paths) => {
      const { buildCpio } = await import(CPIO_JS);
      return buildCpio(entries(readFileSync(paths[busyboxFixture])));
    },
  };
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}

function writeAtomic(file, data) {
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
}

async function main() {
  if (!existsSync(CPIO_JS)) throw new FixtureError(`${CPIO_JS} is missing: build first (npx tsc -p .)`);
  mkdirSync(CACHE, { recursive: true });
  const manifest = readJson(MANIFEST);
  const sources = readJson(SOURCES);
  const paths = {};
  const resolved = resolvePackages([...new Set(FIXTURES.filter((f) => f.pkg).map((f) => f.pkg))]);
  for (const f of FIXTURES) {
    const file = join(CACHE, f.name);
    let source;
    if (f.pkg && f.build) {
      // Built from a package and earlier fixtures.
      source = { ...resolved[f.pkg], inputs: Object.fromEntries(f.inputs.map((i) => [i, sources[i]?.sha256])), recipe: f.recipe() };
    } else if (f.pkg) {
      source = { ...resolved[f.pkg] };
    } else {
      // Built fixtures depend on their inputs' contents and on their recipe.
      source = { inputs: Object.fromEntries(f.inputs.map((i) => [i, sources[i]?.sha256])), recipe: typeof f.recipe === 'function' ? f.recipe() : f.recipe };
    }
    const key = JSON.stringify(source);
    const old = sources[f.name];
    if (old?.key === key && existsSync(file) && sha256(readFileSync(file)) === old.sha256) {
      paths[f.name] = file;
      continue;
    }
    let data;
    if (f.pkg && f.build) {
      const deb = download(source.package);
      data = await f.build(paths, deb);
      rmSync(dirname(deb), { recursive: true, force: true });
    } else if (f.pkg) {
      const deb = download(source.package);
      const member = await extractMember(deb, f.member);
      rmSync(dirname(deb), { recursive: true, force: true });
      source.member = member.name;
      data = member.data;
    } else {
      data = await f.build(paths);
    }
    writeAtomic(file, data);
    sources[f.name] = { ...source, key, sha256: sha256(data) };
    paths[f.name] = file;
    console.error(`fixtures: ${f.name} (${data.length} bytes)`);
    writeAtomic(SOURCES, JSON.stringify(sources, null, 2) + '\n');
  }
  for (const f of FIXTURES) manifest[f.name] = f.name;
  writeAtomic(MANIFEST, JSON.stringify(manifest, null, 2) + '\n');
  writeAtomic(SOURCES, JSON.stringify(sources, null, 2) + '\n');
}

main().catch((e) => {
  const msg = e instanceof FixtureError ? e.message : e.stack;
  console.error(`fixtures: FAILED: ${msg}\nTest fixtures are incomplete; the tests that need them will fail. Fix the above and run \`node test/setup/fixtures.mjs\`.`);
  process.exit(1);
});
