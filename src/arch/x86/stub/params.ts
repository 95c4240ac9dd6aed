// The firmware stub's interface (stub.s): where it lives, the memory it uses, and its parameter block.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Guest-physical address of the parameter block the engine writes before the CPU starts. */
export const STUB_PARAMS_ADDR = 0x500n;
/**
 * Guest memory the stub reads or writes: parameter block 0x500-0x51f, stack 0x600-0xfff (RSP = 0x1000 at the
 * entry), PML4 at 0x1000 and PDPT at 0x2000 (long64). Below kexec's lowest placement (buf_min 0x3000).
 */
/** The stub's PML4 (long64): CR3 still holds it while the purgatory or a wrongly entered image runs. */
export const STUB_PML4 = 0x1000n;

export const STUB_SCRATCH = { start: 0x500n, end: 0x3000n } as const;
/** The stub identity-maps RAM with 1 GiB pages from one PDPT: at most 512 GiB. */
export const STUB_MAX_GIB = 512;

const MAGIC = 0x54534b56; // "VKST"
const VERSION = 2;
const MODE = { protected32: 1, long64: 2 } as const;

/** Parameter block layout (offsets from STUB_PARAMS_ADDR). */
export const STUB_PARAMS = {
  magic: 0x00, // u32
  version: 0x04, // u32
  mode: 0x08, // u32: 1 protected32, 2 long64
  gib: 0x0c, // u32: 1 GiB pages identity-mapped from 0 (long64)
  entry: 0x10, // u64
  rsi: 0x18, // u64: RSI (ESI) at the entry
  acpiBase: 0x20, // u32: where QEMU's ACPI tables go (an "ACPI Tables" range below 4 GiB)
  acpiSize: 0x24, // u32: its size; 0 = install no ACPI tables
  size: 0x28,
} as const;

export interface StubParams {
  mode: 'long64' | 'protected32';
  entry: bigint;
  /** RSI/ESI at the entry; relocate_kernel leaves 0, the boot protocols want boot_params here. */
  rsi: bigint;
  /** GiB of address space to identity-map (long64); at least 4 so the stub's own ROM stays mapped. */
  gib: number;
  /** The range the stub fills with QEMU's ACPI tables (the RSDP goes to the F segment); null: no ACPI. */
  acpi: { base: bigint; size: bigint } | null;
}

/** Where the stub puts the RSDP (zone FSEG of QEMU's table-loader): the BIOS area Linux scans (acpi_find_root_pointer). */
export const STUB_FSEG = { start: 0xf0000n, end: 0x100000n } as const;


export function encodeStubParams(p: StubParams): Uint8Array {
  const buf = new Uint8Array(STUB_PARAMS.size);
  const v = new DataView(buf.buffer);
  v.setUint32(STUB_PARAMS.magic, MAGIC, true);
  v.setUint32(STUB_PARAMS.version, VERSION, true);
  v.setUint32(STUB_PARAMS.mode, MODE[p.mode], true);
  v.setUint32(STUB_PARAMS.gib, p.gib, true);
  v.setBigUint64(STUB_PARAMS.entry, p.entry, true);
  v.setBigUint64(STUB_PARAMS.rsi, p.rsi, true);
  v.setUint32(STUB_PARAMS.acpiBase, Number(p.acpi?.base ?? 0n), true);
  v.setUint32(STUB_PARAMS.acpiSize, Number(p.acpi?.size ?? 0n), true);
  return buf;
}

/** Path of the built stub.bin (kept in the source tree; the compiled module sits in dist/src/arch/x86/stub/). */
export function stubBinPath(): string | null {
  for (const rel of ['../../../../../src/arch/x86/stub/stub.bin', './stub.bin']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return null;
}
