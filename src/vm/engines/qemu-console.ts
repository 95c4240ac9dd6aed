// Watches QEMU's serial console (a stream of chunks) for the lines that end a run (console-markers.ts). The
// first one seen wins.

import { CONSOLE_MARKERS, expectExec, expectMatcher, LONGEST_MARKER, REBOOT_NOTICE, type ConsoleMarker, type MarkerStatus } from './console-markers.js';

/** A restart is not an event here: with -no-reboot QEMU ends at the reset, and the notice only names it. */
export type ConsoleEventStatus = 'matched' | Exclude<MarkerStatus, 'reboot'>;

export interface ConsoleEvent {
  status: ConsoleEventStatus;
  /** The console line holding the match (grows until its newline arrives; see `complete`). */
  line: string;
  /**
   * True once the line has ended. An --expect match waits for it too, so the rest of the line (a size after a
   * "SAVED" marker, say) reaches the output; a prompt that never ends its line is taken after LINE_GRACE_MS.
   */
  complete: boolean;
}

const EVENT_MARKERS = CONSOLE_MARKERS.filter((m): m is ConsoleMarker & { status: ConsoleEventStatus } => m.status !== 'reboot');

/** How far back a match may start before the newest output (longer --expect matches may be missed). */
export const EXPECT_SPAN = 8192;
const KEEP = 65536;
const TAIL = 2048;

export class ConsoleWatcher {
  private readonly expect: RegExp | undefined;
  /** Console text with carriage returns removed; `base` is the stream offset of text[0]. */
  private text = '';
  private base = 0;
  private eventAt = -1;
  private current: ConsoleEvent | null = null;
  private rebootSeen = false;

  constructor(expect?: RegExp) {
    this.expect = expectMatcher(expect);
  }

  /** The first event, or null. Once set it only changes by its line growing to completion. */
  get event(): ConsoleEvent | null {
    return this.current;
  }

  /** Whether the guest announced a restart (kernel_restart) before any reset. */
  get rebootRequested(): boolean {
    return this.rebootSeen;
  }

  /** Feeds raw serial bytes; returns the first event once it exists (the same object on later calls). */
  feed(chunk: Uint8Array): ConsoleEvent | null {
    const added = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1').replace(/\r/g, '');
    if (added.length === 0) return this.current;
    const oldEnd = this.base + this.text.length;
    this.text += added;
    if (this.current) {
      this.growLine();
    } else {
      this.search(oldEnd);
    }
    this.trim();
    return this.current;
  }

  /** The last console lines, for reports. */
  tail(): string {
    return this.text.slice(-TAIL);
  }

  private search(oldEnd: number): void {
    const from = Math.max(this.base, oldEnd - LONGEST_MARKER);
    const scan = this.text.slice(from - this.base);
    if (!this.rebootSeen && scan.includes(REBOOT_NOTICE)) this.rebootSeen = true;

    let best: { at: number; status: ConsoleEventStatus } | null = null;
    for (const marker of EVENT_MARKERS) {
      const i = scan.indexOf(marker.text);
      if (i >= 0 && (!best || from + i < best.at)) best = { at: from + i, status: marker.status };
    }
    if (this.expect) {
      const start = Math.max(this.base, oldEnd - EXPECT_SPAN);
      const m = expectExec(this.expect, this.text.slice(start - this.base));
      if (m && (!best || start + m.index <= best.at)) best = { at: start + m.index, status: 'matched' };
    }
    if (!best) return;
    this.eventAt = best.at;
    this.current = { status: best.status, line: '', complete: false };
    this.growLine();
  }

  private growLine(): void {
    const ev = this.current;
    if (!ev || ev.complete) return;
    const rel = this.eventAt - this.base;
    const lineStart = this.text.lastIndexOf('\n', rel) + 1;
    const nl = this.text.indexOf('\n', rel);
    ev.line = this.text.slice(lineStart, nl < 0 ? undefined : nl);
    ev.complete = nl >= 0;
  }

  private trim(): void {
    if (this.text.length <= KEEP) return;
    // Keep the event's line start reachable while it is still growing.
    let cut = this.text.length - KEEP / 2;
    if (this.current && !this.current.complete) {
      const rel = this.eventAt - this.base;
      cut = Math.min(cut, this.text.lastIndexOf('\n', rel) + 1);
    }
    this.text = this.text.slice(cut);
    this.base += cut;
  }
}
