// A PC for the new kernel on the QEMU engine: the firmware stub installs QEMU's ACPI tables (fw_cfg
// etc/table-loader) in the machine's "ACPI Tables" range with the RSDP in the F segment, so Debian's kernel
// brings up every CPU of `machine init --cpus`, powers off through ACPI S5, and a capture kernel routes PCI
// interrupts (virtio-blk) without irqpoll. Needs qemu-system-x86 and the fixtures of test/setup/fixtures.mjs;
// three QEMU boots (TCG), 20-120 s each on a loaded machine.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildCpio } from '../../src/formats/cpio.js';
import { acpiTablesRange } from '../../src/vm/engines/qemu-layout.js';
import type { MemoryImage } from '../../src/vm/memory/memory-image.js';
import { fixture } from '../helpers/fixtures.js';
import { vkexec } from '../helpers/cli.js';
import { ok, requireQemu, scratchDirs } from './boot-helpers.js';

const KERNEL = fixture('vmlinuz-amd64');
const BUSYBOX = fixture('busybox-amd64');
const KDUMP_INITRD = fixture('initramfs-kdump-amd64.cpio');
const BOOT = ['--engine', 'qemu', '--accel', 'tcg', '--timeout', '400'];
const MiB = 1n << 20n;

requireQemu();
const dir = scratchDirs('vkexec-acpi-');

/** A busybox initramfs whose /init reports the CPUs and the ACPI tables the kernel found, then powers off. */
function smpInitramfs(): string {
  const init = `#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "VKEXEC-CPUS online=$(cat /sys/devices/system/cpu/online) nproc=$(nproc)"
echo "VKEXEC-ACPI-TABLES $(ls /sys/firmware/acpi/tables | tr '\\n' ' ')"
grep 'ACPI' /proc/iomem | sed 's/^/VKEXEC-IOMEM /'
poweroff -f
`;
  const file = path.join(dir(), 'smp.cpio');
  fs.writeFileSync(file, buildCpio([
    ...['bin', 'dev', 'proc', 'sys', 'tmp'].map((p) => ({ type: 'dir' as const, path: p })),
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'bin/busybox', data: fs.readFileSync(BUSYBOX), mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'init', data: Buffer.from(init), mode: 0o755 },
  ]));
  return file;
}

test('acpiTablesRange: the largest "ACPI Tables" e820 entry in RAM below 4 GiB that no segment uses', () => {
  const image = (e820: MemoryImage['e820'], extents: MemoryImage['extents'] = []): MemoryImage => ({ ramSize: 6n * 1024n * MiB, e820, extents });
  const acpi = { addr: 0xbffe0000n, size: 0x20000n, type: 3 };
  assert.deepEqual(acpiTablesRange(image([{ addr: 0n, size: 0x9fc00n, type: 1 }, acpi])), { base: 0xbffe0000n, size: 0x20000n });
  assert.equal(acpiTablesRange(image([{ ...acpi, type: 2 }])), null, 'a plain reserved range is not taken');
  assert.equal(acpiTablesRange(image([{ addr: 0x100000000n, size: 0x20000n, type: 3 }])), null, 'above 4 GiB: the stub uses 32-bit addresses');
  assert.equal(acpiTablesRange(image([{ addr: 0xd0000000n, size: 0x20000n, type: 3 }])), null, 'not RAM on QEMU\'s pc machine (3 GiB hole)');
  const used = image([acpi], [{ addr: 0xbfff0000n, length: 16, kind: 'zero' }]);
  assert.equal(acpiTablesRange(used), null, 'a loaded extent in the range keeps the tables out');
  assert.deepEqual(acpiTablesRange(image([{ addr: 0x7f000000n, size: 0x1000n, type: 3 }, acpi])), { base: 0xbffe0000n, size: 0x20000n }, 'the largest');
});

test('the default map gives the top 128 KiB below 4 GiB as "ACPI Tables" in /proc/iomem', () => {
  const m = path.join(dir(), 'm');
  ok(vkexec(m, ['machine', 'init', '--mem', '512M']), 'machine init');
  const iomem = vkexec(m, ['machine', 'show', '--file', '/proc/iomem']);
  ok(iomem, 'machine show');
  assert.match(iomem.stdout, /^1ffe0000-1fffffff : ACPI Tables$/m);
});

test('--cpus 4: Debian\'s kernel finds QEMU\'s ACPI tables, brings up 4 CPUs and powers off through ACPI S5', { timeout: 900_000 }, () => {
  const m = path.join(dir(), 'm');
  ok(vkexec(m, ['machine', 'init', '--mem', '512M', '--cpus', '4']), 'machine init');
  const r = vkexec(m, ['boot', KERNEL, '--initrd', smpInitramfs(), '--append', 'console=ttyS0 panic=-1', ...BOOT]);
  ok(r, 'boot');
  const out = r.stdout + r.stderr;
  assert.match(out, /ACPI: the firmware stub installs QEMU's tables in \[0x1ffe0000, 0x20000000\) and the RSDP in the F segment/);
  assert.match(r.stdout, /ACPI: RSDP 0x00000000000F0000 /, 'Linux found the RSDP by its BIOS-area scan');
  assert.match(r.stdout, /ACPI: APIC 0x000000001FFE[0-9A-F]{4} /, 'the MADT lies in the machine\'s ACPI Tables range');
  assert.match(r.stdout, /smp: Brought up 1 node, 4 CPUs/);
  assert.match(r.stdout, /VKEXEC-CPUS online=0-3 nproc=4/);
  assert.match(r.stdout, /VKEXEC-ACPI-TABLES .*APIC .*DSDT .*FACP/);
  assert.match(r.stdout, /VKEXEC-IOMEM 1ffe0000-1fffffff : ACPI Tables/, 'the new kernel keeps the range kexec handed over as ACPI');
  assert.match(r.stdout, /ACPI: PM: Preparing to enter system sleep state S5/);
  assert.match(out, /qemu: poweroff after/);
  assert.doesNotMatch(r.stdout, /vkexec-stub: ACPI:/, 'the stub reported no failure on the console');
});

test('kdump without irqpoll: the capture kernel finds the tables again, routes virtio-blk\'s interrupt and saves /proc/vmcore', { timeout: 900_000 }, () => {
  const m = path.join(dir(), 'm');
  ok(vkexec(m, ['machine', 'init', '--mem', '1G', '--crashkernel', '256M']), 'machine init');
  ok(vkexec(m, ['-p', '-s', KERNEL, '--initrd', KDUMP_INITRD, '--append', 'console=ttyS0 reset_devices nr_cpus=1']), '-p -s');
  const disk = path.join(dir(), 'dump.img');
  fs.writeFileSync(disk, '');
  fs.truncateSync(disk, 1024 * 1024 * 1024);
  const r = vkexec(m, ['machine', 'panic', '--disk', disk, '--expect', 'VKEXEC-KDUMP-(SAVED|FAILED|NODISK)', ...BOOT]);
  ok(r, 'machine panic');
  assert.match(r.stdout, /Command line: .*elfcorehdr=/);
  assert.doesNotMatch(r.stdout, /Command line: .*irqpoll/, 'no irqpoll on the capture kernel\'s command line');
  assert.match(r.stdout, /ACPI: RSDP 0x00000000000F0000 /);
  assert.match(r.stdout, /BIOS-e820: \[mem 0x000000003ffe0000-0x000000003fffffff\] ACPI data/, 'kexec handed the ACPI range to the capture kernel');
  assert.doesNotMatch(r.stdout, /can't find IRQ/);
  assert.match(r.stdout, /VKEXEC-KDUMP-SAVED size=\d+/);
});
