// A persistent emulated PC: its configuration, sysctls, keyrings and loaded kexec images, read from and written
// to the machine directory. Only a finished syscall changes it (atomic replace of machine.json).

import {
  type MachineConfig,
  type Sysctls,
  DEFAULT_CMDLINE,
  DEFAULT_MEM,
  defaultIomem,
  defaultSysctls,
} from './machine-config.js';
import type { Kimage } from './kimage.js';
import { validateState } from './validate.js';
import type { SerializedKeyrings } from '../../sig/keyring.js';
import { STATE_FILE, MachineDirError, decodeJson, encodeJson, writeFileAtomic, collectBlobs, readStateText } from './store.js';
import { DEFAULT_KERNEL_RELEASE, osreleaseFor } from './kernel-release.js';

// Built-ins by process.getBuiltinModule, not import: no ES module facade to build (node:fs's loads its streams)
// and no import to resolve, on every command's path (issue 15, bench/startup.ts).
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

export interface MachineState {
  version: 1;
  config: MachineConfig;
  sysctl: Sysctls;
  /** The kernel's keyrings as src/sig/keyring.ts serialises them; null until a key is added. */
  keyrings: SerializedKeyrings | null;
  images: { normal: Kimage | null; crash: Kimage | null };
  /** sha256 of the VKEXEC_LOADERS modules a signature-enforcing machine runs (machine trust-loader). */
  trustedLoaders?: string[];
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

/** How often a reader reads machine.json again when it changed under a problem (see readState). */
const STATE_REREADS = 8;

/**
 * machine.json, validated. Readers take no lock, and a holder writes new blobs, renames the new state over the
 * old, then collects the old state's blobs: between our read of machine.json and our check of its blobs, they
 * may be gone with a newer state already in place. So a problem is believed (corrupt) only when machine.json
 * reads the same again; when it changed, the newer state is read (16 concurrent loads made a reader call a
 * sound machine corrupt, issue 11).
 */
export function readState(dir: string): MachineState {
  for (let attempt = 0; ; attempt++) {
    const text = readStateText(dir);
    let raw: unknown;
    let problem: string | null = null;
    try {
      raw = decodeJson(text);
    } catch (e) {
      raw = undefined;
      problem = `${STATE_FILE} is not valid JSON (${(e as Error).message})`;
    }
    problem ??= validateState(raw, dir);
    if (!problem) return raw as MachineState;
    if (attempt < STATE_REREADS && readStateText(dir) !== text) continue;
    throw corrupt(dir, problem);
  }
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
