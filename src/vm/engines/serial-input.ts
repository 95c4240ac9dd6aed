// The user's keystrokes to the guest's serial port, with the escape of QEMU's -nographic console
// (chardev/char-mux.c mux_proc_byte) the same on every engine: Ctrl-A x leaves, Ctrl-A Ctrl-A sends one Ctrl-A.
// QEMU's other mux commands (Ctrl-A h, s, b, c, t) have no meaning here: Ctrl-A and the byte both go to the guest.

const CTRL_A = 0x01;
const QUIT = 0x78; // 'x'

/** The escape state machine: bytes typed in, bytes for the guest out, or the user's request to leave. */
export class SerialEscape {
  private afterCtrlA = false;

  /** The bytes of `typed` meant for the guest; quit when Ctrl-A x came (the chunk's other bytes are dropped). */
  feed(typed: Uint8Array): { toGuest: Uint8Array; quit: boolean } {
    const out: number[] = [];
    for (const b of typed) {
      if (this.afterCtrlA) {
        this.afterCtrlA = false;
        if (b === QUIT) return { toGuest: new Uint8Array(0), quit: true };
        out.push(CTRL_A);
        if (b !== CTRL_A) out.push(b);
      } else if (b === CTRL_A) {
        this.afterCtrlA = true;
      } else {
        out.push(b);
      }
    }
    return { toGuest: Uint8Array.from(out), quit: false };
  }
}

/**
 * Forwards process.stdin to the guest (raw mode on a terminal, so Ctrl-C reaches the guest) through the escape
 * handler until the user leaves. Returns the function that undoes it.
 */
export function attachConsoleInput(send: (bytes: Uint8Array) => void, quit: () => void): () => void {
  const stdin = process.stdin;
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  if (stdin.isTTY) stdin.setRawMode(true);
  const escape = new SerialEscape();
  const onData = (chunk: Buffer): void => {
    const { toGuest, quit: leave } = escape.feed(chunk);
    if (leave) quit();
    else if (toGuest.length > 0) send(toGuest);
  };
  stdin.on('data', onData);
  stdin.ref?.(); // undo the unref of an earlier session in this process
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
    stdin.pause();
    stdin.unref?.(); // a paused socket keeps reading, and would keep the process alive
  };
}
