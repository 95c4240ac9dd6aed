// `vkexec machine panic`: the machine's kernel panics and runs __crash_kexec (kernel/crash_core.c): with the
// kexec lock free and a crash image loaded, machine_crash_shutdown saves the CPUs' registers in crash_notes,
// vmcoreinfo is finalised, and machine_kexec enters the crash image with all of RAM left as it was. The
// machine directory is not changed: the crash image stays loaded, so the same panic can be replayed.

import { Command, Option } from 'commander';
import { UsageError } from '../errno.js';
import { parseFillPattern, type FillPattern } from '../vm/memory/fill-pattern.js';
import { crashKexecMemory } from '../vm/kernel/panic.js';
import { resolveMachineDir } from '../vm/machine/store.js';
import { machineExists } from '../vm/machine/machine.js';
import { applyEngineOption, defaultEngineOptions, type EngineOptions } from './engine-options.js';
import { kernelKexec, type KernelKexecRequest } from './exec.js';
import type { GlobalOpts } from './global-opts.js';
import type { Out } from './output.js';
import { catchInterrupts } from './signals.js';

export interface PanicCliOpts {
  fill?: string;
  engine?: string;
  expect?: string;
  timeout?: string;
  console?: string;
  accel?: string;
  disk?: string[];
  systemMap?: string;
}

/** Engine options from commander's parsed values, checked as the kexec-style parser checks them. */
export function engineOptionsFrom(o: PanicCliOpts): EngineOptions {
  const eng = defaultEngineOptions();
  for (const [k, id] of [['engine', 'vk:engine'], ['expect', 'vk:expect'], ['timeout', 'vk:timeout'], ['console', 'vk:console'], ['accel', 'vk:accel'], ['systemMap', 'vk:system-map']] as const) {
    const v = o[k];
    if (v !== undefined) applyEngineOption(eng, id, v);
  }
  for (const d of o.disk ?? []) applyEngineOption(eng, 'vk:disk', d);
  return eng;
}

/** The request kernelKexec runs for a panic: the crash image plus the old kernel's RAM. */
export function panicRequest(engine: EngineOptions, json: boolean, fill: FillPattern | null): KernelKexecRequest {
  return {
    engine,
    json,
    crash: true,
    prepare: (state, memory) => crashKexecMemory(state.config, memory, { fill, crashTime: BigInt(Math.floor(Date.now() / 1000)) }),
  };
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function panicCommand(g: () => GlobalOpts, out: Out, setExit: (code: number) => void): Command {
  return new Command('panic')
    .description('panic the machine: run the loaded crash kernel (vkexec -p) with the old RAM in place, as __crash_kexec does')
    .option('--fill <pattern>', 'first fill the old RAM outside the crash region: "addr" (each 8-byte word holds its physical address) or "addr^KEY"')
    .addOption(new Option('--engine <engine>').choices(['auto', 'qemu', 'v86', 'verify']).default('auto'))
    .option('--expect <regex>', 'succeed at the first console match')
    .option('--timeout <sec>', 'give up after SEC seconds (exit 124)')
    .option('--console <file>', 'copy the guest console to FILE')
    .addOption(new Option('--accel <accel>').choices(['auto', 'kvm', 'tcg']))
    .option('--disk <file>', 'attach a raw disk image (virtio-blk on QEMU); repeatable', collect, [])
    .option('--system-map <file>', "the crash kernel's System.map or vmlinux with symbols, for the post-mortem")
    .action(async (o: PanicCliOpts) => {
      catchInterrupts();
      const dir = resolveMachineDir(g().machine ?? undefined);
      if (!machineExists(dir)) throw new UsageError(`no machine at ${dir}`, { hint: `create one with: vkexec --machine ${dir} machine init --crashkernel 256M` });
      const fill = o.fill === undefined ? null : parseFillPattern(o.fill);
      const engine = engineOptionsFrom(o);
      setExit(await kernelKexec(dir, panicRequest(engine, g().json, fill), out, 'crash'));
    });
}
