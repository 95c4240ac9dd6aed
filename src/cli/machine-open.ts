// The machine a command acts on: --machine DIR, $VKEXEC_MACHINE or the default, created on first use.

import * as fs from 'node:fs';
import { type MachineState, defaultConfig, machineExists, newState, readState, writeState } from '../vm/machine/machine.js';
import { MachineDirError, resolveMachineDir } from '../vm/machine/store.js';
import type { Out } from './output.js';

export interface OpenMachine {
  dir: string;
  state: MachineState;
}

/** Opens the machine, creating a default one in an empty or missing directory (never over other files). */
export function openMachine(explicit: string | null, out: Out): OpenMachine {
  const dir = resolveMachineDir(explicit ?? undefined);
  if (!machineExists(dir)) {
    if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
      throw new MachineDirError(dir, `${dir} is not empty and holds no machine (machine.json is missing)`, 'point --machine at an empty or new directory, or at an existing machine');
    }
    fs.mkdirSync(dir, { recursive: true });
    writeState(dir, newState(defaultConfig()));
    if (!out.json) out.note(`created a default machine at ${dir} (512 MiB, x86_64); see vkexec machine show`);
  }
  return { dir, state: readState(dir) };
}
