import type { EntryState, MemoryImage } from '../memory/memory-image.js';

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
  /** Raw disk images to attach to the guest (virtio-blk on QEMU). */
  disks?: string[];
}

export type OutcomeStatus =
  | 'verified' // verify engine: every check passed, no code ran
  | 'matched' // --expect matched on the console
  | 'poweroff' // guest powered off or asked to exit
  | 'reboot' // guest rebooted (engines stop at reboot)
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
  /** Last console output, for reports. */
  consoleTail?: string;
  wallMs: number;
}

/** Exit status of `vkexec -e` for each outcome (documented in man/vkexec.8, EXIT STATUS). */
export const OUTCOME_EXIT: Record<OutcomeStatus, number> = {
  verified: 0,
  matched: 0,
  poweroff: 0,
  reboot: 0,
  panic: 3,
  'purgatory-mismatch': 4,
  'triple-fault': 5,
  hang: 5,
  timeout: 124,
  'check-failed': 4,
};

export interface Engine {
  readonly name: EngineName;
  /** Why this engine cannot run here or cannot run this entry state (null when it can). */
  unavailable(entry: EntryState): Promise<string | null>;
  boot(image: MemoryImage, entry: EntryState, opts: BootOptions): Promise<Outcome>;
}
