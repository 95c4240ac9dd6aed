// acpi_rsdp by kexec-tools 2.0.32's get_acpi_rsdp (read from its source, kexec/arch/i386/kexec-x86-common.c;
// Debian's 2.0.25 asks only the EFI systab, so test/differential cannot check this): the running kernel's
// boot_params.acpi_rsdp_addr goes into the new boot_params on every -c load, and a panic kernel's command
// line gets " acpi_rsdp=0x..." (cmdline_add_efi).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initMachine } from '../../src/cli/machine-cmd.js';
import { tempDir, vkexec } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { vkexecLoaded } from '../differential/compare.js';

const KERNEL = fixture('vmlinuz-amd64');

function bootParams(dir: string, which: 'normal' | 'crash'): { bp: Buffer; cmdline: string } {
  const img = vkexecLoaded(dir, which)!;
  const seg = img.segments.find((s) => s.bytes.length >= 0x1000 && s.bytes.toString('latin1', 0x202, 0x206) === 'HdrS');
  assert.ok(seg, 'a boot_params segment');
  const at = Number(BigInt(seg.bytes.readUInt32LE(0x228)) - seg.mem); // cmd_line_ptr
  return { bp: seg.bytes, cmdline: seg.bytes.toString('latin1', at, seg.bytes.indexOf(0, at)) };
}

test('a running kernel with an RSDP: acpi_rsdp_addr on -c -l, acpi_rsdp= on -c -p (2.0.32)', () => {
  const work = tempDir();
  try {
    const dir = path.join(work, 'm');
    initMachine(dir, { mem: '2G', crashkernel: '256M', acpiRsdp: '0xf5a80' });
    let r = vkexec(dir, ['-c', '-l', KERNEL, '--append', 'console=ttyS0']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(bootParams(dir, 'normal').bp.readBigUInt64LE(0x70), 0xf5a80n);
    r = vkexec(dir, ['-c', '-p', KERNEL, '--append', 'console=ttyS0']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(bootParams(dir, 'crash').cmdline, /^console=ttyS0 acpi_rsdp=0xf5a80 elfcorehdr=\d+K/);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('without an RSDP nothing is added', () => {
  const work = tempDir();
  try {
    const dir = path.join(work, 'm');
    initMachine(dir, { mem: '2G', crashkernel: '256M' });
    const r = vkexec(dir, ['-c', '-p', KERNEL, '--append', 'console=ttyS0']);
    assert.equal(r.code, 0, r.stderr);
    const crash = bootParams(dir, 'crash');
    assert.equal(crash.bp.readBigUInt64LE(0x70), 0n);
    assert.match(crash.cmdline, /^console=ttyS0 elfcorehdr=\d+K/);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
