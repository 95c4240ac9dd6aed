// Reads an ELF vmcore as a capture kernel writes it (`cat /proc/vmcore`, makedumpfile -E) from the start of a
// file or disk image, and checks it against the machine that crashed:
//  - its PT_LOADs are the machine's System RAM minus what the ELF core header's rules cut out: Linux's
//    kexec_file_load (arch/x86/kernel/crash.c prepare_elf_headers: the low 1 MiB and the crash regions) or
//    kexec-tools' -c (crashdump-x86.c: the crash regions only, the low range read from its backup copy);
//    plus on x86_64 one kernel-text PT_LOAD that covers "Kernel code" to the end of "Kernel bss";
//  - its notes: one NT_PRSTATUS per CPU and a VMCOREINFO note naming the machine's release;
//  - with a fill pattern (machine panic --fill), every byte of every PT_LOAD, except the note buffers the old
//    kernel keeps in its data, reads back as the pattern at its physical address.
// /proc/vmcore rewrites p_offset (the data follows the headers) but keeps p_paddr, p_vaddr and the sizes.

import * as fs from 'node:fs';
import { UsageError, fileErrorText } from '../../errno.js';
import { EM_386, EM_X86_64, ElfFormatError, PT_LOAD, PT_NOTE } from '../../formats/elf.js';
import { type ElfCoreHeader, parseVmcoreinfo, readElfCoreHeader, readElfNotes } from '../../formats/elf-core.js';
import { type FillPattern, fillPatternBytes, formatFillPattern, parseFillPattern } from '../memory/fill-pattern.js';
import { findResource, resourceRange, systemRam } from '../machine/iomem.js';
import { CRASH_NOTES_SIZE, type MachineConfig, VMCOREINFO_NOTE_SIZE, crashNotesAddr, crashRegions, vmcoreinfoNoteAddr } from '../machine/machine-config.js';
import { CORE_NOTE_NAME, ELF_PRSTATUS, NT_PRSTATUS, USER_REGS, VMCOREINFO_NOTE_NAME } from '../kernel/panic.js';
import { hex } from '../../lib/hex.js';
import { type PhysRange, intersectRange, subtractRanges } from '../../lib/range.js';

const MiB = 1n << 20n;
const START_KERNEL_MAP = 0xffffffff80000000n;
const HEADER_READ = 1 << 20;
const CHUNK = 8 << 20;
const PAGE = 4096;

export interface VmcoreLoad {
  index: number;
  paddr: bigint;
  vaddr: bigint;
  offset: bigint;
  filesz: bigint;
  memsz: bigint;
  /** x86_64's kernel-text mapping (vaddr in __START_KERNEL_map) or a direct-mapped RAM range. */
  kind: 'kernel-text' | 'ram';
}

export interface VmcoreNote {
  name: string;
  type: number;
  descsz: number;
  /** NT_PRSTATUS "CORE": the task and the registers saved at the crash. */
  prstatus?: { pid: number; ip: bigint; sp: bigint };
  /** VMCOREINFO: its KEY=VALUE lines. */
  vmcoreinfo?: Record<string, string>;
}

export interface Vmcore {
  path: string;
  fileSize: bigint;
  class: 32 | 64;
  machine: number;
  /** Bytes the dump occupies from offset 0: max(p_offset + p_filesz). */
  dumpSize: bigint;
  notes: VmcoreNote[];
  loads: VmcoreLoad[];
}

export interface VmcoreCheck {
  name: string;
  ok: boolean;
  detail: string;
}

function notVmcore(path: string, why: string): UsageError {
  return new UsageError(`${path}: not an ELF vmcore: ${why}`, {
    hint: 'give the file (or disk image) the capture kernel wrote /proc/vmcore to, from offset 0 (cat /proc/vmcore > FILE, or makedumpfile -E)',
  });
}

function readAt(fd: number, path: string, offset: bigint, length: number): Uint8Array {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, Number(offset) + done);
    if (n === 0) throw notVmcore(path, `it ends at ${hex(offset + BigInt(done))}, inside a part the ELF headers describe`);
    done += n;
  }
  return buf;
}

function parseNote(machine: number, n: { name: string; type: number; desc: Uint8Array }): VmcoreNote {
  const out: VmcoreNote = { name: n.name, type: n.type, descsz: n.desc.length };
  const arch = machine === EM_X86_64 ? 'x86_64' : machine === EM_386 ? 'i386' : null;
  if (n.name === CORE_NOTE_NAME && n.type === NT_PRSTATUS && arch && n.desc.length >= ELF_PRSTATUS[arch].size) {
    const l = ELF_PRSTATUS[arch];
    const view = new DataView(n.desc.buffer, n.desc.byteOffset, n.desc.byteLength);
    const reg = (name: string) => {
      const at = l.pr_reg + (USER_REGS[arch] as readonly string[]).indexOf(name) * l.regSize;
      return l.regSize === 8 ? view.getBigUint64(at, true) : BigInt(view.getUint32(at, true));
    };
    out.prstatus = { pid: view.getInt32(l.pr_pid, true), ip: reg('ip'), sp: reg('sp') };
  }
  if (n.name === VMCOREINFO_NOTE_NAME) out.vmcoreinfo = Object.fromEntries(parseVmcoreinfo(n.desc));
  return out;
}

/** Reads the ELF header, the notes and the load list of the vmcore at the start of `path`. */
export function readVmcore(path: string): Vmcore {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    throw new UsageError(`cannot open ${path}: ${fileErrorText(e)}`, { hint: 'check the vmcore path' });
  }
  try {
    const fileSize = BigInt(fs.fstatSync(fd).size);
    const head = Buffer.alloc(Math.min(HEADER_READ, Number(fileSize)));
    fs.readSync(fd, head, 0, head.length, 0);
    let h: ElfCoreHeader;
    try {
      h = readElfCoreHeader(head);
    } catch (e) {
      if (e instanceof ElfFormatError) throw notVmcore(path, e.message);
      throw e;
    }
    if (h.machine !== EM_X86_64 && h.machine !== EM_386) throw notVmcore(path, `e_machine ${h.machine} is not EM_X86_64 or EM_386`);
    const notes: VmcoreNote[] = [];
    const loads: VmcoreLoad[] = [];
    let dumpSize = BigInt(h.size);
    for (const p of h.phdrs) {
      const end = p.offset + p.filesz;
      if (end > dumpSize) dumpSize = end;
      if (p.type === PT_NOTE) {
        if (p.filesz > BigInt(HEADER_READ) * 16n) throw notVmcore(path, `PT_NOTE ${p.index} claims ${p.filesz} bytes`);
        const bytes = readAt(fd, path, p.offset, Number(p.filesz));
        try {
          for (const n of readElfNotes(bytes)) notes.push(parseNote(h.machine, n));
        } catch (e) {
          if (e instanceof ElfFormatError) throw notVmcore(path, `PT_NOTE ${p.index}: ${e.message}`);
          throw e;
        }
      } else if (p.type === PT_LOAD) {
        const kind = h.machine === EM_X86_64 && p.vaddr >= START_KERNEL_MAP ? 'kernel-text' : 'ram';
        loads.push({ index: p.index, paddr: p.paddr, vaddr: p.vaddr, offset: p.offset, filesz: p.filesz, memsz: p.memsz, kind });
      }
    }
    return { path, fileSize, class: h.class, machine: h.machine, dumpSize, notes, loads };
  } finally {
    fs.closeSync(fd);
  }
}

const rangeText = (r: PhysRange) => `[${hex(r.start)}, ${hex(r.end)})`;
const sameRanges = (a: PhysRange[], b: PhysRange[]) => a.length === b.length && a.every((r, i) => r.start === b[i]!.start && r.end === b[i]!.end);

/** The RAM loads each rule set produces for this machine. */
function expectedLoads(config: MachineConfig): { rule: string; ranges: PhysRange[] }[] {
  const ram = systemRam(config.iomem).map(resourceRange);
  const crash = crashRegions(config);
  return [
    { rule: "kexec_file_load's (System RAM minus the low 1 MiB and the crash regions)", ranges: subtractRanges(ram, [{ start: 0n, end: MiB }, ...crash]) },
    { rule: "kexec-tools' -c (System RAM minus the crash regions; the low range from its backup)", ranges: subtractRanges(ram, crash) },
  ];
}

/** The old kernel's note buffers (the machine keeps them at fixed places): their bytes are notes, not pattern. */
function noteBuffers(cpus: number): PhysRange[] {
  const out: PhysRange[] = [];
  for (let cpu = 0; cpu < cpus; cpu++) out.push({ start: crashNotesAddr(cpu), end: crashNotesAddr(cpu) + CRASH_NOTES_SIZE });
  out.push({ start: vmcoreinfoNoteAddr(), end: vmcoreinfoNoteAddr() + VMCOREINFO_NOTE_SIZE });
  return out;
}

/** The fill pattern to check: the one given, else the one the dump's vmcoreinfo names, else none. */
function dumpFillPattern(v: Vmcore, given: FillPattern | null): { pattern: FillPattern | null; source: string } {
  if (given) return { pattern: given, source: '--fill' };
  const named = v.notes.find((n) => n.vmcoreinfo?.VKEXEC_FILL)?.vmcoreinfo?.VKEXEC_FILL;
  if (named === undefined) return { pattern: null, source: 'none' };
  return { pattern: parseFillPattern(named), source: 'vmcoreinfo VKEXEC_FILL' };
}

/** Checks that hold for any vmcore: sizes consistent, data present in the file. */
function checkVmcoreFile(v: Vmcore): VmcoreCheck[] {
  const checks: VmcoreCheck[] = [];
  const bad = v.loads.filter((l) => l.filesz > l.memsz);
  checks.push({ name: 'load sizes', ok: bad.length === 0, detail: bad.length === 0 ? `${v.loads.length} PT_LOADs, p_filesz <= p_memsz` : `PT_LOAD ${bad.map((l) => l.index).join(', ')} have p_filesz > p_memsz` });
  checks.push({
    name: 'file size',
    ok: v.dumpSize <= v.fileSize,
    detail: v.dumpSize <= v.fileSize ? `the dump's ${v.dumpSize} bytes are all in the file (${v.fileSize} bytes)` : `the headers describe ${v.dumpSize} bytes but the file has ${v.fileSize}: the dump is truncated`,
  });
  const prstatus = v.notes.filter((n) => n.prstatus);
  checks.push({ name: 'notes', ok: prstatus.length > 0 && v.notes.some((n) => n.vmcoreinfo), detail: `${prstatus.length} NT_PRSTATUS note(s), ${v.notes.some((n) => n.vmcoreinfo) ? 'a' : 'no'} VMCOREINFO note` });
  return checks;
}

/** Compares the dump with the machine: load ranges, kernel text, notes. */
function checkVmcoreAgainstMachine(v: Vmcore, config: MachineConfig): VmcoreCheck[] {
  const checks: VmcoreCheck[] = [];
  const ram = v.loads.filter((l) => l.kind === 'ram').map((l) => ({ start: l.paddr, end: l.paddr + l.memsz })).sort((a, b) => (a.start < b.start ? -1 : 1));
  const rules = expectedLoads(config);
  const hit = rules.find((r) => sameRanges(r.ranges, ram));
  if (hit) checks.push({ name: 'RAM loads', ok: true, detail: `${ram.length} RAM PT_LOADs are the machine's RAM by ${hit.rule}` });
  else {
    const want = rules[0]!.ranges;
    const missing = subtractRanges(want, ram).map(rangeText);
    const extra = subtractRanges(ram, rules[1]!.ranges).map(rangeText);
    checks.push({
      name: 'RAM loads',
      ok: false,
      detail: `the RAM PT_LOADs ${ram.map(rangeText).join(' ')} match neither rule set${missing.length ? `; not dumped: ${missing.join(' ')}` : ''}${extra.length ? `; not the machine's RAM outside the crash regions: ${extra.join(' ')}` : ''}`,
    });
  }
  const text = v.loads.filter((l) => l.kind === 'kernel-text');
  if (config.arch === 'x86_64') {
    const code = findResource(config.iomem, 'Kernel code');
    const bss = findResource(config.iomem, 'Kernel bss');
    const t = text[0];
    const ok = text.length === 1 && code !== undefined && bss !== undefined && t!.paddr === code.start && t!.paddr + t!.memsz > bss.end;
    checks.push({
      name: 'kernel text load',
      ok,
      detail: ok
        ? `PT_LOAD ${t!.index} maps [${hex(t!.paddr)}, ${hex(t!.paddr + t!.memsz)}) at ${hex(t!.vaddr)}: "Kernel code" to the end of "Kernel bss"`
        : `expected one PT_LOAD at __START_KERNEL_map covering "Kernel code" to "Kernel bss" (${code ? hex(code.start) : '?'}-${bss ? hex(bss.end) : '?'}); found ${text.map((l) => `[${hex(l.paddr)}, ${hex(l.paddr + l.memsz)}) at ${hex(l.vaddr)}`).join(' ') || 'none'}`,
    });
  }
  const prstatus = v.notes.filter((n) => n.prstatus).length;
  checks.push({ name: 'crash notes', ok: prstatus === config.cpus, detail: `${prstatus} NT_PRSTATUS note(s) for the machine's ${config.cpus} CPU(s)` });
  const info = v.notes.find((n) => n.vmcoreinfo)?.vmcoreinfo;
  const release = info?.OSRELEASE;
  checks.push({ name: 'vmcoreinfo', ok: release === config.osrelease && info?.PAGESIZE === '4096', detail: `OSRELEASE=${release ?? '(missing)'} (machine: ${config.osrelease}), PAGESIZE=${info?.PAGESIZE ?? '(missing)'}` });
  return checks;
}

/**
 * Reads every PT_LOAD's bytes and compares them with the fill pattern at their physical addresses; the
 * ranges in `skip` (the old kernel's note buffers) are not compared.
 */
function checkFillPattern(v: Vmcore, pattern: FillPattern, skip: PhysRange[]): VmcoreCheck {
  const fd = fs.openSync(v.path, 'r');
  const data = Buffer.alloc(CHUNK);
  const want = Buffer.alloc(CHUNK);
  let checked = 0n;
  let badPages = 0;
  let first: bigint | null = null;
  try {
    for (const l of v.loads) {
      for (let off = 0n; off < l.filesz; off += BigInt(CHUNK)) {
        const n = Number(l.filesz - off < BigInt(CHUNK) ? l.filesz - off : BigInt(CHUNK));
        const got = data.subarray(0, n);
        const exp = want.subarray(0, n);
        let have = 0;
        while (have < n) {
          const k = fs.readSync(fd, got, have, n - have, Number(l.offset + off) + have);
          if (k === 0) break;
          have += k;
        }
        if (have < n) got.fill(0, have);
        const addr = l.paddr + off;
        fillPatternBytes(exp, addr, pattern);
        for (const s of skip) {
          const o = intersectRange(s, { start: addr, end: addr + BigInt(n) });
          if (o) got.copy(exp, Number(o.start - addr), Number(o.start - addr), Number(o.end - addr));
        }
        checked += BigInt(n);
        if (got.equals(exp)) continue;
        for (let p = 0; p < n; p += PAGE) {
          const e = Math.min(n, p + PAGE);
          if (got.subarray(p, e).equals(exp.subarray(p, e))) continue;
          badPages++;
          if (first === null) {
            let i = p;
            while (got[i] === exp[i]) i++;
            first = addr + BigInt(i);
          }
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  const name = `fill pattern ${formatFillPattern(pattern)}`;
  if (badPages === 0) return { name, ok: true, detail: `${checked >> 20n} MiB of PT_LOAD data read back as the pattern at their physical addresses (note buffers excepted)` };
  return { name, ok: false, detail: `${badPages} page(s) differ from the pattern; the first difference is at physical ${hex(first!)}` };
}

/** All checks: the file's own, then (with a machine) the comparison, then the pattern when one is known. */
export function checkVmcore(v: Vmcore, config: MachineConfig | null, given: FillPattern | null): { checks: VmcoreCheck[]; fill: string | null } {
  const checks = checkVmcoreFile(v);
  if (config) checks.push(...checkVmcoreAgainstMachine(v, config));
  const { pattern, source } = dumpFillPattern(v, given);
  if (pattern) {
    const skip = noteBuffers(config ? config.cpus : v.notes.filter((n) => n.prstatus).length);
    checks.push(checkFillPattern(v, pattern, skip));
  }
  return { checks, fill: pattern ? `${formatFillPattern(pattern)} (${source})` : null };
}
