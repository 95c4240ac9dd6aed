// Builders for small multiboot test images (ELF32 with a Multiboot v1 or v2 header, a.out-kludge binaries) and
// readers of what a multiboot loader placed: the v1 multiboot_info and the v2 boot information, from segments.

import type { KexecInfo } from '../../src/kexec/kexec-info.js';

/** An ELF32 i386 (or x86-64 machine) executable: one PT_LOAD at `paddr` holding `payload`, plus `bss` zeros. */
export function elf32(payload: Uint8Array, paddr: number, entry: number, bss = 0, machine = 3): Buffer {
  const off = 0x100;
  const b = Buffer.alloc(off + payload.length);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(machine, 18);
  b.writeUInt32LE(1, 20);
  b.writeUInt32LE(entry, 24);
  b.writeUInt32LE(52, 28); // e_phoff
  b.writeUInt16LE(52, 40);
  b.writeUInt16LE(32, 42);
  b.writeUInt16LE(1, 44);
  b.writeUInt16LE(40, 46);
  const ph = 52;
  b.writeUInt32LE(1, ph); // PT_LOAD
  b.writeUInt32LE(off, ph + 4);
  b.writeUInt32LE(paddr, ph + 8);
  b.writeUInt32LE(paddr, ph + 12);
  b.writeUInt32LE(payload.length, ph + 16);
  b.writeUInt32LE(payload.length + bss, ph + 20);
  b.writeUInt32LE(7, ph + 24);
  b.writeUInt32LE(0x1000, ph + 28);
  b.set(payload, off);
  return b;
}

/** A Multiboot v1 header with the given flags (checksum filled) and optional a.out-kludge addresses. */
export function mb1Header(flags: number, kludge?: { header: number; load: number; loadEnd: number; bssEnd: number; entry: number }): Buffer {
  const h = Buffer.alloc(kludge ? 32 : 12);
  h.writeUInt32LE(0x1badb002, 0);
  h.writeUInt32LE(flags >>> 0, 4);
  h.writeUInt32LE((0x100000000 - ((0x1badb002 + flags) % 0x100000000)) % 0x100000000, 8);
  if (kludge) {
    h.writeUInt32LE(kludge.header, 12);
    h.writeUInt32LE(kludge.load, 16);
    h.writeUInt32LE(kludge.loadEnd, 20);
    h.writeUInt32LE(kludge.bssEnd, 24);
    h.writeUInt32LE(kludge.entry, 28);
  }
  return h;
}

/** A Multiboot2 header (architecture i386) with the given tags, each {type, flags, words}, and an end tag. */
export function mb2Header(tags: { type: number; flags?: number; words?: number[] }[]): Buffer {
  const parts: Buffer[] = [];
  for (const t of [...tags, { type: 0, flags: 0, words: [] }]) {
    const size = 8 + 4 * (t.words?.length ?? 0);
    const b = Buffer.alloc((size + 7) & ~7);
    b.writeUInt16LE(t.type, 0);
    b.writeUInt16LE(t.flags ?? 0, 2);
    b.writeUInt32LE(size, 4);
    (t.words ?? []).forEach((w, i) => b.writeUInt32LE(w >>> 0, 8 + 4 * i));
    parts.push(b);
  }
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(16);
  const len = 16 + body.length;
  h.writeUInt32LE(0xe85250d6, 0);
  h.writeUInt32LE(0, 4);
  h.writeUInt32LE(len, 8);
  h.writeUInt32LE((0x100000000 - ((0xe85250d6 + len) % 0x100000000)) % 0x100000000, 12);
  return Buffer.concat([h, body]);
}

/** Bytes at a physical address, from the segments a loader added (zeros past a segment's data, as loaded). */
export function readPhys(info: KexecInfo, addr: bigint, len: number): Buffer {
  const s = info.segments.find((x) => addr >= x.mem && addr + BigInt(len) <= x.mem + x.memsz);
  if (!s) throw new Error(`no segment holds [${addr.toString(16)}, +${len})`);
  if (s.buf?.kind !== 'bytes') throw new Error('segment is not in memory');
  const out = Buffer.alloc(len);
  const o = Number(addr - s.mem);
  out.set(s.buf.data.subarray(o, Math.min(o + len, s.bufsz)));
  return out;
}

export function cstr(info: KexecInfo, addr: bigint): string {
  let s = '';
  for (let a = addr; s.length <= 4096; a++) {
    const c = readPhys(info, a, 1)[0]!;
    if (c === 0) return s;
    s += String.fromCharCode(c);
  }
  throw new Error('unterminated string');
}

export interface Mb2Info {
  totalSize: number;
  tags: { type: number; size: number; at: bigint; body: Buffer }[];
}

/** Walks the v2 boot information at `addr`: total size, then 8-aligned tags up to the end tag. */
export function readMb2Info(info: KexecInfo, addr: bigint): Mb2Info {
  const totalSize = readPhys(info, addr, 4).readUInt32LE(0);
  const tags: Mb2Info['tags'] = [];
  let at = addr + 8n;
  for (;;) {
    const h = readPhys(info, at, 8);
    const type = h.readUInt32LE(0);
    const size = h.readUInt32LE(4);
    tags.push({ type, size, at, body: readPhys(info, at + 8n, size - 8) });
    if (type === 0) return { totalSize, tags };
    at += BigInt((size + 7) & ~7);
  }
}
