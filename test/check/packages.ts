// Small packages built by the real dpkg-deb and rpmbuild, for the package-reading and check tests.

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

/** An RPM built by the real rpmbuild with `files` (path -> source file) and the payload compression asked (w9.xzdio, w19.zstdio, w9.gzdio). */
export function buildRpm(dir: string, name: string, payload: string, files: Record<string, string>): string {
  const top = path.join(dir, `${name}-rpmbuild`);
  for (const d of ['SOURCES', 'SPECS', 'BUILD', 'RPMS', 'SRPMS', 'BUILDROOT']) fs.mkdirSync(path.join(top, d), { recursive: true });
  const entries = Object.entries(files);
  entries.forEach(([, src], i) => fs.copyFileSync(src, path.join(top, 'SOURCES', `f${i}`)));
  const spec = [
    `Name: ${name}`, 'Version: 1.0', 'Release: 1', 'Summary: vkexec test package', 'License: MIT', 'BuildArch: noarch',
    '%global debug_package %{nil}', '%global __os_install_post %{nil}', '%description', 'vkexec test package', '%install',
    ...entries.flatMap(([p], i) => [`mkdir -p %{buildroot}/${path.dirname(p)}`, `cp %{_sourcedir}/f${i} %{buildroot}/${p}`]),
    '%files', ...entries.map(([p]) => `/${p}`), '',
  ].join('\n');
  fs.writeFileSync(path.join(top, 'SPECS', `${name}.spec`), spec);
  execFileSync('rpmbuild', ['-bb', '--define', `_topdir ${top}`, '--define', `_binary_payload ${payload}`, path.join(top, 'SPECS', `${name}.spec`)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const out = path.join(top, 'RPMS', 'noarch', `${name}-1.0-1.noarch.rpm`);
  fs.copyFileSync(out, path.join(dir, `${name}.rpm`));
  return path.join(dir, `${name}.rpm`);
}
