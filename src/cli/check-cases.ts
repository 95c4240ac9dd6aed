// The checks of `vkexec check`, each a named case run on its own fresh temporary machine:
//   types        kexec-tools' file types and the kernel's kexec_file_ops probes (what `vkexec inspect` shows)
//   load-c       kexec_load (-c) of the kernel with the check initramfs
//   load-s-R     kexec_file_load (-s) on a machine playing Linux release R (each release the machine supports)
//   signature    kexec_file_load under the run's policy (--secure-boot, --lockdown) and keys: the verdict
//   boot         load, execute on the best engine, init prints the digest of /proc/cmdline: it must match
//   kdump        -p load, panic with a fill pattern, the capture kernel's init checks /proc/vmcore in the guest
//   kdump-size   (only when selected) the smallest working crashkernel=, measured by boots (kdump-size.ts)

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { INIT_LINE, VMCORE_LINE, checkInitramfs } from '../arch/x86/check-init.js';
import { hex } from '../lib/hex.js';
import { parseFillPattern } from '../vm/memory/fill-pattern.js';
import { KERNEL_RELEASES } from '../vm/machine/kernel-release.js';
import { CRASH_NOTES_SIZE, VMCOREINFO_NOTE_SIZE, crashNotesAddr, vmcoreinfoNoteAddr } from '../vm/machine/machine-config.js';
import { memparse } from '../lib/memparse.js';
import { defaultEngineOptions, type EngineOptions } from './engine-options.js';
import { inspectImage } from './inspect-model.js';
import { DEFAULT_KDUMP_APPEND, MIN_STEP, kdumpSize } from './kdump-size.js';
import { panicRequest } from './panic-cmd.js';
import { isSystemMapPlaceholder } from './post-mortem.js';
import type { CheckInput } from './check-input.js';
import { type CaseResult, type CheckMachine, type CheckOptions, consoleTail, execOn, fail, failureOf, loadOn, newMachine, pass, skip } from './check-machine.js';

export const CHECKS = ['types', 'load-c', ...KERNEL_RELEASES.map((r) => `load-s-${r}`), 'signature', 'boot', 'kdump', 'kdump-size'] as const;
export type CheckName = (typeof CHECKS)[number];
/** Selected unless --only names others: every check but the slow size search. */
export const DEFAULT_CHECKS: readonly CheckName[] = CHECKS.filter((c) => c !== 'kdump-size');

/** What a check works with: the input, the run's options, and a temporary directory of its own. */
export interface CaseContext {
  input: CheckInput;
  opts: CheckOptions;
  tmp: string;
}

const NO_FILE_LOAD = 'i386 Linux has no kexec_file_load (arch/x86/Kconfig: KEXEC_FILE depends on X86_64), so a 32-bit kernel is loaded with kexec_load only';
const FILL = 'addr^0x5a5a5a5a00000000';

function initrdOf(c: CaseContext): string {
  if (c.input.initrd) return c.input.initrd;
  const file = path.join(c.tmp, `vkexec-check-init-${c.input.arch}.cpio`);
  if (!fs.existsSync(file)) fs.writeFileSync(file, checkInitramfs(c.input.arch));
  return file;
}

function engineFor(c: CaseContext, expect: string): EngineOptions {
  return { ...defaultEngineOptions(), engine: c.opts.engine, accel: c.opts.accel, timeout: c.opts.timeout, expect: c.input.initrd ? (c.opts.expect ?? expect) : expect, ...(realSystemMap(c) ? { systemMap: c.input.systemMap! } : {}) };
}

/** The input's System.map when it has symbols (Debian's linux-image ships only a placeholder: post-mortem refuses it). */
function realSystemMap(c: CaseContext): boolean {
  if (c.input.systemMap === null) return false;
  // The placeholder is one line: its first 4 KiB decide, not the whole multi-MB map.
  const head = Buffer.alloc(4096);
  const fd = fs.openSync(c.input.systemMap, 'r');
  try {
    return !isSystemMapPlaceholder(head.subarray(0, fs.readSync(fd, head, 0, head.length, 0)));
  } finally {
    fs.closeSync(fd);
  }
}

const machineDir = (c: CaseContext) => path.join(c.tmp, 'machine');

async function types(c: CaseContext): Promise<CaseResult> {
  const r = await inspectImage(c.input.kernel, new Uint8Array(fs.readFileSync(c.input.kernel)), { arch: c.input.arch, payload: false });
  const map = c.input.systemMap ? (realSystemMap(c) ? 'System.map' : 'System.map (a placeholder: the real one is in the -dbg package)') : 'no System.map';
  const facts = `release ${c.input.release ?? 'unknown'}, ${c.input.arch}, ${map}, ${c.input.config ? 'config' : 'no config'}, ${c.input.modules.length} virtio-blk module file(s)`;
  const ft = r.fileTypes.chosen;
  const ops = r.kexecFileOps.chosen;
  if (!ft) return fail(`no kexec-tools file type takes it: ${r.fileTypes.probes.map((p) => `${p.name}: ${p.reason}`).join('; ')}`, 'kexec/kexec.c my_load: "Cannot determine the file type"', 'check a bzImage or an x86 ELF kernel');
  if (!ops && c.input.arch === 'x86_64') return fail(`file type ${ft}, but no kexec_file_ops takes it: ${r.kexecFileOps.probes.map((p) => `${p.name}: ${p.reason}`).join('; ')}`, 'kernel/kexec_file.c kexec_image_probe_default: ENOEXEC', 'a bzImage64 with boot protocol 2.12+ and XLF_KERNEL_64 is what kexec_file_load takes');
  return pass(`file type ${ft}${ops ? `, kexec_file_ops ${ops}` : ''}; ${facts}${r.problems.length ? `; notes: ${r.problems.join('; ')}` : ''}`);
}

async function loadC(c: CaseContext): Promise<CaseResult> {
  const m = newMachine(machineDir(c), c.input.arch, { mem: c.opts.mem });
  const { res } = await loadOn(m, { kernelPath: c.input.kernel, syscall: 'load', initrd: initrdOf(c), append: c.opts.append ?? 'console=ttyS0' });
  return pass(`kexec_load: ${res.type ?? '?'}, ${res.image?.segments.length ?? 0} segments, entry ${res.image ? hex(res.image.start) : '?'}`);
}

function loadS(release: string) {
  return async (c: CaseContext): Promise<CaseResult> => {
    if (c.input.arch === 'i386') return skip(NO_FILE_LOAD);
    const m = newMachine(machineDir(c), c.input.arch, { mem: c.opts.mem, kernelRelease: release });
    const { res } = await loadOn(m, { kernelPath: c.input.kernel, syscall: 'file', initrd: initrdOf(c), append: c.opts.append ?? 'console=ttyS0' });
    return pass(`kexec_file_load on Linux ${release}: ${res.type ?? '?'}, ${res.image?.segments.length ?? 0} segments${res.signature ? `; signature: ${res.signature}` : ''}`);
  };
}

function policyText(o: CheckOptions): string {
  const keys = o.keys.map((k) => `${k.ring}:${path.basename(k.file)}`).join(', ');
  return `secure-boot ${o.secureBoot ? 'on' : 'off'}, lockdown ${o.lockdown ?? 'none'}, keys ${keys || 'none'}`;
}

async function signature(c: CaseContext): Promise<CaseResult> {
  if (c.input.arch === 'i386') return skip(`${NO_FILE_LOAD}; its signature is never checked by the kernel`);
  const m = newMachine(machineDir(c), c.input.arch, { mem: c.opts.mem, ...(c.opts.secureBoot ? { secureBoot: 'on' } : {}), ...(c.opts.lockdown ? { lockdown: c.opts.lockdown } : {}) }, c.opts.keys);
  try {
    const { res } = await loadOn(m, { kernelPath: c.input.kernel, syscall: 'file', initrd: initrdOf(c), append: c.opts.append ?? 'console=ttyS0' });
    return pass(`accepted under ${policyText(c.opts)}: ${res.signature ?? 'no verdict recorded'}`);
  } catch (e) {
    const f = failureOf(e);
    return { ...f, message: `refused under ${policyText(c.opts)}: ${f.message}` };
  }
}

const sha256 = (t: string) => createHash('sha256').update(t, 'latin1').digest('hex');

async function boot(c: CaseContext): Promise<CaseResult> {
  const m = newMachine(machineDir(c), c.input.arch, { mem: c.opts.mem });
  await loadOn(m, { kernelPath: c.input.kernel, initrd: initrdOf(c), append: c.opts.append ?? 'console=ttyS0 panic=-1', syscall: c.input.arch === 'i386' ? 'load' : 'auto' });
  const cmdline = m.state.images.normal?.info.cmdline ?? '';
  const { outcome, console, said } = await execOn(m, { engine: engineFor(c, INIT_LINE.source), json: true }, 'normal');
  if (!outcome) return fail(`the image did not run: ${said.join(' / ')}`, null, said.find((s) => s.startsWith('fix: '))?.slice(5) ?? null, console);
  if (outcome.status !== 'matched') {
    return fail(`${outcome.engine}: ${outcome.status} after ${(outcome.wallMs / 1000).toFixed(1)} s without reaching init; last console lines: ${consoleTail(console) || '(none)'}`, 'init/main.c kernel_init: the kernel must run /init from the initramfs', 'run the same boot with vkexec boot ... --console FILE and read where it stops', console);
  }
  if (c.input.initrd) return pass(`${outcome.engine}: --expect matched after ${(outcome.wallMs / 1000).toFixed(1)} s`, console);
  const seen = INIT_LINE.exec(console);
  const want = sha256(cmdline);
  if (!seen || seen[2] !== want) {
    return fail(`init saw a /proc/cmdline with sha256 ${seen?.[2] ?? '?'}, the load passed one with sha256 ${want} (${JSON.stringify(cmdline)})`, 'the boot protocol: cmd_line_ptr must reach the kernel unchanged', 'compare the loaded command line (machine show) with what the kernel printed', console);
  }
  return pass(`${outcome.engine}: init ran (${seen[1]}-bit) after ${(outcome.wallMs / 1000).toFixed(1)} s; /proc/cmdline is the loaded command line (sha256 ${want.slice(0, 16)}...)`, console);
}

/** vkexec_skip= for the check init: the old kernel's note buffers, whose bytes are notes and not the pattern. */
function skipRanges(cpus: number): string {
  const r: string[] = [];
  for (let cpu = 0; cpu < cpus; cpu++) r.push(`${hex(crashNotesAddr(cpu))}-${hex(crashNotesAddr(cpu) + CRASH_NOTES_SIZE)}`);
  r.push(`${hex(vmcoreinfoNoteAddr())}-${hex(vmcoreinfoNoteAddr() + VMCOREINFO_NOTE_SIZE)}`);
  return `vkexec_skip=${r.join(',')}`;
}

async function kdump(c: CaseContext): Promise<CaseResult> {
  const m: CheckMachine = newMachine(machineDir(c), c.input.arch, { mem: c.opts.mem, crashkernel: c.opts.crashkernel });
  const append = `${c.opts.append ?? DEFAULT_KDUMP_APPEND} panic=-1 ${skipRanges(m.state.config.cpus)}`;
  await loadOn(m, { kernelPath: c.input.kernel, initrd: initrdOf(c), append, crash: true, syscall: c.input.arch === 'i386' ? 'load' : 'auto' });
  const engine = engineFor(c, VMCORE_LINE.source);
  const { outcome, console, said } = await execOn(m, panicRequest(engine, true, parseFillPattern(FILL)), 'crash');
  if (!outcome) return fail(`the panic did not run the crash kernel: ${said.join(' / ')}`, null, said.find((s) => s.startsWith('fix: '))?.slice(5) ?? null, console);
  if (outcome.status !== 'matched') {
    return fail(`${outcome.engine}: ${outcome.status} after ${(outcome.wallMs / 1000).toFixed(1)} s without a vmcore verdict; last console lines: ${consoleTail(console) || '(none)'}`, 'kernel/crash_core.c __crash_kexec: the capture kernel must boot to init and find /proc/vmcore', `try a larger --crashkernel (now ${c.opts.crashkernel}) or measure the smallest that works with --kdump-size`, console);
  }
  if (c.input.initrd) return pass(`${outcome.engine}: --expect matched after ${(outcome.wallMs / 1000).toFixed(1)} s`, console);
  const v = VMCORE_LINE.exec(console);
  if (!v || v[1] !== 'ok') return fail(`the capture kernel's /proc/vmcore is wrong: ${v?.[2] ?? 'no verdict line'}`, 'fs/proc/vmcore.c: the dump must be the old RAM at its physical addresses', 'vkexec vmcore check on a saved dump shows which rule broke', console);
  return pass(`${outcome.engine}: capture kernel booted after ${(outcome.wallMs / 1000).toFixed(1)} s; /proc/vmcore ${v[2]}`, console);
}

async function kdumpSizeCheck(c: CaseContext): Promise<CaseResult> {
  const max = memparse(c.opts.crashkernel);
  if (max === null) return fail(`--crashkernel ${c.opts.crashkernel} is not a plain size`, null, 'give a size such as 256M');
  const expect = 'VKEXEC-CHECK-VMCORE (ok|bad no VKEXEC_FILL)'; // kdump-size panics without a fill pattern
  const r = await kdumpSize(
    { kernel: c.input.kernel, initrd: initrdOf(c), append: `${c.opts.append ?? DEFAULT_KDUMP_APPEND} panic=-1`, syscall: c.input.arch === 'i386' ? 'load' : 'file', mem: c.opts.mem, min: MIN_STEP, max, step: MIN_STEP, panic: { engine: c.opts.engine, accel: c.opts.accel, timeout: String(c.opts.timeout), expect: c.input.initrd ? (c.opts.expect ?? expect) : expect }, consoleDir: null },
    () => {},
  );
  const boots = r.tries.filter((t) => t.stage === 'boot').length;
  if (r.size === null) return fail(`no crashkernel= up to ${c.opts.crashkernel} captured (${boots} boots)`, null, 'raise --crashkernel or --mem');
  return pass(`smallest working crashkernel=${r.size >> 20n}M on a ${c.opts.mem} machine (${boots} boots, ${r.tries.length - boots} loads)`);
}

const RUN: Record<CheckName, (c: CaseContext) => Promise<CaseResult>> = {
  types,
  'load-c': loadC,
  ...(Object.fromEntries(KERNEL_RELEASES.map((r) => [`load-s-${r}`, loadS(r)])) as Record<`load-s-${(typeof KERNEL_RELEASES)[number]}`, (c: CaseContext) => Promise<CaseResult>>),
  signature,
  boot,
  kdump,
  'kdump-size': kdumpSizeCheck,
};

/** Runs one check; any failure becomes the case's message, rule and fix (never a stack trace). */
export async function runCheck(name: CheckName, c: CaseContext): Promise<CaseResult> {
  try {
    return await RUN[name](c);
  } catch (e) {
    return failureOf(e);
  }
}
