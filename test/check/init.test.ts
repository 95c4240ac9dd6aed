// vkexec's check init: build.sh reproduces the committed binaries byte for byte, and they are what init.c
// says: static ELF executables (x86_64, i386) with no interpreter and no dynamic section.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { checkInitPath, checkInitramfs } from '../../src/arch/x86/check-init.js';
import { parseCpio } from '../../src/formats/cpio.js';
import { requireTools } from '../helpers/tools.js';

test('build.sh reproduces the committed init binaries byte for byte', (t) => {
  if (!requireTools(t, ['gcc', 'ld', 'strip'], 'VKEXEC_NO_TOOLCHAIN', 'gcc binutils')) return;
  const out = mkdtempSync(join(tmpdir(), 'vkexec-init-build-'));
  try {
    execFileSync('bash', [join(dirname(checkInitPath('x86_64')), 'build.sh'), out], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const arch of ['x86_64', 'i386'] as const) {
      assert.ok(readFileSync(join(out, `init-${arch}`)).equals(readFileSync(checkInitPath(arch))), `init-${arch} built from init.c differs from the committed one: run src/arch/x86/init/build.sh and commit both (Debian 12 gcc 12.2 / binutils 2.40)`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('the init binaries are static executables for their machine; the initramfs holds /init and /dev/console', (t) => {
  if (!requireTools(t, ['readelf'], 'VKEXEC_NO_TOOLCHAIN', 'binutils')) return;
  for (const [arch, machine] of [['x86_64', 'Advanced Micro Devices X86-64'], ['i386', 'Intel 80386']] as const) {
    const h = execFileSync('readelf', ['-h', '-l', checkInitPath(arch)]).toString();
    assert.match(h, /Type:\s+EXEC/);
    assert.ok(h.includes(machine), h);
    assert.doesNotMatch(h, /INTERP|DYNAMIC/);
    const { entries } = parseCpio(checkInitramfs(arch));
    const names = entries.map((e) => e.path);
    assert.deepEqual(names.filter((n) => n !== 'TRAILER!!!'), ['dev', 'dev/console', 'proc', 'init']);
  }
});
