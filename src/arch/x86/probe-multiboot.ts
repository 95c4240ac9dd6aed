// The multiboot part of the probe kernel's report (probe-multiboot, entered through probe-kernel/multiboot.S):
// the magic and information address the loader handed over in EAX/EBX, and what the information holds
// (v1 multiboot_info or the v2 tags): memory sizes, memory map, modules with the sha256 computed in the
// guest, command line and boot loader name. Keys: probe-kernel/probe.c's report format.

import { type ProbeReport, field, parseDec, parseHex, parseQuoted, parseRecord, parseSmallHex, reportError } from './probe-kernel.js';

export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
export const MULTIBOOT2_BOOTLOADER_MAGIC = 0x36d76289;

export interface ProbeMultibootModule {
  start: bigint;
  end: bigint;
  /** Lowercase hex computed in the guest over [start, end); null when the module is empty or unreachable. */
  sha256: string | null;
  cmdline: string | null;
}

export interface ProbeMultiboot {
  magic: number;
  version: 1 | 2;
  info: bigint;
  /** v1 only: multiboot_info.flags. */
  flags?: number;
  /** v2 only: the information's total_size. */
  totalSize?: number;
  memLower?: number;
  memUpper?: number;
  cmdline: string | null;
  bootLoaderName: string | null;
  modules: ProbeMultibootModule[];
  mmap: { addr: bigint; size: bigint; type: number }[];
}

/** A quoted string value, or null for none / unreachable / absent. */
function text(raw: Map<string, string>, key: string): string | null {
  const v = raw.get(key);
  return v === undefined || v === 'none' || v === 'unreachable' ? null : parseQuoted(key, v);
}

/** The multiboot facts of a probe report, or null when the probe was not entered as a multiboot kernel. */
export function probeMultiboot(report: ProbeReport): ProbeMultiboot | null {
  const raw = report.raw;
  const magicText = raw.get('multiboot.magic');
  if (magicText === undefined) return null;
  const magic = parseSmallHex('multiboot.magic', magicText);
  if (magic !== MULTIBOOT_BOOTLOADER_MAGIC && magic !== MULTIBOOT2_BOOTLOADER_MAGIC) throw reportError(`multiboot.magic ${magicText} is neither multiboot magic`);
  const info = raw.get('multiboot.info');
  if (info === undefined) throw reportError('the line "multiboot.info: ..." is missing');
  const small = (key: string): number | undefined => (raw.has(key) ? parseSmallHex(key, raw.get(key)!) : undefined);
  const out: ProbeMultiboot = {
    magic, version: magic === MULTIBOOT_BOOTLOADER_MAGIC ? 1 : 2, info: parseHex('multiboot.info', info),
    cmdline: text(raw, 'multiboot.cmdline'), bootLoaderName: text(raw, 'multiboot.boot_loader_name'), modules: [], mmap: [],
  };
  for (const [k, v] of [['flags', small('multiboot.flags')], ['totalSize', small('multiboot.total_size')], ['memLower', small('multiboot.mem_lower')], ['memUpper', small('multiboot.mem_upper')]] as const) {
    if (v !== undefined) out[k] = v;
  }
  const mods = raw.has('multiboot.mods.count') ? parseDec('multiboot.mods.count', raw.get('multiboot.mods.count')!) : 0;
  for (let i = 0; i < mods; i++) {
    const key = `multiboot.mod.${i}`;
    const v = raw.get(key);
    if (v === undefined) throw reportError(`the line "${key}: ..." is missing`);
    const r = parseRecord(v);
    const sha = r.values.get('sha256');
    if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) throw reportError(`${key}: sha256=${sha} is not a sha256`);
    out.modules.push({ start: parseHex(key, field(key, r, 'start')), end: parseHex(key, field(key, r, 'end')), sha256: sha ?? null, cmdline: text(raw, `${key}.cmdline`) });
  }
  const count = parseDec('multiboot.mmap.count', raw.get('multiboot.mmap.count') ?? '0');
  for (let i = 0; i < count; i++) {
    const key = `multiboot.mmap.${i}`;
    const v = raw.get(key);
    if (v === undefined) throw reportError(`the line "${key}: ..." is missing`);
    const r = parseRecord(v);
    out.mmap.push({ addr: parseHex(key, field(key, r, 'addr')), size: parseHex(key, field(key, r, 'size')), type: parseSmallHex(key, field(key, r, 'type')) });
  }
  return out;
}
