// The text files kexec-tools reads on a real machine, rendered from the machine's state. The userspace side
// (src/kexec) sees the machine only through these, as kexec-tools sees a kernel only through procfs/sysfs.

import type { E820Record } from '../../arch/x86/boot-params.js';
import { hex } from '../../lib/hex.js';
import { rangeLength } from '../../lib/range.js';
import type { FirmwareMapEntry } from './firmware-map.js';
import { formatIomem, resourceRange, type Resource } from './iomem.js';
import { CRASH_NOTES_SIZE, VMCOREINFO_NOTE_SIZE, crashNotesAddr, crashkRes, vmcoreinfoNoteAddr } from './machine-config.js';
import type { MachineState } from './machine.js';

// Built-ins by process.getBuiltinModule, not import: no ES module facade to build (node:fs's loads its streams)
// and no import to resolve, on every command's path (issue 15, bench/startup.ts).
const { createRequire } = process.getBuiltinModule('node:module');

// The running kernel's synthesised files (kallsyms, kcore, boot_params) need the ELF and boot_params codecs: loaded
// (require of ESM, Node >= 20.19) when one of them is read, so `vkexec -S` does not pay for them.
type RunningKernel = typeof import('./running-kernel.js');
const runningKernel = (): RunningKernel => createRequire(import.meta.url)('./running-kernel.js') as RunningKernel;

/** e820 type numbers and the names Linux gives them in /proc/iomem and /sys/firmware/memmap (e820_type_to_string). */
export const E820_TYPES: Record<string, number> = {
  'System RAM': 1,
  Reserved: 2,
  'ACPI Tables': 3,
  'ACPI Non-volatile Storage': 4,
  'Unusable memory': 5,
  'Persistent Memory': 7,
  'Persistent Memory (legacy)': 12,
  'Soft Reserved': 0xefffffff,
};

export type { FirmwareMapEntry };

/** A firmware map read off /proc/iomem: its top-level resources with an e820 type (machines cloned from iomem alone). */
export function firmwareMemmap(iomem: readonly Resource[]): FirmwareMapEntry[] {
  return iomem.filter((r) => r.name in E820_TYPES).map((r) => ({ start: r.start, end: r.end, type: r.name }));
}

/** /sys/firmware/memmap: the machine's firmware e820 when it has one (machine init --memmap), else read off iomem. */
export function machineMemmap(config: MachineState['config']): FirmwareMapEntry[] {
  return config.firmwareMap ?? firmwareMemmap(config.iomem);
}

/** The firmware map as an e820 table (what setup_e820_entries copies into boot_params and the engines boot with). */
export function firmwareE820(iomem: readonly Resource[]): E820Record[] {
  return iomem.filter((r) => r.name in E820_TYPES).map((r) => ({ addr: r.start, size: rangeLength(resourceRange(r)), type: E820_TYPES[r.name]! }));
}

export const VIEW_PATHS = [
  '/proc/iomem',
  '/proc/cmdline',
  '/proc/kallsyms',
  '/proc/kcore',
  '/proc/mounts',
  '/sys/kernel/boot_params/data',
  '/sys/firmware/memmap',
  '/sys/kernel/kexec_loaded',
  '/sys/kernel/kexec_crash_loaded',
  '/sys/kernel/kexec_crash_size',
  '/proc/sys/kernel/kexec_load_disabled',
  '/proc/sys/kernel/kexec_load_limit_panic',
  '/proc/sys/kernel/kexec_load_limit_reboot',
  '/sys/kernel/vmcoreinfo',
  '/proc/sys/kernel/osrelease',
  '/sys/devices/system/cpu/possible',
  '/sys/devices/system/cpu/cpuN/crash_notes',
  '/sys/devices/system/cpu/cpuN/crash_notes_size',
] as const;

/**
 * Reads one view by its path on a real system, e.g. "/proc/iomem" or "/sys/firmware/memmap/3/type".
 * Returns null when the path does not exist on this machine.
 */
export function readView(state: MachineState, file: string): string | null {
  const { config, sysctl, images } = state;
  switch (file) {
    case '/proc/iomem':
      return formatIomem(config.iomem);
    case '/proc/cmdline':
      return config.cmdline + '\n';
    case '/proc/sys/kernel/osrelease':
      return config.osrelease + '\n';
    case '/proc/kallsyms':
      return runningKernel().kallsymsView(config);
    case '/proc/kcore':
      return runningKernel().kcoreView(config);
    case '/proc/mounts':
      return runningKernel().MOUNTS_VIEW;
    case '/sys/kernel/boot_params/data':
      return runningKernel().bootParamsView(config, machineMemmap(config).map((e) => ({ addr: e.start, size: e.end - e.start + 1n, type: E820_TYPES[e.type] ?? 2 })));
    case '/sys/kernel/kexec_loaded':
      return (images.normal ? '1' : '0') + '\n';
    case '/sys/kernel/kexec_crash_loaded':
      return (images.crash ? '1' : '0') + '\n';
    case '/sys/kernel/kexec_crash_size': {
      const r = crashkRes(config);
      return (r ? rangeLength(resourceRange(r)).toString() : '0') + '\n';
    }
    case '/proc/sys/kernel/kexec_load_disabled':
      return `${sysctl.kexec_load_disabled}\n`;
    case '/proc/sys/kernel/kexec_load_limit_panic':
      return `${sysctl.kexec_load_limit_panic}\n`;
    case '/proc/sys/kernel/kexec_load_limit_reboot':
      return `${sysctl.kexec_load_limit_reboot}\n`;
    case '/sys/firmware/memmap':
      return machineMemmap(config).map((_, i) => `${i}`).join('\n') + '\n';
  }
  // The possible-CPU mask as a cpulist (kernel/cpu.c, "0-3"): glibc's sysconf(_SC_NPROCESSORS_CONF) reads
  // it, and kexec-tools' crash_create_elf_headers takes its CPU count from that.
  if (file === '/sys/devices/system/cpu/possible') return (config.cpus > 1 ? `0-${config.cpus - 1}` : '0') + '\n';
  if (file === '/sys/kernel/vmcoreinfo') return `${vmcoreinfoNoteAddr().toString(16)} ${VMCOREINFO_NOTE_SIZE.toString(16)}\n`;
  const cpu = /^\/sys\/devices\/system\/cpu\/cpu(\d+)\/(crash_notes|crash_notes_size)$/.exec(file);
  if (cpu) {
    const n = Number(cpu[1]);
    if (n >= config.cpus) return null;
    return cpu[2] === 'crash_notes' ? `${crashNotesAddr(n).toString(16)}\n` : `${CRASH_NOTES_SIZE}\n`;
  }
  const m = /^\/sys\/firmware\/memmap\/(\d+)(?:\/(start|end|type))?$/.exec(file);
  if (m) {
    const entry = machineMemmap(config)[Number(m[1])];
    if (!entry) return null;
    if (m[2] === undefined) return 'start\nend\ntype\n';
    return (m[2] === 'type' ? entry.type : hex(m[2] === 'start' ? entry.start : entry.end)) + '\n';
  }
  return null;
}
