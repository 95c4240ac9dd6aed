// Symbols in the post-mortem: the purgatory's own (vkexec's purgatory object laid out as the loaders lay it
// out), and the kernel's from --system-map. Debian's linux-image packages ship only a placeholder
// /boot/System.map (the real one is in linux-image-*-dbg, about a gigabyte), so the kernel's map is taken from
// the real kernel itself: a first boot with nokaslr copies /proc/kallsyms' text symbols to a virtio-blk disk
// (the same addresses System.map lists when KASLR is off); a second boot idles past --timeout and its
// post-mortem must name the kernel function RIP is in. Needs qemu-system-x86 and the fixtures.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildCpio, parseCpio, type CpioEntry } from '../../src/formats/cpio.js';
import { loadPurgatory } from '../../src/arch/x86/kexec-load-purgatory.js';
import { loadKernelSymbols, purgatorySymbols, symbolFor } from '../../src/cli/post-mortem.js';
import { UsageError } from '../../src/errno.js';
import { fixture } from '../helpers/fixtures.js';
import { vkexec } from '../helpers/cli.js';
import { ok, requireQemu, scratchDirs } from './boot-helpers.js';

const KERNEL = fixture('vmlinuz-amd64');
const KDUMP_INITRD = fixture('initramfs-kdump-amd64.cpio');

const dir = scratchDirs('vkexec-syms-');

test('purgatory symbols: offsets into the segment agree with the relocated purgatory (purgatory_start = image->start)', () => {
  for (const arch of ['x86_64', 'i386'] as const) {
    const syms = purgatorySymbols(arch);
    const base = 0x1ffd7000n;
    const start = syms.find((s) => s.name === 'purgatory_start');
    assert.ok(start, `${arch}: purgatory_start is listed`);
    assert.equal(base + start.at, loadPurgatory(arch, base).entry, `${arch}: the same offset the loaders relocate to`);
    assert.ok(syms.some((s) => s.name === 'purgatory'), `${arch}: the C function purgatory() is listed`);
    assert.equal(symbolFor(syms, start.at + 3n), 'purgatory_start+0x3');
  }
});

test('--system-map: Debian\'s placeholder System.map and a missing file are refused before the guest starts', () => {
  const d = dir();
  const placeholder = path.join(d, 'System.map-6.1.0-57-amd64');
  // The one line Debian's linux-image-6.1.0-57-amd64 has in /boot/System.map-6.1.0-57-amd64 (83 bytes).
  fs.writeFileSync(placeholder, 'ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n');
  assert.throws(() => loadKernelSymbols(placeholder), (e: unknown) => e instanceof UsageError && /placeholder Debian ships.*linux-image-\*-dbg/.test(e.message));
  const m = path.join(d, 'm');
  ok(vkexec(m, ['machine', 'init']), 'machine init');
  ok(vkexec(m, ['-l', KERNEL, '--append', 'console=ttyS0']), '-l');
  const r = vkexec(m, ['-e', '--engine', 'qemu', '--system-map', placeholder, '--timeout', '30']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--system-map .*System\.map-6\.1\.0-57-amd64: no text symbols .*placeholder/);
  assert.match(r.stderr, /^vkexec: fix: give \/usr\/lib\/debug\/boot\/System\.map-VERSION/m);
  assert.doesNotMatch(r.stderr + r.stdout, /executing the normal image/, 'refused before the run');
  const missing = vkexec(m, ['-e', '--engine', 'qemu', '--system-map', path.join(d, 'nope.map'), '--timeout', '30']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /--system-map .*nope\.map: No such file or directory/);
});

/** The capture initramfs's busybox and virtio modules, with an /init that dumps kallsyms (vkexec.dump=1) or idles. */
function symbolsInitramfs(): string {
  const kdump = parseCpio(fs.readFileSync(KDUMP_INITRD)).entries;
  const kdumpInit = kdump.find((e) => e.path === 'init');
  assert.ok(kdumpInit, 'the kdump initramfs has an /init');
  const insmods = Buffer.from(kdumpInit.data).toString('latin1').split('\n').filter((l) => l.startsWith('insmod '));
  assert.ok(insmods.length >= 2, 'its /init loads the virtio modules');
  const init = `#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
case " $(cat /proc/cmdline) " in
*" vkexec.dump=1 "*)
${insmods.join('\n')}
  echo 0 > /proc/sys/kernel/kptr_restrict
  i=0
  while [ ! -b /dev/vda ] && [ $i -lt 20 ]; do sleep 1; i=$((i + 1)); done
  grep ' [tT] ' /proc/kallsyms > /tmp/map
  dd if=/tmp/map of=/dev/vda bs=64k conv=fsync 2>/dev/null
  echo "VKEXEC-KALLSYMS-SAVED size=$(stat -c %s /tmp/map)"
  poweroff -f ;;
*)
  echo VKEXEC-IDLE
  exec sleep 100000 ;;
esac
`;
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'tmp', 'lib', 'lib/modules'].map((p) => ({ type: 'dir' as const, path: p })),
    { type: 'char', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'bin/busybox', data: Buffer.from(kdump.find((e) => e.path === 'bin/busybox')!.data), mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    ...kdump.filter((e) => /^lib\/modules\/[^/]+\.ko$/.test(e.path)).map((e) => ({ type: 'file' as const, path: e.path, data: Buffer.from(e.data), mode: 0o644 })),
    { type: 'file', path: 'init', data: Buffer.from(init), mode: 0o755 },
  ];
  const file = path.join(dir(), 'syms.cpio');
  fs.writeFileSync(file, buildCpio(entries));
  return file;
}

test('--system-map: an idle Debian kernel\'s post-mortem names the kernel function RIP is in', { timeout: 900_000 }, (t) => {
  requireQemu();
  const d = dir();
  const initrd = symbolsInitramfs();
  const disk = path.join(d, 'kallsyms.img');
  fs.writeFileSync(disk, '');
  fs.truncateSync(disk, 32 << 20);
  const m = path.join(d, 'm');
  ok(vkexec(m, ['machine', 'init', '--mem', '512M']), 'machine init');
  ok(vkexec(m, ['-l', KERNEL, '--initrd', initrd, '--append', 'console=ttyS0 nokaslr vkexec.dump=1']), '-l (dump)');
  const dump = vkexec(m, ['-e', '--engine', 'qemu', '--accel', 'tcg', '--disk', disk, '--expect', 'VKEXEC-KALLSYMS-SAVED size=\\d+', '--timeout', '400']);
  ok(dump, 'the kallsyms dump boot');
  const size = Number(/VKEXEC-KALLSYMS-SAVED size=(\d+)/.exec(dump.stdout)?.[1]);
  assert.ok(size > 100_000, `kallsyms text symbols: ${size} bytes`);
  const map = path.join(d, 'System.map');
  const text = fs.readFileSync(disk).subarray(0, size).toString('latin1');
  fs.writeFileSync(map, text);
  const names = new Set(text.split('\n').map((l) => l.split(' ')[2]));
  assert.ok(names.has('_stext') || names.has('_text'), 'a System.map of the kernel text');

  ok(vkexec(m, ['-l', KERNEL, '--initrd', initrd, '--append', 'console=ttyS0 nokaslr']), '-l (idle)');
  const r = vkexec(m, ['--json', '-e', '--engine', 'qemu', '--accel', 'tcg', '--expect', 'NEVER-PRINTED', '--timeout', '90', '--system-map', map]);
  const o = JSON.parse(r.stdout) as { status: string; consoleTail?: string; postMortem?: { cpu?: { rip: string; halted?: boolean }; placement?: { segment: string; where?: string }; diagnosis: string } };
  assert.equal(o.status, 'timeout', r.stdout.slice(-3000));
  assert.equal(r.code, 124);
  assert.match(o.consoleTail ?? '', /VKEXEC-IDLE/, 'init ran and went to sleep');
  const p = o.postMortem?.placement;
  assert.equal(p?.segment, 'kernel', JSON.stringify(o.postMortem));
  const sym = /^([A-Za-z_][\w.]*)\+0x[0-9a-f]+$/.exec(p?.where ?? '');
  assert.ok(sym, `a symbol+offset, got ${JSON.stringify(p?.where)}`);
  assert.ok(names.has(sym[1]!), `${sym[1]} is a kernel text symbol`);
  if (o.postMortem?.cpu?.halted) assert.match(o.postMortem.diagnosis, /the kernel is idle \(HLT\) in kernel \(\w/);
  t.diagnostic(`RIP ${o.postMortem?.cpu?.rip} -> ${p?.where}; ${o.postMortem?.diagnosis}`);
});
