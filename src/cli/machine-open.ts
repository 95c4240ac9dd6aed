// The machine a command acts on: --machine DIR, $VKEXEC_MACHINE or the default. Only the default machine is
// created on first use: a named directory that holds no machine is an error (a mistyped path, or one whose
// `machine init` failed, must not silently become a default 512 MiB machine).

import { type MachineState, defaultConfig, machineExists, newState, readState, writeState } from '../vm/machine/machine.js';
import { MachineDirError, resolveMachineDir } from '../vm/machine/store.js';
import { safeText, type Out } from './output.js';

// Built-ins by process.getBuiltinModule, not import: no ES module facade to build (node:fs's loads its streams)
// and no import to resolve, on every command's path (issue 15, bench/startup.ts).
const fs = process.getBuiltinModule('node:fs');

export interface OpenMachine {
  dir: string;
  state: MachineState;
}

/** Whether the machine was named (--machine DIR or $VKEXEC_MACHINE) rather than the default one. */
export function machineNamed(explicit: string | null | undefined): boolean {
  return Boolean(explicit) || Boolean(process.env.VKEXEC_MACHINE);
}

/** Opens the machine; the default one is created in a missing or empty directory (never over other files). */
export function openMachine(explicit: string | null, out: Out): OpenMachine {
  const dir = resolveMachineDir(explicit ?? undefined);
  if (!machineNamed(explicit) && !machineExists(dir)) {
    if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
      throw new MachineDirError(dir, `${dir} is not empty and holds no machine (machine.json is missing)`, 'point --machine at an existing machine, or move the files away');
    }
    fs.mkdirSync(dir, { recursive: true });
    writeState(dir, newState(defaultConfig()));
    if (!out.json) out.note(safeText(`created a default machine at ${dir} (512 MiB, x86_64); see vkexec machine show`));
  }
  return { dir, state: readState(dir) };
}
