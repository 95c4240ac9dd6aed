// The QEMU engine: runs a memory image on qemu-system-x86_64 with our firmware stub (src/arch/x86/stub) in
// place of a BIOS. The stub puts the CPU in relocate_kernel's hand-off state and jumps to the entry.
//
// Guest RAM is a sparse file (memory-backend-file, share=off) holding every extent at its guest-physical place,
// so QEMU maps it instead of copying it (a 200 MB initrd costs a file write, not a second copy in QEMU).
// Console: COM1 on QEMU's stdio, whose stdout is a file in the run directory that the engine follows
// (file-tail.ts says why not a pipe). isa-debug-exit at port 0x501: a guest byte write of v makes QEMU exit with
// status (v << 1) | 1, reported as 'poweroff' with the code in the details. With -no-reboot every CPU reset
// ends QEMU; the kernel's restart notice on the console marks a requested reboot, and under TCG QEMU's
// cpu_reset log says "Triple fault" when the reset came from one.
//
// The jobs live in their own modules: qemu-binary (is QEMU there), qemu-kvm-probe (can KVM run guests),
// qemu-layout (where RAM sits), qemu-ram-file, qemu-args, qemu-run, qemu-supervise (the process) and
// qemu-outcome (what the run came to).

import { KexecError } from '../../errno.js';
import { stubBinPath } from '../../arch/x86/stub/params.js';
import type { EntryState, MemoryImage } from '../memory/memory-image.js';
import type { BootOptions, Engine, Outcome } from './engine.js';
import type { Accel } from './qemu-args.js';
import { checkQemuBinary, QEMU_BINARY, QEMU_INSTALL_HINT } from './qemu-binary.js';
import { kvmUnusable } from './qemu-kvm-probe.js';
import { checkImageForQemu } from './qemu-layout.js';
import { runQemu, type QemuEntryState } from './qemu-run.js';

export type { QemuEntryState } from './qemu-run.js';

export interface QemuEngineOptions {
  /** The QEMU system emulator to run (default qemu-system-x86_64 from PATH). */
  binary?: string;
}

export class QemuEngine implements Engine {
  readonly name = 'qemu' as const;
  private readonly binary: string;

  constructor(options: QemuEngineOptions = {}) {
    this.binary = options.binary ?? QEMU_BINARY;
  }

  async unavailable(_entry: EntryState): Promise<string | null> {
    // Both entry states are supported: the stub sets up either.
    if (!stubBinPath()) return 'the firmware stub src/arch/x86/stub/stub.bin is missing: run src/arch/x86/stub/build.sh';
    return checkQemuBinary(this.binary);
  }

  async boot(image: MemoryImage, entry: QemuEntryState, opts: BootOptions): Promise<Outcome> {
    const started = Date.now();
    const why = await this.unavailable(entry);
    if (why) throw new KexecError('ENOENT', 'qemu engine', why, { value: this.binary, hint: QEMU_INSTALL_HINT });
    checkImageForQemu(image, entry);

    const details: string[] = [];
    const verbose: string[] = [];
    const accel = await this.chooseAccel(opts.accel ?? 'auto', details, verbose);
    const result = await runQemu(this.binary, image, entry, opts, accel, details);
    return {
      status: result.status,
      engine: 'qemu',
      details: result.details,
      verbose: [...verbose, ...(result.verbose ?? [])],
      consoleTail: result.consoleTail,
      ...(result.cpu ? { cpu: result.cpu } : {}),
      wallMs: Date.now() - started,
    };
  }

  /** The accelerator line; why KVM was not used (often a QEMU abort message) is for -d only. */
  private async chooseAccel(wanted: 'kvm' | 'tcg' | 'auto', details: string[], verbose: string[]): Promise<Accel> {
    if (wanted !== 'auto') {
      details.push(`accelerator: ${wanted}`);
      return wanted;
    }
    const reason = await kvmUnusable(this.binary);
    details.push(reason ? 'accelerator: tcg (KVM not usable here; -d says why)' : 'accelerator: kvm (probe guest ran)');
    if (reason) verbose.push(`KVM not used: ${reason}`);
    return reason ? 'tcg' : 'kvm';
  }
}
