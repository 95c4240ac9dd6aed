// The kernel side of a kexec_file_load crash image (arch/x86/kernel/crash.c): the ELF core header segment
// (crash_load_segments/prepare_elf_headers, bottom-up inside crashk_res) and the capture kernel's e820 table
// (crash_setup_memmap_entries).

import { KexecError } from '../../errno.js';
import type { E820Record } from '../../arch/x86/boot-params.js';
import { E820_MAX } from '../../arch/x86/boot-params.js';
import { EM_386, EM_X86_64 } from '../../formats/elf.js';
import { KERNEL_ELF_CORE_HEADER_ALIGN, crashPrepareElf64Headers } from './crash-core.js';
import type { FileKimage } from './file-kimage.js';
import { type Resource, resourceRange, systemRam } from '../machine/iomem.js';
import { runningKernel } from '../machine/running-kernel.js';
import { hex } from '../../lib/hex.js';
import { type PhysRange, intersectRange, rangeLength, subtractRanges, toInclusiveEnd } from '../../lib/range.js';
import { CRASH_NOTES_SIZE, VMCOREINFO_NOTE_SIZE, crashNotesAddr, vmcoreinfoNoteAddr } from '../machine/machine-config.js';

const MiB = 1n << 20n;
const PAGE_OFFSET = 0xffff888000000000n;

/** crash_exclude_mem_range: cut `cut` out of the list; splitting a range needs a free slot (else ENOMEM). */
function crashExcludeMemRange(ranges: PhysRange[], maxRanges: number, cut: PhysRange): PhysRange[] {
  const split = ranges.find((r) => r.start < cut.start && cut.end < r.end);
  if (split && ranges.length >= maxRanges) {
    throw new KexecError('ENOMEM', 'crash_exclude_mem_range', `no free slot to split RAM range [${hex(split.start)}-${hex(toInclusiveEnd(split))}] around [${hex(cut.start)}-${hex(toInclusiveEnd(cut))}]`);
  }
  return subtractRanges(ranges, [cut]);
}

/** prepare_elf_headers: RAM minus the low 1 MiB and the crash regions, as ELF64 (ELF32 on i386). */
function prepareElfHeaders(image: FileKimage): Uint8Array {
  const { buf, phdrs } = prepareElfHeadersPhdrs(image);
  // crash_prepare_elf64_headers: one line per RAM PT_LOAD, e_phnum counting the headers so far. pr_debug in
  // kernel/kexec_file.c on 6.1; kexec_dprintk in kernel/crash_core.c on 6.12.
  const prefix = image.rules.logStyle === 'pr_debug' ? 'kexec_file' : 'crash_core';
  const firstRam = phdrs.length - (image.lastRamRanges ?? 0);
  phdrs.forEach((ph, i) => {
    if (i < firstRam) return;
    image.dprintk(`Crash PT_LOAD ELF header. phdr=(____ptrval____) vaddr=${hex(ph.vaddr)}, paddr=${hex(ph.paddr)}, sz=${hex(ph.memsz)} e_phnum=${i + 1} p_offset=${hex(ph.offset)}`, prefix);
  });
  return buf;
}

function prepareElfHeadersPhdrs(image: FileKimage): ReturnType<typeof crashPrepareElf64Headers> {
  let ram = systemRam(image.iomem).map(resourceRange);
  const max = ram.length + 2; // get_nr_ram_ranges_callback's count plus the slots for exclusions
  const crashk = [image.crashk, image.crashkLow].filter((r): r is Resource => r !== undefined).map(resourceRange);
  for (const cut of [{ start: 0n, end: MiB }, ...crashk]) ram = crashExcludeMemRange(ram, max, cut);
  const x64 = image.config.arch === 'x86_64';
  // need_kernel_map: [_text, _end), .brk included (Debian 6.1 and 6.12 in QEMU: _end - _text is "Kernel bss"'s
  // end - _text + 0x30000, the size the real panics' /proc/vmcore shows).
  const k = x64 ? runningKernel({ ...image.config, iomem: [...image.iomem] }) : null;
  const kernelText = k ? { vaddr: k.text, paddr: k.textPhys, size: k.end - k.text } : null;
  const notes = Array.from({ length: image.config.cpus }, (_, cpu) => crashNotesAddr(cpu));
  image.lastRamRanges = ram.length;
  return crashPrepareElf64Headers({
    machine: x64 ? EM_X86_64 : EM_386,
    notes,
    noteSize: CRASH_NOTES_SIZE,
    vmcoreinfo: { addr: vmcoreinfoNoteAddr(), size: VMCOREINFO_NOTE_SIZE },
    kernelText,
    ranges: ram,
    pageOffset: x64 ? PAGE_OFFSET : 0xc0000000n,
  });
}

/** crash_load_segments: the header segment placed bottom-up in crashk_res; returns image->elf_load_addr. */
export function crashLoadSegments(image: FileKimage): bigint {
  const buf = prepareElfHeaders(image);
  // 6.12 (CONFIG_CRASH_HOTPLUG with MEMORY_HOTPLUG): room for 2 + NR_CPUS_DEFAULT + CRASH_MAX_MEMORY_RANGES
  // program headers, and elf_headers_sz is that unrounded size; 6.1: the headers' own (page-aligned) size.
  const hp = image.rules.hotplugPhdrs;
  const memsz = hp !== null && BigInt(64 + 56 * hp) > BigInt(buf.length) ? BigInt(64 + 56 * hp) : BigInt(buf.length);
  const mem = image.addBuffer({
    buffer: { kind: 'bytes', data: buf },
    memsz,
    bufAlign: KERNEL_ELF_CORE_HEADER_ALIGN,
    bufMin: 0n,
    bufMax: (1n << 64n) - 1n,
    topDown: false,
    what: 'ELF core header',
  });
  const seg = image.segments[image.segments.length - 1]!;
  // arch/x86/kernel/crash.c (pr_fmt "kexec"): kbuf.memsz after kexec_add_buffer rounded it.
  image.dprintk(`Loaded ELF headers at ${hex(mem)} bufsz=${hex(seg.bufsz)} memsz=${hex(seg.memsz)}`, 'kexec');
  image.facts.elfcorehdr = hex(mem);
  image.elfHeaders = { addr: mem, size: memsz };
  return mem;
}

/**
 * crash_setup_memmap_entries: the low 1 MiB of RAM, ACPI tables, ACPI NVS, reserved ranges, crashk_low_res,
 * then crashk_res minus the ELF header segment (pieces under a page skipped); silently capped at 128.
 */
export function crashSetupMemmapEntries(image: FileKimage): E820Record[] {
  const out: E820Record[] = [];
  const add = (r: PhysRange, type: number) => {
    if (out.length < E820_MAX) out.push({ addr: r.start, size: rangeLength(r), type });
  };
  for (const r of systemRam(image.iomem)) {
    const low = intersectRange(resourceRange(r), { start: 0n, end: MiB });
    if (low) add(low, 1);
  }
  for (const [name, type] of [['ACPI Tables', 3], ['ACPI Non-volatile Storage', 4], ['Reserved', 2]] as const) {
    for (const r of image.iomem) if (r.name === name) add(resourceRange(r), type);
  }
  if (image.crashkLow) add(resourceRange(image.crashkLow), 1);
  if (image.crashk) {
    const elf = image.elfHeaders ? [{ start: image.elfHeaders.addr, end: image.elfHeaders.addr + image.elfHeaders.size }] : [];
    for (const p of subtractRanges([resourceRange(image.crashk)], elf)) if (rangeLength(p) >= 4096n) add(p, 1);
  }
  return out;
}
