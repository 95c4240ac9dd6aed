// kexec_calculate_store_digests (kernel/kexec_file.c): the sha256 the purgatory checks before it jumps.

import type { RelocatedPurgatory } from '../../arch/x86/kexec-purgatory-symbol.js';
import { type Sha256Region, setShaRegions } from '../../arch/x86/purgatory-symbols.js';
import { segmentsSha256 } from '../machine/store.js';
import type { PlacedSegment } from './kexec-buf.js';

/**
 * Every segment but the purgatory's, in index order, each contributing bufsz bytes then memsz - bufsz zeros
 * (streamed: a large initrd never sits in memory); the digest and the regions go into purgatory_sha256_digest
 * and purgatory_sha_regions.
 */
export function kexecCalculateStoreDigests(segments: readonly PlacedSegment[], p: RelocatedPurgatory): void {
  const hashed = segments.filter((s) => s.mem !== p.loadAddr);
  const regions: Sha256Region[] = hashed.map((s) => ({ start: s.mem, len: s.memsz }));
  setShaRegions(p, regions, segmentsSha256(hashed));
}
