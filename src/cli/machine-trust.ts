// `vkexec machine trust-loader FILE [--remove]`: the VKEXEC_LOADERS modules a machine that enforces
// signatures (secure boot, sig-enforce, lockdown) will run, recorded by sha256 in machine.json, as such a
// kernel loads only modules signed by a key it trusts.

import { Command } from 'commander';
import { UsageError, fileErrorText } from '../errno.js';
import { loaderDigest } from '../loaders/index.js';
import { readState, writeState } from '../vm/machine/machine.js';
import { tryLock } from '../vm/machine/lock.js';
import { resolveMachineDir } from '../vm/machine/store.js';
import type { GlobalOpts } from './global-opts.js';
import { safeText, type Out } from './output.js';

export function trustLoaderCommand(g: () => GlobalOpts, out: Out): Command {
  return new Command('trust-loader')
    .description('let this machine run a VKEXEC_LOADERS module (by its sha256) although it enforces signatures')
    .argument('<file>', 'the loader module')
    .option('--remove', 'stop trusting it')
    .action((file: string, o: { remove?: boolean }) => {
      let digest: string;
      try {
        digest = loaderDigest(file);
      } catch (e) {
        throw new UsageError(`cannot read ${file}: ${fileErrorText(e)}`, { hint: 'name the loader module file' });
      }
      const dir = resolveMachineDir(g().machine ?? undefined);
      const lock = tryLock(dir, 'machine trust-loader');
      try {
        const s = readState(dir);
        const list = (s.trustedLoaders ?? []).filter((d) => d !== digest);
        if (!o.remove) list.push(digest);
        s.trustedLoaders = list;
        writeState(dir, s);
      } finally {
        lock.release();
      }
      if (g().json) out.emitJson({ file, sha256: digest, trusted: !o.remove });
      else out.line(safeText(`${o.remove ? 'no longer trusted' : 'trusted'}: ${file} (sha256 ${digest})`));
    });
}
