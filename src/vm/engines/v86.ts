// The in-process engine: v86 (npm `v86`, an x86 emulator compiled to wasm) runs the memory image on an
// emulated 32-bit PC. No BIOS: the entry stub (v86-stub.ts) enters as a multiboot image and hands over to
// EntryState.entry in 32-bit protected mode with paging off, as i386 relocate_kernel hands over to
// image->start. The serial port COM1 is the console.

import { accessSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { KexecError } from '../../errno.js';
import { alignUp } from '../../lib/align.js';
import { hex } from '../../lib/hex.js';
import { overlapsAny, type PhysRange } from '../../lib/range.js';
import type { EntryState, Extent, MemoryImage } from '../memory/memory-image.js';
import { writeMemoryImage } from '../memory/ram-writer.js';
import type { CpuState } from './cpu-state.js';
import type { BootOptions, Engine, Outcome, OutcomeStatus } from './engine.js';
import { LINE_GRACE_MS, PANIC_END_MARKER } from './console-markers.js';
import { attachConsoleInput } from './serial-input.js';
import { SerialConsole, type ConsoleVerdict } from './v86-console.js';
import {
  V86_RESET_FLAG_ADDR,
  V86_RESET_MAGIC,
  V86_RESET_VECTOR,
  V86_STUB_BASE,
  V86_STUB_END,
  v86ResetTrap,
  v86StubImage,
} from './v86-stub.js';

/**
 * Largest guest RAM v86 gives: its create_memory clamps any memory_size of 2 GiB or more to 2 GiB - 128 KiB
 * (MMAP_BLOCK_SIZE) without a word, so the engine refuses above it instead.
 */
export const V86_MAX_MEMORY = 0x7ffe0000n;
/** v86 rounds memory_size up to 128 KiB blocks and to at least 1 MiB. */
const V86_MEMORY_BLOCK = 0x20000n;
const V86_MIN_MEMORY = 0x100000n;

export const V86_LONG64_MESSAGE =
  'v86 emulates a 32-bit x86 CPU (no long mode) and this image is entered in 64-bit mode: ' +
  'run it with --engine qemu (Debian: apt-get install qemu-system-x86)';

/** After "Kernel panic", keep reading this long for the trace unless the kernel ends or resets first. */
const PANIC_GRACE_MS = 1000;
/** Node's setTimeout limit; longer timeouts would fire at once. */
const MAX_TIMER_MS = 0x7fffffff;

/** The part of v86's V86 class the engine uses (v86.d.ts lacks the cpu-event-halt event). */
interface V86Emulator {
  add_listener(event: 'serial0-output-byte', listener: (byte: number) => void): void;
  add_listener(event: 'cpu-event-halt' | 'emulator-ready', listener: () => void): void;
  run(): Promise<void>;
  destroy(): Promise<void>;
  write_memory(blob: Uint8Array, offset: number): void;
  read_memory(offset: number, length: number): Uint8Array;
  serial_send_bytes(serial: number, data: Uint8Array): void;
}

type WasmExports = WebAssembly.Exports;

/** The corner of v86's internals the engine repairs (property names survive v86's build; checked before use). */
interface V86Internals {
  v86?: { cpu?: { io?: { ports?: unknown[]; create_empty_entry?: () => unknown } } };
}

/**
 * v86's multiboot loader leaves kvm-unit-test hooks behind: a byte written to port 0xF4 logs to stdout and
 * throws out of the CPU loop (killing this process), a 32-bit read of 0xF4 re-runs the multiboot load
 * (rewriting the stub and jumping to it), and writes to 0x2000-0x200F raise IRQs. A PC has nothing on
 * these ports (QEMU's isa-debug-exit is opt-in), so the engine puts back v86's empty port entries.
 * False when v86's internals moved.
 */
const KVM_UNIT_TEST_PORTS = [0xf4, 0xf5, 0xf6, 0xf7, ...Array.from({ length: 16 }, (_, i) => 0x2000 + i)];

function unplugKvmUnitTestPorts(emulator: V86Emulator): boolean {
  const io = (emulator as unknown as V86Internals).v86?.cpu?.io;
  if (!Array.isArray(io?.ports) || typeof io.create_empty_entry !== 'function') return false;
  for (const port of KVM_UNIT_TEST_PORTS) io.ports[port] = io.create_empty_entry();
  return true;
}

let compiledWasm: Promise<WebAssembly.Module> | undefined;

/** v86.wasm of the installed package (resolved like an import, so it works from dist/ and from node_modules). */
export function v86WasmPath(): string {
  return fileURLToPath(import.meta.resolve('v86/build/v86.wasm'));
}

function mib(v: bigint): string {
  return `${Number(v) / 2 ** 20} MiB`;
}

/** memory_size for the machine's RAM; refuses what v86 would silently shrink. */
export function v86MemorySize(ramSize: bigint): number {
  if (ramSize > V86_MAX_MEMORY) {
    throw new KexecError(
      'ENOMEM',
      'v86 memory_size',
      `the machine has ${mib(ramSize)} of RAM but v86 gives a guest at most ${mib(V86_MAX_MEMORY)} ` +
        `(memory_size ${hex(V86_MAX_MEMORY)})`,
      { value: hex(ramSize), hint: 'use a machine with at most 2047 MiB of RAM, or --engine qemu' },
    );
  }
  const size = ramSize < V86_MIN_MEMORY ? V86_MIN_MEMORY : ramSize;
  return Number(alignUp(size, V86_MEMORY_BLOCK));
}

const STUB_RANGE: PhysRange = { start: BigInt(V86_STUB_BASE), end: BigInt(V86_STUB_END) };
const RESET_VECTOR_RANGE: PhysRange = { start: BigInt(V86_RESET_VECTOR), end: BigInt(V86_RESET_VECTOR + 16) };

const extentRange = (e: Extent): PhysRange => ({ start: e.addr, end: e.addr + BigInt(e.length) });

/** Every extent must lie in RAM and keep out of the stub; the reset trap goes in only where nothing else is. */
function checkExtents(image: MemoryImage): { resetTrap: boolean } {
  let prevEnd = 0n;
  for (const e of image.extents) {
    const end = e.addr + BigInt(e.length);
    const badLength = !Number.isSafeInteger(e.length) || e.length < 0 || (e.kind === 'bytes' && e.data.length !== e.length);
    if (badLength || e.addr < prevEnd) {
      throw new KexecError(
        'EINVAL',
        'v86 memory image',
        `memory image extent at ${hex(e.addr)} ` + (badLength ? `has a bad length ${e.length}` : 'overlaps or precedes the one before it'),
        { value: hex(e.addr), hint: "extents must be sorted, disjoint and sized: this is a bug in machine_kexec's memory image" },
      );
    }
    prevEnd = end;
    if (end > image.ramSize) {
      throw new KexecError(
        'EFAULT',
        'v86 write_memory',
        `memory image extent ${hex(e.addr)}-${hex(end - 1n)} lies beyond the machine's ${mib(image.ramSize)} of RAM`,
        { value: hex(e.addr), hint: 'reload the image into this machine (vkexec -u, then -l)' },
      );
    }
    if (overlapsAny(extentRange(e), [STUB_RANGE])) {
      throw new KexecError(
        'EBUSY',
        'v86 entry stub',
        `memory image extent ${hex(e.addr)}-${hex(end - 1n)} overlaps the v86 entry stub at ` +
          `${hex(V86_STUB_BASE)}-${hex(V86_STUB_END - 1)}`,
        { value: hex(e.addr), hint: 'keep segments at 0x3000 or above (as kexec does), or use --engine qemu' },
      );
    }
  }
  return { resetTrap: !overlapsAny(RESET_VECTOR_RANGE, image.extents.map(extentRange)) };
}

function loadWasm(): Promise<WebAssembly.Module> {
  compiledWasm ??= readFile(v86WasmPath()).then((bytes) => WebAssembly.compile(bytes));
  compiledWasm.catch(() => (compiledWasm = undefined));
  return compiledWasm;
}

/**
 * Creates the emulator and waits until v86 has loaded the stub. v86 gives no error path for a failed wasm
 * start, so our wasm_fn keeps the failure and never settles v86's promise (it would be unhandled).
 */
async function createEmulator(memorySize: number, entry: number): Promise<V86Emulator> {
  const { V86 } = await import('v86');
  const stub = v86StubImage(entry);
  return new Promise<V86Emulator>((resolve, reject) => {
    const options = {
      wasm_fn: async (imports: WebAssembly.Imports): Promise<WasmExports> => {
        try {
          return (await WebAssembly.instantiate(await loadWasm(), imports)).exports;
        } catch (err) {
          reject(
            new KexecError('ENOEXEC', 'v86 start', `cannot start v86 (${v86WasmPath()}): ${(err as Error).message}`, {
              hint: 'reinstall the v86 package, or use --engine qemu',
            }),
          );
          return new Promise<WasmExports>(() => {});
        }
      },
      multiboot: { buffer: stub.buffer as ArrayBuffer },
      memory_size: memorySize,
      autostart: false,
      acpi: false,
      // No keyboard/mouse/speaker adapters (Node has none), no NIC (v86 adds an ne2k unless told otherwise).
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
      net_device: { type: 'none' },
    };
    const emulator = new V86(options as unknown as ConstructorParameters<typeof V86>[0]) as unknown as V86Emulator;
    emulator.add_listener('emulator-ready', () => resolve(emulator));
  });
}

interface RunState {
  status: OutcomeStatus;
  detail: string;
  firstByteMs: number | undefined;
}

/** A halt with interrupts off and no console verdict: the reset trap's flag tells a CPU reset from a hang. */
function haltVerdict(emulator: V86Emulator, resetTrap: boolean): ConsoleVerdict {
  const flag = emulator.read_memory(V86_RESET_FLAG_ADDR, 4);
  const wasReset = resetTrap && new DataView(flag.buffer, flag.byteOffset, 4).getUint32(0, true) === V86_RESET_MAGIC;
  if (wasReset) return { status: 'triple-fault', detail: 'the CPU was reset without a reboot message (triple fault or reset request)' };
  return {
    status: 'hang',
    detail:
      'the CPU halted with interrupts disabled and nothing can wake it' +
      ' (an x86-64 kernel entered on v86\'s 32-bit CPU stops this way: use --engine qemu)',
  };
}

/** What is left of --timeout: it counts from boot(), so loading the image is part of it. */
function timeLeftMs(opts: BootOptions, t0: number): number | undefined {
  const left = opts.timeoutMs - (performance.now() - t0);
  return Number.isFinite(left) ? Math.min(Math.max(left, 0), MAX_TIMER_MS) : undefined;
}

/** Runs until a verdict: console markers, --expect, a halt with interrupts off, a reset, or the timeout. */
function runUntilVerdict(
  emulator: V86Emulator,
  con: SerialConsole,
  opts: BootOptions,
  resetTrap: boolean,
  t0: number,
): Promise<RunState> {
  return new Promise<RunState>((resolve) => {
    let finished = false;
    let firstByteMs: number | undefined;
    let panic: ConsoleVerdict | undefined;
    let flushQueued = false;
    let partialTimer: NodeJS.Timeout | undefined;
    const timers: NodeJS.Timeout[] = [];
    let stopStdin: (() => void) | undefined;

    const finish = (v: ConsoleVerdict): void => {
      if (finished) return;
      finished = true;
      timers.forEach(clearTimeout);
      stopStdin?.();
      opts.abort?.removeEventListener('abort', onAbort);
      con.flush();
      resolve({ status: v.status, detail: v.detail, firstByteMs });
    };
    const decide = (v: ConsoleVerdict | null): void => {
      if (v === null) return;
      if (panic !== undefined) return finish(panic);
      if (v.status !== 'panic') return finish(v);
      // Keep the trace: panic() ends with PANIC_END_MARKER (panic=0) or resets the CPU (panic=-1).
      panic = v;
      timers.push(setTimeout(() => finish(v), PANIC_GRACE_MS));
    };

    emulator.add_listener('serial0-output-byte', (b) => {
      if (finished) return;
      firstByteMs ??= performance.now() - t0;
      decide(con.byte(b));
      if (panic !== undefined && b === 0x0a && con.lastLineHas(PANIC_END_MARKER)) return finish(panic);
      if (!flushQueued && !finished) {
        flushQueued = true;
        setImmediate(() => {
          flushQueued = false;
          if (finished) return;
          con.flush();
          // An --expect match in an unfinished line: LINE_GRACE_MS for the line to end (byte() judges a whole
          // line at once), then it is taken as it is (a prompt).
          if (partialTimer === undefined && con.judgePartial(false) !== null) {
            timers.push((partialTimer = setTimeout(() => ((partialTimer = undefined), finished || decide(con.judgePartial(false))), LINE_GRACE_MS)));
          }
        });
      }
    });

    emulator.add_listener('cpu-event-halt', () => {
      if (finished) return;
      // v86 reports HLT with interrupts off: nothing can wake the CPU again.
      decide(con.judgePartial(true));
      if (finished) return;
      finish(panic ?? haltVerdict(emulator, resetTrap));
    });

    const limit = timeLeftMs(opts, t0);
    if (limit !== undefined) {
      timers.push(setTimeout(() => finish({ status: 'timeout', detail: `no verdict within ${opts.timeoutMs} ms` }), limit));
    }
    const onAbort = (): void => finish({ status: 'interrupted', detail: `vkexec got ${String(opts.abort?.reason)}; v86 stopped` });
    if (opts.abort?.aborted) onAbort();
    else opts.abort?.addEventListener('abort', onAbort);
    if (opts.interactive) {
      stopStdin = attachConsoleInput(
        (bytes) => emulator.serial_send_bytes(0, bytes),
        () => finish({ status: 'quit', detail: 'the user left the console (Ctrl-A x)' }),
      );
    }
    void emulator.run();
  });
}

/** v86's CPU object as far as the post-mortem reads it (v86.d.ts does not declare it). */
interface V86Cpu {
  instruction_pointer: Int32Array;
  reg32: Int32Array;
  cr: Int32Array;
  protected_mode: Int32Array;
}

/** The CPU state v86 holds at the end of a run (EIP is linear: CS base included), for the post-mortem. */
function v86CpuState(emulator: V86Emulator, halted: boolean): CpuState | null {
  const cpu = (emulator as unknown as { v86?: { cpu?: Partial<V86Cpu> } }).v86?.cpu;
  if (!cpu?.instruction_pointer || !cpu.reg32 || !cpu.cr) return null;
  const u = (v: number | undefined) => hex(BigInt((v ?? 0) >>> 0));
  return {
    rip: u(cpu.instruction_pointer[0]),
    rsp: u(cpu.reg32[4]), // ESP
    cr0: u(cpu.cr[0]),
    cr3: u(cpu.cr[3]),
    cr4: u(cpu.cr[4]),
    efer: '0x0', // v86 has no long mode
    mode: cpu.protected_mode?.[0] ? 'protected32' : 'real16',
    halted,
    handoffPaging: ((cpu.cr[0] ?? 0) & 0x80000000) === 0, // the stub enters with paging off
    source: 'v86',
  };
}

export class V86Engine implements Engine {
  readonly name = 'v86' as const;

  async unavailable(entry: EntryState): Promise<string | null> {
    if (entry.mode === 'long64') return V86_LONG64_MESSAGE;
    if (entry.entry >= 1n << 32n) {
      return `the entry point ${hex(entry.entry)} lies above 4 GiB, out of reach of a 32-bit CPU: use --engine qemu`;
    }
    try {
      accessSync(v86WasmPath());
    } catch {
      return 'the v86 package is not installed (cannot find v86/build/v86.wasm): npm install v86, or use --engine qemu';
    }
    return null;
  }

  async boot(image: MemoryImage, entry: EntryState, opts: BootOptions): Promise<Outcome> {
    const t0 = performance.now();
    const why = await this.unavailable(entry);
    if (why !== null) {
      throw new KexecError('EOPNOTSUPP', 'v86 entry state', why, { value: `${entry.mode} ${hex(entry.entry)}` });
    }
    if (opts.disks !== undefined && opts.disks.length > 0) {
      throw new KexecError('EOPNOTSUPP', 'v86 disks', 'the v86 engine attaches no disks', {
        value: opts.disks.join(' '),
        hint: 'use --engine qemu to attach disks',
      });
    }
    const memorySize = v86MemorySize(image.ramSize);
    const { resetTrap } = checkExtents(image);

    const con = new SerialConsole(opts);
    let emulator: V86Emulator | undefined;
    try {
      emulator = await createEmulator(memorySize, Number(entry.entry));
      const readyMs = performance.now() - t0;
      const unplugged = unplugKvmUnitTestPorts(emulator);
      const bytes = await writeMemoryImage(image, {
        rule: 'v86 write_memory',
        writesZeros: true, // v86's multiboot loader has written to RAM already: zero runs are written, not assumed
        write: (data, addr) => emulator!.write_memory(data, Number(addr)),
      });
      if (resetTrap) emulator.write_memory(v86ResetTrap(), V86_RESET_VECTOR);
      const loadedMs = performance.now() - t0;
      const run = await runUntilVerdict(emulator, con, opts, resetTrap, t0);
      const details = [
        `v86: ${mib(BigInt(memorySize))} of RAM, ready after ${readyMs.toFixed(0)} ms; ` +
          `${image.extents.length} extents (${bytes} bytes) written by ${loadedMs.toFixed(0)} ms`,
        `entered ${hex(entry.entry)} in protected32 mode through the stub at ${hex(V86_STUB_BASE)}` +
          (resetTrap ? '' : ' (an extent covers the reset vector: CPU resets go undetected)'),
        run.firstByteMs === undefined
          ? 'no console output'
          : `first console byte ${run.firstByteMs.toFixed(0)} ms after boot(); ${con.bytesSeen} bytes in all`,
        ...(unplugged ? [] : ["warning: v86's kvm-unit-test ports are live (a guest write to port 0xF4 ends this process)"]),
        run.detail,
      ];
      const cpu = run.status === 'matched' || run.status === 'interrupted' || run.status === 'quit' ? null : v86CpuState(emulator, run.status === 'hang');
      return { status: run.status, engine: 'v86', details, consoleTail: con.tail(), ...(cpu ? { cpu } : {}), wallMs: performance.now() - t0 };
    } finally {
      await emulator?.destroy();
      con.close();
    }
  }
}
