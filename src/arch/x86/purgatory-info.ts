// The descriptor vkexec's verify engine looks for in a loaded purgatory (purgatory/info.S): where the
// sha256 regions, the register blocks and the backup address live.

import { readField, type FieldSpec } from '../../formats/struct.js';

export const PURGATORY_INFO_MAGIC = 'VKXPURG1';
export const PURGATORY_INFO = {
  magic: { offset: 0, size: 8 },
  version: { offset: 8, size: 4 },
  arch: { offset: 12, size: 4 },
  sha256_regions: { offset: 16, size: 8 },
  sha256_digest: { offset: 24, size: 8 },
  skip_checks: { offset: 32, size: 8 },
  entry64_regs: { offset: 40, size: 8 },
  entry32_regs: { offset: 48, size: 8 },
  backup_start: { offset: 56, size: 8 },
} as const satisfies Record<string, FieldSpec>;
export const PURGATORY_INFO_SIZE = 64;
export const PURGATORY_INFO_VERSION = 1;

export interface PurgatoryInfo {
  /** Offset of the descriptor inside the scanned bytes. */
  offset: number;
  version: number;
  arch: 32 | 64;
  /** Absolute addresses (0 for entry64Regs on i386). */
  sha256Regions: bigint;
  sha256Digest: bigint;
  skipChecks: bigint;
  entry64Regs: bigint;
  entry32Regs: bigint;
  backupStart: bigint;
}

/** Scans a loaded purgatory segment for the descriptor; undefined when there is none of a known version. */
export function findPurgatoryInfo(segment: Uint8Array): PurgatoryInfo | undefined {
  const magic = new TextEncoder().encode(PURGATORY_INFO_MAGIC);
  for (let at = 0; at + PURGATORY_INFO_SIZE <= segment.byteLength; at += 8) {
    if (!magic.every((b, i) => segment[at + i] === b)) continue;
    const version = readField(segment, PURGATORY_INFO.version, at) as number;
    const arch = readField(segment, PURGATORY_INFO.arch, at) as number;
    if (version !== PURGATORY_INFO_VERSION || (arch !== 32 && arch !== 64)) continue;
    const addr = (f: FieldSpec): bigint => readField(segment, f, at) as bigint;
    return {
      offset: at,
      version,
      arch,
      sha256Regions: addr(PURGATORY_INFO.sha256_regions),
      sha256Digest: addr(PURGATORY_INFO.sha256_digest),
      skipChecks: addr(PURGATORY_INFO.skip_checks),
      entry64Regs: addr(PURGATORY_INFO.entry64_regs),
      entry32Regs: addr(PURGATORY_INFO.entry32_regs),
      backupStart: addr(PURGATORY_INFO.backup_start),
    };
  }
  return undefined;
}

