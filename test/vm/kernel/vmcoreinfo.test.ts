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
import { ROOT, tempDir, vkexec } from '../../helpers/cli.js';

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

/** The vmcoreinfo text Debian's 6.12.118 kernel wrote (read from a real /proc/vmcore; 3262 bytes). */
const REAL_612 = path.join(ROOT, 'test/vm/kernel/vmcoreinfo-6.12.118.txt');

test('machine init --vmcoreinfo: the note carries the real kernel\'s text, with the machine\'s CRASHTIME', () => {
  const dir = tempDir('vkexec-vmcoreinfo-');
  const m = path.join(dir, 'm');
  const r = vkexec(m, ['machine', 'init', '--kernel-release', '6.12', '--vmcoreinfo', REAL_612]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /osrelease 6\.12\.118\+deb12-amd64; vmcoreinfo: 106 lines from --vmcoreinfo/);
  assert.equal(vkexec(m, ['machine', 'show', '--file', '/proc/sys/kernel/osrelease']).stdout.trim(), '6.12.118+deb12-amd64', 'OSRELEASE names the machine\'s uname -r');
  const real = fs.readFileSync(REAL_612, 'latin1');
  const text = vmcoreinfoText(readState(m).config, { fill: null, crashTime: 42n });
  // The same bytes but the panic's own time: the note (and /proc/vmcore's PT_NOTE) is as long as the real one.
  assert.equal(text, real.replace(/^CRASHTIME=\d+$/m, 'CRASHTIME=42'));
  assert.equal(text.length, 3262 - '1796576241'.length + 2);
  // A makedumpfile -g text has no KERNELOFFSET or CRASHTIME: the machine adds both.
  const g = path.join(dir, 'g.txt');
  fs.writeFileSync(g, 'OSRELEASE=6.12.118+deb12-amd64\nPAGESIZE=4096\nOFFSET(page.flags)=0\nSIZE(page)=64\n');
  const m2 = path.join(dir, 'm2');
  assert.equal(vkexec(m2, ['machine', 'init', '--kernel-release', '6.12', '--vmcoreinfo', g]).code, 0);
  assert.equal(vmcoreinfoText(readState(m2).config, { fill: null, crashTime: 5n }), 'OSRELEASE=6.12.118+deb12-amd64\nPAGESIZE=4096\nOFFSET(page.flags)=0\nSIZE(page)=64\nKERNELOFFSET=0\nCRASHTIME=5\n');
});

test('machine init --vmcoreinfo refuses a text of another release, a KASLR boot, another page size or too long, naming the rule', () => {
  const dir = tempDir('vkexec-vmcoreinfo-');
  const real = fs.readFileSync(REAL_612, 'latin1');
  const cases: [string, string[], RegExp][] = [
    [real, ['--kernel-release', '6.1'], /OSRELEASE=6\.12\.118\+deb12-amd64 is not Linux 6\.1, the machine's release/],
    [real, ['--kernel-release', '6.12', '--osrelease', '6.12.1-amd64'], /OSRELEASE=6\.12\.118\+deb12-amd64 but --osrelease 6\.12\.1-amd64/],
    [real.replace('KERNELOFFSET=0', 'KERNELOFFSET=3a000000'), ['--kernel-release', '6.12'], /KERNELOFFSET=3a000000: the text is of a KASLR boot/],
    [real.replace('PAGESIZE=4096', 'PAGESIZE=16384'), ['--kernel-release', '6.12'], /PAGESIZE=16384; the machine's pages are 4096 bytes/],
    [real + 'OFFSET(x.y)=1\n'.repeat(60), ['--kernel-release', '6.12'], /bytes with the CRASHTIME line; the note holds at most 4096 \(VMCOREINFO_BYTES/],
    ['PAGESIZE=4096\n', ['--kernel-release', '6.12'], /no OSRELEASE= line/],
    [`OSRELEASE=6.12.${'1'.repeat(70)}\nPAGESIZE=4096\n`, ['--kernel-release', '6.12'], /is not 1 to 64 printable characters/],
    ['OSRELEASE=6.12.1\nnot a line\n', ['--kernel-release', '6.12'], /line 2 "not a line" is not a vmcoreinfo KEY=VALUE line/],
    [real, ['--kernel-release', '6.12', '--system-map', REAL_612], /--vmcoreinfo and --system-map both give the vmcoreinfo SYMBOL\(\) lines/],
  ];
  cases.forEach(([text, args, want], i) => {
    const f = path.join(dir, `v${i}.txt`);
    fs.writeFileSync(f, text);
    const r = vkexec(path.join(dir, `m${i}`), ['machine', 'init', ...args, '--vmcoreinfo', f]);
    assert.equal(r.code, 1, `case ${i}: ${r.stderr}`);
    assert.match(r.stderr, want, `case ${i}`);
    assert.match(r.stderr, /vkexec: fix: /, `case ${i}`);
    assert.equal(fs.existsSync(path.join(dir, `m${i}`, 'state.json')), false, `case ${i}: no machine made`);
  });
});

function machine(release: '6.1' | '6.12'): string {
  const m = path.join(tempDir('vkexec-vmcoreinfo-'), 'm');
  const r = vkexec(m, ['machine', 'init', '--kernel-release', release]);
  assert.equal(r.code, 0, r.stderr);
  return m;
}
