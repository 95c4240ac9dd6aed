// The post-mortem of a run that did not reach its marker: where the CPU was (RIP placed in a segment of the
// loaded image and, with --system-map, in a kernel symbol), the last console lines, and a diagnosis with its
// fix. The segments are named from the kimage record: the purgatory holds the image's entry (kimage->start),
// boot_params is the small segment whose bytes hold "HdrS" at 0x202, the initrd the segment as long as the
// --initrd file, the kernel the largest of the rest.

import * as fs from 'node:fs';
import { hex } from '../lib/hex.js';
import { parseElf, SHT_SYMTAB } from '../formats/elf.js';
import { UsageError } from '../errno.js';
import { readPurgatoryObject } from '../arch/x86/kexec-load-purgatory.js';
import { layoutPurgatory, type PurgatoryArch } from '../arch/x86/kexec-purgatory-setup.js';
import type { Kimage } from '../vm/machine/kimage.js';
import { blobPath } from '../vm/machine/store.js';
import type { CpuState } from '../vm/engines/cpu-state.js';
import type { Outcome } from '../vm/engines/engine.js';

export type SegmentName = 'purgatory' | 'kernel' | 'initrd' | 'boot_params' | 'other' | 'none';

export interface Placement {
  segment: SegmentName;
  /** Index in the kimage's segment list (absent for 'none' and virtual kernel addresses). */
  index?: number;
  offset?: string;
  /** "kernel text", "kernel decompressor", or a System.map symbol+offset. */
  where?: string;
}

export interface PostMortem {
  cpu?: CpuState;
  placement?: Placement;
  lastConsoleLines: string[];
  diagnosis: string;
  fix: string;
}

/** x86-64 __START_KERNEL_map: the kernel's text mapping (arch/x86/include/asm/page_64_types.h). */
const START_KERNEL_MAP = 0xffffffff80000000n;
const I386_PAGE_OFFSET = 0xc0000000n;
const BOOT_PARAMS_MAX = 0x10000n;

function hasHdrS(dir: string, blob: string | null): boolean {
  if (!blob) return false;
  try {
    const fd = fs.openSync(blobPath(dir, blob), 'r');
    try {
      const b = Buffer.alloc(4);
      return fs.readSync(fd, b, 0, 4, 0x202) === 4 && b.toString('latin1') === 'HdrS';
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false;
  }
}

/** The name of each segment of the image (see the header comment for the rules). */
export function nameSegments(dir: string, image: Kimage): SegmentName[] {
  const names: SegmentName[] = image.segments.map(() => 'other');
  const inside = (i: number, a: bigint) => a >= image.segments[i]!.mem && a < image.segments[i]!.mem + image.segments[i]!.memsz;
  const purg = image.info.purgatorySegment ?? image.segments.findIndex((_, i) => inside(i, image.start));
  if (purg >= 0) names[purg] = 'purgatory';
  let initrdSize = -1;
  try {
    if (image.info.initrd) initrdSize = fs.statSync(image.info.initrd).size;
  } catch {
    // the file has gone since the load: no initrd by size
  }
  image.segments.forEach((s, i) => {
    if (names[i] !== 'other') return;
    if (s.bufsz === initrdSize) names[i] = 'initrd';
    else if (s.memsz <= BOOT_PARAMS_MAX && hasHdrS(dir, s.blob)) names[i] = 'boot_params';
  });
  let kernel = -1;
  image.segments.forEach((s, i) => {
    if (names[i] === 'other' && (kernel < 0 || s.memsz > image.segments[kernel]!.memsz)) kernel = i;
  });
  if (kernel >= 0) names[kernel] = 'kernel';
  return names;
}

export interface KernelSymbol {
  at: bigint;
  name: string;
}

/**
 * The kernel's text symbols from --system-map FILE: a System.map ("ffffffff81000000 T _text") or a vmlinux with
 * a symbol table (Debian's linux-image-*-dbg ships one).
 */
export function loadKernelSymbols(file: string): KernelSymbol[] {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new UsageError(`--system-map ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`, { hint: 'give the kernel\'s System.map or a vmlinux with symbols' });
  }
  let out: KernelSymbol[];
  if (bytes.subarray(0, 4).toString('latin1') === '\x7fELF') {
    // STT_FUNC (2) and STT_NOTYPE (0) symbols with an address: the text symbols System.map lists as t/T.
    out = parseElf(bytes).symbols().filter((x) => (x.type === 2 || x.type === 0) && x.value !== 0n && x.name !== '').map((x) => ({ at: x.value, name: x.name }));
  } else {
    out = [];
    for (const line of bytes.toString('latin1').split('\n')) {
      const m = /^([0-9a-fA-F]{8,16})\s+[tTwW]\s+(\S+)/.exec(line);
      if (m) out.push({ at: BigInt(`0x${m[1]}`), name: m[2]! });
    }
  }
  if (out.length > 0) return out;
  const placeholder = isSystemMapPlaceholder(bytes);
  throw new UsageError(`--system-map ${file}: no text symbols (System.map "ADDRESS t|T NAME" lines, or an ELF symbol table)${placeholder ? ': it is the placeholder Debian ships in linux-image-*; the real System.map is in linux-image-*-dbg' : ''}`, {
    hint: placeholder ? 'give /usr/lib/debug/boot/System.map-VERSION (or the vmlinux) from linux-image-VERSION-dbg, or a copy of /proc/kallsyms taken with nokaslr' : 'give the kernel\'s System.map or a vmlinux with symbols',
  });
}

/**
 * The purgatory's own symbols as offsets into its segment: vkexec's purgatory object laid out as both load paths
 * lay it out (kexec_purgatory_setup_sechdrs order, layoutPurgatory), each symbol at its section's offset plus
 * st_value. Functions and assembler labels (STT_FUNC, STT_NOTYPE) of the SHF_ALLOC sections.
 */
export function purgatorySymbols(arch: PurgatoryArch): KernelSymbol[] {
  const layout = layoutPurgatory(readPurgatoryObject(arch));
  const offset = new Map(layout.sections.map((sec) => [sec.index, BigInt(sec.offset)]));
  const out: KernelSymbol[] = [];
  for (const table of layout.elf.sections.filter((sec) => sec.type === SHT_SYMTAB)) {
    for (const sym of layout.elf.symbols(table)) {
      const base = offset.get(sym.shndx);
      if (base === undefined || sym.name === '' || (sym.type !== 2 && sym.type !== 0)) continue;
      out.push({ at: base + sym.value, name: sym.name });
    }
  }
  return out;
}

/** Nearest symbol at or below `addr`, as name+0xoff (null past 1 MiB from any: not the kernel's text). */
export function symbolFor(symbols: readonly KernelSymbol[], addr: bigint): string | null {
  let best: KernelSymbol | null = null;
  for (const s of symbols) if (s.at <= addr && (!best || s.at > best.at)) best = s;
  if (!best || addr - best.at > 0x100000n) return null;
  return `${best.name}+${hex(addr - best.at)}`;
}

/** RIP placed in a segment of the image, or in the kernel's virtual text mapping. */
export function placeAddress(dir: string, image: Kimage, cpu: CpuState, symbols: readonly KernelSymbol[] | null, arch: PurgatoryArch): Placement {
  const rip = BigInt(cpu.rip);
  // Kernel virtual addresses: x86-64 __START_KERNEL_map; i386 PAGE_OFFSET 0xc0000000 with paging on.
  const paged32 = cpu.mode !== 'long64' && (BigInt(cpu.cr0) & 0x80000000n) !== 0n && rip >= I386_PAGE_OFFSET;
  if (rip >= START_KERNEL_MAP || paged32) {
    const sym = symbols ? symbolFor(symbols, rip) : null;
    return { segment: 'kernel', where: sym ?? 'kernel text (virtual address; give --system-map FILE for the symbol)' };
  }
  const names = nameSegments(dir, image);
  const i = image.segments.findIndex((s) => rip >= s.mem && rip < s.mem + s.memsz);
  // Off the hand-off's page tables the new kernel runs: outside the segments it is the decompressed kernel.
  if (i < 0 && cpu.handoffPaging === false) return { segment: 'kernel', where: 'decompressed kernel, outside the loaded segments (physical address)' };
  if (i < 0) return { segment: 'none' };
  const name = names[i]!;
  const p: Placement = { segment: name, index: i, offset: hex(rip - image.segments[i]!.mem) };
  if (name === 'kernel') p.where = 'kernel decompressor or early start-up (physical address)';
  if (name === 'purgatory') {
    const sym = symbolFor(purgatorySymbols(arch), rip - image.segments[i]!.mem);
    if (sym) p.where = sym;
  }
  return p;
}

/** "in purgatory segment[1] +0x123", "in kernel (symbol)", or "outside every segment of the loaded image". */
function describePlacement(p: Placement): string {
  if (p.segment === 'none') return 'outside every segment of the loaded image';
  const at = p.index === undefined ? '' : ` segment[${p.index}] +${p.offset}`;
  return `in ${p.segment}${at}${p.where ? ` (${p.where})` : ''}`;
}

/** The diagnosis and its fix, from the outcome, the placement and the console. */
function diagnose(o: Outcome, p: Placement | undefined): { diagnosis: string; fix: string } {
  const where = p ? ` ${describePlacement(p)}` : '';
  if (o.status === 'purgatory-mismatch') {
    return { diagnosis: `the purgatory stopped in its digest loop${where}: a segment changed after the load (sha256 mismatch)`, fix: 'load the image again: vkexec -u, then vkexec -l ...' };
  }
  if (o.status === 'panic') {
    const seen = [...o.details, ...(o.consoleTail ?? '').split('\n')];
    const first = seen.map((l) => /Kernel panic - not syncing.*/.exec(l)?.[0]).find((l) => l !== undefined) ?? 'Kernel panic';
    const initGone = /Attempted to kill init/.test(first);
    return {
      diagnosis: `the kernel panicked: ${first.trim()}`,
      fix: initGone ? 'init exited: check the initramfs /init (it must not return)' : /Unable to mount root/.test(first) ? 'give an --initrd, or a root= the machine has' : 'read the panic message and the lines before it',
    };
  }
  if (o.consoleTail === undefined || o.consoleTail.trim() === '') {
    if (p?.segment === 'purgatory') return { diagnosis: `the CPU stayed in the purgatory${where}: the kernel was never entered`, fix: 'check the entry point and the purgatory (vkexec -d -l shows the layout; --engine verify checks the hand-off)' };
    if (o.cpu?.handoffPaging !== false && (p?.segment === 'none' || p?.segment === 'boot_params' || p?.segment === 'initrd')) {
      return { diagnosis: `the CPU ran${where}: the hand-off jumped to a wrong place (entry point or boot_params)`, fix: 'check --entry and the loaded layout (vkexec -d -l), or run --engine verify to check the hand-off' };
    }
    return { diagnosis: `the kernel never wrote to the console${where}`, fix: 'add console=ttyS0 earlyprintk=serial,ttyS0,115200 to --append to see how far it gets' };
  }
  if (o.status === 'triple-fault') return { diagnosis: `triple fault${where}`, fix: 'the CPU faulted with no usable IDT: boot with earlyprintk=serial,ttyS0,115200 and check the entry state (-d)' };
  if (o.status === 'poweroff' || o.status === 'reboot' || o.status === 'halt') {
    return { diagnosis: `the guest ended (${o.status}) before the marker: init finished without printing it`, fix: 'make init print the --expect marker before it powers off, or fix the pattern' };
  }
  if (o.cpu?.halted) return { diagnosis: `the kernel is idle (HLT)${where}: it is waiting, init may have ended or be blocked`, fix: 'see the last console lines; raise --timeout only if the boot was still progressing' };
  return { diagnosis: `no marker within the time${where}`, fix: 'raise --timeout if the console was still progressing, else see where it stopped' };
}

/** The post-mortem; `arch` is the machine's (it says which purgatory object was loaded). */
export function postMortem(dir: string, image: Kimage, o: Outcome, symbols: readonly KernelSymbol[] | null, arch: PurgatoryArch): PostMortem {
  const lines = (o.consoleTail ?? '').split('\n').filter((l) => l.trim() !== '').slice(-12);
  const placement = o.cpu ? placeAddress(dir, image, o.cpu, symbols, arch) : undefined;
  const { diagnosis, fix } = diagnose(o, placement);
  return { ...(o.cpu ? { cpu: o.cpu } : {}), ...(placement ? { placement } : {}), lastConsoleLines: lines, diagnosis, fix };
}

export { describePlacement };

/** Debian's linux-image packages ship a one-line placeholder /boot/System.map-* that points to the -dbg package. */
export function isSystemMapPlaceholder(bytes: Uint8Array): boolean {
  return /System\.map is in the .*-dbg package/.test(Buffer.from(bytes.subarray(0, 4096)).toString('latin1'));
}
