// The one place the loaders are composed: kexec-tools' file_type[] for the kexec_load path and the kernel's
// kexec_file_loaders[] for kexec_file_load, plus the kexec_file loaders of third-party modules named in
// VKEXEC_LOADERS (docs/loaders.md). The command line asks for them here and hands them down; nothing below
// it keeps a list of its own.

import { pathToFileURL } from 'node:url';
import { UsageError } from '../errno.js';
import type { KexecFileType, Loaders } from '../kexec/file-type.js';
import type { KexecFileOps } from '../vm/kernel/kexec-file-ops.js';
import { bzImage64FileType } from './userspace/bzimage64.js';
import { bzImageFileType } from './userspace/bzimage.js';
import { elfX86_64FileType, elfX86FileType } from './userspace/elf-x86.js';
import { bzImage64FileOps } from './kernel/kexec-bzimage64.js';
import { multibootX86FileType } from './userspace/multiboot-x86.js';
import { multiboot2X86FileType } from './userspace/multiboot2-x86.js';

/**
 * kexec-tools' x86_64 probe order (kexec/arch/x86_64/kexec-x86_64.c file_type[]) is multiboot2-x86,
 * elf-x86_64, multiboot-x86, elf-x86, bzImage64, bzImage, beoboot-x86, nbi-x86, uki; vkexec implements these
 * of them, in that order. The i386 build (kexec/arch/i386/kexec-x86.c) has no 64-bit types and probes multiboot v1 first.
 */
const FILE_TYPES_X86_64: readonly KexecFileType[] = [
  multiboot2X86FileType, elfX86_64FileType, multibootX86FileType, elfX86FileType, bzImage64FileType, bzImageFileType,
];
/** kexec/arch/i386/kexec-x86.c file_type[]: multiboot-x86 first, then multiboot2-x86, elf-x86, bzImage. */
const FILE_TYPES_I386: readonly KexecFileType[] = [multibootX86FileType, multiboot2X86FileType, elfX86FileType, bzImageFileType];

export function fileTypesFor(arch: 'x86_64' | 'i386'): readonly KexecFileType[] {
  return arch === 'x86_64' ? FILE_TYPES_X86_64 : FILE_TYPES_I386;
}

/** kexec_file_loaders[] of x86 Linux (arch/x86/kernel/machine_kexec_64.c): bzImage64 alone. */
export const X86_KEXEC_FILE_LOADERS: readonly KexecFileOps[] = [bzImage64FileOps];

export type { Loaders };

/** The built-in loaders alone, for a command that takes no VKEXEC_LOADERS modules (vkexec boot). */
export function builtinLoaders(arch: 'x86_64' | 'i386'): Loaders {
  return { fileTypes: fileTypesFor(arch), kexecFileOps: X86_KEXEC_FILE_LOADERS, thirdParty: [] };
}

function isFileOps(v: unknown): v is KexecFileOps {
  const o = v as Partial<KexecFileOps> | null;
  return typeof o === 'object' && o !== null && typeof o.name === 'string' && typeof o.probe === 'function' && typeof o.load === 'function';
}

/** Imports one VKEXEC_LOADERS module: its default export is a KexecFileOps or an array of them. */
async function importLoaderModule(file: string): Promise<KexecFileOps[]> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (e) {
    throw new UsageError(`VKEXEC_LOADERS: cannot import ${file}: ${(e as Error).message}`, { hint: 'fix the loader module, or remove it from VKEXEC_LOADERS' });
  }
  const list = Array.isArray(mod.default) ? mod.default : [mod.default];
  if (list.length === 0 || !list.every(isFileOps)) {
    throw new UsageError(`VKEXEC_LOADERS: ${file} does not export a kexec_file loader`, { hint: 'export default an object with name, probe and load (docs/loaders.md)' });
  }
  return list;
}

/** The loaders of a machine of this architecture, with the modules named in `extra` (VKEXEC_LOADERS). */
export async function loadersFor(arch: 'x86_64' | 'i386', extra = process.env.VKEXEC_LOADERS ?? ''): Promise<Loaders> {
  const thirdParty: KexecFileOps[] = [];
  for (const file of extra.split(':').filter(Boolean)) {
    for (const ops of await importLoaderModule(file)) {
      if ([...X86_KEXEC_FILE_LOADERS, ...thirdParty].some((o) => o.name === ops.name)) {
        throw new UsageError(`VKEXEC_LOADERS: a kexec_file loader named ${ops.name} is already there (${file})`, { hint: 'give each loader a unique name' });
      }
      thirdParty.push(ops);
    }
  }
  return { fileTypes: fileTypesFor(arch), kexecFileOps: [...X86_KEXEC_FILE_LOADERS, ...thirdParty], thirdParty };
}
