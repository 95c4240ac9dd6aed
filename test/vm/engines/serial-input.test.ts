// The serial-input escape handler: QEMU's Ctrl-A convention on every engine.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialEscape } from '../../../src/vm/engines/serial-input.js';

const feed = (e: SerialEscape, s: string) => {
  const r = e.feed(Buffer.from(s, 'latin1'));
  return { toGuest: Buffer.from(r.toGuest).toString('latin1'), quit: r.quit };
};

test('plain bytes reach the guest unchanged', () => {
  assert.deepEqual(feed(new SerialEscape(), 'ls -l\r\x03'), { toGuest: 'ls -l\r\x03', quit: false });
});

test('Ctrl-A Ctrl-A sends one Ctrl-A; Ctrl-A and another byte sends both', () => {
  assert.deepEqual(feed(new SerialEscape(), 'ping\x01\x01pong\x01bq'), { toGuest: 'ping\x01pong\x01bq', quit: false });
});

test('Ctrl-A x quits and sends nothing more', () => {
  assert.deepEqual(feed(new SerialEscape(), 'abc\x01x'), { toGuest: '', quit: true });
});

test('an escape split across chunks still counts', () => {
  const e = new SerialEscape();
  assert.deepEqual(feed(e, 'a\x01'), { toGuest: 'a', quit: false });
  assert.deepEqual(feed(e, '\x01'), { toGuest: '\x01', quit: false });
  assert.deepEqual(feed(e, '\x01'), { toGuest: '', quit: false });
  assert.deepEqual(feed(e, 'x'), { toGuest: '', quit: true });
});
