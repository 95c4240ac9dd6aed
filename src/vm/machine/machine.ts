// A persistent emulated PC: its configuration, sysctls, keyrings and loaded kexec images, read from and written
// to the machine directory. Only a finished syscall changes it (atomic replace of machine.json).

import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type MachineConfig,
  type Sysctls,
  DEFAULT_CMDLINE,
  DEFAULT_MEM,
  defaultIomem,
  defaultSysctls,
} from './machine-config.js';
import { type Kimage, KEXEC_SEGMENT_MAX } from './kimage.js';
import type { SerializedKeyrings } from '../../sig/keyring.js';
import { STATE_FILE, MachineDirError, decodeJson, encodeJson, writeFileAtomic, blobPath, collectBlobs } from './store.js';
import { fileErrorText } from '../../errno.js';
import { DEFAULT_KERNEL_RELEASE, isKernelRelease, osreleaseFor } from './kernel-release.js';

export interface MachineState {
  version: 1;
  config: MachineConfig;
  sysctl: Sysctls;
  /** The kernel's keyrings as src/sig/keyring.ts serialises them; null until a key is added. */
  keyrings: SerializedKeyrings | null;
  images: { normal: Kimage | null; crash: Kimage | null };
}

export function defaultConfig(): MachineConfig {
  return {
    arch: 'x86_64',
    memBytes: DEFAULT_MEM,
    cpus: 1,
    cmdline: DEFAULT_CMDLINE,
    iomem: defaultIomem(DEFAULT_MEM),
    lockdown: 'none',
    secureBoot: false,
    sigEnforce: false,
    imaAppraise: false,
    osrelease: osreleaseFor(DEFAULT_KERNEL_RELEASE),
    kernelRelease: DEFAULT_KERNEL_RELEASE,
  };
}

export function newState(config: MachineConfig): MachineState {
  return { version: 1, config, sysctl: defaultSysctls(), keyrings: null, images: { normal: null, crash: null } };
}

export function machineExists(dir: string): boolean {
  return fs.existsSync(path.join(dir, STATE_FILE));
}

export function readState(dir: string): MachineState {
  const file = path.join(dir, STATE_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new MachineDirError(dir, `no machine at ${dir} (${STATE_FILE} is missing)`, `create one with: vkexec --machine ${dir} machine init`);
    }
    throw new MachineDirError(dir, `cannot read ${file}: ${fileErrorText(e)}`, 'check the permissions of the machine directory');
  }
  let raw: unknown;
  try {
    raw = decodeJson(text);
  } catch (e) {
    throw corrupt(dir, `${STATE_FILE} is not valid JSON (${(e as Error).message})`);
  }
  const problem = validateState(raw, dir);
  if (problem) throw corrupt(dir, problem);
  return raw as MachineState;
}

function corrupt(dir: string, what: string): MachineDirError {
  return new MachineDirError(
    dir,
    `the machine directory ${dir} is corrupt: ${what}`,
    `nothing was changed; recreate it with: vkexec --machine ${dir} machine destroy && vkexec --machine ${dir} machine init`,
  );
}

export function writeState(dir: string, state: MachineState): void {
  writeFileAtomic(path.join(dir, STATE_FILE), encodeJson(state));
  collectBlobs(dir, referencedBlobs(state));
}

export function referencedBlobs(state: MachineState): Set<string> {
  const out = new Set<string>();
  for (const img of [state.images.normal, state.images.crash]) {
    if (!img) continue;
    for (const s of img.segments) if (s.blob) out.add(s.blob);
    if (img.indirectionBlob) out.add(img.indirectionBlob);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Validation: a hand-edited or truncated machine.json must be refused with the field that is wrong.

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isBig = (v: unknown): v is bigint => typeof v === 'bigint';

function validateResources(list: unknown, where: string): string | null {
  if (!Array.isArray(list)) return `${where} is not a list`;
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    if (!isObj(r) || !isBig(r.start) || !isBig(r.end) || typeof r.name !== 'string' || r.end < r.start) {
      return `${where}[${i}] is not a resource {start, end, name, children}`;
    }
    const sub = validateResources(r.children, `${where}[${i}].children`);
    if (sub) return sub;
  }
  return null;
}

function validateImage(img: unknown, where: string, dir: string): string | null {
  if (img === null) return null;
  if (!isObj(img)) return `${where} is not an image`;
  if (img.type !== 'normal' && img.type !== 'crash') return `${where}.type is not normal/crash`;
  if (!isBig(img.start) || !isBig(img.head) || !isBig(img.controlPage)) return `${where}: start/head/controlPage missing`;
  if (!Array.isArray(img.segments) || img.segments.length > KEXEC_SEGMENT_MAX) return `${where}.segments is not a list of at most ${KEXEC_SEGMENT_MAX}`;
  for (const [i, s] of (img.segments as unknown[]).entries()) {
    if (!isObj(s) || !isBig(s.mem) || !isBig(s.memsz) || typeof s.bufsz !== 'number') return `${where}.segments[${i}] is malformed`;
    if (s.blob !== null && (typeof s.blob !== 'string' || !fs.existsSync(blobPath(dir, s.blob)))) {
      return `${where}.segments[${i}] data blob ${String(s.blob)} is missing from blobs/`;
    }
  }
  if (!Array.isArray(img.indirectionPages) || !Array.isArray(img.sourceRuns)) return `${where}: indirection data missing`;
  if (img.indirectionBlob !== null && (typeof img.indirectionBlob !== 'string' || !fs.existsSync(blobPath(dir, img.indirectionBlob)))) {
    return `${where}.indirectionBlob is missing from blobs/`;
  }
  return null;
}

function validateState(raw: unknown, dir: string): string | null {
  if (!isObj(raw)) return 'top level is not an object';
  if (raw.version !== 1) return `unknown version ${JSON.stringify(raw.version)} (this vkexec reads version 1)`;
  const c = raw.config;
  if (!isObj(c)) return 'config is missing';
  if (c.arch !== 'x86_64' && c.arch !== 'i386') return 'config.arch is not x86_64 or i386';
  if (!isBig(c.memBytes)) return 'config.memBytes is missing';
  if (typeof c.cpus !== 'number' || c.cpus < 1) return 'config.cpus is not a positive number';
  if (typeof c.cmdline !== 'string') return 'config.cmdline is not a string';
  const r = validateResources(c.iomem, 'config.iomem');
  if (r) return r;
  if (c.firmwareMap !== undefined && (!Array.isArray(c.firmwareMap) || !c.firmwareMap.every((e) => isObj(e) && isBig(e.start) && isBig(e.end) && typeof e.type === 'string'))) {
    return 'config.firmwareMap is not a list of {start, end, type}';
  }
  if (c.acpiRsdp !== undefined && !isBig(c.acpiRsdp)) return 'config.acpiRsdp is not a u64';
  if (!['none', 'integrity', 'confidentiality'].includes(c.lockdown as string)) return 'config.lockdown is invalid';
  for (const k of ['secureBoot', 'sigEnforce', 'imaAppraise'] as const) if (typeof c[k] !== 'boolean') return `config.${k} is not a boolean`;
  if (c.kernelRelease !== undefined && !isKernelRelease(c.kernelRelease)) return 'config.kernelRelease is not 6.1 or 6.12';
  const s = raw.sysctl;
  if (!isObj(s) || (s.kexec_load_disabled !== 0 && s.kexec_load_disabled !== 1)) return 'sysctl.kexec_load_disabled is invalid';
  if (typeof s.kexec_load_limit_panic !== 'number' || typeof s.kexec_load_limit_reboot !== 'number') return 'sysctl load limits are invalid';
  if (raw.keyrings !== null && !isObj(raw.keyrings)) return 'keyrings is not an object';
  const imgs = raw.images;
  if (!isObj(imgs)) return 'images is missing';
  return validateImage(imgs.normal ?? null, 'images.normal', dir) ?? validateImage(imgs.crash ?? null, 'images.crash', dir);
}
