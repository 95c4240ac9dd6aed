// The symbols vkexec's loaders patch in the relocated purgatory (kexec-tools update_purgatory and
// arch_update_purgatory; Linux's kexec_purgatory_get_set_symbol callers): register blocks, sha256 regions,
// console, crash backup. Struct layouts are field tables read and written by formats/struct.ts.

import { hex } from '../../lib/hex.js';
import { KexecError } from '../../errno.js';
import { readField, writeField, type FieldSpec } from '../../formats/struct.js';
import type { RelocatedPurgatory } from './kexec-purgatory-symbol.js';

/** Linux's struct kexec_entry64_regs (arch/x86/include/asm/kexec.h); purgatory/regs.h has the same table. */
export const ENTRY64_REGS = {
  rax: { offset: 0, size: 8 },
  rcx: { offset: 8, size: 8 },
  rdx: { offset: 16, size: 8 },
  rbx: { offset: 24, size: 8 },
  rsp: { offset: 32, size: 8 },
  rbp: { offset: 40, size: 8 },
  rsi: { offset: 48, size: 8 },
  rdi: { offset: 56, size: 8 },
  r8: { offset: 64, size: 8 },
  r9: { offset: 72, size: 8 },
  r10: { offset: 80, size: 8 },
  r11: { offset: 88, size: 8 },
  r12: { offset: 96, size: 8 },
  r13: { offset: 104, size: 8 },
  r14: { offset: 112, size: 8 },
  r15: { offset: 120, size: 8 },
  rip: { offset: 128, size: 8 },
} as const satisfies Record<string, FieldSpec>;
export const ENTRY64_REGS_SIZE = 136;
export type Entry64Regs = Record<keyof typeof ENTRY64_REGS, bigint>;

/** kexec-tools' struct entry32_regs (kexec/arch/i386/kexec-x86.h). */
export const ENTRY32_REGS = {
  eax: { offset: 0, size: 4 },
  ebx: { offset: 4, size: 4 },
  ecx: { offset: 8, size: 4 },
  edx: { offset: 12, size: 4 },
  esi: { offset: 16, size: 4 },
  edi: { offset: 20, size: 4 },
  esp: { offset: 24, size: 4 },
  ebp: { offset: 28, size: 4 },
  eip: { offset: 32, size: 4 },
} as const satisfies Record<string, FieldSpec>;
export const ENTRY32_REGS_SIZE = 36;
export type Entry32Regs = Record<keyof typeof ENTRY32_REGS, number>;

/** struct sha256_region (kexec-tools) = struct kexec_sha_region (Linux): {u64 start; u64 len}. */
export const SHA256_REGION = {
  start: { offset: 0, size: 8 },
  len: { offset: 8, size: 8 },
} as const satisfies Record<string, FieldSpec>;
export const SHA256_REGION_SIZE = 16;
export const SHA256_REGIONS = 16;
export const SHA256_DIGEST_SIZE = 32;

export interface Sha256Region {
  start: bigint;
  len: bigint;
}

function checkedValue(field: string, value: bigint, size: FieldSpec['size']): bigint {
  const max = (1n << BigInt(size * 8)) - 1n;
  if (value < 0n || value > max) {
    throw new KexecError('EINVAL', 'kexec_purgatory_get_set_symbol', `${field} ${hex(value)} does not fit ${size * 8} bits`, { value: hex(value) });
  }
  return value;
}

function integer(field: string, n: number): bigint {
  if (!Number.isSafeInteger(n)) {
    throw new KexecError('EINVAL', 'kexec_purgatory_get_set_symbol', `${field} ${n} is not an integer`, { value: String(n) });
  }
  return BigInt(n);
}

function encodeFields<K extends string>(
  symbol: string, layout: Record<K, FieldSpec>, size: number, values: Record<K, bigint>,
): Uint8Array {
  const out = new Uint8Array(size);
  for (const name of Object.keys(layout) as K[]) {
    const f = layout[name];
    writeField(out, f, checkedValue(`${symbol}.${name}`, values[name], f.size));
  }
  return out;
}

function decodeFields<K extends string>(layout: Record<K, FieldSpec>, bytes: Uint8Array): Record<K, bigint> {
  const out = {} as Record<K, bigint>;
  for (const name of Object.keys(layout) as K[]) out[name] = BigInt(readField(bytes, layout[name]));
  return out;
}

export function getEntry64Regs(p: RelocatedPurgatory): Entry64Regs {
  return decodeFields(ENTRY64_REGS, p.getSymbol('entry64_regs', ENTRY64_REGS_SIZE));
}

/** Read-modify-write of entry64_regs, as the loaders do with get_symbol + set_symbol. */
export function setEntry64Regs(p: RelocatedPurgatory, regs: Partial<Entry64Regs>): void {
  const merged = { ...getEntry64Regs(p), ...regs };
  p.setSymbol('entry64_regs', encodeFields('entry64_regs', ENTRY64_REGS, ENTRY64_REGS_SIZE, merged));
}

export function getEntry32Regs(p: RelocatedPurgatory): Entry32Regs {
  const raw = decodeFields(ENTRY32_REGS, p.getSymbol('entry32_regs', ENTRY32_REGS_SIZE));
  const out = {} as Entry32Regs;
  for (const k of Object.keys(raw) as (keyof Entry32Regs)[]) out[k] = Number(raw[k]);
  return out;
}

/** Read-modify-write of entry32_regs. */
export function setEntry32Regs(p: RelocatedPurgatory, regs: Partial<Entry32Regs>): void {
  const merged = { ...getEntry32Regs(p), ...regs };
  const big = {} as Record<keyof Entry32Regs, bigint>;
  for (const k of Object.keys(merged) as (keyof Entry32Regs)[]) big[k] = integer(`entry32_regs.${k}`, merged[k]);
  p.setSymbol('entry32_regs', encodeFields('entry32_regs', ENTRY32_REGS, ENTRY32_REGS_SIZE, big));
}

/**
 * Stores the digest regions and the expected digest (kexec-tools names sha256_regions/sha256_digest; the
 * kernel's purgatory_sha_regions/purgatory_sha256_digest are aliases of the same storage). Unused slots
 * are zeroed, which hashes nothing.
 */
export function setShaRegions(p: RelocatedPurgatory, regions: readonly Sha256Region[], digest: Uint8Array): void {
  const rule = 'kexec_purgatory_get_set_symbol';
  if (regions.length > SHA256_REGIONS) {
    throw new KexecError('EINVAL', rule, `${regions.length} sha256 regions, the purgatory holds ${SHA256_REGIONS}`);
  }
  if (digest.byteLength !== SHA256_DIGEST_SIZE) {
    throw new KexecError('EINVAL', rule, `sha256 digest of ${digest.byteLength} bytes, expected ${SHA256_DIGEST_SIZE}`);
  }
  const table = new Uint8Array(SHA256_REGIONS * SHA256_REGION_SIZE);
  regions.forEach((r, i) => {
    table.set(encodeFields(`sha256_regions[${i}]`, SHA256_REGION, SHA256_REGION_SIZE, { start: r.start, len: r.len }), i * SHA256_REGION_SIZE);
  });
  p.setSymbol('sha256_regions', table);
  p.setSymbol('sha256_digest', digest);
}

export function getShaRegions(p: RelocatedPurgatory): { regions: Sha256Region[]; digest: Uint8Array } {
  const table = p.getSymbol('sha256_regions', SHA256_REGIONS * SHA256_REGION_SIZE);
  const regions: Sha256Region[] = [];
  for (let i = 0; i < SHA256_REGIONS; i++) {
    const { start, len } = decodeFields(SHA256_REGION, table.subarray(i * SHA256_REGION_SIZE, (i + 1) * SHA256_REGION_SIZE));
    regions.push({ start, len });
  }
  return { regions, digest: p.getSymbol('sha256_digest', SHA256_DIGEST_SIZE) };
}

/** The bytes of a little-endian C scalar of `size` bytes. */
function scalar(size: FieldSpec['size'], v: number | bigint): Uint8Array {
  const b = new Uint8Array(size);
  writeField(b, { offset: 0, size }, v);
  return b;
}

/** kexec -i: the purgatory skips the digest check (skip_checks, a C int in kexec-tools). */
export function setSkipChecks(p: RelocatedPurgatory, skip: boolean): void {
  p.setSymbol('skip_checks', scalar(4, skip ? 1 : 0));
}

/** --console-serial, --serial=, --serial-baud= (kexec-tools arch_update_purgatory). baud 0 keeps the divisor. */
export interface PurgatoryConsole {
  serial: boolean;
  base: number;
  baud: number;
}

export function setConsole(p: RelocatedPurgatory, c: PurgatoryConsole): void {
  if (!Number.isInteger(c.base) || c.base < 0 || c.base > 0xffff) {
    throw new KexecError('EINVAL', 'kexec_purgatory_get_set_symbol', `serial_base ${c.base} is not an I/O port (0-0xffff)`);
  }
  p.setSymbol('console_serial', scalar(1, c.serial ? 1 : 0));
  p.setSymbol('serial_base', scalar(2, c.base));
  p.setSymbol('serial_baud', scalar(4, checkedValue('serial_baud', integer('serial_baud', c.baud), 4)));
}

/** kexec -p: copy backup_src_size bytes from backup_src_start to backup_start after the digest check. */
export interface CrashBackup {
  backupStart: bigint;
  srcStart: bigint;
  srcSize: bigint;
}

export function setBackup(p: RelocatedPurgatory, b: CrashBackup): void {
  p.setSymbol('backup_start', scalar(8, checkedValue('backup_start', b.backupStart, 8)));
  p.setSymbol('backup_src_start', scalar(8, checkedValue('backup_src_start', b.srcStart, 8)));
  p.setSymbol('backup_src_size', scalar(8, checkedValue('backup_src_size', b.srcSize, 8)));
}

export function setCmdlineEnd(p: RelocatedPurgatory, addr: bigint): void {
  p.setSymbol('cmdline_end', scalar(8, checkedValue('cmdline_end', addr, 8)));
}

