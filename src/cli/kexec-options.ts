// The `kexec` command line (kexec/kexec.c main, kexec/arch/x86_64 options, the loaders' options) parsed into
// one request, with kexec-tools' mode rules: a later mode option overrides an earlier one, -S supersedes.

import { CommandLineError, type LongOption, getoptLong, strtoul0 } from './getopt.js';
export { CommandLineError };
import { defaultLoadOptions, type KexecLoadOptions, type SyscallChoice } from '../kexec/load-request.js';
import type { EngineChoice } from './engine-options.js';
import { ENGINE_LONGOPTS, applyEngineOption, defaultEngineOptions, type EngineOptions } from './engine-options.js';

export const SHORTOPTS = 'h?vdfixyluet:pscaS';

/** Generic options first, then x86 arch options, then loader options: ids >= "loader:" are loader-only. */
export const KEXEC_LONGOPTS: LongOption[] = [
  { name: 'help', hasArg: 0, id: 'h' },
  { name: 'version', hasArg: 0, id: 'v' },
  { name: 'force', hasArg: 0, id: 'f' },
  { name: 'no-checks', hasArg: 0, id: 'i' },
  { name: 'no-ifdown', hasArg: 0, id: 'x' },
  { name: 'no-sync', hasArg: 0, id: 'y' },
  { name: 'load', hasArg: 0, id: 'l' },
  { name: 'unload', hasArg: 0, id: 'u' },
  { name: 'exec', hasArg: 0, id: 'e' },
  { name: 'load-preserve-context', hasArg: 0, id: 'load-preserve-context' },
  { name: 'load-jump-back-helper', hasArg: 0, id: 'load-jump-back-helper' },
  { name: 'entry', hasArg: 1, id: 'entry' },
  { name: 'type', hasArg: 1, id: 't' },
  { name: 'load-panic', hasArg: 0, id: 'p' },
  { name: 'mem-min', hasArg: 1, id: 'mem-min' },
  { name: 'mem-max', hasArg: 1, id: 'mem-max' },
  { name: 'kexec-file-syscall', hasArg: 0, id: 's' },
  { name: 'kexec-syscall', hasArg: 0, id: 'c' },
  { name: 'kexec-syscall-auto', hasArg: 0, id: 'a' },
  { name: 'debug', hasArg: 0, id: 'd' },
  { name: 'status', hasArg: 0, id: 'S' },
  { name: 'print-ckr-size', hasArg: 0, id: 'print-ckr-size' },
  // x86 arch options (kexec/arch/x86_64/include/arch/options.h)
  { name: 'reset-vga', hasArg: 0, id: 'arch:reset-vga' },
  { name: 'serial', hasArg: 1, id: 'arch:serial' },
  { name: 'serial-baud', hasArg: 1, id: 'arch:serial-baud' },
  { name: 'console-vga', hasArg: 0, id: 'arch:console-vga' },
  { name: 'console-serial', hasArg: 0, id: 'arch:console-serial' },
  { name: 'elf32-core-headers', hasArg: 0, id: 'arch:elf32-core-headers' },
  { name: 'elf64-core-headers', hasArg: 0, id: 'arch:elf64-core-headers' },
  { name: 'pass-memmap-cmdline', hasArg: 0, id: 'arch:pass-memmap-cmdline' },
  { name: 'noefi', hasArg: 0, id: 'arch:noefi' },
  { name: 'reuse-video-type', hasArg: 0, id: 'arch:reuse-video-type' },
  // loader options (bzImage64, bzImage, elf-x86_64, elf-x86)
  { name: 'command-line', hasArg: 1, id: 'loader:append' },
  { name: 'append', hasArg: 1, id: 'loader:append' },
  { name: 'reuse-cmdline', hasArg: 0, id: 'loader:reuse-cmdline' },
  { name: 'initrd', hasArg: 1, id: 'loader:initrd' },
  { name: 'ramdisk', hasArg: 1, id: 'loader:initrd' },
  { name: 'real-mode', hasArg: 0, id: 'loader:real-mode' },
  { name: 'entry-32bit', hasArg: 0, id: 'loader:entry-32bit' },
  { name: 'args-elf', hasArg: 0, id: 'loader:args-elf' },
  { name: 'args-linux', hasArg: 0, id: 'loader:args-linux' },
  { name: 'args-none', hasArg: 0, id: 'loader:args-none' },
  { name: 'module', hasArg: 1, id: 'loader:module' }, // multiboot-x86, multiboot2-x86 (KEXEC_ALL_OPTIONS)
  // vkexec's own
  { name: 'fast', hasArg: 0, id: 'loader:fast' }, // a loader option: bzImage64 via kexec_load only
  { name: 'machine', hasArg: 1, id: 'vk:machine' },
  { name: 'json', hasArg: 0, id: 'vk:json' },
  ...ENGINE_LONGOPTS,
];

export type { SyscallChoice };

/** The whole kexec command line: the load request's options plus main()'s modes and vkexec's own. */
export interface KexecRequest extends KexecLoadOptions {
  help: boolean;
  version: boolean;
  load: boolean;
  exec: boolean;
  shutdown: boolean;
  unload: boolean;
  status: boolean;
  hasOptLoad: boolean;
  jumpBackHelper: boolean;
  printCkrSize: boolean;
  machine: string | null;
  json: boolean;
  engine: EngineOptions;
  /** Loader-only options were given (kexec-tools rejects them when nothing is loaded). */
  loaderOptionsGiven: string[];
  operands: string[];
}

const SERIAL_PORTS: Record<string, number> = { ttyS0: 0x3f8, ttyS1: 0x2f8 };
const BAUDS = new Set([9600, 19200, 38400, 57600, 115200]);

export function parseKexecArgs(argv: readonly string[]): KexecRequest {
  const { options, operands } = getoptLong(argv, SHORTOPTS, KEXEC_LONGOPTS, 'kexec');
  const r: KexecRequest = {
    ...defaultLoadOptions(),
    help: false,
    version: false,
    load: true,
    exec: false,
    shutdown: true,
    unload: false,
    status: false,
    hasOptLoad: false,
    jumpBackHelper: false,
    printCkrSize: false,
    machine: null,
    json: false,
    engine: defaultEngineOptions(),
    loaderOptionsGiven: [],
    operands,
  };
  for (const { id, value } of options) {
    if (id.startsWith('loader:')) r.loaderOptionsGiven.push(id.slice(7));
    if (!applyModeOption(r, id) && !applyGenericOption(r, id, value!) && !applyArchOption(r, id, value!) && !applyLoaderOption(r, id, value!)) applyEngineOption(r.engine, id, value);
  }
  if (r.status) Object.assign(r, { load: false, unload: false, shutdown: false, exec: false, jumpBackHelper: false });
  return r;
}

/** main()'s mode options: a later one overrides an earlier one. */
function applyModeOption(r: KexecRequest, id: string): boolean {
  const modes: Record<string, Partial<KexecRequest>> = {
    f: { load: true, shutdown: false, exec: true },
    l: { hasOptLoad: true, load: true, exec: false, shutdown: false },
    u: { load: false, shutdown: false, unload: true },
    e: { load: false, shutdown: false, exec: true },
    'load-jump-back-helper': { load: false, shutdown: false, exec: false, jumpBackHelper: true, preserveContext: true, crash: false },
    'load-preserve-context': { load: true, exec: false, shutdown: false, preserveContext: true, crash: false },
    p: { load: true, exec: false, shutdown: false, crash: true, preserveContext: false },
  };
  if (!(id in modes)) return false;
  Object.assign(r, modes[id]);
  return true;
}

/** strtoul(optarg, &end, 0) with kexec-tools' "Bad option value" for what is not a number. */
function num(id: string, v: string): bigint {
  const n = strtoul0(v);
  if (n === null) throw new CommandLineError(`Bad option value in --${id}=${v}`);
  return n;
}

/** kexec/kexec.c main()'s other generic options, and vkexec's --machine/--json. */
function applyGenericOption(r: KexecRequest, id: string, value: string): boolean {
  switch (id) {
    case 'h':
    case '?':
      r.help = true;
      break;
    case 'v':
      r.version = true;
      break;
    case 'd':
      r.debug = true;
      break;
    case 'x':
    case 'y':
      break; // no network interfaces or filesystems in the machine to bring down or sync
    case 'entry':
    case 'mem-min':
    case 'mem-max':
      r[id === 'entry' ? 'entry' : id === 'mem-min' ? 'memMin' : 'memMax'] = num(id, value);
      break;
    case 't':
      r.type = value;
      break;
    case 's':
    case 'c':
    case 'a':
      r.syscall = id === 's' ? 'file' : id === 'c' ? 'load' : 'auto';
      break;
    case 'i':
      r.skipChecks = true;
      break;
    case 'S':
      r.status = true;
      break;
    case 'print-ckr-size':
      r.printCkrSize = true;
      break;
    case 'vk:machine':
      r.machine = value;
      break;
    case 'vk:json':
      r.json = true;
      break;
    default:
      return false;
  }
  return true;
}

/** kexec/arch/x86_64 arch_process_options. */
function applyArchOption(r: KexecRequest, id: string, value: string): boolean {
  switch (id) {
    case 'arch:reset-vga':
      r.console.resetVga = true;
      break;
    case 'arch:console-vga':
      r.console.consoleVga = true;
      break;
    case 'arch:console-serial':
      r.console.consoleSerial = true;
      break;
    case 'arch:serial': {
      const port = SERIAL_PORTS[value] ?? (strtoul0(value) !== null ? Number(strtoul0(value)) : null);
      if (port === null || port > 0xffff) throw new CommandLineError(`Bad serial port base '${value}'`, false);
      r.console.serialBase = port;
      break;
    }
    case 'arch:serial-baud': {
      const baud = Number(strtoul0(value) ?? -1);
      if (!BAUDS.has(baud)) throw new CommandLineError(`Bad serial port baud rate '${value}'`, false);
      r.console.serialBaud = baud;
      break;
    }
    case 'arch:elf32-core-headers':
    case 'arch:elf64-core-headers':
      r.coreHeaderType = id === 'arch:elf32-core-headers' ? 'elf32' : 'elf64';
      break;
    case 'arch:pass-memmap-cmdline':
      r.passMemmapCmdline = true;
      break;
    case 'arch:noefi':
    case 'arch:reuse-video-type':
      break; // the machine has neither EFI nor a framebuffer
    default:
      return false;
  }
  return true;
}

/** The loaders' options (bzImage64, bzImage, elf-x86_64, elf-x86) and vkexec's --fast. */
function applyLoaderOption(r: KexecRequest, id: string, value: string): boolean {
  switch (id) {
    case 'loader:append':
      r.append = value;
      break;
    case 'loader:reuse-cmdline':
      r.reuseCmdline = true;
      break;
    case 'loader:initrd':
      r.initrd = value;
      break;
    case 'loader:real-mode':
      r.realMode = true;
      break;
    case 'loader:entry-32bit':
      r.entry32bit = true;
      break;
    case 'loader:args-elf':
    case 'loader:args-linux':
    case 'loader:args-none':
      r.argsMode = id === 'loader:args-elf' ? 'elf' : id === 'loader:args-linux' ? 'linux' : 'none';
      break;
    case 'loader:fast':
      r.fast = true;
      break;
    case 'loader:module':
      r.modules = [...r.modules, value];
      break;
    default:
      return false;
  }
  return true;
}

export type { EngineChoice };
