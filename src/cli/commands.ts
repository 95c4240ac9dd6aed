// Subcommands beyond `machine`: boot (load + exec in one step) and probe-kernel.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { UsageError } from '../errno.js';
import { probeKernelPath } from '../arch/x86/probe-kernel.js';
import { doLoad } from '../kexec/load.js';
import { defaultLoadOptions, type KexecLoadRequest } from '../kexec/load-request.js';
import { builtinLoaders } from '../loaders/index.js';
import { resolveMachineDir } from '../vm/machine/store.js';
import { type MachineArch } from '../vm/machine/machine-config.js';
import { machineExists, readState } from '../vm/machine/machine.js';
import { initMachine } from './machine-cmd.js';
import type { GlobalOpts } from './global-opts.js';
import { applyEngineOption, defaultEngineOptions, type EngineOptions } from './engine-options.js';
import { kernelKexec } from './exec.js';
import { inspectCommand } from './inspect-cmd.js';
import { reportFailure } from './report.js';
import type { Out } from './output.js';
import { vmcoreCommand } from './vmcore-cmd.js';
import { kdumpSizeCommand } from './kdump-size.js';

interface BootOpts {
  probe?: boolean;
  initrd?: string;
  append?: string;
  type?: string;
  engine?: string;
  expect?: string;
  timeout?: string;
  console?: string;
  accel?: string;
  mem?: string;
  debug?: boolean;
  entry32bit?: boolean;
  fast?: boolean;
  noChecks?: boolean;
}

/** The machine for `boot` without --machine: a fresh one per run, x86_64 when QEMU can run it, else i386 for v86. */
async function ephemeralArch(engine: EngineOptions['engine']): Promise<MachineArch> {
  if (engine === 'v86') return 'i386';
  if (engine === 'qemu' || engine === 'verify') return 'x86_64';
  const { QemuEngine } = await import('../vm/engines/qemu.js');
  const qemu = await new QemuEngine().unavailable({ mode: 'long64', entry: 0n });
  return qemu ? 'i386' : 'x86_64';
}

export function extraCommands(g: () => GlobalOpts, out: Out, setExit: (code: number) => void): Command[] {
  const boot = new Command('boot')
    .description('load a kernel and execute it in one step (vkexec -l ... then vkexec -e); a fresh machine per run unless --machine is given')
    .argument('[kernel]', 'kernel image (bzImage, ELF vmlinux); omit with --probe')
    .option('--probe', "boot vkexec's own probe kernel, which reports what it was handed")
    .option('--initrd <file>', 'initial ramdisk')
    .option('--append <text>', 'kernel command line')
    .option('-t, --type <type>', 'force the file type')
    .addOption(new Option('--engine <engine>').choices(['auto', 'qemu', 'v86', 'verify']).default('auto'))
    .option('--expect <regex>', 'succeed at the first console match')
    .option('--timeout <sec>', 'give up after SEC seconds (exit 124)')
    .option('--console <file>', 'copy the guest console to FILE')
    .addOption(new Option('--accel <accel>').choices(['auto', 'kvm', 'tcg']))
    .option('--mem <size>', 'RAM of the fresh machine (default 512M)')
    .option('--entry-32bit', 'use the 32-bit boot protocol entry')
    .option('--fast', "bzImage64: decompress the kernel here and enter its vmlinux directly (no KASLR)")
    .option('-i, --no-checks', 'purgatory skips its sha256 check')
    .option('-d, --debug', "kexec-tools' debug output")
    .action(async (kernel: string | undefined, o: BootOpts & { checks?: boolean }) => {
      const eng = defaultEngineOptions();
      for (const [k, id] of [['engine', 'vk:engine'], ['expect', 'vk:expect'], ['timeout', 'vk:timeout'], ['console', 'vk:console'], ['accel', 'vk:accel']] as const) {
        if (o[k] !== undefined) applyEngineOption(eng, id, o[k]!);
      }
      if (!kernel && !o.probe) throw new UsageError('boot needs a KERNEL or --probe');
      if (kernel && o.probe) throw new UsageError('give either a KERNEL or --probe, not both');
      const kernelPath = kernel ?? probeKernelPath('bzImage');
      const explicit = g().machine ?? process.env.VKEXEC_MACHINE ?? null;
      let dir: string;
      let temp: string | null = null;
      if (explicit) {
        dir = resolveMachineDir(explicit);
        if (!machineExists(dir)) initMachine(dir, { ...(o.mem ? { mem: o.mem } : {}) });
      } else {
        temp = fs.mkdtempSync(path.join(os.tmpdir(), 'vkexec-boot-'));
        dir = path.join(temp, 'machine');
        initMachine(dir, { arch: await ephemeralArch(eng.engine), ...(o.mem ? { mem: o.mem } : {}) });
      }
      try {
        const state = readState(dir);
        try {
          const request: KexecLoadRequest = {
            ...defaultLoadOptions(),
            kernelPath,
            syscall: 'load',
            type: o.type ?? null,
            initrd: o.initrd ?? null,
            append: o.append ?? null,
            skipChecks: o.checks === false,
            entry32bit: Boolean(o.entry32bit),
            fast: Boolean(o.fast),
            argsMode: 'linux',
            debug: Boolean(o.debug),
          };
          doLoad(request, { dir, state }, builtinLoaders(state.config.arch), (l) => out.line(l));
        } catch (e) {
          setExit(reportFailure(e, out));
          return;
        }
        setExit(await kernelKexec(dir, { engine: eng, json: g().json }, out));
      } finally {
        if (temp) fs.rmSync(temp, { recursive: true, force: true });
      }
    });

  const probe = new Command('probe-kernel')
    .description("write vkexec's probe kernel (a bzImage, or --elf for the ELF variant) to a file")
    .requiredOption('--out <file>', 'where to write it')
    .option('--elf', 'the ELF vmlinux variant')
    .action((o: { out: string; elf?: boolean }) => {
      fs.copyFileSync(probeKernelPath(o.elf ? 'elf' : 'bzImage'), o.out);
      if (!g().json) out.line(`wrote ${o.out}`);
    });
  return [boot, probe, vmcoreCommand(g, out, setExit), kdumpSizeCommand(g, out, setExit), inspectCommand(g, out)];
}

