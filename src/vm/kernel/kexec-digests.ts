// kexec_calculate_store_digests (kernel/kexec_file.c): the sha256 the purgatory checks before it jumps.

import { createHash } from 'node:crypto';
import type { RelocatedPurgatory } from '../../arch/x86/kexec-purgatory-symbol.js';
import { type Sha256Region, setShaRegions } from '../../arch/x86/purgatory-symbols.js';
import { forEachChunk } from '../machine/store.js';
import type { PlacedSegment } from './kexec-buf.js';

const ZEROS = Buffer.alloc(1 << 16);

/**
 * Every segment but the purgatory's, in index order, each contributing bufsz bytes then memsz - bufsz zeros
 * (streamed: a large initrd never sits in memory); the digest and the regions go into purgatory_sha256_digest
 * and purgatory_sha_regions.
 */
export function kexecCalculateStoreDigests(segments: readonly PlacedSegment[], p: RelocatedPurgatory): void {
  const hash = createHash('sha256');
  const regions: Sha256Region[] = [];
  for (const s of segments) {
    if (s.mem === p.loadAddr) continue;
    if (s.buf) forEachChunk(s.buf, (c) => hash.update(c));
    for (let left = s.memsz - BigInt(s.bufsz); left > 0n; ) {
      const n = left > BigInt(ZEROS.length) ? ZEROS.length : Number(left);
      hash.update(ZEROS.subarray(0, n));
      left -= BigInt(n);
    }
    regions.push({ start: s.mem, len: s.memsz });
  }
  setShaRegions(p, regions, hash.digest());
}
