// The kexec_file_load system call (kernel/kexec_file.c) against a machine directory: flags, lock, unload,
// crash image freed, kernel read, IMA appraisal, probe chain, signature policy, initrd, command line, the
// loader's load, sanity checks, control pages, digests into the purgatory, segments stored, image swapped in.

import * as fs from 'node:fs';
import { KexecError, errnoNumber } from '../../errno.js';
import { hex } from '../../lib/hex.js';
import type { KexecFileOps, SigAccepted } from './kexec-file-ops.js';
import { Keyrings } from '../../sig/keyring.js';
import { SignatureError } from '../../sig/facts.js';
import { modsigContentDigest, verifyAppendedSignature } from '../../sig/module-sig.js';
import { FileKimage } from './file-kimage.js';
import type { Kimage } from '../machine/kimage.js';
import { kimageLoad } from './kimage-load.js';
import { kexecLoadPermitted, persistRefusedAttempt, underKexecLock } from './kexec-load.js';
import { type MachineState, readState, writeState } from '../machine/machine.js';
import { crashkLowRes, crashkRes, totalRamPages } from '../machine/machine-config.js';
import { sanityCheckSegmentList } from './sanity-check.js';
import { kexecCalculateStoreDigests } from './kexec-digests.js';
import { kernelRelease, releaseRules } from '../machine/kernel-release.js';

// include/uapi/linux/kexec.h
export const KEXEC_FILE_UNLOAD = 0x1;
export const KEXEC_FILE_ON_CRASH = 0x2;
export const KEXEC_FILE_NO_INITRAMFS = 0x4;
export const KEXEC_FILE_DEBUG = 0x8;
const KEXEC_FILE_NO_CMA = 0x10;
const KEXEC_FILE_FORCE_DTB = 0x20;
/** Every flag some kernel knows; the machine's release accepts releaseRules().fileFlags of them. */
export const KEXEC_FILE_KNOWN_FLAGS = KEXEC_FILE_UNLOAD | KEXEC_FILE_ON_CRASH | KEXEC_FILE_NO_INITRAMFS | KEXEC_FILE_DEBUG | KEXEC_FILE_NO_CMA | KEXEC_FILE_FORCE_DTB;
/** Where a kernel pointer printed with %p shows before the RNG is ready (what the Debian guests under TCG print). */
const PTRVAL = '(____ptrval____)';
/** KEXEC_FILE_SIZE_MAX = min(4 GiB, SSIZE_MAX). */
export const KEXEC_FILE_SIZE_MAX = 4n << 30n;

/** A file descriptor as the syscall receives it: an open file (by path; `window`: the bytes of a temporary file
 *  kexec-tools would have copied out of it, as for a UKI's .initrd), or a memfd's bytes (decompressed). */
export type FileArg = { kind: 'path'; path: string; window?: { offset: number; length: number } } | { kind: 'memfd'; name: string; data: Uint8Array } | { kind: 'badfd' };

export interface KexecFileArgs {
  kernel: FileArg;
  initrd: FileArg | null;
  /** cmdline_len bytes as passed (must end in NUL when non-empty). */
  cmdline: Uint8Array | null;
  flags: number;
}

export interface KexecFileResult {
  image: Kimage | null;
  unloaded: boolean;
  /** kexec_dprintk lines (KEXEC_FILE_DEBUG) and the pr_debug/pr_notice lines about signatures. */
  log: string[];
  /** verify_sig's verdict: who signed, or why the unverified image was still accepted. */
  signature: string;
  loader: string | null;
}

/** kernel_read_file_from_fd: the whole file, with the kernel's errnos for what cannot be read. */
function kernelReadFile(arg: FileArg, what: 'kernel' | 'initrd'): { name: string; size: number; data?: Uint8Array; path?: string; offset?: number } {
  if (arg.kind === 'badfd') throw new KexecError('EBADF', 'kernel_read_file_from_fd', `the ${what} file descriptor is not open`, { hint: `pass an open ${what} file (or KEXEC_FILE_NO_INITRAMFS)` });
  if (arg.kind === 'memfd') {
    if (arg.data.length === 0) throw new KexecError('EINVAL', 'kernel_read_file', `${arg.name}: the ${what} is empty`, { hint: `give a non-empty ${what}` });
    return { name: arg.name, size: arg.data.length, data: arg.data };
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(arg.path);
  } catch {
    throw new KexecError('EBADF', 'kernel_read_file_from_fd', `${arg.path}: the ${what} file is gone`, { hint: 'pass an existing file' });
  }
  if (!st.isFile()) throw new KexecError('EINVAL', 'kernel_read_file', `${arg.path}: the ${what} is not a regular file`, { hint: `pass a regular ${what} file` });
  if (st.size === 0) throw new KexecError('EINVAL', 'kernel_read_file', `${arg.path}: the ${what} is empty (0 bytes)`, { hint: `give a non-empty ${what}` });
  if (BigInt(st.size) > KEXEC_FILE_SIZE_MAX) {
    throw new KexecError('EFBIG', 'kernel_read_file', `${arg.path}: the ${what} is ${st.size} bytes, more than KEXEC_FILE_SIZE_MAX (4 GiB)`, { hint: `use a smaller ${what}` });
  }
  if (arg.window) {
    const w = arg.window;
    if (w.offset + w.length > st.size || w.length === 0) throw new KexecError('EINVAL', 'kernel_read_file', `${arg.path}: the ${what} (${w.length} bytes at ${w.offset}) is empty or past the end of the file`, { hint: `give a non-empty ${what}` });
    return { name: arg.path, size: w.length, path: arg.path, offset: w.offset };
  }
  return { name: arg.path, size: st.size, path: arg.path };
}

function readWhole(f: { size: number; data?: Uint8Array; path?: string }, what: string): Uint8Array {
  if (f.data) return f.data;
  try {
    const data = fs.readFileSync(f.path!);
    if (data.length !== f.size) throw new Error('size changed');
    return data;
  } catch (e) {
    throw new KexecError('EIO', 'kernel_read_file', `${f.path}: reading the ${what} failed (${(e as Error).message})`, { hint: 'the file changed or could not be read; try again' });
  }
}

/** arch_kexec_kernel_image_probe: the first loader whose probe returns 0 wins; else the last error. */
function probe(kernel: Uint8Array, loaders: readonly KexecFileOps[]): KexecFileOps {
  let last: KexecError | null = null;
  for (const ops of loaders) {
    const refusal = ops.probe(kernel);
    if (!refusal) return ops;
    last = refusal;
  }
  throw last ?? new KexecError('ENOEXEC', 'kexec_image_probe_default', 'no kexec_file loader is registered', { hint: 'register a loader' });
}

/** A refusal that keeps the signature facts of the check it replaces, so the CLI can still print them. */
function withReport(e: KexecError, cause: KexecError): KexecError {
  return cause instanceof SignatureError ? new SignatureError(e, cause.report) : e;
}

/**
 * IMA appraisal of the kernel file (process_measurement for KEXEC_KERNEL_CHECK with an imasig|modsig rule):
 * ima_check_blacklist first ("bin:" entry for the modsig's content digest -> EPERM), then the appended
 * signature must verify; either failure ends as EACCES.
 */
function imaAppraise(kernel: Uint8Array, keyrings: Keyrings, name: string): string {
  const hint = 'IMA appraises kexec kernels on this machine: sign the image with an appended (modsig) signature whose key is trusted, or turn --ima-appraise off';
  const digest = modsigContentDigest(kernel);
  if (digest && keyrings.isHashBlacklisted('bin', digest.hex)) {
    throw new KexecError('EACCES', 'ima_check_blacklist', `IMA appraisal of ${name} failed: the ${digest.algo} digest of its signed content is blacklisted (bin:${digest.hex})`, {
      hint: 'this exact image is forbidden; use another signed image, or remove the bin: entry from the blacklist keyring',
    });
  }
  try {
    const r = verifyAppendedSignature(kernel, keyrings, { source: name });
    return `IMA: appended signature verified (${r.signers?.[0]?.subject ?? 'signer'})`;
  } catch (e) {
    if (!(e instanceof KexecError)) throw e;
    throw withReport(new KexecError('EACCES', 'ima_appraise_measurement', `IMA appraisal of ${name} failed: ${e.message} (${e.errno})`, { hint }), e);
  }
}

/**
 * kimage_validate_signature: a failed verify_sig is fatal when enforced (KEXEC_SIG_FORCE, or the IMA arch
 * policy under secure boot); otherwise EPERM under lockdown unless IMA appraises the image; otherwise a note.
 */
function validateSignature(state: MachineState, ops: KexecFileOps, kernel: Uint8Array, name: string, keyrings: Keyrings, log: string[]): string {
  let failure: KexecError;
  if (!ops.verifySig) {
    failure = new KexecError('EKEYREJECTED', 'kexec_image_verify_sig_default', `${name}: the ${ops.name} loader does not support signature verification`, { hint: 'use a loader with verify_sig' });
  } else {
    try {
      const ok: SigAccepted = ops.verifySig(kernel, { keyrings, source: name });
      return ok.summary;
    } catch (e) {
      if (!(e instanceof KexecError)) throw e;
      failure = e;
    }
  }
  const { config } = state;
  const enforced = config.sigEnforce || config.secureBoot;
  const n = failure.errno;
  // verify_pefile.c pefile_parse_binary: pr_debug("Unsigned PE binary") for an empty certificate table.
  if (n === 'ENODATA') log.push('PEFILE: Unsigned PE binary');
  if (enforced) {
    log.push(`kexec_file: Enforced kernel signature verification failed (-${errnoNumber(n)}).`);
    throw failure;
  }
  if (!config.imaAppraise && config.lockdown !== 'none') {
    // security/lockdown/lockdown.c lockdown_is_locked_down: pr_notice with current->comm.
    log.push('Lockdown: vkexec: kexec of unsigned images is restricted; see man kernel_lockdown.7');
    throw withReport(new KexecError('EPERM', 'kimage_validate_signature', `Lockdown: vkexec: kexec of unsigned images is restricted; see man kernel_lockdown.7 (signature check: ${failure.message})`, {
      value: `lockdown=${config.lockdown}`,
      hint: `sign the kernel with a key in the machine's keyrings (${failure.hint ?? failure.errno})`,
    }), failure);
  }
  log.push(`kexec_file: kernel signature verification failed (-${errnoNumber(n)}).`);
  return `signature not verified (${failure.errno}: ${failure.message}); accepted because nothing enforces signatures on this machine`;
}

/** The machine's keyrings (empty until `machine keys add`). */
export function machineKeyrings(state: MachineState): Keyrings {
  return state.keyrings ? Keyrings.fromJSON(state.keyrings) : new Keyrings();
}

/**
 * 32-bit x86 Linux has no kexec_file_load: CONFIG_KEXEC_FILE depends on X86_64 (arch/x86/Kconfig), so the
 * syscall is sys_ni_syscall's ENOSYS, before any check or load limit.
 */
export function noKexecFileLoad32(): KexecError {
  return new KexecError('ENOSYS', 'kexec_file_load', 'i386 Linux has no kexec_file_load system call (CONFIG_KEXEC_FILE depends on X86_64, arch/x86/Kconfig)', {
    hint: 'load with -c (kexec_load), or with -a, which falls back to it',
  });
}

/** `loaders` is the machine's kexec_file_loaders[] in probe order (src/loaders/index.ts composes it). */
export function kexecFileLoad(dir: string, args: KexecFileArgs, loaders: readonly KexecFileOps[]): KexecFileResult {
  const pre = readState(dir);
  if (pre.config.arch === 'i386') throw noKexecFileLoad32();
  const crash = (args.flags & KEXEC_FILE_ON_CRASH) !== 0;
  const sysctl = kexecLoadPermitted(pre, crash);
  // KEXEC_FILE_FLAGS of the release (kexec_file_load): 6.1 knows UNLOAD|ON_CRASH|NO_INITRAMFS, so
  // KEXEC_FILE_DEBUG is EINVAL there, before any lockdown or signature check; 6.8 added DEBUG.
  const known = releaseRules(pre.config).fileFlags;
  if ((args.flags & ~known) !== 0) {
    persistRefusedAttempt(dir, sysctl, 'kexec_file_load');
    const unknown = args.flags & ~known;
    throw new KexecError('EINVAL', 'kexec_file_load', `unknown flags ${hex(BigInt(unknown))} for Linux ${kernelRelease(pre.config)} (KEXEC_FILE_FLAGS ${hex(BigInt(known))})`, {
      hint: unknown & KEXEC_FILE_DEBUG && !(KEXEC_FILE_KNOWN_FLAGS & ~KEXEC_FILE_DEBUG & unknown) ? 'KEXEC_FILE_DEBUG arrived in Linux 6.8: load without -d, or use a 6.12 machine (machine init --kernel-release 6.12)' : 'pass only the KEXEC_FILE_* flags this release knows',
    });
  }
  return underKexecLock(dir, 'kexec_file_load', sysctl, (state) => doKexecFileLoad(dir, state, args, crash, loaders));
}

/** The kernel log of a kexec_file_load that failed (the lines printed before the refusal), for -d and the tests. */
const failedLogs = new WeakMap<KexecError, string[]>();
export function kernelLogOf(e: KexecError): string[] {
  return failedLogs.get(e) ?? [];
}

function doKexecFileLoad(dir: string, state: MachineState, args: KexecFileArgs, crash: boolean, loaders: readonly KexecFileOps[]): KexecFileResult {
  const slot = crash ? 'crash' : 'normal';
  if (args.flags & KEXEC_FILE_UNLOAD) {
    const had = state.images[slot] !== null;
    state.images[slot] = null;
    writeState(dir, state);
    return { image: null, unloaded: had, log: [], signature: '', loader: null };
  }
  if (crash) state.images.crash = null;
  const log: string[] = [];
  const image = new FileKimage(slot, state.config, crashkRes(state.config), crashkLowRes(state.config), (args.flags & KEXEC_FILE_DEBUG) !== 0);
  try {
    return prepareAndLoad(dir, state, args, loaders, image, log);
  } catch (e) {
    if (e instanceof KexecError) failedLogs.set(e, [...log, ...image.log]);
    throw e;
  }
}

/** kimage_file_prepare_segments, then the segments loaded and the image swapped in (kexec_file_load's body). */
function prepareAndLoad(dir: string, state: MachineState, args: KexecFileArgs, loaders: readonly KexecFileOps[], image: FileKimage, log: string[]): KexecFileResult {
  const { config } = state;
  const crash = image.type === 'crash';
  const keyrings = machineKeyrings(state);
  const k = kernelReadFile(args.kernel, 'kernel');
  const kernel = readWhole(k, 'kernel');
  // kimage_file_prepare_segments (6.8+): kexec_dprintk("kernel: %p kernel_size: %#lx").
  if (image.debug && image.rules.logStyle === 'kexec_dprintk') log.push(`kexec_file: kernel: ${PTRVAL} kernel_size: ${hex(BigInt(kernel.length))}`);
  const notes: string[] = [];
  if (config.imaAppraise) notes.push(imaAppraise(kernel, keyrings, k.name));
  const ops = probe(kernel, loaders);
  if (ops.probeDebug) log.push(ops.probeDebug);
  const signature = validateSignature(state, ops, kernel, k.name, keyrings, log);
  let initrd: { path: string; size: number; offset?: number } | null = null;
  if (!(args.flags & KEXEC_FILE_NO_INITRAMFS)) {
    if (!args.initrd) throw new KexecError('EBADF', 'kernel_read_file_from_fd', 'no initrd file descriptor and no KEXEC_FILE_NO_INITRAMFS', { hint: 'pass an initrd or set KEXEC_FILE_NO_INITRAMFS' });
    const f = kernelReadFile(args.initrd, 'initrd');
    if (f.data) throw new KexecError('EINVAL', 'kernel_read_file', 'an initrd must be a file', { hint: 'pass the initrd by path' });
    initrd = { path: f.path!, size: f.size, ...(f.offset !== undefined ? { offset: f.offset } : {}) };
  }
  const cmdline = args.cmdline && args.cmdline.length > 0 ? args.cmdline : null;
  if (cmdline && cmdline[cmdline.length - 1] !== 0) {
    throw new KexecError('EINVAL', 'kimage_file_prepare_segments', 'the command line does not end in a NUL (cmdline_len must count it)', { hint: 'pass cmdline_len = strlen + 1' });
  }
  if (crash && !image.crashk) {
    throw new KexecError('EADDRNOTAVAIL', 'kexec_locate_mem_hole', 'no crash kernel region is reserved', { hint: 'reserve one with machine init --crashkernel' });
  }
  ops.load(image, { kernel, initrd, cmdline });
  sanityCheckSegmentList(image.segments, { arch: config.arch, totalRamPages: totalRamPages(config), crashk: image.crashk, crash });
  const p = image.requirePurgatory();
  kexecCalculateStoreDigests(image.segments, p);
  image.sealPurgatory();
  const kimage = kimageLoad(dir, state, image.type, image.start, args.flags, image.segments, {
    syscall: 'kexec_file_load',
    loader: ops.name,
    kernel: k.name,
    ...(initrd ? { initrd: initrd.offset === undefined ? initrd.path : `${initrd.path} (${initrd.size} bytes at ${hex(BigInt(initrd.offset))})` } : {}),
    ...(image.facts.cmdline !== undefined ? { cmdline: image.facts.cmdline } : {}),
    purgatorySegment: image.segments.findIndex((s) => s.mem === p.loadAddr),
  });
  logSegments(image, kimage.head, args.flags);
  ops.cleanup?.(image);
  state.images[image.type] = kimage;
  writeState(dir, state);
  return { image: kimage, unloaded: false, log: [...notes, ...log, ...image.log], signature, loader: ops.name };
}

/**
 * The segment lines: 6.1's kexec_file_load pr_debug("Loading segment %d: buf=0x%p bufsz=0x%zx mem=0x%lx
 * memsz=0x%zx") per segment; 6.8+ kexec_file_load's kexec_dprintk of nr_segments, each segment, and the
 * image's type, start, head and flags. %p prints (____ptrval____) as the guests do before their RNG is ready.
 */
function logSegments(image: FileKimage, head: bigint, flags: number): void {
  const seg = (s: { bufsz: number; mem: bigint; memsz: bigint }) => `buf=0x${PTRVAL} bufsz=${hex(BigInt(s.bufsz))} mem=${hex(s.mem)} memsz=${hex(s.memsz)}`;
  if (image.rules.logStyle === 'pr_debug') {
    image.segments.forEach((s, i) => image.prDebug(`Loading segment ${i}: ${seg(s)}`));
    return;
  }
  image.dprintkNew(`nr_segments = ${image.segments.length}`);
  image.segments.forEach((s, i) => image.dprintkNew(`segment[${i}]: ${seg(s)}`));
  image.dprintkNew(`kexec_file_load: type:${image.type === 'crash' ? 1 : 0}, start:${hex(image.start)} head:${hex(head)} flags:${hex(BigInt(flags))}`);
}
