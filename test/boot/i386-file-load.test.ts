// `-s` on an i386 machine answers as 32-bit Linux and kexec-tools built for i386 do: there is no
// kexec_file_load (CONFIG_KEXEC_FILE depends on X86_64; kexec/kexec-syscall.h has no __NR_kexec_file_load for
// i386), so do_kexec_file_load returns EFALLBACK before it opens the kernel: "syscall kexec_file_load not
// available.", exit 253; -a (the default) loads with kexec_load; no load attempt is counted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { fixture } from '../helpers/fixtures.js';
import { vkexec } from '../helpers/cli.js';
import { ok, scratchDirs } from './boot-helpers.js';

const KERNEL32 = fixture('vmlinuz-686');
const KERNEL64 = fixture('vmlinuz-amd64');
const dir = scratchDirs('vkexec-i386s-');

test('i386 machine: -s is "syscall kexec_file_load not available." (253) whatever the kernel; -a falls back to kexec_load', () => {
  const d = dir();
  const m = path.join(d, 'm');
  ok(vkexec(m, ['machine', 'init', '--arch', 'i386']), 'machine init');
  ok(vkexec(m, ['machine', 'sysctl', 'kexec_load_limit_reboot=5']), 'sysctl');
  for (const kernel of [KERNEL32, KERNEL64, path.join(d, 'missing-kernel')]) {
    const r = vkexec(m, ['-s', '-l', kernel, '--append', 'console=ttyS0']);
    assert.equal(r.code, 253, r.stderr);
    assert.match(r.stderr, /^syscall kexec_file_load not available\.$/m);
    assert.match(r.stderr, /^vkexec: kexec_file_load: i386 Linux has no kexec_file_load system call \(CONFIG_KEXEC_FILE depends on X86_64/m);
    assert.match(r.stderr, /^vkexec: fix: load with -c \(kexec_load\), or with -a/m);
    assert.doesNotMatch(r.stderr, /bzImage64_probe|Failed to open file|purgatory/, 'nothing is probed or opened');
  }
  const u = vkexec(m, ['-s', '-u']);
  assert.equal(u.code, 253, u.stderr);
  assert.equal(vkexec(m, ['machine', 'show', '--file', '/proc/sys/kernel/kexec_load_limit_reboot']).stdout, '5\n', 'ENOSYS counts no load attempt');

  const auto = vkexec(m, ['-d', '-l', KERNEL32, '--append', 'console=ttyS0']);
  ok(auto, '-l (auto)');
  assert.match(auto.stderr, /kexec_file_load: ENOSYS .* falling back to kexec_load/);
  assert.equal(vkexec(m, ['machine', 'show', '--file', '/sys/kernel/kexec_loaded']).stdout, '1\n');
});
