// bzImage64 for the kexec_load path, as kexec-tools does it (kexec/arch/x86_64/kexec-bzImage64.c): purgatory,
// setup segment (boot_params + command line), kernel in the highest hole, initrd high, setup_data; the 64-bit
// entry at kernel + 0x200 through the purgatory's entry64_regs.

import { SetupHeader, HDRS_MAGIC, BOOT_FLAG, LOADED_HIGH, XLF_KERNEL_64, XLF_CAN_BE_LOADED_ABOVE_4G } from '../../formats/setup-header.js';
import { type RelocatedPurgatory, setCmdlineEnd, setEntry64Regs } from '../../arch/x86/purgatory.js';
import type { Debug } from '../../kexec/debug.js';
import { hex } from '../../lib/hex.js';
import { type KexecInfo, ULONG_MAX } from '../../kexec/kexec-info.js';
import { elfRelBuildLoad } from '../../kexec/purgatory-load.js';
import { copySetupHeader, KERN32_BASE, PURGATORY_CMDLINE_SIZE, setupLinuxBootloaderParameters, setupLinuxSystemParameters, handoverRanges } from '../../kexec/arch/x86/x86-linux-setup.js';
import { crashHandoff } from '../../kexec/arch/x86/crashdump-x86.js';
import { type KexecFileType, type LoadRequest, type LoadedLayout, LoadFailed } from '../../kexec/file-type.js';
import { loadBzImage32 } from './bzimage.js';
import { loadBzImage64Fast } from './bzimage64-fast.js';
import { cmdlineBytes } from '../../kexec/cmdline.js';

/** bzImage64_probe: a relocatable 64-bit bzImage, boot protocol 2.12 or later. */
export function bzImage64Probe(buf: Uint8Array, debug: Debug): boolean {
  if (buf.length < 1024) {
    debug.print('File is too short to be a bzImage!');
    return false;
  }
  const h = new SetupHeader(buf);
  if (h.num('header') !== HDRS_MAGIC) {
    debug.print('Not a bzImage');
    return false;
  }
  if (h.num('boot_flag') !== BOOT_FLAG) {
    debug.print('No x86 boot sector present');
    return false;
  }
  if (h.num('version') < 0x020c) {
    debug.print('Must be at least protocol version 2.12');
    return false;
  }
  if ((h.num('loadflags') & LOADED_HIGH) === 0) {
    debug.print('zImage not a bzImage');
    return false;
  }
  if ((h.num('xloadflags') & (XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G)) !== (XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G)) {
    debug.print('Not a relocatable bzImage64');
    return false;
  }
  debug.print("It's a relocatable bzImage64");
  return true;
}

/** What do_bzImage64_load has placed before the kernel: shared with the --fast loader. */
export interface BzImage64Setup {
  purgatory: RelocatedPurgatory;
  /** boot_params with the copied setup header, then the command line. */
  realMode: Uint8Array;
  setupBase: bigint;
  kern16Needed: number;
  line: Uint8Array;
  backup: LoadedLayout['backup'];
  stdout: string[];
}

/** do_bzImage64_load up to the kernel: crash segments (-p), command line check, purgatory, setup segment. */
export function bzImage64LoadSetup(req: LoadRequest, info: KexecInfo): BzImage64Setup {
  const kernel = req.kernel;
  const h = new SetupHeader(kernel);
  const kern16 = h.kern16Size;
  if (kernel.length < kern16) {
    throw new LoadFailed(`BzImage truncated? ${req.kernelPath} is ${kernel.length} bytes but its setup_sects (${h.num('setup_sects')}) say the real-mode part alone is ${kern16}`, 'the file is cut short or its setup_sects byte (0x1f1) is wrong; use the complete kernel image');
  }
  const { cmdline, backup, stdout } = crashHandoff(info, req, req.cmdline);
  const line = cmdlineBytes(cmdline);
  if (line.length > h.num('cmdline_size')) {
    throw new LoadFailed(`Kernel command line too long for kernel! (${line.length} bytes with its NUL, cmdline_size is ${h.num('cmdline_size')})`, 'shorten --append/--command-line', true);
  }
  const purgatory = elfRelBuildLoad(info, req.arch, 0x3000n, ULONG_MAX, -1);
  info.debug.print(`Loaded purgatory at addr ${hex(purgatory.loadAddr)}`);

  const kern16Needed = Math.max(kern16, 4096);
  const setupSize = kern16Needed + line.length + PURGATORY_CMDLINE_SIZE;
  const realMode = new Uint8Array(setupSize);
  copySetupHeader(realMode, kernel);
  const setupBase = info.addBuffer({ kind: 'bytes', data: realMode }, BigInt(setupSize), 16n, 0x3000n, ULONG_MAX, -1);
  info.debug.print(`Loaded real_mode_data and command line at ${hex(setupBase)}`);
  return { purgatory, realMode, setupBase, kern16Needed, line, backup, stdout };
}

/** do_bzImage64_load after the kernel: boot_params and initrd, entry64_regs, the system parameters (e820). */
export function bzImage64FinishSetup(req: LoadRequest, info: KexecInfo, s: BzImage64Setup, kernelAddr: bigint, entry: bigint): LoadedLayout {
  const p = s.purgatory;
  setupLinuxBootloaderParameters(info, s.realMode, s.setupBase, s.kern16Needed, s.line, req.initrd, true);
  setEntry64Regs(p, { rbx: 0n, rsi: s.setupBase, rip: entry, rsp: p.symbolAddr('stack_end') });
  setCmdlineEnd(p, s.setupBase + BigInt(s.kern16Needed + s.line.length - 1));
  setupLinuxSystemParameters(info, s.realMode, handoverRanges(info, req.crash, req.passMemmapCmdline));
  return { purgatory: p, kernelAddr, bootParamsAddr: s.setupBase, kernelEntry: entry, backup: s.backup, stdout: s.stdout };
}

/** do_bzImage64_load */
function loadBzImage64(req: LoadRequest, info: KexecInfo): LoadedLayout {
  const s = bzImage64LoadSetup(req, info);
  const setup = new SetupHeader(s.realMode);
  const initSize = BigInt(setup.num('init_size'));
  info.debug.print(`kernel init_size ${hex(initSize)}`);
  const size = (initSize + 4095n) & ~4095n;
  const align = BigInt(setup.num('kernel_alignment'));
  let min = KERN32_BASE;
  const pref = setup.big('pref_address');
  if (min < pref) min = pref;
  const kernelPart = req.kernel.subarray(new SetupHeader(req.kernel).kern16Size);
  // vkexec's own check (kexec-tools would silently drop a zero-sized kernel segment): see the man page.
  if (size < BigInt(kernelPart.length)) {
    throw new LoadFailed(`${req.kernelPath}: init_size ${hex(initSize)} is smaller than the ${hex(kernelPart.length)} bytes of kernel after the setup code`, 'the setup header is corrupt (init_size at 0x260); use an intact kernel image');
  }
  const addr = info.addBuffer({ kind: 'bytes', data: kernelPart }, size, align, min, ULONG_MAX, -1);
  info.debug.print(`Loaded 64bit kernel at ${hex(addr)}`);
  return bzImage64FinishSetup(req, info, s, addr, addr + 0x200n);
}

export const bzImage64FileType: KexecFileType = {
  name: 'bzImage64',
  probe: bzImage64Probe,
  load(req, info) {
    // --entry-32bit (and --real-mode) go through the 32-bit loader, as bzImage64_load does.
    if (req.entry32bit || req.realMode) return loadBzImage32(req, info);
    if (req.fast) return loadBzImage64Fast(req, info);
    return loadBzImage64(req, info);
  },
};
