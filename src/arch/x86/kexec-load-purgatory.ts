// kernel/kexec_file.c kexec_load_purgatory: read the purgatory object (the kernel's built-in kexec_purgatory
// blob; vkexec's are built by purgatory/build.sh and committed), lay it out and relocate it to its address.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KexecError, fileErrorText } from '../../errno.js';
import { relocatePurgatory } from './kexec-apply-relocations.js';
import { enoexec, layoutPurgatory, type PurgatoryArch } from './kexec-purgatory-setup.js';
import type { RelocatedPurgatory } from './kexec-purgatory-symbol.js';

// The compiled module is dist/src/arch/x86/kexec-load-purgatory.js; the objects stay in the source tree,
// which the package ships (package.json "files": src/arch/x86/purgatory/*.o).
const PURGATORY_DIR = new URL('../../../../src/arch/x86/purgatory/', import.meta.url);

export function purgatoryObjectPath(arch: PurgatoryArch): string {
  return fileURLToPath(new URL(`purgatory-${arch}.o`, PURGATORY_DIR));
}

/** The committed purgatory object for arch (the kernel's built-in kexec_purgatory blob, in Linux terms). */
export function readPurgatoryObject(arch: PurgatoryArch): Uint8Array {
  const path = purgatoryObjectPath(arch);
  try {
    // A plain Uint8Array: Buffer's slice() would share memory where callers expect a copy.
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new KexecError('ENOENT', 'kexec_load_purgatory', `cannot read the ${arch} purgatory ${path}: ${fileErrorText(e)}`, {
      hint: 'reinstall vkexec, or rebuild the objects with src/arch/x86/purgatory/build.sh',
    });
  }
}

/** kexec_load_purgatory: readPurgatoryObject + layoutPurgatory + relocatePurgatory, minus placement. */
export function loadPurgatory(arch: PurgatoryArch, loadAddr: bigint): RelocatedPurgatory {
  const layout = layoutPurgatory(readPurgatoryObject(arch));
  if (layout.arch !== arch) throw enoexec(`purgatory-${arch}.o is a ${layout.arch} object`);
  return relocatePurgatory(layout, loadAddr);
}
