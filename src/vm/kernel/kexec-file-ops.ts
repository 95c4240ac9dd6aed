// struct kexec_file_ops (include/linux/kexec.h): what the kernel's kexec_file_load asks of an image loader.
// The kernel side defines the interface; the loaders themselves live in src/loaders/kernel and are handed to
// kexec_file_load as the machine's kexec_file_loaders[] (composed in src/loaders/index.ts).

import type { KexecError } from '../../errno.js';
import type { FileKimage } from './file-kimage.js';
import type { Keyrings } from '../../sig/keyring.js';

export interface FileLoadInput {
  kernel: Uint8Array;
  /** The initrd as the kernel read it (streamed from its file, `size` bytes from `offset`: a UKI's .initrd
   *  is a window of the UKI file, where kexec-tools hands over a temporary copy), or null with KEXEC_FILE_NO_INITRAMFS. */
  initrd: { path: string; size: number; offset?: number } | null;
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
  /** The line the probe logs with pr_debug when it takes the image (with its pr_fmt prefix), if any. */
  readonly probeDebug?: string;
  /** Adds segments through image.addBuffer / image.loadPurgatory and sets the entry registers. */
  load(image: FileKimage, input: FileLoadInput): void;
  cleanup?(image: FileKimage): void;
  /** Absent: the kernel answers EKEYREJECTED ("kernel loader does not support signature verification"). */
  verifySig?(kernel: Uint8Array, ctx: SigCheckContext): SigAccepted;
}
