// The observer of the long lock stress run (lock-audit.ts, used by load-stress-run.ts) must be able to fail: a
// real load that takes the lock while a live process holds the marker is reported as two holders; a marker a
// killed holder left is taken over silently; the take is announced on the descriptor the runner watches.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, tempDir, vkexec } from '../helpers/cli.js';
import { shortBzImage } from '../fuzz/bases.js';

const AUDIT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lock-audit.js');

function startTime(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

function auditedLoad(work: string, markerText: string | null): { code: number | null; log: string; marker: boolean; fd3: string } {
  const machine = path.join(work, 'm');
  const marker = path.join(work, 'marker');
  const log = path.join(work, 'log');
  fs.rmSync(log, { force: true });
  if (markerText === null) fs.rmSync(marker, { force: true });
  else fs.writeFileSync(marker, markerText);
  const r = spawnSync(process.execPath, ['--import', AUDIT, BIN, '--machine', machine, '-c', '-l', path.join(work, 'k')], {
    env: { ...process.env, NO_COLOR: '1', VKEXEC_PAYLOAD_CACHE: 'off', VKEXEC_LOCK_AUDIT_MARKER: marker, VKEXEC_LOCK_AUDIT_LOG: log, VKEXEC_LOCK_AUDIT_FD: '3' },
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return { code: r.status, log: fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '', marker: fs.existsSync(marker), fd3: String(r.output[3] ?? '') };
}

test('lock-audit: a take while a live process holds the marker is reported; a dead holder\'s marker is taken over', { timeout: 300_000 }, () => {
  const work = tempDir('vkexec-lock-audit-');
  fs.writeFileSync(path.join(work, 'k'), shortBzImage());
  assert.equal(vkexec(null, ['--machine', path.join(work, 'm'), 'machine', 'init']).code, 0);

  const live = auditedLoad(work, `${process.pid} ${startTime(process.pid)}\n`);
  assert.match(live.log, new RegExp(`^TWO HOLDERS: \\d+ \\d+ took the lock while ${process.pid} ${startTime(process.pid)} holds it\\n$`));
  assert.equal(live.marker, true, 'the live holder\'s marker is not removed');
  assert.equal(live.fd3, 'taken\n');

  const dead = auditedLoad(work, '999999999 5\n');
  assert.equal(dead.log, '', 'a dead holder\'s marker is no second holder');
  assert.equal(dead.marker, false, 'taken over, then removed at the release');

  const none = auditedLoad(work, null);
  assert.equal(none.log, '');
  assert.equal(none.marker, false);
  assert.equal(none.fd3, 'taken\n');
});
