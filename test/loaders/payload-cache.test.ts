// The --fast payload cache: a second load of the same kernel takes the decoded payload from the cache and
// loads the same bytes; damaged entries are never used; the size bound holds; concurrent writers leave whole
// entries and no temporaries; VKEXEC_PAYLOAD_CACHE=off writes nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheGet, cachePut, payloadCacheDir, payloadKey } from '../../src/loaders/userspace/payload-cache.js';
import { fixture } from '../helpers/fixtures.js';
import { ROOT, tempDir, vkexec } from '../helpers/cli.js';

const envFor = (dir: string, mb?: number): NodeJS.ProcessEnv => ({ VKEXEC_PAYLOAD_CACHE: dir, ...(mb === undefined ? {} : { VKEXEC_PAYLOAD_CACHE_MB: String(mb) }) });

test('the cache directory: XDG_CACHE_HOME, else ~/.cache; VKEXEC_PAYLOAD_CACHE moves or disables it', () => {
  assert.equal(payloadCacheDir({ XDG_CACHE_HOME: '/x/cache' }), '/x/cache/vkexec/payloads');
  assert.equal(payloadCacheDir({ HOME: '/home/u' } as NodeJS.ProcessEnv)?.endsWith(path.join('.cache', 'vkexec', 'payloads')), true);
  assert.equal(payloadCacheDir({ VKEXEC_PAYLOAD_CACHE: 'off', XDG_CACHE_HOME: '/x' }), null);
  assert.equal(payloadCacheDir({ VKEXEC_PAYLOAD_CACHE: '/y/c' }), '/y/c');
});

test('an entry is returned only whole and intact, at the expected size', () => {
  const dir = path.join(tempDir(), 'c');
  const data = randomBytes(300_000);
  const key = payloadKey(Buffer.from('compressed'));
  assert.equal(cacheGet(key, data.length, envFor(dir)), null, 'empty cache');
  assert.ok(cachePut(key, data, envFor(dir)));
  assert.ok(Buffer.from(cacheGet(key, data.length, envFor(dir))!).equals(data));
  assert.equal(cacheGet(key, data.length + 1, envFor(dir)), null, 'another size is another payload');
  const file = path.join(dir, key);
  const bad = fs.readFileSync(file);
  bad[1000] ^= 1;
  fs.writeFileSync(file, bad);
  assert.equal(cacheGet(key, data.length, envFor(dir)), null, 'a damaged entry is not used');
  assert.equal(cachePut(key, data, { VKEXEC_PAYLOAD_CACHE: 'off' }), false);
});

test('the total stays under the bound, least recently used entries going first', () => {
  const dir = path.join(tempDir(), 'c');
  const mb = (1 << 20) - 32; // one entry of 1 MiB with its 32-byte digest
  const keys = ['a', 'b', 'c', 'd'].map((k) => payloadKey(Buffer.from(k)));
  cachePut(keys[0], randomBytes(mb), envFor(dir, 3));
  cachePut(keys[1], randomBytes(mb), envFor(dir, 3));
  const t = new Date(Date.now() - 10_000);
  fs.utimesSync(path.join(dir, keys[1]), t, t); // b used long ago; a just now
  fs.utimesSync(path.join(dir, keys[0]), new Date(Date.now() - 5_000), new Date(Date.now() - 5_000));
  cacheGet(keys[0], mb, envFor(dir)); // touches a
  cachePut(keys[2], randomBytes(mb), envFor(dir, 3));
  cachePut(keys[3], randomBytes(mb), envFor(dir, 3));
  const left = fs.readdirSync(dir).sort();
  assert.deepEqual(left, [keys[0], keys[2], keys[3]].sort(), 'b, the least recently used, went');
  assert.equal(cachePut(payloadKey(Buffer.from('e')), randomBytes(4 << 20), envFor(dir, 3)), false, 'an entry above the bound is not kept');
});

test('writers at the same time leave whole entries and no temporaries', async () => {
  const dir = path.join(tempDir(), 'c');
  const mod = path.join(ROOT, 'dist/src/loaders/userspace/payload-cache.js');
  const script = `const m = await import(${JSON.stringify(mod)}); const data = Buffer.alloc(2 << 20, Number(process.argv[1]) % 2);
    for (let i = 0; i < 5; i++) m.cachePut(m.payloadKey(Buffer.from('k' + (i % 2) + (Number(process.argv[1]) % 2))), data, { VKEXEC_PAYLOAD_CACHE: ${JSON.stringify(dir)}, VKEXEC_PAYLOAD_CACHE_MB: '5' });`;
  const codes = await Promise.all([0, 1, 2, 3, 4, 5].map((n) => new Promise<number>((resolve) => {
    spawn(process.execPath, ['--input-type=module', '-e', script, String(n)], { stdio: 'inherit' }).on('close', (c) => resolve(c ?? -1));
  })));
  assert.deepEqual(codes, [0, 0, 0, 0, 0, 0]);
  const names = fs.readdirSync(dir);
  assert.ok(names.every((n) => /^[0-9a-f]{64}$/.test(n)), `only entries: ${names.join(', ')}`);
  assert.ok(names.length >= 1 && names.length <= 2, `bounded to 5 MiB: ${names.length} entries of 2 MiB`);
  for (const n of names) assert.ok(cacheGet(n, 2 << 20, envFor(dir)), `entry ${n} is whole`);
});

test('vkexec -c -l --fast twice: the second load takes the payload from the cache and loads the same segments', () => {
  const cache = path.join(tempDir(), 'cache');
  const runs = [1, 2].map(() => {
    const m = tempDir();
    assert.equal(vkexec(m, ['machine', 'init']).code, 0);
    const r = vkexec(m, ['-c', '-d', '-l', '--fast', fixture('vmlinuz-amd64-unsigned'), '--append', 'console=ttyS0'], { VKEXEC_PAYLOAD_CACHE: cache });
    assert.equal(r.code, 0, r.stderr);
    const segs = (JSON.parse(fs.readFileSync(path.join(m, 'machine.json'), 'utf8')) as { images: { normal: { segments: { mem: unknown; blob: string | null }[] } } }).images.normal.segments;
    return { r, segs, m };
  });
  assert.match(runs[0].r.stderr, /--fast: xz payload unpacked: vmlinux/);
  assert.match(runs[1].r.stderr, /--fast: xz payload from the payload cache: vmlinux/);
  assert.equal(fs.readdirSync(cache).length, 1);
  // The vmlinux's PT_LOAD segments (inside the range -d reports) hold the same bytes in both loads.
  const [, lo, hi] = /vmlinux \[(0x[0-9a-f]+), (0x[0-9a-f]+)\)/.exec(runs[0].r.stderr)!.map((x) => (x.startsWith('0x') ? BigInt(x) : 0n));
  const inVmlinux = (mem: unknown) => BigInt((mem as { $u64: string }).$u64) >= lo && BigInt((mem as { $u64: string }).$u64) < hi;
  const vmlinux = (i: number, m: string) => runs[i].segs.filter((s) => s.blob && inVmlinux(s.mem)).map((s) => fs.readFileSync(path.join(m, 'blobs', s.blob!)));
  const a = vmlinux(0, runs[0].m);
  const b = vmlinux(1, runs[1].m);
  assert.ok(a.length >= 2, `${a.length} vmlinux segments`);
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(x.equals(b[i]), `vmlinux segment ${i} differs`));
});
