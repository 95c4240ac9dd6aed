// How the differential test compares a real kernel's call with vkexec's: the same call made to the machine's
// kernel side, and the log lines both sides are compared in (see linux-kexec.test.ts for what is left out).

import { KexecError, errnoNumber } from '../../src/errno.js';
import { X86_KEXEC_FILE_LOADERS } from '../../src/loaders/index.js';
import { kexecFileLoad, kernelLogOf } from '../../src/vm/kernel/kexec-file.js';
import { kexecLoad } from '../../src/vm/kernel/kexec-load.js';

/** The kexec lines of a log, in the form both sides are compared in. */
export function normalise(lines: readonly string[], opts: { dropE820: boolean }): string[] {
  const out: string[] = [];
  let inE820 = false;
  for (const raw of lines) {
    let l = raw.trim();
    if (!/^(kexec-bzImage64|kexec_file|kexec|crash_core|PEFILE|Lockdown): /.test(l)) continue;
    if (/^kexec: (Applying relocate section|Symbol:)/.test(l)) continue; // vkexec's own purgatory object
    if (l === 'kexec-bzImage64: E820 memmap:') inE820 = true;
    else if (!/^kexec-bzImage64: [0-9a-f]{16}-[0-9a-f]{16} \(\d+\)$/.test(l)) inE820 = false;
    if (inE820 && opts.dropE820) continue;
    l = l.replace(/^Lockdown: \S+: /, 'Lockdown: COMM: ');
    // The entry inside the purgatory and a normal image's first indirection page are the kernel's own; a crash
    // image's head is IND_DONE (0x4) on both sides.
    l = l.replace(/ start:0x[0-9a-f]+ head:(0x[0-9a-f]+)/, (_m, head: string) => ` start:ENTRY head:${head === '0x4' ? head : (BigInt(head) & 0xfffn) === 2n ? 'PAGE|IND_INDIRECTION' : head}`);
    l = l.replace(/phdr=\S+ /, 'phdr=PTR ').replace(/buf=0x\S+ /, 'buf=PTR ').replace(/kernel: \S+ kernel_size/, 'kernel: PTR kernel_size');
    out.push(l);
  }
  return out;
}

export interface VkexecCall {
  errno: number;
  log: string[];
}

/** The guest's call made to the machine's kernel side (kexec_file_load / kexec_load), with the same files. */
export function callVkexec(dir: string, args: string[], files: Record<string, string>): VkexecCall {
  const file = (p: string) => (p === '-' ? null : { kind: 'path' as const, path: files[p.replace('/k/', '')]! });
  try {
    if (args[0] === 'file') {
      const [, kernel, initrd, cmdline, flags] = args as [string, string, string, string, string];
      const r = kexecFileLoad(dir, { kernel: file(kernel) ?? { kind: 'badfd' }, initrd: file(initrd), cmdline: cmdline === '-' ? null : Buffer.from(`${cmdline}\0`), flags: Number(flags) }, X86_KEXEC_FILE_LOADERS);
      return { errno: 0, log: r.log };
    }
    if (args[0] === 'load') {
      kexecLoad(dir, BigInt(args[2]!), [{ buf: { kind: 'bytes', data: new Uint8Array(4096) }, mem: BigInt(args[2]!), memsz: BigInt(args[3]!) }], Number(args[1]), { syscall: 'kexec_load' });
      return { errno: 0, log: [] };
    }
    kexecLoad(dir, 0n, [], Number(args[1]), { syscall: 'kexec_load' });
    return { errno: 0, log: [] };
  } catch (e) {
    if (!(e instanceof KexecError)) throw e;
    return { errno: errnoNumber(e.errno), log: args[0] === 'file' ? kernelLogOf(e) : [] };
  }
}

