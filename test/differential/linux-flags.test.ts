// kexec-tools 2.0.32's -d on a 6.1 machine (issue 16, bar item 2). 2.0.32's main() ORs KEXEC_FILE_DEBUG into
// the kexec_file_load flags for -d; 6.1's kexec_file_load answers EINVAL for it (flags outside
// KEXEC_FILE_FLAGS, kernel/kexec_file.c, before the lockdown check and before an ON_CRASH load frees the loaded
// crash image); do_kexec_file_load maps EINVAL to EFALLBACK; main() then falls back to my_load (kexec_load)
// unless -s, and prints "syscall kexec_file_load not available." when EFALLBACK is its result (exit 253).
// The real 6.1 kernel's EINVAL for flags 0x8 is measured by linux-kexec.test.ts (calls "debug", "lk-debug").

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture } from '../helpers/fixtures.js';
import { tempDir, vkexec } from '../helpers/cli.js';
import * as path from 'node:path';

const KERNEL = fixture('vmlinuz-amd64-unsigned');

function machine(release: '6.1' | '6.12'): string {
  const m = path.join(tempDir('vkexec-flags-'), 'm');
  const r = vkexec(m, ['machine', 'init', '--kernel-release', release, '--crashkernel', '256M']);
  assert.equal(r.code, 0, r.stderr);
  return m;
}

const view = (m: string, file: string) => vkexec(m, ['machine', 'show', '--file', file]).stdout.trim();

test('Linux 6.1: -s -d ends as kexec-tools 2.0.32 does ("syscall kexec_file_load not available.", 253, nothing loaded or freed)', () => {
  const m = machine('6.1');
  const crash = vkexec(m, ['-s', '-p', KERNEL, '--append', 'console=ttyS0']);
  assert.equal(crash.code, 0, crash.stderr);
  for (const mode of ['-l', '-p']) {
    const r = vkexec(m, ['-s', '-d', mode, KERNEL, '--append', 'console=ttyS0']);
    assert.equal(r.code, 253, r.stderr);
    assert.match(r.stderr, /^syscall kexec_file_load not available\.$/m);
    assert.doesNotMatch(r.stderr, /kexec_file_load failed|kexec_load failed/);
    assert.match(r.stderr, /unknown flags 0x8 for Linux 6\.1/, 'the rule line names the flag');
  }
  assert.equal(view(m, '/sys/kernel/kexec_loaded'), '0', '-s -d -l loaded nothing');
  assert.equal(view(m, '/sys/kernel/kexec_crash_loaded'), '1', 'the EINVAL comes before kexec_file_load frees the crash image');
});

test('Linux 6.1: -d -l falls back to kexec_load; under lockdown that fails as "kexec_load failed: Operation not permitted"', () => {
  const m = machine('6.1');
  const r = vkexec(m, ['-d', '-l', KERNEL, '--append', 'console=ttyS0']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /falling back to kexec_load/);
  assert.match(r.stderr, /^kexec_load: entry = 0x[0-9a-f]+ flags = 0x3e0000$/m, 'the image went through kexec_load');
  assert.equal(view(m, '/sys/kernel/kexec_loaded'), '1');
  assert.equal(vkexec(m, ['-u']).code, 0);
  assert.equal(vkexec(m, ['machine', 'set', '--lockdown', 'integrity']).code, 0);
  const lk = vkexec(m, ['-d', '-l', KERNEL, '--append', 'console=ttyS0']);
  assert.equal(lk.code, 255, lk.stderr);
  assert.match(lk.stderr, /^kexec_load failed: Operation not permitted$/m);
  assert.doesNotMatch(lk.stderr, /kexec_file_load failed|not available/);
  // -s -d under lockdown: still EINVAL (the flags check precedes the lockdown check), so still 253.
  const s = vkexec(m, ['-s', '-d', '-l', KERNEL]);
  assert.equal(s.code, 253, s.stderr);
  assert.match(s.stderr, /^syscall kexec_file_load not available\.$/m);
  assert.equal(view(m, '/sys/kernel/kexec_loaded'), '0');
});

test('Linux 6.12: -s -d loads with KEXEC_FILE_DEBUG (0x8 is in its KEXEC_FILE_FLAGS since 6.8)', () => {
  const m = machine('6.12');
  const r = vkexec(m, ['-s', '-d', '-l', KERNEL, '--append', 'console=ttyS0']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^kexec_file: kexec_file_load: type:0, start:0x[0-9a-f]+ head:0x[0-9a-f]+ flags:0xc$/m, 'the kernel logged KEXEC_FILE_DEBUG|NO_INITRAMFS');
  assert.doesNotMatch(r.stderr, /not available/);
  assert.equal(view(m, '/sys/kernel/kexec_loaded'), '1');
});
