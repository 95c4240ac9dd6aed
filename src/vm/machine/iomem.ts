// The machine's resource tree in the form Linux prints it in /proc/iomem (kernel/resource.c r_show):
// "%0*llx-%0*llx : %s", two spaces of indent per nesting level, inclusive ends, width 8 on x86_64.

import { hex, hexPad } from '../../lib/hex.js';
import { type PhysRange, fromInclusive, overlapsAny } from '../../lib/range.js';

export interface Resource {
  start: bigint;
  /** Inclusive, as the kernel stores it. */
  end: bigint;
  name: string;
  children: Resource[];
}

/** The half-open range a resource covers: where its inclusive end turns into vkexec's exclusive one. */
export const resourceRange = (r: Resource): PhysRange => fromInclusive(r.start, r.end);

export class IomemParseError extends Error {}

const LINE = /^( *)([0-9a-fA-F]+)-([0-9a-fA-F]+) : (.+)$/;

/** Parses /proc/iomem text into a tree; children must nest inside their parent and siblings must not overlap. */
export function parseIomem(text: string, source = '/proc/iomem'): Resource[] {
  const roots: Resource[] = [];
  const stack: { depth: number; res: Resource }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const m = LINE.exec(raw);
    const where = `${source}:${i + 1}`;
    if (!m) throw new IomemParseError(`${where}: expected "START-END : NAME", got ${JSON.stringify(raw)}`);
    if (m[1]!.length % 2 !== 0) throw new IomemParseError(`${where}: indentation must be a multiple of two spaces`);
    const depth = m[1]!.length / 2;
    const start = BigInt('0x' + m[2]);
    const end = BigInt('0x' + m[3]);
    if (end < start) throw new IomemParseError(`${where}: end 0x${m[3]} is below start 0x${m[2]}`);
    const res: Resource = { start, end, name: m[4]!.trim(), children: [] };
    while (stack.length > 0 && stack[stack.length - 1]!.depth >= depth) stack.pop();
    if (stack.length !== depth) throw new IomemParseError(`${where}: nested ${depth} levels deep under nothing`);
    const parent = stack[stack.length - 1]?.res;
    const siblings = parent ? parent.children : roots;
    if (parent && (start < parent.start || end > parent.end)) {
      throw new IomemParseError(`${where}: ${res.name} [${hex(start)}-${hex(end)}] lies outside its parent ${parent.name}`);
    }
    const prev = siblings[siblings.length - 1];
    if (prev && start <= prev.end) {
      throw new IomemParseError(`${where}: ${res.name} overlaps or precedes ${prev.name} (lines must be sorted)`);
    }
    siblings.push(res);
    stack.push({ depth, res });
  }
  if (roots.length === 0) throw new IomemParseError(`${source}: no resources`);
  return roots;
}

export function formatIomem(roots: readonly Resource[]): string {
  const out: string[] = [];
  const walk = (list: readonly Resource[], depth: number): void => {
    for (const r of list) {
      out.push(`${'  '.repeat(depth)}${hexPad(r.start, 8)}-${hexPad(r.end, 8)} : ${r.name}`);
      walk(r.children, depth + 1);
    }
  };
  walk(roots, 0);
  return out.join('\n') + '\n';
}

export function* walkResources(roots: readonly Resource[]): Generator<Resource> {
  for (const r of roots) {
    yield r;
    yield* walkResources(r.children);
  }
}

/** Top-level "System RAM" ranges (walk_system_ram_res), sorted. */
export function systemRam(roots: readonly Resource[]): Resource[] {
  return roots.filter((r) => r.name === 'System RAM');
}

export function findResource(roots: readonly Resource[], name: string): Resource | undefined {
  for (const r of walkResources(roots)) if (r.name === name) return r;
  return undefined;
}

/** Inserts a child under the top-level resource that contains it, keeping siblings sorted. */
export function insertResource(roots: Resource[], child: Resource): boolean {
  const parent = roots.find((r) => r.start <= child.start && child.end <= r.end);
  if (!parent) return false;
  const siblings = parent.children;
  if (overlapsAny(resourceRange(child), siblings.map(resourceRange))) return false;
  siblings.push(child);
  siblings.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return true;
}
