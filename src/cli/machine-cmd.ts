// `vkexec machine init|show|set|sysctl|destroy`: create, inspect and change the emulated machine.

import { DEFAULT_KERNEL_RELEASE, KERNEL_RELEASES, isKernelRelease, kernelRelease, osreleaseFor } from '../vm/machine/kernel-release.js';
import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { UsageError, fileErrorText } from '../errno.js';
import { applyMapOptions } from './machine-memmap.js';
import { formatIomem, systemRam, type Resource } from '../vm/machine/iomem.js';
import { type Lockdown, type MachineArch, type MachineConfig, DEFAULT_CMDLINE, DEFAULT_MEM, crashRegions, defaultIomem, GiB } from '../vm/machine/machine-config.js';
import { memparse } from '../lib/memparse.js';
import { CrashkernelError, parseCrashkernel, reserveCrashkernel } from '../vm/machine/crashkernel.js';
import { type MachineState, defaultConfig, machineExists, newState, readState, writeState } from '../vm/machine/machine.js';
import { resolveMachineDir } from '../vm/machine/store.js';
import { tryLock } from '../vm/machine/lock.js';
import { VIEW_PATHS, readView } from '../vm/machine/views.js';
import type { GlobalOpts } from './global-opts.js';
import { safeLines, safeText, type Out } from './output.js';
import { hex } from '../lib/hex.js';
import { destroyMachine, reportDestroy } from './machine-destroy.js';
import { systemMapSymbols, vmcoreinfoFileLines } from '../vm/kernel/vmcoreinfo.js';

export type { GlobalOpts };

const onOff = (v: string, name: string): boolean => {
  if (v === 'on') return true;
  if (v === 'off') return false;
  throw new UsageError(`--${name} takes on or off (got '${v}')`);
};

function parseSize(v: string, what: string): bigint {
  const n = memparse(v);
  if (n === null || n <= 0n) throw new UsageError(`${what}: cannot parse size '${v}' (use e.g. 512M, 2G, 0x20000000)`);
  return n;
}

/** RAM the engines must give the guest for this map: the top of RAM below 4 GiB, plus all RAM above. */
export function memBytesFor(iomem: Resource[]): bigint {
  let below = 0n;
  let above = 0n;
  for (const r of systemRam(iomem)) {
    if (r.end < 1n << 32n) below = r.end + 1n > below ? r.end + 1n : below;
    else above += r.end - (r.start > 1n << 32n ? r.start : 1n << 32n) + 1n;
  }
  return below + above;
}

/** Applies --crashkernel to a fresh resource tree and records it on the command line, as a booted kernel shows it. */
/** reserve_crashkernel (arch/x86/kernel/setup.c) for crashkernel= values; `where` names the option they came from. */
function reserveFromValues(state: MachineState, values: string[], where: string): void {
  const ram = systemRam(state.config.iomem).reduce((a, r) => a + r.end - r.start + 1n, 0n);
  try {
    const parsed = parseCrashkernel(values, ram);
    reserveCrashkernel(state.config.iomem, parsed, state.config.arch);
  } catch (e) {
    if (e instanceof CrashkernelError) throw new UsageError(`${where}: ${e.message}`, { hint: 'pick a size the machine has room for, e.g. --crashkernel 256M on 1G' });
    throw e;
  }
}

function applyCrashkernel(state: MachineState, spec: string): void {
  const values = spec.split(/\s+/).filter(Boolean);
  reserveFromValues(state, values, '--crashkernel');
  state.config.cmdline = `${state.config.cmdline} ${values.map((s) => `crashkernel=${s}`).join(' ')}`;
}

/** The crashkernel= values of a command line, in order (parse_crashkernel takes the last plain one, plus ,high/,low). */
function cmdlineCrashkernel(cmdline: string): string[] {
  return cmdline.split(/\s+/).filter((w) => w.startsWith('crashkernel=')).map((w) => w.slice('crashkernel='.length));
}

export interface InitOpts {
  mem?: string;
  iomem?: string;
  memmap?: string;
  acpiRsdp?: string;
  crashkernel?: string;
  cmdline?: string;
  cpus?: string;
  lockdown?: Lockdown;
  arch?: MachineArch;
  secureBoot?: string;
  sigEnforce?: string;
  imaAppraise?: string;
  kernelRelease?: string;
  systemMap?: string;
  osrelease?: string;
  vmcoreinfo?: string;
}

export function initMachine(dir: string, o: InitOpts): MachineState {
  if (machineExists(dir)) {
    throw new UsageError(`a machine already exists at ${dir}`, { hint: `destroy it first (vkexec --machine ${dir} machine destroy) or change it with machine set` });
  }
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    throw new UsageError(`${dir} is not empty`, { hint: 'machine init wants a new or empty directory' });
  }
  const config = defaultConfig();
  if (o.arch) config.arch = o.arch;
  if (o.iomem || o.memmap) {
    if (o.mem) throw new UsageError(`--mem and --${o.iomem ? 'iomem' : 'memmap'} both describe the RAM: give one of them`);
    applyMapOptions(config, o.iomem, o.memmap);
    config.memBytes = memBytesFor(config.iomem);
  } else {
    const mem = o.mem ? parseSize(o.mem, '--mem') : DEFAULT_MEM;
    if (mem < 64n << 20n) throw new UsageError(`--mem ${o.mem}: at least 64M`);
    if (mem > 64n * GiB) throw new UsageError(`--mem ${o.mem}: at most 64G`);
    config.memBytes = mem;
    config.iomem = defaultIomem(mem);
  }
  if (o.acpiRsdp !== undefined) config.acpiRsdp = parseSize(o.acpiRsdp, '--acpi-rsdp');
  if (o.cmdline !== undefined) config.cmdline = o.cmdline;
  else config.cmdline = DEFAULT_CMDLINE;
  if (o.cpus) {
    const n = Number(o.cpus);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--cpus ${o.cpus}: a whole number from 1 to 64`);
    config.cpus = n;
  }
  if (o.lockdown) config.lockdown = o.lockdown;
  if (o.secureBoot) config.secureBoot = onOff(o.secureBoot, 'secure-boot');
  if (o.sigEnforce) config.sigEnforce = onOff(o.sigEnforce, 'sig-enforce');
  if (o.imaAppraise) config.imaAppraise = onOff(o.imaAppraise, 'ima-appraise');
  if (o.kernelRelease !== undefined) {
    if (!isKernelRelease(o.kernelRelease)) throw new UsageError(`--kernel-release ${o.kernelRelease}: give ${KERNEL_RELEASES.join(' or ')}`, { hint: 'the machine plays Debian\'s 6.1 or 6.12 kernel; see KERNEL RELEASES in vkexec(8)' });
    config.kernelRelease = o.kernelRelease;
    config.osrelease = osreleaseFor(o.kernelRelease);
  }
  applyKernelIdentity(config, o);
  const state = newState(config);
  const inCmdline = cmdlineCrashkernel(config.cmdline);
  if (o.crashkernel && inCmdline.length > 0) {
    throw new UsageError(`--crashkernel ${o.crashkernel} and crashkernel=${inCmdline.join(' crashkernel=')} in --cmdline both ask for a crash region`, { hint: 'give one of them: --crashkernel SPEC adds crashkernel=SPEC to the command line' });
  }
  if (o.crashkernel) applyCrashkernel(state, o.crashkernel);
  // The running kernel booted with this command line: its reserve_crashkernel reserved what crashkernel= asks.
  // A cloned map (--iomem/--memmap) already shows what that boot reserved ("Crash kernel"), or that it failed.
  else if (inCmdline.length > 0 && !o.iomem && !o.memmap) reserveFromValues(state, inCmdline, '--cmdline crashkernel=');
  fs.mkdirSync(dir, { recursive: true });
  writeState(dir, state);
  return state;
}

/** --osrelease (uname -r, vmcoreinfo OSRELEASE) and --system-map (vmcoreinfo SYMBOL() lines) of machine init. */
function applyKernelIdentity(config: MachineConfig, o: InitOpts): void {
  if (o.osrelease !== undefined) {
    if (!/^[\x21-\x7e]{1,64}$/.test(o.osrelease)) throw new UsageError(`--osrelease ${JSON.stringify(o.osrelease)}: 1 to 64 printable characters without spaces`, { hint: 'give what uname -r prints, e.g. 6.1.0-57-amd64' });
    config.osrelease = o.osrelease;
  }
  if (o.vmcoreinfo !== undefined && o.systemMap !== undefined) {
    throw new UsageError('--vmcoreinfo and --system-map both give the vmcoreinfo SYMBOL() lines', { hint: "--vmcoreinfo FILE carries the kernel's own SYMBOL() lines: give one of them" });
  }
  if (o.systemMap !== undefined) {
    const text = readText(o.systemMap, '--system-map', "give the kernel's System.map (linux-image-<version>-dbg) or a saved /proc/kallsyms");
    config.kernelSymbols = systemMapSymbols(text, o.systemMap, kernelRelease(config));
  }
  if (o.vmcoreinfo !== undefined) {
    const { lines, osrelease } = vmcoreinfoFileLines(readText(o.vmcoreinfo, '--vmcoreinfo', 'give the text `makedumpfile -g FILE -x vmlinux` writes'), o.vmcoreinfo, kernelRelease(config), o.osrelease ?? null);
    config.vmcoreinfo = lines;
    config.osrelease = osrelease;
  }
}

function readText(file: string, option: string, hint: string): string {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch (e) {
    throw new UsageError(`${option} ${file}: ${fileErrorText(e)}`, { hint });
  }
}

function describe(dir: string, s: MachineState): string[] {
  const c = s.config;
  const crash = crashRegions(c);
  const lines = [
    `machine      ${dir}`,
    `arch         ${c.arch}, ${c.cpus} CPU${c.cpus > 1 ? 's' : ''}, ${c.memBytes >> 20n} MiB RAM`,
    `kernel       Linux ${kernelRelease(c)} (osrelease ${c.osrelease}; ${c.vmcoreinfo ? `vmcoreinfo: ${c.vmcoreinfo.length} lines from --vmcoreinfo` : `vmcoreinfo symbols: ${c.kernelSymbols ? `${Object.keys(c.kernelSymbols).length} from --system-map` : '_stext only'}`})`,
    `cmdline      ${c.cmdline}`,
    `crashkernel  ${crash.length === 0 ? 'none' : crash.map((r, i) => `${(r.end - r.start) >> 20n} MiB at ${hex(r.start)}-${hex(r.end - 1n)}${crash.length > 1 ? (i === crash.length - 1 ? ' (crashk_res, high)' : ' (crashk_low_res)') : ''}`).join(', ')}`,
    `policy       lockdown=${c.lockdown} secure-boot=${c.secureBoot ? 'on' : 'off'} sig-enforce=${c.sigEnforce ? 'on' : 'off'} ima-appraise=${c.imaAppraise ? 'on' : 'off'}`,
    `sysctl       kexec_load_disabled=${s.sysctl.kexec_load_disabled} kexec_load_limit_reboot=${s.sysctl.kexec_load_limit_reboot} kexec_load_limit_panic=${s.sysctl.kexec_load_limit_panic}`,
  ];
  for (const slot of ['normal', 'crash'] as const) {
    const img = s.images[slot];
    if (!img) {
      lines.push(`${slot.padEnd(12)} not loaded`);
      continue;
    }
    const i = img.info;
    lines.push(`${slot.padEnd(12)} ${i.loader ?? '?'} via ${i.syscall}, entry ${hex(img.start)}, ${img.segments.length} segments, loaded ${img.loadedAt}`);
    if (i.kernel) lines.push(`             kernel ${i.kernel}${i.initrd ? `, initrd ${i.initrd}` : ''}`);
    if (i.cmdline !== undefined) lines.push(`             cmdline ${JSON.stringify(i.cmdline)}`);
    img.segments.forEach((sg, k) => lines.push(`             [${k}] mem ${hex(sg.mem)} memsz ${hex(sg.memsz)} bufsz ${hex(sg.bufsz)}`));
  }
  return lines;
}

/** Linux's sysctl rules: kexec_load_disabled only goes to 1; a load limit is a count (>= 0) and only goes down. */
export function writeSysctl(s: MachineState, name: string, value: string): void {
  const v = Number(value);
  if (!Number.isInteger(v)) throw new UsageError(`sysctl ${name}: '${value}' is not an integer (EINVAL)`);
  if (name === 'kexec_load_disabled') {
    if (v !== 0 && v !== 1) throw new UsageError(`sysctl kexec_load_disabled takes 0 or 1 (EINVAL)`);
    if (v === 0 && s.sysctl.kexec_load_disabled === 1) throw new UsageError('sysctl kexec_load_disabled: once set it cannot be cleared (EPERM)', { hint: 'create a new machine' });
    s.sysctl.kexec_load_disabled = v as 0 | 1;
    return;
  }
  if (name === 'kexec_load_limit_panic' || name === 'kexec_load_limit_reboot') {
    const cur = s.sysctl[name];
    if (v < 0 || (cur !== -1 && v >= cur)) {
      throw new UsageError(`sysctl ${name}: ${v} is not below the current limit ${cur} (EINVAL)`, { hint: 'load limits may only be made stricter' });
    }
    s.sysctl[name] = v;
    return;
  }
  throw new UsageError(`unknown sysctl ${name}`, { hint: 'kexec_load_disabled, kexec_load_limit_panic, kexec_load_limit_reboot' });
}

/** `machine show [--file VIEW]`: the machine, or one of its /proc and /sys files. */
function machineShow(dir: string, file: string | undefined, json: boolean, out: Out): void {
  const s = readState(dir);
  if (file) {
    const text = readView(s, file);
    if (text === null) throw new UsageError(`${file}: No such file or directory on this machine`, { hint: `views: ${VIEW_PATHS.join(', ')}` });
    if (json) out.emitJson({ file, text });
    else process.stdout.write(safeLines(text)); // a /proc file's lines, each escaped
    return;
  }
  if (json) out.emitJson({ machine: dir, ...s, iomem: formatIomem(s.config.iomem) });
  else for (const l of describe(dir, s)) out.line(safeText(l));
}

/** `machine set`: the policy knobs, under the machine lock; lockdown only rises. */
function machineSet(dir: string, o: InitOpts): MachineState {
  const lock = tryLock(dir, 'machine set');
  try {
    const s = readState(dir);
    if (o.lockdown) {
      // Lockdown only rises on a running kernel (security/lockdown/lockdown.c lock_kernel_down).
      const rank = { none: 0, integrity: 1, confidentiality: 2 };
      if (rank[o.lockdown] < rank[s.config.lockdown]) throw new UsageError(`lockdown cannot be lowered from ${s.config.lockdown} to ${o.lockdown} (EPERM)`, { hint: 'create a new machine with the lockdown you want' });
      s.config.lockdown = o.lockdown;
    }
    if (o.secureBoot) s.config.secureBoot = onOff(o.secureBoot, 'secure-boot');
    if (o.sigEnforce) s.config.sigEnforce = onOff(o.sigEnforce, 'sig-enforce');
    if (o.imaAppraise) s.config.imaAppraise = onOff(o.imaAppraise, 'ima-appraise');
    if (o.cmdline !== undefined) {
      // crashkernel= is read once, at boot (reserve_crashkernel): a running kernel's reservation does not follow it.
      if (cmdlineCrashkernel(o.cmdline).join(' ') !== cmdlineCrashkernel(s.config.cmdline).join(' ')) {
        throw new UsageError('machine set --cmdline: crashkernel= is only read at boot (reserve_crashkernel), so changing it on a running kernel reserves nothing', { hint: 'make a new machine: machine init --cmdline "... crashkernel=SIZE" (or --crashkernel SIZE)' });
      }
      s.config.cmdline = o.cmdline;
    }
    writeState(dir, s);
    return s;
  } finally {
    lock.release();
  }
}

export function machineCommand(g: () => GlobalOpts, out: Out): Command {
  const cmd = new Command('machine').description('create, inspect and change the emulated machine');
  cmd
    .command('init')
    .description('create a machine (default: 512 MiB x86_64, QEMU pc-style memory map)')
    .option('--mem <size>', 'RAM size, e.g. 512M, 2G')
    .option('--iomem <file>', 'memory map in /proc/iomem format (clone a real machine)')
    .option('--acpi-rsdp <addr>', "the running kernel's ACPI RSDP address (boot_params.acpi_rsdp_addr), e.g. 0xf5a80")
    .option('--memmap <path>', 'firmware e820: a saved /sys/firmware/memmap tree or its "START-END : TYPE" lines (with --iomem: clone both)')
    .option('--crashkernel <spec>', 'crashkernel= reservation: SIZE[@OFFSET], RANGE:SIZE,..., "SIZE,high SIZE,low"')
    .option('--cmdline <text>', "the running kernel's command line (/proc/cmdline)")
    .option('--cpus <n>', 'CPUs (one crash_notes buffer each)')
    .option('--osrelease <text>', "the running kernel's uname -r (/proc/sys/kernel/osrelease, vmcoreinfo OSRELEASE)")
    .option('--system-map <file>', "the running kernel's System.map or a saved /proc/kallsyms: vmcoreinfo gets its SYMBOL() lines")
    .option('--vmcoreinfo <file>', "the running kernel's vmcoreinfo text (makedumpfile -g, or a real /proc/vmcore's note): the note carries it")
    .option('--kernel-release <release>', `the Linux release whose kexec rules the machine follows: ${KERNEL_RELEASES.join(' or ')} (default ${DEFAULT_KERNEL_RELEASE})`)
    .addOption(new Option('--lockdown <mode>').choices(['none', 'integrity', 'confidentiality']))
    .addOption(new Option('--arch <arch>').choices(['x86_64', 'i386']))
    .option('--secure-boot <on|off>', 'UEFI secure boot')
    .option('--sig-enforce <on|off>', 'KEXEC_SIG_FORCE')
    .option('--ima-appraise <on|off>', 'IMA appraises kexec kernels')
    .action((o: InitOpts) => {
      const dir = resolveMachineDir(g().machine ?? undefined);
      const s = initMachine(dir, o);
      if (g().json) out.emitJson({ machine: dir, config: s.config });
      else for (const l of describe(dir, s)) out.line(safeText(l));
    });
  cmd
    .command('show')
    .description('print the machine, or one of its /proc and /sys files with --file')
    .option('--file <path>', `one view: ${VIEW_PATHS.join(', ')}, /sys/firmware/memmap/N/{start,end,type}`)
    .action((o: { file?: string }) => machineShow(resolveMachineDir(g().machine ?? undefined), o.file, g().json, out));
  cmd
    .command('set')
    .description('change policy knobs of an existing machine')
    .addOption(new Option('--lockdown <mode>').choices(['none', 'integrity', 'confidentiality']))
    .option('--secure-boot <on|off>')
    .option('--sig-enforce <on|off>')
    .option('--ima-appraise <on|off>')
    .option('--cmdline <text>')
    .action((o: InitOpts) => {
      const dir = resolveMachineDir(g().machine ?? undefined);
      const s = machineSet(dir, o);
      if (g().json) out.emitJson(s.config);
      else for (const l of describe(dir, s)) out.line(safeText(l));
    });
  cmd
    .command('sysctl')
    .description('write /proc/sys/kernel/kexec_* as root would (Linux rules: one-way switches)')
    .argument('<setting>', 'NAME=VALUE, e.g. kexec_load_disabled=1')
    .action((setting: string) => {
      const m = /^([a-z_]+)=(-?\w+)$/.exec(setting);
      if (!m) throw new UsageError(`'${setting}' is not NAME=VALUE`);
      const dir = resolveMachineDir(g().machine ?? undefined);
      const lock = tryLock(dir, 'machine sysctl');
      try {
        const s = readState(dir);
        writeSysctl(s, m[1]!, m[2]!);
        writeState(dir, s);
        out.line(`${m[1]} = ${s.sysctl[m[1] as keyof MachineState['sysctl']]}`);
      } finally {
        lock.release();
      }
    });
  cmd
    .command('destroy')
    .description('delete the machine directory')
    .action(() => {
      const dir = resolveMachineDir(g().machine ?? undefined);
      reportDestroy(dir, destroyMachine(dir), out, g().json);
    });
  // keys, trust-loader and panic (their own modules, with the keyring, loader and engine code) are added by
  // commands.ts when the command line names them.
  return cmd;
}
