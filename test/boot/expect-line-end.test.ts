// --expect with `^` and `$`: they match at line starts and ends of the console (multiline), on both engines'
// console watchers, while more output follows; a match at the end of an unfinished line that needs `$` waits
// for the line to end (it may go on); a prompt without `$` still matches before its newline.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsoleWatcher } from '../../src/vm/engines/qemu-console.js';
import { SerialConsole } from '../../src/vm/engines/v86-console.js';
import { expectMatcher } from '../../src/vm/engines/console-markers.js';

const bytes = (s: string) => Buffer.from(s, 'latin1');

test('expectMatcher: multiline, never global or sticky', () => {
  assert.equal(expectMatcher(/a$/g)!.flags, 'm');
  assert.equal(expectMatcher(/a$/iy)!.flags, 'im');
  assert.equal(expectMatcher(/a$/m)!.flags, 'm');
});

test('qemu console: `$` matches a line end while more output follows', () => {
  const w = new ConsoleWatcher(/^VKEXEC-INIT-OK$/);
  assert.equal(w.feed(bytes('Run /init as init process\nVKEXEC-INIT-OK\nBOOT_IMAGE=/boot/vmlinuz console=ttyS0\n')), w.event);
  assert.equal(w.event?.status, 'matched');
  assert.equal(w.event?.line, 'VKEXEC-INIT-OK');
});

test('qemu console: `$` at the end of a line cut between chunks waits for the line to end', () => {
  const longer = new ConsoleWatcher(/VKEXEC-INIT-OK$/);
  assert.equal(longer.feed(bytes('VKEXEC-INIT-OK')), null, 'the line may go on');
  assert.equal(longer.feed(bytes('-BUT-LONGER\n')), null, '"VKEXEC-INIT-OK-BUT-LONGER" has no line end after OK');
  assert.equal(longer.feed(bytes('VKEXEC-INIT-OK\n'))?.status, 'matched');

  // The rest of a matched line reaches the output before the run ends (kdump's "SAVED size=N", cut between chunks).
  const saved = new ConsoleWatcher(/VKEXEC-KDUMP-(SAVED|FAILED)/);
  assert.deepEqual(saved.feed(bytes('[  3.2] virtio_blk\nVKEXEC-KDUMP-SAVED')), { status: 'matched', line: 'VKEXEC-KDUMP-SAVED', complete: false });
  saved.feed(bytes(' size=1354'));
  assert.equal(saved.event?.complete, false);
  saved.feed(bytes('42\n[  3.3] reboot: Restarting system\n'));
  assert.deepEqual(saved.event, { status: 'matched', line: 'VKEXEC-KDUMP-SAVED size=135442', complete: true });

  const prompt = new ConsoleWatcher(/login: /);
  assert.equal(prompt.feed(bytes('\nDebian GNU/Linux 12 vm ttyS0\n\nvm login: '))?.status, 'matched', 'a prompt without `$` matches before any newline');
});

test('v86 console: `$` and `^` per line; a partial line is matched with `$` only at the end of the run', () => {
  const c = new SerialConsole({ expect: /^VKEXEC-INIT-OK$/ });
  const feed = (s: string) => [...bytes(s)].map((b) => c.byte(b)).find((v) => v !== null) ?? null;
  assert.equal(feed('xVKEXEC-INIT-OK\n'), null, '`^` is the line start');
  assert.equal(feed('VKEXEC-INIT-OK'), null);
  assert.equal(c.judgePartial(false), null, 'an unfinished line may go on');
  assert.equal(c.judgePartial(true)?.status, 'matched', 'at the end of the run the line is final');
  const d = new SerialConsole({ expect: /OK$/ });
  assert.equal([...bytes('OK\nmore output\n')].map((b) => d.byte(b)).find((v) => v !== null)?.status, 'matched');
  c.close();
  d.close();
});
