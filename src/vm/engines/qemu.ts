// The QEMU engine: runs a memory image on qemu-system-x86_64 with our firmware stub (src/arch/x86/stub) in
// place of a BIOS. The stub puts the CPU in relocate_kernel's hand-off state and jumps to the entry.
//
// Guest RAM is a sparse file (memory-backend-file, share=off) holding every extent at its guest-physical place,
// so QEMU maps it instead of copying it (a 200 MB initrd costs a file write, not a second copy in QEMU).
// Console: COM1 on QEMU's stdio, whose stdout is a file in the run directory that the engine follows
// (file-tail.ts says why not a pipe). isa-debug-exit at port 0x501: a guest byte write of v makes QEMU exit with
// status (v << 1) | 1, reported as 'poweroff' with the code in the details. With -no-reboot every CPU reset
// ends QEMU; the kernel's restart notice on the console marks a requested reboot, and under TCG QEMU's
// cpu_reset log says "Triple fault" when the reset came from one.
import { type ChildProcess, spawn, execFile } from 'node:child_process';
import { constants as fsc, createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { access, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { KexecError, UsageError } from '../../errno.js';
import { encodeStubParams, STUB_PARAMS_ADDR, stubBinPath } from '../../arch/x86/stub/params.js';
import type { EntryState, Extent, MemoryImage, PhysAddr } from '../memory/memory-image.js';
import { fillPatternBytes } from '../memory/fill-pattern.js';
import type { BootOptions, Engine, Outcome, OutcomeStatus } from './engine.js';
import { ConsoleWatcher } from './qemu-console.js';
import { FileTail } from './file-tail.js';
import { checkImageForQemu, identityMapGib, qemuRamRegions, ramFileOffset } from './qemu-layout.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
export const QEMU_DEBIAN_PACKAGE = 'qemu-system-x86';
/**
 * isa-debug-exit: a byte write of v to this port ends QEMU with exit status (v << 1) | 1. The exit status has
 * 8 bits, so guests use codes 0x00-0x7f; they come back as 'poweroff' with the code in the details.
 */
export const DEBUG_EXIT_PORT = 0x501;

/** After a panic or mismatch line starts, wait this long for the rest of the line before stopping QEMU. */
const LINE_GRACE_MS = 1000;
/** SIGTERM first; SIGKILL if QEMU is still there after this. */
const KILL_GRACE_MS = 2000;
const KVM_PROBE_TIMEOUT_MS = 3000;
const KVM_PROBE_CODE = 0x2a;
const COPY_CHUNK = 8 << 20;
const STDERR_KEEP = 16384;

/**
 * The hand-off state plus an optional RSI (ESI) value. relocate_kernel leaves RSI at 0 and the purgatory sets
 * it; a caller that enters a kernel directly (no purgatory) passes boot_params here.
 */
export interface QemuEntryState extends EntryState {
  rsi?: PhysAddr;
}

export interface QemuEngineOptions {
  /** The QEMU system emulator to run (default qemu-system-x86_64 from PATH). */
  binary?: string;
}

type Accel = 'kvm' | 'tcg';

interface RunResult {
  status: OutcomeStatus;
  details: string[];
  consoleTail: string;
  /** The byte the guest wrote to isa-debug-exit, when it ended that way. */
  debugExitCode?: number;
}

function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

const installHint = `install the Debian package ${QEMU_DEBIAN_PACKAGE} (apt-get install ${QEMU_DEBIAN_PACKAGE})`;

// Per process: `-version` of each binary, and whether KVM ran the probe guest.
const versionChecks = new Map<string, Promise<string | null>>();
const kvmVerdicts = new Map<string, Promise<string | null>>();

function checkBinary(binary: string): Promise<string | null> {
  let p = versionChecks.get(binary);
  if (!p) {
    p = new Promise((resolve) => {
      execFile(binary, ['-version'], { timeout: 10000 }, (err, stdout) => {
        if (!err && /QEMU emulator version/.test(stdout)) return resolve(null);
        const code = (err as NodeJS.ErrnoException | null)?.code;
        if (code === 'ENOENT') return resolve(`${binary} not found: ${installHint}`);
        resolve(`${binary} -version failed (${err ? err.message.split('\n')[0] : 'not a QEMU binary'}): ${installHint}`);
      });
    });
    versionChecks.set(binary, p);
  }
  return p;
}

/** The KVM probe guest (entered in long64): writes KVM_PROBE_CODE to isa-debug-exit. */
const KVM_PROBE_PAYLOAD = Uint8Array.from([
  0xb0, KVM_PROBE_CODE, // mov $0x2a, %al
  0x66, 0xba, DEBUG_EXIT_PORT & 0xff, DEBUG_EXIT_PORT >> 8, // mov $0x501, %dx
  0xee, // out %al, (%dx)
  0xf4, // hlt
  0xeb, 0xfd, // jmp back to hlt
]);

export class QemuEngine implements Engine {
  readonly name = 'qemu' as const;
  private readonly binary: string;

  constructor(options: QemuEngineOptions = {}) {
    this.binary = options.binary ?? QEMU_BINARY;
  }

  async unavailable(_entry: EntryState): Promise<string | null> {
    // Both entry states are supported: the stub sets up either.
    if (!stubBinPath()) return 'the firmware stub src/arch/x86/stub/stub.bin is missing: run src/arch/x86/stub/build.sh';
    return checkBinary(this.binary);
  }

  async boot(image: MemoryImage, entry: QemuEntryState, opts: BootOptions): Promise<Outcome> {
    const started = Date.now();
    const why = await this.unavailable(entry);
    if (why) throw new KexecError('ENOENT', 'qemu engine', why, { value: this.binary, hint: installHint });
    checkImageForQemu(image, entry);

    const details: string[] = [];
    const accel = await this.chooseAccel(opts.accel ?? 'auto', details);
    const result = await this.run(image, entry, opts, accel, details);
    return {
      status: result.status,
      engine: 'qemu',
      details: result.details,
      consoleTail: result.consoleTail,
      wallMs: Date.now() - started,
    };
  }

  private async chooseAccel(wanted: 'kvm' | 'tcg' | 'auto', details: string[]): Promise<Accel> {
    if (wanted !== 'auto') {
      details.push(`accelerator: ${wanted}`);
      return wanted;
    }
    const reason = await this.kvmUnusable();
    details.push(reason ? `accelerator: tcg (KVM not used: ${reason})` : 'accelerator: kvm (probe guest ran)');
    return reason ? 'tcg' : 'kvm';
  }

  /** Why KVM cannot run guests here, or null; decided once per process by running a tiny guest. */
  private kvmUnusable(): Promise<string | null> {
    let p = kvmVerdicts.get(this.binary);
    if (!p) {
      p = this.probeKvm();
      kvmVerdicts.set(this.binary, p);
    }
    return p;
  }

  private async probeKvm(): Promise<string | null> {
    try {
      await access('/dev/kvm', fsc.R_OK | fsc.W_OK);
    } catch {
      return '/dev/kvm is missing or not accessible';
    }
    const image: MemoryImage = {
      ramSize: 16n << 20n,
      e820: [],
      extents: [{ addr: 0x100000n, length: KVM_PROBE_PAYLOAD.length, kind: 'bytes', data: KVM_PROBE_PAYLOAD }],
    };
    try {
      const r = await this.run(image, { mode: 'long64', entry: 0x100000n }, { timeoutMs: KVM_PROBE_TIMEOUT_MS }, 'kvm', []);
      if (r.debugExitCode === KVM_PROBE_CODE) return null;
      return r.status === 'timeout'
        ? `the probe guest did not finish within ${KVM_PROBE_TIMEOUT_MS / 1000} s`
        : `the probe guest ended with '${r.status}' (${r.details[r.details.length - 1] ?? ''})`;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private async run(image: MemoryImage, entry: QemuEntryState, opts: BootOptions, accel: Accel, details: string[]): Promise<RunResult> {
    const stub = stubBinPath()!;
    const dir = await mkdtemp(join(tmpdir(), 'vkexec-qemu-'));
    let log: WriteStream | undefined;
    try {
      const ramFile = join(dir, 'ram');
      const qemuLog = join(dir, 'qemu.log');
      await writeRamFile(ramFile, image, encodeStubParams({
        mode: entry.mode,
        entry: entry.entry,
        rsi: entry.rsi ?? 0n,
        gib: identityMapGib(image.ramSize),
      }));
      const args = qemuArgs({ accel, stub, ramFile, ramSize: image.ramSize, qemuLog, disks: opts.disks ?? [] });
      details.push(`qemu: ${this.binary} ${args.join(' ')}`);
      if (opts.consoleLog) log = await openLog(opts.consoleLog);
      const r = await this.supervise(args, opts, log, accel === 'tcg' ? qemuLog : null, join(dir, 'console'));
      r.details = [...details, ...r.details];
      return r;
    } finally {
      if (log) await new Promise<void>((resolve) => log!.end(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Runs QEMU until the guest ends, a console event, the timeout, or the user leaves (Ctrl-A x). */
  private async supervise(args: string[], opts: BootOptions, log: WriteStream | undefined, tcgLog: string | null, consoleFile: string): Promise<RunResult> {
    // QEMU's stdout is a regular file that the engine follows (file-tail.ts says why not a pipe).
    const out = await open(consoleFile, 'wx');
    let tail: FileTail;
    try {
      tail = await FileTail.open(consoleFile);
    } catch (err) {
      await out.close();
      throw err;
    }
    return new Promise((resolve, reject) => {
      const watcher = new ConsoleWatcher(opts.expect);
      let child: ChildProcess;
      try {
        child = spawn(this.binary, args, { stdio: [opts.interactive ? 'pipe' : 'ignore', out.fd, 'pipe'] });
      } finally {
        void out.close(); // the child has its own copy
      }
      let stderr = '';
      let stopping = false;
      let timedOut = false;
      let userQuit = false;
      let lineTimer: NodeJS.Timeout | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      let spawnError: NodeJS.ErrnoException | undefined;
      /** QEMU has exited: what the final read finds is only recorded, no stop timers are started. */
      let ended = false;

      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      };
      const timeout = setTimeout(() => {
        timedOut = true;
        stop();
      }, opts.timeoutMs);
      const detachInput = opts.interactive && child.stdin ? attachInput(child.stdin, () => {
        userQuit = true;
        stop();
      }) : () => {};

      let midLine = false;
      tail.follow((chunk) => {
        log?.write(chunk);
        opts.echo?.write(chunk);
        midLine = chunk.length > 0 && chunk[chunk.length - 1] !== 0x0a;
        const ev = watcher.feed(chunk);
        if (!ev || stopping || ended) return;
        if (ev.complete) stop();
        else lineTimer ??= setTimeout(stop, LINE_GRACE_MS);
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        if (stderr.length < STDERR_KEEP) stderr += chunk.toString('utf8');
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        spawnError = err;
      });
      child.on('close', (code, signal) => {
        ended = true;
        clearTimeout(timeout);
        clearTimeout(lineTimer);
        clearTimeout(killTimer);
        detachInput();
        // QEMU has ended: the rest of the console is in the file.
        tail.finish().then(() => {
          // Leave the user's terminal at the start of a line for vkexec's own report.
          if (midLine) opts.echo?.write('\n');
          if (spawnError) {
            const missing = spawnError.code === 'ENOENT';
            const msg = missing ? `${this.binary} not found` : `${this.binary} did not start: ${spawnError.message}`;
            throw new KexecError(missing ? 'ENOENT' : 'ENOEXEC', 'qemu start', msg, { value: this.binary, hint: installHint });
          }
          return this.decide({ code, signal, stderr, watcher, stopping, timedOut, userQuit, tcgLog, timeoutMs: opts.timeoutMs, expect: opts.expect });
        }).then(resolve, reject);
      });
    });
  }

  private async decide(s: {
    code: number | null;
    signal: NodeJS.Signals | null;
    stderr: string;
    watcher: ConsoleWatcher;
    stopping: boolean;
    timedOut: boolean;
    userQuit: boolean;
    tcgLog: string | null;
    timeoutMs: number;
    expect: RegExp | undefined;
  }): Promise<RunResult> {
    const consoleTail = s.watcher.tail();
    const done = (status: OutcomeStatus, detail: string, debugExitCode?: number): RunResult =>
      debugExitCode === undefined ? { status, details: [detail], consoleTail } : { status, details: [detail], consoleTail, debugExitCode };
    const ev = s.watcher.event;
    if (ev) {
      switch (ev.status) {
        case 'stub-failure':
          throw new KexecError('ENOEXEC', 'qemu firmware stub', `the firmware stub stopped: ${ev.line.trim()}`, {
            value: ev.line.trim(),
            hint: 'the CPU QEMU emulates lacks long mode or 1 GiB pages: try --accel tcg',
          });
        case 'matched':
          return done('matched', `console matched ${String(s.expect)}: ${JSON.stringify(ev.line)}`);
        default:
          return done(ev.status, `console: ${ev.line.trim()}`);
      }
    }
    if (s.timedOut) return done('timeout', `no outcome within ${s.timeoutMs} ms; QEMU stopped`);
    if (s.userQuit) return done('poweroff', 'console closed by the user (Ctrl-A x); QEMU stopped');

    const qemuErrors = s.stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !/: warning: /.test(l) && !/terminating on signal/.test(l));
    const name = basename(this.binary);
    if (s.signal && !s.stopping) {
      throw new KexecError('ENOEXEC', 'qemu run', `${name} died of ${s.signal}${qemuErrors.length ? ': ' + qemuErrors.join('; ') : ''}`, {
        value: s.signal,
        hint: 'with KVM, try --accel tcg',
      });
    }
    if (s.code === 0) {
      if (s.watcher.rebootRequested) return done('reboot', 'guest reset the CPU after the kernel\'s restart notice; QEMU ended (-no-reboot)');
      if (s.tcgLog) {
        const log = await readFile(s.tcgLog, 'latin1').catch(() => '');
        if (log.includes('Triple fault')) return done('triple-fault', 'triple fault: the CPU reset itself (QEMU log: "Triple fault")');
        return done('reboot', 'guest reset the CPU (keyboard controller or reset port); QEMU ended (-no-reboot)');
      }
      return done('triple-fault', 'CPU reset with no restart notice on the console; under KVM QEMU cannot tell a triple fault from a silent reset, so it is taken for one');
    }
    if (s.code !== null && s.code % 2 === 1 && qemuErrors.length === 0) {
      const v = (s.code - 1) >> 1;
      return done('poweroff', `guest wrote ${hex(v)} to isa-debug-exit (port ${hex(DEBUG_EXIT_PORT)}); QEMU exit status ${s.code}`, v);
    }
    const accelBroken = qemuErrors.some((l) => /kvm|accel/i.test(l));
    throw new KexecError('ENOEXEC', 'qemu start', `${name} failed (exit status ${s.code}): ${qemuErrors.join('; ') || 'no message'}`, {
      value: String(s.code),
      hint: accelBroken ? 'KVM does not work here: use --accel tcg' : 'QEMU refused the machine: see its message',
    });
  }
}

function qemuArgs(p: { accel: Accel; stub: string; ramFile: string; ramSize: bigint; qemuLog: string; disks: string[] }): string[] {
  const args = [
    '-nodefaults', '-nographic', '-no-reboot',
    '-accel', p.accel,
    // TCG: everything QEMU emulates (long mode, 1 GiB pages). KVM: the host CPU as is.
    '-cpu', p.accel === 'kvm' ? 'host' : 'max',
    '-smp', '1',
    '-object', `memory-backend-file,id=vkexec-ram,size=${p.ramSize}B,mem-path=${p.ramFile},share=off`,
    '-machine', 'pc,memory-backend=vkexec-ram,max-ram-below-4g=3G',
    '-bios', p.stub,
    '-chardev', 'stdio,id=vkexec-con,signal=off',
    '-serial', 'chardev:vkexec-con',
    '-device', `isa-debug-exit,iobase=${hex(DEBUG_EXIT_PORT)},iosize=1`,
  ];
  // TCG logs "Triple fault" under cpu_reset; KVM has no such log.
  if (p.accel === 'tcg') args.push('-d', 'cpu_reset', '-D', p.qemuLog);
  p.disks.forEach((disk, i) => {
    args.push('-drive', `file=${disk},format=raw,if=none,id=vkexec-disk${i}`, '-device', `virtio-blk-pci,drive=vkexec-disk${i}`);
  });
  return args;
}

async function openLog(path: string): Promise<WriteStream> {
  const stream = createWriteStream(path, { flags: 'w' });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err) => reject(new UsageError(`cannot write the console log ${path}: ${err.message}`, { hint: 'choose a writable console log path' })));
  });
  return stream;
}

/** Builds the guest's RAM file: sparse, RAM-sized, each extent at its file offset, the stub's parameters at 0x500. */
async function writeRamFile(path: string, image: MemoryImage, params: Uint8Array): Promise<void> {
  const regions = qemuRamRegions(image.ramSize);
  const fh = await open(path, 'wx');
  try {
    await fh.truncate(Number(image.ramSize));
    for (const e of image.extents) {
      if (e.length === 0 || e.kind === 'zero') continue; // a new sparse file reads as zeros
      const at = Number(ramFileOffset(regions, e.addr, BigInt(e.length))!);
      if (e.kind === 'bytes') await fh.write(e.data, 0, e.length, at);
      else if (e.kind === 'pattern') await writePattern(e, fh, at);
      else await copyFileRange(e, fh, at);
    }
    await fh.write(params, 0, params.length, Number(STUB_PARAMS_ADDR));
  } catch (err) {
    if (err instanceof KexecError) throw err;
    throw new KexecError('EIO', 'qemu memory-backend', `cannot write the guest RAM file ${path}: ${(err as Error).message}`, {
      value: path,
      hint: 'set TMPDIR to a filesystem with room for the loaded segments (the RAM file is sparse)',
    });
  } finally {
    await fh.close();
  }
}

/** A fill-pattern run (machine panic --fill): computed COPY_CHUNK bytes at a time. */
async function writePattern(e: Extent & { kind: 'pattern' }, out: FileHandle, at: number): Promise<void> {
  const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, e.length));
  for (let done = 0; done < e.length; ) {
    const n = Math.min(buf.length, e.length - done);
    fillPatternBytes(buf.subarray(0, n), e.addr + BigInt(done), e.pattern);
    await out.write(buf, 0, n, at + done);
    done += n;
  }
}

async function copyFileRange(e: Extent & { kind: 'file' }, out: FileHandle, at: number): Promise<void> {
  let src: FileHandle;
  try {
    src = await open(e.path, 'r');
  } catch (err) {
    throw new KexecError('EIO', 'qemu memory-backend', `cannot read ${e.path}: ${(err as Error).message}`, {
      value: e.path,
      hint: 'the machine state refers to a missing blob: reload the image (vkexec -u, then -l)',
    });
  }
  try {
    const size = (await src.stat()).size;
    if (e.offset < 0 || e.offset + e.length > size) {
      throw new KexecError('EIO', 'qemu memory-backend', `${e.path} is ${size} bytes, shorter than the segment bytes [${e.offset}, ${e.offset + e.length}) loaded from it`, {
        value: e.path,
        hint: 'the blob changed since it was loaded: reload the image (vkexec -u, then -l)',
      });
    }
    const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, e.length));
    for (let done = 0; done < e.length; ) {
      const want = Math.min(buf.length, e.length - done);
      const { bytesRead } = await src.read(buf, 0, want, e.offset + done);
      if (bytesRead === 0) {
        throw new KexecError('EIO', 'qemu memory-backend', `${e.path} ended early at ${e.offset + done}`, {
          value: e.path,
          hint: 'the blob changed since it was loaded: reload the image (vkexec -u, then -l)',
        });
      }
      await out.write(buf, 0, bytesRead, at + done);
      done += bytesRead;
    }
  } finally {
    await src.close();
  }
}

/**
 * Forwards the user's keystrokes to the guest serial port (raw mode on a terminal, so Ctrl-C reaches the
 * guest). Ctrl-A x leaves; Ctrl-A Ctrl-A sends one Ctrl-A. Returns the function that undoes it.
 */
function attachInput(to: NodeJS.WritableStream, quit: () => void): () => void {
  const stdin = process.stdin;
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  if (stdin.isTTY) stdin.setRawMode(true);
  to.on('error', () => {}); // QEMU gone: input no longer matters
  let escape = false;
  const onData = (buf: Buffer): void => {
    const out: number[] = [];
    for (const b of buf) {
      if (escape) {
        escape = false;
        if (b === 0x78) {
          quit();
          return;
        }
        out.push(0x01);
        if (b !== 0x01) out.push(b);
      } else if (b === 0x01) {
        escape = true;
      } else {
        out.push(b);
      }
    }
    if (out.length) to.write(Buffer.from(out));
  };
  stdin.on('data', onData);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
    stdin.pause();
  };
}
