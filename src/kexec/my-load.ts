// my_load (kexec-tools kexec/kexec.c): the kexec_load path. Read and decompress the kernel, read the
// machine's memory map, probe the file types, let the chosen loader lay out segments, check and sort them,
// patch the purgatory's digest, then make the kexec_load system call.

import * as fs from 'node:fs';
import { KexecError, UsageError, strerror } from '../errno.js';
import { DecompressError, decompressKernelFile } from '../formats/compress.js';
import { type KexecFileType, type LoadRequest, type LoadedLayout, KEXEC_TOOLS_TYPE_NAMES, LoadFailed, NoCrashKernelSegment } from './file-type.js';
import type { KexecLoadRequest } from './load-request.js';

import type { MachineArch } from '../vm/machine/machine-config.js';
import { KEXEC_ARCH_DEFAULT, KEXEC_ARCH_X86_64, KEXEC_ON_CRASH, KEXEC_PRESERVE_CONTEXT, kexecLoad } from '../vm/kernel/kexec-load.js';
import type { Kimage } from '../vm/machine/kimage.js';
import { type Debug } from './debug.js';
import { hex16, hex, ptr } from '../lib/hex.js';
import { KexecInfo } from './kexec-info.js';
import { type SystemFiles, crashKernelRanges, getMemoryRanges } from './memory-ranges.js';
import { archUpdatePurgatory, finishPurgatorySegment, updatePurgatory } from './purgatory-load.js';

/** my_load's inputs: the -l/-p request (its kernel path, the assembled command line) and the machine's side. */
export interface MyLoadOptions extends Omit<KexecLoadRequest, 'syscall' | 'reuseCmdline' | 'debug'> {
  /** kexec-tools' file_type[] for this machine, in probe order. */
  fileTypes: readonly KexecFileType[];
  /** The assembled command line (reuse + append), null when none was given. */
  cmdline: string | null;
  arch: MachineArch;
  files: SystemFiles;
  debug: Debug;
  /** kexec-tools' printf to stdout (add_memmap's notes on a panic load). */
  stdout: (line: string) => void;
  machineDir: string;
}

/** slurp_decompress_file's decompression; a decompression bomb is refused, not loaded raw. */
export function unpackKernel(raw: Uint8Array, path: string): ReturnType<typeof decompressKernelFile> {
  try {
    return decompressKernelFile(raw);
  } catch (e) {
    if (e instanceof DecompressError) throw new UsageError(`${path}: ${e.message}`, { hint: 'the file decompresses to more than vkexec accepts for a kernel (1 GiB)' });
    throw e;
  }
}

/**
 * slurp_file (kexec-tools 2.0.32 slurp_file_generic + slurp_fd; 2.0.25 alike, checked by test/differential):
 * open(2) failing dies "Cannot open `F': ERR"; a directory opens, its read(2) fails with EISDIR ("Read on F
 * failed: Is a directory", then die "Cannot read F"); an empty file gets a NULL buffer from xmalloc(0) and
 * dies "Cannot read F". die() exits 1.
 */
export function slurpFile(path: string): Buffer {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
    if (!st.isDirectory()) fs.accessSync(path, fs.constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'ENOTDIR' ? 'Not a directory' : (e as Error).message;
    throw new UsageError(`Cannot open \`${path}': ${why}`, { hint: code === 'EACCES' ? 'make the file readable' : 'check the path' });
  }
  if (st.isDirectory()) {
    const lines = [...(st.size > 0 ? [`Read on ${path} failed: Is a directory`] : []), `Cannot read ${path}`];
    throw new UsageError(lines, { hint: 'give the kernel image file, not a directory' });
  }
  const data = fs.readFileSync(path);
  if (data.length === 0) throw new UsageError(`Cannot read ${path}`, { hint: 'the kernel file is empty' });
  return data;
}

/** Size of a file to be streamed (the initrd), with the same messages as slurp_file. */
function statReadable(path: string): number {
  try {
    const st = fs.statSync(path);
    if (!st.isFile()) throw Object.assign(new Error(), { code: st.isDirectory() ? 'EISDIR' : 'EINVAL' });
    fs.accessSync(path, fs.constants.R_OK);
    return st.size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : 'Not a regular file';
    throw new UsageError(`Cannot open \`${path}': ${why}`, { hint: code === 'ENOENT' ? 'check the --initrd path' : 'give a readable regular file' });
  }
}

export function printSegments(info: KexecInfo, out: (line: string) => void): void {
  out(`nr_segments = ${info.segments.length}`);
  info.segments.forEach((s, i) => {
    // Userspace buffer addresses do not exist here: print a stable handle per segment (documented in the man page).
    out(`segment[${i}].buf   = ${s.buf ? ptr(0x7f0000000000n + BigInt(i) * 0x10000000n) : '(nil)'}`);
    out(`segment[${i}].bufsz = ${hex(s.bufsz)}`);
    out(`segment[${i}].mem   = ${ptr(s.mem)}`);
    out(`segment[${i}].memsz = ${hex(s.memsz)}`);
  });
}

export interface MyLoadResult {
  info: KexecInfo;
  image: Kimage;
  typeName: string;
}

/** my_load's memory map: the machine's ranges, --mem-min/--mem-max, a panic kernel's crash region. */
function kexecInfoFor(o: MyLoadOptions, flags: number): KexecInfo {
  const ranges = getMemoryRanges(o.files);
  if (ranges.length === 0) throw new UsageError(['Could not get memory layout'], { exitCode: 255 });
  const info = new KexecInfo(ranges, flags, o.debug);
  if (o.memMin !== null) info.memMin = o.memMin;
  if (o.memMax !== null) info.memMax = o.memMax;
  if (o.crash) {
    // get_memory_ranges: a panic kernel's holes are searched inside the crash region only.
    const crash = crashKernelRanges(o.files);
    const r = crash[crash.length - 1];
    if (r) {
      if (r.start > info.memMin) info.memMin = r.start;
      if (r.end < info.memMax) info.memMax = r.end;
    }
  }
  o.debug.print('MEMORY RANGES');
  for (const r of ranges) o.debug.print(`${hex16(r.start)}-${hex16(r.end)} (${r.type})`);
  return info;
}

/** my_load's probe loop: -t TYPE when it matches, else the first file type that takes the kernel. */
function probeFileType(o: MyLoadOptions, kernel: Uint8Array): KexecFileType {
  const types = o.fileTypes;
  const known = types.map((t) => t.name).join(', ');
  // kexec-tools' probe messages are compiled out (probe_debug is const 0): collect them for the hint instead.
  const why: string[] = [];
  const quiet: Debug = { enabled: false, print: (l) => why.push(l) };
  const chosen = types.find((t) => t.name === o.type);
  if (o.type !== null && !chosen) {
    const hint = KEXEC_TOOLS_TYPE_NAMES.includes(o.type) ? `vkexec does not implement kexec-tools' ${o.type} loader; types here: ${known}` : `known types: ${known}`;
    throw new UsageError([`Unsupported kernel type ${o.type}`], { exitCode: 255, hint });
  }
  if (chosen && chosen.probe(kernel, quiet)) return chosen;
  why.length = 0;
  const guess = types.find((t) => t.probe(kernel, quiet));
  if (!guess) {
    const reasons = types.map((t, i) => `${t.name}: ${why[i] ?? 'no'}`).join('; ');
    throw new UsageError([`Cannot determine the file type of ${o.kernelPath}`], { exitCode: 255, hint: `no loader accepts it (${reasons})` });
  }
  if (chosen) throw new UsageError([`Wrong file type ${o.type}, file matches type ${guess.name}`], { exitCode: 255, hint: `drop -t or use -t ${guess.name}` });
  return guess;
}

/** The file type's load(): its -1 becomes my_load's "Cannot load FILE" (ENOCRASHKERNEL prints its own text). */
function loadFileType(o: MyLoadOptions, type: KexecFileType, kernel: Uint8Array, info: KexecInfo): LoadedLayout {
  const req: LoadRequest = {
    kernelPath: o.kernelPath,
    kernel,
    cmdline: o.cmdline,
    initrd: o.initrd === null ? null : { path: o.initrd, size: statReadable(o.initrd) },
    arch: o.arch,
    crash: o.crash,
    entry32bit: o.entry32bit,
    realMode: o.realMode,
    fast: o.fast,
    modules: o.modules,
    append: o.append,
    argsMode: o.argsMode,
    ...(o.coreHeaderType ? { coreHeaderType: o.coreHeaderType } : {}),
    passMemmapCmdline: o.passMemmapCmdline,
    console: o.console,
    files: o.files,
    debug: o.debug,
  };
  try {
    return type.load(req, info);
  } catch (e) {
    if (!(e instanceof LoadFailed)) throw e;
    const noCrash = e instanceof NoCrashKernelSegment;
    // kexec-tools' ENOCRASHKERNEL text is two lines of its own (no user text in it): print them as two.
    throw new UsageError([...(noCrash ? e.reason.split('\n') : [e.reason]), ...(noCrash ? [] : [`Cannot load ${o.kernelPath}`])], { exitCode: e.exitCode, ...(e.hint ? { hint: e.hint } : {}) });
  }
}

/**
 * The arch bits of kexec_load's flags, as physical_arch finds them from uname's machine (kexec-tools
 * kexec/arch/i386/kexec-x86.c and x86_64/kexec-x86_64.c arches[], 2.0.25 and 2.0.32 alike): "x86_64" gives
 * KEXEC_ARCH_X86_64; "i686" (an i386 machine) gives KEXEC_ARCH_DEFAULT, "for compatibility with older
 * patches", which the kernel accepts as its own arch (kexec_load_check).
 */
export function kexecArchFlag(arch: MachineArch): number {
  return arch === 'x86_64' ? KEXEC_ARCH_X86_64 : KEXEC_ARCH_DEFAULT;
}

export function myLoad(o: MyLoadOptions): MyLoadResult {
  const raw = slurpFile(o.kernelPath);
  const { data: kernel, format, fallback } = unpackKernel(raw, o.kernelPath);
  if (fallback) o.debug.print(`${o.kernelPath}: looked ${fallback.format}-compressed but ${fallback.message}; using it as it is`);
  o.debug.print(`kernel: ${ptr(0x7e0000000000n)} kernel_size: ${hex(kernel.length)}`);
  if (format) o.debug.print(`${o.kernelPath}: ${format}-compressed, ${raw.length} bytes unpacked to ${kernel.length}`);

  let flags = o.crash ? KEXEC_ON_CRASH : o.preserveContext ? KEXEC_PRESERVE_CONTEXT : 0;
  const info = kexecInfoFor(o, flags);
  const chosen = probeFileType(o, kernel);
  if (o.fast && (chosen.name !== 'bzImage64' || o.entry32bit || o.realMode)) {
    const what = chosen.name !== 'bzImage64' ? `${o.kernelPath} is loaded as ${chosen.name}` : `--${o.entry32bit ? 'entry-32bit' : 'real-mode'} enters the bzImage's own setup code`;
    throw new UsageError([`--fast needs a relocatable 64-bit bzImage entered at 64 bits: ${what}`], { exitCode: 255, hint: 'drop --fast, or give an x86_64 machine a bzImage64 without --entry-32bit/--real-mode' });
  }
  flags |= kexecArchFlag(o.arch);
  info.kexecFlags = flags;

  const layout = loadFileType(o, chosen, kernel, info);
  for (const line of layout.stdout ?? []) o.stdout(line);
  for (const line of layout.stderr ?? []) process.stderr.write(line + '\n');
  for (const s of info.segments) {
    if (!info.validMemoryRange(s.mem, s.mem + s.memsz - 1n)) {
      throw new UsageError([`Invalid memory segment ${ptr(s.mem)} - ${ptr(s.mem + s.memsz)}`], { exitCode: 255, hint: "the segment is not inside the machine's RAM" });
    }
  }
  info.sortSegments();
  if (layout.purgatory) {
    archUpdatePurgatory(layout.purgatory, o.console, layout.backup ?? { srcStart: 0n, srcSize: 0n, start: 0n }, o.crash);
    updatePurgatory(info, layout.purgatory, o.skipChecks);
    finishPurgatorySegment(info, layout.purgatory, o.arch);
  }
  if (o.entry !== null && o.entry !== 0n) info.entry = o.entry;
  o.debug.print(`kexec_load: entry = ${ptr(info.entry)} flags = ${hex(flags)}`);
  if (o.debug.enabled) printSegments(info, (l) => o.debug.print(l));
  const purgatorySegment = layout.purgatory ? info.segments.findIndex((s) => s.mem === layout.purgatory!.loadAddr) : undefined;
  return { info, image: kexecLoadSegments(o, info, chosen.name, purgatorySegment), typeName: chosen.name };
}

/** my_load's kexec_load call; a refusal prints the entry and the segments, as kexec-tools does. */
function kexecLoadSegments(o: MyLoadOptions, info: KexecInfo, typeName: string, purgatorySegment: number | undefined): Kimage {
  const flags = info.kexecFlags;
  try {
    const { image } = kexecLoad(
      o.machineDir,
      info.entry,
      info.segments.map((s) => ({ buf: s.buf, mem: s.mem, memsz: s.memsz })),
      flags,
      {
        syscall: 'kexec_load',
        loader: o.fast ? `${typeName} --fast` : typeName,
        kernel: o.kernelPath,
        initrd: o.initrd ?? undefined,
        cmdline: o.cmdline ?? undefined,
        purgatorySegment,
      },
    );
    return image!;
  } catch (e) {
    if (e instanceof KexecError) {
      const lines = [`kexec_load failed: ${strerror(e.errno)}`, `entry       = ${ptr(info.entry)} flags = ${hex(flags)}`];
      printSegments(info, (l) => lines.push(l));
      throw new UsageError(lines, { exitCode: 255, kernelError: e });
    }
    throw e;
  }
}
