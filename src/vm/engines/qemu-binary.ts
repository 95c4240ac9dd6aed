// Whether the QEMU system emulator is there: `-version` run once per binary and process.

import { execFile } from 'node:child_process';

export const QEMU_BINARY = 'qemu-system-x86_64';
export const QEMU_DEBIAN_PACKAGE = 'qemu-system-x86';
export const QEMU_INSTALL_HINT = `install the Debian package ${QEMU_DEBIAN_PACKAGE} (apt-get install ${QEMU_DEBIAN_PACKAGE})`;

const versionChecks = new Map<string, Promise<string | null>>();

/** Why `binary` is not a usable QEMU, or null. */
export function checkQemuBinary(binary: string): Promise<string | null> {
  let p = versionChecks.get(binary);
  if (!p) {
    p = new Promise((resolve) => {
      execFile(binary, ['-version'], { timeout: 10000 }, (err, stdout) => {
        if (!err && /QEMU emulator version/.test(stdout)) return resolve(null);
        const code = (err as NodeJS.ErrnoException | null)?.code;
        if (code === 'ENOENT') return resolve(`${binary} not found: ${QEMU_INSTALL_HINT}`);
        resolve(`${binary} -version failed (${err ? err.message.split('\n')[0] : 'not a QEMU binary'}): ${QEMU_INSTALL_HINT}`);
      });
    });
    versionChecks.set(binary, p);
  }
  return p;
}
