// `vkexec vmcore check FILE`: what a saved dump holds (notes, loads) and, with --machine, whether it is the
// machine's memory as the crash rules and the panic's fill pattern say it must be.

import { Command } from 'commander';
import { EM_X86_64 } from '../formats/elf.js';
import { parseFillPattern } from '../vm/memory/fill-pattern.js';
import { readState } from '../vm/machine/machine.js';
import { resolveMachineDir } from '../vm/machine/store.js';
import { type Vmcore, type VmcoreCheck, checkVmcore, readVmcore } from '../vm/vmcore/vmcore-check.js';
import type { GlobalOpts } from './global-opts.js';
import { safeText, type Out } from './output.js';
import { hex } from '../lib/hex.js';


function mib(v: bigint): string {
  return v >= 1n << 20n ? `${(Number(v) / 1048576).toFixed(1)} MiB` : `${Number(v) / 1024} KiB`;
}

function describe(v: Vmcore, machineDir: string | null, fill: string | null, checks: VmcoreCheck[]): string[] {
  const lines = [
    `vmcore       ${v.path}: ELF${v.class} ET_CORE ${v.machine === EM_X86_64 ? 'EM_X86_64' : 'EM_386'}, ${v.dumpSize} bytes of dump${v.fileSize > v.dumpSize ? ` (file ${v.fileSize} bytes)` : ''}`,
    `notes        ${v.notes.length}`,
  ];
  for (const n of v.notes) {
    if (n.prstatus) lines.push(`  ${n.name} NT_PRSTATUS  pid ${n.prstatus.pid} ip ${hex(n.prstatus.ip)} sp ${hex(n.prstatus.sp)}`);
    else if (n.vmcoreinfo) lines.push(`  ${n.name}  ${Object.entries(n.vmcoreinfo).map(([k, val]) => `${k}=${val}`).join(' ')}`);
    else lines.push(`  ${n.name} type ${n.type}, ${n.descsz} bytes`);
  }
  lines.push(`loads        ${v.loads.length}`);
  for (const l of v.loads) {
    lines.push(`  [${l.index}] paddr ${hex(l.paddr)}-${hex(l.paddr + l.memsz - 1n)} vaddr ${hex(l.vaddr)} offset ${hex(l.offset)} ${mib(l.memsz)}${l.kind === 'kernel-text' ? ' (kernel text)' : ''}`);
  }
  lines.push(`machine      ${machineDir ?? 'none (give --machine to compare the dump with the machine)'}`);
  lines.push(`fill         ${fill ?? 'none (give --fill, or panic with --fill, to check the contents)'}`);
  for (const c of checks) lines.push(`${c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`);
  return lines;
}

export function vmcoreCommand(g: () => GlobalOpts, out: Out, setExit: (code: number) => void): Command {
  const cmd = new Command('vmcore').description('read and check a saved crash dump (/proc/vmcore as the capture kernel wrote it)');
  cmd
    .command('check')
    .description("print a vmcore's notes and loads; with --machine compare them with the machine's RAM and the panic's fill pattern")
    .argument('<file>', 'the dump, or a disk image holding it from offset 0')
    .option('--fill <pattern>', 'the pattern machine panic --fill wrote (default: the one the dump\'s vmcoreinfo names)')
    .action((file: string, o: { fill?: string }) => {
      const explicit = g().machine ?? process.env.VKEXEC_MACHINE ?? null;
      const machineDir = explicit ? resolveMachineDir(explicit) : null;
      const config = machineDir ? readState(machineDir).config : null;
      const given = o.fill === undefined ? null : parseFillPattern(o.fill);
      const v = readVmcore(file);
      const { checks, fill } = checkVmcore(v, config, given);
      const ok = checks.every((c) => c.ok);
      if (g().json) out.emitJson({ ...v, machineDir, fill, checks, ok });
      else for (const l of describe(v, machineDir, fill, checks)) out.line(safeText(l));
      setExit(ok ? 0 : 1);
    });
  return cmd;
}
