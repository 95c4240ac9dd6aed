// vkexec -c against the real kexec-tools on i386 machines: Debian's i386 kexec (2.0.25, a fixture) runs under
// its own ld-linux.so.2 with the 32-bit kexec-shim.c preloaded and uname saying i686 (real-kexec.ts); the
// 686 kernel as bzImage and as ELF vmlinux, normal and crash loads, with the options that apply on i386.
// Compared as on x86_64 (kexec-tools-cases.ts): exit status, every segment, the -d output line by line.
//
// Version per case: the binary is 2.0.25, vkexec follows 2.0.32; where their sources differ on i386 the case
// names the 2.0.32 commit and lists the exact lines it changes (each must occur, nothing else may differ):
// - ec3e4df (2.0.32): do_bzImage_load searches the kernel's hole with init_size and gives it as memsz
//   (2.0.25: the file's protected-mode size), and prints "kernel init_size". On crash loads the RNG seed
//   setup_data, placed next above the kernel, moves with it, and so does boot_params.hdr.setup_data.
// - 07821da (2.0.32): add_e820_map_from_mr's "E820 memmap:" lines print with PRIx64; 2.0.25 used %lx, so
//   its i386 build prints the start's low and high halves and the end's low half as the type.
// - The ELF boot notes' EBN_BOOTLOADER_VERSION says the version (as on x86_64).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { alignUp } from '../../src/lib/align.js';
import { tempDir } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { type Case, QEMU_MEMMAP, SERVER_IOMEM, fragmentedIomem, makeMachine, runCase } from './kexec-tools-cases.js';
import type { KexecLoadDump } from './real-kexec.js';
import { prepareRealKexec, runRealKexec } from './real-kexec.js';

const KERNEL = fixture('vmlinuz-686');
const VMLINUX = fixture('vmlinux-686');
const INITRD = fixture('initramfs-busybox-i386.cpio');

const h = (v: number | bigint) => v.toString(16);

/** The 686 bzImage's protected-mode size and init_size (setup header, boot protocol 2.10+). */
function bzImageSizes(): { kSize: number; memsz2025: number; initSize: number; memsz2032: number } {
  const k = fs.readFileSync(KERNEL);
  const kSize = k.length - ((k[0x1f1] || 4) + 1) * 512;
  const initSize = k.readUInt32LE(0x260);
  return { kSize, memsz2025: alignUp(kSize, 0x1000), initSize, memsz2032: alignUp(initSize, 0x1000) };
}

/** 07821da: 2.0.25's i386 "E820 memmap:" lines (%lx of u64 values) against 2.0.32's. */
// "%016lx-%016lx (%d)" takes 32-bit words: the start's low half, its high half (0 below 4 GiB), the end's low half.
const E820_LINES = [/^stderr kexec only: 0{8}[0-9a-f]{8}-0{8}[0-9a-f]{8} \(-?\d+\)$/, /^stderr vkexec only: [0-9a-f]{16}-[0-9a-f]{16} \(\d+\)$/];

/** ec3e4df: the kernel segment's memsz (and on crash loads the RNG seed above it) as 2.0.25 and 2.0.32 give them. */
function bzImageVersionDiffs(crash: boolean): (real: KexecLoadDump | null) => RegExp[] {
  return (real) => {
    const s = bzImageSizes();
    const out = [
      new RegExp(`^segment\\[\\d+\\]\\.memsz: kexec 0x${h(s.memsz2025)}, vkexec 0x${h(s.memsz2032)}$`),
      new RegExp(`^stderr kexec only: segment\\[\\d+\\]\\.memsz = 0x${h(s.memsz2025)}$`),
      new RegExp(`^stderr vkexec only: segment\\[\\d+\\]\\.memsz = 0x${h(s.memsz2032)}$`),
      new RegExp(`^stderr vkexec only: kernel init_size 0x${h(s.initSize)}$`),
      ...E820_LINES,
    ];
    const kernel = real?.segments.find((g) => g.bufsz === s.kSize);
    if (crash && kernel) {
      const [a25, a32] = [kernel.mem + BigInt(s.memsz2025), kernel.mem + BigInt(s.memsz2032)];
      out.push(
        new RegExp(`^segment\\[\\d+\\]\\.mem: kexec 0x${h(a25)}, vkexec 0x${h(a32)}$`),
        new RegExp(`^stderr kexec only: segment\\[\\d+\\]\\.mem   = 0x${h(a25)}$`),
        new RegExp(`^stderr vkexec only: segment\\[\\d+\\]\\.mem   = 0x${h(a32)}$`),
        // boot_params.hdr.setup_data (0x250, u64) points at the seed.
        /^segment\[\d+\]: bytes differ at 0x25[0-7](, 0x25[0-7])* \(at 0x25[0-7]: /,
      );
    }
    return out;
  };
}

const I386 = ['--arch', 'i386'];
const normal = bzImageVersionDiffs(false);
const crash = bzImageVersionDiffs(true);

const MAPS: Case[] = [
  { name: 'small (256 MiB)', init: [...I386, '--mem', '256M'], args: [], versionDiffs: normal },
  { name: '1 GiB pc', init: [...I386, '--mem', '1G'], args: [], versionDiffs: normal },
  { name: '3 GiB pc', init: [...I386, '--mem', '3G'], args: [], versionDiffs: normal },
  { name: 'fragmented: 20 RAM pieces', init: I386, args: [], iomem: fragmentedIomem(20), versionDiffs: normal },
  { name: 'firmware map from 0 (QEMU pc e820)', init: I386, args: [], memmap: QEMU_MEMMAP, versionDiffs: normal },
  { name: 'crash region low (2 GiB, crashkernel=256M)', init: [...I386, '--mem', '2G', '--crashkernel', '256M'], args: ['-p'], versionDiffs: crash },
  // RAM and reserved ranges above 4 GiB: the i386 build cuts the reserved ones to 32 bits in the crash e820.
  { name: 'server map: ACPI, NVS, PCI hole, RAM above 4 GiB', init: I386, args: [], iomem: SERVER_IOMEM, versionDiffs: normal },
  { name: 'crash on the server map (crashkernel=384M)', init: [...I386, '--crashkernel', '384M'], args: ['-p'], iomem: SERVER_IOMEM, versionDiffs: crash },
  { name: 'crash on the server map, --pass-memmap-cmdline', init: [...I386, '--crashkernel', '384M'], args: ['-p', '--pass-memmap-cmdline'], iomem: SERVER_IOMEM, versionDiffs: crash },
  { name: 'crash with 3 CPUs (1 GiB, crashkernel=128M)', init: [...I386, '--mem', '1G', '--cpus', '3', '--crashkernel', '128M'], args: ['-p'], versionDiffs: crash },
  { name: 'crash, firmware map from 0 (crashkernel=128M)', init: [...I386, '--crashkernel', '128M'], args: ['-p'], memmap: QEMU_MEMMAP, versionDiffs: crash },
];

const VARIANTS: Case[] = [
  { name: '--initrd', init: [...I386, '--mem', '1G'], args: ['--initrd', INITRD], versionDiffs: normal },
  { name: '--mem-max', init: [...I386, '--mem', '2G'], args: ['--mem-max=0x2fffffff', '--initrd', INITRD], versionDiffs: normal },
  // The setup segment must go below 640 KiB: both refuse (locate_hole's message, then add_buffer's die).
  { name: '--mem-min above the setup segment (refused)', init: [...I386, '--mem', '2G'], args: ['--mem-min=0x10000000', '--initrd', INITRD], versionDiffs: [] },
  { name: '--reuse-cmdline', init: [...I386, '--mem', '1G', '--cmdline', 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet'], args: ['--reuse-cmdline'], versionDiffs: normal },
  { name: 'ELF vmlinux --args-linux', init: [...I386, '--mem', '1G'], args: ['--args-linux', '-k', VMLINUX], versionDiffs: E820_LINES },
  { name: 'ELF vmlinux --args-linux --initrd', init: [...I386, '--mem', '1G'], args: ['--args-linux', '--initrd', INITRD, '-k', VMLINUX], versionDiffs: E820_LINES },
  // EBN_BOOTLOADER_VERSION "2.0.25" vs "2.0.32": the note's bytes and b_checksum.
  { name: 'ELF vmlinux --args-elf', init: [...I386, '--mem', '1G'], args: ['--args-elf', '-k', VMLINUX], versionDiffs: [/^segment\[1\]: bytes differ at 0x8, 0x9, 0x30, 0x31 \(at 0x8: kexec \w+, vkexec \w+\)$/] },
  { name: '-p --real-mode (refused)', init: [...I386, '--mem', '1G', '--crashkernel', '128M'], args: ['-p', '--real-mode'], versionDiffs: [] },
  { name: 'ELF vmlinux --args-elf --initrd (refused)', init: [...I386, '--mem', '1G'], args: ['--args-elf', '--initrd', INITRD, '-k', VMLINUX], versionDiffs: [] },
  // The i386 build takes --args-none (the x86_64 build refuses it for ELF32: kexec-tools.test.ts).
  { name: 'ELF vmlinux --args-none', init: [...I386, '--mem', '1G'], args: ['--args-none', '-k', VMLINUX], versionDiffs: [] },
  // The crash ELF load prints no "E820 memmap:" block (its e820 comes from the crash ranges).
  { name: '-p ELF vmlinux --args-linux', init: [...I386, '--mem', '2G', '--crashkernel', '256M'], args: ['-p', '--args-linux', '-k', VMLINUX], versionDiffs: [] },
  // ELF32 is the i386 default; both header classes are compared.
  { name: '-p --elf32-core-headers', init: [...I386, '--mem', '2G', '--crashkernel', '256M'], args: ['-p', '--elf32-core-headers'], versionDiffs: crash },
  { name: '-p --elf64-core-headers', init: [...I386, '--mem', '2G', '--crashkernel', '256M'], args: ['-p', '--elf64-core-headers'], versionDiffs: crash },
  { name: '-p --pass-memmap-cmdline', init: [...I386, '--mem', '2G', '--crashkernel', '256M'], args: ['-p', '--pass-memmap-cmdline'], versionDiffs: crash },
  { name: '-p --reuse-cmdline with crashkernel=', init: [...I386, '--mem', '2G', '--crashkernel', '256M', '--cmdline', 'BOOT_IMAGE=/vmlinuz root=/dev/sda1  ro'], args: ['-p', '--reuse-cmdline', '--initrd', INITRD], versionDiffs: crash },
];

test('vkexec -c equals the real i386 kexec (Debian kexec-tools 2.0.25) on i386 machines', { timeout: 300_000 }, () => {
  const work = tempDir('vkexec-differential-i386-');
  try {
    const tools = prepareRealKexec(work, 'i386');
    const version = runRealKexec(tools, makeMachine(work, 'version', { name: 'v', init: I386, args: [] }), ['--version'], work);
    assert.match(version.stdout + version.stderr, /kexec-tools 2\.0\.25/, "the kexec-i386 fixture must be Debian's kexec-tools 2.0.25 (re-run test/setup/fixtures.mjs)");
    const failures: string[] = [];
    [...MAPS, ...VARIANTS].forEach((c, i) => failures.push(...runCase(tools, work, c, `i386-${i}`, KERNEL)));
    assert.deepEqual(failures, [], `vkexec -c differs from the i386 kexec-tools 2.0.25:\n${failures.join('\n')}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
