import type { EntryState, MemoryImage } from '../memory/memory-image.js';
import type { CpuState } from './cpu-state.js';

export type EngineName = 'verify' | 'qemu' | 'v86';

export interface BootOptions {
  /** Success at the first console match. */
  expect?: RegExp;
  /** Wall-clock limit in milliseconds; the outcome is 'timeout' when it passes. */
  timeoutMs: number;
  /** Copy of the guest console (serial port) goes here, if set. */
  consoleLog?: string;
  /** Echo the guest console to this stream (the user's terminal), if set. */
  echo?: NodeJS.WritableStream;
  /** Interactive console: stdin is forwarded to the guest serial port. */
  interactive?: boolean;
  /** Accelerator for engines that have a choice. */
  accel?: 'kvm' | 'tcg' | 'auto';
  /** CPUs the guest has (the machine's --cpus; engines with one CPU say so in their details). */
  cpus?: number;
  /** Raw disk images to attach to the guest (virtio-blk on QEMU). */
  disks?: string[];
  /** Aborted when the user's command is interrupted (SIGINT/SIGTERM/SIGHUP): the engine stops its guest and returns 'interrupted'. */
  abort?: AbortSignal;
}

export type OutcomeStatus =
  | 'verified' // verify engine: every check passed, no code ran
  | 'matched' // --expect matched on the console
  | 'poweroff' // guest powered off or asked to exit
  | 'reboot' // guest rebooted (engines stop at reboot)
  | 'halt' // the kernel halted the machine (kernel_halt)
  | 'quit' // the user left the interactive console (Ctrl-A x)
  | 'interrupted' // vkexec itself got SIGINT, SIGTERM or SIGHUP and stopped the guest
  | 'panic' // "Kernel panic" seen on the console
  | 'purgatory-mismatch' // the purgatory refused the segments (sha256 digests do not match)
  | 'triple-fault' // CPU reset without a reboot request
  | 'hang' // no progress (engine-specific detection)
  | 'timeout'
  | 'check-failed'; // verify engine: a hand-off check failed

export interface Outcome {
  status: OutcomeStatus;
  engine: EngineName;
  /** Human lines describing what happened (checks performed, what was seen). */
  details: string[];
  /** Lines for -d only: the engine's own command line, why an accelerator was not used. */
  verbose?: string[];
  /** Last console output, for reports. */
  consoleTail?: string;
  /** The CPU at the end of a run that did not succeed, where the engine could read it (post-mortem). */
  cpu?: CpuState;
  wallMs: number;
}

/** Exit status of `vkexec -e` for each outcome without --expect (documented in man/vkexec.8, EXIT STATUS). */
export const OUTCOME_EXIT: Record<OutcomeStatus, number> = {
  verified: 0,
  matched: 0,
  poweroff: 0,
  reboot: 0,
  halt: 0,
  quit: 0,
  interrupted: 130,
  panic: 3,
  'purgatory-mismatch': 4,
  'triple-fault': 5,
  hang: 5,
  timeout: 124,
  'check-failed': 4,
};

/** The guest ended by itself (power-off, reboot, halt) although --expect had not matched. */
export const EXIT_ENDED_UNMATCHED = 6;
/** The user left the console (Ctrl-A x) before --expect matched. */
export const EXIT_QUIT_UNMATCHED = 7;

/**
 * Exit status of an outcome. With --expect only a match is success: a guest that ended by itself without the
 * marker is EXIT_ENDED_UNMATCHED, a user's quit EXIT_QUIT_UNMATCHED (a broken init must not pass CI).
 */
export function outcomeExit(status: OutcomeStatus, expectGiven: boolean): number {
  if (!expectGiven) return OUTCOME_EXIT[status];
  if (status === 'poweroff' || status === 'reboot' || status === 'halt') return EXIT_ENDED_UNMATCHED;
  if (status === 'quit') return EXIT_QUIT_UNMATCHED;
  return OUTCOME_EXIT[status];
}

export interface Engine {
  readonly name: EngineName;
  /** Why this engine cannot run here or cannot run this entry state (null when it can). */
  unavailable(entry: EntryState): Promise<string | null>;
  boot(image: MemoryImage, entry: EntryState, opts: BootOptions): Promise<Outcome>;
}
