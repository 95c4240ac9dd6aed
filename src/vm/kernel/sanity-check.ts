// sanity_check_segment_list (kernel/kexec_core.c): the checks every kexec image passes before pages are
// allocated, in the kernel's order, with its errnos.

import { KexecError } from '../../errno.js';
import type { MachineArch } from '../machine/machine-config.js';
import type { Resource } from '../machine/iomem.js';
import { hex } from '../../lib/hex.js';

export interface SegmentRange {
  mem: bigint;
  memsz: bigint;
  bufsz: number;
}

const PAGE_MASK = 0xfffn;

/** KEXEC_DESTINATION_MEMORY_LIMIT: (1 << MAX_PHYSMEM_BITS) - 1 on x86_64 (46 bits, 4-level paging); -1UL on i386. */
function destinationLimit(arch: MachineArch): bigint {
  return arch === 'x86_64' ? (1n << 46n) - 1n : 0xffffffffn;
}

/** unsigned long is 64 bits on x86_64 and 32 on i386: sums wrap as the kernel's do. */
function ulongMask(arch: MachineArch): bigint {
  return arch === 'x86_64' ? (1n << 64n) - 1n : 0xffffffffn;
}

export interface SanityCheckOptions {
  arch: MachineArch;
  totalRamPages: bigint;
  crashk?: Resource | undefined;
  crash: boolean;
}

/** sanity_check_segment_list: the five checks in the kernel's order; the first failure is the answer. */
export function sanityCheckSegmentList(segments: readonly SegmentRange[], opts: SanityCheckOptions): void {
  checkDestinations(segments, opts.arch);
  checkOverlaps(segments);
  checkBufsz(segments);
  checkHalfOfRam(segments, opts.totalRamPages);
  if (opts.crash) checkInsideCrashkRes(segments, opts.crashk);
}

function checkDestinations(segments: readonly SegmentRange[], arch: MachineArch): void {
  const mask = ulongMask(arch);
  const limit = destinationLimit(arch);
  // 1. Destinations page aligned, no wrap, below the limit: the relocation code cannot reach further.
  segments.forEach((s, i) => {
    const mstart = s.mem;
    const mend = (mstart + s.memsz) & mask;
    if (mstart > mend) {
      throw new KexecError('EADDRNOTAVAIL', 'sanity_check_segment_list', `segment ${i}: mem ${hex(mstart)} + memsz ${hex(s.memsz)} wraps around`, {
        value: hex(s.memsz),
        hint: 'give the segment a size that fits in the address space',
      });
    }
    if ((mstart & PAGE_MASK) !== 0n || (mend & PAGE_MASK) !== 0n) {
      throw new KexecError('EADDRNOTAVAIL', 'sanity_check_segment_list', `segment ${i}: [${hex(mstart)}, ${hex(mend)}) is not page aligned`, {
        value: `${hex(mstart)}+${hex(s.memsz)}`,
        hint: 'segment start and memsz must be multiples of 4096',
      });
    }
    if (mend >= limit) {
      throw new KexecError('EADDRNOTAVAIL', 'sanity_check_segment_list', `segment ${i} ends at ${hex(mend)}, beyond KEXEC_DESTINATION_MEMORY_LIMIT ${hex(limit)}`, {
        value: hex(mend),
        hint: 'place the segment lower in physical memory',
      });
    }
  });
}

function checkOverlaps(segments: readonly SegmentRange[]): void {
  // 2. No overlaps: relocation would clobber one segment with another.
  segments.forEach((s, i) => {
    const mstart = s.mem;
    const mend = s.mem + s.memsz;
    for (let j = 0; j < i; j++) {
      const p = segments[j]!;
      const pstart = p.mem;
      const pend = p.mem + p.memsz;
      if (mend > pstart && mstart < pend) {
        throw new KexecError('EINVAL', 'sanity_check_segment_list', `segment ${i} [${hex(mstart)}, ${hex(mend)}) overlaps segment ${j} [${hex(pstart)}, ${hex(pend)})`, {
          hint: 'segments must not overlap',
        });
      }
    }
  });
}

function checkBufsz(segments: readonly SegmentRange[]): void {
  // 3. The buffer must fit in the destination.
  segments.forEach((s, i) => {
    if (BigInt(s.bufsz) > s.memsz) {
      throw new KexecError('EINVAL', 'sanity_check_segment_list', `segment ${i}: bufsz ${hex(BigInt(s.bufsz))} is larger than memsz ${hex(s.memsz)}`, {
        hint: 'memsz must be at least bufsz',
      });
    }
  });
}

function checkHalfOfRam(segments: readonly SegmentRange[], totalRamPages: bigint): void {
  // 4. Half of RAM at most, per segment and in total: the image needs room for its copy.
  const half = totalRamPages / 2n;
  let total = 0n;
  segments.forEach((s, i) => {
    const pages = (s.memsz + 4095n) / 4096n;
    if (pages > half) {
      throw new KexecError('EINVAL', 'sanity_check_segment_list', `segment ${i} needs ${pages} pages, more than half of the machine's ${totalRamPages} pages of RAM`, {
        value: hex(s.memsz),
        hint: 'give the machine more memory (machine init --mem) or load a smaller image/initrd',
      });
    }
    total += pages;
    if (total > half) {
      throw new KexecError('EINVAL', 'sanity_check_segment_list', `segments 0..${i} need ${total} pages, more than half of the machine's ${totalRamPages} pages of RAM`, {
        hint: 'give the machine more memory (machine init --mem) or load a smaller image/initrd',
      });
    }
  });
}

function checkInsideCrashkRes(segments: readonly SegmentRange[], r: Resource | undefined): void {
  // 5. A crash image lives entirely inside crashk_res: the panic path copies nothing.
  segments.forEach((s, i) => {
    const mstart = s.mem;
    const mend = s.mem + s.memsz - 1n;
    if (!r || mstart < r.start || mend > r.end) {
      throw new KexecError('EADDRNOTAVAIL', 'sanity_check_segment_list', `crash segment ${i} [${hex(mstart)}-${hex(mend)}] lies outside the crash kernel region ${r ? `[${hex(r.start)}-${hex(r.end)}]` : '(none reserved)'}`, {
        hint: 'crash segments must lie inside "Crash kernel" in /proc/iomem (machine init --crashkernel)',
      });
    }
  });
}
