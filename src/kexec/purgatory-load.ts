// elf_rel_build_load and update_purgatory (kexec-tools kexec/kexec-elf-rel.c, kexec/kexec.c): the purgatory
// placed as a segment, relocated to its address, patched with the sha256 regions and digest of every other
// segment (each zero-filled to memsz), or told to skip the check (-i).

import { relocatePurgatory } from '../arch/x86/kexec-apply-relocations.js';
import { readPurgatoryObject } from '../arch/x86/kexec-load-purgatory.js';
import { layoutPurgatory } from '../arch/x86/kexec-purgatory-setup.js';
import type { RelocatedPurgatory } from '../arch/x86/kexec-purgatory-symbol.js';
import { setBackup, setConsole, setShaRegions, setSkipChecks, type Sha256Region } from '../arch/x86/purgatory-symbols.js';
import type { MachineArch } from '../vm/machine/machine-config.js';
import { segmentsSha256 } from '../vm/machine/store.js';
import { type HoleEnd, type KexecInfo, ULONG_MAX } from './kexec-info.js';

/**
 * kexec-tools' purgatory footprint: the segment its own purgatory object makes, so that everything placed
 * after it lands where kexec-tools puts it. elf_rel_load (kexec/kexec-elf-rel.c) calls add_buffer with the
 * unpadded data size as bufsz and data + bss as memsz (page-rounded by add_buffer), aligned to the largest
 * section alignment. x86_64: kexec-tools 2.0.32 built by Debian's gcc 12 (issue 10), and Debian's 2.0.25
 * measured by test/differential (same numbers): .text, a 4 KiB-aligned .data holding its stack, 4 KiB .bss.
 * i386: Debian's kexec-tools 2.0.25 i386 binary (its embedded purgatory.ro: .text 0x38c4, .rodata, .eh_frame,
 * then a 4 KiB-aligned .data of 0x2080 and a 4 KiB .bss), measured by test/differential; 2.0.32's i386
 * purgatory sources differ only in where `.arch i386` stands, which changes no size.
 */
export const KEXEC_TOOLS_PURGATORY: Record<MachineArch, { bufsz: number; memsz: bigint; align: bigint } | null> = {
  x86_64: { bufsz: 0x70e0, memsz: 0x9000n, align: 0x1000n },
  i386: { bufsz: 0x6080, memsz: 0x8000n, align: 0x1000n },
};

export function elfRelBuildLoad(info: KexecInfo, arch: MachineArch, min: bigint, max: bigint = ULONG_MAX, end: HoleEnd = -1): RelocatedPurgatory {
  const layout = layoutPurgatory(readPurgatoryObject(arch));
  const fp = KEXEC_TOOLS_PURGATORY[arch];
  if (fp && (layout.memsz > fp.bufsz || fp.align % BigInt(layout.align) !== 0n)) {
    throw new Error(`vkexec's ${arch} purgatory (memsz ${layout.memsz}, align ${layout.align}) outgrew kexec-tools' footprint`);
  }
  info.sortSegments();
  const base = info.addBuffer(null, fp?.memsz ?? BigInt(layout.memsz), fp?.align ?? BigInt(layout.align), min, max, end);
  const p = relocatePurgatory(layout, base);
  const seg = info.segments.find((s) => s.mem === base)!;
  seg.buf = { kind: 'bytes', data: p.buf };
  seg.bufsz = p.buf.length;
  info.entry = p.entry;
  return p;
}

/**
 * The purgatory segment's final bytes once every symbol is patched: vkexec's relocated image, zero-filled to
 * kexec-tools' bufsz (its bss falls in that zero fill or in memsz beyond it, zero either way).
 */
export function finishPurgatorySegment(info: KexecInfo, p: RelocatedPurgatory, arch: MachineArch): void {
  const seg = info.segments.find((s) => s.mem === p.loadAddr)!;
  const fp = KEXEC_TOOLS_PURGATORY[arch];
  const data = new Uint8Array(fp?.bufsz ?? p.buf.length);
  data.set(p.buf);
  seg.buf = { kind: 'bytes', data };
  seg.bufsz = data.length;
}

const u8 = (v: number) => Uint8Array.of(v);

export interface PurgatoryConsole {
  resetVga: boolean;
  consoleVga: boolean;
  consoleSerial: boolean;
  serialBase: number;
  serialBaud: number;
}

export interface Backup {
  srcStart: bigint;
  srcSize: bigint;
  /** Where the copy goes (crash loads only; 0 otherwise). */
  start: bigint;
}

/** arch_update_purgatory (x86): console options, the crash backup region and the panic flag. */
export function archUpdatePurgatory(p: RelocatedPurgatory, con: PurgatoryConsole, backup: Backup, crash: boolean): void {
  p.setSymbol('reset_vga', u8(con.resetVga ? 1 : 0));
  p.setSymbol('console_vga', u8(con.consoleVga ? 1 : 0));
  setConsole(p, { serial: con.consoleSerial, base: con.serialBase, baud: con.serialBaud });
  // backup_start is only written for panic kernels; it stays 0 (no copy) otherwise.
  setBackup(p, { backupStart: crash ? backup.start : 0n, srcStart: backup.srcStart, srcSize: backup.srcSize });
  p.setSymbol('panic_kernel', u8(crash ? 1 : 0));
}

/**
 * update_purgatory: sha256 over every segment but the purgatory, in the (sorted) segment order, each
 * contributing bufsz bytes then memsz - bufsz zeros; streamed so a large initrd never sits in memory.
 */
export function updatePurgatory(info: KexecInfo, p: RelocatedPurgatory, skipChecks: boolean): void {
  if (skipChecks) {
    setSkipChecks(p, true);
    return;
  }
  const hashed = info.segments.filter((s) => s.mem !== p.loadAddr);
  const regions: Sha256Region[] = hashed.map((s) => ({ start: s.mem, len: s.memsz }));
  setShaRegions(p, regions, segmentsSha256(hashed));
}
