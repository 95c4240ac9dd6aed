// bzImage payload extraction on Debian's real kernels (xz + x86 BCJ), checked against xz-utils' output, and on
// kernel-style payloads of the other formats (built by test/setup/fixtures.mjs with the kernel's own commands)
// spliced into the same bzImage.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DecompressError } from '../../src/formats/compress.js';
import { PayloadError, extractPayload } from '../../src/formats/bzimage-payload.js';
import { SetupHeader } from '../../src/formats/setup-header.js';
import { FixtureName, fixture, splicePayload } from '../helpers/fixtures.js';

const unsigned = readFileSync(fixture('vmlinuz-amd64-unsigned'));
const vmlinux = readFileSync(fixture('vmlinux-amd64')); // `xz -dc` of the payload

const splice = splicePayload;

function timed<T>(t: { diagnostic(msg: string): void }, what: string, fn: () => T): T {
  const start = performance.now();
  const r = fn();
  t.diagnostic(`${what}: ${(performance.now() - start).toFixed(0)} ms`);
  return r;
}

function elfClassAndMachine(b: Uint8Array): [number, number] {
  return [b[4], b[18] | (b[19] << 8)];
}

describe('extractPayload: real Debian kernels', () => {
  it('amd64: xz + BCJ payload decodes to xz-utils\' bytes, an x86-64 ELF of the trailer\'s size', (t) => {
    const p = timed(t, 'xz+BCJ payload decode (63 MiB)', () => extractPayload(unsigned));
    const hdr = new SetupHeader(unsigned);
    assert.equal(p.format, 'xz');
    assert.equal(p.compressedOffset, hdr.kern16Size + hdr.num('payload_offset'));
    assert.equal(p.compressed.length, hdr.num('payload_length'));
    assert.equal(p.outputLength, unsigned.readUInt32LE(p.compressedOffset + p.compressed.length - 4));
    assert.equal(p.vmlinux.length, p.outputLength);
    assert.deepEqual(elfClassAndMachine(p.vmlinux), [2, 62]); // ELFCLASS64, EM_X86_64
    assert.ok(Buffer.from(p.vmlinux).equals(vmlinux), 'differs from xz -dc');
  });

  it('amd64 signed (PE with Authenticode) carries the same payload', () => {
    const p = extractPayload(readFileSync(fixture('vmlinuz-amd64')));
    assert.equal(p.format, 'xz');
    assert.ok(Buffer.from(p.vmlinux).equals(vmlinux));
  });

  it('686: an i386 ELF, equal to xz-utils\' output', (t) => {
    const k = readFileSync(fixture('vmlinuz-686'));
    const p = timed(t, '686 payload decode', () => extractPayload(k));
    assert.deepEqual(elfClassAndMachine(p.vmlinux), [1, 3]); // ELFCLASS32, EM_386
    const r = spawnSync('xz', ['-dc', '--single-stream'], { input: p.compressed, maxBuffer: 1 << 30 });
    if (r.error) throw new Error(`xz is needed for this test: apt-get install xz-utils (${r.error.message})`);
    assert.ok(Buffer.from(p.vmlinux).equals(r.stdout), 'differs from xz -dc');
  });
});

describe('extractPayload: kernel-style payloads of every format', () => {
  for (const format of ['gzip', 'bzip2', 'lzma', 'lz4', 'zstd'] as const) {
    it(format, (t) => {
      const kernel = splice(unsigned, readFileSync(fixture(`payload-amd64.${format}` as FixtureName)));
      const p = timed(t, `${format} payload decode`, () => extractPayload(kernel));
      assert.equal(p.format, format);
      assert.equal(p.outputLength, vmlinux.length);
      assert.ok(Buffer.from(p.vmlinux).equals(vmlinux), `${format} payload differs`);
    });
  }
});

describe('extractPayload: hostile bzImages', () => {
  const gz = readFileSync(fixture('payload-amd64.gzip'));
  const lz4 = readFileSync(fixture('payload-amd64.lz4'));

  it('refuses files without a setup header or with an old boot protocol', () => {
    assert.throws(() => extractPayload(vmlinux), PayloadError);
    assert.throws(() => extractPayload(new Uint8Array(100)), PayloadError);
    const old = Buffer.from(unsigned);
    old.writeUInt16LE(0x0207, 0x206);
    assert.throws(() => extractPayload(old), /predates payload_offset/);
  });

  it('refuses a payload outside the file', () => {
    const k = Buffer.from(unsigned);
    k.writeUInt32LE(k.length, 0x24c);
    assert.throws(() => extractPayload(k), (e: Error) => e instanceof PayloadError && /outside/.test(e.message));
    assert.throws(() => extractPayload(unsigned.subarray(0, unsigned.length >> 1)), PayloadError);
  });

  it('names an undecodable payload format (lzo)', () => {
    const lzo = Buffer.concat([Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(100)]);
    assert.throws(() => extractPayload(splice(unsigned, lzo)), /89 4c 5a 4f.*lzo/);
  });

  it('refuses a size trailer that disagrees with the data', () => {
    const short = Buffer.from(lz4);
    short.writeUInt32LE(vmlinux.length - 4096, short.length - 4);
    assert.throws(() => extractPayload(splice(unsigned, short)), (e: Error) => e instanceof DecompressError && e.reason === 'corrupt' && /more than/.test(e.message));
    const long = Buffer.from(lz4);
    long.writeUInt32LE(vmlinux.length + 4096, long.length - 4);
    assert.throws(() => extractPayload(splice(unsigned, long)), (e: Error) => e instanceof DecompressError && /decompresses to 65906612 bytes/.test(e.message));
    const isize = Buffer.from(gz); // gzip's trailer is its ISIZE: caught by the gzip decoder itself
    isize.writeUInt32LE(vmlinux.length + 1, isize.length - 4);
    assert.throws(() => extractPayload(splice(unsigned, isize)), DecompressError);
  });

  it('a zstd kernel with a few changed bytes fails within 10 s (issue 11: fzstd used to spin)', () => {
    const zst = readFileSync(fixture('payload-amd64.zstd'));
    // Five bytes changed at spread offsets inside the compressed blocks (the size trailer kept), as in issue 11.
    for (const seed of [1, 2, 3]) {
      const bad = Buffer.from(zst);
      for (let i = 1; i <= 5; i++) bad[64 + Math.floor((bad.length - 68) * ((i * 0.17 + seed * 0.05) % 1))] ^= 0x5a;
      const t0 = Date.now();
      assert.throws(() => extractPayload(splice(unsigned, bad)), (e: Error) => e instanceof DecompressError && e.format === 'zstd' && e.reason !== 'too-large');
      const ms = Date.now() - t0;
      assert.ok(ms < 10_000, `corrupt zstd payload took ${ms} ms to refuse (bound 10 s)`);
    }
  });

  it('refuses a truncated payload', () => {
    const cut = Buffer.concat([lz4.subarray(0, lz4.length >> 1), lz4.subarray(lz4.length - 4)]);
    assert.throws(() => extractPayload(splice(unsigned, cut)), (e: Error) => e instanceof DecompressError && e.reason === 'truncated');
  });

  it('honours maxOutput before decoding', () => {
    assert.throws(() => extractPayload(unsigned, { maxOutput: 1 << 20 }), (e: Error) => e instanceof DecompressError && e.reason === 'too-large');
  });

  it('refuses a payload that is not an ELF file', () => {
    const data = Buffer.alloc(1 << 16, 0x41);
    const r = spawnSync('gzip', ['-c'], { input: data });
    assert.throws(() => extractPayload(splice(unsigned, r.stdout)), /not an ELF/);
  });
});

describe('extractPayload: the injected decoder (PayloadDecoder)', () => {
  const lz4k = splice(unsigned, readFileSync(fixture('payload-amd64.lz4')));
  const offering = (bytes: Uint8Array | null, calls: string[] = []) => ({
    decode: (stream: Uint8Array, format: string, n: number) => (calls.push(`${format} ${stream.length} ${n}`), bytes ? { by: 'stub', bytes } : { by: 'stub', failed: 'said no' }),
  });

  it('gets the bare stream (no size trailer) and the trailer\'s size; its exact ELF bytes are used', () => {
    const calls: string[] = [];
    const p = extractPayload(lz4k, { decoder: offering(vmlinux, calls) });
    assert.deepEqual(calls, [`lz4 ${p.compressed.length - 4} ${vmlinux.length}`]);
    assert.equal(p.decodedBy, 'stub');
    assert.equal(p.vmlinux, vmlinux);
  });

  it('other bytes are not trusted: the own decoder decodes, and says why', () => {
    const cases: Array<[Uint8Array | null, RegExp]> = [
      [null, /^stub: said no$/],
      [vmlinux.subarray(0, vmlinux.length - 1), /^stub: gave 65906611 bytes, the size trailer declares 65906612$/],
      [Buffer.alloc(vmlinux.length), /^stub: its output is not an ELF file$/],
    ];
    for (const [bytes, why] of cases) {
      const p = extractPayload(lz4k, { decoder: offering(bytes) });
      assert.equal(p.decodedBy, 'vkexec');
      assert.match(p.fallback ?? '', why);
      assert.ok(Buffer.from(p.vmlinux).equals(vmlinux));
    }
  });

  it('is not asked when the store has the payload', () => {
    const calls: string[] = [];
    const store = { get: () => new Uint8Array(vmlinux), put: () => assert.fail('a stored payload is not stored again') };
    const p = extractPayload(lz4k, { store, decoder: offering(null, calls) });
    assert.deepEqual(calls, []);
    assert.equal(p.decodedBy, 'the payload cache');
  });
});
