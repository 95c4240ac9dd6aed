// machine_kexec + relocate_kernel (arch/x86/kernel/machine_kexec_64.c, relocate_kernel_64.S): walk the
// image's indirection list and copy each source page to its destination, then hand the CPU to image->start.
// Copies are described, not performed: each destination run names the blob bytes it receives, so a 200 MB
// initrd costs a list of runs, not 200 MB of memory.

import { alignUp } from '../../lib/align.js';
import * as fs from 'node:fs';
import { KexecError } from '../../errno.js';
import type { EntryState, Extent, MemoryImage } from '../memory/memory-image.js';
import { IND_DESTINATION, IND_DONE, IND_INDIRECTION, IND_SOURCE, type Kimage } from '../machine/kimage.js';
import { blobPath } from '../machine/store.js';
import type { MachineState } from '../machine/machine.js';
import { firmwareE820 } from '../machine/views.js';
import { hex } from '../../lib/hex.js';

const PAGE = 4096n;
const PAGE_MASK = ~(PAGE - 1n);

function corruptList(detail: string): KexecError {
  return new KexecError('EFAULT', 'relocate_kernel', `indirection list is corrupt: ${detail}`, {
    hint: 'the machine directory was altered; unload and load the image again',
  });
}

/** Appends a run, merging with the previous one when both are contiguous in memory and in their source. */
function pushExtent(out: Extent[], e: Extent): void {
  const last = out[out.length - 1];
  if (last && last.addr + BigInt(last.length) === e.addr) {
    if (last.kind === 'zero' && e.kind === 'zero') {
      last.length += e.length;
      return;
    }
    if (last.kind === 'file' && e.kind === 'file' && last.path === e.path && last.offset + last.length === e.offset) {
      last.length += e.length;
      return;
    }
  }
  out.push({ ...e });
}

/** The bytes one page of segment `seg` holds: blob bytes up to bufsz, zeros after (kimage_load_normal_segment). */
function segmentPage(dir: string, image: Kimage, seg: number, page: number, dest: bigint, out: Extent[]): void {
  const s = image.segments[seg]!;
  const off = page * 4096;
  const have = Math.max(0, Math.min(4096, s.bufsz - off));
  if (have > 0) pushExtent(out, { addr: dest, length: have, kind: 'file', path: blobPath(dir, s.blob!), offset: off });
  if (have < 4096) pushExtent(out, { addr: dest + BigInt(have), length: 4096 - have, kind: 'zero' });
}

/** Walks image->head as relocate_kernel does and returns where every destination page's bytes come from. */
export function relocateKernel(dir: string, image: Kimage): Extent[] {
  const out: Extent[] = [];
  if (image.type === 'crash') {
    // Crash segments were copied into crashk_res at load time: they already sit at their destinations.
    const sorted = image.segments.slice().sort((a, b) => (a.mem < b.mem ? -1 : a.mem > b.mem ? 1 : 0));
    for (const s of sorted) {
      if (s.bufsz > 0) pushExtent(out, { addr: s.mem, length: s.bufsz, kind: 'file', path: blobPath(dir, s.blob!), offset: 0 });
      const tail = s.memsz - BigInt(s.bufsz);
      if (tail > 0n) pushExtent(out, { addr: s.mem + BigInt(s.bufsz), length: Number(tail), kind: 'zero' });
    }
    return out;
  }
  const listData = image.indirectionBlob ? fs.readFileSync(blobPath(dir, image.indirectionBlob)) : Buffer.alloc(0);
  const pageIndex = new Map(image.indirectionPages.map((a, i) => [a, i]));
  const runs = image.sourceRuns.slice().sort((a, b) => (a.addr < b.addr ? -1 : 1));
  const findSource = (addr: bigint) => {
    let lo = 0;
    let hi = runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = runs[mid]!;
      if (addr < r.addr) hi = mid - 1;
      else if (addr >= r.addr + BigInt(r.pages) * PAGE) lo = mid + 1;
      else return { seg: r.segment, page: r.firstPage + Number((addr - r.addr) / PAGE) };
    }
    return null;
  };
  let dest = 0n;
  let entry = image.head;
  let listPage = -1;
  let slot = 0;
  let steps = 0;
  const limit = listData.length / 8 + 2;
  for (;;) {
    if (++steps > limit) throw corruptList('it does not end in IND_DONE');
    const addr = entry & PAGE_MASK;
    if (entry & IND_DONE) break;
    if (entry & IND_DESTINATION) dest = addr;
    else if (entry & IND_INDIRECTION) {
      const i = pageIndex.get(addr);
      if (i === undefined) throw corruptList(`IND_INDIRECTION to ${hex(addr)}, which is not a list page`);
      listPage = i;
      slot = 0;
    } else if (entry & IND_SOURCE) {
      const src = findSource(addr);
      if (!src) throw corruptList(`IND_SOURCE ${hex(addr)} is not one of the image's source pages`);
      segmentPage(dir, image, src.seg, src.page, dest, out);
      dest += PAGE;
    } else if (entry !== 0n || listPage < 0) {
      throw corruptList(`entry ${hex(entry)} has no IND_* flag`);
    }
    if (listPage < 0) throw corruptList('head is not IND_INDIRECTION or IND_DONE');
    if (slot >= 512) throw corruptList('ran off the end of a list page');
    entry = listData.readBigUInt64LE(listPage * 4096 + slot * 8);
    slot++;
  }
  return out.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
}

/**
 * The BIOS data area words a PC's firmware leaves below 0x500 and Linux never touches (it reserves page 0):
 * 0x40e, the EBDA segment, and 0x413, the KiB of base memory, from the e820 RAM range that ends below 640 KiB.
 * Images that read them after kexec (Xen's head.S places its trampoline from them) find what a PC has.
 */
function biosDataArea(e820: ReturnType<typeof firmwareE820>, extents: Extent[]): Extent[] {
  const low = e820.find((r) => r.type === 1 && r.addr < 0x10000n && r.addr + r.size <= 0xa0000n);
  if (!low || extents.some((e) => e.addr < 0x500n && e.addr + BigInt(e.length) > 0x400n)) return extents;
  const top = low.addr + low.size;
  const data = new Uint8Array(0x100);
  const v = new DataView(data.buffer);
  v.setUint16(0x0e, Number(top >> 4n), true);
  v.setUint16(0x13, Number(top >> 10n), true);
  return [{ addr: 0x400n, length: data.length, kind: 'bytes' as const, data }, ...extents];
}

/** machine_kexec: the memory the engine must present and the CPU state at image->start. */
export function machineKexec(dir: string, state: MachineState, image: Kimage): { memory: MemoryImage; entry: EntryState } {
  const e820 = firmwareE820(state.config.iomem);
  return {
    memory: {
      // The RAM the engine backs: a whole number of MiB. A machine cloned from a SeaBIOS guest ends its RAM
      // below a MiB boundary (the firmware reserves the top 128 KiB of the guest's RAM); that memory exists.
      ramSize: alignUp(state.config.memBytes, 1n << 20n),
      e820,
      extents: biosDataArea(e820, relocateKernel(dir, image)),
      segments: image.segments.map((s) => ({ start: s.mem, end: s.mem + s.memsz })),
    },
    entry: { mode: image.arch === 'x86_64' ? 'long64' : 'protected32', entry: image.start },
  };
}
