// Package reading for `vkexec check` (src/formats/ar.ts, deb.ts) against the real tools: Debian's kernel .deb
// listed by dpkg-deb itself, and small packages built by `dpkg-deb --build` with each data.tar compression
// dpkg writes (xz, zstd, gzip, none). Corrupt and unsupported packages fail with a named reason. `check` reads
// data.tar through the reference tool (check-tar-decoder.ts): same files and bytes, and the own decoders' result
// or error whenever the tool fails.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ArchiveError, parseAr } from '../../src/formats/ar.js';
import { readDeb } from '../../src/formats/deb.js';
import { dataTarDecoder } from '../../src/cli/check-tar-decoder.js';
import { readRpm } from '../../src/formats/rpm.js';
import { fixture } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/cli.js';
import { requireTools } from '../helpers/tools.js';
import { buildDeb, buildRpm } from './packages.js';

test("Debian's kernel .deb: the same file list as dpkg-deb --contents, and the kernel's bytes as dpkg-deb extracts them", { timeout: 600_000 }, async (t) => {
  if (!requireTools(t, ['dpkg-deb'], 'VKEXEC_NO_DPKG', 'dpkg')) return;
  const deb = fixture('linux-image-amd64.deb');
  const files = await readDeb(fs.readFileSync(deb), (p) => p.startsWith('boot/vmlinuz-'));
  const theirs = execFileSync('dpkg-deb', ['--fsys-tarfile', deb], { maxBuffer: 1 << 30 });
  const listing = execFileSync('tar', ['-t'], { input: theirs, maxBuffer: 1 << 28 }).toString().split('\n').filter(Boolean).map((p) => p.replace(/^\.?\/+/, '').replace(/\/+$/, '')).filter(Boolean);
  assert.deepEqual(files.map((f) => f.path).filter(Boolean), listing);
  const kernel = files.find((f) => f.data)!;
  assert.match(kernel.path, /^boot\/vmlinuz-6\.1\.\d+-\d+-amd64$/);
  const dir = tempDir();
  execFileSync('tar', ['-x', '-C', dir, `./${kernel.path}`], { input: theirs, maxBuffer: 1 << 30 });
  assert.ok(Buffer.from(kernel.data!).equals(fs.readFileSync(path.join(dir, kernel.path))), 'the extracted kernel differs from tar -x of dpkg-deb --fsys-tarfile');
  // check's reader: xz -dc -T0 on PATH gives the same listing and bytes.
  if (!requireTools(t, ['xz'], 'VKEXEC_NO_XZ', 'xz-utils')) return;
  const viaTool = await readDeb(fs.readFileSync(deb), (p) => p.startsWith('boot/vmlinuz-'), undefined, dataTarDecoder({ ...process.env, VKEXEC_PAYLOAD_DECODER: '' }));
  assert.deepEqual(viaTool.map((f) => [f.path, f.type, f.size]), files.map((f) => [f.path, f.type, f.size]));
  assert.ok(Buffer.from(viaTool.find((f) => f.data)!.data!).equals(Buffer.from(kernel.data!)), 'the kernel read through xz differs');
});

test("check's data.tar decoder: each compression through its tool reads the same; a failing or lying tool gives the own decoders' answer", (t) => {
  if (!requireTools(t, ['dpkg-deb', 'xz', 'zstd'], 'VKEXEC_NO_DPKG', 'dpkg xz-utils zstd')) return;
  const dir = tempDir();
  const tools = dataTarDecoder({ ...process.env, VKEXEC_PAYLOAD_DECODER: '' })!;
  assert.equal(dataTarDecoder({ VKEXEC_PAYLOAD_DECODER: 'builtin' }), undefined);
  const fake = (script: string) => {
    const bin = tempDir('vkexec-fake-xz-');
    fs.writeFileSync(path.join(bin, 'xz'), `#!/bin/sh
${script}
`, { mode: 0o755 });
    return dataTarDecoder({ ...process.env, PATH: `${bin}:${process.env.PATH}` })!;
  };
  const files = { 'boot/vmlinuz-9.9.9-test': Buffer.alloc(300_000, 7), 'boot/config-9.9.9-test': 'CONFIG_X=y\n' };
  const shape = (fs_: Awaited<ReturnType<typeof readDeb>>) => fs_.map((f) => [f.path, f.type, f.size, f.data && Buffer.from(f.data).toString('hex').slice(0, 64)]);
  return (async () => {
    for (const z of ['xz', 'zstd', 'gzip', 'none']) {
      const deb = fs.readFileSync(buildDeb(dir, `pkg-${z}`, z, files));
      assert.deepEqual(shape(await readDeb(deb, () => true, undefined, tools)), shape(await readDeb(deb, () => true)), z);
    }
    const deb = fs.readFileSync(path.join(dir, 'pkg-xz.deb'));
    const own = shape(await readDeb(deb, () => true));
    const liars: [string, string][] = [
      ['writes half and exits 1', 'head -c 4096 /dev/zero; exit 1'],
      ['writes garbage and exits 0', 'cat >/dev/null; head -c 100000 /dev/urandom'],
      ['dies of a signal mid-stream', 'head -c 10240 /dev/zero; kill -KILL $$'],
      ['is not there', 'exec /nonexistent/xz'],
    ];
    for (const [what, script] of liars) assert.deepEqual(shape(await readDeb(deb, () => true, undefined, fake(script))), own, what);
    // More than maxOutput: the tool is stopped, and the own decoder's limit error is the one given.
    const limitOwn = await readDeb(deb, () => true, 1000).then(() => null, (e: Error) => e.message);
    assert.match(limitOwn ?? '', /^deb: data\.tar: xz: /);
    assert.equal(await readDeb(deb, () => true, 1000, tools).then(() => null, (e: Error) => e.message), limitOwn);
    // A corrupt xz data.tar: the same error with and without the tool.
    const data = parseAr(deb).find((m) => m.name === 'data.tar.xz')!;
    const corrupt = Buffer.from(deb);
    corrupt.fill(0x55, data.offset + 64, data.offset + data.data.length - 64);
    const ownErr = await readDeb(corrupt, () => true).then(() => null, (e: Error) => e.message);
    assert.match(ownErr ?? '', /^deb: data\.tar: xz: /);
    assert.equal(await readDeb(corrupt, () => true, undefined, tools).then(() => null, (e: Error) => e.message), ownErr);
  })();
});

test('dpkg-deb --build with xz, zstd, gzip and none: every compression is read; an unknown one is refused by name', (t) => {
  if (!requireTools(t, ['dpkg-deb'], 'VKEXEC_NO_DPKG', 'dpkg')) return;
  const dir = tempDir();
  return (async () => {
    for (const z of ['xz', 'zstd', 'gzip', 'none']) {
      const deb = buildDeb(dir, `pkg-${z}`, z, { 'boot/vmlinuz-9.9.9-test': 'kernel bytes', 'boot/config-9.9.9-test': 'CONFIG_X=y\n' });
      const files = await readDeb(fs.readFileSync(deb), () => true);
      assert.equal(Buffer.from(files.find((f) => f.path === 'boot/vmlinuz-9.9.9-test')!.data!).toString(), 'kernel bytes', z);
    }
    // The same package with its data.tar member renamed to a compression dpkg does not write.
    const deb = fs.readFileSync(path.join(dir, 'pkg-xz.deb'));
    const members = parseAr(deb);
    const data = members.find((m) => m.name === 'data.tar.xz')!;
    const renamed = Buffer.from(deb);
    renamed.write('data.tar.lz4    ', data.offset - 60, 'latin1');
    await assert.rejects(readDeb(renamed, () => true), (e: unknown) => e instanceof ArchiveError && /compression "lz4" is not one dpkg-deb writes/.test(e.message));
    // Truncated: the member declares more bytes than the file has.
    await assert.rejects(readDeb(deb.subarray(0, deb.length - 100), () => true), (e: unknown) => e instanceof ArchiveError && /past the end of the .*truncated download/.test(e.message));
    // A corrupt xz stream inside a well-formed ar.
    const corrupt = Buffer.from(deb);
    corrupt.fill(0x55, data.offset + 64, data.offset + data.data.length - 64);
    await assert.rejects(readDeb(corrupt, () => true), (e: unknown) => e instanceof ArchiveError && /^deb: data\.tar: xz: /.test(e.message));
    // A corrupt gzip data.tar (read through zlib's stream) fails the same way, naming gzip.
    const gz = fs.readFileSync(path.join(dir, 'pkg-gzip.deb'));
    const gzData = parseAr(gz).find((m) => m.name === 'data.tar.gz')!;
    const badGz = Buffer.from(gz);
    badGz.fill(0x55, gzData.offset + 12, gzData.offset + gzData.data.length - 8);
    await assert.rejects(readDeb(badGz, () => true), (e: unknown) => e instanceof ArchiveError && /^deb: data\.tar: gzip: /.test(e.message));
    assert.throws(() => parseAr(Buffer.from('not an archive')), /no "!<arch>" magic/);
  })();
});

test('rpmbuild with xz, zstd and gzip payloads: the files and bytes rpm2cpio gives; a truncated RPM is refused by name', (t) => {
  if (!requireTools(t, ['rpmbuild', 'rpm2cpio', 'cpio'], 'VKEXEC_NO_RPM', 'rpm cpio')) return;
  const dir = tempDir();
  const kernel = fixture('vmlinuz-amd64');
  for (const payload of ['w9.xzdio', 'w19.zstdio', 'w9.gzdio']) {
    const rpm = buildRpm(dir, `kernel-core-${payload.replace(/\W/g, '')}`, payload, { 'lib/modules/9.9.9-test/vmlinuz': kernel });
    const files = readRpm(fs.readFileSync(rpm), () => true);
    const theirs = execFileSync('sh', ['-c', `rpm2cpio "${rpm}" | cpio -it --quiet`]).toString().split('\n').filter(Boolean).map((p) => p.replace(/^\.?\/+/, ''));
    assert.deepEqual(files.map((f) => f.path), theirs, payload);
    assert.ok(Buffer.from(files.find((f) => f.path === 'lib/modules/9.9.9-test/vmlinuz')!.data!).equals(fs.readFileSync(kernel)), payload);
  }
  const rpm = fs.readFileSync(path.join(dir, 'kernel-core-w9xzdio.rpm'));
  assert.throws(() => readRpm(rpm.subarray(0, 200), () => true), (e: unknown) => e instanceof ArchiveError && /truncated download/.test(e.message));
  assert.throws(() => readRpm(Buffer.concat([rpm.subarray(0, rpm.length - 4096)]), () => true), (e: unknown) => e instanceof ArchiveError && /^rpm: payload: xz: /.test(e.message));
});
