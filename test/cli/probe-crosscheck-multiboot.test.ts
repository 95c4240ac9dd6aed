// The probe kernel as the judge of multiboot loads: probe-multiboot (an ELF32 with Multiboot v1 and v2 headers,
// src/arch/x86/probe-kernel/multiboot.S) loaded with -c as multiboot2-x86 and as multiboot-x86 (the probe
// order's first choice on each architecture, -t for the other), with two modules and a command line, executed on QEMU (x86_64 machine) and v86 (i386
// machine). What the probe finds through EAX/EBX (the magic, the information, its modules with the sha256
// computed in the guest, its memory map and command line) must equal what `vkexec -d` says it loaded (the
// segments, kexec-tools' MEMORY RANGES) and the module files themselves.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseProbeReport, probeKernelPath } from '../../src/arch/x86/probe-kernel.js';
import { MULTIBOOT2_BOOTLOADER_MAGIC, MULTIBOOT_BOOTLOADER_MAGIC, probeMultiboot, type ProbeMultiboot } from '../../src/arch/x86/probe-multiboot.js';
import { KEXEC_TOOLS_VERSION } from '../../src/kexec/version.js';
import { tempDir, vkexec, type Run } from '../helpers/cli.js';

const PROBE = probeKernelPath('multiboot');
const APPEND = 'vkexec.mb="two words" x=1';

const qemu = spawnSync('qemu-system-x86_64', ['-version'], { encoding: 'utf8' });
assert.ok(!qemu.error && /QEMU emulator version/.test(qemu.stdout), 'qemu-system-x86_64 is needed for these tests: apt-get install qemu-system-x86');

const scratch = tempDir('vkexec-crosscheck-mb-');
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Two modules of odd sizes and varied bytes (a short or shifted copy changes the digest), one with arguments. */
const MODULES = [
  { file: path.join(scratch, 'module-a.bin'), args: ' first "arg"', size: 70_001 },
  { file: path.join(scratch, 'module-b.bin'), args: '', size: 4_099 },
].map((m, n) => {
  const bytes = Buffer.concat(Array.from({ length: Math.ceil(m.size / 32) }, (_, i) => createHash('sha256').update(`module-${n}-${i}`).digest())).subarray(0, m.size);
  fs.writeFileSync(m.file, bytes);
  return { ...m, sha256: createHash('sha256').update(bytes).digest('hex') };
});

function ok(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n--- stderr\n${r.stderr}\n--- stdout\n${r.stdout.slice(-3000)}`);
}

interface Segment { mem: bigint; bufsz: bigint; memsz: bigint }

/** kexec-tools' -d segment dump and MEMORY RANGES, as `vkexec -d` prints them. */
function fromDebug(stderr: string): { segments: Segment[]; ranges: { addr: bigint; size: bigint; type: number }[] } {
  const field = (name: string) => [...stderr.matchAll(new RegExp(`^segment\\[\\d+\\]\\.${name} *= (0x[0-9a-f]+)$`, 'gm'))].map((m) => BigInt(m[1]!));
  const mem = field('mem');
  const bufsz = field('bufsz');
  const memsz = field('memsz');
  assert.ok(mem.length > 0 && mem.length === bufsz.length && mem.length === memsz.length, `-d lists the segments:\n${stderr}`);
  // kexec-tools' RANGE_RAM 0, RANGE_RESERVED 1, RANGE_ACPI 2, RANGE_ACPI_NVS 3 are e820 types 1, 2, 3, 4.
  const ranges = [...stderr.matchAll(/^([0-9a-f]{16})-([0-9a-f]{16}) \((\d+)\)$/gm)].map((m) => ({
    addr: BigInt(`0x${m[1]}`), size: BigInt(`0x${m[2]}`) - BigInt(`0x${m[1]}`) + 1n, type: Number(m[3]) + 1,
  }));
  assert.ok(ranges.length > 0, `-d lists MEMORY RANGES:\n${stderr}`);
  return { segments: mem.map((m, i) => ({ mem: m, bufsz: bufsz[i]!, memsz: memsz[i]! })), ranges };
}

function crossCheck(mb: ProbeMultiboot, loaded: ReturnType<typeof fromDebug>, version: 1 | 2): void {
  assert.equal(mb.magic, version === 1 ? MULTIBOOT_BOOTLOADER_MAGIC : MULTIBOOT2_BOOTLOADER_MAGIC, 'EAX');
  assert.ok(loaded.segments.some((s) => s.mem === mb.info), `EBX ${mb.info.toString(16)} is where -d put a segment (the information)`);
  assert.equal(mb.cmdline, `${PROBE} ${APPEND}`, 'the command line: the kernel path as given, then --command-line (kexec-tools)');
  assert.equal(mb.bootLoaderName, `kexec ${KEXEC_TOOLS_VERSION}`);
  assert.equal(mb.modules.length, MODULES.length);
  mb.modules.forEach((got, i) => {
    const want = MODULES[i]!;
    const seg = loaded.segments.find((s) => s.mem === got.start);
    assert.ok(seg, `module ${i} at ${got.start.toString(16)} is a -d segment`);
    assert.equal(seg.bufsz, BigInt(want.size), `module ${i}: -d's bufsz is the file's size`);
    assert.equal(got.end - got.start, BigInt(want.size), `module ${i}: end - start is the file's size`);
    assert.equal(got.start % 0x1000n, 0n, 'modules are page aligned (PAGE_ALIGN / kexec-tools)');
    assert.equal(got.sha256, want.sha256, `module ${i}: sha256 computed in the guest`);
    assert.equal(got.cmdline, `${want.file}${want.args}`, `module ${i}: its string is --module's text`);
  });
  assert.deepEqual(mb.mmap, loaded.ranges, 'the memory map is kexec-tools\' MEMORY RANGES');
  // mem_lower: the RAM range starting at or below 64 KiB, mem_upper: the one from 1 MiB (kexec-tools' rule).
  const low = loaded.ranges.find((r) => r.type === 1 && r.addr <= 0x10000n)!;
  const high = loaded.ranges.find((r) => r.type === 1 && r.addr <= 0x100000n && r.addr + r.size > 0x100000n)!;
  assert.equal(BigInt(mb.memLower!), (low.addr + low.size - 1n) >> 10n);
  assert.equal(BigInt(mb.memUpper!), (high.addr + high.size - 1n - 0x100000n) >> 10n);
}

const CASES = [
  { arch: 'x86_64', engine: 'qemu', version: 2 },
  { arch: 'x86_64', engine: 'qemu', version: 1 },
  { arch: 'i386', engine: 'v86', version: 2 },
  { arch: 'i386', engine: 'v86', version: 1 },
] as const;

for (const c of CASES) {
  test(`${c.engine}, ${c.arch} machine, multiboot${c.version === 2 ? '2' : ''}-x86: the probe's report equals what -d loaded`, () => {
    const m = path.join(scratch, `${c.arch}-${c.engine}-v${c.version}`);
    ok(vkexec(m, ['machine', 'init', '--arch', c.arch]), 'machine init');
    // Without -t the probe order decides: multiboot2-x86 first on x86_64, multiboot-x86 first on i386.
    const first = c.arch === 'x86_64' ? 2 : 1;
    const type = c.version === first ? [] : ['-t', c.version === 2 ? 'multiboot2-x86' : 'multiboot-x86'];
    const load = vkexec(m, ['-c', '-l', '-d', ...type, PROBE, '--command-line', APPEND, ...MODULES.map((x) => `--module=${x.file}${x.args}`)]);
    ok(load, '-c -l');
    const run = vkexec(m, ['-e', '--engine', c.engine, ...(c.engine === 'qemu' ? ['--accel', 'tcg'] : []), '--timeout', '120']);
    ok(run, '-e');
    const rep = parseProbeReport(run.stdout);
    assert.equal(rep.entry, 32, 'multiboot kernels are entered in 32-bit protected mode');
    assert.equal(rep.bootParams, 0n);
    const mb = probeMultiboot(rep);
    assert.ok(mb, `the probe was entered as a multiboot kernel:\n${run.stdout}`);
    crossCheck(mb, fromDebug(load.stderr), c.version);
  });
}

test('the boot protocol entries report no multiboot state', () => {
  const rep = parseProbeReport('VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 64\nload_addr: 0x1000000\nboot_params: 0x0\nrdi: 0x0\nVKEXEC-PROBE-END\n');
  assert.equal(probeMultiboot(rep), null);
  assert.throws(() => probeMultiboot(parseProbeReport('VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 32\nload_addr: 0x1\nboot_params: 0x0\nmultiboot.magic: 0x1234\nVKEXEC-PROBE-END\n')), /neither multiboot magic/);
});
