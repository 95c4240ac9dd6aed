// Paths of the cached test fixtures that test/setup/fixtures.mjs fetches and builds (real Debian kernels,
// busybox, initramfs images). A missing fixture fails the test loudly: tests never pass without their inputs.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Names test/setup/fixtures.mjs provides. */
export type FixtureName =
  | 'vmlinuz-amd64' // Debian's signed amd64 kernel (PE/COFF with an Authenticode signature)
  | 'vmlinuz-amd64-unsigned'
  | 'vmlinuz-686' // Debian's 32-bit 686 kernel
  | 'vmlinuz-612-amd64' // Debian bookworm's signed 6.12 amd64 kernel (linux-image-6.12-amd64)
  | 'vmlinuz-612-amd64-unsigned'
  | 'busybox-amd64' // static busybox binaries
  | 'busybox-i386'
  | 'xen-4.17-amd64.gz' // Debian's Xen hypervisor (xen-hypervisor-4.17-amd64): gzip'd ELF32 with multiboot v1 and v2 headers
  | 'linuxx64.efi.stub' // systemd-boot-efi's EFI stub for unified kernel images (systemd 252, Debian 12)
  | 'uki-amd64.efi' // a UKI: that stub + .osrel + .cmdline (UKI_CMDLINE) + .linux (vmlinuz-amd64, signed) + .initrd (initramfs-busybox-amd64.cpio)
  | 'kexec-amd64' // Debian's real kexec binary (kexec-tools 2.0.25 on Debian 12), for test/differential
  | 'kexec-i386' // Debian's i386 kexec binary (2.0.25), run by the two files below
  | 'ld-linux-i386.so.2' // Debian 12's i386 glibc: the dynamic loader and libc.so.6 (kexec's only library)
  | 'libc-i386.so.6'
  | 'initramfs-busybox-amd64.cpio' // newc cpio whose /init prints INIT_MARKER, then /proc/cmdline, then reboot -f
  | 'initramfs-busybox-i386.cpio'
  | 'initrd.img-amd64' // Debian's initrd.img for linux-image-amd64.deb by mkinitramfs: early AMD microcode cpio + zstd main cpio
  | 'initramfs-kdump-amd64.cpio' // capture initramfs: virtio-blk modules; /init copies /proc/vmcore to /dev/vda (VKEXEC-KDUMP-* lines)
  | 'linux-image-amd64.deb' // the .deb files as `apt-get download` gives them (vkexec check reads packages)
  | 'linux-image-amd64-unsigned.deb'
  | 'linux-image-686.deb'
  | 'linux-image-612-amd64.deb'
  | 'vmlinux-amd64' // the unsigned amd64 kernel's payload as `xz -dc` decodes it: vmlinux ELF + relocation table
  | 'vmlinux-686' // the same for the 686 kernel: an ELF32 vmlinux + relocation table
  // That vmlinux compressed as the kernel's build does for each CONFIG_KERNEL_* (4-byte size trailer included):
  | 'payload-amd64.gzip'
  | 'payload-amd64.bzip2'
  | 'payload-amd64.lzma'
  | 'payload-amd64.lz4'
  | 'payload-amd64.zstd';

/** The line the test initramfs's /init prints once it runs; the next line is the kernel command line. */
export const INIT_MARKER = 'VKEXEC-INIT-OK';

/** The repository root: the nearest ancestor of this module with test/setup/fixtures.mjs (works from dist/ too). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'test/setup/fixtures.mjs'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('test fixtures: cannot find the repository root (test/setup/fixtures.mjs) above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export const FIXTURE_CACHE = join(repoRoot(), 'test/fixtures/cache');

/** Absolute path of a fixture; throws, telling how to create it, when it is missing. */
export function fixture(name: FixtureName): string {
  const manifestPath = join(FIXTURE_CACHE, 'manifest.json');
  let manifest: Record<string, string> = {};
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, string>;
  } catch {
    // reported below as a missing fixture
  }
  const rel = manifest[name];
  const path = rel === undefined ? undefined : resolve(FIXTURE_CACHE, rel);
  if (!path || !existsSync(path)) {
    throw new Error(
      `TEST FIXTURE MISSING: "${name}" is not in ${FIXTURE_CACHE}. ` +
        'Run `node test/setup/fixtures.mjs` (after `npx tsc -p .`; needs apt-get/dpkg-deb and access to Debian\'s archive) ' +
        'or `npm test`, which runs it.',
    );
  }
  return path;
}

/** A bzImage (a Buffer of a fixture kernel) with its payload replaced and payload_length (0x24c) updated. */
export function splicePayload(kernel: Buffer, payload: Uint8Array): Buffer {
  const off = ((kernel[0x1f1] || 4) + 1) * 512 + kernel.readUInt32LE(0x248); // kern16Size + payload_offset
  const out = Buffer.concat([kernel.subarray(0, off), payload, kernel.subarray(off + kernel.readUInt32LE(0x24c))]);
  out.writeUInt32LE(payload.length, 0x24c);
  return out;
}
