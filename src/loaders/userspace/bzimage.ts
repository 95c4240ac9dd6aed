// bzImage with the 32-bit entry, as kexec-tools' do_bzImage_load (kexec/arch/i386/kexec-bzImage.c): the
// setup segment low (below 640 KiB), the relocatable kernel in the lowest hole from max(1 MiB, pref_address),
// the initrd highest below initrd_addr_max, entry through the purgatory's entry32_regs at code32 start.

import { SetupHeader } from '../../formats/setup-header.js';
import { setCmdlineEnd, setEntry32Regs } from '../../arch/x86/purgatory-symbols.js';
import type { Debug } from '../../kexec/debug.js';
import { hex } from '../../lib/hex.js';
import type { KexecInfo } from '../../kexec/kexec-info.js';
import { ULONG_MAX } from '../../kexec/kexec-info.js';
import { elfRelBuildLoad } from '../../kexec/purgatory-load.js';
import { copySetupHeader, KERN32_BASE, PURGATORY_CMDLINE_SIZE, setupLinuxBootloaderParameters, setupLinuxSystemParameters, handoverRanges } from '../../kexec/arch/x86/x86-linux-setup.js';
import { crashHandoff } from '../../kexec/arch/x86/crashdump-x86.js';
import { type KexecFileType, type LoadRequest, type LoadedLayout, LoadFailed } from '../../kexec/file-type.js';
import { cmdlineBytes } from '../../kexec/cmdline.js';
import { BZIMAGE_CHECKS, probeSetupHeader } from './bzimage-probe.js';

/** DEFAULT_BZIMAGE_ADDR_MAX: the highest a 32-bit entry kernel may end. */
const DEFAULT_BZIMAGE_ADDR_MAX = 0x37ffffffn;

/** bzImage_probe: any bzImage (protocol 2.00+, loaded high). */
export function bzImageProbe(buf: Uint8Array, debug: Debug): boolean {
  return probeSetupHeader(buf, BZIMAGE_CHECKS, "It's a bzImage", debug);
}

export function loadBzImage32(req: LoadRequest, info: KexecInfo): LoadedLayout {
  const kernel = req.kernel;
  const h = new SetupHeader(kernel);
  const kern16 = h.kern16Size;
  if (kernel.length < kern16) {
    throw new LoadFailed(`BzImage truncated? ${req.kernelPath} is ${kernel.length} bytes but its setup_sects (${h.num('setup_sects')}) say the real-mode part alone is ${kern16}`, 'use the complete kernel image');
  }
  const protocol = h.num('version');
  const relocatable = protocol >= 0x0205 ? h.num('relocatable_kernel') : 0;
  // do_bzImage_load (kexec/arch/i386/kexec-bzImage.c): said for any protocol 2.05+, whatever the flag says.
  if (protocol >= 0x0205) info.debug.print('bzImage is relocatable');
  if (req.crash && req.realMode) {
    throw new LoadFailed("Can't use bzImage for crash dump purposes with real mode entry", 'drop --real-mode: a panic kernel is entered at 32 bits');
  }
  if (req.crash && !relocatable) {
    throw new LoadFailed("BzImage is not relocatable. Can't be used as capture kernel.", 'build the capture kernel with CONFIG_RELOCATABLE');
  }
  // vkexec's own refusal, after kexec-tools' own checks of the same options.
  if (req.realMode) {
    throw new LoadFailed('--real-mode is not supported by vkexec: the machine has no BIOS for 16-bit setup code to call', 'drop --real-mode; the 32-bit entry (--entry-32bit) boots the same kernel');
  }
  const { cmdline, backup, stdout } = crashHandoff(info, req, req.cmdline);
  const line = cmdlineBytes(cmdline);
  if (protocol >= 0x0206 && line.length > h.num('cmdline_size')) {
    throw new LoadFailed(`Kernel command line too long for kernel! (${line.length} bytes with its NUL, cmdline_size is ${h.num('cmdline_size')})`, 'shorten --append/--command-line', true);
  }
  // x86_64's purgatory has R_X86_64_32S relocations: keep it in the first 2 GiB (as kexec-tools does).
  const p = elfRelBuildLoad(info, req.arch, 0x3000n, relocatable ? 0x7fffffffn : 640n * 1024n, -1);
  info.debug.print(`Loaded purgatory at addr ${hex(p.loadAddr)}`);

  const kern16Needed = Math.max(kern16, 4096);
  const setupSize = kern16Needed + line.length + PURGATORY_CMDLINE_SIZE;
  const realMode = new Uint8Array(setupSize);
  copySetupHeader(realMode, kernel);
  const setupBase = req.crash
    ? info.addBuffer({ kind: 'bytes', data: realMode }, BigInt(setupSize), 16n, 0x3000n, ULONG_MAX, -1)
    : info.addBuffer({ kind: 'bytes', data: realMode }, BigInt(setupSize), 16n, 0x3000n, 640n * 1024n, 1);
  info.debug.print(`Loaded real-mode code and command line at ${hex(setupBase)}`);
  if (p.loadAddr < setupBase) {
    throw new LoadFailed('Could not put setup code above the kernel parameters', 'free low memory below 640 KiB for the purgatory (check --mem-min)');
  }

  const hr = new SetupHeader(realMode);
  const initSize = BigInt(hr.num('init_size'));
  info.debug.print(`kernel init_size ${hex(initSize)}`);
  const size = (initSize + 4095n) & ~4095n;
  const kernelPart = kernel.subarray(kern16);
  // vkexec's own check (kexec-tools would silently drop a zero-sized kernel segment): see the man page.
  if (size < BigInt(kernelPart.length)) {
    throw new LoadFailed(`${req.kernelPath}: init_size ${hex(initSize)} is smaller than the ${hex(kernelPart.length)} bytes of kernel after the setup code`, 'the setup header is corrupt (init_size at 0x260); use an intact kernel image');
  }
  let addr: bigint;
  if (protocol >= 0x0205 && relocatable) {
    let min = KERN32_BASE;
    if (min < hr.big('pref_address')) min = hr.big('pref_address');
    let max = DEFAULT_BZIMAGE_ADDR_MAX;
    const initrdAddrMax = BigInt(hr.num('initrd_addr_max'));
    if (max > initrdAddrMax) max = initrdAddrMax;
    addr = info.addBuffer({ kind: 'bytes', data: kernelPart }, size, BigInt(hr.num('kernel_alignment')), min, max, 1);
  } else {
    addr = KERN32_BASE;
    info.addSegment({ kind: 'bytes', data: kernelPart }, addr, BigInt(kernelPart.length));
  }
  info.debug.print(`Loaded 32bit kernel at ${hex(addr)}`);

  setupLinuxBootloaderParameters(info, realMode, setupBase, kern16Needed, line, req.initrd, false);
  setEntry32Regs(p, { eax: 0, ebx: 0, ecx: 0, edx: 0, esi: Number(setupBase), edi: 0, esp: Number(p.symbolAddr('stack_end')), ebp: 0, eip: Number(addr) });
  setCmdlineEnd(p, setupBase + BigInt(kern16Needed + line.length - 1));
  setupLinuxSystemParameters(info, realMode, handoverRanges(info, req.crash, req.passMemmapCmdline), req.files);
  return { purgatory: p, kernelAddr: addr, bootParamsAddr: setupBase, kernelEntry: addr, backup, stdout };
}

export const bzImageFileType: KexecFileType = {
  name: 'bzImage',
  probe: bzImageProbe,
  load: loadBzImage32,
};
