// Engine choice for -e/-f/boot/panic: an explicit --engine is used or refused with its reason; auto takes QEMU
// when it can run the entry state, else the embedded v86, else a clear error naming what to install. Never a
// silent fall back to verify, which runs no code.

import { UsageError } from '../../errno.js';
import type { EntryState } from '../memory/memory-image.js';
import type { Engine, EngineName } from './engine.js';
import { VerifyEngine } from './verify.js';

export async function selectEngine(choice: EngineName | 'auto', entry: EntryState): Promise<Engine> {
  // QEMU's and v86's modules load only when chosen (v86 is large).
  const make = async (n: EngineName): Promise<Engine> =>
    n === 'qemu' ? new (await import('./qemu.js')).QemuEngine() : n === 'v86' ? new (await import('./v86.js')).V86Engine() : new VerifyEngine();
  if (choice !== 'auto') {
    const e = await make(choice);
    const why = await e.unavailable(entry);
    if (why) throw new UsageError(`engine ${choice} cannot run this image: ${why}`, { hint: choice === 'v86' ? 'use --engine qemu' : 'pick another engine with --engine' });
    return e;
  }
  const reasons: string[] = [];
  for (const n of ['qemu', 'v86'] as const) {
    const e = await make(n);
    const why = await e.unavailable(entry);
    if (!why) return e;
    reasons.push(`${n}: ${why}`);
  }
  throw new UsageError(`no engine can execute this ${entry.mode === 'long64' ? '64-bit' : '32-bit'} hand-off: ${reasons.join('; ')}`, {
    hint: 'apt-get install qemu-system-x86 (runs every image), or use --engine verify to check the layout without running it',
  });
}
