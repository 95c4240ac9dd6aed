// The checks kexec-tools' bzImage_probe (kexec/arch/i386/kexec-bzImage.c) and bzImage64_probe
// (kexec/arch/x86_64/kexec-bzImage64.c) make, as tables: each loader's probe is its list of checks, and the
// first one that fails is the message -d prints.

import { SetupHeader, BOOT_FLAG, HDRS_MAGIC, LOADED_HIGH, XLF_CAN_BE_LOADED_ABOVE_4G, XLF_KERNEL_64 } from '../../formats/setup-header.js';
import type { Debug } from '../../kexec/debug.js';

type Check = readonly [ok: (h: SetupHeader) => boolean, refusal: string];

const HAS_MAGIC: Check = [(h) => h.num('header') === HDRS_MAGIC, 'Not a bzImage'];
const LOADS_HIGH: Check = [(h) => (h.num('loadflags') & LOADED_HIGH) !== 0, 'zImage not a bzImage'];
const BOTH_XLF = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;

/** bzImage_probe: protocol 2.00+, loaded high. */
export const BZIMAGE_CHECKS: readonly Check[] = [HAS_MAGIC, [(h) => h.num('version') >= 0x0200, 'Must be at least protocol version 2.00'], LOADS_HIGH];

/** bzImage64_probe: also the boot sector flag, protocol 2.12+ and both 64-bit xloadflags. */
export const BZIMAGE64_CHECKS: readonly Check[] = [
  HAS_MAGIC,
  [(h) => h.num('boot_flag') === BOOT_FLAG, 'No x86 boot sector present'],
  [(h) => h.num('version') >= 0x020c, 'Must be at least protocol version 2.12'],
  LOADS_HIGH,
  [(h) => (h.num('xloadflags') & BOTH_XLF) === BOTH_XLF, 'Not a relocatable bzImage64'],
];

/** Runs a probe's checks in order; the first failure is printed (under -d) and refuses the file. */
export function probeSetupHeader(buf: Uint8Array, checks: readonly Check[], accepted: string, debug: Debug): boolean {
  if (buf.length < 1024) {
    debug.print('File is too short to be a bzImage!');
    return false;
  }
  const h = new SetupHeader(buf);
  const failed = checks.find(([ok]) => !ok(h));
  debug.print(failed ? failed[1] : accepted);
  return !failed;
}
