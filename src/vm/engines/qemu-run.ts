// One QEMU run in a temporary directory: the RAM file with the stub's parameters, the command line, the console
// log, then supervision until the run ends. The directory goes when the run ends.

import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../errno.js';
import { encodeStubParams, STUB_FSEG, stubBinPath } from '../../arch/x86/stub/params.js';
import { hex } from '../../lib/hex.js';
import type { EntryState, MemoryImage, PhysAddr } from '../memory/memory-image.js';
import type { BootOptions } from './engine.js';
import { type Accel, qemuArgs } from './qemu-args.js';
import { acpiTablesRange, identityMapGib } from './qemu-layout.js';
import type { RunResult } from './qemu-outcome.js';
import { writeRamFile } from './qemu-ram-file.js';
import { superviseQemu } from './qemu-supervise.js';

/**
 * The hand-off state plus an optional RSI (ESI) value. relocate_kernel leaves RSI at 0 and the purgatory sets
 * it; a caller that enters a kernel directly (no purgatory) passes boot_params here.
 */
export interface QemuEntryState extends EntryState {
  rsi?: PhysAddr;
}

export async function runQemu(binary: string, image: MemoryImage, entry: QemuEntryState, opts: BootOptions, accel: Accel, details: string[]): Promise<RunResult> {
  const stub = stubBinPath()!;
  const dir = await mkdtemp(join(tmpdir(), 'vkexec-qemu-'));
  let log: WriteStream | undefined;
  try {
    const ramFile = join(dir, 'ram');
    const qemuLog = join(dir, 'qemu.log');
    const acpi = acpiTablesRange(image);
    details.push(acpiDetail(acpi));
    await writeRamFile(ramFile, image, encodeStubParams({
      mode: entry.mode,
      entry: entry.entry,
      rsi: entry.rsi ?? 0n,
      gib: identityMapGib(image.ramSize),
      acpi,
    }));
    const qmpSocket = join(dir, 'qmp.sock');
    const args = qemuArgs({ accel, stub, ramFile, ramSize: image.ramSize, qemuLog, qmpSocket, disks: opts.disks ?? [], cpus: opts.cpus ?? 1 });
    const command = `qemu: ${binary} ${args.join(' ')}`;
    if (opts.consoleLog) log = await openLog(opts.consoleLog);
    const r = await superviseQemu({ binary, args, opts, log, tcgLog: accel === 'tcg' ? qemuLog : null, qmpSocket, consoleFile: join(dir, 'console') });
    r.details = [...details, ...r.details];
    r.verbose = [...(r.verbose ?? []), command];
    return r;
  } finally {
    if (log) await new Promise<void>((resolve) => log!.end(resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

/** What the new kernel gets as firmware tables (the stub installs QEMU's; see stub/acpi.s). */
function acpiDetail(acpi: { base: bigint; size: bigint } | null): string {
  if (!acpi) return 'ACPI: none (the machine\'s memory map has no "ACPI Tables" range in RAM below 4 GiB; machine init makes one)';
  // The stub reports a failure on the console ("vkexec-stub: ACPI: ..."), so this line says what it was asked.
  return `ACPI: the firmware stub installs QEMU's tables in [${hex(acpi.base)}, ${hex(acpi.base + acpi.size)}) and the RSDP in the F segment (${hex(STUB_FSEG.start)}-${hex(STUB_FSEG.end - 1n)}); a failure shows as "vkexec-stub: ACPI: ..." on the console`;
}

async function openLog(path: string): Promise<WriteStream> {
  const stream = createWriteStream(path, { flags: 'w' });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err) => reject(new UsageError(`cannot write the console log ${path}: ${err.message}`, { hint: 'choose a writable console log path' })));
  });
  return stream;
}
