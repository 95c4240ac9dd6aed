// Multiboot entry state on both engines: a tiny image (mb-echo.S, bytes below) prints the EAX it was entered
// with and the command line it finds through EBX (v1: multiboot_info.cmdline; v2: the CMDLINE tag), so the
// purgatory's 32-bit hand-off (entry32_regs) is checked end to end on v86 (i386 machine) and QEMU (both arches).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, vkexec } from '../helpers/cli.js';
import { requireTools } from '../helpers/tools.js';
import { elf32 } from './multiboot-images.js';

/** mb-echo.S built for 0x100000 (-DV1, then without), trailing zeros cut to a multiple of 4. */
const V1 = Buffer.from('ArCtGwIAAQD8T1HkAAAQAAAAEADwABAA8AQQACAAEAD8vPAEEACJx4H/iWLXNnUgjXMIiw6FyXQkg/kBdA2LTgSDwQeD4fgBzuvojXYI6xKB/wKwrSt1BYtzEOsFvucAEABWvs4AEADoNQAAAIn46DsAAAC+3QAQAOgkAAAAXugeAAAAsAroBAAAAPr06/xSUGa6/QPsqCB0+1hmuvgD7lrDrITAdAfo4////+v0w7kIAAAAicLBwgSJ0IPgDzwKcgIEJwQw6MT////i6cNWS0VYRUMtTUIgZWF4PQAgY21kbGluZT0AKG5vbmUpAGaQ', 'base64');
const V2 = Buffer.from('1lBS6AAAAAAYAAAAEq+tFwAAAAAIAAAA/LzoBBAAiceB/4li1zZ1II1zCIsOhcl0JIP5AXQNi04Eg8EHg+H4Ac7r6I12COsSgf8CsK0rdQWLcxDrBb7fABAAVr7GABAA6DUAAACJ+Og7AAAAvtUAEADoJAAAAF7oHgAAALAK6AQAAAD69Ov8UlBmuv0D7KggdPtYZrr4A+5aw6yEwHQH6OP////r9MO5CAAAAInCwcIEidCD4A88CnICBCcEMOjE////4unDVktFWEVDLU1CIGVheD0AIGNtZGxpbmU9AChub25lKQBmkA==', 'base64');

const work = tempDir();
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
const IMG_V1 = path.join(work, 'mb1.img');
const IMG_V2 = path.join(work, 'mb2.elf');
fs.writeFileSync(IMG_V1, V1);
fs.writeFileSync(IMG_V2, elf32(V2, 0x100000, 0x100018, 0x500));
const qemu = spawnSync('qemu-system-x86_64', ['-version'], { encoding: 'utf8' });
assert.ok(!qemu.error, 'qemu-system-x86_64 is needed for these tests: apt-get install qemu-system-x86');

const cases = [
  { arch: 'i386', engine: 'v86', img: IMG_V1, type: 'multiboot-x86', eax: '2badb002' },
  { arch: 'i386', engine: 'v86', img: IMG_V2, type: 'multiboot2-x86', eax: '36d76289' },
  { arch: 'i386', engine: 'qemu', img: IMG_V1, type: 'multiboot-x86', eax: '2badb002' },
  { arch: 'x86_64', engine: 'qemu', img: IMG_V1, type: 'multiboot-x86', eax: '2badb002' },
  { arch: 'x86_64', engine: 'qemu', img: IMG_V2, type: 'multiboot2-x86', eax: '36d76289' },
] as const;

for (const c of cases) {
  test(`${c.type} on ${c.arch} / ${c.engine}: EAX magic and the command line through EBX`, { timeout: 600_000 }, () => {
    const m = path.join(work, `${c.arch}-${c.engine}-${path.basename(c.img)}`);
    assert.equal(vkexec(m, ['machine', 'init', '--arch', c.arch]).code, 0);
    const l = vkexec(m, ['-c', '-l', c.img, '--command-line', 'hello mb']);
    assert.equal(l.code, 0, l.stderr);
    assert.match(vkexec(m, ['machine', 'show', '--json']).stdout, new RegExp(c.type));
    const e = vkexec(m, ['-e', '--engine', c.engine, ...(c.engine === 'qemu' ? ['--accel', 'tcg'] : []), '--expect', 'VKEXEC-MB eax=[0-9a-f]+ cmdline=.* hello mb', '--timeout', '300']);
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stdout + e.stderr, new RegExp(`VKEXEC-MB eax=${c.eax} cmdline=${c.img.replace(/[.]/g, '\\.')} hello mb`));
  });
}

test('the embedded bytes are what mb-echo.S assembles to', (t) => {
  if (!requireTools(t, ['gcc', 'ld'], 'VKEXEC_SKIP_TOOLCHAIN', 'gcc binutils')) return;
  const src = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../test/loaders/mb-echo.S');
  for (const [def, want] of [[['-DV1'], V1], [[], V2]] as const) {
    const o = path.join(work, 'mb.o');
    const bin = path.join(work, 'mb.bin');
    execFileSync('gcc', ['-m32', ...def, '-c', src, '-o', o]);
    execFileSync('ld', ['-m', 'elf_i386', '-Ttext=0x100000', '--oformat', 'binary', o, '-o', bin]);
    assert.deepEqual(fs.readFileSync(bin).subarray(0, want.length), want);
  }
});
