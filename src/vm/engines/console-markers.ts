// The console lines that end a run, one table for every engine's console watcher: the kernel's panic, power-off,
// halt and restart messages, the purgatory's digest refusal, the probe kernel's power-off, the firmware stub's
// failure, and the user's --expect pattern. The first marker of the table found in a line wins.

import type { OutcomeStatus } from './engine.js';

export type MarkerStatus = Exclude<OutcomeStatus, 'verified' | 'matched' | 'timeout' | 'check-failed' | 'triple-fault'> | 'stub-failure';

export interface ConsoleMarker {
  text: string;
  status: MarkerStatus;
  /** What the line means, for engines that report it in words. */
  detail: string;
}

/** kernel/reboot.c: kernel_restart() prints this before the reset, which tells a reboot from a triple fault. */
export const REBOOT_NOTICE = 'reboot: Restarting system';

/** kernel/panic.c: panic() ends its trace with this line (panic=0) before it spins. */
export const PANIC_END_MARKER = '---[ end Kernel panic';

export const CONSOLE_MARKERS: readonly ConsoleMarker[] = [
  // src/arch/x86/probe-kernel: printed after the report (engines without isa-debug-exit), then the probe halts.
  { text: 'VKEXEC-PROBE-POWEROFF', status: 'poweroff', detail: 'the probe kernel finished its report' },
  // Our purgatory (like kexec-tools' purgatory/purgatory.c) prints this when a segment changed, then spins.
  { text: 'sha256 digests do not match', status: 'purgatory-mismatch', detail: 'the purgatory refused the segments (sha256 digests do not match)' },
  // kernel/panic.c: panic() prints "Kernel panic - not syncing: <reason>".
  { text: 'Kernel panic - not syncing', status: 'panic', detail: 'the kernel panicked' },
  // kernel/reboot.c: kernel_restart / kernel_power_off / kernel_halt. Without ACPI the machine then just
  // stops, so the power-off and halt lines are themselves the power-off.
  { text: REBOOT_NOTICE, status: 'reboot', detail: 'the kernel restarted the machine' },
  { text: 'reboot: Power down', status: 'poweroff', detail: 'the kernel powered the machine off' },
  { text: 'reboot: System halted', status: 'halt', detail: 'the kernel halted the machine' },
  // arch/x86/boot/cpu.c validate_cpu: an x86-64 kernel on a 32-bit CPU (v86); it halts after this line.
  { text: 'This kernel requires an x86-64 CPU', status: 'hang', detail: 'the kernel needs an x86-64 CPU but v86 emulates a 32-bit one: boot it with --engine qemu' },
  // src/arch/x86/stub: the firmware stub could not set up the hand-off state; it halts after this line.
  { text: 'vkexec-stub: ', status: 'stub-failure', detail: 'the firmware stub stopped' },
];

/**
 * After a deciding line starts (a panic, a purgatory mismatch, an --expect match), wait this long for the rest
 * of the line before ending the run: the output then holds the whole line, and a prompt that never ends its
 * line is still taken.
 */
export const LINE_GRACE_MS = 1000;

export const LONGEST_MARKER = Math.max(...CONSOLE_MARKERS.map((m) => m.text.length));

/** The first marker of the table that `line` holds. */
export function findMarker(line: string): ConsoleMarker | undefined {
  return CONSOLE_MARKERS.find((m) => line.includes(m.text));
}

/**
 * The user's --expect as a matcher: a global or sticky pattern keeps state between exec() calls, a matcher must
 * not; multiline, so `^` and `$` match at line starts and ends inside the console text an engine searches
 * (`login:$` matches while more output follows).
 */
export function expectMatcher(expect: RegExp | undefined): RegExp | undefined {
  return expect ? new RegExp(expect.source, expect.flags.replace(/[gym]/g, '') + 'm') : undefined;
}

/**
 * The first match of a multiline matcher in console text. A match that reaches the end of an unfinished line
 * counts only when it does not need `$` there (the same match with one more byte after it): the line may go
 * on, so `OK$` must not match "OK" of "OK-MORE" cut between two chunks. A prompt is matched without `$`.
 */
export function expectExec(matcher: RegExp, text: string): RegExpExecArray | null {
  const m = matcher.exec(text);
  if (!m || text.endsWith('\n') || m.index + m[0].length < text.length) return m;
  const again = matcher.exec(text + '\u0000');
  return again && again.index === m.index && again[0] === m[0] ? m : null;
}
