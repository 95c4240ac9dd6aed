// get_kernel_vaddr_and_size and get_kernel_sym (kexec-tools kexec/arch/i386/crashdump-x86.c, kexec/symbols.c):
// the running x86_64 kernel's text mapping, found in /proc/kcore's program headers by _stext's address from
// /proc/kallsyms (or, without it, by the hard-coded kernel mapping bounds).

import { PT_LOAD } from '../../../formats/elf.js';
import { readElfCoreHeader } from '../../../formats/elf-core.js';
import { alignDown, alignUp } from '../../../lib/align.js';
import { hex } from '../../../lib/hex.js';
import type { Debug } from '../../debug.js';
import { LoadFailed } from '../../file-type.js';
import type { SystemFiles } from '../../memory-ranges.js';

const X86_64__START_KERNEL_map = 0xffffffff80000000n;
/** X86_64_KERNEL_TEXT_SIZE: 512 MiB of kernel mapping. */
const X86_64_KERNEL_TEXT_SIZE = 512n << 20n;
const X86_64_KERN_VADDR_ALIGN = 0x100000n;
const PAGE = 4096n;

/** get_kernel_sym: the first "%llx %c %s" line of /proc/kallsyms naming the symbol, else 0. */
export function getKernelSym(files: SystemFiles, symbol: string, debug: Debug): bigint {
  const text = files('/proc/kallsyms');
  if (text === null) return 0n; // kexec-tools prints "Cannot open /proc/kallsyms" to stderr and returns 0
  for (const line of text.split('\n')) {
    const m = /^\s*([0-9a-fA-F]+)\s+(\S)\s+(\S+)/.exec(line);
    if (m && m[3] === symbol) {
      debug.print(`kernel symbol ${symbol} vaddr = ${BigInt('0x' + m[1]).toString(16).padStart(16, ' ')}`);
      return BigInt('0x' + m[1]);
    }
  }
  debug.print(`Cannot get kernel ${symbol} symbol address`);
  return 0n;
}

/** get_kernel_vaddr_and_size (x86_64): the kcore PT_LOAD holding _stext, start rounded down to 1 MiB, size up to a page. */
export function getKernelVaddrAndSize(files: SystemFiles, debug: Debug): { vaddr: bigint; size: bigint } {
  const kcore = files('/proc/kcore');
  if (kcore === null) throw new LoadFailed('Cannot read /proc/kcore: No such file or directory', "the machine has no /proc/kcore view; its state is damaged");
  let phdrs;
  try {
    phdrs = readElfCoreHeader(Buffer.from(kcore, 'latin1')).phdrs.filter((p) => p.type === PT_LOAD);
  } catch {
    throw new LoadFailed('ELF core (kcore) parse failed', "the machine's /proc/kcore headers are damaged");
  }
  const found = (saddr: bigint, eaddr: bigint) => {
    const vaddr = alignDown(saddr, X86_64_KERN_VADDR_ALIGN);
    const size = alignUp(eaddr - vaddr, PAGE);
    debug.print(`kernel vaddr = ${hex(vaddr)} size = ${hex(size)}`);
    return { vaddr, size };
  };
  const stext = getKernelSym(files, '_stext', debug);
  for (const p of stext ? phdrs : []) if (p.vaddr <= stext && p.vaddr + p.memsz > stext) return found(p.vaddr, p.vaddr + p.memsz);
  for (const p of phdrs) {
    if (p.vaddr >= X86_64__START_KERNEL_map && p.vaddr + p.memsz <= X86_64__START_KERNEL_map + X86_64_KERNEL_TEXT_SIZE) return found(p.vaddr, p.vaddr + p.memsz);
  }
  throw new LoadFailed("Can't find kernel text map area from kcore", "the machine's /proc/kcore has no kernel-text mapping");
}
