// Options that choose and drive the engine which executes a loaded image (-e, -f, boot, machine panic).

import type { Stats } from 'node:fs';
import { UsageError, fileErrorText } from '../errno.js';
import { CommandLineError, type LongOption } from './getopt.js';

// Built-ins by process.getBuiltinModule, not import: no ES module facade to build (node:fs's loads its streams)
// and no import to resolve, on every command's path (issue 15, bench/startup.ts).
const fs = process.getBuiltinModule('node:fs');

export type EngineChoice = 'auto' | 'qemu' | 'v86' | 'verify';

export interface EngineOptions {
  engine: EngineChoice;
  consoleLog: string | null;
  expect: string | null;
  /** Seconds; null = the engine's default. */
  timeout: number | null;
  accel: 'auto' | 'kvm' | 'tcg';
  disks: string[];
  /** --system-map FILE: kernel symbols (System.map or a vmlinux with symbols) for the post-mortem. */
  systemMap: string | null;
}

export const ENGINE_LONGOPTS: LongOption[] = [
  { name: 'engine', hasArg: 1, id: 'vk:engine' },
  { name: 'console', hasArg: 1, id: 'vk:console' },
  { name: 'expect', hasArg: 1, id: 'vk:expect' },
  { name: 'timeout', hasArg: 1, id: 'vk:timeout' },
  { name: 'accel', hasArg: 1, id: 'vk:accel' },
  { name: 'disk', hasArg: 1, id: 'vk:disk' },
  { name: 'system-map', hasArg: 1, id: 'vk:system-map' },
];

export function defaultEngineOptions(): EngineOptions {
  return { engine: 'auto', consoleLog: null, expect: null, timeout: null, accel: 'auto', disks: [], systemMap: null };
}

export function applyEngineOption(o: EngineOptions, id: string, value: string | null): void {
  switch (id) {
    case 'vk:engine':
      if (!['auto', 'qemu', 'v86', 'verify'].includes(value!)) {
        throw new CommandLineError(`vkexec: --engine must be auto, qemu, v86 or verify (got '${value}')`, false);
      }
      o.engine = value as EngineChoice;
      return;
    case 'vk:console':
      o.consoleLog = value!;
      return;
    case 'vk:expect':
      try {
        new RegExp(value!);
      } catch (e) {
        throw new CommandLineError(`vkexec: --expect is not a valid regular expression: ${(e as Error).message}`, false);
      }
      o.expect = value!;
      return;
    case 'vk:timeout': {
      const n = Number(value);
      if (!Number.isFinite(n) || n <= 0) throw new CommandLineError(`vkexec: --timeout takes a positive number of seconds (got '${value}')`, false);
      o.timeout = n;
      return;
    }
    case 'vk:accel':
      if (!['auto', 'kvm', 'tcg'].includes(value!)) throw new CommandLineError(`vkexec: --accel must be auto, kvm or tcg (got '${value}')`, false);
      o.accel = value as EngineOptions['accel'];
      return;
    case 'vk:system-map':
      try {
        fs.accessSync(value!, fs.constants.R_OK);
      } catch (e) {
        throw new UsageError(`--system-map ${value}: ${fileErrorText(e)}`, { hint: "give the kernel's System.map, or its vmlinux with symbols (Debian: linux-image-*-dbg)" });
      }
      o.systemMap = value!;
      return;
    case 'vk:disk':
      checkDisk(value!); // before any engine starts: QEMU would only say "Could not open"
      o.disks.push(value!);
      return;
  }
}

/** --disk FILE: an existing raw image (regular file or block device) the guest may write. */
export function checkDisk(file: string): void {
  let st: Stats;
  try {
    st = fs.statSync(file);
    fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK);
  } catch (e) {
    throw new UsageError(`--disk ${file}: ${fileErrorText(e)}`, { hint: 'create the image first, e.g. truncate -s 2G dump.img (sparse; the dump is written from offset 0)' });
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new UsageError(`--disk ${file}: not a regular file or block device`, { hint: 'give a raw disk image file' });
}
