// One differential case, run on the real kexec (real-kexec.ts) and on vkexec: the same machine, the same
// files, the same arguments with -d. Compared: the exit status; the kexec_load call segment by segment
// (compare.ts: mem, memsz, bufsz, every byte but the purgatory's code); and the -d output line by line, on
// stdout and stderr, with only the purgatory's own symbols and the user-space buffer addresses normalised.
// A failing load (both exit non-zero, no kexec_load) compares the same lines, vkexec's own `vkexec:` lines
// set aside. Differences due to the version alone (2.0.25 in the binary, 2.0.32 in vkexec) are listed per
// case; each must occur, and nothing else may differ.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { type InitOpts, initMachine } from '../../src/cli/machine-cmd.js';
import { vkexec } from '../helpers/cli.js';
import { compareLoads, diffLines, normaliseDebug, vkexecLoaded } from './compare.js';
import { type KexecLoadDump, type RealKexecTools, runRealKexec } from './real-kexec.js';

export interface Case {
  name: string;
  /** machine init options (`--mem 1G`, `--arch i386` ...). */
  init: string[];
  /** kexec options; the kernel (the caller's default, or `-k FILE` in them) and --append follow. */
  args: string[];
  iomem?: string;
  /** The firmware map (/sys/firmware/memmap) as text, given to machine init --memmap. */
  memmap?: string;
  /**
   * Differences due to the version alone (2.0.25 here, 2.0.32 in vkexec), as the lines compareLoads and
   * the -d diff print: each must occur, nothing else may differ. A function sees the real kexec's load.
   */
  versionDiffs?: RegExp[] | ((real: KexecLoadDump | null) => RegExp[]);
  /** No --append (the command line comes from --reuse-cmdline or is left empty). */
  noAppend?: boolean;
}

/** A server-like map: ACPI tables and NVS, a PCI hole below 4 GiB, RAM above it, the kernel's own lines. */
export const SERVER_IOMEM = `00000000-00000fff : Reserved
00001000-0009dfff : System RAM
0009e000-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000e0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-6e4b2fff : System RAM
  01000000-01e01fff : Kernel code
  02000000-0257cfff : Kernel rodata
  02600000-02a4b57f : Kernel data
  02d7d000-02ffffff : Kernel bss
6e4b3000-6e6b2fff : Reserved
6e6b3000-6f7cafff : ACPI Tables
6f7cb000-6fb5afff : ACPI Non-volatile Storage
6fb5b000-6fffefff : Reserved
6ffff000-6fffffff : System RAM
70000000-8fffffff : Reserved
c0000000-fbffffff : PCI Bus 0000:00
fec00000-fec003ff : Reserved
fed00000-fed03fff : Reserved
fee00000-fee00fff : Reserved
ff000000-ffffffff : Reserved
100000000-47fffffff : System RAM
480000000-4bfffffff : Reserved
`;

/** QEMU pc's firmware e820 for 2 GiB: RAM from 0 (Linux's /proc/iomem reserves page 0 on top of it). */
export const QEMU_MEMMAP = `0000000000000000-000000000009fbff : System RAM
000000000009fc00-000000000009ffff : Reserved
00000000000f0000-00000000000fffff : Reserved
0000000000100000-000000007ffdffff : System RAM
000000007ffe0000-000000007fffffff : Reserved
00000000feffc000-00000000feffffff : Reserved
00000000fffc0000-00000000ffffffff : Reserved
`;

/** Many small RAM ranges between reserved holes (fragmented), kernel in the largest. */
export function fragmentedIomem(holes: number): string {
  const lines = ['00000000-00000fff : Reserved', '00001000-0009fbff : System RAM', '0009fc00-0009ffff : Reserved', '000f0000-000fffff : Reserved'];
  lines.push('00100000-0fffffff : System RAM', '  01000000-01e01fff : Kernel code', '  02000000-0257cfff : Kernel rodata', '  02600000-02a4b57f : Kernel data', '  02d7d000-02ffffff : Kernel bss');
  let at = 0x10000000;
  for (let i = 0; i < holes; i++) {
    const ram = 0x200000 + (i % 5) * 0x100000;
    lines.push(`${at.toString(16).padStart(8, '0')}-${(at + ram - 1).toString(16).padStart(8, '0')} : System RAM`);
    at += ram;
    lines.push(`${at.toString(16).padStart(8, '0')}-${(at + 0x1fff).toString(16).padStart(8, '0')} : Reserved`);
    at += 0x2000;
  }
  return lines.join('\n') + '\n';
}

export function makeMachine(work: string, tag: string, c: Case): string {
  const dir = path.join(work, `m-${tag}`);
  const init = [...c.init];
  for (const [opt, text] of [['iomem', c.iomem], ['memmap', c.memmap]] as const) {
    if (text === undefined) continue;
    fs.writeFileSync(path.join(work, `${opt}-${tag}`), text);
    init.push(`--${opt}`, path.join(work, `${opt}-${tag}`));
  }
  // machine init in-process (what `vkexec machine init` runs): the load itself goes through the CLI.
  const opts: Record<string, string> = {};
  for (let i = 0; i < init.length; i += 2) opts[init[i]!.slice(2)] = init[i + 1]!;
  initMachine(dir, opts as InitOpts);
  return dir;
}

/** Every unexplained difference of one case, each line prefixed by the case's name and command. */
export function runCase(tools: RealKexecTools, work: string, c: Case, tag: string, kernel: string): string[] {
  const dir = makeMachine(work, tag, c);
  const crash = c.args.includes('-p');
  const kernelArgs = c.args.includes('-k') ? c.args.filter((a) => a !== '-k') : [...c.args, kernel];
  const args = ['-c', '-d', crash ? '' : '-l', ...kernelArgs, ...(c.noAppend ? [] : ['--append', 'console=ttyS0 panic=-1'])].filter(Boolean);
  const real = runRealKexec(tools, dir, args, work);
  const mine = vkexec(dir, args);
  const where = `${tools.arch} ${c.name} (kexec ${args.join(' ')})`;
  if (real.code !== mine.code) return [`${where}: exit kexec ${real.code}, vkexec ${mine.code}\n  kexec: ${tail(real.stderr)}\n  vkexec: ${tail(mine.stderr)}`];
  const diffs: string[] = [];
  let purgatory: { theirs?: DumpRange; ours?: DumpRange } = {};
  if (real.code === 0) {
    if (!real.dump) return [`${where}: the real kexec made no kexec_load call (exit 0): ${tail(real.stderr)}`];
    const loaded = vkexecLoaded(dir, crash ? 'crash' : 'normal');
    if (!loaded) return [`${where}: vkexec loaded nothing`];
    diffs.push(...compareLoads(real.dump, loaded, null, null));
    const i = loaded.purgatorySegment;
    if (i !== undefined) purgatory = { theirs: real.dump.segments[i], ours: loaded.segments[i] };
  } else if (real.dump) {
    return [`${where}: the real kexec exited ${real.code} after a kexec_load call`];
  }
  const [theirs, ours] = [normaliseDebug(real.stderr, purgatory.theirs), normaliseDebug(mine.stderr, purgatory.ours)];
  diffs.push(...diffLines('stdout', normaliseDebug(real.stdout, purgatory.theirs), normaliseDebug(mine.stdout, purgatory.ours)));
  if (real.code === 0) diffs.push(...diffLines('stderr', theirs, ours));
  else if (!kexecTextThenOwnLines(theirs.join('\n'), ours.join('\n'))) {
    diffs.push(`stderr is not kexec's text byte for byte followed by vkexec's own lines:\n  kexec: ${JSON.stringify(real.stderr)}\n  vkexec: ${JSON.stringify(mine.stderr)}`);
  }
  const expected = typeof c.versionDiffs === 'function' ? c.versionDiffs(real.dump) : (c.versionDiffs ?? []);
  const unexplained = diffs.filter((d) => !expected.some((re) => re.test(d)));
  const missing = expected.filter((re) => !diffs.some((d) => re.test(d))).map((re) => `expected version difference ${re} did not occur`);
  return [...unexplained, ...missing].map((d) => `${where}: ${d}`);
}

/**
 * A failure's stderr: kexec's text byte for byte, then only vkexec's own lines. Where kexec leaves its last
 * line open (die("Cannot read %s") has no newline), vkexec's lines start on the next line (man vkexec.8): the
 * newline is the one byte vkexec adds before them.
 */
export function kexecTextThenOwnLines(theirs: string, ours: string): boolean {
  if (!ours.startsWith(theirs)) return false;
  const open = theirs !== '' && !theirs.endsWith('\n');
  const rest = ours.slice(theirs.length);
  if (open && !rest.startsWith('\n')) return false;
  return /^(vkexec: [^\n]*\n)+$/.test(open ? rest.slice(1) : rest);
}

interface DumpRange {
  mem: bigint;
  memsz: bigint;
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-6).join('\n    ');
}
