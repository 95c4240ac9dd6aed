// The floor plan as a test: every relative import in src/ goes from a room to the same room or one below it,
// and neither files nor folders import each other in a circle. The rooms, top to bottom, are listed in
// README.md ("How it is built"); a new folder must be given its place here before anything can import it.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'src');

/** Rooms from the top (0) down; a file may import its own room or any room below it. */
const ROOMS: readonly (readonly string[])[] = [
  ['cli'],
  ['loaders', 'loaders/userspace', 'loaders/kernel'],
  ['kexec/arch/x86'],
  ['kexec'],
  ['vm/vmcore'],
  ['vm/kernel'],
  ['vm/machine'],
  ['vm/engines'],
  ['vm/memory'],
  ['sig'],
  ['arch/x86', 'arch/x86/stub'],
  ['.'], // errno.ts: the kernel's errno names (policy: formats may not use them)
  ['formats', 'formats/decompress'],
  ['lib'],
];

/** Rooms held to a shorter list than "anything below": engines see only a memory image and an entry state. */
const ONLY: Readonly<Record<string, readonly string[]>> = {
  'vm/engines': ['vm/engines', 'vm/memory', 'arch/x86', 'arch/x86/stub', '.', 'lib'],
  'vm/memory': ['vm/memory', '.', 'lib'],
  formats: ['formats', 'formats/decompress', 'lib'],
  'formats/decompress': ['formats/decompress', 'lib'],
  lib: ['lib'],
};

function rankOf(folder: string): number {
  const i = ROOMS.findIndex((r) => r.includes(folder));
  assert.ok(i >= 0, `src/${folder} has no place in test/architecture.test.ts ROOMS`);
  return i;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return n.endsWith('.ts') ? [p] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** file (relative to src) -> the src files it imports. */
function importGraph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of sources(SRC)) {
    const rel = relative(SRC, f);
    const text = readFileSync(f, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2])!;
      const target = normalize(join(dirname(rel), spec)).replace(/\.js$/, '.ts');
      deps.push(target);
    }
    g.set(rel, deps);
  }
  return g;
}

/** A cycle in a graph given as adjacency, or null. */
function findCycle(g: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 1);
    stack.push(n);
    for (const d of g.get(n) ?? []) {
      if (state.get(d) === 1) return [...stack.slice(stack.indexOf(d)), d];
      if (!state.has(d)) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return null;
  };
  for (const n of g.keys()) {
    if (!state.has(n)) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return null;
}

const MAX_FILE_LINES = 450;
const MAX_FUNCTION_LINES = 80;

/** Functions (declarations, methods, arrows, function expressions) longer than MAX_FUNCTION_LINES. */
function longFunctions(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && 'body' in n && n.body) {
      const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      if (last - first + 1 > MAX_FUNCTION_LINES) {
        const name = n.name && ts.isIdentifier(n.name) ? n.name.text : '(anonymous)';
        out.push(`function ${name} at line ${first + 1}: ${last - first + 1} lines`);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('architecture: one house, one direction', () => {
  const graph = importGraph();

  it('every relative import names a source file that exists', () => {
    for (const [f, deps] of graph) for (const d of deps) assert.ok(graph.has(d), `src/${f} imports src/${d}, which does not exist`);
  });

  it('imports run from a room to the same room or a lower one', () => {
    const wrong: string[] = [];
    for (const [f, deps] of graph) {
      const from = rankOf(dirname(f));
      for (const d of deps) if (rankOf(dirname(d)) < from) wrong.push(`src/${f} -> src/${d}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('engines, memory, formats and lib import only the rooms they may', () => {
    const wrong: string[] = [];
    for (const [f, deps] of graph) {
      const allowed = ONLY[dirname(f)];
      if (allowed) for (const d of deps) if (!allowed.includes(dirname(d))) wrong.push(`src/${f} -> src/${d}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('no circle of imports between files', () => {
    const g = new Map([...graph].map(([f, deps]) => [f, new Set(deps)]));
    assert.equal(findCycle(g)?.join(' -> ') ?? null, null);
  });

  it('no circle of imports between folders', () => {
    const g = new Map<string, Set<string>>();
    for (const [f, deps] of graph) {
      const from = dirname(f);
      const set = g.get(from) ?? new Set<string>();
      for (const d of deps) if (dirname(d) !== from) set.add(dirname(d));
      g.set(from, set);
    }
    assert.equal(findCycle(g)?.join(' -> ') ?? null, null);
  });

  it('no source file over 450 lines, no function over 80', () => {
    const long: string[] = [];
    for (const f of sources(SRC)) {
      const text = readFileSync(f, 'utf8');
      const lines = text.split('\n').length;
      if (lines > MAX_FILE_LINES) long.push(`src/${relative(SRC, f)}: ${lines} lines`);
      for (const fn of longFunctions(f, text)) long.push(`src/${relative(SRC, f)}: ${fn}`);
    }
    assert.deepEqual(long, []);
  });

  it('the checker sees a wrong import (it can fail)', () => {
    assert.ok(rankOf('formats') > rankOf('.'), 'formats sit below errno');
    const g = new Map([['a', new Set(['b'])], ['b', new Set(['a'])]]);
    assert.deepEqual(findCycle(g), ['a', 'b', 'a']);
  });
});
