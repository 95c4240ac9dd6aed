// The probe kernel as the judge of every load path: vkexec loads it through the real CLI (-c: kexec-tools'
// userspace with kexec_load; -s: kexec_file_load), executes it on an engine, and what the probe reports from
// inside the guest (its entry, where it runs, boot_params, command line, initrd address, size and sha256
// computed in the guest, e820) must equal what `vkexec -d` said it loaded and what the machine's own map says.
// QEMU runs the x86_64 machine (64-bit entry); v86 the i386 machine (32-bit entry through the i386 purgatory).
// -s has no v86 case: Linux's x86 kexec_file_load knows only bzImage64 with its 64-bit entry, which v86 (no
// long mode) cannot run. A panic case checks the capture kernel's elfcorehdr as the probe finds it.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseProbeReport, probeKernelPath, type ProbeReport } from '../../src/arch/x86/probe-kernel.js';
import { EM_X86_64, ET_CORE } from '../../src/formats/elf.js';
import { readState } from '../../src/vm/machine/machine.js';
import { E820_TYPES, firmwareMemmap } from '../../src/vm/machine/views.js';
import { tempDir, vkexec, type Run } from '../helpers/cli.js';

const PROBE = probeKernelPath('bzImage');
const APPEND = 'console=ttyS0 vkexec.crosscheck="two words" x=1';
const TYPE_OF_LOADER_KEXEC = 0xd0n; // kexec-tools and Linux both write 0xD0 (bootloader ID 0xD, version 0)

const qemu = spawnSync('qemu-system-x86_64', ['-version'], { encoding: 'utf8' });
assert.ok(!qemu.error && /QEMU emulator version/.test(qemu.stdout), 'qemu-system-x86_64 is needed for these tests: apt-get install qemu-system-x86');

const scratch = tempDir('vkexec-crosscheck-');
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** An initrd of odd size and varied bytes, so that a short or shifted copy changes the digest. */
const INITRD = path.join(scratch, 'initrd.bin');
fs.writeFileSync(INITRD, Buffer.concat(Array.from({ length: 9377 }, (_, i) => createHash('sha256').update(`initrd-${i}`).digest())).subarray(0, 300_001));
const INITRD_SHA256 = createHash('sha256').update(fs.readFileSync(INITRD)).digest('hex');
const INITRD_SIZE = BigInt(fs.statSync(INITRD).size);

function ok(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n--- stderr\n${r.stderr}\n--- stdout\n${r.stdout.slice(-3000)}`);
}

let machines = 0;
function newMachine(...init: string[]): string {
  const m = path.join(scratch, `m${machines++}`);
  ok(vkexec(m, ['machine', 'init', ...init]), 'machine init');
  return m;
}

/** What `vkexec -d` says it loaded, from kexec-tools' lines (-c) or the kernel's kexec_file lines (-s). */
interface Loaded {
  kernel: bigint;
  bootParams: bigint;
  initrd: { addr: bigint; size: bigint };
}

function loadedFromDebug(stderr: string): Loaded {
  const one = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(stderr);
    assert.ok(m, `-d does not say where the ${what} went:\n${stderr}`);
    return m;
  };
  const kernel = one(/Loaded (?:64|32)bit kernel at (0x[0-9a-f]+)/, 'kernel');
  const params = one(/Loaded (?:real_mode_data and command line|real-mode code and command line|boot_param, command line and misc) at (0x[0-9a-f]+)/, 'boot_params');
  const initrd = one(/Loaded initrd at (0x[0-9a-f]+) (?:size |bufsz=)(0x[0-9a-f]+)/, 'initrd');
  return { kernel: BigInt(kernel[1]!), bootParams: BigInt(params[1]!), initrd: { addr: BigInt(initrd[1]!), size: BigInt(initrd[2]!) } };
}

/** The machine's firmware map as the e820 table a loader must hand over (/sys/firmware/memmap, as kexec-tools reads it). */
function machineE820(m: string): { addr: bigint; size: bigint; type: number }[] {
  return firmwareMemmap(readState(m).config.iomem).map((r) => ({ addr: r.start, size: r.end - r.start + 1n, type: E820_TYPES[r.type]! }));
}

function report(r: Run, what: string): ProbeReport {
  ok(r, what);
  return parseProbeReport(r.stdout);
}

function crossCheck(m: string, loaded: Loaded, rep: ProbeReport, entry: 32 | 64): void {
  assert.equal(rep.entry, entry, 'entry taken');
  assert.equal(rep.loadAddr, loaded.kernel, 'the probe runs where -d put the kernel');
  assert.equal(rep.bootParams, loaded.bootParams, 'ESI/RSI is the boot_params -d names');
  assert.equal(rep.hdr['type_of_loader'], TYPE_OF_LOADER_KEXEC);
  assert.deepEqual({ state: rep.cmdline?.state, text: rep.cmdline?.text }, { state: 'ok', text: APPEND });
  assert.deepEqual(
    { addr: rep.initrd?.addr, size: rep.initrd?.size, state: rep.initrd?.state, sha256: rep.initrd?.sha256 },
    { addr: loaded.initrd.addr, size: INITRD_SIZE, state: 'ok', sha256: INITRD_SHA256 },
  );
  assert.equal(loaded.initrd.size, INITRD_SIZE, '-d names the initrd size');
  assert.deepEqual(rep.e820, machineE820(m), 'e820 is the machine map');
  assert.equal(rep.e820Count, rep.e820.length);
}

for (const syscall of ['-c', '-s'] as const) {
  test(`QEMU, x86_64 machine, ${syscall} -l: the probe's report equals what -d loaded`, () => {
    const m = newMachine();
    const load = vkexec(m, [syscall, '-l', '-d', PROBE, '--initrd', INITRD, '--append', APPEND]);
    ok(load, `${syscall} -l`);
    const rep = report(vkexec(m, ['-e', '--engine', 'qemu', '--accel', 'tcg', '--timeout', '60']), '-e');
    crossCheck(m, loadedFromDebug(load.stderr), rep, 64);
    // Both paths put the command line right after the 4 KiB boot_params (x86-linux-setup / kexec-bzimage64.c).
    assert.equal(rep.cmdline?.addr, rep.bootParams + 0x1000n);
  });
}

test("v86, i386 machine, -c -l: the probe's report equals what -d loaded (32-bit entry, i386 purgatory)", () => {
  const m = newMachine('--arch', 'i386');
  const load = vkexec(m, ['-c', '-l', '-d', PROBE, '--initrd', INITRD, '--append', APPEND]);
  ok(load, '-c -l');
  const rep = report(vkexec(m, ['-e', '--engine', 'v86', '--timeout', '60']), '-e');
  crossCheck(m, loadedFromDebug(load.stderr), rep, 32);
  assert.ok(rep.poweroff, 'v86 has no isa-debug-exit: the probe says it is done');
});

test('QEMU, -p -s and a panic: the capture kernel finds the elfcorehdr -d placed, an ELF64 core header', () => {
  const m = newMachine('--mem', '1G', '--crashkernel', '128M');
  const load = vkexec(m, ['-p', '-s', '-d', PROBE, '--initrd', INITRD, '--append', APPEND]);
  ok(load, '-p -s');
  const hdrAt = /Loaded ELF headers at (0x[0-9a-f]+)/.exec(load.stderr);
  assert.ok(hdrAt, load.stderr);
  const rep = report(vkexec(m, ['machine', 'panic', '--engine', 'qemu', '--accel', 'tcg', '--timeout', '60']), 'machine panic');
  assert.equal(rep.cmdline?.text, `elfcorehdr=${hdrAt[1]} ${APPEND}`);
  const core = rep.elfcorehdr;
  assert.ok(core, 'the probe found elfcorehdr= on its command line');
  assert.equal(core.addr, BigInt(hdrAt[1]!));
  assert.deepEqual([core.state, core.class, core.type, core.machine], ['ok', 64, ET_CORE, EM_X86_64]);
  assert.equal(core.phdrs.length, core.phnum);
  assert.equal(rep.initrd?.sha256, INITRD_SHA256);
  assert.equal(rep.loadAddr, loadedFromDebug(load.stderr).kernel);
});
