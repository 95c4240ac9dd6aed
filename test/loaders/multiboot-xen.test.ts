// Debian's Xen hypervisor (xen-hypervisor-4.17-amd64) through the real binary: loaded with -c as multiboot2
// (the probe's first choice) and as multiboot v1 (-t multiboot-x86) with Debian's kernel and a busybox initrd as
// modules, on the layout kexec-tools 2.0.32's source gives (vkexec's one difference: the information is not put
// below the machine's first RAM address, man page), then executed on QEMU until Xen prints its banner on COM1.
// `no-real-mode`: the engines have no BIOS for the real-mode calls Xen's trampoline makes (man page).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture } from '../helpers/fixtures.js';
import { tempDir, vkexec } from '../helpers/cli.js';

const XEN = fixture('xen-4.17-amd64.gz');
const KERNEL = fixture('vmlinuz-amd64');
const INITRD = fixture('initramfs-busybox-amd64.cpio');
const XEN_CMDLINE = 'com1=115200,8n1 console=com1 no-real-mode';
const MODULES = [`--module=${KERNEL} console=hvc0`, `--module=${INITRD}`];
const work = tempDir();
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
const qemu = spawnSync('qemu-system-x86_64', ['-version'], { encoding: 'utf8' });
assert.ok(!qemu.error, 'qemu-system-x86_64 is needed for these tests: apt-get install qemu-system-x86');

function machine(name: string): string {
  const dir = path.join(work, name);
  const r = vkexec(dir, ['machine', 'init', '--mem', '1G']);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

function segments(stderr: string): [number, number][] {
  const mem = [...stderr.matchAll(/segment\[\d+\]\.mem   = (0x[0-9a-f]+)/g)].map((m) => Number(m[1]));
  const memsz = [...stderr.matchAll(/segment\[\d+\]\.memsz = (0x[0-9a-f]+)/g)].map((m) => Number(m[1]));
  return mem.map((m, i) => [m, memsz[i]!]);
}

/** kexec-tools' x86_64 purgatory footprint (memsz 0x9000, measured on the real binary by test/differential). */
const PURGATORY_MEMSZ = 0x9000;
const page = (n: number) => Math.ceil(n / 4096) * 4096;
const kernelSize = fs.statSync(KERNEL).size;
const initrdSize = fs.statSync(INITRD).size;
/** Xen's PT_LOAD (0x200000, memsz 0x3a7000), then the modules lowest above it, page-aligned. */
const XEN_AND_MODULES: [number, number][] = [
  [0x200000, 0x3a7000],
  [0x5a7000, page(kernelSize)],
  [0x5a7000 + page(kernelSize), page(initrdSize)],
];

test('Xen loads as multiboot2 by default: purgatory, information, Xen, kernel, initrd', () => {
  const m = machine('mb2');
  const r = vkexec(m, ['-d', '-c', '-l', XEN, '--command-line', XEN_CMDLINE, ...MODULES]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /can't open \/dev\/fb0: No such file or directory/, 'Xen has a framebuffer tag; the machine has no /dev/fb0');
  assert.deepEqual(segments(r.stderr), [[0x3000, PURGATORY_MEMSZ], [0xc000, 0x1000], ...XEN_AND_MODULES]);
  const s = vkexec(m, ['machine', 'show', '--json']);
  assert.match(s.stdout, /multiboot2-x86/);
});

test('Xen loads as multiboot v1 with -t multiboot-x86: the memory map gets its own buffer', () => {
  const m = machine('mb1');
  const r = vkexec(m, ['-d', '-c', '-t', 'multiboot-x86', '-l', XEN, '--command-line', XEN_CMDLINE, ...MODULES]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(segments(r.stderr), [[0x3000, PURGATORY_MEMSZ], [0xc000, 0x1000], [0xd000, 0x1000], ...XEN_AND_MODULES]);
});

test('a missing module file is refused like kexec-tools (slurp_file), the machine left unloaded', () => {
  const m = machine('missing');
  const r = vkexec(m, ['-c', '-l', XEN, `--module=${path.join(work, 'nope')} x`]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /Cannot open `.*nope': No such file or directory/);
  assert.equal(vkexec(m, ['-S']).code, 0, 'nothing loaded');
});

for (const [name, type] of [['multiboot2', []], ['multiboot v1', ['-t', 'multiboot-x86']]] as const) {
  test(`Xen as ${name} prints its banner on COM1 under QEMU`, { timeout: 900_000 }, () => {
    const m = machine(`boot-${type.length}`);
    const l = vkexec(m, ['-c', ...type, '-l', XEN, '--command-line', XEN_CMDLINE, ...MODULES]);
    assert.equal(l.code, 0, l.stderr);
    const e = vkexec(m, ['-e', '--engine', 'qemu', '--accel', 'tcg', '--expect', 'Command line: com1=115200,8n1', '--timeout', '600']);
    assert.equal(e.code, 0, e.stderr + e.stdout);
    assert.match(e.stdout, /Xen version 4\.17\.\d+ \(Debian/);
    assert.match(e.stdout, /Bootloader: kexec 2\.0\.32/);
  });
}
