// The report writers with hostile text: a "#" in an input name (a TAP directive), "]]>" and escape sequences in
// a console (CDATA's end, characters XML 1.0 forbids), quotes and newlines in messages. Read back by the real
// parsers, every case keeps its name, outcome and text.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { junitXml, summarize, tapReport, type CaseRecord } from '../../src/cli/check-report.js';
import { parseJunit, parseTap } from './reports.js';

const cases: CaseRecord[] = [
  { input: 'dir/linux #1.deb', check: 'types', outcome: 'pass', message: 'file type "bzImage64" & <ok>', rule: null, fix: null, console: '', durationMs: 12 },
  { input: 'dir/linux #1.deb', check: 'boot', outcome: 'fail', message: 'qemu: panic\nsecond line', rule: 'init/main.c kernel_init', fix: 'fix "it"', console: 'a]]>b\x1b[0m\x00end\r\n', durationMs: 3400 },
  { input: 'k', check: 'load-s-6.1', outcome: 'skip', message: 'i386 # no kexec_file_load', rule: null, fix: null, console: '', durationMs: 0 },
];

test('JUnit: hostile text survives the XML parser; counts, failure text with rule and fix, system-out', () => {
  const parsed = parseJunit(junitXml(cases, summarize(cases, 5000)));
  assert.deepEqual(parsed.map((c) => [c.suite, c.name]), cases.map((c) => [c.input, c.check]));
  assert.equal(parsed[0]!.failure, null);
  assert.equal(parsed[1]!.failure!.message, 'qemu: panic\nsecond line');
  assert.equal(parsed[1]!.failure!.text, 'vkexec: qemu: panic\nsecond line\nvkexec: rule: init/main.c kernel_init\nvkexec: fix: fix "it"');
  assert.equal(parsed[1]!.systemOut, 'a]]>b\ufffd[0m\ufffdend\n');
  assert.equal(parsed[2]!.skipped, 'i386 # no kexec_file_load');
  assert.equal(parsed[1]!.time, 3.4);
});

test('TAP 13: plan, outcomes and SKIP read back by tap-parser despite "#" in names and reasons', async () => {
  const r = await parseTap(tapReport(cases, summarize(cases, 5000)));
  assert.equal(r.count, 3);
  assert.deepEqual([r.pass, r.fail, r.skip], [2, 1, 1]);
  assert.equal(r.failures.length, 1);
  assert.equal(r.failures[0]!.name, 'dir/linux #1.deb boot');
  assert.equal((r.failures[0]!.diag as { rule: string }).rule, 'init/main.c kernel_init');
});
