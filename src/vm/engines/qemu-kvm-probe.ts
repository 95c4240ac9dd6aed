// Whether KVM can run guests here: decided once per QEMU binary and process by running a tiny guest that
// writes a known code to isa-debug-exit.

import { constants as fsc } from 'node:fs';
import { access } from 'node:fs/promises';
import type { MemoryImage } from '../memory/memory-image.js';
import { DEBUG_EXIT_PORT } from './qemu-args.js';
import { runQemu } from './qemu-run.js';

const KVM_PROBE_TIMEOUT_MS = 3000;
const KVM_PROBE_CODE = 0x2a;
const KVM_PROBE_ENTRY = 0x100000n;

/** The probe guest (entered in long64): writes KVM_PROBE_CODE to isa-debug-exit. */
const KVM_PROBE_PAYLOAD = Uint8Array.from([
  0xb0, KVM_PROBE_CODE, // mov $0x2a, %al
  0x66, 0xba, DEBUG_EXIT_PORT & 0xff, DEBUG_EXIT_PORT >> 8, // mov $0x501, %dx
  0xee, // out %al, (%dx)
  0xf4, // hlt
  0xeb, 0xfd, // jmp back to hlt
]);

const kvmVerdicts = new Map<string, Promise<string | null>>();

/** Why KVM cannot run guests with `binary`, or null. */
export function kvmUnusable(binary: string): Promise<string | null> {
  let p = kvmVerdicts.get(binary);
  if (!p) {
    p = probeKvm(binary);
    kvmVerdicts.set(binary, p);
  }
  return p;
}

async function probeKvm(binary: string): Promise<string | null> {
  try {
    await access('/dev/kvm', fsc.R_OK | fsc.W_OK);
  } catch {
    return '/dev/kvm is missing or not accessible';
  }
  const image: MemoryImage = {
    ramSize: 16n << 20n,
    e820: [],
    extents: [{ addr: KVM_PROBE_ENTRY, length: KVM_PROBE_PAYLOAD.length, kind: 'bytes', data: KVM_PROBE_PAYLOAD }],
  };
  try {
    const r = await runQemu(binary, image, { mode: 'long64', entry: KVM_PROBE_ENTRY }, { timeoutMs: KVM_PROBE_TIMEOUT_MS }, 'kvm', []);
    if (r.debugExitCode === KVM_PROBE_CODE) return null;
    return r.status === 'timeout'
      ? `the probe guest did not finish within ${KVM_PROBE_TIMEOUT_MS / 1000} s`
      : `the probe guest ended with '${r.status}' (${r.details[r.details.length - 1] ?? ''})`;
  } catch (err) {
    return (err as Error).message;
  }
}
