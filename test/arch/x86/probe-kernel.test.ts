// vkexec's probe kernel: the committed images against the boot protocol, a rebuild that must reproduce them
// byte for byte, real boots (QEMU -kernel through SeaBIOS and the 16-bit setup; v86 through its SeaBIOS
// bzimage path and through a BIOS-less 32-bit entry as the kexec path uses it) whose reports are checked
// against the host's view, and the report parser on sample text.
// Tools: gcc + binutils (rebuild; VKEXEC_NO_TOOLCHAIN=1 skips it loudly), qemu-system-x86_64 and SeaBIOS
// (Debian qemu-system-x86, seabios; VKEXEC_NO_QEMU=1 skips those boots loudly). A missing tool otherwise
// fails the test with the package to install.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../../src/errno.js';
import { QemuEngine } from '../../../src/vm/engines/qemu.js';
import type { Extent } from '../../../src/vm/memory/memory-image.js';
import { BOOT_FLAG, HDRS_MAGIC, LOADED_HIGH, SETUP_HEADER, SetupHeader, XLF_CAN_BE_LOADED_ABOVE_4G, XLF_KERNEL_64 } from '../../../src/formats/setup-header.js';
import { readField } from '../../../src/formats/struct.js';
import {
  PROBE_DEBUG_EXIT_VALUE,
  parseProbeReport,
  parseProbeReports,
  probeKernelDir,
  probeKernelImage,
  probeKernelPath,
} from '../../../src/arch/x86/probe-kernel.js';
import { requireTools } from '../../helpers/tools.js';

const bz = probeKernelImage('bzImage');
const elf = probeKernelImage('elf');
const hdr = new SetupHeader(bz);
const pm = bz.subarray(hdr.kern16Size);
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Deterministic pseudo-random bytes (sha256 counter mode), odd length to exercise the guest's padding. */
function testBytes(len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0, off = 0; off < len; i++, off += 32) {
    out.set(createHash('sha256').update(`probe-initrd-${i}`).digest().subarray(0, Math.min(32, len - off)), off);
  }
  return out;
}

test('probe-bzImage: setup header is a valid boot protocol 2.15 bzImage that bzImage64 accepts', () => {
  assert.ok(bz.length >= 1024);
  assert.equal(hdr.num('boot_flag'), BOOT_FLAG);
  assert.ok(hdr.hasMagic);
  assert.equal(hdr.num('version'), 0x020f);
  assert.equal(hdr.num('setup_sects'), 4);
  assert.equal(hdr.kern16Size, 0xa00);
  assert.equal(hdr.num('loadflags') & LOADED_HIGH, LOADED_HIGH);
  assert.equal(hdr.num('relocatable_kernel'), 1);
  assert.equal(hdr.num('kernel_alignment'), 0x200000);
  assert.equal(hdr.num('min_alignment'), 12);
  assert.equal(hdr.num('xloadflags'), XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G);
  assert.equal(hdr.num('cmdline_size'), 2047); // COMMAND_LINE_SIZE - 1, as Linux's header.S
  assert.equal(hdr.num('initrd_addr_max'), 0x7fffffff);
  assert.equal(hdr.num('code32_start'), 0x100000);
  assert.equal(hdr.big('pref_address'), 0x1000000n);
  assert.equal(hdr.num('handover_offset'), 0);
  assert.equal(hdr.num('syssize'), Math.ceil(pm.length / 16));
  // init_size covers the file's protected-mode bytes plus the 16 KiB stack; kexec's memsz = PAGE_ALIGN(init_size).
  assert.equal(hdr.num('init_size'), 0x18000);
  assert.ok(pm.length <= hdr.num('init_size') - 0x4000);
  // kernel_version points at a NUL-terminated string in the setup.
  const kv = hdr.num('kernel_version') + 0x200;
  assert.equal(Buffer.from(bz.subarray(kv, bz.indexOf(0, kv))).toString('latin1'), 'vkexec-probe 1');
  // kernel_info ("LToP", size, size_total, setup_type_max) in the protected-mode part.
  const ki = hdr.num('kernel_info_offset');
  assert.equal(Buffer.from(pm.subarray(ki, ki + 4)).toString('latin1'), 'LToP');
  assert.equal(dv(pm).getUint32(ki + 4, true), 16);
  assert.equal(dv(pm).getUint32(ki + 12, true), 0x8000000a);
  // payload: the uncompressed ELF probe-vmlinux.
  const po = hdr.num('payload_offset');
  assert.deepEqual(pm.subarray(po, po + hdr.num('payload_length')), elf);
  assert.equal(po + hdr.num('payload_length'), pm.length);
});

test('probe-vmlinux: ELF64 ET_EXEC for kexec-tools elf-x86_64, entry = 64-bit entry, same code as the bzImage', () => {
  const v = dv(elf);
  assert.deepEqual([...elf.subarray(0, 7)], [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  assert.equal(v.getUint16(16, true), 2); // ET_EXEC
  assert.equal(v.getUint16(18, true), 62); // EM_X86_64
  assert.equal(v.getBigUint64(24, true), 0x1000200n);
  const phoff = Number(v.getBigUint64(32, true));
  assert.equal(v.getUint16(56, true), 1);
  assert.equal(v.getUint32(phoff, true), 1); // PT_LOAD
  const off = Number(v.getBigUint64(phoff + 8, true));
  assert.equal(v.getBigUint64(phoff + 16, true), 0x1000000n);
  assert.equal(v.getBigUint64(phoff + 24, true), 0x1000000n);
  const filesz = Number(v.getBigUint64(phoff + 32, true));
  assert.equal(v.getBigUint64(phoff + 40, true), 0x18000n); // p_memsz = init_size
  assert.equal(off % 0x1000, 0);
  // The loadable bytes are the bzImage's protected-mode code: offset 0 = 32-bit entry, 0x200 = 64-bit entry.
  assert.deepEqual(elf.subarray(off, off + filesz), pm.subarray(0, filesz));
  // ... and all of the code: only alignment padding lies between it and the payload.
  assert.ok(filesz <= hdr.num('payload_offset') && hdr.num('payload_offset') - filesz < 16);
});

test('build.sh reproduces the committed images byte for byte', (t) => {
  if (!requireTools(t, ['gcc', 'as', 'ld', 'objcopy', 'readelf', 'nm'], 'VKEXEC_NO_TOOLCHAIN', 'gcc binutils')) return;
  const out = mkdtempSync(join(tmpdir(), 'vkexec-probe-build-'));
  try {
    execFileSync('bash', [join(probeKernelDir(), 'build.sh'), out], { stdio: ['ignore', 'pipe', 'pipe'] });
    const why = (f: string) =>
      `${f} built from the sources differs from the committed one: after changing the sources run build.sh and ` +
      'commit both images; with a toolchain other than Debian 12 gcc 12.2 / binutils 2.40 the bytes may differ';
    assert.ok(Buffer.from(readFileSync(join(out, 'probe-bzImage'))).equals(bz), why('probe-bzImage'));
    assert.ok(Buffer.from(readFileSync(join(out, 'probe-vmlinux'))).equals(elf), why('probe-vmlinux'));
    assert.ok(Buffer.from(readFileSync(join(out, 'probe-multiboot'))).equals(Buffer.from(probeKernelImage('multiboot'))), why('probe-multiboot'));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

/** A minimal ELF64 core header (what crash_prepare_elf64_headers produces, in shape). */
function elf64Core(phdrs: { type: number; offset: bigint; vaddr: bigint; paddr: bigint; size: bigint }[]): Uint8Array {
  const b = new Uint8Array(64 + 56 * phdrs.length);
  const v = dv(b);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 4, true); // ET_CORE
  v.setUint16(18, 62, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(32, 64n, true);
  v.setUint16(52, 64, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, phdrs.length, true);
  phdrs.forEach((p, i) => {
    const o = 64 + 56 * i;
    v.setUint32(o, p.type, true);
    v.setUint32(o + 4, 7, true);
    v.setBigUint64(o + 8, p.offset, true);
    v.setBigUint64(o + 16, p.vaddr, true);
    v.setBigUint64(o + 24, p.paddr, true);
    v.setBigUint64(o + 32, p.size, true);
    v.setBigUint64(o + 40, p.size, true);
  });
  return b;
}

interface QemuRun {
  status: number | null;
  console: string;
}

function runQemu(args: string[], limitMs: number): Promise<QemuRun> {
  return new Promise((resolve, reject) => {
    const p = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let console = '';
    p.stdout.on('data', (d: Buffer) => (console += d.toString('latin1')));
    p.stderr.on('data', (d: Buffer) => (console += d.toString('latin1')));
    const guard = setTimeout(() => p.kill('SIGKILL'), limitMs); // a hung guest fails below, not by timing
    p.on('error', reject);
    p.on('close', (status) => {
      clearTimeout(guard);
      resolve({ status, console });
    });
  });
}

test('QEMU -kernel boots probe-bzImage (SeaBIOS, 16-bit setup, 32-bit entry) and it reports what it was given', async (t) => {
  if (!requireTools(t, ['qemu-system-x86_64'], 'VKEXEC_NO_QEMU', 'qemu-system-x86')) return;
  const dir = mkdtempSync(join(tmpdir(), 'vkexec-probe-qemu-'));
  try {
    const initrd = testBytes(300_001);
    writeFileSync(join(dir, 'initrd'), initrd);
    const coreAddr = 0x5000000n; // 81920K, kexec-tools' elfcorehdr=%luK form
    const core = elf64Core([
      { type: 4, offset: 0x1000n, vaddr: 0n, paddr: 0x1000n, size: 0x400n },
      { type: 1, offset: 0x100000n, vaddr: 0xffff888000100000n, paddr: 0x100000n, size: 0x7f00000n },
    ]);
    writeFileSync(join(dir, 'core'), core);
    const cmdline = `probe "quoted words" back\\slash caf\u00e9 elfcorehdr=${coreAddr / 1024n}K`;
    const r = await runQemu(
      [
        '-accel', 'tcg', '-m', '256', '-display', 'none', '-vga', 'none', '-net', 'none', '-monitor', 'none',
        '-serial', 'stdio', '-no-reboot', '-device', 'isa-debug-exit,iobase=0x501,iosize=2',
        '-kernel', join(probeKernelDir(), 'probe-bzImage'), '-initrd', join(dir, 'initrd'), '-append', cmdline,
        '-device', `loader,file=${join(dir, 'core')},addr=0x${coreAddr.toString(16)},force-raw=on`,
      ],
      60_000,
    );
    assert.equal(r.status, (PROBE_DEBUG_EXIT_VALUE << 1) | 1, `QEMU did not exit through isa-debug-exit:\n${r.console}`);
    const rep = parseProbeReport(r.console);
    assert.equal(rep.entry, 32);
    assert.equal(rep.loadAddr, 0x100000n); // QEMU loads the protected-mode part at 1 MiB
    assert.notEqual(rep.bootParams, 0n);
    assert.equal(rep.hdr['version'], 0x20fn);
    assert.equal(rep.hdr['header'], BigInt(HDRS_MAGIC));
    assert.equal(rep.hdr['init_size'], 0x18000n);
    assert.equal(rep.hdr['code32_start'], rep.loadAddr);
    assert.equal(rep.cmdline?.state, 'ok');
    assert.equal(rep.cmdline?.text, Buffer.from(cmdline, 'utf8').toString('latin1'));
    assert.equal(rep.initrd?.size, BigInt(initrd.length));
    assert.equal(rep.initrd?.sha256, sha256(initrd));
    assert.ok(rep.e820.length > 0 && rep.e820.length === rep.e820Count);
    const ram = rep.e820.find((e) => e.type === 1 && e.addr <= rep.loadAddr && rep.loadAddr < e.addr + e.size);
    assert.ok(ram, 'no E820 RAM entry holds the kernel');
    assert.equal(rep.elfcorehdr?.addr, coreAddr);
    assert.equal(rep.elfcorehdr?.state, 'ok');
    assert.equal(rep.elfcorehdr?.class, 64);
    assert.equal(rep.elfcorehdr?.type, 4);
    assert.equal(rep.elfcorehdr?.machine, 62);
    assert.deepEqual(rep.elfcorehdr?.phdrs[1], {
      type: 1, offset: 0x100000n, vaddr: 0xffff888000100000n, paddr: 0x100000n, filesz: 0x7f00000n, memsz: 0x7f00000n,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('64-bit entry (QEMU engine, long64 hand-off): kernel, boot_params, command line, initrd, setup_data above 4 GiB', async (t) => {
  if (!requireTools(t, ['qemu-system-x86_64'], 'VKEXEC_NO_QEMU', 'qemu-system-x86')) return;
  const G = 1n << 30n;
  const ram = 5n * G; // the engine's machine: 3 GiB below 4 GiB, 2 GiB from 4 GiB up
  const e820 = [
    { addr: 0n, size: 0x9fc00n, type: 1 },
    { addr: 0x100000n, size: 3n * G - 0x100000n, type: 1 },
    { addr: 4n * G, size: 2n * G, type: 1 },
  ];
  const KADDR = 4n * G + 0x203000n; // page aligned, not 2 MiB aligned
  const BP = 4n * G + 0x100000n, CMD = BP + 0x1000n, SD = BP + 0x2000n, CORE = BP + 0x4000n, INITRD = 4n * G + 0x800000n;
  const initrd = testBytes(1_000_003);
  const cmd = Buffer.from(`long64 elfcorehdr=0x200@0x${CORE.toString(16)}\0`, 'latin1');
  const bp = new Uint8Array(4096);
  const v = dv(bp);
  bp.set(bz.subarray(0x1f1, 0x202 + bz[0x201]!), 0x1f1);
  bp[0x210] = 0xd0;
  const lo = (x: bigint) => Number(x & 0xffffffffn);
  const hi = (x: bigint) => Number(x >> 32n);
  v.setUint32(0x228, lo(CMD), true);
  v.setUint32(0xc8, hi(CMD), true);
  v.setUint32(0x218, lo(INITRD), true);
  v.setUint32(0xc0, hi(INITRD), true);
  v.setUint32(0x21c, initrd.length, true);
  e820.forEach((e, i) => {
    v.setBigUint64(0x2d0 + 20 * i, e.addr, true);
    v.setBigUint64(0x2d8 + 20 * i, e.size, true);
    v.setUint32(0x2e0 + 20 * i, e.type, true);
  });
  bp[0x1e8] = e820.length;
  v.setBigUint64(0x250, SD, true);
  // setup_data chain, newest first as kexec builds it: RNG seed -> an opaque node -> SETUP_INDIRECT.
  const sd = new Uint8Array(0x300);
  const sv = dv(sd);
  sv.setBigUint64(0, SD + 0x100n, true);
  sv.setUint32(8, 9, true);
  sv.setUint32(12, 32, true);
  sd.fill(0xa5, 16, 48);
  sv.setBigUint64(0x100, SD + 0x200n, true);
  sv.setUint32(0x108, 0x1234, true);
  sv.setUint32(0x10c, 40, true);
  for (let i = 0; i < 40; i++) sd[0x110 + i] = i;
  sv.setUint32(0x208, 0x80000000, true);
  sv.setUint32(0x20c, 24, true);
  sv.setUint32(0x210, 0x80000001, true);
  sv.setBigUint64(0x218, 0x40n, true);
  sv.setBigUint64(0x220, 0x12345000n, true);
  // ELF32 core header (kexec-tools --elf32-core-headers), 2 phdrs.
  const core = new Uint8Array(52 + 2 * 32);
  const cv = dv(core);
  core.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  cv.setUint16(16, 4, true);
  cv.setUint16(18, 3, true);
  cv.setUint32(28, 52, true);
  cv.setUint16(42, 32, true);
  cv.setUint16(44, 2, true);
  [[4, 0x1000, 0, 0x1000, 0x100], [1, 0x100000, 0xc0100000, 0x100000, 0x700000]].forEach(([ty, off, va, pa, sz], i) => {
    [ty, off, va, pa, sz, sz].forEach((x, j) => cv.setUint32(52 + 32 * i + 4 * j, x!, true));
  });
  const bytes = (addr: bigint, data: Uint8Array): Extent => ({ addr, length: data.length, kind: 'bytes', data });
  const image = {
    ramSize: ram,
    e820,
    extents: [bytes(BP, bp), bytes(CMD, cmd), bytes(SD, sd), bytes(CORE, core), bytes(KADDR, pm), bytes(INITRD, initrd)],
  };
  let consoleText = '';
  const echo = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      consoleText += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
      done();
    },
  });
  const out = await new QemuEngine().boot(image, { mode: 'long64', entry: KADDR + 0x200n, rsi: BP }, { timeoutMs: 60_000, accel: 'tcg', echo });
  assert.equal(out.status, 'poweroff', out.details.join('\n'));
  const rep = parseProbeReport(consoleText);
  assert.equal(rep.entry, 64);
  assert.equal(rep.loadAddr, KADDR);
  assert.equal(rep.bootParams, BP);
  assert.equal(rep.rdi, 0n);
  assert.equal(rep.bp['ext_cmd_line_ptr'], 1n);
  assert.deepEqual(rep.cmdline, { addr: CMD, state: 'ok', text: cmd.subarray(0, -1).toString('latin1'), truncated: false });
  assert.deepEqual(rep.initrd, { addr: INITRD, size: BigInt(initrd.length), state: 'ok', sha256: sha256(initrd) });
  assert.deepEqual(rep.e820, e820);
  assert.deepEqual(rep.setupData, [
    { addr: SD, reachable: true, type: 9, len: 32 },
    { addr: SD + 0x100n, reachable: true, type: 0x1234, len: 40, data: sd.slice(0x110, 0x130) },
    { addr: SD + 0x200n, reachable: true, type: 0x80000000, len: 24, indirect: { type: 0x80000001, len: 0x40n, addr: 0x12345000n } },
  ]);
  assert.deepEqual(rep.elfcorehdr, {
    addr: CORE, size: 0x200n, state: 'ok', class: 32, type: 4, machine: 3, phoff: 52n, phnum: 2,
    phdrs: [
      { type: 4, offset: 0x1000n, vaddr: 0n, paddr: 0x1000n, filesz: 0x100n, memsz: 0x100n },
      { type: 1, offset: 0x100000n, vaddr: 0xc0100000n, paddr: 0x100000n, filesz: 0x700000n, memsz: 0x700000n },
    ],
  });
});

type V86Ctor = new (opts: Record<string, unknown>) => {
  add_listener(ev: string, fn: (arg: number) => void): void;
  write_memory(blob: Uint8Array, offset: number): void;
  run(): void;
  destroy(): Promise<void>;
};

function v86Wasm(): string {
  return join(dirname(fileURLToPath(import.meta.resolve('v86'))), 'v86.wasm');
}

const ab = (b: Uint8Array): ArrayBuffer => b.slice().buffer;

/** Runs v86 until the probe's POWEROFF line (or `limitMs`), with `prepare` writing memory before the CPU starts. */
async function runV86(opts: Record<string, unknown>, prepare: (emu: InstanceType<V86Ctor>) => void, limitMs: number): Promise<string> {
  const { V86 } = (await import('v86')) as unknown as { V86: V86Ctor };
  const emu = new V86({
    wasm_path: v86Wasm(), memory_size: 128 << 20, autostart: false,
    disable_keyboard: true, disable_mouse: true, disable_speaker: true, ...opts,
  });
  let out = '';
  try {
    await new Promise<void>((resolve) => {
      const guard = setTimeout(resolve, limitMs);
      emu.add_listener('emulator-ready', () => {
        prepare(emu);
        emu.run();
      });
      emu.add_listener('serial0-output-byte', (b) => {
        out += String.fromCharCode(b);
        if (out.endsWith('VKEXEC-PROBE-POWEROFF\r\n')) {
          clearTimeout(guard);
          resolve();
        }
      });
    });
  } finally {
    await emu.destroy();
  }
  return out;
}

test('v86 (no BIOS): 32-bit entry at an odd 4 KiB-aligned address with loader-built boot_params', async () => {
  const KADDR = 0x1203000, BP = 0x10000, CMD = 0x11000, INITRD = 0x2345000, STUB = 0x8000;
  // Multiboot stub (a.out kludge) standing in for a purgatory: ESI = boot_params, EBX/EBP/EDI = 0, jump.
  const stub = new Uint8Array(64);
  const sv = dv(stub);
  [0x1badb002, 0x00010000, (-(0x1badb002 + 0x00010000)) >>> 0, STUB, STUB, STUB + 64, STUB + 64, STUB + 32].forEach(
    (x, i) => sv.setUint32(4 * i, x, true),
  );
  stub.set([0xbe, 0, 0, 0, 0, 0x31, 0xdb, 0x31, 0xed, 0x31, 0xff, 0xb8, 0, 0, 0, 0, 0xff, 0xe0], 32);
  sv.setUint32(33, BP, true);
  sv.setUint32(44, KADDR, true);
  const initrd = testBytes(65_537);
  const cmd = Buffer.from('console=ttyS0 v86 nobios\0', 'latin1');
  const bp = new Uint8Array(4096);
  bp.set(bz.subarray(0x1f1, 0x202 + bz[0x201]!), 0x1f1);
  const bpv = dv(bp);
  bp[0x210] = 0xd0;
  bpv.setUint32(0x228, CMD, true);
  bpv.setUint32(0x218, INITRD, true);
  bpv.setUint32(0x21c, initrd.length, true);
  const e820: [number, number, number][] = [[0, 0x9fc00, 1], [0x100000, 0x7f00000, 1]];
  e820.forEach(([a, s, ty], i) => {
    bpv.setBigUint64(0x2d0 + 20 * i, BigInt(a), true);
    bpv.setBigUint64(0x2d8 + 20 * i, BigInt(s), true);
    bpv.setUint32(0x2e0 + 20 * i, ty, true);
  });
  bp[0x1e8] = e820.length;
  const out = await runV86({ multiboot: { buffer: ab(stub) } }, (emu) => {
    emu.write_memory(pm, KADDR);
    emu.write_memory(bp, BP);
    emu.write_memory(cmd, CMD);
    emu.write_memory(initrd, INITRD);
  }, 60_000);
  const rep = parseProbeReport(out);
  assert.equal(rep.poweroff, true);
  assert.equal(rep.entry, 32);
  assert.equal(rep.loadAddr, BigInt(KADDR));
  assert.equal(rep.bootParams, BigInt(BP));
  assert.equal(rep.hdr['type_of_loader'], 0xd0n);
  assert.equal(rep.cmdline?.text, 'console=ttyS0 v86 nobios');
  assert.equal(rep.initrd?.addr, BigInt(INITRD));
  assert.equal(rep.initrd?.sha256, sha256(initrd));
  assert.deepEqual(rep.e820.map((e) => [Number(e.addr), Number(e.size), e.type]), e820);
  assert.equal(rep.setupData.length, 0);
});

test('v86 with SeaBIOS boots probe-bzImage through its 16-bit setup', async (t) => {
  const biosPath = '/usr/share/seabios/bios.bin';
  const vgaPath = '/usr/share/seabios/vgabios-stdvga.bin';
  if (!requireTools(t, [biosPath, vgaPath], 'VKEXEC_NO_QEMU', 'seabios')) return;
  const initrd = testBytes(4097);
  const out = await runV86(
    {
      bios: { buffer: ab(readFileSync(biosPath)) }, vga_bios: { buffer: ab(readFileSync(vgaPath)) },
      bzimage: { buffer: ab(bz) }, initrd: { buffer: ab(initrd) }, cmdline: 'hello from v86',
    },
    () => {},
    60_000,
  );
  const rep = parseProbeReport(out);
  assert.equal(rep.entry, 32);
  assert.equal(rep.loadAddr, 0x100000n);
  assert.equal(rep.cmdline?.text, 'hello from v86');
  assert.equal(rep.initrd?.sha256, sha256(initrd));
  assert.ok(rep.e820.some((e) => e.type === 1 && e.addr === 0x100000n));
});

// Output of the 64-bit entry (a long-mode harness that placed everything above 4 GiB), with console noise.
const SAMPLE64 = [
  'SeaBIOS (version 1.16.2-debian-1.16.2-1)\r',
  'Booting from ROM..\x1b[2J',
  'VKEXEC-PROBE-BEGIN',
  'probe: 1',
  'entry: 64',
  'load_addr: 0x100203000',
  'boot_params: 0x100100000',
  'rdi: 0x0',
  'hdr.version: 0x20f',
  'hdr.type_of_loader: 0xd0',
  'hdr.setup_data: 0x100102000',
  'bp.ext_ramdisk_image: 0x1',
  'bp.ext_cmd_line_ptr: 0x1',
  'cmdline.addr: 0x100101000',
  'cmdline.len: 39',
  'cmdline: "a \\"b\\" c\\\\d \\x09\\xff elfcorehdr=0x100104000"',
  'garbage that is not a report line',
  'initrd.addr: 0x100800000',
  'initrd.size: 0x493e1',
  'initrd.sha256: 145775b0226926864d42e3bdf8f413c0acb4b46ca3962f641ef9e8cd63f2d93c',
  'e820.count: 2',
  'e820.0: addr=0x0 size=0x9fc00 type=0x1',
  'e820.1: addr=0x100000000 size=0x80000000 type=0x1',
  'setup_data.0: addr=0x100102000 type=0x9 len=0x20',
  'setup_data.1: addr=0x100102100 type=0x1 len=0x14 data=0090785634120000001000000000000001000000',
  'setup_data.2: addr=0x100102200 type=0x80000000 len=0x18 indirect_type=0x80000001 indirect_len=0x40 indirect_addr=0x12345000',
  'setup_data.count: 3',
  'elfcorehdr.addr: 0x100104000',
  'elfcorehdr.ehdr: class=32 type=0x4 machine=0x3 phoff=0x34 phnum=3',
  'elfcorehdr.phdr.0: type=0x4 offset=0x1000 vaddr=0xc0000000 paddr=0x100000 filesz=0x10 memsz=0x20',
  'elfcorehdr.phdr.2: type=0x1 offset=0x3000 vaddr=0xc0000002 paddr=0x300000 filesz=0x30 memsz=0x60',
  'VKEXEC-PROBE-END',
  'VKEXEC-PROBE-POWEROFF',
  '',
].join('\r\n');

test('parseProbeReport: a full 64-bit report among console noise', () => {
  const r = parseProbeReport(SAMPLE64);
  assert.equal(r.entry, 64);
  assert.equal(r.loadAddr, 0x100203000n);
  assert.equal(r.bootParams, 0x100100000n);
  assert.equal(r.rdi, 0n);
  assert.equal(r.hdr['version'], 0x20fn);
  assert.equal(r.bp['ext_cmd_line_ptr'], 1n);
  assert.deepEqual(r.cmdline, { addr: 0x100101000n, state: 'ok', text: 'a "b" c\\d \t\xff elfcorehdr=0x100104000', truncated: false });
  assert.deepEqual(r.initrd, {
    addr: 0x100800000n, size: 0x493e1n, state: 'ok',
    sha256: '145775b0226926864d42e3bdf8f413c0acb4b46ca3962f641ef9e8cd63f2d93c',
  });
  assert.equal(r.e820Count, 2);
  assert.deepEqual(r.e820[1], { addr: 0x100000000n, size: 0x80000000n, type: 1 });
  assert.equal(r.setupData.length, 3);
  assert.deepEqual(r.setupData[0], { addr: 0x100102000n, reachable: true, type: 9, len: 32 });
  assert.deepEqual([...r.setupData[1]!.data!], [0x00, 0x90, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(r.setupData[2]!.indirect, { type: 0x80000001, len: 0x40n, addr: 0x12345000n });
  assert.equal(r.setupDataTruncated, false);
  assert.equal(r.elfcorehdr?.class, 32);
  assert.equal(r.elfcorehdr?.phnum, 3);
  assert.deepEqual(r.elfcorehdr?.phdrs.map((p) => p.paddr), [0x100000n, 0x300000n]); // phdr 1 was not listed
  assert.equal(r.poweroff, true);
  assert.deepEqual(r.noise, ['garbage that is not a report line']);
});

test('parseProbeReport: --args-elf boot notes, missing boot_params, unreachable/none states', () => {
  const notes = parseProbeReport(
    'x VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 64\nload_addr: 0x1000000\nboot_params: 0x0\nrdi: 0x7ffe000\n' +
      'bootnotes.addr: 0x7ffe000\nbootnotes.size: 0x58\nbootnotes.records: 3\nbootnotes.bootloader: "kexec"\n' +
      'bootnotes.bootloader_version: "kexec-tools 2.0.32"\nbootnotes.cmdline: "root=/dev/sda"\nVKEXEC-PROBE-END\n',
  );
  assert.equal(notes.cmdline, undefined);
  assert.deepEqual(notes.bootnotes, {
    addr: 0x7ffe000n, size: 0x58n, records: 3, bootloader: 'kexec', bootloaderVersion: 'kexec-tools 2.0.32', cmdline: 'root=/dev/sda',
  });
  assert.equal(notes.poweroff, false);
  const states = parseProbeReport(
    'VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 32\nload_addr: 0x100000\nboot_params: 0x90000\ncmdline.addr: 0x0\ncmdline: none\n' +
      'initrd.addr: 0x140000000\ninitrd.size: 0x1000\ninitrd.sha256: unreachable\ne820.count: 0\n' +
      'setup_data.0: addr=0x180000000 unreachable\nsetup_data.count: 1\nelfcorehdr.addr: 0x1000\nelfcorehdr.size: 0x2000\n' +
      'elfcorehdr.ehdr: bad-magic\nVKEXEC-PROBE-END\n',
  );
  assert.deepEqual(states.cmdline, { addr: 0n, state: 'none', truncated: false });
  assert.deepEqual(states.initrd, { addr: 0x140000000n, size: 0x1000n, state: 'unreachable' });
  assert.deepEqual(states.setupData, [{ addr: 0x180000000n, reachable: false }]);
  assert.deepEqual(states.elfcorehdr, { addr: 0x1000n, size: 0x2000n, state: 'bad-magic', phdrs: [] });
});

test('parseProbeReports: every complete report in order; parseProbeReport takes the last', () => {
  const one = (load: string) => `VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 64\nload_addr: ${load}\nboot_params: 0x1000\nVKEXEC-PROBE-END\n`;
  const text = one('0x1000000') + 'kexec: Starting new kernel\n' + one('0x3000000') + 'VKEXEC-PROBE-POWEROFF\n';
  assert.deepEqual(parseProbeReports(text).map((r) => [r.loadAddr, r.poweroff]), [[0x1000000n, false], [0x3000000n, true]]);
  assert.equal(parseProbeReport(text).loadAddr, 0x3000000n);
});

test('parseProbeReport refuses what is not a usable report, saying why', () => {
  const bad: [string, RegExp][] = [
    ['SeaBIOS\nBooting from ROM..\n', /no VKEXEC-PROBE-BEGIN line/],
    ['VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 32\n', /VKEXEC-PROBE-END never was/],
    ['VKEXEC-PROBE-BEGIN\nprobe: 2\nentry: 32\nload_addr: 0x0\nboot_params: 0x0\nVKEXEC-PROBE-END\n', /format version 2/],
    ['VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 32\nboot_params: 0x0\nVKEXEC-PROBE-END\n', /"load_addr: \.\.\." is missing/],
    ['VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 16\nload_addr: 0x0\nboot_params: 0x0\nVKEXEC-PROBE-END\n', /entry: 16/],
    ['VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 32\nload_addr: 0x1g\nboot_params: 0x0\nVKEXEC-PROBE-END\n', /load_addr: expected a 0x number/],
    ['VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 32\nload_addr: 0x0\nboot_params: 0x0\ncmdline.addr: 0x10\ncmdline: "a\\q"\nVKEXEC-PROBE-END\n', /cmdline: bad escape/],
    ['VKEXEC-PROBE-BEGIN\nprobe: 1\nentry: 32\nload_addr: 0x0\nboot_params: 0x0\ne820.0: addr=0x0 type=0x1\nVKEXEC-PROBE-END\n', /e820\.0: missing size=/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseProbeReport(text), (e: unknown) => e instanceof UsageError && re.test(e.message), text);
  }
});

test('probeKernelPath / probeKernelImage: the committed files, found from the compiled module', () => {
  assert.ok(probeKernelPath('bzImage').endsWith('/src/arch/x86/probe-kernel/probe-bzImage'));
  assert.ok(Buffer.from(readFileSync(probeKernelPath('elf'))).equals(elf));
  assert.equal(readField(bz, SETUP_HEADER.boot_flag), BOOT_FLAG);
});
