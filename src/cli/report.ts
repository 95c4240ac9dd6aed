// The one failure reporter: a UsageError (kexec-tools' die() or a loader's -1: its lines, the usage text
// when the command line was wrong, exit status) or a KexecError (the kernel's errno) becomes kexec-tools'
// text, then vkexec's lines naming the rule (`vkexec:`) and the fix (`vkexec: fix:`).

import { KexecError, UsageError, strerror } from '../errno.js';
import { signatureFactsLine, signatureReportOf } from '../sig/failure-line.js';
import { MachineDirError } from '../vm/machine/store.js';
import type { Out } from './output.js';
import { usage } from './usage.js';

/**
 * Whose words the first line is: 'kexec' inside a kexec command (kexec-tools' own text, as it prints it),
 * 'vkexec' for what reaches the top of a vkexec command (prefixed `vkexec:`).
 */
export type Voice = 'kexec' | 'vkexec';

/** The rule that refused, the signature facts when a signature check refused, and the fix. */
export function explain(e: KexecError, out: Out): void {
  out.note(`${e.rule}: ${e.message}${e.value ? ` (${e.value})` : ''}`);
  const sig = signatureReportOf(e);
  if (sig) out.note(`signature: ${signatureFactsLine(sig)}`);
  if (e.hint) out.hint(e.hint);
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
    if (voice === 'vkexec') out.err(e.message.startsWith('vkexec: ') ? e.message : `vkexec: ${e.message}`);
    else for (const l of e.lines) out.err(l);
    if (e.usage) out.line(usage());
    if (e.kernelError) explain(e.kernelError, out);
    else if (e.hint) out.hint(e.hint);
    return e.exitCode;
  }
  if (e instanceof KexecError) {
    out.err(voice === 'vkexec' ? `vkexec: ${e.rule} failed: ${e.message}` : `kexec failed: ${strerror(e.errno)}`);
    explain(e, out);
    return 255;
  }
  if (e instanceof MachineDirError) {
    out.err(`vkexec: ${e.message}`);
    out.hint(e.hint);
    return 1;
  }
  const err = e as Error;
  out.err(`vkexec: internal error: ${err?.message ?? String(e)}`);
  out.note('this is a bug in vkexec; run with VKEXEC_DEBUG=1 for the stack and report it');
  if (process.env.VKEXEC_DEBUG) out.err(err?.stack ?? '');
  return 70;
}
