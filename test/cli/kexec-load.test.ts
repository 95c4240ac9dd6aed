// The kexec_load path end to end through the real binary, on Debian's amd64 kernel: kexec-tools' layout, -S/-u/-p,
// -e on the verify engine, and every kind of bad input answered cleanly with the machine left untouched.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fixture } from '../helpers/fixtures.js';
import { snapshot, tempDir, vkexec, vkexecAsync, type Run } from '../helpers/cli.js';

const KERNEL = fixture('vmlinuz-amd64-unsigned');
const kernelBytes = fs.readFileSync(KERNEL);
const work = tempDir();
/** 1008 KiB: the initrd of kexec-tools' observed example (it lands at 0x1bf04000). */
const INITRD = path.join(work, 'initrd-1008k.img');
fs.writeFileSync(INITRD, randomBytes(0xfc000));

function newMachine(...init: string[]): string {
  const dir = path.join(tempDir(), 'm');
  const r = vkexec(dir, ['machine', 'init', ...init]);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

interface Seg {
  bufsz: bigint;
  mem: bigint;
  memsz: bigint;
}

/** Parses kexec-tools' print_segments dump from -d output. */
function segmentsOf(stderr: string): Seg[] {
  const segs: Seg[] = [];
  for (const m of stderr.matchAll(/segment\[(\d+)\]\.(bufsz|mem|memsz)\s*= (0x[0-9a-f]+)/g)) {
    const i = Number(m[1]);
    segs[i] ??= { bufsz: 0n, mem: 0n, memsz: 0n };
    segs[i]![m[2] as keyof Seg] = BigInt(m[3]!);
  }
  return segs;
}

function initSize(): bigint {
  return BigInt(kernelBytes.readUInt32LE(0x260));
}

test('bzImage64 on 512 MiB lands where kexec-tools puts it (the observed example)', () => {
  const m = newMachine('--mem', '512M');
  const r = vkexec(m, ['-c', '-d', '-l', KERNEL, '--initrd', INITRD, '--append', 'console=ttyS0']);
  assert.equal(r.code, 0, r.stderr);
  const segs = segmentsOf(r.stderr);
  assert.equal(segs.length, 5, r.stderr);
  // 4 KiB RNG seed setup_data lowest above 1 MiB; initrd highest under the kernel; kernel at the highest
  // 16 MiB-aligned hole above pref_address with memsz = init_size; setup + command line; purgatory on top.
  assert.deepEqual([segs[0]!.mem, segs[0]!.memsz], [0x100000n, 0x1000n]);
  assert.deepEqual([segs[1]!.mem, segs[1]!.bufsz], [0x1bf04000n, 0xfc000n]);
  assert.equal(segs[2]!.mem, 0x1c000000n);
  assert.equal(segs[2]!.memsz, (initSize() + 0xfffn) & ~0xfffn);
  assert.equal(segs[2]!.bufsz, BigInt(kernelBytes.length - (kernelBytes[0x1f1]! + 1) * 512));
  assert.ok(segs[3]!.mem > segs[2]!.mem + segs[2]!.memsz - 1n && segs[4]!.mem > segs[3]!.mem, 'setup then purgatory above the kernel');
  assert.ok(segs[4]!.mem + segs[4]!.memsz <= 0x1ffe0000n, 'everything below the reserved top 128 KiB');
  assert.match(r.stderr, /Loaded 64bit kernel at 0x1c000000/);
  assert.match(r.stderr, /Loaded initrd at 0x1bf04000 size 0xfc000/);
  assert.match(r.stderr, /kexec_load: entry = 0x[0-9a-f]+ flags = 0x3e0000/);
  assert.equal(vkexec(m, ['-S', '-l']).code, 1, '-S -l: 1 when loaded');
  assert.equal(vkexec(m, ['-S']).code, 0, '-S alone asks about the crash kernel');
  const show = JSON.parse(vkexec(m, ['--json', 'machine', 'show']).stdout);
  assert.equal(show.images.normal.segments.length, 5);
});

test('another map by the same rules: RAM split around a hole, everything in the highest range', () => {
  const iomem = path.join(work, 'iomem.txt');
  fs.writeFileSync(
    iomem,
    ['00000000-00002fff : Reserved', '00003000-0009fbff : System RAM', '000f0000-000fffff : Reserved', '00100000-2fffffff : System RAM',
      '30000000-3fffffff : Reserved', '40000000-5fffffff : System RAM', ''].join('\n'),
  );
  const m = newMachine('--iomem', iomem);
  const r = vkexec(m, ['-c', '-d', '-l', KERNEL, '--initrd', INITRD]);
  assert.equal(r.code, 0, r.stderr);
  const segs = segmentsOf(r.stderr);
  const purg = segs[4]!;
  const setup = segs[3]!;
  assert.equal(purg.mem + purg.memsz, 0x60000000n, 'purgatory at the very top of the highest RAM range');
  assert.equal(setup.mem + setup.memsz, purg.mem, 'setup right under it');
  const kmemsz = (initSize() + 0xfffn) & ~0xfffn;
  const align = BigInt(kernelBytes.readUInt32LE(0x230));
  assert.equal(segs[2]!.mem, ((setup.mem - kmemsz) / align) * align, 'kernel: highest aligned fit below setup');
  assert.equal(segs[1]!.mem, segs[2]!.mem - 0xfc000n, 'initrd right under the kernel');
});

test('-u unloads; -e on verify passes, and refuses once a stored segment is altered', () => {
  const m = newMachine();
  assert.equal(vkexec(m, ['-c', '-l', KERNEL, '--initrd', INITRD, '--append', 'console=ttyS0']).code, 0);
  const ok = vkexec(m, ['-e', '--engine', 'verify']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /PASS purgatory sha256 over 4 regions/);
  assert.match(ok.stderr, /PASS command line at 0x[0-9a-f]+: "console=ttyS0"/);
  assert.match(ok.stderr, /no kernel code ran/);
  const state = JSON.parse(fs.readFileSync(path.join(m, 'machine.json'), 'utf8'));
  const blob = path.join(m, 'blobs', state.images.normal.segments[2].blob);
  const data = fs.readFileSync(blob);
  data[0x1000] ^= 0xff;
  fs.writeFileSync(blob, data);
  const bad = vkexec(m, ['-e', '--engine', 'verify']);
  assert.equal(bad.code, 4, bad.stderr);
  assert.match(bad.stderr, /sha256 digests do not match/);
  assert.equal(vkexec(m, ['-u']).code, 0);
  assert.equal(vkexec(m, ['-S', '-l']).code, 0);
  const none = vkexec(m, ['-e', '--engine', 'verify']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /Nothing has been loaded!/);
});

test('-p: no crash region is kexec-tools\' die(); with one, both paths load inside it and -u -p unloads', () => {
  const plain = newMachine();
  const r = vkexec(plain, ['-c', '-p', KERNEL, '--initrd', INITRD]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Memory for crashkernel is not reserved/);
  const m = newMachine('--mem', '1G', '--crashkernel', '256M');
  const iomem = vkexec(m, ['machine', 'show', '--file', '/proc/iomem']).stdout;
  const crash = /([0-9a-f]+)-([0-9a-f]+) : Crash kernel/.exec(iomem)!;
  const [cs, ce] = [BigInt('0x' + crash[1]), BigInt('0x' + crash[2])];
  assert.equal(ce - cs + 1n, 256n << 20n);
  assert.equal(vkexec(m, ['--print-ckr-size']).stdout.trim(), String(256 << 20));
  for (const sys of ['-c', '-s']) {
    const load = vkexec(m, [sys, '-d', '-p', KERNEL, '--initrd', INITRD, '--append', 'console=ttyS0']);
    assert.equal(load.code, 0, load.stderr);
    assert.equal(vkexec(m, ['-S']).code, 1, `${sys}: crash kernel loaded`);
    const state = JSON.parse(fs.readFileSync(path.join(m, 'machine.json'), 'utf8'));
    for (const s of state.images.crash.segments) {
      const mem = BigInt(s.mem.$u64);
      const memsz = BigInt(s.memsz.$u64);
      assert.ok(mem >= cs && mem + memsz - 1n <= ce, `${sys}: segment ${s.mem.$u64} inside the crash region`);
    }
    assert.match(load.stderr, sys === '-c' ? /elfcorehdr|Created elf header segment/ : /Loaded ELF headers at/);
    assert.equal(vkexec(m, ['-p', '-u']).code, 0, 'kexec-tools order: -p then -u (with -u -p the later -p loads again)');
    assert.equal(vkexec(m, ['-S']).code, 0);
  }
});

/** Runs a command that must fail: exit status, message, and an untouched machine directory. */
function refuses(m: string, args: string[], code: number, message: RegExp): Run {
  const before = snapshot(m);
  const r = vkexec(m, args);
  assert.equal(r.code, code, `${args.join(' ')}\n${r.stderr}`);
  assert.match(r.stderr, message);
  assert.match(r.stderr, /vkexec/, 'vkexec says what broke and what to change');
  assert.doesNotMatch(r.stderr, /\n\s+at .*\(.*:\d+:\d+\)/, 'no stack trace');
  assert.deepEqual(snapshot(m), before, 'machine untouched');
  return r;
}

test('bad input: missing, unreadable, truncated and garbage files', () => {
  const m = newMachine();
  refuses(m, ['-c', '-l', path.join(work, 'nope')], 1, /Cannot open `.*nope': No such file or directory/);
  refuses(m, ['-c', '-l', work], 1, /Read on .* failed: Is a directory\nCannot read /); // slurp_fd, as the real kexec (test/differential)
  refuses(m, ['-c', '-l', KERNEL, '--initrd', path.join(work, 'missing.img')], 1, /Cannot open `.*missing\.img'/);
  const short = path.join(work, 'short');
  fs.writeFileSync(short, kernelBytes.subarray(0, 600));
  refuses(m, ['-c', '-l', short], 255, /Cannot determine the file type of/);
  const cut = path.join(work, 'cut');
  fs.writeFileSync(cut, kernelBytes.subarray(0, 5000));
  refuses(m, ['-c', '-l', cut], 255, /BzImage truncated\?[\s\S]*Cannot load/);
  const garbage = path.join(work, 'garbage');
  fs.writeFileSync(garbage, randomBytes(65536));
  refuses(m, ['-c', '-l', garbage], 255, /Cannot determine the file type of/);
  refuses(m, ['-c', '-l', '-t', 'elf-x86_64', KERNEL], 255, /Wrong file type elf-x86_64, file matches type bzImage64/);
  refuses(m, ['-c', '-l', '-t', 'multiboot-x86', KERNEL], 255, /Wrong file type multiboot-x86, file matches type bzImage64/);
  refuses(m, ['-c', '-l', '-t', 'nbi-x86', KERNEL], 255, /Unsupported kernel type nbi-x86/);
});

test('bad input: absurd setup_sects and init_size', () => {
  const m = newMachine();
  const sects = Buffer.from(kernelBytes.subarray(0, 20000));
  sects[0x1f1] = 0xff;
  const f1 = path.join(work, 'sects');
  fs.writeFileSync(f1, sects);
  refuses(m, ['-c', '-l', f1], 255, /BzImage truncated\?/);
  const huge = Buffer.from(kernelBytes);
  huge.writeUInt32LE(0xfffff000, 0x260);
  const f2 = path.join(work, 'huge-init');
  fs.writeFileSync(f2, huge);
  refuses(m, ['-c', '-l', f2], 1, /Could not find a free area of memory of 0xfffff000 bytes/);
  const zero = Buffer.from(kernelBytes);
  zero.writeUInt32LE(0, 0x260);
  const f3 = path.join(work, 'zero-init');
  fs.writeFileSync(f3, zero);
  // kexec-tools would drop the empty kernel segment and load a kernel-less image; vkexec refuses (man page).
  refuses(m, ['-c', '-l', f3], 255, /init_size 0x0 is smaller than the 0x[0-9a-f]+ bytes of kernel[\s\S]*Cannot load/);
  // The kernel's own rule on the file path: a kernel segment with bufsz > memsz is EINVAL.
  const s = refuses(m, ['-s', '-l', f3], 253, /syscall kexec_file_load not available/);
  assert.match(s.stderr, /bufsz .* is larger than memsz/);
});

/** A minimal ELF64 executable with the given PT_LOAD (paddr, filesz, memsz) program headers. */
function elf64(loads: [bigint, number, bigint][], opts: { phoff?: number } = {}): Buffer {
  const phoff = opts.phoff ?? 64;
  const dataOff = 0x1000;
  const size = dataOff + loads.reduce((a, l) => a + l[1], 0);
  const b = Buffer.alloc(Math.max(size, phoff + 56 * loads.length < size ? size : 0x1000 + 16));
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2;
  b[5] = 1;
  b[6] = 1;
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(62, 18); // EM_X86_64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(loads[0]?.[0] ?? 0n, 24);
  b.writeBigUInt64LE(BigInt(phoff), 32);
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(loads.length, 56);
  let off = dataOff;
  loads.forEach(([paddr, filesz, memsz], i) => {
    const o = phoff + i * 56;
    if (o + 56 > b.length) return;
    b.writeUInt32LE(1, o);
    b.writeUInt32LE(7, o + 4);
    b.writeBigUInt64LE(BigInt(off), o + 8);
    b.writeBigUInt64LE(paddr, o + 16);
    b.writeBigUInt64LE(paddr, o + 24);
    b.writeBigUInt64LE(BigInt(filesz), o + 32);
    b.writeBigUInt64LE(memsz, o + 40);
    off += filesz;
  });
  return b;
}

test('bad input: ELF with phdrs past the end, overlapping, or above the machine\'s RAM', () => {
  const m = newMachine();
  const past = path.join(work, 'past.elf');
  fs.writeFileSync(past, elf64([[0x1000000n, 0x100, 0x1000n]], { phoff: 0x5000 }));
  const r = refuses(m, ['-c', '-l', past], 255, /Cannot determine the file type/);
  assert.match(r.stderr, /program header table extends past end of file/);
  const overlap = path.join(work, 'overlap.elf');
  fs.writeFileSync(overlap, elf64([[0x1000000n, 0x100, 0x2000n], [0x1001000n, 0x100, 0x1000n]]));
  refuses(m, ['-c', '-l', overlap, '--args-linux'], 1, /Overlapping memory segments at 0x1002000/);
  const high = path.join(work, 'high.elf');
  fs.writeFileSync(high, elf64([[0x80000000n, 0x100, 0x1000n]]));
  refuses(m, ['-c', '-l', high], 1, /Invalid memory segment 0x80000000 - 0x80000fff/);
});

test('bad input: initrd larger than free RAM, command line longer than cmdline_size', () => {
  const m = newMachine();
  const big = path.join(work, 'big.img');
  fs.closeSync(fs.openSync(big, 'w'));
  fs.truncateSync(big, 600 << 20); // sparse: 600 MiB on a 512 MiB machine
  refuses(m, ['-c', '-l', KERNEL, '--initrd', big], 1, /Could not find a free area of memory of 0x25800000 bytes/);
  const half = path.join(work, 'half.img');
  fs.closeSync(fs.openSync(half, 'w'));
  fs.truncateSync(half, 300 << 20); // fits in a hole, but more than half of RAM: the kernel's rule
  const r = refuses(m, ['-c', '-l', KERNEL, '--initrd', half], 255, /kexec_load failed: Invalid argument/);
  assert.match(r.stderr, /more than half of the machine's/);
  assert.match(r.stderr, /fix: give the machine more memory/);
  refuses(m, ['-c', '-l', KERNEL, '--append', 'x'.repeat(3000)], 255, /Kernel command line too long for kernel![\s\S]*Cannot load/);
});

test('bad machine: corrupt state, missing blob, lock held by a live process', () => {
  const m = newMachine();
  fs.writeFileSync(path.join(m, 'machine.json'), '{"version": 1, "config": ');
  refuses(m, ['-c', '-l', KERNEL], 1, /machine directory .* is corrupt: machine.json is not valid JSON/);
  refuses(m, ['-S'], 2, /is corrupt/); // -S: 2 when it cannot tell (man page EXIT STATUS)

  const m2 = newMachine();
  assert.equal(vkexec(m2, ['-c', '-l', KERNEL]).code, 0);
  const blobs = fs.readdirSync(path.join(m2, 'blobs'));
  fs.rmSync(path.join(m2, 'blobs', blobs[0]!));
  refuses(m2, ['-e', '--engine', 'verify'], 1, /is corrupt: .* is missing from blobs/);

  const m3 = newMachine();
  fs.writeFileSync(path.join(m3, 'lock'), `${process.pid} test\n`);
  const r = refuses(m3, ['-c', '-l', KERNEL], 255, /kexec_load failed: Device or resource busy/);
  assert.match(r.stderr, /holds its kexec lock/);
  // A lock left by a process that is gone is stale and does not block.
  fs.writeFileSync(path.join(m3, 'lock'), '999999999 dead\n');
  assert.equal(vkexec(m3, ['-c', '-l', KERNEL]).code, 0);
});

test('eight concurrent loads end consistent: each loaded or answered EBUSY', async () => {
  const m = newMachine();
  const runs = await Promise.all(Array.from({ length: 8 }, () => vkexecAsync(m, ['-c', '-l', KERNEL, '--initrd', INITRD])));
  for (const r of runs) {
    if (r.code === 0) continue;
    assert.equal(r.code, 255, r.stderr);
    assert.match(r.stderr, /kexec_load failed: Device or resource busy/);
  }
  assert.ok(runs.some((r) => r.code === 0), 'at least one load won');
  const state = JSON.parse(fs.readFileSync(path.join(m, 'machine.json'), 'utf8'));
  const referenced = new Set<string>();
  for (const s of state.images.normal.segments) if (s.blob) referenced.add(s.blob);
  referenced.add(state.images.normal.indirectionBlob);
  assert.deepEqual(new Set(fs.readdirSync(path.join(m, 'blobs'))), referenced, 'no stray blobs');
  assert.equal(fs.existsSync(path.join(m, 'lock')), false, 'lock released');
  assert.equal(vkexec(m, ['-e', '--engine', 'verify']).code, 0);
});

test('command line: kexec-tools messages and exit codes', () => {
  const m = newMachine();
  const unknown = vkexec(m, ['--bogus']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /kexec: unrecognized option '--bogus'/);
  assert.match(unknown.stdout, /Usage: vkexec/);
  assert.equal(vkexec(m, ['-h']).code, 0);
  const v = vkexec(m, ['-v']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^kexec-tools 2\.0\.\d+$/m);
  assert.equal(vkexec(m, ['-c', '-l']).code, 255, 'No kernel specified');
  const badMin = vkexec(m, ['-l', '--mem-min=0xZZ', KERNEL]);
  assert.equal(badMin.code, 1);
  assert.match(badMin.stderr, /Bad option value in --mem-min=0xZZ/);
  assert.equal(vkexec(m, ['-u', '--initrd', INITRD]).code, 1, 'loader options without a load are bogus');
  // Options after the kernel, abbreviated long options, -s falling back on a kernel-side EINVAL...
  assert.equal(vkexec(m, ['-c', KERNEL, '-l', '--app=console=ttyS0']).code, 0);
  const sOnly = vkexec(m, ['-s', '-l', KERNEL, '--append', 'x'.repeat(2040)]);
  assert.equal(sOnly.code, 253);
  assert.match(sOnly.stderr, /syscall kexec_file_load not available\./);
  assert.equal(vkexec(m, ['-a', '-l', KERNEL, '--append', 'x'.repeat(2030)]).code, 0, '-a falls back to kexec_load on EINVAL');
  // --mem-max pushes everything below it.
  const low = vkexec(m, ['-c', '-d', '-l', KERNEL, '--mem-max=0x10000000']);
  assert.equal(low.code, 0, low.stderr);
  for (const s of segmentsOf(low.stderr)) assert.ok(s.mem + s.memsz - 1n <= 0x10000000n);
});
