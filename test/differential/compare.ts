// vkexec's `-c` load, read back from the machine directory, compared segment by segment with the real
// kexec's kexec_load call. The purgatory's own code is vkexec's, so its bytes are not compared; its
// placement and sizes are. The values patched into it (sha256 digest and regions) can be looked for when the
// caller passes them; the suite passes none: the random RNG seed makes the two programs' digests differ.

import * as fs from 'node:fs';
import { readState } from '../../src/vm/machine/machine.js';
import { blobPath } from '../../src/vm/machine/store.js';
import type { KexecLoadDump } from './real-kexec.js';

export interface VkexecLoad {
  entry: bigint;
  flags: number;
  segments: { mem: bigint; memsz: bigint; bufsz: number; bytes: Buffer }[];
  purgatorySegment: number | undefined;
}

export function vkexecLoaded(machineDir: string, which: 'normal' | 'crash'): VkexecLoad | null {
  const img = readState(machineDir).images[which];
  if (!img) return null;
  const segments = img.segments.map((s) => ({ mem: s.mem, memsz: s.memsz, bufsz: s.bufsz, bytes: s.blob ? fs.readFileSync(blobPath(machineDir, s.blob)) : Buffer.alloc(0) }));
  return { entry: img.start, flags: img.flags, segments, purgatorySegment: img.info.purgatorySegment };
}

const hx = (v: bigint | number) => '0x' + v.toString(16);

/** The first differing byte offsets of two buffers (at most `max`), with the bytes around the first. */
function byteDiffs(a: Buffer, b: Buffer, max = 8): string {
  const offs: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length) && offs.length < max; i++) if (a[i] !== b[i]) offs.push(i);
  if (offs.length === 0) return '';
  const o = offs[0]!;
  const around = (x: Buffer) => x.subarray(o, o + 16).toString('hex');
  return `bytes differ at ${offs.map(hx).join(', ')}${offs.length === max ? ', ...' : ''} (at ${hx(o)}: kexec ${around(a)}, vkexec ${around(b)})`;
}

/**
 * Every difference between the real kexec_load call and vkexec's, as readable lines (empty: identical).
 * The purgatory segment: mem, memsz and bufsz are compared; of its bytes only the patched sha256 digest
 * (32 bytes) and regions array (16 x {start, len}) are looked for in kexec-tools' purgatory, when given.
 * The entry (inside the purgatory, at its own code's offset) is compared only for loads without one.
 */
export function compareLoads(real: KexecLoadDump, mine: VkexecLoad, digest: Buffer | null, regions: Buffer | null): string[] {
  const out: string[] = [];
  if (real.flags !== BigInt(mine.flags)) out.push(`flags: kexec ${hx(real.flags)}, vkexec ${hx(mine.flags)}`);
  if (real.segments.length !== mine.segments.length) out.push(`nr_segments: kexec ${real.segments.length}, vkexec ${mine.segments.length}`);
  const n = Math.min(real.segments.length, mine.segments.length);
  for (let i = 0; i < n; i++) {
    const r = real.segments[i]!;
    const m = mine.segments[i]!;
    const what = `segment[${i}]${i === mine.purgatorySegment ? ' (purgatory)' : ''}`;
    for (const f of ['mem', 'memsz', 'bufsz'] as const) {
      if (BigInt(r[f]) !== BigInt(m[f])) out.push(`${what}.${f}: kexec ${hx(r[f])}, vkexec ${hx(m[f])}`);
    }
    if (i === mine.purgatorySegment) {
      if (digest && r.bytes.indexOf(digest) < 0) out.push(`${what}: vkexec's sha256_digest ${digest.toString('hex')} is not in kexec's purgatory`);
      if (regions && r.bytes.indexOf(regions) < 0) out.push(`${what}: vkexec's sha256_regions are not in kexec's purgatory`);
      continue;
    }
    // The RNG seed (a SETUP_RNG_SEED setup_data node: next, type 9, len 32, then 32 random bytes) is random
    // in both programs: its header is compared, its seed bytes are not.
    const seed = (b: Buffer) => b.length === 48 && b.readUInt32LE(8) === 9 && b.readUInt32LE(12) === 32;
    const d = seed(r.bytes) && seed(m.bytes) ? byteDiffs(r.bytes.subarray(0, 16), m.bytes.subarray(0, 16)) : byteDiffs(r.bytes, m.bytes);
    if (d) out.push(`${what}: ${d}`);
  }
  // The entry is the purgatory's entry symbol: compare its offset into the purgatory segment's placement.
  const p = mine.purgatorySegment === undefined ? undefined : real.segments[mine.purgatorySegment];
  if (!p && real.entry !== mine.entry) out.push(`entry: kexec ${hx(real.entry)}, vkexec ${hx(mine.entry)}`);
  return out;
}

/**
 * One program's `-d` output with only what must differ normalised: kexec-tools' relocation trace of its own
 * purgatory (the "sym: ..." and "R_X86_64_*"/"R_386_*" lines elf_rel_load prints: its symbols, not vkexec's)
 * is dropped, user-space buffer addresses (the kernel buffer, each segment's buf) become <buf>, and an entry
 * inside the purgatory segment (its own entry symbol's value) becomes <purgatory entry>. Nothing else.
 */
export function normaliseDebug(text: string, purgatory: { mem: bigint; memsz: bigint } | undefined): string[] {
  return text
    .split('\n')
    .filter((l) => !/^sym: /.test(l) && !/^R_(X86_64|386)_\w+$/.test(l))
    .map((l) =>
      l
        .replace(/^(segment\[\d+\]\.buf +=) 0x[0-9a-f]+$/, '$1 <buf>')
        .replace(/^kernel: 0x[0-9a-f]+ kernel_size:/, 'kernel: <buf> kernel_size:')
        .replace(/^(kexec_load: entry =) (0x[0-9a-f]+)/, (all, head: string, v: string) => {
          const e = BigInt(v);
          return purgatory && e >= purgatory.mem && e < purgatory.mem + purgatory.memsz ? `${head} <purgatory entry>` : all;
        }),
    );
}

/**
 * A line diff (longest common subsequence) of kexec's and vkexec's normalised `-d` output of one stream:
 * each line only one side has, as `STREAM kexec only: LINE` or `STREAM vkexec only: LINE`.
 */
export function diffLines(stream: string, theirs: string[], ours: string[]): string[] {
  const n = theirs.length;
  const m = ours.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i]![j] = theirs[i] === ours[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && theirs[i] === ours[j]) {
      i++;
      j++;
    } else if (j >= m || (i < n && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) out.push(`${stream} kexec only: ${theirs[i++]}`);
    else out.push(`${stream} vkexec only: ${ours[j++]}`);
  }
  return out;
}
