// do_bzImage64_load's steps before and after the kernel segment (kexec-tools kexec/arch/x86_64/kexec-bzImage64.c),
// shared by the bzImage64 loader and its --fast variant, which differ only in how the kernel itself is placed.

import { SetupHeader } from '../../formats/setup-header.js';
import type { RelocatedPurgatory } from '../../arch/x86/kexec-purgatory-symbol.js';
import { setCmdlineEnd, setEntry64Regs } from '../../arch/x86/purgatory-symbols.js';
import { hex } from '../../lib/hex.js';
import { type KexecInfo, ULONG_MAX } from '../../kexec/kexec-info.js';
import { elfRelBuildLoad } from '../../kexec/purgatory-load.js';
import { copySetupHeader, PURGATORY_CMDLINE_SIZE, setupLinuxBootloaderParameters, setupLinuxSystemParameters, handoverRanges } from '../../kexec/arch/x86/x86-linux-setup.js';
import { crashHandoff } from '../../kexec/arch/x86/crashdump-x86.js';
import { type LoadRequest, type LoadedLayout, LoadFailed } from '../../kexec/file-type.js';
import { cmdlineBytes } from '../../kexec/cmdline.js';

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
  setupLinuxSystemParameters(info, s.realMode, handoverRanges(info, req.crash, req.passMemmapCmdline), req.files);
  return { purgatory: p, kernelAddr, bootParamsAddr: s.setupBase, kernelEntry: entry, backup: s.backup, stdout: s.stdout };
}

