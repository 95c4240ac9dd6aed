// Subcommands beyond `machine`: boot (load + exec in one step, boot-cmd.ts) and probe-kernel.

import * as fs from 'node:fs';
import { Command } from 'commander';
import { probeKernelPath } from '../arch/x86/probe-kernel.js';
import { UsageError } from '../errno.js';
import type { GlobalOpts } from './global-opts.js';
import { bootMain } from './boot-cmd.js';
import { inspectCommand } from './inspect-cmd.js';
import { reportFailure } from './report.js';
import { safeText, type Out } from './output.js';
import { vmcoreCommand } from './vmcore-cmd.js';
import { kdumpSizeCommand } from './kdump-size.js';
import { checkCommand } from './check-cmd.js';

export function extraCommands(g: () => GlobalOpts, out: Out, setExit: (code: number) => void): Command[] {
  // boot's options are the kexec command line's (boot-cmd.ts parses them with kexec-options.ts), so commander
  // passes them through untouched.
  const boot = new Command('boot')
    .description('load a kernel and execute it in one step: vkexec -l ... then vkexec -e, with all their options; a fresh machine per run unless --machine is given (vkexec boot --help)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'kexec load and engine options, --probe, --mem SIZE, KERNEL')
    .action(async (args: string[]) => {
      try {
        setExit(await bootMain(args, g(), out));
      } catch (e) {
        setExit(reportFailure(e, out));
      }
    });

  const probe = new Command('probe-kernel')
    .description("write vkexec's probe kernel (a bzImage, --elf for the ELF variant, --multiboot for the multiboot one) to a file")
    .requiredOption('--out <file>', 'where to write it')
    .option('--elf', 'the ELF vmlinux variant')
    .option('--multiboot', 'the ELF32 variant with Multiboot v1 and v2 headers (load it with --module=...)')
    .action((o: { out: string; elf?: boolean; multiboot?: boolean }) => {
      if (o.elf && o.multiboot) throw new UsageError('probe-kernel: --elf and --multiboot name two different images', { hint: 'give one of them' });
      fs.copyFileSync(probeKernelPath(o.multiboot ? 'multiboot' : o.elf ? 'elf' : 'bzImage'), o.out);
      if (!g().json) out.line(safeText(`wrote ${o.out}`));
    });
  return [boot, probe, vmcoreCommand(g, out, setExit), kdumpSizeCommand(g, out, setExit), inspectCommand(g, out), checkCommand(g, out, setExit)];
}

