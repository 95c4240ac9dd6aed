// The kexec_load system call (kernel/kexec.c) against a machine directory: checks in the kernel's order, the
// trylock, unload, the crash image freed before a new crash load, then the kimage built and swapped in.

import { kernelRelease, releaseRules } from '../machine/kernel-release.js';
import { KexecError } from '../../errno.js';
import { hex } from '../../lib/hex.js';
import { type ByteSource, byteSourceLength, collectBlobs } from '../machine/store.js';
import { tryLock } from '../machine/lock.js';
import { type MachineState, readState, referencedBlobs, writeState } from '../machine/machine.js';
import { crashkRes, totalRamPages } from '../machine/machine-config.js';
import { sanityCheckSegmentList } from './sanity-check.js';
import { type Kimage, type KimageInfo, KEXEC_SEGMENT_MAX } from '../machine/kimage.js';
import { kimageLoad } from './kimage-load.js';

// include/uapi/linux/kexec.h
export const KEXEC_ON_CRASH = 0x1;
export const KEXEC_PRESERVE_CONTEXT = 0x2;
const KEXEC_UPDATE_ELFCOREHDR = 0x4;
const KEXEC_CRASH_HOTPLUG_SUPPORT = 0x8;
const KEXEC_ARCH_MASK = 0xffff0000;
export const KEXEC_ARCH_DEFAULT = 0;
export const KEXEC_ARCH_386 = 3 << 16;
export const KEXEC_ARCH_X86_64 = 62 << 16;
/** Every flag a kernel may know; which of them the machine's release accepts is releaseRules().loadFlags. */
export const KEXEC_KNOWN_FLAGS = KEXEC_ON_CRASH | KEXEC_PRESERVE_CONTEXT | KEXEC_UPDATE_ELFCOREHDR | KEXEC_CRASH_HOTPLUG_SUPPORT;

export interface UserSegment {
  /** The bytes (bufsz = their length); null for a segment with bufsz 0. */
  buf: ByteSource | null;
  mem: bigint;
  memsz: bigint;
}

/**
 * kexec_load_permitted: CAP_SYS_BOOT (the caller owns the machine, so it has it), the one-way
 * kexec_load_disabled sysctl and the per-type load limit, decremented on every permitted attempt.
 * Returns the sysctl change to persist, if any.
 */
export function kexecLoadPermitted(state: MachineState, crash: boolean): MachineState['sysctl'] | null {
  if (state.sysctl.kexec_load_disabled === 1) {
    throw new KexecError('EPERM', 'kexec_load_permitted', 'kexec_load_disabled is set on this machine', {
      value: '/proc/sys/kernel/kexec_load_disabled = 1',
      hint: 'the sysctl cannot be cleared (as in Linux); create a new machine to load images again',
    });
  }
  const key = crash ? 'kexec_load_limit_panic' : 'kexec_load_limit_reboot';
  const limit = state.sysctl[key];
  if (limit === 0) {
    throw new KexecError('EPERM', 'kexec_load_permitted', `${key} has reached 0`, {
      value: `/proc/sys/kernel/${key} = 0`,
      hint: 'the load limit only counts down (as in Linux); create a new machine to load more images',
    });
  }
  return limit === -1 ? null : { ...state.sysctl, [key]: limit - 1 };
}

/** kexec_load_check: permission, IMA, lockdown, flags, segment count (then the syscall checks the arch). */
function kexecLoadCheck(state: MachineState, nrSegments: number, flags: number): MachineState['sysctl'] | null {
  const crash = (flags & KEXEC_ON_CRASH) !== 0;
  const sysctl = kexecLoadPermitted(state, crash);
  const { config } = state;
  // security_kernel_load_data(LOADING_KEXEC_IMAGE): IMA cannot appraise a buffer without a file descriptor.
  if (config.secureBoot || config.imaAppraise) {
    throw new KexecError('EACCES', 'ima_load_data', 'impossible to appraise a kernel image without a file descriptor; try using kexec_file_load syscall.', {
      value: config.secureBoot ? 'secure boot is on (KEXEC_SIG)' : 'IMA appraises kexec kernels',
      hint: 'load with -s (kexec_file_load) so the image signature can be checked',
    });
  }
  if (config.lockdown !== 'none') {
    throw new KexecError('EPERM', 'security_locked_down', 'Lockdown: vkexec: kexec of unsigned images is restricted; see man kernel_lockdown.7', {
      value: `lockdown=${config.lockdown}`,
      hint: 'use -s (kexec_file_load) with a signed image, or a machine without lockdown',
    });
  }
  // KEXEC_FLAGS of the release (kexec_load_check): Debian builds without CONFIG_KEXEC_JUMP, so PRESERVE_CONTEXT
  // is refused on both; 6.1 knows only ON_CRASH, 6.12 adds UPDATE_ELFCOREHDR (6.6) and CRASH_HOTPLUG_SUPPORT.
  const known = releaseRules(state.config).loadFlags;
  if ((flags & known) !== (flags & ~KEXEC_ARCH_MASK)) {
    throw new KexecError('EINVAL', 'kexec_load_check', `unknown flags ${hex(flags & ~KEXEC_ARCH_MASK & ~known)} for Linux ${kernelRelease(state.config)} (KEXEC_FLAGS ${hex(known)})`, {
      hint: `pass only the flags this release knows (${hex(known)}) and the arch bits`,
    });
  }
  if (nrSegments > KEXEC_SEGMENT_MAX) {
    throw new KexecError('EINVAL', 'kexec_load_check', `${nrSegments} segments, more than KEXEC_SEGMENT_MAX (16)`, {
      hint: 'merge segments; the kernel takes at most 16',
    });
  }
  return sysctl;
}

/**
 * A refusal after kexec_load_permitted counted a load down but before the lock: the counter still moved, so
 * persist it when the machine is free (when it is busy the other command's write wins; the kernel's counter
 * has its own mutex, ours is the kexec lock).
 */
export function persistRefusedAttempt(dir: string, sysctl: MachineState['sysctl'] | null, what: string): void {
  if (!sysctl) return;
  let lock;
  try {
    lock = tryLock(dir, what);
  } catch {
    return;
  }
  try {
    const fresh = readState(dir);
    fresh.sysctl = sysctl;
    writeState(dir, fresh);
  } finally {
    lock.release();
  }
}

/**
 * kexec_trylock, then the syscall's body on a fresh read of the state. On failure only what the kernel itself
 * would have changed is written (a load limit counted down, a crash image freed before the new one failed);
 * otherwise the blobs the attempt stored are dropped.
 */
export function underKexecLock<T>(dir: string, what: string, sysctl: MachineState['sysctl'] | null, body: (state: MachineState) => T): T {
  const lock = tryLock(dir, what);
  try {
    const state = readState(dir);
    if (sysctl) state.sysctl = sysctl;
    const crashBefore = state.images.crash;
    try {
      return body(state);
    } catch (e) {
      if (sysctl || state.images.crash !== crashBefore) writeState(dir, state);
      else collectBlobs(dir, referencedBlobs(state));
      throw e;
    }
  } finally {
    lock.release();
  }
}

export interface KexecLoadResult {
  image: Kimage | null;
  unloaded: boolean;
}

export function kexecLoad(dir: string, entry: bigint, segments: readonly UserSegment[], flags: number, info: KimageInfo): KexecLoadResult {
  const pre = readState(dir);
  const sysctl = kexecLoadCheck(pre, segments.length, flags);
  const archBits = flags & KEXEC_ARCH_MASK;
  const ownArch = pre.config.arch === 'x86_64' ? KEXEC_ARCH_X86_64 : KEXEC_ARCH_386;
  if (archBits !== ownArch && archBits !== KEXEC_ARCH_DEFAULT) {
    persistRefusedAttempt(dir, sysctl, 'kexec_load');
    throw new KexecError('EINVAL', 'kexec_load', `arch ${hex(archBits >>> 16)} in flags does not match this ${pre.config.arch} machine`, {
      hint: `load an image built for ${pre.config.arch}`,
    });
  }
  return underKexecLock(dir, 'kexec_load', sysctl, (state) => doKexecLoad(dir, state, entry, segments, flags, info));
}

/** do_kexec_load: runs with the lock held; `state` is mutated only where the kernel mutates it before failing. */
function doKexecLoad(dir: string, state: MachineState, entry: bigint, userSegs: readonly UserSegment[], flags: number, info: KimageInfo): KexecLoadResult {
  const crash = (flags & KEXEC_ON_CRASH) !== 0;
  const slot = crash ? 'crash' : 'normal';
  if (userSegs.length === 0) {
    const had = state.images[slot] !== null;
    state.images[slot] = null;
    writeState(dir, state);
    return { image: null, unloaded: had };
  }
  // Free any current crash kernel before we corrupt it: a failed crash load leaves none.
  if (crash) state.images.crash = null;

  const { config } = state;
  const crashk = crashkRes(config);
  if (crash && (!crashk || entry < crashk.start || entry > crashk.end)) {
    throw new KexecError('EADDRNOTAVAIL', 'kimage_alloc_init', `crash entry point ${hex(entry)} is outside the crash kernel region${crashk ? ` [${hex(crashk.start)}-${hex(crashk.end)}]` : ' (none reserved)'}`, {
      hint: 'reserve a crash region (machine init --crashkernel) and load the crash kernel inside it',
    });
  }
  const staged = userSegs.map((s) => ({ buf: s.buf, bufsz: s.buf ? byteSourceLength(s.buf) : 0, mem: s.mem, memsz: s.memsz }));
  sanityCheckSegmentList(staged, { arch: config.arch, totalRamPages: totalRamPages(config), crashk, crash });
  const image = kimageLoad(dir, state, slot, entry, flags, staged, info);
  state.images[slot] = image;
  writeState(dir, state);
  return { image, unloaded: false };
}
