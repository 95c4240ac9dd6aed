// my_load (kexec-tools kexec/kexec.c): the kexec_load path. Read and decompress the kernel, read the
// machine's memory map, probe the file types, let the chosen loader lay out segments, check and sort them,
// patch the purgatory's digest, then make the kexec_load system call.

import * as fs from 'node:fs';
import { KexecError, UsageError, strerror } from '../errno.js';
import { DecompressError, decompressKernelFile } from '../formats/compress.js';
import { type KexecFileType, type LoadRequest, KEXEC_TOOLS_TYPE_NAMES, LoadFailed, NoCrashKernelSegment } from './file-type.js';

import type { MachineArch } from '../vm/machine/machine-config.js';
import { KEXEC_ARCH_386, KEXEC_ARCH_X86_64, KEXEC_ON_CRASH, KEXEC_PRESERVE_CONTEXT, kexecLoad } from '../vm/kernel/kexec-load.js';
import type { Kimage } from '../vm/machine/kimage.js';
import { type Debug } from './debug.js';
import { hex16, hex, ptr } from '../lib/hex.js';
import { KexecInfo } from './kexec-info.js';
import { LoadError } from './load-error.js';
export { LoadError };
import { type SystemFiles, crashKernelRanges, getMemoryRanges } from './memory-ranges.js';
import { archUpdatePurgatory, updatePurgatory, type PurgatoryConsole } from './purgatory-load.js';

export interface MyLoadOptions {
  /** kexec-tools' file_type[] for this machine, in probe order. */
  fileTypes: readonly KexecFileType[];
  type: string | null;
  kernelPath: string;
  cmdline: string | null;
  initrdPath: string | null;
  arch: MachineArch;
  crash: boolean;
  preserveContext: boolean;
  skipChecks: boolean;
  entry: bigint | null;
  memMin: bigint | null;
  memMax: bigint | null;
  entry32bit: boolean;
  realMode: boolean;
  /** vkexec's --fast (bzImage64 only): enter the host-decompressed vmlinux, see loaders/bzimage64-fast.ts. */
  fast?: boolean;
  argsMode: LoadRequest['argsMode'];
  coreHeaderType?: LoadRequest['coreHeaderType'];
  passMemmapCmdline?: boolean;
  console: PurgatoryConsole;
  files: SystemFiles;
  debug: Debug;
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

/** slurp_file: the whole file, with kexec-tools' die() messages (exit 1) for what cannot be read. */
export function slurpFile(path: string): Buffer {
  try {
    const st = fs.statSync(path);
    if (st.isDirectory()) throw Object.assign(new Error(), { code: 'EISDIR' });
    return fs.readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : (e as Error).message;
    throw new UsageError(`Cannot open \`${path}': ${why}`, { hint: code === 'ENOENT' ? 'check the path' : code === 'EACCES' ? 'make the file readable' : 'give a regular file' });
  }
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

export function myLoad(o: MyLoadOptions): MyLoadResult {
  const raw = slurpFile(o.kernelPath);
  const { data: kernel, format, fallback } = unpackKernel(raw, o.kernelPath);
  if (fallback) o.debug.print(`${o.kernelPath}: looked ${fallback.format}-compressed but ${fallback.message}; using it as it is`);
  o.debug.print(`kernel: ${ptr(0x7e0000000000n)} kernel_size: ${hex(kernel.length)}`);
  if (format) o.debug.print(`${o.kernelPath}: ${format}-compressed, ${raw.length} bytes unpacked to ${kernel.length}`);

  const ranges = getMemoryRanges(o.files);
  if (ranges.length === 0) throw new LoadError(['Could not get memory layout'], 255);
  let flags = o.crash ? KEXEC_ON_CRASH : o.preserveContext ? KEXEC_PRESERVE_CONTEXT : 0;
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

  const FILE_TYPES = o.fileTypes;
  // kexec-tools' probe messages are compiled out (probe_debug is const 0): collect them for the hint instead.
  const why: string[] = [];
  const quiet: Debug = { enabled: false, print: (l) => why.push(l) };
  let chosen = FILE_TYPES.find((t) => t.name === o.type);
  if (o.type !== null && !chosen) {
    if (KEXEC_TOOLS_TYPE_NAMES.includes(o.type)) {
      throw new LoadError([`Unsupported kernel type ${o.type}`], 255, `vkexec does not implement kexec-tools' ${o.type} loader; types here: ${FILE_TYPES.map((t) => t.name).join(', ')}`);
    }
    throw new LoadError([`Unsupported kernel type ${o.type}`], 255, `known types: ${FILE_TYPES.map((t) => t.name).join(', ')}`);
  }
  if (!chosen || !chosen.probe(kernel, quiet)) {
    why.length = 0;
    const guess = FILE_TYPES.find((t) => t.probe(kernel, quiet));
    if (!guess) {
      const reasons = FILE_TYPES.map((t, i) => `${t.name}: ${why[i] ?? 'no'}`).join('; ');
      throw new LoadError([`Cannot determine the file type of ${o.kernelPath}`], 255, `no loader accepts it (${reasons})`);
    }
    if (chosen) throw new LoadError([`Wrong file type ${o.type}, file matches type ${guess.name}`], 255, `drop -t or use -t ${guess.name}`);
    chosen = guess;
  }
  if (o.fast && (chosen.name !== 'bzImage64' || o.entry32bit || o.realMode)) {
    const what = chosen.name !== 'bzImage64' ? `${o.kernelPath} is loaded as ${chosen.name}` : `--${o.entry32bit ? 'entry-32bit' : 'real-mode'} enters the bzImage's own setup code`;
    throw new LoadError([`--fast needs a relocatable 64-bit bzImage entered at 64 bits: ${what}`], 255, 'drop --fast, or give an x86_64 machine a bzImage64 without --entry-32bit/--real-mode');
  }
  flags |= o.arch === 'x86_64' ? KEXEC_ARCH_X86_64 : KEXEC_ARCH_386;
  info.kexecFlags = flags;

  const initrd = o.initrdPath === null ? null : { path: o.initrdPath, size: statReadable(o.initrdPath) };
  const req: LoadRequest = {
    kernelPath: o.kernelPath,
    kernel,
    cmdline: o.cmdline,
    initrd,
    arch: o.arch,
    crash: o.crash,
    entry32bit: o.entry32bit,
    realMode: o.realMode,
    fast: Boolean(o.fast),
    argsMode: o.argsMode,
    ...(o.coreHeaderType ? { coreHeaderType: o.coreHeaderType } : {}),
    passMemmapCmdline: Boolean(o.passMemmapCmdline),
    console: o.console,
    files: o.files,
    debug: o.debug,
  };
  let layout;
  try {
    layout = chosen.load(req, info);
  } catch (e) {
    if (e instanceof LoadFailed) {
      const noCrash = e instanceof NoCrashKernelSegment;
      throw new LoadError([e.reason, ...(noCrash ? [] : [`Cannot load ${o.kernelPath}`])], noCrash ? 254 : 255, e.hint);
    }
    throw e;
  }
  for (const line of layout.stdout ?? []) process.stdout.write(line + '\n');
  for (const s of info.segments) {
    if (!info.validMemoryRange(s.mem, s.mem + s.memsz - 1n)) {
      throw new LoadError([`Invalid memory segment ${ptr(s.mem)} - ${ptr(s.mem + s.memsz)}`], 255, "the segment is not inside the machine's RAM");
    }
  }
  info.sortSegments();
  if (layout.purgatory) {
    archUpdatePurgatory(layout.purgatory, o.console, layout.backup ?? { srcStart: 0n, srcSize: 0n, start: 0n }, o.crash);
    updatePurgatory(info, layout.purgatory, o.skipChecks);
  }
  if (o.entry !== null && o.entry !== 0n) info.entry = o.entry;
  o.debug.print(`kexec_load: entry = ${ptr(info.entry)} flags = ${hex(flags)}`);
  if (o.debug.enabled) printSegments(info, (l) => o.debug.print(l));

  try {
    const { image } = kexecLoad(
      o.machineDir,
      info.entry,
      info.segments.map((s) => ({ buf: s.buf, mem: s.mem, memsz: s.memsz })),
      flags,
      {
        syscall: 'kexec_load',
        loader: o.fast ? `${chosen.name} --fast` : chosen.name,
        kernel: o.kernelPath,
        initrd: o.initrdPath ?? undefined,
        cmdline: o.cmdline ?? undefined,
        purgatorySegment: layout.purgatory ? info.segments.findIndex((s) => s.mem === layout.purgatory!.loadAddr) : undefined,
      },
    );
    return { info, image: image!, typeName: chosen.name };
  } catch (e) {
    if (e instanceof KexecError) {
      const lines = [`kexec_load failed: ${strerror(e.errno)}`, `entry       = ${ptr(info.entry)} flags = ${hex(flags)}`];
      printSegments(info, (l) => lines.push(l));
      throw new LoadError(lines, 255, e.hint, e);
    }
    throw e;
  }
}
