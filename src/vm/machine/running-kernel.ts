// The machine's running kernel as userspace sees it: its image ([_text, _end), .brk included) where the
// "Kernel code" ... "Kernel bss" resources of /proc/iomem put it, its symbols in /proc/kallsyms and the
// program headers of /proc/kcore (fs/proc/kcore.c: a PT_NOTE, the kernel-text mapping at __START_KERNEL_map,
// the direct map of each System RAM range at PAGE_OFFSET). kexec-tools' crash path reads the last two
// (get_kernel_vaddr_and_size, get_kernel_sym), so they are kept consistent with /proc/iomem here.

import { BOOT_PARAMS_SIZE, type E820Record, setBp, writeE820 } from '../../arch/x86/boot-params.js';
import { EM_386, EM_X86_64, PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE } from '../../formats/elf.js';
import { writeElfCoreHeader } from '../../formats/elf-core.js';
import { hexPad } from '../../lib/hex.js';
import { findResource, resourceRange } from './iomem.js';
import type { MachineConfig } from './machine-config.js';

/** arch/x86/include/asm/page_64_types.h (no KASLR): where x86_64 maps the kernel image and all RAM. */
export const X86_64_START_KERNEL_MAP = 0xffffffff80000000n;
export const X86_64_PAGE_OFFSET = 0xffff888000000000n;
/** i386 (3G/1G split): PAGE_OFFSET, the kernel image is inside the linear map. */
export const I386_PAGE_OFFSET = 0xc0000000n;
/** The .brk area after "Kernel bss" (Debian's 6.1 amd64 kernel: _end - _text = 0x3430000 with 0x30000 of brk). */
export const KERNEL_BRK_SIZE = 0x30000n;
/** include/uapi/linux/elf.h */
const NT_PRPSINFO = 3;
/** _stext: .text starts after .head.text (one page on Debian's 6.1 kernel). */
const HEAD_TEXT_SIZE = 0x1000n;

export interface RunningKernel {
  /** Physical address of _text ("Kernel code" start). */
  textPhys: bigint;
  /** Virtual addresses of _text, _stext and _end. */
  text: bigint;
  stext: bigint;
  end: bigint;
}

/** The running kernel's image, or null when the machine's /proc/iomem shows none. */
export function runningKernel(config: MachineConfig): RunningKernel | null {
  const code = findResource(config.iomem, 'Kernel code');
  const bss = findResource(config.iomem, 'Kernel bss');
  if (!code || !bss) return null;
  const base = config.arch === 'x86_64' ? X86_64_START_KERNEL_MAP : I386_PAGE_OFFSET;
  const text = base + code.start;
  return { textPhys: code.start, text, stext: text + HEAD_TEXT_SIZE, end: text + (resourceRange(bss).end - code.start) + KERNEL_BRK_SIZE };
}

/** /proc/kallsyms lines for the symbols userspace looks up ("%lx %c %s", no module column). */
export function kallsymsView(config: MachineConfig): string {
  const k = runningKernel(config);
  if (!k) return '';
  const w = config.arch === 'x86_64' ? 16 : 8;
  return [`${hexPad(k.text, w)} T _text`, `${hexPad(k.stext, w)} T _stext`, `${hexPad(k.end, w)} B _end`].join('\n') + '\n';
}

/**
 * The headers at the start of /proc/kcore (read_kcore's ELF header + phdrs; the file's data is not modelled),
 * as a latin1 string like the other views. Offsets follow kcore's layout loosely (data after the headers).
 */
export function kcoreView(config: MachineConfig): string {
  const k = runningKernel(config);
  const x64 = config.arch === 'x86_64';
  const pageOffset = x64 ? X86_64_PAGE_OFFSET : I386_PAGE_OFFSET;
  // One note, as the first of kcore's: "CORE" NT_PRPSINFO with a zeroed struct elf_prpsinfo (136 bytes on
  // x86_64, 124 on i386), right after the headers.
  const note = new Uint8Array(12 + 8 + (x64 ? 136 : 124));
  const dv = new DataView(note.buffer);
  dv.setUint32(0, 5, true);
  dv.setUint32(4, note.length - 20, true);
  dv.setUint32(8, NT_PRPSINFO, true);
  note.set([0x43, 0x4f, 0x52, 0x45], 12);
  const nLoads = (k && x64 ? 1 : 0) + config.iomem.filter((r) => r.name === 'System RAM').length;
  const headerSize = BigInt(x64 ? 64 + 56 * (1 + nLoads) : 52 + 32 * (1 + nLoads));
  const phdrs = [{ type: PT_NOTE, flags: 0, offset: headerSize, vaddr: 0n, paddr: 0n, filesz: BigInt(note.length), memsz: 0n, align: 4n }];
  let offset = 0x1000n;
  const load = (vaddr: bigint, paddr: bigint, size: bigint) => {
    phdrs.push({ type: PT_LOAD, flags: PF_R | PF_W | PF_X, offset, vaddr, paddr, filesz: size, memsz: size, align: 0x1000n });
    offset += size;
  };
  if (k && x64) load(k.text, k.textPhys, k.end - k.text);
  for (const r of config.iomem) if (r.name === 'System RAM') load(pageOffset + r.start, r.start, resourceRange(r).end - r.start);
  const headers = writeElfCoreHeader(x64 ? 64 : 32, x64 ? EM_X86_64 : EM_386, phdrs, 1n);
  return Buffer.concat([headers, note]).toString('latin1');
}

/** /proc/mounts: the mounts kexec-tools looks through (find_mnt_by_type): sysfs on /sys, proc on /proc. */
export const MOUNTS_VIEW = 'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n';

/**
 * /sys/kernel/boot_params/data: the boot_params the running kernel was started with (4096 bytes, latin1):
 * a VGA text screen_info (mode 3, 80x25, 16-point font), ext_mem_k/alt_mem_k and the e820 table from the
 * firmware map as a BIOS reports them, and acpi_rsdp_addr (the decompressor's find; 0 when the machine has
 * no ACPI tables, as the default machine).
 */
export function bootParamsView(config: MachineConfig, firmware: readonly E820Record[]): string {
  const bp = new Uint8Array(BOOT_PARAMS_SIZE);
  setBp(bp, 'orig_video_mode', 3);
  setBp(bp, 'orig_video_cols', 80);
  setBp(bp, 'orig_video_lines', 25);
  setBp(bp, 'orig_video_isVGA', 1);
  setBp(bp, 'orig_video_points', 16);
  const low = firmware.find((e) => e.type === 1 && e.addr <= 0x100000n && e.addr + e.size - 1n > 0x100000n);
  if (low) {
    const memK = ((low.addr + low.size - 1n) >> 10n) - 1024n;
    setBp(bp, 'ext_mem_k', memK > 0xfc00n ? 0xfc00 : Number(memK));
    setBp(bp, 'alt_mem_k', memK > 0xffffffffn ? 0xffffffff : Number(memK));
  }
  writeE820(bp, firmware);
  setBp(bp, 'acpi_rsdp_addr', config.acpiRsdp ?? 0n);
  return Buffer.from(bp).toString('latin1');
}
