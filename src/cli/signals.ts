// SIGINT, SIGTERM and SIGHUP during a command that runs an engine: instead of dying at once (leaving QEMU
// running, its RAM file and the command's temporary machine behind, the lock file held), the command is told
// through an AbortSignal, the engine stops its guest, every `finally` removes what it made and releases the
// lock, and the process exits with the shell's status for that signal, 128 + signo (130, 143, 129).

const SIGNO = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type Caught = keyof typeof SIGNO;

let controller: AbortController | null = null;

function onSignal(sig: Caught): void {
  if (controller && !controller.signal.aborted) controller.abort(sig);
  // A second signal while the first is being handled changes nothing: the clean-up is bounded (QEMU gets
  // SIGKILL two seconds after SIGTERM), and dying now would leave exactly what the handler is removing.
}

/** From here on the three signals abort the returned signal instead of ending the process (idempotent). */
export function catchInterrupts(): AbortSignal {
  if (!controller) {
    controller = new AbortController();
    for (const sig of Object.keys(SIGNO) as Caught[]) process.on(sig, () => onSignal(sig));
  }
  return controller.signal;
}

/** The exit status the command must end with because of a caught signal (128 + signo), or null. */
export function interruptStatus(): number | null {
  if (!controller?.signal.aborted) return null;
  return 128 + SIGNO[controller.signal.reason as Caught];
}
