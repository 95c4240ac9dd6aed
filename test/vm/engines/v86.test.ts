// The v86 engine on real bytes: tiny 32-bit payloads (assembled below, instruction by instruction) and
// Debian's i386 686 kernel booted through the 32-bit boot protocol. The last tests use the fixtures of
// test/setup/fixtures.mjs (vmlinuz-686, initramfs-busybox-i386.cpio, vmlinuz-amd64-unsigned); a missing one
// fails the test saying how to make it. The 686 boot takes 20-40 s of wall time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KexecError } from '../../../src/errno.js';
import { INIT_MARKER, fixture } from '../../helpers/fixtures.js';
import { SETUP_HEADER, SetupHeader } from '../../../src/formats/setup-header.js';
import { writeField } from '../../../src/formats/struct.js';
import type { Extent, MemoryImage } from '../../../src/vm/memory/memory-image.js';
import { V86_LONG64_MESSAGE, V86_MAX_MEMORY, V86Engine } from '../../../src/vm/engines/v86.js';
import {
  ENTRY32_REGS_SIZE,
  V86_ENTRY32_REGS_ADDR,
  V86_STUB_BASE,
  entry32RegsExtent,
  v86ResetTrap,
  v86StubImage,
} from '../../../src/vm/engines/v86-stub.js';

const engine = new V86Engine();
const MiB = 1n << 20n;
const PAYLOAD_ADDR = 0x100000;

function bytesExtent(addr: number, data: Uint8Array): Extent {
  return { addr: BigInt(addr), length: data.length, kind: 'bytes', data };
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

// What a payload does after printing its message.
const TAILS = {
  halt: [0xfa, 0xf4, 0xeb, 0xfd], // cli; 1: hlt; jmp 1b
  loop: [0xeb, 0xfe], // 1: jmp 1b
  reset: [0xb0, 0xfe, 0xe6, 0x64, 0xeb, 0xfe], // movb $0xfe, %al; outb %al, $0x64 (keyboard controller reset); jmp .
} as const;

/** 32-bit code at PAYLOAD_ADDR: run `prefix`, print `message` on COM1, then do `tail`. Needs no stack. */
function printPayload(message: string, tail: keyof typeof TAILS, prefix: readonly number[] = []): Uint8Array {
  const head = (msgAddr: number): number[] => [
    ...prefix,
    0xbe, ...le32(msgAddr), // movl $msg, %esi
    0x66, 0xba, 0xf8, 0x03, // movw $0x3f8, %dx
    0xac, // 1: lodsb
    0x84, 0xc0, // testb %al, %al
    0x74, 0x03, // jz 2f
    0xee, // outb %al, %dx
    0xeb, 0xf8, // jmp 1b
    // 2: tail
  ];
  const codeLen = head(0).length + TAILS[tail].length;
  const code = [...head(PAYLOAD_ADDR + codeLen), ...TAILS[tail]];
  return Uint8Array.from([...code, ...Buffer.from(message, 'latin1'), 0]);
}

function payloadImage(payload: Uint8Array, extra: Extent[] = []): MemoryImage {
  const extents = [...extra, bytesExtent(PAYLOAD_ADDR, payload)].sort((a, b) => Number(a.addr - b.addr));
  return { ramSize: 64n * MiB, e820: [], extents };
}

const entry32 = { mode: 'protected32', entry: BigInt(PAYLOAD_ADDR) } as const;

test('the TypeScript stub table matches v86-stub.S assembled by as --32', () => {
  const src = fileURLToPath(new URL('../../../../src/arch/x86/v86-stub/v86-stub.S', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'v86-stub-'));
  try {
    const entry = 0x01234567;
    const obj = join(dir, 'stub.o');
    try {
      execFileSync('as', ['--32', '--defsym', `ENTRY=${entry}`, '-o', obj, src]);
    } catch (err) {
      assert.fail(`cannot run: GNU as failed or is missing (apt-get install binutils): ${(err as Error).message}`);
    }
    const section = (name: string): Buffer => {
      const out = join(dir, `${name}.bin`);
      execFileSync('objcopy', ['-O', 'binary', '-j', name, obj, out]);
      return readFileSync(out);
    };
    assert.deepEqual(Buffer.from(v86StubImage(entry)), section('.text'));
    assert.deepEqual(Buffer.from(v86ResetTrap()), section('.reset_trap'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a 32-bit payload entered in protected32 mode prints its marker on COM1 (matched)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'v86-log-'));
  try {
    const log = join(dir, 'console.log');
    const payload = printPayload('hello from 32-bit\nVKEXEC-TEST-MARKER\n', 'halt');
    const out = await engine.boot(payloadImage(payload), entry32, {
      expect: /VKEXEC-TEST-MARKER/,
      timeoutMs: 20000,
      consoleLog: log,
    });
    assert.equal(out.status, 'matched', out.details.join('\n'));
    assert.equal(out.engine, 'v86');
    assert.match(out.consoleTail ?? '', /hello from 32-bit\nVKEXEC-TEST-MARKER/);
    assert.match(readFileSync(log, 'latin1'), /^hello from 32-bit\nVKEXEC-TEST-MARKER\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('registers from the entry32_regs block reach the entry (esi carries a pointer)', async () => {
  // The payload prints the string esi points at; only the stub's register block sets esi.
  const message = Buffer.from('VKEXEC-ESI-OK\n\0', 'latin1');
  const code = Uint8Array.from([
    0x66, 0xba, 0xf8, 0x03, // movw $0x3f8, %dx
    0xac, // 1: lodsb
    0x84, 0xc0, // testb %al, %al
    0x74, 0x03, // jz 2f
    0xee, // outb %al, %dx
    0xeb, 0xf8, // jmp 1b
    ...TAILS.halt, // 2:
  ]);
  const msgAddr = 0x200000;
  const image = payloadImage(code, [entry32RegsExtent({ esi: msgAddr }), bytesExtent(msgAddr, message)]);
  const out = await engine.boot(image, entry32, { expect: /VKEXEC-ESI-OK/, timeoutMs: 20000 });
  assert.equal(out.status, 'matched', out.details.join('\n'));
  assert.equal(entry32RegsExtent({}).addr, BigInt(V86_ENTRY32_REGS_ADDR));
  assert.equal(entry32RegsExtent({}).length, ENTRY32_REGS_SIZE);
});

test('long64 entry: unavailable() explains and boot() refuses without starting v86', { timeout: 5000 }, async () => {
  const long64 = { mode: 'long64', entry: 0x1000200n } as const;
  assert.equal(await engine.unavailable(long64), V86_LONG64_MESSAGE);
  assert.match(V86_LONG64_MESSAGE, /--engine qemu/);
  assert.match(V86_LONG64_MESSAGE, /apt-get install qemu-system-x86/);
  await assert.rejects(engine.boot(payloadImage(printPayload('x', 'halt')), long64, { timeoutMs: 1000 }), (err) => {
    assert.ok(err instanceof KexecError);
    assert.equal(err.errno, 'EOPNOTSUPP');
    assert.equal(err.message, V86_LONG64_MESSAGE);
    return true;
  });
  assert.equal(await engine.unavailable(entry32), null);
  assert.match((await engine.unavailable({ mode: 'protected32', entry: 1n << 32n })) ?? '', /above 4 GiB/);
});

test('a payload that loops forever ends in timeout', async () => {
  const out = await engine.boot(payloadImage(printPayload('looping\n', 'loop')), entry32, { timeoutMs: 500 });
  assert.equal(out.status, 'timeout', out.details.join('\n'));
  assert.equal(out.consoleTail, 'looping');
});

test('console lines decide the outcome: probe poweroff, purgatory mismatch, kernel reboot', async () => {
  const cases = [
    ['VKEXEC-PROBE-POWEROFF\n', 'poweroff'],
    ['purgatory: sha256 digests do not match\n', 'purgatory-mismatch'],
    ['[   19.1] reboot: Restarting system\n', 'reboot'],
    ['[   19.1] reboot: Power down\n', 'poweroff'],
    ['[   19.1] reboot: System halted\n', 'halt'],
    ['This kernel requires an x86-64 CPU, but only detected an i686 CPU.\n', 'hang'],
  ] as const;
  for (const [line, status] of cases) {
    const out = await engine.boot(payloadImage(printPayload(line, 'loop')), entry32, { timeoutMs: 20000 });
    assert.equal(out.status, status, `${line}: ${out.details.join('\n')}`);
  }
});

test('an abort (vkexec got a signal) stops a looping guest: interrupted', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort('SIGTERM'), 300);
  const out = await engine.boot(payloadImage(printPayload('looping\n', 'loop')), entry32, { timeoutMs: 60000, abort: ac.signal });
  assert.equal(out.status, 'interrupted', out.details.join('\n'));
  assert.match(out.details.join('\n'), /vkexec got SIGTERM; v86 stopped/);
});

test('a halt with interrupts off is a hang; a reset without a message is a triple-fault', async () => {
  const halted = await engine.boot(payloadImage(printPayload('stopping\n', 'halt')), entry32, { timeoutMs: 20000 });
  assert.equal(halted.status, 'hang', halted.details.join('\n'));
  // Post-mortem: v86's CPU at the halt, inside the payload at 1 MiB, 32-bit protected mode, paging off.
  assert.equal(halted.cpu?.mode, 'protected32');
  assert.equal(halted.cpu?.halted, true);
  assert.equal(halted.cpu?.handoffPaging, true);
  const eip = BigInt(halted.cpu?.rip ?? '0');
  assert.ok(eip >= 0x100000n && eip < 0x101000n, `EIP ${halted.cpu?.rip} lies in the payload`);
  const reset = await engine.boot(payloadImage(printPayload('resetting\n', 'reset')), entry32, { timeoutMs: 20000 });
  assert.equal(reset.status, 'triple-fault', reset.details.join('\n'));
});

test('a panic keeps the trace until the CPU resets (panic=-1) or the end marker (panic=0)', async () => {
  const text = 'Kernel panic - not syncing: VFS: Unable to mount root fs\nCPU: 0 PID: 1 Comm: swapper\n';
  const out = await engine.boot(payloadImage(printPayload(text, 'reset')), entry32, { timeoutMs: 20000 });
  assert.equal(out.status, 'panic', out.details.join('\n'));
  assert.match(out.consoleTail ?? '', /CPU: 0 PID: 1/);
  // panic=0: the kernel ends its report with the end marker and spins.
  const ended = await engine.boot(
    payloadImage(printPayload(`${text}---[ end Kernel panic - not syncing: VFS ]---\n`, 'loop')),
    entry32,
    { timeoutMs: 20000 },
  );
  assert.equal(ended.status, 'panic', ended.details.join('\n'));
  assert.match(ended.consoleTail ?? '', /end Kernel panic/);
});

test("v86's kvm-unit-test ports are unplugged: port 0xF4 behaves as on a PC (no device)", async () => {
  // Unrepaired, the byte write throws out of v86's CPU loop and ends this process, and the 32-bit read
  // re-runs v86's multiboot load, restarting the stub.
  const ports = [
    0xb0, 0x31, // movb $0x31, %al
    0xe6, 0xf4, // outb %al, $0xf4
    0xe5, 0xf4, // inl $0xf4, %eax
  ];
  const out = await engine.boot(payloadImage(printPayload('VKEXEC-PORTS-OK\n', 'halt', ports)), entry32, {
    expect: /VKEXEC-PORTS-OK/,
    timeoutMs: 20000,
  });
  assert.equal(out.status, 'matched', out.details.join('\n'));
  assert.ok(!out.details.some((d) => d.startsWith('warning')), out.details.join('\n'));
});

test('memory image limits: RAM above v86 maximum, extents beyond RAM or over the stub are refused', async () => {
  const payload = printPayload('x', 'halt');
  const refuse = async (image: MemoryImage, errno: string, rule: string): Promise<void> => {
    await assert.rejects(engine.boot(image, entry32, { timeoutMs: 1000 }), (err) => {
      assert.ok(err instanceof KexecError, String(err));
      assert.equal(err.errno, errno);
      assert.equal(err.rule, rule);
      assert.ok(err.hint);
      return true;
    });
  };
  await refuse({ ...payloadImage(payload), ramSize: V86_MAX_MEMORY + 0x20000n }, 'ENOMEM', 'v86 memory_size');
  await refuse({ ...payloadImage(payload), ramSize: MiB }, 'EFAULT', 'v86 write_memory');
  await refuse(payloadImage(payload, [bytesExtent(V86_STUB_BASE + 0x40, new Uint8Array(4))]), 'EBUSY', 'v86 entry stub');
  const unsorted = payloadImage(payload, [bytesExtent(0x200000, new Uint8Array(4))]);
  unsorted.extents.reverse();
  await refuse(unsorted, 'EINVAL', 'v86 memory image');
  await refuse(payloadImage(payload, [{ addr: 0x200000n, length: 8, kind: 'bytes', data: new Uint8Array(4) }]), 'EINVAL', 'v86 memory image');
  await refuse(
    payloadImage(payload, [{ addr: 0x300000n, length: 16, kind: 'file', path: '/nonexistent/blob', offset: 0 }]),
    'EIO',
    'v86 write_memory',
  );
});

test('pattern extents hold the fill pattern at their physical addresses', async () => {
  const word = 0x300008; // with KEY 0 each 8-byte word holds its own address
  const check = [
    0x81, 0x3d, ...le32(word), ...le32(word), // cmpl $word, word
    0x74, 0x02, // je 1f
    0xeb, 0xfe, // jmp . (mismatch: never prints)
    // 1:
  ];
  const image = payloadImage(printPayload('VKEXEC-PATTERN-OK\n', 'halt', check), [
    { addr: 0x300000n, length: 3 << 20, kind: 'pattern', pattern: { key: 0n } },
  ]);
  const out = await engine.boot(image, entry32, { expect: /VKEXEC-PATTERN-OK/, timeoutMs: 5000 });
  assert.equal(out.status, 'matched', out.details.join('\n'));
});

test('file and zero extents are streamed into guest memory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'v86-file-'));
  try {
    // A 3 MiB blob read from file offset 4 KiB (its message lies in the third 1 MiB chunk), plus a zero extent.
    const blob = Buffer.alloc(3 << 20, 0x41);
    const msg = Buffer.from('VKEXEC-FILE-OK\n\0', 'latin1');
    msg.copy(blob, (2 << 20) + 5);
    writeFileSync(join(dir, 'blob'), blob);
    const msgAddr = 0x400000 + (2 << 20) + 5 - 4096; // the file extent starts 4 KiB into the blob
    const code = Uint8Array.from([
      0xbe, ...le32(msgAddr), // movl $msg, %esi
      0x66, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, // print loop as above
      ...TAILS.halt,
    ]);
    const image = payloadImage(code, [
      { addr: 0x400000n, length: (3 << 20) - 4096, kind: 'file', path: join(dir, 'blob'), offset: 4096 },
      { addr: 0x800000n, length: 5 << 20, kind: 'zero' },
    ]);
    const out = await engine.boot(image, entry32, { expect: /VKEXEC-FILE-OK/, timeoutMs: 20000 });
    assert.equal(out.status, 'matched', out.details.join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('interactive: stdin reaches COM1, Ctrl-A x leaves', async () => {
  // Echo COM1 input back: poll LSR.DR (0x3fd bit 0), read RBR (0x3f8), write it to THR.
  const echo = [
    0x66, 0xba, 0xfd, 0x03, // 0: movw $0x3fd, %dx
    0xec, // 1: inb %dx, %al
    0xa8, 0x01, // testb $1, %al
    0x74, 0xfb, // jz 1b
    0x66, 0xba, 0xf8, 0x03, // movw $0x3f8, %dx
    0xec, // inb %dx, %al
    0xee, // outb %al, %dx
    0xeb, 0xef, // jmp 0b
  ];
  const engineUrl = new URL('../../../src/vm/engines/v86.js', import.meta.url).href;
  const script = `
    import { V86Engine } from ${JSON.stringify(engineUrl)};
    const code = Uint8Array.from(${JSON.stringify(echo)});
    const image = { ramSize: 64n << 20n, e820: [], extents: [{ addr: 0x100000n, length: code.length, kind: 'bytes', data: code }] };
    const expect = process.argv[1] === 'expect' ? /VKEXEC-IN-OK/ : undefined;
    const out = await new V86Engine().boot(image, { mode: 'protected32', entry: 0x100000n }, { timeoutMs: 20000, interactive: true, expect });
    process.stdout.write('\\nOUTCOME ' + out.status + '\\n');`;
  const run = (arg: string, input: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, arg], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
      child.on('error', reject);
      child.on('close', () => resolve(out));
      setTimeout(() => child.stdin.write(input), 300);
      // stdin stays open: the engine itself must let the process exit. Kill a child that does not.
      setTimeout(() => child.kill(), 60000).unref();
    });
  assert.match(await run('expect', 'VKEXEC-IN-OK\n'), /OUTCOME matched/);
  assert.match(await run('none', 'abc\x01x'), /OUTCOME quit/);
});

// A 32-bit boot protocol hand-off built here (not by the project's loaders): boot_params page with the
// file's setup header, e820, command line and initrd; kernel's protected-mode part at its pref_address;
// the stub's entry32_regs carry esi = boot_params (Documentation/arch/x86/boot.rst, 32-bit boot protocol).
function bootProtocolImage(kernelPath: string, opts: { cmdline: string; initrd?: string; ramSize: bigint }): {
  image: MemoryImage;
  entry: bigint;
} {
  const fd = readFileSync(kernelPath);
  const hdr = new SetupHeader(fd.subarray(0, 0x1000));
  assert.ok(hdr.hasMagic, `${kernelPath} is not a bzImage`);
  const zeroPage = new Uint8Array(4096);
  const hdrEnd = 0x202 + fd[0x201]!; // the setup header ends where the jump at 0x200 lands
  zeroPage.set(fd.subarray(0x1f1, hdrEnd), 0x1f1);
  const bootParams = 0x10000;
  const cmdlineAddr = 0x11000;
  const load = Number(hdr.big('pref_address'));
  const kernelOff = hdr.kern16Size;
  writeField(zeroPage, SETUP_HEADER.type_of_loader, 0xff);
  writeField(zeroPage, SETUP_HEADER.code32_start, load);
  writeField(zeroPage, SETUP_HEADER.cmd_line_ptr, cmdlineAddr);
  const extents: Extent[] = [];
  let initrdExtent: Extent | undefined;
  if (opts.initrd !== undefined) {
    const size = statSync(opts.initrd).size;
    const addr = 0x4000000;
    writeField(zeroPage, SETUP_HEADER.ramdisk_image, addr);
    writeField(zeroPage, SETUP_HEADER.ramdisk_size, size);
    initrdExtent = { addr: BigInt(addr), length: size, kind: 'file', path: opts.initrd, offset: 0 };
  }
  // e820_entries at 0x1e8, e820_table at 0x2d0 (20 bytes each: u64 addr, u64 size, u32 type).
  const e820: [bigint, bigint, number][] = [
    [0n, 0x9fc00n, 1],
    [0x9fc00n, 0x400n, 2],
    [0xf0000n, 0x10000n, 2],
    [0x100000n, opts.ramSize - 0x100000n, 1],
  ];
  const dv = new DataView(zeroPage.buffer);
  zeroPage[0x1e8] = e820.length;
  e820.forEach(([addr, size, type], i) => {
    dv.setBigUint64(0x2d0 + 20 * i, addr, true);
    dv.setBigUint64(0x2d0 + 20 * i + 8, size, true);
    dv.setUint32(0x2d0 + 20 * i + 16, type, true);
  });
  extents.push(entry32RegsExtent({ esi: bootParams })); // ebx, ebp, edi stay 0 as the protocol asks
  extents.push(bytesExtent(bootParams, zeroPage));
  extents.push(bytesExtent(cmdlineAddr, Buffer.from(`${opts.cmdline}\0`, 'latin1')));
  extents.push({ addr: BigInt(load), length: fd.length - kernelOff, kind: 'file', path: kernelPath, offset: kernelOff });
  if (initrdExtent !== undefined) extents.push(initrdExtent);
  extents.sort((a, b) => Number(a.addr - b.addr));
  return {
    image: { ramSize: opts.ramSize, e820: e820.map(([addr, size, type]) => ({ addr, size, type })), extents },
    entry: BigInt(load),
  };
}

test('an x86-64 bzImage entered at its 32-bit entry halts in verify_cpu: hang, pointing at qemu', async () => {
  const { image, entry } = bootProtocolImage(fixture('vmlinuz-amd64-unsigned'), { cmdline: 'console=ttyS0', ramSize: 256n * MiB });
  const out = await engine.boot(image, { mode: 'protected32', entry }, { timeoutMs: 30000 });
  assert.equal(out.status, 'hang', out.details.join('\n'));
  assert.match(out.details.join('\n'), /--engine qemu/);
});

test('SLOW (20-40 s): Debian 686 kernel via the 32-bit boot protocol reaches /init, which reboots', async () => {
  const { image, entry } = bootProtocolImage(fixture('vmlinuz-686'), {
    cmdline: 'console=ttyS0 panic=-1 acpi=off',
    initrd: fixture('initramfs-busybox-i386.cpio'),
    ramSize: 256n * MiB,
  });
  const out = await engine.boot(image, { mode: 'protected32', entry }, { timeoutMs: 120000 });
  assert.equal(out.status, 'reboot', `${out.details.join('\n')}\n${out.consoleTail}`);
  // The fixture's /init prints the marker, then /proc/cmdline (kernel log lines may come between).
  assert.match(out.consoleTail ?? '', new RegExp(`${INIT_MARKER}\\r?\\n(?:\\[[^\\n]*\\n)*[^[\\n][^\\n]*acpi=off`));
});
