// The reports of `vkexec check`: the human table, --json, --junit FILE (JUnit XML as GitHub, GitLab and
// Jenkins read it: one <testsuite> per input, one <testcase> per check, <failure> with the vkexec rule and fix
// lines, <skipped> with its reason, the guest console in <system-out>) and --tap (TAP version 13, the
// protocol prove and kselftest runners read: a plan, one test point per case, a YAML block on failures).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Out } from './output.js';
import { safeText } from './output.js';
import type { CheckName } from './check-cases.js';
import type { CaseResult } from './check-machine.js';

export interface CaseRecord extends CaseResult {
  input: string;
  check: CheckName;
  durationMs: number;
}

/** How an input was read: what it is, and how long reading it (a package: decompressing its data.tar) took. */
export interface InputRecord {
  input: string;
  kind: string | null;
  release: string | null;
  arch: string | null;
  readMs: number;
  error: string | null;
}

export interface Summary {
  passed: number;
  failed: number;
  skipped: number;
  wallMs: number;
}

export function summarize(cases: readonly CaseRecord[], wallMs: number): Summary {
  const n = (o: string) => cases.filter((c) => c.outcome === o).length;
  return { passed: n('pass'), failed: n('fail'), skipped: n('skip'), wallMs };
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);
export const summaryLine = (s: Summary) => `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`;

/** The human table on stdout, then each failure's rule and fix as `vkexec:` lines, then the totals. */
export function printTable(cases: readonly CaseRecord[], s: Summary, out: Out, read: readonly InputRecord[]): void {
  const inputs = [...new Set(cases.map((c) => c.input))];
  const width = Math.max(5, ...cases.map((c) => c.check.length));
  for (const input of inputs) {
    const r = read.find((x) => x.input === input);
    const facts = r && !r.error ? ` (${r.kind}, ${r.release ?? 'release unknown'}, ${r.arch}; read in ${(r.readMs / 1000).toFixed(1)} s)` : '';
    out.line(out.c.bold(safeText(input)) + safeText(facts));
    for (const c of cases.filter((x) => x.input === input)) {
      const mark = c.outcome === 'pass' ? out.c.green('pass') : c.outcome === 'fail' ? out.c.red('FAIL') : out.c.yellow('skip');
      out.line(`  ${mark}  ${c.check.padEnd(width)}  ${(c.durationMs / 1000).toFixed(1).padStart(6)} s  ${safeText(c.message)}`);
      if (c.outcome === 'fail') {
        if (c.rule) out.line(`        vkexec: ${safeText(c.rule)}`);
        if (c.fix) out.line(`        vkexec: fix: ${safeText(c.fix)}`);
      }
    }
  }
  out.line(`${summaryLine(s)} in ${(s.wallMs / 1000).toFixed(1)} s`);
}

export function jsonReport(cases: readonly CaseRecord[], s: Summary, inputs: readonly InputRecord[]): unknown {
  return { summary: s, inputs, cases };
}

/** XML 1.0 text: the characters XML forbids (most C0 controls, e.g. a console's escape sequences) as U+FFFD. */
const xmlChars = (t: string) => t.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, '\ufffd');
const attr = (t: string) => xmlChars(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/\n/g, '&#10;');
/** XML parsers turn CR LF into LF anyway (XML 1.0 section 2.11): the console's CRs are left out here. */
const cdata = (t: string) => `<![CDATA[${xmlChars(t.replace(/\r\n?/g, '\n')).replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;

function failureText(c: CaseRecord): string {
  return [`vkexec: ${c.message}`, ...(c.rule ? [`vkexec: rule: ${c.rule}`] : []), ...(c.fix ? [`vkexec: fix: ${c.fix}`] : [])].join('\n');
}

export function junitXml(cases: readonly CaseRecord[], s: Summary): string {
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, '');
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="vkexec check" tests="${cases.length}" failures="${s.failed}" errors="0" skipped="${s.skipped}" time="${seconds(s.wallMs)}">`];
  [...new Set(cases.map((c) => c.input))].forEach((input, id) => {
    const mine = cases.filter((c) => c.input === input);
    const t = mine.reduce((a, c) => a + c.durationMs, 0);
    const n = (o: string) => mine.filter((c) => c.outcome === o).length;
    lines.push(`  <testsuite name="${attr(input)}" id="${id}" package="vkexec.check" tests="${mine.length}" failures="${n('fail')}" errors="0" skipped="${n('skip')}" time="${seconds(t)}" timestamp="${stamp}" hostname="${attr(os.hostname())}">`);
    for (const c of mine) {
      lines.push(`    <testcase classname="vkexec.check.${attr(path.basename(input))}" name="${attr(c.check)}" time="${seconds(c.durationMs)}">`);
      if (c.outcome === 'fail') lines.push(`      <failure message="${attr(c.message)}" type="${attr(c.rule ?? 'vkexec check')}">${cdata(failureText(c))}</failure>`);
      if (c.outcome === 'skip') lines.push(`      <skipped message="${attr(c.message)}"/>`);
      if (c.console) lines.push(`      <system-out>${cdata(c.console)}</system-out>`);
      lines.push('    </testcase>');
    }
    lines.push('  </testsuite>');
  });
  lines.push('</testsuites>');
  return lines.join('\n') + '\n';
}

/** A test point's description: one line, with "#" escaped (TAP 13: it starts a directive). */
const tapText = (t: string) => safeText(t).replace(/\\/g, '\\\\').replace(/#/g, '\\#');

export function tapReport(cases: readonly CaseRecord[], s: Summary): string {
  const lines = ['TAP version 13', `1..${cases.length}`];
  cases.forEach((c, i) => {
    const desc = `${tapText(c.input)} ${c.check}`;
    if (c.outcome === 'skip') lines.push(`ok ${i + 1} - ${desc} # SKIP ${tapText(c.message)}`);
    else lines.push(`${c.outcome === 'pass' ? 'ok' : 'not ok'} ${i + 1} - ${desc}`);
    // YAML diagnostics: JSON strings are YAML flow scalars.
    const yaml: Record<string, string | number> = { duration_ms: c.durationMs, message: c.message };
    if (c.outcome === 'fail') {
      if (c.rule) yaml.rule = c.rule;
      if (c.fix) yaml.fix = c.fix;
      if (c.console) yaml.console_tail = c.console.split(/\r?\n/).filter(Boolean).slice(-20).join('\n');
    }
    if (c.outcome !== 'skip') lines.push('  ---', ...Object.entries(yaml).map(([k, v]) => `  ${k}: ${JSON.stringify(typeof v === 'string' ? xmlChars(v) : v)}`), '  ...');
  });
  lines.push(`# ${summaryLine(s)}`);
  return lines.join('\n') + '\n';
}

/** Writes a report file whole: a temporary file beside it, then rename (a reader never sees half a report). */
export function writeReport(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
