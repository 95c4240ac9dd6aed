// get_bootparam, setup_subarch and get_acpi_rsdp (kexec-tools kexec/arch/i386/x86-linux-setup.c,
// kexec-x86-common.c): the running kernel's boot_params, found through the sysfs mount listed in
// /proc/mounts (the debugfs fallback is not modelled: the machine mounts no debugfs).

import { SETUP_HEADER } from '../../../formats/setup-header.js';
import { readField } from '../../../formats/struct.js';
import type { SystemFiles } from '../../memory-ranges.js';
import { BOOT_PARAMS, getBp, setBp } from '../../../arch/x86/boot-params.js';

/** find_mnt_by_type("sysfs") then "<mnt>/kernel/boot_params/data"; null when either is missing. */
export function runningBootParams(files: SystemFiles): Uint8Array | null {
  const mounts = files('/proc/mounts');
  if (mounts === null) return null;
  const sysfs = mounts.split('\n').map((l) => l.split(/\s+/)).find((f) => f[2] === 'sysfs');
  if (!sysfs) return null;
  const data = files(`${sysfs[1]}/kernel/boot_params/data`);
  return data === null ? null : Buffer.from(data, 'latin1');
}

/** sizeof(struct screen_info): what setup_linux_system_parameters copies when there is no VESA framebuffer. */
const SCREEN_INFO_SIZE = 0x40;

/**
 * setup_subarch, and the screen_info copy (2.0.25 and 2.0.32): without /dev/fb0 (the machine has none), the
 * running kernel's screen_info replaces the defaults, keeping the new cl_magic and cl_offset.
 */
export function copyRunningScreenInfo(realMode: Uint8Array, files: SystemFiles): void {
  const bp = runningBootParams(files);
  if (!bp) return;
  const sub = SETUP_HEADER.hardware_subarch;
  realMode.set(bp.subarray(sub.offset, sub.offset + sub.size), sub.offset);
  const magic = getBp(realMode, 'cl_magic');
  const offset = getBp(realMode, 'cl_offset');
  realMode.set(bp.subarray(0, SCREEN_INFO_SIZE), 0);
  setBp(realMode, 'cl_magic', magic);
  setBp(realMode, 'cl_offset', offset);
}

/**
 * get_acpi_rsdp (kexec-tools 2.0.32; 2.0.25 has only the EFI part): boot_params' acpi_rsdp_addr, else the
 * ACPI20= or ACPI= line of /sys/firmware/efi/systab, else 0.
 */
export function getAcpiRsdp(files: SystemFiles): bigint {
  const bp = runningBootParams(files);
  const fromBp = bp ? (readField(bp, BOOT_PARAMS.acpi_rsdp_addr) as bigint) : 0n;
  if (fromBp !== 0n) return fromBp;
  const systab = files('/sys/firmware/efi/systab');
  if (systab === null) return 0n;
  for (const l of systab.split('\n')) {
    if (!l.includes('ACPI20=') && !l.includes('ACPI=')) continue;
    const m = /^0x([0-9a-fA-F]+)/.exec(l.slice(l.indexOf('=') + 1));
    return m ? BigInt('0x' + m[1]) : 0n;
  }
  return 0n;
}
