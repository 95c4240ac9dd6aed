// Decompression checked against the reference tools (gzip, xz, zstd, lz4, bzip2, lzma from Debian) on real
// x86 code (Debian's static busybox), plus truncated, corrupted and bomb inputs.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  CompressionFormat,
  DecompressError,
  decompress,
  decompressKernelFile,
  detectCompression,
  isLzmaAloneHeader,
} from '../../src/formats/compress.js';
import { fixture } from '../helpers/fixtures.js';

const TOOL_PACKAGE: Record<string, string> = { gzip: 'gzip', xz: 'xz-utils', lzma: 'xz-utils', zstd: 'zstd', lz4: 'lz4', bzip2: 'bzip2' };

/** Runs a compressor on stdin; a missing tool fails the test with the package to install. */
function tool(cmd: string, args: string[], input: Uint8Array): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`${cmd} is needed for this test and cannot run (${r.error.message}): apt-get install ${TOOL_PACKAGE[cmd]}`);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const busybox = readFileSync(fixture('busybox-amd64'));
const code = busybox.subarray(0, 512 * 1024); // x86 code and data, for the variants
const small = busybox.subarray(0x10000, 0x10000 + 48 * 1024); // for the fuzz loops
const text = Buffer.from('kexec loads a new kernel from the running one\n'.repeat(3000));

const sampleCache = new Map<Uint8Array, Array<[CompressionFormat, string, Buffer]>>();

/** Each format as the reference tool writes it (made once per input). */
function samples(data: Uint8Array): Array<[CompressionFormat, string, Buffer]> {
  const cached = sampleCache.get(data);
  if (cached) return cached;
  const made: Array<[CompressionFormat, string, Buffer]> = [
    ['gzip', 'gzip -9', tool('gzip', ['-9', '-c'], data)],
    ['xz', 'xz (CRC64)', tool('xz', ['-c'], data)],
    ['zstd', 'zstd -19 from a pipe', tool('zstd', ['-19', '-c', '-q'], data)],
    ['lz4', 'lz4 -l', tool('lz4', ['-l', '-9', '-', '-'], data)],
    ['bzip2', 'bzip2 -9', tool('bzip2', ['-9', '-c'], data)],
    ['lzma', 'lzma -9', tool('lzma', ['-9', '-c'], data)],
  ];
  sampleCache.set(data, made);
  return made;
}

function rejects(fn: () => unknown, format: CompressionFormat, reasons: string[]): DecompressError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DecompressError, `expected DecompressError, got ${(e as Error)?.stack ?? String(e)}`);
    assert.equal(e.format, format);
    assert.ok(reasons.includes(e.reason), `reason ${e.reason} (${e.message}) not in ${reasons.join('/')}`);
    assert.ok(e.message.startsWith(`${format}: `), e.message);
    return e;
  }
  assert.fail(`${format}: expected a DecompressError`);
}

describe('detectCompression', () => {
  it('names the format of each tool output', () => {
    for (const [format, , buf] of samples(text)) assert.equal(detectCompression(buf), format);
  });

  it('returns null for uncompressed and too-short data', () => {
    assert.equal(detectCompression(busybox), null); // ELF
    assert.equal(detectCompression(readFileSync(fixture('vmlinuz-amd64-unsigned'))), null); // MZ
    assert.equal(detectCompression(new Uint8Array([0x1f])), null);
    assert.equal(detectCompression(Buffer.from('BZh0')), null);
    assert.equal(detectCompression(new Uint8Array(0)), null);
  });
});

describe('decompress: round trips with the reference tools', () => {
  for (const [format, name, buf] of samples(busybox)) {
    it(`${name} of busybox`, () => {
      assert.deepEqual(Buffer.from(decompress(buf, format)), busybox);
    });
  }

  it('empty inputs', () => {
    for (const [format, , buf] of samples(new Uint8Array(0))) assert.equal(decompress(buf, format).length, 0, format);
  });

  it('xz: every check type, x86 BCJ, Delta, several blocks, concatenated padded streams', () => {
    for (const args of [['--check=crc32'], ['--check=sha256'], ['--check=none'], ['--x86', '--lzma2=preset=6,dict=32MiB'], ['--delta=dist=4', '--lzma2'], ['--block-size=64KiB', '-T1']]) {
      assert.deepEqual(Buffer.from(decompress(tool('xz', ['-c', ...args], code), 'xz')), code, args.join(' '));
    }
    const two = Buffer.concat([tool('xz', ['-c'], text), Buffer.alloc(8), tool('xz', ['-c', '--x86', '--lzma2'], code)]);
    assert.deepEqual(Buffer.from(decompress(two, 'xz')), Buffer.concat([text, code]));
  });

  it('xz: the kernel\'s own xz_wrap.sh settings (x86 BCJ, CRC32, 32 MiB dictionary)', () => {
    const kernStyle = tool('xz', ['--check=crc32', '--threads=1', '--x86', '--lzma2=,dict=32MiB', '-c'], busybox);
    assert.deepEqual(Buffer.from(decompress(kernStyle, 'xz')), busybox);
  });

  it('gzip: concatenated members, trailing garbage ignored as zlib gzread does', () => {
    const two = Buffer.concat([tool('gzip', ['-c'], text), tool('gzip', ['-1', '-c'], busybox)]);
    assert.deepEqual(Buffer.from(decompress(two, 'gzip')), Buffer.concat([text, busybox]));
    const junk = Buffer.concat([tool('gzip', ['-c'], text), Buffer.from([1, 2, 3, 4])]);
    assert.deepEqual(Buffer.from(decompress(junk, 'gzip')), text);
  });

  it('zstd: content size declared or not, no checksum, several frames, a skippable frame', () => {
    // From a pipe zstd declares no content size unless told the stream's size.
    const withSize = tool('zstd', ['-3', '-c', '-q', `--stream-size=${busybox.length}`, '--no-check'], busybox);
    assert.deepEqual(Buffer.from(decompress(withSize, 'zstd')), busybox);
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    const frames = Buffer.concat([skippable, tool('zstd', ['-c', '-q'], text), tool('zstd', ['-1', '-c', '-q', '--no-check'], busybox)]);
    assert.deepEqual(Buffer.from(decompress(frames, 'zstd')), Buffer.concat([text, busybox]));
  });

  it('zstd: a wrong size hint is caught by the checksum and the frame decoded anyway', () => {
    const z = tool('zstd', ['-19', '-c', '-q'], busybox);
    assert.deepEqual(Buffer.from(decompress(z, 'zstd', { sizeHint: busybox.length - 100 })), busybox);
    assert.deepEqual(Buffer.from(decompress(z, 'zstd', { sizeHint: busybox.length })), busybox);
  });

  it('bzip2: concatenated streams (pbzip2 style), smallest block size', () => {
    const two = Buffer.concat([tool('bzip2', ['-1', '-c'], busybox), tool('bzip2', ['-c'], text)]);
    assert.deepEqual(Buffer.from(decompress(two, 'bzip2')), Buffer.concat([busybox, text]));
  });
});

describe('decompress: hostile input', () => {
  it('truncated streams are refused as truncated or corrupt, never with a raw exception', () => {
    for (const [format, name, buf] of samples(code)) {
      for (const cut of [1, 5, 13, buf.length >> 1, buf.length - 9, buf.length - 1]) {
        rejects(() => decompress(buf.subarray(0, cut), format), format, ['truncated', 'corrupt']);
      }
      assert.ok(name);
    }
  });

  it('corrupted bytes: only DecompressError, and formats with checks never return wrong data', () => {
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const checked = new Set<CompressionFormat>(['gzip', 'xz', 'bzip2', 'zstd']);
    for (const [format, , buf] of samples(small)) {
      for (let i = 0; i < 60; i++) {
        const bad = Buffer.from(buf);
        const flips = 1 + Math.floor(rand() * 3);
        for (let k = 0; k < flips; k++) bad[Math.floor(rand() * bad.length)] ^= 1 << Math.floor(rand() * 8);
        let out: Uint8Array | undefined;
        try {
          out = decompress(bad, format, { maxOutput: 1 << 22 });
        } catch (e) {
          assert.ok(e instanceof DecompressError, `${format}: ${(e as Error).stack}`);
          continue;
        }
        if (checked.has(format)) assert.deepEqual(Buffer.from(out), small, `${format} returned wrong data without an error`);
      }
    }
  });

  it('decompression bombs stop at maxOutput with an error naming the limit', () => {
    const zeros = Buffer.alloc(16 << 20);
    for (const [format, , buf] of samples(zeros)) {
      const e = rejects(() => decompress(buf, format, { maxOutput: 1 << 20 }), format, ['too-large']);
      assert.match(e.message, /1048576 bytes \(maxOutput\)/);
    }
  });

  it('declared sizes beyond the cap are refused before decoding', () => {
    const xz = tool('xz', ['-c'], Buffer.alloc(4 << 20));
    assert.match(rejects(() => decompress(xz, 'xz', { maxOutput: 1 << 20 }), 'xz', ['too-large']).message, /index declares 4194304/);
    const zst = tool('zstd', ['-c', '-q', `--stream-size=${4 << 20}`], Buffer.alloc(4 << 20));
    assert.match(rejects(() => decompress(zst, 'zstd', { maxOutput: 1 << 20 }), 'zstd', ['too-large']).message, /declares 4194304/);
    const lzma = Buffer.from(tool('lzma', ['-c'], text));
    lzma.writeBigUInt64LE(1n << 40n, 5); // LZMA_Alone header: a known size of 1 TiB
    rejects(() => decompress(lzma, 'lzma'), 'lzma', ['too-large']);
  });

  it('zstd: a huge window or a dictionary is refused before the decoder allocates', () => {
    // Frame header: magic, descriptor 0x00 (window descriptor follows), window 2^31, then a raw last block.
    const huge = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa8, 0x01, 0x00, 0x00]);
    assert.match(rejects(() => decompress(huge, 'zstd'), 'zstd', ['unsupported']).message, /window/);
    const dict = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x50, 0x07, 0x01, 0x00, 0x00]);
    assert.match(rejects(() => decompress(dict, 'zstd'), 'zstd', ['unsupported']).message, /dictionary 7/);
  });

  it('wrong sizes inside the stream are caught', () => {
    const lzma = Buffer.from(tool('lzma', ['-c'], text));
    lzma.writeBigUInt64LE(BigInt(text.length + 1000), 5); // claims more than the data holds
    rejects(() => decompress(lzma, 'lzma'), 'lzma', ['truncated', 'corrupt']);
    const lz4 = Buffer.from(tool('lz4', ['-l', '-c'], text));
    lz4.writeUInt32LE(lz4.readUInt32LE(4) + 10, 4); // first block size beyond the input
    rejects(() => decompress(lz4, 'lz4'), 'lz4', ['truncated']);
    const gz = Buffer.from(tool('gzip', ['-c'], text));
    gz.writeUInt32LE(text.length + 1, gz.length - 4); // ISIZE
    assert.match(rejects(() => decompress(gz, 'gzip'), 'gzip', ['corrupt']).message, /ISIZE/);
  });

  it('unsupported features are named', () => {
    assert.match(rejects(() => decompress(tool('xz', ['-c', '--arm', '--lzma2'], text), 'xz'), 'xz', ['unsupported']).message, /ARM BCJ/);
    const gz = Buffer.from(tool('gzip', ['-c'], text));
    gz[2] = 7;
    rejects(() => decompress(gz, 'gzip'), 'gzip', ['unsupported']);
  });
});

describe('decompressKernelFile (kexec-tools slurp_decompress_file)', () => {
  const kernel = readFileSync(fixture('vmlinuz-amd64-unsigned'));

  it('decompresses gzip, zstd, LZMA_Alone and (unlike kexec-tools) .xz files', () => {
    for (const [format, buf] of [
      ['gzip', tool('gzip', ['-c'], busybox)],
      ['zstd', tool('zstd', ['-c', '-q'], busybox)],
      ['lzma', tool('lzma', ['-c'], busybox)],
      ['xz', tool('xz', ['-c'], busybox)],
    ] as const) {
      const r = decompressKernelFile(buf);
      assert.equal(r.format, format);
      assert.deepEqual(Buffer.from(r.data), busybox);
      assert.equal(r.fallback, undefined);
    }
  });

  it('uses lz4, bzip2 and plain bzImage files as they are', () => {
    for (const buf of [tool('lz4', ['-l', '-c'], busybox), tool('bzip2', ['-c'], busybox), kernel]) {
      const r = decompressKernelFile(buf);
      assert.equal(r.format, null);
      assert.equal(r.data, buf);
      assert.equal(r.fallback, undefined);
    }
  });

  it('falls back to the raw bytes when a decoder fails, keeping the reason', () => {
    const bad = Buffer.from(tool('gzip', ['-c'], busybox));
    bad.fill(0x55, 100, 200);
    const r = decompressKernelFile(bad);
    assert.equal(r.format, null);
    assert.equal(r.data, bad);
    assert.ok(r.fallback instanceof DecompressError);
  });

  it('throws rather than falling back when the output exceeds maxOutput', () => {
    rejects(() => decompressKernelFile(tool('gzip', ['-c'], busybox), { maxOutput: 1000 }), 'gzip', ['too-large']);
  });

  it('isLzmaAloneHeader applies liblzma\'s picky header rules', () => {
    assert.equal(isLzmaAloneHeader(tool('lzma', ['-c'], text)), true);
    assert.equal(isLzmaAloneHeader(tool('xz', ['-c'], text)), false); // 0xFD is no LZMA1 properties byte
    assert.equal(isLzmaAloneHeader(kernel), false); // "MZ": 0x4D is valid props, the dictionary size is not
    assert.equal(isLzmaAloneHeader(Buffer.from([0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), true);
    assert.equal(isLzmaAloneHeader(Buffer.from([0x5d, 1, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), false);
  });
});
