// The vmcoreinfo note's text per release, and machine init --system-map / --osrelease. The lines and values
// are those Debian's 6.1.0-57 and 6.12.118 kernels wrote in QEMU (nokaslr); the real comparison runs in
// test/differential/linux-kexec.test.ts, which boots them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { systemMapSymbols, vmcoreinfoText } from '../../../src/vm/kernel/vmcoreinfo.js';
import { readState } from '../../../src/vm/machine/machine.js';
import { UsageError } from '../../../src/errno.js';
import { tempDir, vkexec } from '../../helpers/cli.js';

/** Debian 6.1.0-57's /proc/kallsyms lines (nokaslr) for the symbols its vmcoreinfo names, plus node_states. */
const KALLSYMS_61 = `ffffffff81000000 T _stext
ffffffff81000000 T _text
ffffffff82a10000 D init_top_pgt
ffffffff82a643e0 d prb
ffffffff82a64400 d printk_rb_static
ffffffff82b5c430 D vmap_area_list
ffffffff82bfb000 D init_uts_ns
ffffffff82c393a0 D node_data
ffffffff82c3dec0 D node_states
ffffffff83faad20 b clear_seq
ffffffff8403f298 B mem_section
ffffffffc0a01000 t some_module_fn	[virtio_blk]
`;

/** What Debian 6.1.0-57 wrote for those symbols (its vmcoreinfo, read from /proc/vmcore after a real panic). */
const REAL_61_SYMBOLS = [
  'SYMBOL(init_uts_ns)=ffffffff82bfb000',
  'SYMBOL(node_online_map)=ffffffff82c3df40',
  'SYMBOL(swapper_pg_dir)=ffffffff82a10000',
  'SYMBOL(_stext)=ffffffff81000000',
  'SYMBOL(vmap_area_list)=ffffffff82b5c430',
  'SYMBOL(prb)=ffffffff82a643e0',
  'SYMBOL(printk_rb_static)=ffffffff82a64400',
  'SYMBOL(clear_seq)=ffffffff83faad20',
  'SYMBOL(init_top_pgt)=ffffffff82a10000',
  'SYMBOL(node_data)=ffffffff82c393a0',
];

test('a System.map or kallsyms gives the release its SYMBOL() lines, with the kernel\'s values (aliases included)', () => {
  const syms = systemMapSymbols(KALLSYMS_61, 'kallsyms', '6.1');
  assert.equal(syms.mem_section, undefined, 'SYMBOL(mem_section) is the value of a pointer, not the symbol address');
  const config = { ...readState(machine('6.1')).config, kernelSymbols: syms };
  const text = vmcoreinfoText(config, { fill: null, crashTime: 1n }).split('\n');
  assert.deepEqual(text.filter((l) => l.startsWith('SYMBOL(')), REAL_61_SYMBOLS);
  assert.equal(text[0], `OSRELEASE=${config.osrelease}`);
  assert.equal(text[1], 'PAGESIZE=4096');
  // The kernel's order: the printk symbols after MAX_PHYSMEM_BITS, the arch lines last, then CRASHTIME.
  assert.ok(text.indexOf('NUMBER(MAX_PHYSMEM_BITS)=46') < text.indexOf('SYMBOL(prb)=ffffffff82a643e0'));
  assert.deepEqual(text.slice(-9), ['NUMBER(phys_base)=0', 'SYMBOL(init_top_pgt)=ffffffff82a10000', 'NUMBER(pgtable_l5_enabled)=0', 'SYMBOL(node_data)=ffffffff82c393a0', 'KERNELOFFSET=0', 'NUMBER(KERNEL_IMAGE_SIZE)=1073741824', 'NUMBER(sme_mask)=0', 'CRASHTIME=1', '']);
  // 6.12 has no vmap_area_list (vmalloc's nodes replaced it) and writes VMALLOC_START and vmemmap.
  const t12 = vmcoreinfoText({ ...config, kernelRelease: '6.12', kernelSymbols: systemMapSymbols(KALLSYMS_61, 'kallsyms', '6.12') }, { fill: null, crashTime: 1n });
  assert.doesNotMatch(t12, /vmap_area_list/);
  assert.match(t12, /^NUMBER\(VMALLOC_START\)=0xffffc90000000000\nSYMBOL\(vmemmap\)=ffffea0000000000$/m);
});

test('without a System.map only SYMBOL(_stext) is written (the machine\'s kernel at 16 MiB, no KASLR)', () => {
  const config = readState(machine('6.12')).config;
  const text = vmcoreinfoText(config, { fill: null, crashTime: 7n });
  assert.deepEqual(text.split('\n').filter((l) => l.startsWith('SYMBOL(') && !l.startsWith('SYMBOL(vmemmap)')), ['SYMBOL(_stext)=ffffffff81000000']);
  assert.match(text, /\nKERNELOFFSET=0\n/);
  assert.doesNotMatch(text, /OFFSET\(|SIZE\(|LENGTH\(|BUILD-ID/);
});

test('machine init --system-map refuses Debian\'s placeholder System.map and a map without _stext, naming the fix', () => {
  const dir = tempDir('vkexec-sysmap-');
  const placeholder = path.join(dir, 'System.map-6.1.0-57-amd64');
  fs.writeFileSync(placeholder, 'ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n');
  const r = vkexec(path.join(dir, 'm'), ['machine', 'init', '--system-map', placeholder]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /--system-map .*System\.map-6\.1\.0-57-amd64: holds no symbols .*linux-image-<version>-dbg/);
  assert.match(r.stderr, /vkexec: fix: .*\/proc\/kallsyms/);
  assert.equal(fs.existsSync(path.join(dir, 'm')), false, 'no machine made');
  assert.throws(() => systemMapSymbols('0000000000000000 T _stext\n0000000000000000 D prb\n', 'kallsyms', '6.1'), (e: unknown) => e instanceof UsageError && /zero address/.test(e.message));
  const missing = vkexec(path.join(dir, 'm2'), ['machine', 'init', '--system-map', path.join(dir, 'nope')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /--system-map .*nope: .*(No such file|ENOENT)/i);
});

test('machine init --osrelease and --system-map: uname -r and the symbols live in the machine', () => {
  const dir = tempDir('vkexec-sysmap-');
  const map = path.join(dir, 'kallsyms');
  fs.writeFileSync(map, KALLSYMS_61);
  const m = path.join(dir, 'm');
  const r = vkexec(m, ['machine', 'init', '--kernel-release', '6.1', '--osrelease', '6.1.0-57-amd64', '--system-map', map]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(vkexec(m, ['machine', 'show', '--file', '/proc/sys/kernel/osrelease']).stdout.trim(), '6.1.0-57-amd64');
  assert.equal(readState(m).config.kernelSymbols?.node_online_map, 0xffffffff82c3df40n);
  const bad = vkexec(path.join(dir, 'm3'), ['machine', 'init', '--osrelease', 'has space']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--osrelease "has space": 1 to 64 printable characters/);
});

function machine(release: '6.1' | '6.12'): string {
  const m = path.join(tempDir('vkexec-vmcoreinfo-'), 'm');
  const r = vkexec(m, ['machine', 'init', '--kernel-release', release]);
  assert.equal(r.code, 0, r.stderr);
  return m;
}
