// Parsers of `vkexec check`'s reports for the tests: JUnit XML through fast-xml-parser (its validator first:
// well-formed XML, then the structure GitHub, GitLab and Jenkins read), TAP through tap-parser (node-tap's).

import assert from 'node:assert/strict';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { Parser } from 'tap-parser';

export interface JunitCase {
  suite: string;
  classname: string;
  name: string;
  time: number;
  failure: { message: string; type: string; text: string } | null;
  skipped: string | null;
  systemOut: string | null;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
/** A text made of several CDATA sections (a "]]>" in the text is split across two) comes as an array. */
const cdataText = (v: unknown): string => (Array.isArray(v) ? v.join('') : String(v ?? ''));

/** Parses and checks a JUnit report: counts on <testsuites> and each <testsuite> agree with its testcases. */
export function parseJunit(xml: string): JunitCase[] {
  const valid = XMLValidator.validate(xml);
  assert.equal(valid, true, `not well-formed XML: ${JSON.stringify(valid)}`);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', cdataPropName: '#cdata', parseAttributeValue: false, htmlEntities: true }).parse(xml);
  const root = doc.testsuites;
  assert.ok(root, 'the root element is <testsuites>');
  const cases: JunitCase[] = [];
  for (const s of list(root.testsuite)) {
    const mine: JunitCase[] = list(s.testcase).map((c: Record<string, unknown>) => {
      const f = c.failure as Record<string, string> | undefined;
      const sk = c.skipped as Record<string, string> | undefined;
      const out = c['system-out'] as Record<string, string> | undefined;
      return {
        suite: s['@name'], classname: c['@classname'] as string, name: c['@name'] as string, time: Number(c['@time']),
        failure: f ? { message: f['@message']!, type: f['@type']!, text: cdataText(f['#cdata']) } : null,
        skipped: sk ? sk['@message']! : null,
        systemOut: out ? cdataText(out['#cdata']) : null,
      };
    });
    assert.equal(Number(s['@tests']), mine.length, `testsuite ${s['@name']} tests=`);
    assert.equal(Number(s['@failures']), mine.filter((c) => c.failure).length, `testsuite ${s['@name']} failures=`);
    assert.equal(Number(s['@skipped']), mine.filter((c) => c.skipped !== null).length, `testsuite ${s['@name']} skipped=`);
    for (const c of mine) assert.ok(Number.isFinite(c.time) && c.time >= 0, `time of ${c.name}`);
    cases.push(...mine);
  }
  assert.equal(Number(root['@tests']), cases.length);
  assert.equal(Number(root['@failures']), cases.filter((c) => c.failure).length);
  return cases;
}

export interface TapResult {
  ok: boolean;
  count: number;
  pass: number;
  fail: number;
  skip: number;
  plan: { start: number; end: number };
  failures: { name: string; diag?: Record<string, unknown> }[];
  bailout: unknown;
}

export function parseTap(text: string): Promise<TapResult> {
  return new Promise((resolve) => {
    const p = new Parser((r: unknown) => resolve(r as TapResult));
    p.end(text);
  });
}
