// ELF kernels for the kexec_load path, as kexec-tools' elf-x86_64 and elf-x86 loaders
// (kexec/arch/x86_64/kexec-elf-x86_64.c, kexec/arch/i386/kexec-elf-x86.c): PT_LOAD segments at their
// physical addresses, then ELF boot notes (--args-elf), a faked boot_params page (--args-linux), or a bare
// jump (--args-none: ELF64 on x86_64, ELF32 on i386).

import { UsageError } from '../../errno.js';
import { ElfFormatError, type ElfFile, EM_386, EM_486, EM_X86_64, ET_CORE, ET_DYN, ET_EXEC, PT_INTERP, PT_LOAD, parseElf } from '../../formats/elf.js';
import { HDRS_MAGIC, SETUP_HEADER } from '../../formats/setup-header.js';
import { writeField } from '../../formats/struct.js';
import { setEntry32Regs, setEntry64Regs } from '../../arch/x86/purgatory-symbols.js';
import type { Debug } from '../../kexec/debug.js';
import { cmdlineBytes } from '../../kexec/cmdline.js';
import { type KexecInfo, ULONG_MAX } from '../../kexec/kexec-info.js';
import { elfRelBuildLoad } from '../../kexec/purgatory-load.js';
import { COMMAND_LINE_SIZE, setupLinuxBootloaderParameters, setupLinuxSystemParameters, handoverRanges } from '../../kexec/arch/x86/x86-linux-setup.js';
import { crashHandoff } from '../../kexec/arch/x86/crashdump-x86.js';
import { KEXEC_TOOLS_VERSION } from '../../kexec/version.js';
import { type KexecFileType, type LoadRequest, type LoadedLayout, LoadFailed } from '../../kexec/file-type.js';

/** sizeof(struct x86_linux_param_header), packed: where the faked header's command line starts. */
const FAKED_CMDLINE_OFFSET = 0xeec;
const ELF32_MAX = 0xffffffffn;
const ELF64_MAX = ULONG_MAX;
// include/boot/elf_boot.h
const ELF_BOOT_MAGIC = 0x0e1fb007;
// include/boot/elf_boot.h (1 is EBN_FIRMWARE_TYPE, which kexec-tools does not write).
const EBN_BOOTLOADER_NAME = 2;
const EBN_BOOTLOADER_VERSION = 3;
const EBN_COMMAND_LINE = 4;
const BOOTLOADER = 'kexec';
const BOOTLOADER_VERSION = KEXEC_TOOLS_VERSION;

/** build_elf_exec_info: an executable ELF with program headers and no interpreter; null with the reason. */
export function buildElfExecInfo(buf: Uint8Array): { elf: ElfFile } | { why: string } {
  let elf: ElfFile;
  try {
    elf = parseElf(buf);
  } catch (e) {
    if (e instanceof ElfFormatError) return { why: e.message };
    throw e;
  }
  const t = elf.header.type;
  if (t !== ET_EXEC && t !== ET_DYN && t !== ET_CORE) return { why: 'Not ELF type ET_EXEC or ET_DYN' };
  if (elf.programHeaders.length === 0) return { why: 'No ELF program header' };
  if (elf.programHeaders.some((p) => p.type === PT_INTERP)) return { why: 'Requires an ELF interpreter' };
  return { elf };
}

function elfX86AnyProbe(buf: Uint8Array, debug: Debug, want: 32 | 64): boolean {
  const r = buildElfExecInfo(buf);
  if ('why' in r) {
    // kexec-tools says only "Not an ELF executable"; for a file that is an ELF we add why.
    const isElf = buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
    debug.print(isElf ? `Not an ELF executable (${r.why})` : 'Not an ELF executable');
    return false;
  }
  const m = r.elf.header.machine;
  if (want === 64 && m !== EM_X86_64) {
    debug.print('Not x86_64 ELF executable');
    return false;
  }
  if (want === 32 && m !== EM_386 && m !== EM_486) {
    debug.print('Not i386 ELF executable');
    return false;
  }
  return true;
}

/** compute_ip_checksum: the 16-bit one's complement sum the ELF boot notes carry. */
function ipChecksum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i += 2) sum += data[i]! | ((data[i + 1] ?? 0) << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

const up4 = (n: number) => (n + 3) & ~3;

/** elf_boot_notes: Elf_Bhdr + bootloader name, version and command line notes, lowest hole below max_addr. */
function elfBootNotes(info: KexecInfo, maxAddr: bigint, cmdline: Uint8Array): bigint {
  const name = Buffer.from(BOOTLOADER + '\0');
  const version = Buffer.from(BOOTLOADER_VERSION + '\0');
  const fixed = 12 + 12 + up4(name.length) + 12 + up4(version.length) + 12;
  const size = fixed + up4(cmdline.length);
  const b = Buffer.alloc(size);
  b.writeUInt32LE(ELF_BOOT_MAGIC, 0);
  b.writeUInt32LE(size, 4);
  b.writeUInt16LE(3, 10); // b_records
  let o = 12;
  const note = (type: number, desc: Uint8Array, room: number) => {
    b.writeUInt32LE(0, o);
    b.writeUInt32LE(desc.length, o + 4);
    b.writeUInt32LE(type, o + 8);
    b.set(desc, o + 12);
    o += 12 + room;
  };
  note(EBN_BOOTLOADER_NAME, name, up4(name.length));
  note(EBN_BOOTLOADER_VERSION, version, up4(version.length));
  note(EBN_COMMAND_LINE, cmdline, up4(cmdline.length));
  b.writeUInt16LE(ipChecksum(b), 8);
  return info.addBuffer({ kind: 'bytes', data: b }, BigInt(size), 4n, 0n, maxAddr, 1);
}

/** elf_exec_build_load (load_elf_segments): every PT_LOAD at p_paddr + base (+ a load base for ET_DYN, which the x86 loaders never move). */
export function elfExecBuildLoad(info: KexecInfo, elf: ElfFile, base = 0n): void {
  for (const p of elf.programHeaders) {
    if (p.type !== PT_LOAD) continue;
    const size = p.filesz > p.memsz ? p.memsz : p.filesz;
    info.addSegment({ kind: 'bytes', data: elf.segmentData(p).subarray(0, Number(size)) }, p.paddr + base, p.memsz);
  }
}

function loadElf(req: LoadRequest, info: KexecInfo, cls: 32 | 64): LoadedLayout {
  const r = buildElfExecInfo(req.kernel);
  if ('why' in r) throw new LoadFailed(`ELF exec parse failed: ${r.why}`, 'the file is not a loadable ELF kernel');
  const elf = r.elf;
  // elf_x86_load's option loop (kexec/arch/i386/kexec-elf-x86.c, 2.0.25 and 2.0.32): --args-none is accepted
  // by the i386 build only; the x86_64 build dies (exit 1, no "Cannot load") naming arch i386.
  if (req.argsMode === 'none' && cls === 32 && req.arch !== 'i386') throw new UsageError('--args-none only works on arch i386', { hint: 'use --args-linux or --args-elf (or load it on an i386 machine)' });
  elfExecBuildLoad(info, elf);
  const entry = elf.header.entry;
  const maxAddr = elf.header.class === 32 ? ELF32_MAX : ELF64_MAX;
  const p = req.argsMode === 'none' ? null : elfRelBuildLoad(info, req.arch, 0n, ULONG_MAX, 1);
  if (!p) {
    info.entry = entry;
    return { purgatory: null, kernelAddr: entry, bootParamsAddr: null, kernelEntry: entry };
  }
  const long64 = cls === 64;
  if (req.argsMode === 'elf') {
    // elf_x86_load / elf_x86_64_load (2.0.25 and 2.0.32): error_msg, then die("%s"): exit 1, no "Cannot load".
    if (req.initrd) throw new UsageError('Ramdisks not supported with generic elf arguments', { hint: 'use --args-linux to pass an initrd' });
    const notes = elfBootNotes(info, maxAddr, req.cmdline === null ? new Uint8Array(0) : cmdlineBytes(req.cmdline));
    if (long64) setEntry64Regs(p, { rdi: notes, rip: entry, rsp: p.symbolAddr('stack_end') });
    else {
      p.setSymbol('stack_arg32_1', u32(notes));
      p.setSymbol('stack_arg32_2', u32(0n));
      setEntry32Regs(p, { eip: Number(entry), esp: Number(p.symbolAddr('stack_arg32_2')) });
    }
    return { purgatory: p, kernelAddr: entry, bootParamsAddr: null, kernelEntry: entry };
  }
  // --args-linux: a faked boot_params page (init_linux_parameters) with the command line after it.
  const hdr = new Uint8Array(FAKED_CMDLINE_OFFSET + COMMAND_LINE_SIZE);
  const paramBase = long64
    ? info.addBuffer({ kind: 'bytes', data: hdr }, BigInt(hdr.length), 16n, 0n, maxAddr, 1)
    : info.addBuffer({ kind: 'bytes', data: hdr }, 16n * 1024n, 16n, 0n, maxAddr, 1);
  writeField(hdr, SETUP_HEADER.header, HDRS_MAGIC);
  writeField(hdr, SETUP_HEADER.version, 0x0206);
  writeField(hdr, SETUP_HEADER.initrd_addr_max, 0x37ffffff);
  writeField(hdr, SETUP_HEADER.cmdline_size, COMMAND_LINE_SIZE);
  const { cmdline, backup, stdout } = crashHandoff(info, req, req.cmdline);
  setupLinuxBootloaderParameters(info, hdr, paramBase, FAKED_CMDLINE_OFFSET, cmdlineBytes(cmdline), req.initrd, false);
  setupLinuxSystemParameters(info, hdr, handoverRanges(info, req.crash, req.passMemmapCmdline), req.files);
  if (long64) setEntry64Regs(p, { rbx: 0n, rsi: paramBase, rip: entry, rsp: p.symbolAddr('stack_end') });
  else setEntry32Regs(p, { ebx: 0, esi: Number(paramBase), eip: Number(entry), esp: Number(p.symbolAddr('stack_end')) });
  return { purgatory: p, kernelAddr: entry, bootParamsAddr: paramBase, kernelEntry: entry, backup, stdout };
}

function u32(v: bigint): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(Number(v & 0xffffffffn));
  return b;
}

export const elfX86_64FileType: KexecFileType = {
  name: 'elf-x86_64',
  probe: (buf, debug) => elfX86AnyProbe(buf, debug, 64),
  load: (req, info) => loadElf(req, info, 64),
};

export const elfX86FileType: KexecFileType = {
  name: 'elf-x86',
  probe: (buf, debug) => elfX86AnyProbe(buf, debug, 32),
  load: (req, info) => loadElf(req, info, 32),
};
