// The fuzz runner's input classes: a base input each (small, so 100,000 mutations are affordable) and the
// parser it is fed to. A parser may return or throw its own format error; a plain Error, TypeError or
// RangeError (a crash), a hang or a blown memory limit is a failure.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { decompress, detectCompression, type CompressionFormat } from '../../src/formats/compress.js';
import { parseElf } from '../../src/formats/elf.js';
import { parseCpio, buildCpio } from '../../src/formats/cpio.js';
import { parsePe } from '../../src/formats/pe.js';
import { SetupHeader } from '../../src/formats/setup-header.js';
import { bzImage64Probe } from '../../src/loaders/userspace/bzimage64.js';
import { extractPayload } from '../../src/formats/bzimage-payload.js';
import { payloadDecoder } from '../../src/loaders/userspace/payload-decoder.js';
import { pkcs7ParseMessage } from '../../src/sig/pkcs7.js';
import { describePeSignatures } from '../../src/sig/verify-pefile.js';
import { parseIomem } from '../../src/vm/machine/iomem.js';
import { parseCrashkernel } from '../../src/vm/machine/crashkernel.js';
import { decodeJson, encodeJson } from '../../src/vm/machine/store.js';
import { validateState } from '../../src/vm/machine/validate.js';
import { defaultConfig, newState } from '../../src/vm/machine/machine.js';
import { fixture } from '../helpers/fixtures.js';
import { shortBzImage, shortSignedPe, withCertTable, type ShortSignedPe } from './bases.js';

export interface FuzzClass {
  name: string;
  /** Text classes mutate characters (printable-heavy); byte classes mutate bytes. */
  text: boolean;
  base: () => Uint8Array;
  run: (input: Uint8Array) => void;
}

const MAX_OUT = 64 << 20;
const sample = Buffer.from(Array.from({ length: 6000 }, (_v, i) => `line ${i} of the fuzz sample ${(i * 2654435761) >>> 0}\n`).join('')).subarray(0, 32768);

function compressWith(tool: string, args: string[]): Uint8Array {
  return new Uint8Array(execFileSync(tool, [...args, '-c'], { input: sample, maxBuffer: 1 << 26 }));
}

function decompressor(fmt: CompressionFormat, tool: string, args: string[]): FuzzClass {
  return {
    name: `decompress-${fmt}`,
    text: false,
    base: () => compressWith(tool, args),
    run: (b) => {
      decompress(b, fmt, { maxOutput: MAX_OUT });
    },
  };
}

/** The machine directory of the machine.json class: never created, so every blob it names is missing. */
const machineDir = path.join(os.tmpdir(), `vkexec-fuzz-no-such-dir-${process.pid}`);

const head = (name: Parameters<typeof fixture>[0], n: number) => (): Uint8Array => new Uint8Array(fs.readFileSync(fixture(name)).subarray(0, n));

let shortPeCache: ShortSignedPe | undefined;
const shortPe = (): ShortSignedPe => (shortPeCache ??= shortSignedPe());

export const CLASSES: FuzzClass[] = [
  { name: 'setup-header', text: false, base: head('vmlinuz-amd64-unsigned', 0x4000), run: (b) => {
    bzImage64Probe(b, { enabled: false, print: () => {} });
    const h = new SetupHeader(b);
    h.num('setup_sects');
  } },
  // Debian's real setup and decompressor head with a real 64 KiB vmlinux payload, xz'd as the kernel build does.
  { name: 'bzimage-payload', text: false, base: shortBzImage, run: (b) => {
    extractPayload(b, { maxOutput: MAX_OUT });
  } },
  // The same, as --fast decodes it: the payload through xz on PATH first (payload-decoder.ts), vkexec's own
  // decoder when xz fails or its output is not the trailer's size (a missing xz only means the own decoder).
  { name: 'bzimage-payload-tools', text: false, base: shortBzImage, run: (b) => {
    extractPayload(b, { maxOutput: MAX_OUT, decoder: payloadDecoder({ PATH: process.env.PATH }) });
  } },
  { name: 'pe-headers', text: false, base: head('vmlinuz-amd64-unsigned', 0x4000), run: (b) => void parsePe(b) },
  // The mutated bytes are Debian's real certificate table; it is walked inside the signed kernel's real headers
  // and sections cut to a page each (bases.ts), its data directory entry sized to the mutated table.
  { name: 'pe-cert-table', text: false, base: () => shortPe().certs, run: (b) => {
    describePeSignatures(withCertTable(shortPe(), b));
  } },
  { name: 'pkcs7', text: false, base: () => {
    const img = fs.readFileSync(fixture('vmlinuz-amd64'));
    const pe = img.readUInt32LE(0x3c);
    const dd = pe + 24 + 112 + 4 * 8;
    const at = img.readUInt32LE(dd);
    return new Uint8Array(img.subarray(at + 8, at + img.readUInt32LE(at)));
  }, run: (b) => void pkcs7ParseMessage(b) },
  { name: 'elf', text: false, base: head('vmlinux-amd64', 0x10000), run: (b) => void parseElf(b) },
  { name: 'cpio', text: false, base: () => buildCpio([
    { type: 'file', path: 'init', data: new Uint8Array(300).fill(7), mode: 0o755 },
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/hostname', data: Buffer.from('vkexec\n') },
    { type: 'symlink', path: 'sbin', target: 'bin' },
  ]), run: (b) => void parseCpio(b) },
  decompressor('gzip', 'gzip', ['-9']),
  decompressor('xz', 'xz', ['--check=crc32', '--x86', '--lzma2']),
  decompressor('zstd', 'zstd', ['-19']),
  decompressor('lz4', 'lz4', ['-l', '-9']),
  decompressor('bzip2', 'bzip2', ['-9']),
  decompressor('lzma', 'lzma', ['-9']),
  { name: 'detect-compression', text: false, base: () => compressWith('zstd', ['-3']), run: (b) => {
    const f = detectCompression(b);
    if (f) decompress(b, f, { maxOutput: MAX_OUT });
  } },
  { name: 'iomem', text: true, base: () => Buffer.from(
    '00000000-00000fff : Reserved\n00001000-0009fbff : System RAM\n000a0000-000bffff : PCI Bus 0000:00\n00100000-7ffdffff : System RAM\n  01000000-01e01fff : Kernel code\n  2b000000-3affffff : Crash kernel\nfeb00000-febfffff : PCI Bus 0000:00\n'),
  run: (b) => void parseIomem(Buffer.from(b).toString('latin1')) },
  { name: 'crashkernel', text: true, base: () => Buffer.from('512M-2G:64M,2G-:128M@16M 256M,high 128M,low'), run: (b) => {
    parseCrashkernel(Buffer.from(b).toString('latin1').split(' '), 4n << 30n);
  } },
  { name: 'machine-json', text: true, base: () => Buffer.from(encodeJson(newState(defaultConfig()))), run: (b) => {
    let raw: unknown;
    try {
      raw = decodeJson(Buffer.from(b).toString('utf8'));
    } catch (e) {
      if (e instanceof SyntaxError) return; // refused as "not valid JSON"
      throw e;
    }
    validateState(raw, machineDir);
  } },
];
