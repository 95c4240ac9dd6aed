// Small Debian packages built by the real dpkg-deb, for the package-reading and check tests.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A package built by the real dpkg-deb: a tree with /boot/vmlinuz-RELEASE (or none), compressed as asked. */
export function buildDeb(dir: string, name: string, compression: string, files: Record<string, Uint8Array | string>): string {
  const root = path.join(dir, `${name}-root`);
  fs.mkdirSync(path.join(root, 'DEBIAN'), { recursive: true });
  fs.writeFileSync(path.join(root, 'DEBIAN/control'), `Package: ${name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: vkexec tests <tests@example.invalid>\nDescription: test package\n`);
  for (const [p, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), data);
  }
  const deb = path.join(dir, `${name}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', `-Z${compression}`, '--build', root, deb], { stdio: ['ignore', 'ignore', 'pipe'] });
  return deb;
}
