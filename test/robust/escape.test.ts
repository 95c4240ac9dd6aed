// Issue 11, output: every user-controlled string vkexec prints in its normal output (file names, the command
// line, PE section names, cpio names and /init's interpreter, kernel module names, machine show, -d lines,
// vmcore check) has its control characters escaped as the failure lines have them (safeText): a name holding
// a newline and an escape sequence neither forges a `vkexec: fix:` line nor reaches the terminal raw.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildCpio } from '../../src/formats/cpio.js';
import { parsePe, SECTION_HEADER } from '../../src/formats/pe.js';
import { fixture } from '../helpers/fixtures.js';
import { tempDir, vkexec, type Run } from '../helpers/cli.js';

const work = tempDir('vkexec-escape-');
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

/** What a hostile name carries: a newline that would start a forged fix line, and an SGR escape. */
const EVIL = '\nvkexec: fix: FORGED\x1b[31m';
/** How it must appear: escaped, on the line of the name. */
const SHOWN = '\\nvkexec: fix: FORGED\\x1b[31m';

/** No raw control character but newline and tab; no line that a name started; `must` printed escaped. */
function clean(r: Run, what: string, must: string[] = [SHOWN]): void {
  const all = r.stdout + r.stderr;
  assert.doesNotMatch(all, /internal error|    at /, `${what}: ${r.stderr}`);
  const raw = /[\x00-\x08\x0b-\x1f\x7f\x9b]/.exec(all);
  assert.equal(raw, null, `${what}: raw control character ${JSON.stringify(raw?.[0])} in ${JSON.stringify(all.slice(Math.max(0, (raw?.index ?? 0) - 80), (raw?.index ?? 0) + 20))}`);
  assert.doesNotMatch(all, /^(vkexec: fix: )?FORGED/m, `${what}: a name started a line`);
  for (const m of must) assert.ok(all.includes(m), `${what}: ${JSON.stringify(m)} is not in the output:\n${all}`);
}

const kernel = path.join(work, `vmlinuz${EVIL}`);
const initrd = path.join(work, `initrd${EVIL}`);
const signed = path.join(work, `signed${EVIL}`);
const cmdline = `console=ttyS0${EVIL}`;
fs.copyFileSync(fixture('vmlinuz-amd64-unsigned'), kernel);
fs.writeFileSync(initrd, buildCpio([
  { type: 'file', path: 'init', data: Buffer.from('#!/bin/sh\x1b[31m\necho hi\n'), mode: 0o755 },
  { type: 'file', path: `lib/modules/6.1.0-vkexec/kernel/evil${EVIL}.ko`, data: new Uint8Array(16) },
]));
// Debian's signed kernel with its .text section renamed to a newline and an escape sequence.
const pe = new Uint8Array(fs.readFileSync(fixture('vmlinuz-amd64')));
const text = parsePe(pe).sections.find((s) => s.name === '.text')!;
pe.set(Buffer.from('\n\x1b[31mX\0'), text.headerOffset + SECTION_HEADER.name.offset);
fs.writeFileSync(signed, pe);

const machine = path.join(work, 'm');
assert.equal(vkexec(machine, ['machine', 'init']).code, 0);

test('-d -s -l and -d -c -l: kernel, initrd and command line escaped in the debug lines and the warning', () => {
  for (const mode of ['-s', '-c']) {
    const r = vkexec(machine, ['-d', mode, '-l', kernel, '--initrd', initrd, `--command-line=${cmdline}`]);
    assert.equal(r.code, 0, r.stderr);
    // kexec-tools' -d names no file under -c; the kernel's lines under -s carry the command line.
    clean(r, `-d ${mode} -l`, mode === '-s' ? [`console=ttyS0${SHOWN}`] : []);
  }
});

test('machine show: the loaded image names and command line escaped', () => {
  assert.equal(vkexec(machine, ['-c', '-l', kernel, '--initrd', initrd, `--command-line=${cmdline}`]).code, 0);
  const r = vkexec(machine, ['machine', 'show']);
  assert.equal(r.code, 0, r.stderr);
  clean(r, 'machine show', [`vmlinuz${SHOWN}`, `initrd${SHOWN}`]);
  const e = vkexec(machine, ['-e', '--engine', 'verify']);
  clean(e, '-e --engine verify', []);
  clean(vkexec(machine, ['machine', 'show', '--file', '/proc/cmdline']), 'machine show --file /proc/cmdline', []);
});

test('inspect: the file name, /init interpreter, module names and PE section names escaped', () => {
  clean(vkexec(null, ['inspect', kernel]), 'inspect kernel');
  clean(vkexec(null, ['inspect', initrd]), 'inspect initrd', [`initrd${SHOWN}`, '/bin/sh\\x1b[31m', `evil${SHOWN}`]);
  clean(vkexec(null, ['inspect', signed]), 'inspect signed PE', [`signed${SHOWN}`, '\\n\\x1b[31mX']);
});

test('vmcore check and a refusal: the file name escaped', () => {
  const r = vkexec(null, ['vmcore', 'check', kernel]);
  assert.equal(r.code, 1);
  clean(r, 'vmcore check');
  clean(vkexec(machine, ['-c', '-l', path.join(work, `missing${EVIL}`)]), 'a missing kernel', [`missing${SHOWN}`]);
});
