// The userspace file types in kexec-tools' x86_64 probe order (kexec/arch/x86_64/kexec-x86_64.c file_type[]):
// multiboot2-x86, elf-x86_64, multiboot-x86, elf-x86, bzImage64, bzImage, beoboot-x86, nbi-x86, uki.
// vkexec implements the ones listed in FILE_TYPES, in that order.

import type { KexecFileType } from '../kexec/file-type.js';
import { bzImage64FileType } from './userspace/bzimage64.js';
import { bzImageFileType } from './userspace/bzimage.js';
import { elfX86_64FileType, elfX86FileType } from './userspace/elf-x86.js';

export const KEXEC_TOOLS_TYPE_NAMES = ['multiboot2-x86', 'elf-x86_64', 'multiboot-x86', 'elf-x86', 'bzImage64', 'bzImage', 'beoboot-x86', 'nbi-x86', 'uki'];

/** x86_64 build: elf-x86_64, elf-x86, bzImage64, bzImage. */
export const FILE_TYPES: readonly KexecFileType[] = [elfX86_64FileType, elfX86FileType, bzImage64FileType, bzImageFileType];

/** i386 build (kexec/arch/i386/kexec-x86.c): elf-x86, bzImage; no 64-bit types. */
export const FILE_TYPES_I386: readonly KexecFileType[] = [elfX86FileType, bzImageFileType];

export function fileTypesFor(arch: 'x86_64' | 'i386'): readonly KexecFileType[] {
  return arch === 'x86_64' ? FILE_TYPES : FILE_TYPES_I386;
}
