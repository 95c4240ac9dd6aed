// --reuse-cmdline's command line, by kexec-tools 2.0.32's get_command_line/remove_parameter/concat_cmdline
// (read from its source, kexec/kexec.c; the differential test checks the one-word cases against 2.0.25).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatCmdline, removeParameter, reuseCommandLine } from '../../src/kexec/cmdline.js';

test('remove_parameter cuts through the next space, keeps other spaces, and removes every occurrence (2.0.32)', () => {
  assert.equal(removeParameter('root=/dev/sda1 crashkernel=256M ro', 'crashkernel'), 'root=/dev/sda1 ro');
  // The last word keeps its leading space; concat_cmdline adds another.
  assert.equal(removeParameter('root=/dev/sda1 crashkernel=256M', 'crashkernel'), 'root=/dev/sda1 ');
  assert.equal(concatCmdline(removeParameter('ro crashkernel=1G', 'crashkernel'), 'x=1'), 'ro  x=1');
  // Two crashkernel= words (high and low): 2.0.32 removes both (commit 39ba2bd), 2.0.25 stopped at the first.
  assert.equal(removeParameter('ro crashkernel=512M,high crashkernel=128M,low quiet', 'crashkernel'), 'ro quiet');
  assert.equal(removeParameter('ro crashkernel=512M,high crashkernel=128M,low', 'crashkernel'), 'ro ');
  // strstr finds it inside a word first: not a parameter start, nothing is removed.
  assert.equal(removeParameter('xcrashkernel=1 crashkernel=2', 'crashkernel'), 'xcrashkernel=1 crashkernel=2');
  // A prefix match: "crashkernelfoo" is removed too (strstr matches the prefix).
  assert.equal(removeParameter('crashkernelfoo=1 ro', 'crashkernel'), 'ro');
  // Runs of spaces elsewhere stay.
  assert.equal(removeParameter('a  BOOT_IMAGE=/k  b', 'BOOT_IMAGE'), 'a   b');
});

test('get_command_line drops the last byte and cuts at the first CR or LF', () => {
  assert.equal(reuseCommandLine('BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro\n', false), 'root=/dev/sda1 ro');
  assert.equal(reuseCommandLine('ro crashkernel=256M\n', true), 'ro ');
  assert.equal(reuseCommandLine('ro crashkernel=256M\n', false), 'ro crashkernel=256M');
  assert.equal(reuseCommandLine('a\rb\n', false), 'a');
});
