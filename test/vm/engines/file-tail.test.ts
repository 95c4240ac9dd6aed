// FileTail, which follows QEMU's console file: every byte arrives once, in order, whether written in small
// pieces while it polls, in a burst larger than one read, or just before the writer ends.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileTail } from '../../../src/vm/engines/file-tail.js';

test('follows appends in order, a burst larger than one read, and the bytes written just before finish()', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vkexec-tail-'));
  try {
    const file = join(dir, 'console');
    writeFileSync(file, 'early ');
    const tail = await FileTail.open(file);
    const chunks: Buffer[] = [];
    tail.follow((c) => chunks.push(c));
    const expected: Buffer[] = [Buffer.from('early ')];
    for (let i = 0; i < 20; i++) {
      const piece = Buffer.from(`line ${i}\r\n`);
      appendFileSync(file, piece);
      expected.push(piece);
      await sleep(3);
    }
    // Something was delivered while the writer was still going: the tail polls, it does not wait for the end.
    assert.ok(chunks.length > 0, 'nothing delivered while writing');
    const burst = Buffer.alloc(200_000);
    for (let i = 0; i < burst.length; i++) burst[i] = (i * 7 + 3) & 0xff;
    appendFileSync(file, burst);
    expected.push(burst);
    const last = Buffer.from('VKEXEC-LAST-LINE\n');
    appendFileSync(file, last);
    expected.push(last);
    await tail.finish();
    assert.deepEqual(Buffer.concat(chunks), Buffer.concat(expected));
    assert.ok(chunks.every((c) => c.length <= 64 * 1024), 'reads are bounded');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
