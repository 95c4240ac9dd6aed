// The one failure reporter: a UsageError (kexec-tools' die() or a loader's -1: its lines, the usage text
// when the command line was wrong, exit status) or a KexecError (the kernel's errno) becomes kexec-tools'
// text, then vkexec's lines naming the rule (`vkexec:`) and the fix (`vkexec: fix:`). A fault of the disk
// under the machine directory (full, read-only, no permission, I/O error, quota) names the path and the fix.
// Every line is printed with control characters escaped: messages carry file names.

import { KexecError, UsageError, fileErrorText, strerror } from '../errno.js';
import { signatureFactsLine, signatureReportOf } from '../sig/failure-line.js';
import { MachineDirError } from '../vm/machine/store.js';
import { safeText, type Out } from './output.js';
import { usage } from './usage.js';

/**
 * Whose words the first line is: 'kexec' inside a kexec command (kexec-tools' own text, as it prints it),
 * 'vkexec' for what reaches the top of a vkexec command (prefixed `vkexec:`).
 */
export type Voice = 'kexec' | 'vkexec';

/** The rule that refused, the signature facts when a signature check refused, and the fix. */
export function explain(e: KexecError, out: Out): void {
  out.note(safeText(`${e.rule}: ${e.message}${e.value ? ` (${e.value})` : ''}`));
  const sig = signatureReportOf(e);
  if (sig) out.note(safeText(`signature: ${signatureFactsLine(sig)}`));
  if (e.hint) out.hint(e.hint);
}

/** Faults of the disk under a file vkexec reads or writes, and what to do about each. */
const DISK_FAULTS: Record<string, string> = {
  ENOSPC: 'free space on that filesystem (df), then run the command again',
  EDQUOT: 'your disk quota there is used up: free some of it, then run the command again',
  EROFS: 'the filesystem is read-only: remount it read-write or use a machine on a writable one (--machine DIR); -S, machine show and inspect still work',
  EACCES: 'give your user access to it (ls -ld; chmod/chown), or use a machine directory of your own (--machine DIR)',
  EPERM: 'give your user access to it (ls -ld; chmod/chown), or use a machine directory of your own (--machine DIR)',
  EIO: 'the disk reported an I/O error: check it (dmesg) before using this machine again',
};

/** A host file operation's failure, when it is a fault of the disk (not a bug): printed, exit status 1. */
function reportDiskFault(e: unknown, out: Out): number | null {
  const err = e as NodeJS.ErrnoException | undefined;
  if (!(err instanceof Error) || typeof err.code !== 'string' || !(err.code in DISK_FAULTS) || typeof err.syscall !== 'string') return null;
  const where = err.path ? ` ${err.path}` : '';
  out.err(safeText(`vkexec: cannot ${err.syscall}${where}: ${fileErrorText(err)} (${err.code})`));
  out.note('the machine is as it was before this command: state is replaced only whole, the lock is released');
  out.hint(DISK_FAULTS[err.code]!);
  return 1;
}

/**
 * Prints a failure and returns the exit status; anything else is a bug in vkexec, reported as one. With --json
 * the same failure is also an object on stdout (scripts read stdout): its lines, errno and rule, fix, status.
 */
export function reportFailure(e: unknown, out: Out, voice: Voice = 'kexec'): number {
  if (!out.json) return reportText(e, out, voice);
  const said: string[] = [];
  let fix: string | null = null;
  const tee: Out = {
    ...out,
    err: (t) => (said.push(t), out.err(t)),
    note: (t) => (said.push(t), out.note(t)),
    hint: (t) => ((fix = t), out.hint(t)),
  };
  const exitStatus = reportText(e, tee, voice);
  const kernel = e instanceof KexecError ? e : e instanceof UsageError ? e.kernelError : undefined;
  out.emitJson({ error: { message: said.join('\n'), ...(kernel ? { errno: kernel.errno, rule: kernel.rule } : {}), fix }, exitStatus });
  return exitStatus;
}

function reportText(e: unknown, out: Out, voice: Voice): number {
  if (e instanceof UsageError) {
    // Messages of vkexec's own options already carry the prefix (they print as they are on the kexec line).
    if (voice === 'vkexec') e.lines.forEach((l, i) => out.err(safeText(i > 0 || l.startsWith('vkexec: ') ? l : `vkexec: ${l}`)));
    else for (const l of e.lines) out.err(safeText(l));
    if (e.usage) out.line(usage());
    if (e.kernelError) explain(e.kernelError, out);
    else if (e.hint) out.hint(e.hint);
    else if (voice === 'kexec') {
      out.note(safeText(`refused: ${e.lines[e.lines.length - 1] ?? e.message}`));
      out.hint(e.usage ? 'correct the command line (see the usage above or man vkexec)' : 'correct what the line above names, then run the command again');
    }
    return e.exitCode;
  }
  if (e instanceof KexecError) {
    out.err(safeText(voice === 'vkexec' ? `vkexec: ${e.rule} failed: ${e.message}` : `kexec failed: ${strerror(e.errno)}`));
    explain(e, out);
    return 255;
  }
  if (e instanceof MachineDirError) {
    out.err(safeText(`vkexec: ${e.message}`));
    out.hint(e.hint);
    return 1;
  }
  const disk = reportDiskFault(e, out);
  if (disk !== null) return disk;
  const err = e as Error;
  out.err(safeText(`vkexec: internal error: ${err?.message ?? String(e)}`));
  out.note('this is a bug in vkexec; run with VKEXEC_DEBUG=1 for the stack and report it');
  if (process.env.VKEXEC_DEBUG) out.err(err?.stack ?? '');
  return 70;
}
