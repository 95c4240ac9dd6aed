// The known contents `machine panic --fill` gives the old kernel's RAM so a dump can be checked byte for byte:
// every 8-byte little-endian word at physical address A (A a multiple of 8) holds A XOR KEY. Any byte is a
// function of its own address, so a page that lands at the wrong place in a dump shows up.
// Written as text: "addr" (KEY 0: each word holds its own address) or "addr^KEY" (KEY hex with 0x, or decimal).

import { UsageError } from '../../errno.js';
import { hex } from '../../lib/hex.js';

export interface FillPattern {
  /** XORed into every word; 0 for plain "addr". */
  key: bigint;
}

const U64 = (1n << 64n) - 1n;

export function parseFillPattern(text: string): FillPattern {
  const m = /^addr(?:\^(0[xX][0-9a-fA-F]+|[0-9]+))?$/.exec(text.trim());
  const key = m ? (m[1] === undefined ? 0n : BigInt(m[1])) : null;
  if (key === null || key > U64) {
    throw new UsageError(`--fill ${text}: not a fill pattern`, {
      hint: 'use "addr" (every 8-byte word holds its own physical address) or "addr^KEY" (address XOR a 64-bit KEY, e.g. addr^0x5a5a5a5a00000000)',
    });
  }
  return { key };
}

export function formatFillPattern(p: FillPattern): string {
  return p.key === 0n ? 'addr' : `addr^${hex(p.key)}`;
}

/**
 * Writes the pattern's bytes for physical [addr, addr + out.length) into `out`. Word-wise through 32-bit
 * halves (no bigint per word): a GiB takes well under a second.
 */
export function fillPatternBytes(out: Uint8Array, addr: bigint, p: FillPattern): void {
  if (out.length === 0) return;
  const head = Number(addr & 7n);
  const aligned = head === 0 && out.byteOffset % 4 === 0 && out.length % 8 === 0;
  // Unaligned requests are served from an aligned scratch copy covering whole words.
  const words = Math.ceil((head + out.length) / 8);
  const buf = aligned ? out : new Uint8Array(words * 8);
  const u32 = new Uint32Array(buf.buffer, buf.byteOffset, words * 2);
  const start = addr - BigInt(head);
  const keyLo = Number(p.key & 0xffffffffn) >>> 0;
  const keyHi = Number(p.key >> 32n) >>> 0;
  let lo = Number(start & 0xffffffffn);
  let hi = Number((start >> 32n) & 0xffffffffn);
  for (let i = 0; i < words * 2; i += 2) {
    u32[i] = (lo ^ keyLo) >>> 0;
    u32[i + 1] = (hi ^ keyHi) >>> 0;
    lo += 8;
    if (lo >= 0x100000000) {
      lo -= 0x100000000;
      hi = (hi + 1) >>> 0;
    }
  }
  if (!aligned) out.set(buf.subarray(head, head + out.length));
}

/** First offset in `data` (which holds physical [addr, addr + data.length)) that differs from the pattern, or -1. */
export function firstPatternMismatch(data: Uint8Array, addr: bigint, p: FillPattern, scratch?: Uint8Array): number {
  const want = scratch && scratch.length >= data.length ? scratch.subarray(0, data.length) : new Uint8Array(data.length);
  fillPatternBytes(want, addr, p);
  if (Buffer.from(data.buffer, data.byteOffset, data.length).equals(Buffer.from(want.buffer, want.byteOffset, want.length))) return -1;
  for (let i = 0; i < data.length; i++) if (data[i] !== want[i]) return i;
  return -1;
}
