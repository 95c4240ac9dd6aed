// `vkexec inspect` through the real binary on Debian's kernels (signed, unsigned, gzip-compressed, the vmlinux
// ELF), an image with an appended signature, a small synthetic bzImage, and hostile files; plus a fuzz run of
// the same code in-process, which must never throw.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { inspectImage } from '../../src/cli/inspect-model.js';
import { buildCpio } from '../../src/formats/cpio.js';
import { fixture } from '../helpers/fixtures.js';
import { tempDir, vkexec, type Run } from '../helpers/cli.js';
import { appendModsig, kernelSigned, kernelUnsigned, makePki, prng, removeDir, requireTool } from '../sig/sig-fixtures-lib.js';

let work: string;

function ok(r: Run): Run {
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'inspect reports on stdout only');
  return r;
}
const inspect = (file: string) => ok(vkexec(null, ['inspect', file])).stdout;
const inspectJson = (file: string) => JSON.parse(ok(vkexec(null, ['--json', 'inspect', file])).stdout);

/** A minimal bzImage: one setup sector, boot protocol 2.15, a gzip payload holding a tiny ELF header. */
function syntheticBzImage(): Buffer {
  const elf = Buffer.alloc(64);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  const payload = gzipSync(elf);
  const img = Buffer.alloc(1024 + payload.length);
  img.set([0xeb, 0x3c], 0); // a boot sector's jump (a file of leading zeros would read as an LZMA_Alone header)
  img[0x1f1] = 1; // setup_sects: real-mode part is 1024 bytes
  img.writeUInt16LE(0xaa55, 0x1fe);
  img.write('HdrS', 0x202, 'latin1');
  img.writeUInt16LE(0x020f, 0x206);
  img[0x211] = 0x01; // LOADED_HIGH
  img.writeUInt32LE(0x1000000, 0x230); // kernel_alignment
  img[0x234] = 1;
  img.writeUInt16LE(0x3, 0x236); // XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G
  img.writeUInt32LE(2047, 0x238);
  img.writeUInt32LE(0, 0x248); // payload_offset
  img.writeUInt32LE(payload.length, 0x24c);
  img.writeUInt32LE(0x100000, 0x260); // init_size
  payload.copy(img, 1024);
  return img;
}

before(() => {
  work = tempDir('vkexec-inspect-');
});
after(() => removeDir(work));

describe('inspect on real kernels', () => {
  it("shows Debian's signed kernel as every prober sees it, with its signature and digest", () => {
    const file = kernelSigned();
    const raw = readFileSync(file);
    const out = inspect(file);
    assert.match(out, /^ {2}elf-x86_64 +no +Not an ELF executable$/m);
    assert.match(out, /^ {2}bzImage64 +yes +It's a relocatable bzImage64$/m);
    assert.match(out, /^ {2}-> -c loads it as bzImage64$/m);
    assert.match(out, /^ {2}bzImage64 +yes +probe returned 0\n {2}-> -s loads it with bzImage64$/m);
    assert.match(out, /^setup header {2}boot protocol 2\.15, kernel_version "6\.1\.0-\d+-amd64 /m);
    assert.match(out, /^payload {7}xz at file offset /m);
    assert.match(out, /^PE\/COFF {7}PE32\+, machine 0x8664, SizeOfHeaders 0x1000, 4 sections$/m);
    assert.match(out, /^ {4}signer CN=Debian Secure Boot Signer 2022 - linux, issuer CN=Debian Secure Boot CA, sha256\/rsa/m);
    assert.match(out, /^ {4}sha256 digest [0-9a-f]{64}: matches the image$/m);
    assert.match(out, /^appended signature {2}none$/m);

    const j = inspectJson(file);
    assert.equal(j.size, raw.length);
    assert.equal(j.fileTypes.chosen, 'bzImage64');
    assert.equal(j.kexecFileOps.chosen, 'bzImage64');
    // Fields read here straight from the file at the boot protocol's offsets.
    assert.equal(j.setupHeader.fields.init_size, raw.readUInt32LE(0x260));
    assert.equal(j.setupHeader.fields.setup_sects, raw[0x1f1]);
    assert.equal(j.setupHeader.realModeSize, (raw[0x1f1]! + 1) * 512);
    assert.equal(j.payload.compressedSize, raw.readUInt32LE(0x24c));
    assert.equal(j.payload.offset, (raw[0x1f1]! + 1) * 512 + raw.readUInt32LE(0x248));
    assert.equal(j.payload.declaredSize, raw.readUInt32LE(j.payload.offset + j.payload.compressedSize - 4));
    assert.equal(j.payload.declaredSize, readFileSync(fixture('vmlinux-amd64')).length, 'the size trailer is what `xz -dc` gives');
    assert.deepEqual(j.pe.sections.map((s: { name: string }) => s.name), ['.setup', '.compat', '.text', '.data']);
    assert.equal(j.pe.entries.length, 1);
    assert.equal(j.pe.entries[0].digestMatches, true);
    assert.equal(j.pe.entries[0].selfCheck, 'ok');
    assert.equal(j.pe.entries[0].embeddedDigest, j.pe.imageSha256);
    assert.equal(j.appendedSignature, null);
    assert.deepEqual(j.problems, []);
  });

  it('shows the unsigned twin as unsigned, with the same Authenticode hash', () => {
    const j = inspectJson(kernelUnsigned());
    assert.equal(j.pe.entries.length, 0);
    assert.match(j.pe.problems.join('\n'), /ENODATA pefile_parse_binary: Unsigned PE binary/);
    assert.equal(j.pe.imageSha256, inspectJson(kernelSigned()).pe.imageSha256);
    assert.match(inspect(kernelUnsigned()), /^ {2}unsigned: ENODATA pefile_parse_binary: Unsigned PE binary/m);
  });

  it('decompresses a gzip-compressed kernel first, as kexec-tools does, and probes the result', () => {
    const gz = join(work, 'vmlinuz.gz');
    const raw = readFileSync(kernelUnsigned());
    writeFileSync(gz, gzipSync(raw, { level: 1 }));
    const j = inspectJson(gz);
    assert.deepEqual([j.compression.format, j.compression.decompressedSize], ['gzip', raw.length]);
    assert.equal(j.fileTypes.chosen, 'bzImage64');
    assert.match(inspect(gz), new RegExp(`^compression {3}gzip, ${raw.length} bytes decompressed`, 'm'));
  });

  it('shows the vmlinux ELF as elf-x86_64 for -c and as nobody\'s for -s (ENOEXEC: -a falls back)', () => {
    const out = inspect(fixture('vmlinux-amd64'));
    assert.match(out, /^ {2}elf-x86_64 +yes/m);
    assert.match(out, /^ {2}elf-x86 +no +Not i386 ELF executable$/m);
    assert.match(out, /^ {2}bzImage64 +no +ENOEXEC: Not a bzImage$/m);
    assert.match(out, /no loader takes it: kexec_file_load fails with ENOEXEC \(-a falls back to kexec_load\)/);
    assert.match(out, /^ELF {11}ELFCLASS64, e_machine 62, e_type 2, entry 0x[0-9a-f]+, \d+ program headers/m);
  });

  it('shows an appended (module-style) signature: its size, signer and content digest', () => {
    requireTool('openssl', 'openssl');
    const pki = makePki(join(work, 'pki'), 'inspect');
    const content = kernelUnsigned();
    const file = join(work, 'vmlinuz.modsig');
    const signed = appendModsig(content, pki, file);
    const j = inspectJson(file);
    const contentLength = readFileSync(content).length;
    assert.equal(j.appendedSignature.contentLength, contentLength);
    // What follows the content: the PKCS#7, the 12-byte module_signature, the 28-byte marker.
    assert.equal(j.appendedSignature.signatureLength, signed.length - contentLength - 12 - 28);
    assert.equal(j.appendedSignature.signatureLength, signed.readUInt32BE(signed.length - 28 - 4));
    assert.equal(j.appendedSignature.signers[0].subject, 'CN=inspect test signer');
    const sha = execFileSync('sha256sum', [content], { encoding: 'utf8' }).split(' ')[0];
    assert.deepEqual(j.appendedSignature.contentDigest, { algo: 'sha256', hex: sha });
    assert.match(inspect(file), /^appended signature {2}\d+-byte PKCS#7 after \d+ bytes of content, content sha256 [0-9a-f]{64}\n {2}signer CN=inspect test signer, issuer CN=inspect test CA/m);
  });
});

describe('inspect on synthetic and hostile files', () => {
  it('reads a synthetic bzImage, and with --payload checks the payload decompresses to its declared size', () => {
    const file = join(work, 'synthetic.bzImage');
    writeFileSync(file, syntheticBzImage());
    const j = JSON.parse(ok(vkexec(null, ['--json', 'inspect', '--payload', file])).stdout);
    assert.equal(j.kexecFileOps.chosen, 'bzImage64');
    assert.deepEqual([j.payload.format, j.payload.offset, j.payload.declaredSize, j.payload.decompressedSize], ['gzip', 1024, 64, 64]);
    assert.deepEqual(j.setupHeader.xloadflags, ['KERNEL_64', 'CAN_BE_LOADED_ABOVE_4G']);
    assert.equal(j.pe, null, 'no MZ: no PE section');
  });

  const hostile: [string, () => Buffer, RegExp][] = [
    ['an empty file', () => Buffer.alloc(0), /bzImage64 +no +ENOEXEC: File is too short to be a bzImage/],
    ['random bytes', () => Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) & 0xff)), /bzImage64 +no +ENOEXEC: Not a bzImage/],
    ['a kernel cut inside its setup code', () => readFileSync(kernelSigned()).subarray(0, 3000),
      /problem: the file ends inside the 20480-byte real-mode setup: the loaders refuse it \("bzImage truncated"\)/],
    ['a PE header claiming 65535 sections', () => {
      const b = Buffer.from(readFileSync(kernelSigned()));
      b.writeUInt16LE(0xffff, b.readUInt32LE(0x3c) + 6);
      return b;
    }, /problem: ELIBBAD pefile_parse_binary: 65535 section headers/],
    ['a signature that is not DER', () => {
      const b = Buffer.from(readFileSync(kernelSigned()));
      const pe = b.readUInt32LE(0x3c);
      b[b.readUInt32LE(pe + 24 + 112 + 4 * 8) + 8] = 0x31; // first byte of the PKCS#7 in the first WIN_CERTIFICATE
      return b;
    }, /problem: ELIBBAD pefile_strip_sig_wrapper: Signature data not PKCS#7/],
    ['a payload_offset past the end', () => {
      const b = Buffer.from(readFileSync(kernelSigned()));
      b.writeUInt32LE(0xfffffff0, 0x248);
      return b;
    }, /problem: payload_offset\/payload_length \(\d+\+\d+\) lie outside the \d+-byte file/],
    ['a damaged appended-signature trailer', () => Buffer.concat([syntheticBzImage(), Buffer.alloc(12, 0xff), Buffer.from('~Module signature appended~\n')]),
      /problem: appended signature: EBADMSG mod_check_sig: sig_len/],
    ['a kernel_version pointing past the end', () => {
      const b = syntheticBzImage();
      b.writeUInt16LE(0xfff0, 0x20e);
      return b;
    }, /setup header {2}boot protocol 2\.15\n/],
  ];
  for (const [what, make, expected] of hostile) {
    it(`explains ${what} in clear lines, exit 0`, () => {
      const file = join(work, what.replace(/\W+/g, '-'));
      writeFileSync(file, make());
      assert.match(inspect(file), expected);
    });
  }

  it('refuses what is not a file to inspect with exit 1 and a reason', () => {
    const dir = join(work, 'a-dir');
    mkdirSync(dir, { recursive: true });
    for (const [arg, message] of [[dir, /cannot inspect .*a-dir: not a regular file/], [join(work, 'missing'), /cannot inspect .*missing: No such file or directory/]] as const) {
      const r = vkexec(null, ['inspect', arg]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
    }
  });

  it('never throws on mutated headers of a signed kernel (in-process fuzzing, 60 cases)', async () => {
    const base = new Uint8Array(readFileSync(kernelSigned()));
    const rnd = prng(0x5eed);
    const pe = Buffer.from(base).readUInt32LE(0x3c);
    // The bytes every reader looks at: setup header, PE headers and section table, the WIN_CERTIFICATE.
    const certAt = Buffer.from(base).readUInt32LE(pe + 24 + 112 + 4 * 8);
    const hot = [[0x1f0, 0x270], [pe, pe + 0x200], [certAt, certAt + 0x80]] as const;
    for (let i = 0; i < 60; i++) {
      const b = new Uint8Array(base);
      for (let k = 0; k < 1 + Math.floor(rnd() * 6); k++) {
        const [lo, hi] = hot[Math.floor(rnd() * hot.length)]!;
        b[lo + Math.floor(rnd() * (hi - lo))] = Math.floor(rnd() * 256);
      }
      const r = await inspectImage(`fuzz-${i}`, i % 4 === 3 ? b.subarray(0, Math.floor(rnd() * b.length)) : b, { arch: 'x86_64', payload: false });
      assert.equal(r.fileTypes.probes.length, 7, 'multiboot2-x86, elf-x86_64, multiboot-x86, elf-x86, bzImage64, bzImage, uki');
      assert.ok(Array.isArray(r.problems));
    }
  });
});

describe('inspect: multiboot headers and initramfs archives (issue 14)', () => {
  it("shows Xen's multiboot v1 and v2 headers and tags, and -c's choice", () => {
    const text = inspect(fixture('xen-4.17-amd64.gz'));
    assert.match(text, /-> -c loads it as multiboot2-x86/);
    assert.match(text, /multiboot     v1 header at file offset 0x88, flags 0x3 \[PAGE_ALIGN MEMORY_INFO\]/);
    assert.match(text, /tag 10 relocatable\s+optional  0x200000 0xffffffff 0x200000 0x2/);
    const j = inspectJson(fixture('xen-4.17-amd64.gz'));
    assert.equal(j.multiboot.v2.offset, 0x98);
    assert.deepEqual(j.multiboot.v2.tags.map((t: { type: number }) => t.type), [1, 6, 10, 4, 5, 7, 9, 0]);
  });

  it('lists an initramfs-tools style initrd: early microcode cpio, then a zstd (or gzip) main archive with /init and modules', () => {
    const dir = tempDir();
    try {
      const micro = Buffer.from(buildCpio([{ type: 'file', path: 'kernel/x86/microcode/AuthenticAMD.bin', data: Buffer.alloc(300, 7) }]));
      const main = Buffer.from(buildCpio([
        { type: 'symlink', path: 'init', target: 'usr/sbin/init.sh' },
        { type: 'file', path: 'usr/sbin/init.sh', data: Buffer.from('#!/bin/busybox sh\n') },
        { type: 'file', path: 'bin/busybox', data: Buffer.alloc(10) },
        { type: 'file', path: 'usr/lib/modules/6.1.0-99-amd64/kernel/drivers/block/virtio_blk.ko.xz', data: Buffer.alloc(10) },
      ]));
      const plain = join(dir, 'main.cpio');
      writeFileSync(plain, main);
      let packed: Buffer;
      let fmt = 'zstd';
      try {
        packed = execFileSync('zstd', ['-q', '-c', plain]);
      } catch {
        fmt = 'gzip';
        packed = gzipSync(main);
      }
      const img = join(dir, 'initrd.img');
      writeFileSync(img, Buffer.concat([micro, packed]));
      const j = inspectJson(img);
      assert.deepEqual(j.initramfs.archives.map((a: { compression: string | null; entries: number }) => [a.compression, a.entries]), [[null, 1], [fmt, 4]]);
      assert.deepEqual(j.initramfs.archives[0].microcode, ['kernel/x86/microcode/AuthenticAMD.bin']);
      assert.deepEqual([j.initramfs.init.path, j.initramfs.init.kind, j.initramfs.init.interpreter, j.initramfs.init.interpreterPresent], ['/usr/sbin/init.sh', 'script', '/bin/busybox', true]);
      assert.deepEqual([j.initramfs.modules.count, j.initramfs.modules.kernelVersions, j.initramfs.modules.names], [1, ['6.1.0-99-amd64'], ['virtio_blk']]);
      assert.match(inspect(img), /archive 2 at 0x[0-9a-f]+: (zstd|gzip)-compressed, \d+ bytes -> \d+ bytes of cpio, 4 entries/);
    } finally {
      removeDir(dir);
    }
  });

  it("finds the test initramfs's /init script and says when /init is missing", () => {
    const j = inspectJson(fixture('initramfs-busybox-amd64.cpio'));
    assert.equal(j.initramfs.init.kind, 'script');
    const dir = tempDir();
    try {
      const img = join(dir, 'noinit.cpio');
      writeFileSync(img, Buffer.from(buildCpio([{ type: 'file', path: 'etc/x', data: Buffer.alloc(1) }])));
      assert.match(inspect(img), /\/init\s+MISSING/);
    } finally {
      removeDir(dir);
    }
  });
});
