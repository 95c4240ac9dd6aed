// bzImage64 for the kexec_load path, as kexec-tools does it (kexec/arch/x86_64/kexec-bzImage64.c): purgatory,
// setup segment (boot_params + command line), kernel in the highest hole, initrd high, setup_data; the 64-bit
// entry at kernel + 0x200 through the purgatory's entry64_regs.

import { SetupHeader } from '../../formats/setup-header.js';
import type { Debug } from '../../kexec/debug.js';
import { hex } from '../../lib/hex.js';
import { type KexecInfo, ULONG_MAX } from '../../kexec/kexec-info.js';
import { KERN32_BASE } from '../../kexec/arch/x86/x86-linux-setup.js';
import { type KexecFileType, type LoadRequest, type LoadedLayout, LoadFailed } from '../../kexec/file-type.js';
import { BZIMAGE64_CHECKS, probeSetupHeader } from './bzimage-probe.js';
import { loadBzImage32 } from './bzimage.js';
import { loadBzImage64Fast } from './bzimage64-fast.js';
import { bzImage64FinishSetup, bzImage64LoadSetup } from './bzimage64-setup.js';

/** bzImage64_probe: a relocatable 64-bit bzImage, boot protocol 2.12 or later. */
export function bzImage64Probe(buf: Uint8Array, debug: Debug): boolean {
  return probeSetupHeader(buf, BZIMAGE64_CHECKS, "It's a relocatable bzImage64", debug);
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
