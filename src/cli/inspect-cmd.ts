// `vkexec inspect FILE [--json]`: the command; inspect-model.ts finds the facts, inspect-view.ts prints them.

import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { UsageError, fileErrorText } from '../errno.js';
import type { MachineArch } from '../vm/machine/machine-config.js';
import { inspectImage } from './inspect-model.js';
import { render } from './inspect-view.js';
import type { GlobalOpts } from './machine-cmd.js';
import type { Out } from './output.js';

/** Files larger than the kernel's KEXEC_FILE_SIZE_MAX could never be loaded; inspect stops well below. */
const MAX_INSPECT = 1 << 30;

export function inspectCommand(g: () => GlobalOpts, out: Out): Command {
  return new Command('inspect')
    .description('show how each probe answers for a kernel file, its setup header, payload, PE sections and signatures')
    .argument('<file>', 'kernel image (bzImage, vmlinux ELF, PE, compressed)')
    .addOption(new Option('--arch <arch>', 'whose userspace file types to probe with').choices(['x86_64', 'i386']).default('x86_64'))
    .option('--payload', 'also decompress the bzImage payload and check its size')
    .option('--json', 'machine-readable output')
    .action(async (file: string, o: { arch: MachineArch; payload?: boolean; json?: boolean }) => {
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch (e) {
        throw new UsageError(`cannot inspect ${file}: ${fileErrorText(e)}`, { hint: 'give the path of a kernel file' });
      }
      if (!st.isFile()) throw new UsageError(`cannot inspect ${file}: not a regular file`, { hint: 'give the path of a kernel file' });
      if (st.size > MAX_INSPECT) throw new UsageError(`cannot inspect ${file}: ${st.size} bytes is larger than any kernel vkexec inspects (1 GiB)`);
      const raw = new Uint8Array(fs.readFileSync(file));
      const report = await inspectImage(file, raw, { arch: o.arch, payload: Boolean(o.payload) });
      if (g().json || o.json) out.emitJson(report);
      else render(report, out);
    });
}
