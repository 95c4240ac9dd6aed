// The views kexec-tools reads, from a machine cloned with --memmap: /sys/firmware/memmap is the firmware's
// e820 as given, /proc/iomem what Linux makes of it (arch/x86/kernel/e820.c: trim_bios_range reserves page 0
// and drops RAM in [640 KiB, 1 MiB); e820__reserve_resources), and a saved memmap tree reads the same as text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../src/errno.js';
import { initMachine } from '../../src/cli/machine-cmd.js';
import { readState } from '../../src/vm/machine/machine.js';
import { readView } from '../../src/vm/machine/views.js';
import { tempDir } from '../helpers/cli.js';

const MEMMAP = `0x0-0x9fbff : System RAM
0x9fc00-0x9ffff : Reserved
0xf0000-0xfffff : Reserved
0x100000-0xbffdffff : System RAM
0xbffe0000-0xbfffffff : Reserved
0x100000000-0x13fffffff : System RAM
`;

test('--memmap alone: memmap as given, iomem derived as Linux does', () => {
  const work = tempDir();
  try {
    fs.writeFileSync(path.join(work, 'memmap'), MEMMAP);
    initMachine(path.join(work, 'm'), { memmap: path.join(work, 'memmap') });
    const s = readState(path.join(work, 'm'));
    assert.equal(readView(s, '/sys/firmware/memmap'), '0\n1\n2\n3\n4\n5\n');
    assert.deepEqual(['start', 'end', 'type'].map((f) => readView(s, `/sys/firmware/memmap/0/${f}`)), ['0x0\n', '0x9fbff\n', 'System RAM\n']);
    const top = readView(s, '/proc/iomem')!.split('\n').filter((l) => /^\S/.test(l));
    assert.deepEqual(top.slice(0, 3), ['00000000-00000fff : Reserved', '00001000-0009fbff : System RAM', '0009fc00-0009ffff : Reserved']);
    assert.ok(readView(s, '/proc/iomem')!.includes('  01000000-01e01fff : Kernel code'));
    assert.equal(s.config.memBytes, 0xbffe0000n + 0x40000000n, 'RAM the engines give: top of RAM below 4 GiB plus all above');
    // The same map as a saved /sys/firmware/memmap tree.
    const tree = path.join(work, 'tree');
    MEMMAP.trim().split('\n').forEach((l, i) => {
      const m = /^(\S+)-(\S+) : (.+)$/.exec(l)!;
      fs.mkdirSync(path.join(tree, String(i)), { recursive: true });
      for (const [f, v] of [['start', m[1]], ['end', m[2]], ['type', m[3]]] as const) fs.writeFileSync(path.join(tree, String(i), f), `${v}\n`);
    });
    initMachine(path.join(work, 'm2'), { memmap: tree });
    assert.equal(readView(readState(path.join(work, 'm2')), '/proc/iomem'), readView(s, '/proc/iomem'));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('--memmap refuses what is not a firmware map, naming the line', () => {
  const work = tempDir();
  try {
    const bad = (text: string, re: RegExp) => {
      fs.writeFileSync(path.join(work, 'bad'), text);
      assert.throws(() => initMachine(path.join(work, 'x'), { memmap: path.join(work, 'bad') }), (e: unknown) => e instanceof UsageError && re.test(e.message));
      assert.equal(fs.existsSync(path.join(work, 'x', 'machine.json')), false, 'no machine made');
    };
    bad('0x0-0x9fbff : Sytem RAM\n', /bad:1: unknown type "Sytem RAM"/);
    bad('garbage\n', /bad:1: expected "START-END : TYPE"/);
    bad('0x0-0x9fbff : System RAM\n0x9f000-0xfffff : Reserved\n', /overlaps/);
    bad('0x0-0x9fbff : System RAM\n', /no System RAM above 1 MiB/);
    assert.throws(() => initMachine(path.join(work, 'x'), { memmap: path.join(work, 'missing') }), /cannot read --memmap file/);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
