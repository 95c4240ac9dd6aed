// QEMU's command line for a run: the pc machine with our RAM file as its memory backend, the firmware stub as
// BIOS, COM1 on stdio and isa-debug-exit for guests that want to end QEMU with a code.

import { hex } from '../../lib/hex.js';

/**
 * isa-debug-exit: a byte write of v to this port ends QEMU with exit status (v << 1) | 1. The exit status has
 * 8 bits, so guests use codes 0x00-0x7f; they come back as 'poweroff' with the code in the details.
 */
export const DEBUG_EXIT_PORT = 0x501;

export type Accel = 'kvm' | 'tcg';

export interface QemuArgsInput {
  accel: Accel;
  stub: string;
  ramFile: string;
  ramSize: bigint;
  qemuLog: string;
  /** QMP socket for the post-mortem's CPU state. */
  qmpSocket: string;
  disks: string[];
  /** CPUs of the machine (machine init --cpus): the new kernel finds them in QEMU's ACPI MADT. */
  cpus: number;
}

export function qemuArgs(p: QemuArgsInput): string[] {
  const args = [
    '-nodefaults', '-nographic', '-no-reboot',
    '-accel', p.accel,
    // TCG: everything QEMU emulates (long mode, 1 GiB pages). KVM: the host CPU as is. QEMU 7.2's TCG defaults
    // are kept (tb-size 1 GiB, multi-threaded): bench/tcg.ts (2026-12-06, load ~29) found tb-size=64 1.15x and
    // tb-size=256 1.06x slower to the marker, thread=single 1.01x and -cpu qemu64 1.00x (noise), so none faster.
    '-cpu', p.accel === 'kvm' ? 'host' : 'max',
    '-smp', String(p.cpus),
    '-object', `memory-backend-file,id=vkexec-ram,size=${p.ramSize}B,mem-path=${p.ramFile},share=off`,
    '-machine', 'pc,memory-backend=vkexec-ram,max-ram-below-4g=3G',
    '-bios', p.stub,
    '-chardev', 'stdio,id=vkexec-con,signal=off',
    '-serial', 'chardev:vkexec-con',
    '-device', `isa-debug-exit,iobase=${hex(DEBUG_EXIT_PORT)},iosize=1`,
    '-qmp', `unix:${p.qmpSocket},server=on,wait=off`,
  ];
  // TCG logs "Triple fault" under cpu_reset; KVM has no such log.
  if (p.accel === 'tcg') args.push('-d', 'cpu_reset', '-D', p.qemuLog);
  p.disks.forEach((disk, i) => {
    args.push('-drive', `file=${disk},format=raw,if=none,id=vkexec-disk${i}`, '-device', `virtio-blk-pci,drive=vkexec-disk${i}`);
  });
  return args;
}
