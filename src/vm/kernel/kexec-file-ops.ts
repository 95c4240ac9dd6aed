// struct kexec_file_ops and the machine's kexec_file_loaders[] (arch/x86/kernel/machine_kexec_64.c: x86_64 has
// only bzImage64). A loader is an object with probe/load (and optionally cleanup/verifySig); registering one
// is all a third party does. `VKEXEC_LOADERS=/path/a.js:/path/b.js` makes the CLI import modules that register.

import type { KexecError } from '../../errno.js';
import type { FileKimage } from './file-kimage.js';
import type { Keyrings } from '../../sig/keyring.js';

export interface FileLoadInput {
  kernel: Uint8Array;
  /** The initrd as the kernel read it (streamed from its file), or null with KEXEC_FILE_NO_INITRAMFS. */
  initrd: { path: string; size: number } | null;
  /** The command line including its NUL, or null when cmdline_len is 0. */
  cmdline: Uint8Array | null;
}

export interface SigCheckContext {
  keyrings: Keyrings;
  /** The kernel file's name, for messages. */
  source?: string;
}

/** What verify_sig reports when it accepts the image (who signed it, with which key). */
export interface SigAccepted {
  summary: string;
}

export interface KexecFileOps {
  readonly name: string;
  /** null: this loader takes the image; otherwise the refusal (the kernel walks on to the next loader). */
  probe(kernel: Uint8Array): KexecError | null;
  /** Adds segments through image.addBuffer / image.loadPurgatory and sets the entry registers. */
  load(image: FileKimage, input: FileLoadInput): void;
  cleanup?(image: FileKimage): void;
  /** Absent: the kernel answers EKEYREJECTED ("kernel loader does not support signature verification"). */
  verifySig?(kernel: Uint8Array, ctx: SigCheckContext): SigAccepted;
}

export interface LoaderRegistry {
  /** Loaders in probe order. */
  list(): readonly KexecFileOps[];
  register(ops: KexecFileOps, where?: 'first' | 'last'): void;
  unregister(name: string): void;
}

const registered: KexecFileOps[] = [];

/** The process-wide list third-party loaders add themselves to (see README "Writing a loader"). */
export const kexecFileLoaders: LoaderRegistry = {
  list: () => registered,
  register(ops, where = 'last') {
    if (registered.some((o) => o.name === ops.name)) throw new Error(`a kexec_file loader named ${ops.name} is already registered`);
    if (where === 'first') registered.unshift(ops);
    else registered.push(ops);
  },
  unregister(name) {
    const i = registered.findIndex((o) => o.name === name);
    if (i >= 0) registered.splice(i, 1);
  },
};

/** Imports the modules named in VKEXEC_LOADERS (each registers itself on import). */
export async function importLoaderModules(list = process.env.VKEXEC_LOADERS ?? ''): Promise<void> {
  for (const p of list.split(':').filter(Boolean)) {
    const { pathToFileURL } = await import('node:url');
    await import(pathToFileURL(p).href);
  }
}
