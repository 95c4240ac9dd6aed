// What the crashed kernel leaves in RAM when __crash_kexec hands the machine to the crash image: the machine
// keeps no old RAM of its own, so at panic time it writes what a real kernel's memory would hold for a dump:
//  - per CPU, crash_notes (kernel/crash_core.c crash_save_cpu): one "CORE" NT_PRSTATUS note with the
//    registers saved at the panic, then the empty note that ends the buffer (final_note);
//  - the vmcoreinfo note (crash_save_vmcoreinfo / update_vmcoreinfo_note): "VMCOREINFO" with KEY=VALUE lines;
//  - optionally a fill pattern (fill-pattern.ts) over all other RAM outside the crash regions, so a dump can be
//    checked at every address.
// The machine runs no kernel code, so the saved registers are a documented synthetic state: a CPU stopped at
// _stext in kernel mode (cs __KERNEL_CS, ss __KERNEL_DS), interrupts off (flags 0x2), orig_ax -1 (no system
// call), other registers 0; the panicking task is pid 1 on CPU 0, the other CPUs were idle (pid 0).

import { KexecError } from '../../errno.js';
import { type FillPattern, formatFillPattern } from '../memory/fill-pattern.js';
import { DEFAULT_STEXT, vmcoreinfoText } from './vmcoreinfo.js';
import { procVmcoreSummary } from './crash-vmcore.js';
import { resourceRange, systemRam } from '../machine/iomem.js';
import { CRASH_NOTES_SIZE, type MachineConfig, VMCOREINFO_NOTE_SIZE, crashNotesAddr, crashRegions, vmcoreinfoNoteAddr } from '../machine/machine-config.js';
import type { Extent, MemoryImage } from '../memory/memory-image.js';
import { alignUp } from '../../lib/align.js';
import { hex } from '../../lib/hex.js';
import { rangeLength, subtractRanges } from '../../lib/range.js';

/** include/uapi/linux/elf.h */
export const NT_PRSTATUS = 1;
export const CORE_NOTE_NAME = 'CORE';
export const VMCOREINFO_NOTE_NAME = 'VMCOREINFO';
/** include/linux/crash_core.h: VMCOREINFO_BYTES, the most text the note may hold. */
export const VMCOREINFO_BYTES = 4096;

/** The ELF note header (Elf32_Nhdr and Elf64_Nhdr are the same three u32). */
const NHDR = { n_namesz: 0, n_descsz: 4, n_type: 8, size: 12 } as const;

/** struct elf_prstatus (include/linux/elfcore.h) per architecture: offsets of the fields crash_save_cpu sets. */
export const ELF_PRSTATUS = {
  x86_64: { pr_pid: 32, pr_reg: 112, regSize: 8, size: 336 },
  i386: { pr_pid: 24, pr_reg: 72, regSize: 4, size: 144 },
} as const;

/** struct user_regs_struct order (arch/x86/include/asm/user_64.h, user_32.h): pr_reg is an array of these. */
export const USER_REGS = {
  x86_64: ['r15', 'r14', 'r13', 'r12', 'bp', 'bx', 'r11', 'r10', 'r9', 'r8', 'ax', 'cx', 'dx', 'si', 'di', 'orig_ax', 'ip', 'cs', 'flags', 'sp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs'],
  i386: ['bx', 'cx', 'dx', 'si', 'di', 'bp', 'ax', 'ds', 'es', 'fs', 'gs', 'orig_ax', 'ip', 'cs', 'flags', 'sp', 'ss'],
} as const;

const KERNEL_CS = { x86_64: 0x10n, i386: 0x60n } as const;
const KERNEL_DS = { x86_64: 0x18n, i386: 0x68n } as const;

export interface PanicOptions {
  fill: FillPattern | null;
  /** CRASHTIME: seconds since the epoch at the panic. */
  crashTime: bigint;
  /** The CPU that panicked (its task is pid 1). */
  panicCpu?: number;
}

/** append_elf_note: header, NUL-terminated name and desc, each padded to 4 bytes; returns the next offset. */
function appendElfNote(buf: Uint8Array, at: number, name: string, type: number, desc: Uint8Array): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const nameBytes = Buffer.from(name + '\0', 'latin1');
  view.setUint32(at + NHDR.n_namesz, nameBytes.length, true);
  view.setUint32(at + NHDR.n_descsz, desc.length, true);
  view.setUint32(at + NHDR.n_type, type, true);
  buf.set(nameBytes, at + NHDR.size);
  const descAt = at + NHDR.size + alignUp(nameBytes.length, 4);
  buf.set(desc, descAt);
  return descAt + alignUp(desc.length, 4);
}

/** The registers crash_save_cpu stores (the same synthetic state on every CPU, see the header comment). */
function savedRegisters(arch: MachineConfig['arch']): Record<string, bigint> {
  const regs: Record<string, bigint> = Object.fromEntries(USER_REGS[arch].map((r) => [r, 0n]));
  regs.ip = DEFAULT_STEXT[arch];
  regs.cs = KERNEL_CS[arch];
  regs.ss = KERNEL_DS[arch];
  regs.flags = 0x2n;
  regs.orig_ax = arch === 'x86_64' ? (1n << 64n) - 1n : (1n << 32n) - 1n;
  return regs;
}

/** struct elf_prstatus as crash_save_cpu fills it: pr_pid and pr_reg, everything else zero. */
function elfPrstatus(arch: MachineConfig['arch'], pid: number, regs: Record<string, bigint>): Uint8Array {
  const l = ELF_PRSTATUS[arch];
  const buf = new Uint8Array(l.size);
  const view = new DataView(buf.buffer);
  view.setInt32(l.pr_pid, pid, true);
  USER_REGS[arch].forEach((name, i) => {
    const at = l.pr_reg + i * l.regSize;
    if (l.regSize === 8) view.setBigUint64(at, regs[name]!, true);
    else view.setUint32(at, Number(regs[name]! & 0xffffffffn), true);
  });
  return buf;
}

/** One CPU's crash_notes buffer (sizeof(note_buf_t) bytes): the NT_PRSTATUS note, then the empty note. */
export function crashNotesBuffer(config: MachineConfig, cpu: number, panicCpu: number): Uint8Array {
  const buf = new Uint8Array(Number(CRASH_NOTES_SIZE));
  const prstatus = elfPrstatus(config.arch, cpu === panicCpu ? 1 : 0, savedRegisters(config.arch));
  appendElfNote(buf, 0, CORE_NOTE_NAME, NT_PRSTATUS, prstatus); // final_note: the zeros that follow
  return buf;
}

/** vmcoreinfo_note (VMCOREINFO_NOTE_SIZE bytes): the "VMCOREINFO" note (type 0), then the empty note. */
export function vmcoreinfoNote(config: MachineConfig, opts: PanicOptions): Uint8Array {
  const text = Buffer.from(vmcoreinfoText(config, opts), 'latin1');
  const buf = new Uint8Array(Number(VMCOREINFO_NOTE_SIZE));
  appendElfNote(buf, 0, VMCOREINFO_NOTE_NAME, 0, text.subarray(0, VMCOREINFO_BYTES));
  return buf;
}

/**
 * __crash_kexec's view of memory: the crash image's segments (already in the crash region), plus the old
 * kernel's notes and, with a fill pattern, all other RAM outside the crash regions.
 */
export function crashKexecMemory(config: MachineConfig, memory: MemoryImage, opts: PanicOptions): { memory: MemoryImage; details: string[] } {
  const oldRam = subtractRanges(systemRam(config.iomem).map(resourceRange), crashRegions(config));
  const panicCpu = opts.panicCpu ?? 0;
  const notes: Extent[] = [];
  for (let cpu = 0; cpu < config.cpus; cpu++) {
    notes.push({ addr: crashNotesAddr(cpu), length: Number(CRASH_NOTES_SIZE), kind: 'bytes', data: crashNotesBuffer(config, cpu, panicCpu) });
  }
  const vmcoreinfo = vmcoreinfoNote(config, opts);
  notes.push({ addr: vmcoreinfoNoteAddr(), length: vmcoreinfo.length, kind: 'bytes', data: vmcoreinfo });
  for (const n of notes) {
    const end = n.addr + BigInt(n.length);
    if (!oldRam.some((r) => r.start <= n.addr && end <= r.end)) {
      throw new KexecError('EFAULT', '__crash_kexec', `the old kernel's note buffer [${hex(n.addr)}, ${hex(end)}) is not System RAM outside the crash region`, {
        value: hex(n.addr),
        hint: 'the machine keeps its crash notes and vmcoreinfo in "Kernel data": give it a memory map with RAM there, outside "Crash kernel"',
      });
    }
  }
  const extents: Extent[] = [...memory.extents, ...notes];
  const details = [`__crash_kexec: crash_notes for ${config.cpus} CPU${config.cpus > 1 ? 's' : ''} (NT_PRSTATUS, CPU ${panicCpu} panicked) and the vmcoreinfo note written to old RAM`];
  if (opts.fill) {
    const noteRanges = notes.map((n) => ({ start: n.addr, end: n.addr + BigInt(n.length) }));
    const filled = subtractRanges(oldRam, noteRanges);
    let bytes = 0n;
    for (const r of filled) {
      extents.push({ addr: r.start, length: Number(rangeLength(r)), kind: 'pattern', pattern: opts.fill });
      bytes += rangeLength(r);
    }
    details.push(`old RAM filled with pattern ${formatFillPattern(opts.fill)}: ${bytes >> 20n} MiB outside the crash region`);
  }
  extents.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  const layout = procVmcoreSummary({ ...memory, extents });
  if (layout) details.push(`the capture kernel's ${layout}`);
  for (let i = 1; i < extents.length; i++) {
    const prev = extents[i - 1]!;
    if (prev.addr + BigInt(prev.length) > extents[i]!.addr) {
      throw new KexecError('EFAULT', '__crash_kexec', `a crash segment at ${hex(extents[i]!.addr)} overlaps the old kernel's memory at ${hex(prev.addr)}`, {
        hint: 'crash segments must stay inside "Crash kernel"; unload (vkexec -p -u) and load the crash kernel again',
      });
    }
  }
  return { memory: { ...memory, extents }, details };
}
