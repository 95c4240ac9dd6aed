// The CPU state at the end of a run, for the post-mortem: what QEMU prints for `info registers` (through QMP)
// and in its cpu_reset log (target/i386/cpu-dump.c x86_cpu_dump_state: "RIP=... CR0=... EFER=...", or the
// 32-bit form "EIP=..." outside long mode), and what v86 keeps in its CPU object.

import { hex } from '../../lib/hex.js';

export type CpuMode = 'real16' | 'protected32' | 'long64';

export interface CpuState {
  /** Hex strings (addresses pass 2^53). */
  rip: string;
  rsp: string;
  cr0: string;
  cr3: string;
  cr4: string;
  efer: string;
  mode: CpuMode;
  /** The CPU was halted (HLT) when the state was taken. */
  halted: boolean;
  /**
   * Still on the hand-off's address space (the stub's page tables, or paging off on v86): the new kernel has
   * not set up its own, so it was never entered or stopped at once. Set by the engine.
   */
  handoffPaging?: boolean;
  /** Where the state comes from: "QMP info registers", "QEMU cpu_reset log", "v86". */
  source: string;
}

const field = (dump: string, names: string[]): bigint | null => {
  for (const n of names) {
    const m = new RegExp(`(?:^|[\\s])${n}=([0-9a-fA-F]+)`).exec(dump);
    if (m) return BigInt(`0x${m[1]}`);
  }
  return null;
};

/** The mode from the CS descriptor flags QEMU prints (CS64/CS32/CS16), else from CR0.PE and EFER.LMA. */
function modeOf(dump: string, cr0: bigint, efer: bigint): CpuMode {
  const cs = /^CS =.*\b(CS64|CS32|CS16)\b/m.exec(dump)?.[1];
  if (cs === 'CS64') return 'long64';
  if (cs === 'CS32') return 'protected32';
  if (cs === 'CS16' || (cr0 & 1n) === 0n) return 'real16';
  return (efer & 0x400n) !== 0n ? 'long64' : 'protected32';
}

/** The state x86_cpu_reset leaves (EIP 0xfff0, CR0 0x60000010): what the log shows after a reset, not before. */
const isResetState = (dump: string): boolean => /^(?:RIP|EIP)=0*fff0\b/m.test(dump) && /\bCR0=0*60000010\b/.test(dump);

/**
 * The last register dump in `text` (a QMP reply or a cpu_reset log) that is not the CPU's reset state (QEMU
 * also logs resets that start from it), or null when there is none.
 */
export function parseQemuRegisters(text: string, source: string): CpuState | null {
  const starts = [...text.matchAll(/^(?:RAX|EAX)=/gm)].map((m) => m.index!);
  const dumps = starts.map((at, i) => text.slice(at, starts[i + 1] ?? text.length)).filter((d) => !isResetState(d));
  const dump = dumps[dumps.length - 1];
  if (dump === undefined) return null;
  const rip = field(dump, ['RIP', 'EIP']);
  if (rip === null) return null;
  const cr0 = field(dump, ['CR0']) ?? 0n;
  const efer = field(dump, ['EFER']) ?? 0n;
  return {
    rip: hex(rip),
    rsp: hex(field(dump, ['RSP', 'ESP']) ?? 0n),
    cr0: hex(cr0),
    cr3: hex(field(dump, ['CR3']) ?? 0n),
    cr4: hex(field(dump, ['CR4']) ?? 0n),
    efer: hex(efer),
    mode: modeOf(dump, cr0, efer),
    halted: /\bHLT=1\b/.test(dump),
    source,
  };
}

/** One line for reports. */
export function describeCpu(c: CpuState): string {
  const ip = c.mode === 'long64' ? 'RIP' : 'EIP';
  return `CPU (${c.source}): ${ip}=${c.rip} ${c.mode === 'long64' ? 'RSP' : 'ESP'}=${c.rsp} CR0=${c.cr0} CR3=${c.cr3} CR4=${c.cr4} EFER=${c.efer} mode=${c.mode}${c.halted ? ' halted' : ''}`;
}
