// vkexec's fast path for a bzImage64 on the kexec_load path (`-l --fast`): the compressed payload is
// decompressed here, on the host, and the vmlinux ELF inside it is loaded and entered at startup_64, so the
// guest never runs the bzImage's own decompressor (seconds under TCG). boot_params is built as the bzImage64
// loader builds it (setup header copied from the bzImage), and the purgatory hands over as for a bzImage64.
//
// What the decompressor would have done and this path does not (documented in the man page, --fast):
// - KASLR: arch/x86/boot/compressed/kaslr.c picks a random physical and virtual base; here the kernel runs at
//   its link-time virtual address and the lowest aligned physical place at or above its p_paddr, every time.
// - Relocations: the payload's vmlinux.relocs table is only applied by misc.c handle_relocations when the
//   virtual base moves (x86_64: "64-bit relocations are only needed if KASLR has chosen a different starting
//   address offset"); a physical move alone is absorbed by phys_base in head64.c __startup_64, which needs the
//   move to be a multiple of 2 MiB. So the table is left unused.
// - 5-level paging: the decompressor switches to it when the CPU has LA57; the kernel then keeps the 4-level
//   paging the purgatory's hand-off implies (head64.c check_la57_support reads CR4.LA57).
// - acpi_rsdp_addr: extract_kernel stores the RSDP it finds; the kernel searches the BIOS area itself when 0.

import { DecompressError } from '../../formats/compress.js';
import { extractPayload, PayloadError, type PayloadStore } from '../../formats/bzimage-payload.js';
import { ElfFormatError, type ElfFile, type ElfProgramHeader, EM_X86_64, ET_EXEC, PT_LOAD, parseElf } from '../../formats/elf.js';
import { SetupHeader } from '../../formats/setup-header.js';
import { hex } from '../../lib/hex.js';
import { type KexecInfo, ULONG_MAX } from '../../kexec/kexec-info.js';
import { type LoadRequest, type LoadedLayout, LoadFailed } from '../../kexec/file-type.js';
import { bzImage64FinishSetup, bzImage64LoadSetup } from './bzimage64-setup.js';
import { cacheGet, cachePut, payloadKey } from './payload-cache.js';
import { payloadDecoder } from './payload-decoder.js';

/** head64.c __startup_64: the physical load delta must be PMD-aligned (it halts otherwise). */
const PMD_SIZE = 0x200000n;

/** The vmlinux inside a bzImage64, with the placement facts the loader needs. */
export interface FastKernel {
  elf: ElfFile;
  /** PT_LOAD headers in file order. */
  loads: ElfProgramHeader[];
  /** Lowest p_paddr (LOAD_PHYSICAL_ADDR for Linux) and end of the highest p_paddr + p_memsz. */
  physStart: bigint;
  physEnd: bigint;
  /** Physical address of startup_64 when the image sits at physStart. */
  entry: bigint;
  /** Compression of the payload, for reports. */
  format: string;
  /** Whether the decoded payload came from the payload cache (payload-cache.ts). */
  cached: boolean;
  /** Who decoded it ('the payload cache', a tool's command line, 'vkexec') and why a tool was not used. */
  decodedBy: string;
  fallback?: string;
}

/** The user's payload cache, keyed by the compressed payload's sha256 (hashed once a load). */
const keys = new WeakMap<Uint8Array, string>();
const keyOf = (c: Uint8Array): string => keys.get(c) ?? keys.set(c, payloadKey(c)).get(c)!;
const PAYLOAD_CACHE: PayloadStore = {
  get: (compressed, size) => cacheGet(keyOf(compressed), size),
  put: (compressed, vmlinux) => void cachePut(keyOf(compressed), vmlinux),
};

/** Decompresses the payload of a bzImage64 and checks that it is an x86_64 vmlinux the fast path can enter. */
export function readFastKernel(kernel: Uint8Array, kernelPath: string): FastKernel {
  let payload: ReturnType<typeof extractPayload>;
  try {
    payload = extractPayload(kernel, { store: PAYLOAD_CACHE, decoder: payloadDecoder() });
  } catch (e) {
    if (e instanceof PayloadError || e instanceof DecompressError) {
      throw new LoadFailed(`--fast: cannot unpack the kernel payload of ${kernelPath}: ${e.message}`, 'load it without --fast (the kernel then decompresses itself)');
    }
    throw e;
  }
  let elf: ElfFile;
  try {
    elf = parseElf(payload.vmlinux);
  } catch (e) {
    if (e instanceof ElfFormatError) throw new LoadFailed(`--fast: the payload of ${kernelPath} is not a readable ELF vmlinux: ${e.message}`, 'load it without --fast');
    throw e;
  }
  if (elf.header.machine !== EM_X86_64 || elf.header.type !== ET_EXEC) {
    throw new LoadFailed(`--fast: the payload of ${kernelPath} is not an x86_64 ET_EXEC vmlinux (e_machine ${elf.header.machine}, e_type ${elf.header.type})`, 'load it without --fast');
  }
  const loads = elf.programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0n);
  if (loads.length === 0) throw new LoadFailed(`--fast: the vmlinux in ${kernelPath} has no PT_LOAD segment`, 'load it without --fast');
  let physStart = loads[0]!.paddr;
  let physEnd = 0n;
  for (const p of loads) {
    if (p.paddr % 4096n !== 0n) throw new LoadFailed(`--fast: vmlinux segment at p_paddr ${hex(p.paddr)} is not page aligned`, 'load it without --fast');
    if (p.paddr < physStart) physStart = p.paddr;
    if (p.paddr + p.memsz > physEnd) physEnd = p.paddr + p.memsz;
  }
  // vmlinux.lds.S: ENTRY(phys_startup_64), a physical address; a virtual e_entry is translated through its segment.
  const e = elf.header.entry;
  const inPhys = loads.find((p) => e >= p.paddr && e < p.paddr + p.memsz);
  const inVirt = loads.find((p) => e >= p.vaddr && e < p.vaddr + p.memsz);
  const entry = inPhys ? e : inVirt ? inVirt.paddr + (e - inVirt.vaddr) : null;
  if (entry === null) throw new LoadFailed(`--fast: the vmlinux entry ${hex(e)} lies in none of its PT_LOAD segments`, 'load it without --fast');
  const { format, fromStore: cached, decodedBy, fallback } = payload;
  return { elf, loads, physStart, physEnd, entry, format, cached, decodedBy, fallback };
}

/** A segment's file bytes without their trailing zeros: kexec zero-fills memsz past bufsz (the .bss tail). */
function trimmedData(elf: ElfFile, p: ElfProgramHeader): Uint8Array {
  const data = elf.segmentData(p).subarray(0, Number(p.filesz < p.memsz ? p.filesz : p.memsz));
  let n = data.length;
  while (n > 0 && data[n - 1] === 0) n--;
  return data.subarray(0, n);
}

/** bzImage64 --fast: purgatory, setup segment as do_bzImage64_load, the vmlinux's PT_LOADs, initrd. */
export function loadBzImage64Fast(req: LoadRequest, info: KexecInfo): LoadedLayout {
  const s = bzImage64LoadSetup(req, info);
  const vm = readFastKernel(req.kernel, req.kernelPath);
  const fellBack = vm.fallback ? ` (${vm.fallback})` : '';
  if (!vm.cached) info.debug.print(`--fast: ${vm.format} payload unpacked by ${vm.decodedBy === 'vkexec' ? 'vkexec\'s own decoder' : vm.decodedBy}${fellBack}`);
  info.debug.print(`--fast: ${vm.format} payload ${vm.cached ? 'from the payload cache' : 'unpacked'}: vmlinux [${hex(vm.physStart)}, ${hex(vm.physEnd)}) entry ${hex(vm.entry)}`);

  // The lowest place at or above the link address (the link address itself unless something is there, or the
  // crash region for -p), aligned so that the move is one phys_base can absorb.
  const kernelAlign = BigInt(new SetupHeader(s.realMode).num('kernel_alignment'));
  const align = kernelAlign > PMD_SIZE ? kernelAlign : PMD_SIZE;
  if (vm.physStart % align !== 0n) {
    throw new LoadFailed(`--fast: the vmlinux's lowest p_paddr ${hex(vm.physStart)} is not a multiple of its ${hex(align)} alignment`, 'load it without --fast');
  }
  info.sortSegments();
  const span = (vm.physEnd - vm.physStart + 4095n) & ~4095n;
  const base = info.locateHole(span, align, vm.physStart, ULONG_MAX, 1);
  for (const seg of vm.loads) {
    info.addSegment({ kind: 'bytes', data: trimmedData(vm.elf, seg) }, base + (seg.paddr - vm.physStart), seg.memsz);
  }
  const entry = base + (vm.entry - vm.physStart);
  info.debug.print(`Loaded vmlinux at ${hex(base)} (phys_base ${hex(base - vm.physStart)}), startup_64 at ${hex(entry)}`);

  return bzImage64FinishSetup(req, info, s, base, entry);
}
