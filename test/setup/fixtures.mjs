#!/usr/bin/env node
// Test fixtures: real Debian kernels and busybox initramfs images, cached in test/fixtures/cache/ (gitignored).
// Run by `npm test` after `tsc` (it needs dist/src/formats/cpio.js). Idempotent: a fixture whose source package
// is unchanged is not fetched again. Needs apt-get, apt-cache, dpkg, dpkg-deb and network access to Debian's
// archive the first time; exits non-zero with a message saying what failed otherwise.
//
// To add a fixture: add a package to PACKAGES (if it needs a new .deb) and an entry to FIXTURES whose build()
// returns the bytes to store; the manifest and the cache check follow from the table. Planned: a ~1 MiB plain
// initrd (pattern data for placement tests) and a kdump capture initramfs whose /init saves /proc/vmcore's ELF
// header and reboots.

import { spawnSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import tarStream from 'tar-stream';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE = join(ROOT, 'test/fixtures/cache');
const MANIFEST = join(CACHE, 'manifest.json');
const SOURCES = join(CACHE, 'sources.json'); // fixture name -> the package versions and inputs it was built from
const CPIO_JS = join(ROOT, 'dist/src/formats/cpio.js');

/** Debian packages, resolved to exact names (meta-packages through their dependency). */
const PACKAGES = {
  'kernel-amd64': { meta: 'linux-image-amd64' }, // signed: linux-image-<abi>-amd64
  'kernel-amd64-unsigned': { meta: 'linux-image-amd64', suffix: '-unsigned' },
  'kernel-686': { meta: 'linux-image-686:i386', foreign: 'i386' },
  'busybox-amd64': { name: 'busybox-static:amd64' },
  'busybox-i386': { name: 'busybox-static:i386', foreign: 'i386' },
};

/** The marker line the test initramfs prints once /init runs; the kernel command line follows it. */
export const INIT_MARKER = 'VKEXEC-INIT-OK';

const INIT_SCRIPT = `#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
echo ${INIT_MARKER}
/bin/busybox cat /proc/cmdline
/bin/busybox reboot -f
`;

const FIXTURES = [
  { name: 'vmlinuz-amd64', pkg: 'kernel-amd64', member: /^\.?\/boot\/vmlinuz-/ },
  { name: 'vmlinuz-amd64-unsigned', pkg: 'kernel-amd64-unsigned', member: /^\.?\/boot\/vmlinuz-/ },
  { name: 'vmlinuz-686', pkg: 'kernel-686', member: /^\.?\/boot\/vmlinuz-/ },
  { name: 'busybox-amd64', pkg: 'busybox-amd64', member: /^\.?\/(usr\/)?bin\/busybox$/ },
  { name: 'busybox-i386', pkg: 'busybox-i386', member: /^\.?\/(usr\/)?bin\/busybox$/ },
  { name: 'initramfs-busybox-amd64.cpio', inputs: ['busybox-amd64'], build: busyboxInitramfs('busybox-amd64') },
  { name: 'initramfs-busybox-i386.cpio', inputs: ['busybox-i386'], build: busyboxInitramfs('busybox-i386') },
];

class FixtureError extends Error {}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.error) throw new FixtureError(`cannot run ${cmd}: ${r.error.message} (install it: it is part of Debian's apt/dpkg)`);
  return r;
}

function must(cmd, args, opts = {}) {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new FixtureError(`\`${cmd} ${args.join(' ')}\` failed (exit ${r.status}):\n${(r.stderr || r.stdout || '').trim()}`);
  return r.stdout;
}

let updated = false;
function aptUpdate() {
  if (updated) return;
  console.error('fixtures: apt-get update');
  must('apt-get', ['update', '-q']);
  updated = true;
}

function ensureForeignArch(arch) {
  const foreign = must('dpkg', ['--print-foreign-architectures']).split(/\s+/);
  if (foreign.includes(arch)) return;
  console.error(`fixtures: dpkg --add-architecture ${arch}`);
  must('dpkg', ['--add-architecture', arch]);
  updated = false;
  aptUpdate();
}

/** The exact package name: a meta-package's linux-image dependency (plus a suffix), or the name itself. */
function resolvePackage(spec) {
  if (spec.foreign) ensureForeignArch(spec.foreign);
  if (!spec.meta) return spec.name;
  const look = () => run('apt-cache', ['depends', spec.meta]);
  let r = look();
  let dep = r.status === 0 ? /Depends: (linux-image-\S+)/.exec(r.stdout)?.[1] : undefined;
  if (!dep) {
    aptUpdate();
    r = look();
    dep = r.status === 0 ? /Depends: (linux-image-\S+)/.exec(r.stdout)?.[1] : undefined;
  }
  if (!dep) throw new FixtureError(`cannot resolve ${spec.meta}: \`apt-cache depends ${spec.meta}\` names no linux-image package`);
  if (!spec.suffix) return dep;
  const [name, arch] = dep.split(':');
  return name + spec.suffix + (arch ? `:${arch}` : '');
}

function candidateVersion(pkg) {
  const out = run('apt-cache', ['policy', pkg]).stdout ?? '';
  return /Candidate: (\S+)/.exec(out)?.[1] ?? 'unknown';
}

/** apt-get download into a scratch directory; on failure, apt-get update once and try again. */
function download(pkg) {
  const dir = join(CACHE, '.download');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  console.error(`fixtures: apt-get download ${pkg}`);
  let r = run('apt-get', ['download', '-q', pkg], { cwd: dir });
  if (r.status !== 0 && !updated) {
    aptUpdate();
    r = run('apt-get', ['download', '-q', pkg], { cwd: dir });
  }
  if (r.status !== 0) {
    throw new FixtureError(
      `cannot download ${pkg} (no network or no such package?):\n${(r.stderr || r.stdout).trim()}\n` +
        'The tests need real Debian packages; run this again where Debian\'s archive is reachable.',
    );
  }
  const deb = readdirSync(dir).find((f) => f.endsWith('.deb'));
  if (!deb) throw new FixtureError(`apt-get download ${pkg} produced no .deb`);
  return join(dir, deb);
}

/** One member of the .deb's data archive whose path matches `re`, through dpkg-deb --fsys-tarfile. */
function extractMember(deb, re) {
  return new Promise((resolveP, reject) => {
    const child = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
    const extract = tarStream.extract();
    let found;
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => reject(new FixtureError(`cannot run dpkg-deb: ${e.message}`)));
    extract.on('entry', (header, stream, next) => {
      if (!found && header.type === 'file' && re.test(header.name)) {
        const parts = [];
        stream.on('data', (d) => parts.push(d));
        stream.on('end', () => {
          found = { name: header.name, data: Buffer.concat(parts) };
          next();
        });
      } else {
        stream.on('end', next);
        stream.resume();
      }
    });
    extract.on('error', (e) => reject(new FixtureError(`reading ${deb}: ${e.message}`)));
    extract.on('finish', () => {
      if (found) resolveP(found);
      else reject(new FixtureError(`${deb} has no member matching ${re}${stderr ? `\n${stderr}` : ''}`));
    });
    child.stdout.pipe(extract);
  });
}

function busyboxInitramfs(busyboxFixture) {
  return async (paths) => {
    const { buildCpio } = await import(CPIO_JS);
    const busybox = readFileSync(paths[busyboxFixture]);
    const dirs = ['bin', 'dev', 'proc', 'sys', 'sbin', 'tmp', 'root', 'usr', 'usr/bin', 'usr/sbin'];
    return buildCpio([
      ...dirs.map((path) => ({ type: 'dir', path })),
      { type: 'char', path: 'dev/console', major: 5, minor: 1 },
      { type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
      { type: 'symlink', path: 'bin/sh', target: 'busybox' },
      { type: 'file', path: 'init', data: Buffer.from(INIT_SCRIPT), mode: 0o755 },
    ]);
  };
}

function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}

function writeAtomic(file, data) {
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
}

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

async function main() {
  if (!existsSync(CPIO_JS)) throw new FixtureError(`${CPIO_JS} is missing: build first (npx tsc -p .)`);
  mkdirSync(CACHE, { recursive: true });
  const manifest = readJson(MANIFEST);
  const sources = readJson(SOURCES);
  const paths = {};
  const resolved = {};
  for (const f of FIXTURES) {
    const file = join(CACHE, f.name);
    let source;
    if (f.pkg) {
      resolved[f.pkg] ??= resolvePackage(PACKAGES[f.pkg]);
      const pkg = resolved[f.pkg];
      source = { package: pkg, version: candidateVersion(pkg) };
    } else {
      // Built fixtures depend on their inputs' contents and on the builder's code.
      const builder = sha256(readFileSync(fileURLToPath(import.meta.url)) + readFileSync(CPIO_JS, 'utf8'));
      source = { inputs: Object.fromEntries(f.inputs.map((i) => [i, sources[i]?.sha256])), builder };
    }
    const key = JSON.stringify(source);
    const old = sources[f.name];
    if (old?.key === key && existsSync(file) && sha256(readFileSync(file)) === old.sha256) {
      paths[f.name] = file;
      continue;
    }
    let data;
    if (f.pkg) {
      const deb = download(source.package);
      const member = await extractMember(deb, f.member);
      rmSync(dirname(deb), { recursive: true, force: true });
      source.member = member.name;
      data = member.data;
    } else {
      data = await f.build(paths);
    }
    writeAtomic(file, data);
    sources[f.name] = { ...source, key, sha256: sha256(data) };
    paths[f.name] = file;
    console.error(`fixtures: ${f.name} (${data.length} bytes)`);
    writeAtomic(SOURCES, JSON.stringify(sources, null, 2) + '\n');
  }
  for (const f of FIXTURES) manifest[f.name] = f.name;
  writeAtomic(MANIFEST, JSON.stringify(manifest, null, 2) + '\n');
  writeAtomic(SOURCES, JSON.stringify(sources, null, 2) + '\n');
}

main().catch((e) => {
  const msg = e instanceof FixtureError ? e.message : e.stack;
  console.error(`fixtures: FAILED: ${msg}\nTest fixtures are incomplete; the tests that need them will fail. Fix the above and run \`node test/setup/fixtures.mjs\`.`);
  process.exit(1);
});
