// `vkexec boot [options] KERNEL`: exactly `vkexec -l [options] KERNEL` followed by `vkexec -e [options]` on a
// fresh temporary machine (or on --machine DIR). Its options are the kexec command line's (kexec-options.ts:
// the same table, parser and syscall choice, so `boot -s`, `--reuse-cmdline`, `--mem-min`, `--disk` are the
// same as with -l and -e) plus two of its own, --probe and --mem; the mode options (-l -e -p -u -f -S ...)
// are boot's job and refused. The engine is chosen before anything is built: an image no available engine
// can run is refused at once with what to install.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError } from '../errno.js';
import { probeKernelPath } from '../arch/x86/probe-kernel.js';
import { readField } from '../formats/struct.js';
import { SETUP_HEADER, XLF_KERNEL_64 } from '../formats/setup-header.js';
import { resolveMachineDir } from '../vm/machine/store.js';
import { machineExists, readState } from '../vm/machine/machine.js';
import { initMachine } from './machine-cmd.js';
import type { GlobalOpts } from './global-opts.js';
import type { EngineChoice } from './engine-options.js';
import { parseKexecArgs, type KexecRequest } from './kexec-options.js';
import type { Out } from './output.js';
import { catchInterrupts } from './signals.js';

export const BOOT_USAGE = `Usage: vkexec boot [kexec load options] [engine options] [--mem SIZE] KERNEL | --probe
Loads KERNEL as \`vkexec -l\` does (kexec_file_load first, then kexec_load; -s, -c, -a, --initrd, --append,
--reuse-cmdline, -t, --mem-min, --mem-max, --entry-32bit, --fast, -i, -d ...) and executes it as \`vkexec -e\`
does (--engine, --expect, --timeout, --console, --accel, --disk), on a fresh temporary machine unless
--machine DIR is given. Its own options:
    --probe       boot vkexec's probe kernel, which reports what it was handed
    --mem SIZE    RAM of a machine boot creates (default 512M)
See \`vkexec --help\` for every load and engine option and man vkexec(8) for the exit statuses.`;

interface BootArgs {
  probe: boolean;
  mem: string | null;
  rest: string[];
}

/** Takes boot's own options out of the argument list; the rest is the kexec command line (up to "--"). */
function splitBootArgs(args: readonly string[]): BootArgs {
  const b: BootArgs = { probe: false, mem: null, rest: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      b.rest.push(...args.slice(i));
      break;
    }
    if (a === '--probe') b.probe = true;
    else if (a === '--mem') {
      if (i + 1 >= args.length) throw new UsageError('boot: --mem needs a SIZE (e.g. 1G)');
      b.mem = args[++i]!;
    } else if (a.startsWith('--mem=')) b.mem = a.slice(6);
    else b.rest.push(a);
  }
  return b;
}

/** The mode options boot does itself: refused with the command that has them. */
function refuseModes(r: KexecRequest): void {
  const given = [
    [r.hasOptLoad, '-l'],
    [r.exec || !r.shutdown, '-e/-f'],
    [r.unload, '-u'],
    [r.crash, '-p'],
    [r.status, '-S'],
    [r.preserveContext || r.jumpBackHelper, '--load-preserve-context/--load-jump-back-helper'],
    [r.printCkrSize, '--print-ckr-size'],
  ] as const;
  const hit = given.find(([on]) => on);
  if (hit) {
    throw new UsageError(`boot: ${hit[1]} is not a boot option: boot itself loads (-l) and executes (-e)`, {
      hint: `use vkexec ${hit[1].split('/')[0]} ... for that mode, or drop it from the boot command`,
    });
  }
}

/** Whether KERNEL can only run on a 64-bit CPU: a bzImage with XLF_KERNEL_64 and no 32-bit kernel, or an ELF64. */
function isX86_64Only(file: string): boolean {
  let head: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      head = Buffer.alloc(0x240);
      fs.readSync(fd, head, 0, head.length, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false; // the load reports the file's own error
  }
  if (head.readUInt32BE(0) === 0x7f454c46) return head[4] === 2; // ELFCLASS64
  if (readField(head, SETUP_HEADER.header) !== 0x53726448) return false; // not "HdrS"
  // Boot protocol 2.12 xloadflags: XLF_KERNEL_64 marks a 64-bit kernel (arch/x86/boot/header.S).
  return (Number(readField(head, SETUP_HEADER.xloadflags)) & XLF_KERNEL_64) !== 0;
}

/** The engine, decided before any machine or load: auto is qemu when installed, else v86 if it can run the image. */
async function chooseEngine(choice: EngineChoice, kernel: string, probe: boolean): Promise<EngineChoice> {
  let engine = choice;
  if (choice === 'auto') {
    const { QemuEngine } = await import('../vm/engines/qemu.js');
    engine = (await new QemuEngine().unavailable({ mode: 'long64', entry: 0n })) === null ? 'qemu' : 'v86';
  }
  if (engine === 'v86' && !probe && isX86_64Only(kernel)) {
    const why = choice === 'auto' ? 'QEMU is not installed and the v86 engine' : 'the v86 engine';
    throw new UsageError(`boot: ${kernel} is an x86-64 kernel; ${why} emulates a 32-bit CPU, on which it stops in verify_cpu`, {
      hint: choice === 'auto' ? 'apt-get install qemu-system-x86 (then boot picks it), or boot a 32-bit (686) kernel' : 'use --engine qemu (apt-get install qemu-system-x86)',
    });
  }
  return engine;
}

export async function bootMain(args: readonly string[], g: GlobalOpts, out: Out): Promise<number> {
  catchInterrupts(); // from here a signal cleans up (the temporary machine too) before the exit
  if (args.includes('-h') || args.includes('--help')) {
    out.line(BOOT_USAGE);
    return 0;
  }
  const b = splitBootArgs(args);
  const r = parseKexecArgs(b.rest);
  refuseModes(r);
  if (r.operands.length === 0 && !b.probe) throw new UsageError('boot needs a KERNEL or --probe', { hint: 'vkexec boot KERNEL --initrd FILE --append TEXT, or vkexec boot --probe' });
  if (r.operands.length > 0 && b.probe) throw new UsageError('give either a KERNEL or --probe, not both');
  if (r.operands.length > 1) throw new UsageError(`boot takes one KERNEL (got ${r.operands.join(' ')})`);
  const kernel = r.operands[0] ?? probeKernelPath('bzImage');
  r.engine.engine = await chooseEngine(r.engine.engine, kernel, b.probe);
  r.json ||= g.json;
  const explicit = r.machine ?? g.machine ?? process.env.VKEXEC_MACHINE ?? null;
  let temp: string | null = null;
  try {
    // A machine boot creates is i386 for v86: on x86_64, machine_kexec enters the purgatory in long mode.
    const arch = r.engine.engine === 'v86' ? 'i386' : 'x86_64';
    if (explicit) {
      r.machine = resolveMachineDir(explicit);
      if (!machineExists(r.machine)) initMachine(r.machine, { arch, ...(b.mem ? { mem: b.mem } : {}) });
      else if (r.engine.engine === 'v86' && readState(r.machine).config.arch === 'x86_64') {
        throw new UsageError(`boot: ${r.machine} is an x86_64 machine, whose kexec enters the purgatory in 64-bit mode: v86 emulates a 32-bit CPU`, {
          hint: 'use --engine qemu, or a machine made with: vkexec --machine DIR machine init --arch i386',
        });
      }
    } else {
      temp = fs.mkdtempSync(path.join(os.tmpdir(), 'vkexec-boot-'));
      r.machine = path.join(temp, 'machine');
      initMachine(r.machine, { arch, ...(b.mem ? { mem: b.mem } : {}) });
    }
    Object.assign(r, { operands: [kernel], load: true, shutdown: true, exec: false });
    const { runKexecRequest } = await import('./kexec-main.js');
    return await runKexecRequest(r, out);
  } finally {
    if (temp) fs.rmSync(temp, { recursive: true, force: true });
  }
}
