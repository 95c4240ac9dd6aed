// `vkexec inspect`'s multiboot part: the Multiboot v1 header (flags, a.out-kludge addresses) and the Multiboot2
// header with its tags, as kexec-tools' multiboot-x86 and multiboot2-x86 probes find them.

import { findMultibootHeader, MULTIBOOT_AOUT_KLUDGE, type MultibootHeader } from '../formats/multiboot.js';
import { findMultiboot2Header, mb2HeaderTagName, MULTIBOOT_HEADER_TAG_OPTIONAL, readMultiboot2HeaderTags } from '../formats/multiboot2.js';
import { hex } from '../lib/hex.js';

const V1_FLAGS: [number, string][] = [
  [0x1, 'PAGE_ALIGN'], [0x2, 'MEMORY_INFO'], [0x4, 'VIDEO_MODE'], [0x10000, 'AOUT_KLUDGE'],
];

export interface MultibootFacts {
  v1: (MultibootHeader & { flagNames: string[]; unknownFlags: number }) | null;
  v2: { offset: number; architecture: number; headerLength: number; tags: { type: number; name: string; optional: boolean; size: number; words: number[] }[] } | null;
}

/** Both headers, or null when the file has neither; a v2 tag list that cannot be walked is a problem. */
export function readMultibootFacts(kernel: Uint8Array, problems: string[]): MultibootFacts | null {
  const h1 = findMultibootHeader(kernel);
  const h2 = findMultiboot2Header(kernel);
  if (!h1 && !h2) return null;
  const facts: MultibootFacts = { v1: null, v2: null };
  if (h1) {
    const known = V1_FLAGS.reduce((m, [bit]) => m | bit, 0);
    facts.v1 = { ...h1, flagNames: V1_FLAGS.filter(([bit]) => h1.flags & bit).map(([, n]) => n), unknownFlags: h1.flags & ~known };
  }
  if (h2) {
    facts.v2 = { offset: h2.offset, architecture: h2.architecture, headerLength: h2.headerLength, tags: [] };
    try {
      facts.v2.tags = readMultiboot2HeaderTags(kernel, h2).map((t) => ({
        type: t.type, name: mb2HeaderTagName(t.type), optional: (t.flags & MULTIBOOT_HEADER_TAG_OPTIONAL) !== 0, size: t.size, words: t.words,
      }));
    } catch (e) {
      problems.push(`multiboot2 header: ${(e as Error).message}`);
    }
  }
  return facts;
}

export function renderMultiboot(m: MultibootFacts, L: (s: string) => void): void {
  const v1 = m.v1;
  if (v1) {
    L(`multiboot     v1 header at file offset ${hex(v1.offset)}, flags ${hex(v1.flags)} [${v1.flagNames.join(' ')}]${v1.unknownFlags ? ` unknown ${hex(v1.unknownFlags)}` : ''}`);
    if (v1.flags & MULTIBOOT_AOUT_KLUDGE) {
      L(`  header_addr ${hex(v1.header_addr)}  load_addr ${hex(v1.load_addr)}  load_end_addr ${hex(v1.load_end_addr)}  bss_end_addr ${hex(v1.bss_end_addr)}  entry_addr ${hex(v1.entry_addr)}`);
    }
  }
  const v2 = m.v2;
  if (v2) {
    L(`multiboot2    header at file offset ${hex(v2.offset)}, architecture ${v2.architecture}, header_length ${v2.headerLength}`);
    for (const t of v2.tags.filter((x) => x.type !== 0)) {
      L(`  tag ${String(t.type).padStart(2)} ${t.name.padEnd(24)} ${t.optional ? 'optional' : 'required'}  ${t.words.map((w) => hex(w)).join(' ')}`);
    }
  }
}
