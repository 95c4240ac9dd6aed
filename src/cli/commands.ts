// Subcommands beyond `machine`: boot (load + exec in one step, boot-cmd.ts) and probe-kernel, and the others'
// builders. Each is imported when its word is on the command line (start-up: `vkexec machine show` must not
// load the loaders, the inspector and the checker); `vkexec help` builds them all for the listing.

import type { Command } from 'commander';
import type { GlobalOpts } from './global-opts.js';
import type { Out } from './output.js';

const { createRequire } = process.getBuiltinModule('node:module');

type Build = (g: () => GlobalOpts, out: Out, setExit: (code: number) => void, next?: string) => Promise<Command>;

/** `machine`'s own subcommands (machine-cmd.ts); keys, trust-loader and panic live in their own modules. */
const MACHINE_OWN = ['init', 'show', 'set', 'sysctl', 'destroy'];

/** `vkexec machine`, with keys, trust-loader and panic unless the word after `machine` (`next`) is another one. */
async function machineCommand(g: () => GlobalOpts, out: Out, setExit: (code: number) => void, next?: string): Promise<Command> {
  // require(): `machine show` loads its modules synchronously, without the asynchronous loader (main.ts).
  const cmd = (createRequire(import.meta.url)('./machine-cmd.js') as typeof import('./machine-cmd.js')).machineCommand(g, out);
  if (next !== undefined && MACHINE_OWN.includes(next)) return cmd;
  cmd.addCommand((await import('./keys-cmd.js')).keysCommand(g, out));
  cmd.addCommand((await import('./machine-trust.js')).trustLoaderCommand(g, out));
  cmd.addCommand((await import('./panic-cmd.js')).panicCommand(g, out, setExit));
  return cmd;
}

async function bootCommand(g: () => GlobalOpts, out: Out, setExit: (code: number) => void): Promise<Command> {
  const { Command } = await import('commander');
  // boot's options are the kexec command line's (boot-cmd.ts parses them with kexec-options.ts), so commander
  // passes them through untouched.
  return new Command('boot')
    .description('load a kernel and execute it in one step: vkexec -l ... then vkexec -e, with all their options; a fresh machine per run unless --machine is given (vkexec boot --help)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'kexec load and engine options, --probe, --mem SIZE, KERNEL')
    .action(async (args: string[]) => {
      try {
        setExit(await (await import('./boot-cmd.js')).bootMain(args, g(), out));
      } catch (e) {
        setExit((await import('./report.js')).reportFailure(e, out));
      }
    });
}

async function probeCommand(g: () => GlobalOpts, out: Out): Promise<Command> {
  const { Command } = await import('commander');
  return new Command('probe-kernel')
    .description("write vkexec's probe kernel (a bzImage, --elf for the ELF variant, --multiboot for the multiboot one) to a file")
    .requiredOption('--out <file>', 'where to write it')
    .option('--elf', 'the ELF vmlinux variant')
    .option('--multiboot', 'the ELF32 variant with Multiboot v1 and v2 headers (load it with --module=...)')
    .action(async (o: { out: string; elf?: boolean; multiboot?: boolean }) => {
      const { UsageError } = await import('../errno.js');
      if (o.elf && o.multiboot) throw new UsageError('probe-kernel: --elf and --multiboot name two different images', { hint: 'give one of them' });
      const { probeKernelPath } = await import('../arch/x86/probe-kernel.js');
      (await import('node:fs')).copyFileSync(probeKernelPath(o.multiboot ? 'multiboot' : o.elf ? 'elf' : 'bzImage'), o.out);
      if (!g().json) out.line((await import('./output.js')).safeText(`wrote ${o.out}`));
    });
}

/** Every subcommand's builder, in the order `vkexec help` lists them. */
const BUILDERS: Record<string, Build> = {
  machine: machineCommand,
  boot: bootCommand,
  'probe-kernel': probeCommand,
  vmcore: async (g, out, setExit) => (await import('./vmcore-cmd.js')).vmcoreCommand(g, out, setExit),
  'kdump-size': async (g, out, setExit) => (await import('./kdump-size.js')).kdumpSizeCommand(g, out, setExit),
  inspect: async (g, out) => (await import('./inspect-cmd.js')).inspectCommand(g, out),
  check: async (g, out, setExit) => (await import('./check-cmd.js')).checkCommand(g, out, setExit),
};

/** The subcommands to register for argv[index] (a SUBCOMMANDS entry): that one, or all of them for `help`. */
export async function commandsFor(argv: readonly string[], index: number, g: () => GlobalOpts, out: Out, setExit: (code: number) => void): Promise<Command[]> {
  const build = BUILDERS[argv[index]!];
  return build ? [await build(g, out, setExit, argv[index + 1])] : Promise.all(Object.values(BUILDERS).map((b) => b(g, out, setExit)));
}
