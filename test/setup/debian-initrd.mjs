// The fixture initrd.img-amd64: a real Debian initrd.img as initramfs-tools makes it on bookworm (an uncompressed
// early cpio with AMD microcode, then the zstd-compressed main cpio with /init, busybox, klibc and the kernel's
// modules, MODULES=most), for `vkexec inspect` (test/cli/inspect-debian-initrd.test.ts).
//
// Nothing is installed on the host: the packages are fetched with `apt-get download` (amd64-microcode is in
// non-free-firmware, which a stock bookworm's sources lack: it comes through a private apt state in the scratch
// directory, from the same archive the host's sources name), unpacked into a scratch root, and mkinitramfs runs
// in a private mount namespace (`unshare -m`) where read-only overlays put that root over /usr, /etc and /boot
// (writes to /usr, i.e. depmod's, land in the scratch directory). Needs root, util-linux's unshare and overlayfs.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The packages mkinitramfs needs beyond the host's essential ones (libkmod2: kmod's library, not essential). */
const MAIN_PACKAGES = ['initramfs-tools', 'initramfs-tools-core', 'klibc-utils', 'libklibc', 'kmod', 'libkmod2', 'busybox', 'cpio', 'zstd'];
const FIRMWARE_PACKAGES = ['amd64-microcode'];

/** {recipe, build(paths)} for fixtures.mjs: built from the kernel .deb fixture `kernelDeb`; fixtureError(msg) makes its errors. */
export function debianInitrd(kernelDeb, cacheDir, fixtureError) {
  const self = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  const run = (cmd, args, opts = {}) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
    if (r.error) throw fixtureError(`initrd.img-amd64: cannot run ${cmd}: ${r.error.message}`);
    if (r.status !== 0) throw fixtureError(`initrd.img-amd64: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status}):\n${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  };
  const download = (dir, pkgs, aptOpts = []) => {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777); // apt's _apt user downloads into it
    console.error(`fixtures: apt-get download ${pkgs.join(' ')}`);
    const args = [...aptOpts, 'download', '-q', ...pkgs];
    const first = spawnSync('apt-get', args, { cwd: dir, encoding: 'utf8' });
    if (first.status === 0) return;
    run('apt-get', [...aptOpts, 'update', '-q']); // a stale or missing package list: update once, then retry
    run('apt-get', args, { cwd: dir });
  };
  /** apt options for a private state holding only `deb <host's archive> <codename> non-free-firmware`. */
  const firmwareApt = (dir) => {
    const codename = /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1]?.replace(/"/g, '');
    const targets = run('apt-get', ['indextargets', '--format', '$(REPO_URI)\t$(RELEASE)', 'Identifier: Packages']);
    const uri = targets.split('\n').map((l) => l.split('\t')).find(([, rel]) => rel === codename)?.[0];
    if (!codename || !uri) throw fixtureError(`initrd.img-amd64: the host's apt sources name no archive for its release ${codename ?? '(no VERSION_CODENAME in /etc/os-release)'}`);
    for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(dir, d), { recursive: true });
    run('chmod', ['-R', 'a+rwX', dir]);
    writeFileSync(join(dir, 'sources.list'), `deb [arch=amd64] ${uri} ${codename} non-free-firmware\n`);
    const opts = ['-o', `Dir::Etc::SourceList=${join(dir, 'sources.list')}`, '-o', `Dir::Etc::SourceParts=${join(dir, 'none')}`,
      '-o', `Dir::State::Lists=${join(dir, 'lists')}`, '-o', `Dir::Cache=${join(dir, 'cache')}`, '-o', 'APT::Architectures=amd64'];
    run('apt-get', [...opts, 'update', '-q']);
    return opts;
  };
  return {
    recipe: () => `mkinitramfs from ${[...MAIN_PACKAGES, ...FIRMWARE_PACKAGES].join(' ')}; builder ${createHash('sha256').update(self).digest('hex')}`,
    build: (paths) => {
      const work = join(cacheDir, '.initrd-build');
      rmSync(work, { recursive: true, force: true });
      try {
        download(join(work, 'debs'), MAIN_PACKAGES);
        download(join(work, 'debs'), FIRMWARE_PACKAGES, firmwareApt(join(work, 'apt')));
        const root = join(work, 'root');
        const debs = readdirSync(join(work, 'debs')).filter((f) => f.endsWith('.deb')).map((f) => join(work, 'debs', f));
        for (const deb of [...debs, paths[kernelDeb]]) run('dpkg-deb', ['-x', deb, root]);
        // Merged /usr, as bookworm's hosts are: the overlay goes over /usr only.
        for (const d of ['lib', 'bin', 'sbin']) {
          if (!existsSync(join(root, d))) continue;
          cpSync(join(root, d), join(root, 'usr', d), { recursive: true, verbatimSymlinks: true });
          rmSync(join(root, d), { recursive: true });
        }
        // amd64-microcode's hook: "early" always adds the microcode, whatever CPU builds the image ("auto" asks the host's).
        appendFileSync(join(root, 'etc/default/amd64-microcode'), '\nAMD64UCODE_INITRAMFS=early\n');
        const versions = readdirSync(join(root, 'usr/lib/modules'));
        if (versions.length !== 1) throw fixtureError(`initrd.img-amd64: ${paths[kernelDeb]} holds ${versions.length} module trees, expected 1`);
        for (const d of ['upper', 'ovl-work', 'tmp']) mkdirSync(join(work, d));
        const out = join(work, 'initrd.img');
        const script = [
          'set -e',
          'mount --make-rprivate /',
          `mount -t overlay vkexec-usr -o lowerdir=${root}/usr:/usr,upperdir=${work}/upper,workdir=${work}/ovl-work /usr`,
          `mount -t overlay vkexec-etc -o lowerdir=${root}/etc:/etc /etc`,
          `mount -t overlay vkexec-boot -o lowerdir=${root}/boot:/boot /boot`,
          `depmod ${versions[0]}`, // the kernel package's postinst does this on a real system
          `TMPDIR=${work}/tmp mkinitramfs -o ${out} ${versions[0]}`,
        ].join('\n');
        console.error(`fixtures: mkinitramfs ${versions[0]} (in a private mount namespace)`);
        run('unshare', ['-m', 'sh', '-c', script]);
        return readFileSync(out);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
  };
}
