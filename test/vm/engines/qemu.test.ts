// The QEMU engine on real bytes: payloads assembled here with GNU as (long64 and protected32 hand-offs checked
// register by register), Debian's amd64 kernel booted through the 64-bit boot protocol without a purgatory
// (boot_params built below, RSI passed through the stub's parameter block), and the outcome detection (panic,
// purgatory refusal, timeout, triple fault, reset, isa-debug-exit, interactive input). Needs qemu-system-x86,
// binutils, cpio and busybox-static, and the kernel file:
//   fixture vmlinuz-amd64-unsigned   (test/setup/fixtures.mjs)
//   (override with VKEXEC_KERNEL_AMD64); the virtio disk test takes the kernel's virtio modules from the
//   fixture initramfs-kdump-amd64.cpio.
// Missing tools or files fail the test with what to install. The kernel boots take 5-10 s each under TCG.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { KexecError } from '../../../src/errno.js';
import { fixture } from '../../helpers/fixtures.js';
import { parseCpio } from '../../../src/formats/cpio.js';
import { SETUP_HEADER } from '../../../src/formats/setup-header.js';
import { writeField } from '../../../src/formats/struct.js';
import { BOOT_PARAMS, BOOT_PARAMS_SIZE, E820_ENTRY_SIZE } from '../../../src/arch/x86/boot-params.js';
import { encodeStubParams, STUB_PARAMS, stubBinPath } from '../../../src/arch/x86/stub/params.js';
import type { E820Entry, Extent, MemoryImage } from '../../../src/vm/memory/memory-image.js';
import type { BootOptions } from '../../../src/vm/engines/engine.js';
import { ConsoleWatcher } from '../../../src/vm/engines/qemu-console.js';
import { checkImageForQemu, identityMapGib, qemuRamRegions } from '../../../src/vm/engines/qemu-layout.js';
import { QemuEngine, type QemuEntryState } from '../../../src/vm/engines/qemu.js';

const engine = new QemuEngine();
const MiB = 1n << 20n;
const GiB = 1n << 30n;
const KERNEL = process.env.VKEXEC_KERNEL_AMD64 ?? fixture('vmlinuz-amd64-unsigned');
const BUSYBOX = '/bin/busybox';
const work = mkdtempSync(join(tmpdir(), 'vkexec-qemu-test-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function needTool(cmd: string, pkg: string): void {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  assert.ok(!r.error, `${cmd} is needed for this test: apt-get install ${pkg}`);
}

function needFile(path: string, how: string): void {
  assert.ok(existsSync(path), `${path} is needed for this test: ${how}`);
}

/** Assembles `source` (GNU as syntax) linked at `base` into a flat binary. */
function assemble(name: string, bits: 32 | 64, base: bigint, source: string): Buffer {
  needTool('as', 'binutils');
  const s = join(work, `${name}.s`);
  const o = join(work, `${name}.o`);
  const bin = join(work, `${name}.bin`);
  writeFileSync(s, source);
  execFileSync('as', [bits === 64 ? '--64' : '--32', '-o', o, s]);
  execFileSync('ld', ['-m', bits === 64 ? 'elf_x86_64' : 'elf_i386', '-nostdlib', '--build-id=none', '-e', 'start', `-Ttext=0x${base.toString(16)}`, '--oformat', 'binary', '-o', bin, o]);
  return readFileSync(bin);
}

// Prints the NUL-terminated string at %esi/%rsi on COM1, waiting for the transmitter each byte.
const PUTS = `
puts:	movw	$0x3fd, %dx
	inb	%dx, %al
	testb	$0x20, %al
	jz	puts
	lodsb
	testb	%al, %al
	jz	9f
	movw	$0x3f8, %dx
	outb	%al, %dx
	jmp	puts
9:	ret
`;

const EXPECTED_RSI = 0x5a5a1234n;

/**
 * Checks the long64 hand-off (relocate_kernel's state): zero registers but RSI, RSP 0x1000, CS 0x10,
 * DS/SS 0x18, IF clear, CR4 = PAE, CR0.PG, EFER.LMA; then reads the first byte of each GiB the stub mapped.
 * Exit code 0x10 on success, else the number of the failed check.
 */
const LONG64_CHECKS = `
	.code64
	.globl start
start:
	testq	%rax, %rax
	jnz	bad_regs_early
	orq	%rbx, %rax
	orq	%rcx, %rax
	orq	%rdx, %rax
	orq	%rdi, %rax
	orq	%rbp, %rax
	orq	%r8, %rax
	orq	%r9, %rax
	orq	%r10, %rax
	orq	%r11, %rax
	orq	%r12, %rax
	orq	%r13, %rax
	orq	%r14, %rax
	orq	%r15, %rax
	jnz	bad_regs_early
	movb	$0x01, %bl
	movq	$${EXPECTED_RSI}, %rax
	cmpq	%rax, %rsi
	jne	fail
	movb	$0x02, %bl
	cmpq	$0x1000, %rsp
	jne	fail
	movb	$0x03, %bl
	movw	%cs, %ax
	cmpw	$0x10, %ax
	jne	fail
	movb	$0x04, %bl
	movw	%ds, %ax
	cmpw	$0x18, %ax
	jne	fail
	movw	%ss, %ax
	cmpw	$0x18, %ax
	jne	fail
	movb	$0x05, %bl
	pushfq
	popq	%rax
	testl	$0x200, %eax
	jnz	fail
	movb	$0x06, %bl
	movq	%cr4, %rax
	cmpq	$0x20, %rax
	jne	fail
	movb	$0x07, %bl
	movq	%cr0, %rax
	btq	$31, %rax
	jnc	fail
	movb	$0x08, %bl
	movl	$0xc0000080, %ecx
	rdmsr
	btl	$10, %eax
	jnc	fail
	leaq	ok(%rip), %rsi
	call	puts
	movb	$0x10, %al
	jmp	exit
bad_regs_early:
	movb	$0x09, %bl
fail:	leaq	bad(%rip), %rsi
	call	puts
	movb	%bl, %al
exit:	movw	$0x501, %dx
	outb	%al, %dx
	hlt
${PUTS}
ok:	.asciz	"VKEXEC-LONG64-OK\\n"
bad:	.asciz	"VKEXEC-LONG64-BAD\\n"
`;

/** The protected32 hand-off: zero registers but ESI, ESP 0x1000, CS 0x10, DS/SS 0x18, IF clear, CR0 PE without PG, CR4 0. */
const PROT32_CHECKS = `
	.code32
	.globl start
start:
	testl	%eax, %eax
	jnz	bad_regs
	orl	%ebx, %eax
	orl	%ecx, %eax
	orl	%edx, %eax
	orl	%edi, %eax
	orl	%ebp, %eax
	jnz	bad_regs
	movb	$0x01, %bl
	cmpl	$${EXPECTED_RSI}, %esi
	jne	fail
	movb	$0x02, %bl
	cmpl	$0x1000, %esp
	jne	fail
	movb	$0x03, %bl
	movw	%cs, %ax
	cmpw	$0x10, %ax
	jne	fail
	movb	$0x04, %bl
	movw	%ds, %ax
	cmpw	$0x18, %ax
	jne	fail
	movw	%ss, %ax
	cmpw	$0x18, %ax
	jne	fail
	movb	$0x05, %bl
	pushfl
	popl	%eax
	testl	$0x200, %eax
	jnz	fail
	movb	$0x06, %bl
	movl	%cr0, %eax
	andl	$0x80000001, %eax
	cmpl	$1, %eax
	jne	fail
	movb	$0x07, %bl
	movl	%cr4, %eax
	testl	%eax, %eax
	jnz	fail
	movl	$ok, %esi
	call	puts
	movb	$0x11, %al
	jmp	exit
bad_regs:
	movb	$0x09, %bl
fail:	movl	$bad, %esi
	call	puts
	movb	%bl, %al
exit:	movw	$0x501, %dx
	outb	%al, %dx
	hlt
${PUTS}
ok:	.asciz	"VKEXEC-PROT32-OK\\n"
bad:	.asciz	"VKEXEC-PROT32-BAD\\n"
`;

/** Prints `text` and then runs `then` (64-bit). */
function say(text: string, then: string): string {
  return `
	.code64
	.globl start
start:
	leaq	msg(%rip), %rsi
	call	puts
${then}
${PUTS}
msg:	.asciz	${JSON.stringify(text)}
`;
}

/** A 64-bit payload that is just `body`. */
function bare(body: string): string {
  return `\n	.code64\n	.globl start\nstart:\n${body}\n`;
}

const SPIN = '1:	jmp	1b';
const UD2 = '	ud2';
const KBD_RESET = `	movb	$0xfe, %al
	outb	%al, $0x64
1:	hlt
	jmp	1b`;

/** Echoes COM1 input back; 'q' exits through isa-debug-exit with 0x33. */
const ECHO_LOOP = `
	.code64
	.globl start
start:
1:	movw	$0x3fd, %dx
	inb	%dx, %al
	testb	$1, %al
	jz	1b
	movw	$0x3f8, %dx
	inb	%dx, %al
	cmpb	$0x71, %al		# 'q'
	je	2f
	outb	%al, %dx
	jmp	1b
2:	movb	$0x33, %al
	movw	$0x501, %dx
	outb	%al, %dx
	hlt
`;

const PAYLOAD = 0x200000n;

function bytesExtent(addr: bigint, data: Uint8Array): Extent {
  return { addr, length: data.length, kind: 'bytes', data };
}

function ramE820(ramSize: bigint): E820Entry[] {
  const low = ramSize < 3n * GiB ? ramSize : 3n * GiB;
  const map: E820Entry[] = [
    { addr: 0n, size: 0x9fc00n, type: 1 },
    { addr: 0x9fc00n, size: 0x400n, type: 2 },
    { addr: 0xf0000n, size: 0x10000n, type: 2 },
    { addr: 0x100000n, size: low - 0x100000n, type: 1 },
  ];
  if (ramSize > low) map.push({ addr: 4n * GiB, size: ramSize - low, type: 1 });
  return map;
}

function payloadImage(code: Uint8Array, at = PAYLOAD, ramSize = 512n * MiB): MemoryImage {
  return { ramSize, e820: ramE820(ramSize), extents: [bytesExtent(at, code)] };
}

function tcg(opts: Partial<BootOptions> = {}): BootOptions {
  return { timeoutMs: 20000, accel: 'tcg', ...opts };
}

function lastDetail(details: string[]): string {
  return details[details.length - 1] ?? '';
}

// --- pure parts: no QEMU -------------------------------------------------------------------------------------

test('the stub image: 64 KiB, reset vector at 0xfff0, rebuilt byte for byte by build.sh', () => {
  needTool('ld', 'binutils');
  needTool('objcopy', 'binutils');
  const bin = stubBinPath();
  assert.ok(bin, 'src/arch/x86/stub/stub.bin must exist');
  const stub = readFileSync(bin);
  assert.equal(stub.length, 65536);
  assert.equal(stub[0xfff0], 0xfa, 'cli at the reset vector');
  assert.equal(stub[0xfff1], 0xe9, 'near jmp at the reset vector');
  const src = fileURLToPath(new URL('../../../../src/arch/x86/stub/', import.meta.url));
  const copy = join(work, 'stub-src');
  mkdirSync(copy);
  for (const f of ['stub.s', 'acpi.s', 'stub.ld', 'build.sh']) copyFileSync(join(src, f), join(copy, f));
  chmodSync(join(copy, 'build.sh'), 0o755);
  execFileSync(join(copy, 'build.sh'), { stdio: 'ignore' });
  assert.ok(readFileSync(join(copy, 'stub.bin')).equals(stub), 'build.sh must reproduce the committed stub.bin');
});

test('stub parameter block layout', () => {
  const b = encodeStubParams({ mode: 'long64', entry: 0x1000200n, rsi: 0x10000n, gib: 7, acpi: { base: 0x1ffe0000n, size: 0x20000n } });
  const v = new DataView(b.buffer);
  assert.equal(b.length, STUB_PARAMS.size);
  assert.equal(Buffer.from(b.subarray(0, 4)).toString('latin1'), 'VKST');
  assert.equal(v.getUint32(STUB_PARAMS.version, true), 2);
  assert.equal(v.getUint32(STUB_PARAMS.mode, true), 2);
  assert.equal(v.getUint32(STUB_PARAMS.gib, true), 7);
  assert.equal(v.getBigUint64(STUB_PARAMS.entry, true), 0x1000200n);
  assert.equal(v.getBigUint64(STUB_PARAMS.rsi, true), 0x10000n);
  assert.equal(v.getUint32(STUB_PARAMS.acpiBase, true), 0x1ffe0000);
  assert.equal(v.getUint32(STUB_PARAMS.acpiSize, true), 0x20000);
  const none = encodeStubParams({ mode: 'protected32', entry: 0n, rsi: 0n, gib: 4, acpi: null });
  assert.equal(none[STUB_PARAMS.mode], 1);
  assert.equal(new DataView(none.buffer).getUint32(STUB_PARAMS.acpiSize, true), 0, 'acpi_size 0: the stub installs no tables');
});

test('QEMU pc RAM layout: below 3 GiB, the rest from 4 GiB; identity map covers RAM and at least 4 GiB', () => {
  assert.deepEqual(qemuRamRegions(512n * MiB), [{ start: 0n, end: 512n * MiB, fileOffset: 0n }]);
  assert.deepEqual(qemuRamRegions(6n * GiB), [
    { start: 0n, end: 3n * GiB, fileOffset: 0n },
    { start: 4n * GiB, end: 7n * GiB, fileOffset: 3n * GiB },
  ]);
  assert.equal(identityMapGib(512n * MiB), 4);
  assert.equal(identityMapGib(6n * GiB), 7);
});

test('checkImageForQemu refuses what QEMU cannot hold, naming the rule and the address', () => {
  const code = new Uint8Array(16);
  const refused = (image: MemoryImage, errno: string, rule: string, re: RegExp, entry: QemuEntryState = { mode: 'long64', entry: PAYLOAD }) =>
    assert.throws(() => checkImageForQemu(image, entry), (e: unknown) => e instanceof KexecError && e.errno === errno && e.rule === rule && re.test(e.message) && !!e.hint);
  checkImageForQemu(payloadImage(code), { mode: 'long64', entry: PAYLOAD });
  refused(payloadImage(code, 0x2ff8n), 'EBUSY', 'qemu firmware stub', /scratch area \[0x500, 0x3000\)/);
  refused(payloadImage(code, 0xb8000n), 'EFAULT', 'qemu pc memory layout', /legacy VGA\/BIOS hole/);
  refused(payloadImage(code, 512n * MiB - 8n), 'EFAULT', 'qemu pc memory layout', /outside the guest's RAM/);
  refused(payloadImage(code, 3n * GiB + 16n, 6n * GiB), 'EFAULT', 'qemu pc memory layout', /outside the guest's RAM/);
  refused({ ...payloadImage(code), extents: [bytesExtent(0x300000n, code), bytesExtent(0x300008n, code)] }, 'EINVAL', 'qemu memory image', /overlaps or precedes/);
  refused({ ...payloadImage(code), e820: [{ addr: 0x100000n, size: GiB, type: 1 }] }, 'EFAULT', 'qemu pc memory layout', /e820 RAM \[0x100000, 0x40100000\)/);
  refused({ ...payloadImage(code), ramSize: 512n * MiB + 4096n }, 'EINVAL', 'qemu memory-backend', /whole number of MiB/);
  refused(payloadImage(code), 'EINVAL', 'qemu entry state', /above 4 GiB/, { mode: 'protected32', entry: 5n * GiB });
});

test('console watcher: markers split across chunks, first event wins, lines complete later', () => {
  const w = new ConsoleWatcher(/login:/g);
  assert.equal(w.feed(Buffer.from('booting\r\n[  1.0] Kernel pa')), null);
  const ev = w.feed(Buffer.from('nic - not syncing: VFS: Unable'));
  assert.equal(ev?.status, 'panic');
  assert.equal(ev?.complete, false);
  w.feed(Buffer.from(' to mount root fs\r\nlogin: '));
  assert.equal(w.event?.status, 'panic', 'a later --expect match does not replace the panic');
  assert.equal(w.event?.line, '[  1.0] Kernel panic - not syncing: VFS: Unable to mount root fs');
  assert.equal(w.event?.complete, true);
  assert.ok(!w.tail().includes('\r'));

  const m = new ConsoleWatcher(/log(in)?:/g);
  assert.equal(m.feed(Buffer.from('foo lo')), null);
  assert.deepEqual(m.feed(Buffer.from('gin: x Kernel panic - not syncing')), { status: 'matched', line: 'foo login: x Kernel panic - not syncing', complete: false });
  m.feed(Buffer.from(': later\n'));
  assert.deepEqual(m.event, { status: 'matched', line: 'foo login: x Kernel panic - not syncing: later', complete: true }, 'a match waits for its line to end');

  const r = new ConsoleWatcher();
  r.feed(Buffer.from('[ 2.0] reboot: Restarting sys'));
  assert.equal(r.rebootRequested, false);
  r.feed(Buffer.from('tem\n'));
  assert.equal(r.rebootRequested, true);
  assert.equal(r.event, null);

  const p = new ConsoleWatcher();
  assert.equal(p.feed(Buffer.from('I\'m in purgatory\nsha256 digests do not match :(\n'))?.status, 'purgatory-mismatch');
  assert.equal(new ConsoleWatcher().feed(Buffer.from('[ 3.1] reboot: Power down\n'))?.status, 'poweroff');
  assert.equal(new ConsoleWatcher().feed(Buffer.from('[ 3.1] reboot: System halted\n'))?.status, 'halt');
});

// --- QEMU runs -----------------------------------------------------------------------------------------------

test('qemu engine is available here (qemu-system-x86_64 and the stub)', async () => {
  const why = await engine.unavailable({ mode: 'long64', entry: 0n });
  assert.equal(why, null, `the QEMU engine cannot run here: ${why} (apt-get install qemu-system-x86)`);
});

test('a missing QEMU binary is reported with the Debian package to install', async () => {
  const missing = new QemuEngine({ binary: join(work, 'no-such-qemu') });
  const why = await missing.unavailable({ mode: 'long64', entry: 0n });
  assert.match(why ?? '', /not found: install the Debian package qemu-system-x86/);
  await assert.rejects(missing.boot(payloadImage(new Uint8Array(1)), { mode: 'long64', entry: PAYLOAD }, tcg()), (e: unknown) => e instanceof KexecError && e.errno === 'ENOENT' && /qemu-system-x86/.test(e.hint ?? ''));
});

test('(a) long64: relocate_kernel state at the entry, RSI from the parameter block, console echo and log, isa-debug-exit', async () => {
  const code = assemble('long64', 64, PAYLOAD, LONG64_CHECKS);
  const echo = new PassThrough();
  let echoed = '';
  echo.on('data', (d: Buffer) => (echoed += d.toString('latin1')));
  const consoleLog = join(work, 'long64.log');
  const out = await engine.boot(payloadImage(code), { mode: 'long64', entry: PAYLOAD, rsi: EXPECTED_RSI }, tcg({ echo, consoleLog }));
  assert.equal(out.status, 'poweroff', out.details.join('\n'));
  assert.equal(out.engine, 'qemu');
  assert.match(lastDetail(out.details), /guest wrote 0x10 to isa-debug-exit \(port 0x501\); QEMU exit status 33/);
  assert.match(out.consoleTail ?? '', /VKEXEC-LONG64-OK/);
  assert.match(echoed, /VKEXEC-LONG64-OK/);
  assert.match(readFileSync(consoleLog, 'latin1'), /VKEXEC-LONG64-OK/);
});

test('(a) long64 entry above 4 GiB on a 6 GiB machine (RAM file layout, identity map past 4 GiB)', async () => {
  const at = 4n * GiB + 0x1000n;
  const code = assemble('long64-high', 64, at, LONG64_CHECKS);
  const out = await engine.boot(payloadImage(code, at, 6n * GiB), { mode: 'long64', entry: at, rsi: EXPECTED_RSI }, tcg({ expect: /VKEXEC-LONG64-(OK|BAD)/ }));
  assert.equal(out.status, 'matched', out.details.join('\n'));
  assert.match(lastDetail(out.details), /VKEXEC-LONG64-OK/);
});

test('(b) protected32: flat 32-bit protected mode, paging off, ESI from the parameter block', async () => {
  const code = assemble('prot32', 32, PAYLOAD, PROT32_CHECKS);
  const out = await engine.boot(payloadImage(code), { mode: 'protected32', entry: PAYLOAD, rsi: EXPECTED_RSI }, tcg());
  assert.equal(out.status, 'poweroff', out.details.join('\n'));
  assert.match(lastDetail(out.details), /guest wrote 0x11 to isa-debug-exit/);
  assert.match(out.consoleTail ?? '', /VKEXEC-PROT32-OK/);
});

test('(d) timeout: a guest that spins ends as timeout', async () => {
  const code = assemble('spin', 64, PAYLOAD, say('spinning\n', SPIN));
  const out = await engine.boot(payloadImage(code), { mode: 'long64', entry: PAYLOAD }, tcg({ timeoutMs: 1500, expect: /never printed/ }));
  assert.equal(out.status, 'timeout', out.details.join('\n'));
  assert.match(out.consoleTail ?? '', /spinning/);
});

test('an abort (vkexec got a signal) stops QEMU: interrupted, no QEMU left, run directory removed', async () => {
  const code = assemble('spin-abort', 64, PAYLOAD, say('spinning\n', SPIN));
  const ac = new AbortController();
  setTimeout(() => ac.abort('SIGINT'), 1500);
  const out = await engine.boot(payloadImage(code), { mode: 'long64', entry: PAYLOAD }, tcg({ timeoutMs: 120000, abort: ac.signal }));
  assert.equal(out.status, 'interrupted', out.details.join('\n'));
  assert.match(lastDetail(out.details), /vkexec got SIGINT; QEMU stopped/);
  const ram = /mem-path=(\S+)\/ram,/.exec((out.verbose ?? []).join('\n'));
  assert.ok(ram, `the QEMU command line (for -d) names the run directory: ${(out.verbose ?? []).join('\n')}`);
  assert.equal(existsSync(ram[1]!), false, `the run directory ${ram[1]} (RAM file, console) is removed`);
  const already = new AbortController();
  already.abort('SIGHUP');
  const early = await engine.boot(payloadImage(code), { mode: 'long64', entry: PAYLOAD }, tcg({ timeoutMs: 120000, abort: already.signal }));
  assert.equal(early.status, 'interrupted', 'a signal before QEMU starts stops it at once');
});

test('purgatory refusal on the console stops the run at once', async () => {
  const code = assemble('mismatch', 64, PAYLOAD, say('sha256 digests do not match :(\n', SPIN));
  const out = await engine.boot(payloadImage(code), { mode: 'long64', entry: PAYLOAD }, tcg({ timeoutMs: 60000 }));
  assert.equal(out.status, 'purgatory-mismatch', out.details.join('\n'));
  assert.match(lastDetail(out.details), /sha256 digests do not match :\(/);
});

test('triple fault: an entry that faults with no IDT', async () => {
  const code = assemble('ud2', 64, PAYLOAD, bare(UD2));
  const out = await engine.boot(payloadImage(code), { mode: 'long64', entry: PAYLOAD }, tcg());
  assert.equal(out.status, 'triple-fault', out.details.join('\n'));
});

test('guest reset through the keyboard controller is a reboot, and so is a fault after the kernel\'s restart notice', async () => {
  const kbd = await engine.boot(payloadImage(assemble('kbd', 64, PAYLOAD, say('resetting\n', KBD_RESET))), { mode: 'long64', entry: PAYLOAD }, tcg());
  assert.equal(kbd.status, 'reboot', kbd.details.join('\n'));
  const code = assemble('notice', 64, PAYLOAD, say('[    1.9] reboot: Restarting system\n', UD2));
  const notice = await engine.boot(payloadImage(code), { mode: 'long64', entry: PAYLOAD }, tcg());
  assert.equal(notice.status, 'reboot', notice.details.join('\n'));
});

/** Runs the bare stub (no engine) and returns its COM1 output once it has printed a whole "vkexec-stub:" line. */
function stubSays(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('qemu-system-x86_64', ['-nodefaults', '-nographic', '-accel', 'tcg', '-m', '16', '-bios', stubBinPath()!, '-serial', 'stdio', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (/vkexec-stub: .*\n/.test(out)) child.kill('SIGKILL');
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

test('the stub reports a bad parameter block, a CPU without long mode or without 1 GiB pages on COM1', async () => {
  assert.match(await stubSays([]), /vkexec-stub: bad parameter block at 0x500/);
  const params = join(work, 'params.bin');
  writeFileSync(params, encodeStubParams({ mode: 'long64', entry: PAYLOAD, rsi: 0n, gib: 4, acpi: null }));
  const loader = ['-device', `loader,file=${params},addr=0x500,force-raw=on`];
  assert.match(await stubSays(['-cpu', 'qemu64', ...loader]), /vkexec-stub: CPU has no 1 GiB pages \(pdpe1gb\)/);
  assert.match(await stubSays(['-cpu', 'qemu32', ...loader]), /vkexec-stub: CPU has no long mode/);
});

test('the stub says why the kernel gets no ACPI tables: a QEMU without them, a range too small for them', async () => {
  const withAcpi = (size: bigint) => {
    const file = join(work, `params-acpi-${size}.bin`);
    writeFileSync(file, encodeStubParams({ mode: 'long64', entry: PAYLOAD, rsi: 0n, gib: 4, acpi: { base: 0xe00000n, size } }));
    return ['-device', `loader,file=${file},addr=0x500,force-raw=on`];
  };
  assert.match(await stubSays(['-machine', 'pc,acpi=off', ...withAcpi(0x20000n)]), /vkexec-stub: ACPI: fw_cfg has no etc\/table-loader \(QEMU without ACPI\?\); the kernel gets no ACPI tables/);
  assert.match(await stubSays(withAcpi(0x100n)), /vkexec-stub: ACPI: the tables do not fit the machine's ACPI Tables range; the kernel gets no ACPI tables/);
});

test('accel auto probes KVM once and falls back to TCG when KVM cannot run the probe guest', async (t) => {
  const code = assemble('long64-auto', 64, PAYLOAD, LONG64_CHECKS);
  const out = await engine.boot(payloadImage(code), { mode: 'long64', entry: PAYLOAD, rsi: EXPECTED_RSI }, { timeoutMs: 20000, accel: 'auto' });
  assert.equal(out.status, 'poweroff', out.details.join('\n'));
  assert.match(out.details[0] ?? '', /^accelerator: (kvm \(probe guest ran\)|tcg \(KVM not usable here; -d says why\))$/);
  if (out.details[0]?.startsWith('accelerator: tcg')) assert.match(out.verbose?.[0] ?? '', /^KVM not used: .+/, 'the reason is kept for -d');
  t.diagnostic(`${out.details[0]} ${out.verbose?.[0] ?? ''}`);
});

test('interactive: stdin reaches the guest serial port; Ctrl-A Ctrl-A sends Ctrl-A, Ctrl-A x leaves', async () => {
  const code = assemble('echo', 64, PAYLOAD, ECHO_LOOP);
  const codeFile = join(work, 'echo-payload.bin');
  writeFileSync(codeFile, code);
  const qemuJs = fileURLToPath(new URL('../../../src/vm/engines/qemu.js', import.meta.url));
  const script = join(work, 'interactive.mjs');
  writeFileSync(script, `
import { readFileSync } from 'node:fs';
import { QemuEngine } from ${JSON.stringify(qemuJs)};
const data = readFileSync(${JSON.stringify(codeFile)});
const out = await new QemuEngine().boot({ ramSize: ${512n * MiB}n, e820: [], extents: [{ addr: ${PAYLOAD}n, length: data.length, kind: 'bytes', data }] },
  { mode: 'long64', entry: ${PAYLOAD}n }, { timeoutMs: 20000, accel: 'tcg', interactive: true });
process.stdout.write('\\nRESULT ' + JSON.stringify(out) + '\\n');
`);
  const run = (input: string) =>
    new Promise<{ status: string; details: string[]; consoleTail: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
      child.on('close', () => {
        const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
        if (!line) return reject(new Error(`no result from the interactive run: ${stdout}`));
        resolve(JSON.parse(line.slice(7)));
      });
      child.stdin.end(input);
    });
  const typed = await run('ping\x01\x01pong\x01bq');
  assert.equal(typed.status, 'poweroff', typed.details.join('\n'));
  assert.match(lastDetail(typed.details), /guest wrote 0x33/);
  assert.equal(typed.consoleTail, 'ping\x01pong\x01b');
  const left = await run('abc\x01x');
  assert.equal(left.status, 'quit', left.details.join('\n'));
  assert.match(lastDetail(left.details), /Ctrl-A x/);
});

// --- Debian's kernel, entered at its 64-bit entry without a purgatory ---------------------------------------

interface KernelBoot {
  image: MemoryImage;
  entry: QemuEntryState;
}

const BOOT_PARAMS_ADDR = 0x10000n;
const CMDLINE_ADDR = 0x11000n;
const KERNEL_ADDR = 0x1000000n;
const INITRD_ADDR = 0x4000000n;

/** The 64-bit boot protocol by hand: protected-mode part at 16 MiB, boot_params at 0x10000, RSI = boot_params. */
function kernelBoot(cmdline: string, initrd?: string): KernelBoot {
  needFile(KERNEL, 'extract boot/vmlinuz-* from linux-image-6.1.0-*-amd64-unsigned (or set VKEXEC_KERNEL_AMD64)');
  const file = readFileSync(KERNEL);
  const setupSects = file[SETUP_HEADER.setup_sects.offset] || 4;
  const kern16 = (setupSects + 1) * 512;
  const ramSize = 512n * MiB;
  const e820 = ramE820(ramSize);

  const bp = new Uint8Array(BOOT_PARAMS_SIZE);
  // kexec-bzimage64.c: the setup header is copied from kernel[0x1f1 .. 0x202 + kernel[0x201]).
  const hdrEnd = 0x202 + file[0x201]!;
  bp.set(file.subarray(SETUP_HEADER.setup_sects.offset, hdrEnd), SETUP_HEADER.setup_sects.offset);
  writeField(bp, SETUP_HEADER.type_of_loader, 0xff);
  writeField(bp, SETUP_HEADER.cmd_line_ptr, Number(CMDLINE_ADDR));
  e820.forEach((e, i) => {
    const at = BOOT_PARAMS.e820_table.offset + i * E820_ENTRY_SIZE;
    const v = new DataView(bp.buffer, at, E820_ENTRY_SIZE);
    v.setBigUint64(0, e.addr, true);
    v.setBigUint64(8, e.size, true);
    v.setUint32(16, e.type, true);
  });
  writeField(bp, BOOT_PARAMS.e820_entries, e820.length);

  const cmd = Buffer.from(cmdline + '\0', 'latin1');
  const extents: Extent[] = [
    bytesExtent(BOOT_PARAMS_ADDR, bp),
    bytesExtent(CMDLINE_ADDR, cmd),
    { addr: KERNEL_ADDR, length: file.length - kern16, kind: 'file', path: KERNEL, offset: kern16 },
  ];
  if (initrd) {
    const size = statSync(initrd).size;
    writeField(bp, SETUP_HEADER.ramdisk_image, Number(INITRD_ADDR));
    writeField(bp, SETUP_HEADER.ramdisk_size, size);
    extents.push({ addr: INITRD_ADDR, length: size, kind: 'file', path: initrd, offset: 0 });
  }
  return { image: { ramSize, e820, extents }, entry: { mode: 'long64', entry: KERNEL_ADDR + 0x200n, rsi: BOOT_PARAMS_ADDR } };
}

/** A busybox initramfs (system cpio) whose /init runs `script` with the console on ttyS0, then reboots. */
function busyboxInitramfs(name: string, script: string, modules: string[] = []): string {
  needTool('cpio', 'cpio');
  needFile(BUSYBOX, 'apt-get install busybox-static');
  const root = join(work, name);
  for (const d of ['bin', 'dev', 'mod']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
  for (const m of modules) copyFileSync(m, join(root, 'mod', m.slice(m.lastIndexOf('/') + 1)));
  writeFileSync(
    join(root, 'init'),
    `#!/bin/busybox sh\n/bin/busybox mount -t devtmpfs devtmpfs /dev\nexec </dev/ttyS0 >/dev/ttyS0 2>&1\n${script}\n/bin/busybox reboot -f\n`,
  );
  chmodSync(join(root, 'init'), 0o755);
  const out = join(work, `${name}.cpio`);
  execFileSync('sh', ['-c', `cd "$1" && find . | sort | cpio -o -H newc -R 0:0 --quiet > "$2"`, 'sh', root, out]);
  return out;
}

const MARKER = 'VKEXEC-QEMU-INIT';

test('(c) Debian amd64 kernel + busybox initramfs through the 64-bit entry, no purgatory', async () => {
  const initrd = busyboxInitramfs('initrd-marker', `echo ${MARKER}-$((6 * 7))`);
  const { image, entry } = kernelBoot('console=ttyS0 earlyprintk=serial,ttyS0 panic=-1', initrd);
  const out = await engine.boot(image, entry, tcg({ timeoutMs: 120000, expect: new RegExp(`${MARKER}-42`) }));
  assert.equal(out.status, 'matched', `${out.details.join('\n')}\n${out.consoleTail}`);
  assert.match(out.consoleTail ?? '', /Run \/init as init process/);
});

test('(d) panic: no root and no initramfs ends in "Kernel panic - not syncing" (before panic=-1 reboots)', async () => {
  const { image, entry } = kernelBoot('console=ttyS0 panic=-1 init=/nonexistent');
  const out = await engine.boot(image, entry, tcg({ timeoutMs: 120000 }));
  assert.equal(out.status, 'panic', `${out.details.join('\n')}\n${out.consoleTail}`);
  assert.match(lastDetail(out.details), /Kernel panic - not syncing: VFS: Unable to mount root fs/);
});

/**
 * The virtio-blk modules of the fixture kernel, in insmod order: the kdump capture initramfs carries them
 * (built from the same kernel's .deb) and its /init loads them in dependency order.
 */
function virtioModules(): string[] {
  const { entries } = parseCpio(readFileSync(fixture('initramfs-kdump-amd64.cpio')));
  const init = entries.find((e) => e.path === 'init');
  assert.ok(init, 'the kdump initramfs fixture has no /init');
  const order = [...Buffer.from(init.data).toString('latin1').matchAll(/^insmod \/(lib\/modules\/[^ ]+\.ko)/gm)].map((m) => m[1]!);
  assert.ok(order.length > 0, 'the kdump initramfs /init loads no modules');
  const dir = join(work, 'virtio-modules');
  mkdirSync(dir, { recursive: true });
  return order.map((rel) => {
    const e = entries.find((x) => x.path === rel);
    assert.ok(e, `the kdump initramfs fixture lacks ${rel}`);
    const out = join(dir, rel.slice(rel.lastIndexOf('/') + 1));
    writeFileSync(out, e.data);
    return out;
  });
}

test('disks: a raw image attached as virtio-blk is /dev/vda in the guest', async () => {
  const modules = virtioModules();
  const disk = join(work, 'disk.img');
  writeFileSync(disk, Buffer.concat([Buffer.from('VKEXEC-DISK-CONTENT'), Buffer.alloc((1 << 20) - 19)]));
  const load = modules.map((m) => `/bin/busybox insmod /mod/${m.slice(m.lastIndexOf('/') + 1)}`).join('\n');
  const initrd = busyboxInitramfs('initrd-disk', `${load}\necho "disk says [$(/bin/busybox head -c 19 /dev/vda)]"`, modules);
  const { image, entry } = kernelBoot('console=ttyS0 panic=-1 quiet', initrd);
  const out = await engine.boot(image, entry, tcg({ timeoutMs: 120000, disks: [disk], expect: /disk says \[[^\]\n]*\]/ }));
  assert.equal(out.status, 'matched', `${out.details.join('\n')}\n${out.consoleTail}`);
  assert.match(lastDetail(out.details), /disk says \[VKEXEC-DISK-CONTENT\]/);
});
