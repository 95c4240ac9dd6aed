// load_crashdump_segments on the machine's own /proc, /sys views: a 1 GiB x86_64 pc with crashkernel=256M,
// an i386 one, a 6 GiB one with a high+low reservation, and synthetic edge cases. Every program header is
// checked against kexec-tools' rules computed here independently, and the header bytes are cross-checked
// with binutils' readelf on a sparse "vmcore" carrying synthetic notes at the machine's crash_notes addresses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../../src/errno.js';
import { ElfFormatError, EM_386, EM_X86_64, ET_CORE, PF_R, PF_W, PF_X, PT_LOAD, PT_NOTE } from '../../../../src/formats/elf.js';
import { NT_PRSTATUS, parseVmcoreinfo, readElfCoreHeader, readElfNotes } from '../../../../src/formats/elf-core.js';
import { crashPrepareElf64Headers } from '../../../../src/vm/kernel/crash-core.js';
import { COMMAND_LINE_SIZE, loadCrashdumpSegments, type CrashdumpSegments } from '../../../../src/kexec/arch/x86/crashdump-x86.js';
import type { Debug } from '../../../../src/kexec/debug.js';
import { KexecInfo } from '../../../../src/kexec/kexec-info.js';
import { type MemoryRange, RANGE, type SystemFiles, crashKernelRanges, getMemoryRanges } from '../../../../src/kexec/memory-ranges.js';
import { ENOCRASHKERNEL, LoadFailed, NoCrashKernelSegment, type LoadRequest } from '../../../../src/kexec/file-type.js';
import { parseCrashkernel, reserveCrashkernel } from '../../../../src/vm/machine/crashkernel.js';
import { type Resource, formatIomem, parseIomem, walkResources } from '../../../../src/vm/machine/iomem.js';
import { KEXEC_ON_CRASH } from '../../../../src/vm/kernel/kexec-load.js';
import { KERNEL_BRK_SIZE } from '../../../../src/vm/machine/running-kernel.js';
import { CRASH_NOTES_SIZE, STUB_RESERVED_END, VMCOREINFO_NOTE_SIZE, type MachineArch, crashNotesAddr, defaultIomem, vmcoreinfoNoteAddr } from '../../../../src/vm/machine/machine-config.js';
import { defaultConfig, newState } from '../../../../src/vm/machine/machine.js';
import { readView } from '../../../../src/vm/machine/views.js';

const GiB = 1n << 30n;
const RWX = PF_R | PF_W | PF_X;
const X86_64_PAGE_OFFSET = 0xffff888000000000n;
const CMDLINE = 'root=/dev/vda1 ro console=ttyS0';

interface Machine {
  files: SystemFiles;
  cpus: number;
}

function machine(opts: { mem: bigint; cpus?: number; arch?: MachineArch; crashkernel?: string[] }): Machine {
  const config = defaultConfig();
  config.arch = opts.arch ?? 'x86_64';
  config.memBytes = opts.mem;
  config.cpus = opts.cpus ?? 2;
  config.iomem = realPcIomem(opts.mem);
  if (opts.crashkernel) reserveCrashkernel(config.iomem, parseCrashkernel(opts.crashkernel, opts.mem));
  const state = newState(config);
  return { files: (p) => readView(state, p), cpus: config.cpus };
}

/**
 * The map Linux shows on a QEMU pc: only page 0 reserved, low RAM from 0x1000. vkexec's default map reserves
 * up to STUB_RESERVED_END for its engines' stubs; these tests check kexec-tools' rules on a real machine's map.
 */
function realPcIomem(mem: bigint): Resource[] {
  const map = defaultIomem(mem);
  assert.deepEqual([map[0]!.end, map[1]!.start], [STUB_RESERVED_END - 1n, STUB_RESERVED_END]);
  map[0] = { ...map[0]!, end: 0xfffn };
  map[1] = { ...map[1]!, start: 0x1000n };
  return map;
}

/** The same machine with /proc/iomem replaced (for maps crashkernel= cannot produce). */
function withIomem(m: Machine, iomem: string): Machine {
  return { ...m, files: (p) => (p === '/proc/iomem' ? iomem : p.startsWith('/sys/firmware/memmap') ? null : m.files(p)) };
}

interface Run {
  result: CrashdumpSegments;
  info: KexecInfo;
  crash: { start: bigint; end: bigint };
  debug: string[];
}

/** What my_load does before a loader runs (get_memory_ranges, mem_min/mem_max from the crash region), then the call. */
function run(m: Machine, opts: { arch?: MachineArch; cmdline?: string | null; req?: Partial<LoadRequest> } = {}): Run {
  const lines: string[] = [];
  const debug: Debug = { enabled: true, print: (l) => void lines.push(l) };
  const info = new KexecInfo(getMemoryRanges(m.files), KEXEC_ON_CRASH, debug);
  const regions = crashKernelRanges(m.files);
  const crash = regions[regions.length - 1] ?? { start: 0n, end: 0n };
  if (regions.length > 0) {
    info.memMin = crash.start;
    info.memMax = crash.end;
  }
  const req: LoadRequest = {
    kernelPath: '/boot/vmlinuz',
    kernel: new Uint8Array(0),
    cmdline: opts.cmdline === undefined ? CMDLINE : opts.cmdline,
    initrd: null,
    arch: opts.arch ?? 'x86_64',
    crash: true,
    entry32bit: false,
    realMode: false,
    argsMode: 'linux',
    console: { resetVga: false, consoleVga: false, consoleSerial: false, serialBase: 0x3f8, serialBaud: 115200 },
    files: m.files,
    debug,
    ...opts.req,
  };
  const result = loadCrashdumpSegments(info, req, req.cmdline);
  return { result, info, crash, debug: lines };
}

type Range = { start: bigint; end: bigint };

/** [r] minus every hole, as sorted pieces. */
function subtract(r: Range, holes: Range[]): Range[] {
  let pieces = [r];
  for (const h of holes) {
    pieces = pieces.flatMap((p) => {
      if (h.end < p.start || h.start > p.end) return [p];
      const out: Range[] = [];
      if (h.start > p.start) out.push({ start: p.start, end: h.start - 1n });
      if (h.end < p.end) out.push({ start: h.end + 1n, end: p.end });
      return out;
    });
  }
  return pieces;
}

/** Every /proc/iomem line (nested ones too), as kexec-tools scans it. */
function iomemLines(files: SystemFiles) {
  return [...walkResources(parseIomem(files('/proc/iomem')!))];
}

function segmentOf(info: KexecInfo, mem: bigint) {
  const s = info.segments.find((x) => x.mem === mem);
  assert.ok(s, `no segment at 0x${mem.toString(16)}`);
  return s;
}

const hex = (v: bigint) => '0x' + v.toString(16);

test('x86_64, 1 GiB, 2 CPUs, crashkernel=256M: segments, ELF64 header, command line, crash memmap', () => {
  const m = machine({ mem: GiB, crashkernel: ['256M'] });
  const { result, info, crash, debug } = run(m);
  const { backup, elfcorehdr } = result;
  // crashkernel.ts puts 256M top-down at 16 MiB alignment below the reserved top 128 KiB.
  assert.deepEqual(crash, { start: 0x2f000000n, end: 0x3effffffn });

  // Two segments, both inside the crash region: backup highest, then the header just below it.
  assert.equal(info.segments.length, 2);
  for (const s of info.segments) {
    assert.ok(s.mem >= crash.start && s.mem + s.memsz - 1n <= crash.end, `segment ${hex(s.mem)}+${hex(s.memsz)} outside the crash region`);
  }
  // get_backup_area: the first RAM line ending at or below 0xa0000 is 0x1000-0x9fbff.
  assert.deepEqual({ srcStart: backup.srcStart, srcSize: backup.srcSize }, { srcStart: 0x1000n, srcSize: 0x9ec00n });
  const b = segmentOf(info, backup.start);
  assert.equal(b.bufsz, 0x9ec00); // ALIGN(src size, 1024) of zeros
  assert.equal(b.memsz, 0x9f000n); // add_buffer rounds to a page
  assert.equal(backup.start, crash.end + 1n - 0x9f000n);
  const h = segmentOf(info, elfcorehdr);
  assert.equal(h.memsz, 0x4000n); // 16 KiB minimum
  assert.equal(elfcorehdr, backup.start - 0x4000n);
  assert.equal(elfcorehdr, 0x3ef5d000n);
  assert.equal(h.bufsz, result.elfHeader.length);
  assert.equal(h.buf?.kind === 'bytes' ? h.buf.data : null, result.elfHeader);

  // Command line: the given one plus elfcorehdr in KiB; no acpi_rsdp= (no boot_params RSDP, no EFI systab).
  assert.equal(result.cmdline, `${CMDLINE} elfcorehdr=${elfcorehdr / 1024n}K`);
  assert.equal(result.cmdline, `${CMDLINE} elfcorehdr=1031540K`);
  assert.deepEqual(result.stdout, []);

  // The header: ELF64 ET_CORE EM_X86_64, padded to 1 KiB.
  const hdr = readElfCoreHeader(result.elfHeader);
  assert.equal(result.elfHeader.length, 1024);
  assert.equal(hdr.class, 64);
  assert.equal(hdr.type, ET_CORE);
  assert.equal(hdr.machine, EM_X86_64);
  assert.equal(hdr.phoff, 64n);
  const ph = hdr.phdrs;
  // Per-CPU notes at the machine's crash_notes addresses, then vmcoreinfo.
  for (let cpu = 0; cpu < 2; cpu++) {
    assert.deepEqual(
      { type: ph[cpu]!.type, flags: ph[cpu]!.flags, offset: ph[cpu]!.offset, paddr: ph[cpu]!.paddr, vaddr: ph[cpu]!.vaddr, filesz: ph[cpu]!.filesz, memsz: ph[cpu]!.memsz },
      { type: PT_NOTE, flags: 0, offset: crashNotesAddr(cpu), paddr: crashNotesAddr(cpu), vaddr: 0n, filesz: CRASH_NOTES_SIZE, memsz: CRASH_NOTES_SIZE },
    );
  }
  assert.equal(ph[2]!.type, PT_NOTE);
  assert.equal(ph[2]!.offset, vmcoreinfoNoteAddr());
  assert.equal(ph[2]!.paddr, vmcoreinfoNoteAddr());
  assert.equal(ph[2]!.filesz, VMCOREINFO_NOTE_SIZE);
  // Kernel text: "Kernel code" physically, _text virtually (no KASLR), to _end (end of "Kernel bss").
  const lines = iomemLines(m.files);
  const code = lines.find((r) => r.name === 'Kernel code')!;
  const bss = lines.find((r) => r.name === 'Kernel bss')!;
  assert.deepEqual(
    { type: ph[3]!.type, flags: ph[3]!.flags, offset: ph[3]!.offset, paddr: ph[3]!.paddr, vaddr: ph[3]!.vaddr, filesz: ph[3]!.filesz },
    { type: PT_LOAD, flags: RWX, offset: code.start, paddr: code.start, vaddr: 0xffffffff81000000n, filesz: bss.end + 1n - code.start + KERNEL_BRK_SIZE },
  );
  assert.equal(ph[3]!.filesz, 0x2030000n); // /proc/kcore's [_text, _end): .brk included
  // One PT_LOAD per System RAM line, crash region cut out; the low 640 KiB read from the backup copy.
  const ram = lines.filter((r) => r.name.includes('System RAM')).flatMap((r) => subtract(r, [crash]));
  const loads = ph.slice(4);
  assert.equal(loads.length, ram.length);
  assert.equal(hdr.phnum, 4 + ram.length);
  loads.forEach((p, i) => {
    const r = ram[i]!;
    const size = r.end - r.start + 1n;
    assert.deepEqual(
      { type: p.type, flags: p.flags, paddr: p.paddr, vaddr: p.vaddr, filesz: p.filesz, memsz: p.memsz, align: p.align },
      { type: PT_LOAD, flags: RWX, paddr: r.start, vaddr: r.start + X86_64_PAGE_OFFSET, filesz: size, memsz: size, align: 0n },
      `PT_LOAD ${i}`,
    );
    assert.equal(p.offset, r.start === backup.srcStart && size === backup.srcSize ? backup.start : r.start, `PT_LOAD ${i} offset`);
  });
  assert.deepEqual(
    loads.map((p) => [p.paddr, p.filesz]),
    [[0x1000n, 0x9ec00n], [0x100000n, 0x2ef00000n], [0x3f000000n, 0xfe0000n]],
  );

  // Crash memmap: backup source and crash region as RAM minus the two segments (memsz of each as kexec-tools
  // passes it: the backup's unrounded size, the header's 16 KiB), then every reserved/ACPI line.
  const backupSize = 0x9ec00n;
  const expected: MemoryRange[] = [
    { start: backup.srcStart, end: backup.srcStart + backup.srcSize - 1n, type: RANGE.RAM },
    ...subtract(crash, [{ start: backup.start, end: backup.start + backupSize - 1n }, { start: elfcorehdr, end: elfcorehdr + 0x4000n - 1n }]).map((r) => ({ ...r, type: RANGE.RAM })),
    ...lines.filter((r) => r.name === 'Reserved' || r.name === 'reserved').map((r) => ({ start: r.start, end: r.end, type: RANGE.RESERVED })),
    ...lines.filter((r) => r.name === 'ACPI Tables').map((r) => ({ start: r.start, end: r.end, type: RANGE.ACPI })),
  ].sort((a, b) => (a.start < b.start ? -1 : 1));
  assert.deepEqual(info.crashRanges, expected);
  assert.ok(expected.some((r) => r.type === RANGE.ACPI && r.start === 0x3ffe0000n), 'the default map\'s ACPI tables reach the capture kernel');
  assert.deepEqual(
    info.crashRanges!.filter((r) => r.type === RANGE.RAM).map((r) => [r.start, r.end]),
    [[0x1000n, 0x9fbffn], [0x2f000000n, 0x3ef5cfffn], [0x3efffc00n, 0x3effffffn]],
  );

  // kexec-tools' -d lines.
  for (const want of [
    'CRASH MEMORY RANGES',
    'get_backup_area: 0000000000001000-000000000009fbff : System RAM',
    'kernel load physical addr start = 0x0000000001000000',
    'kernel symbol _stext vaddr = ffffffff81001000',
    'kernel vaddr = 0xffffffff81000000 size = 0x2030000',
    `get_crash_notes_per_cpu: crash_notes addr = ${crashNotesAddr(1).toString(16)}, size = ${CRASH_NOTES_SIZE}`,
    'Created backup segment at 0x3ef61000',
    'Created elf header segment at 0x3ef5d000',
    'Command line after adding elfcorehdr',
    `${CMDLINE} elfcorehdr=1031540K`,
    'Kernel text Elf header: p_type = 1, p_offset = 0x1000000 p_paddr = 0x1000000 p_vaddr = 0xffffffff81000000 p_filesz = 0x2030000 p_memsz = 0x2030000',
  ]) {
    assert.ok(debug.includes(want), `debug output lacks ${JSON.stringify(want)}`);
  }
  assert.ok(debug.includes('0000000001000000-0000000001e01fff : Kernel code'), 'every iomem line is echoed, nested ones too');
});

/** Writes the header at 0 of a sparse file as large as the highest segment, with notes at their offsets. */
function writeVmcore(path: string, header: Uint8Array, phdrs: ReturnType<typeof readElfCoreHeader>['phdrs'], notes: Map<bigint, Uint8Array>): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header, 0, header.length, 0);
    for (const [at, bytes] of notes) writeSync(fd, bytes, 0, bytes.length, Number(at));
    const end = phdrs.reduce((mx, p) => (p.offset + p.filesz > mx ? p.offset + p.filesz : mx), BigInt(header.length));
    ftruncateSync(fd, Number(end));
  } finally {
    closeSync(fd);
  }
}

function note(name: string, type: number, desc: Uint8Array): Uint8Array {
  const nameBytes = Buffer.from(name + '\0', 'latin1');
  const pad = (n: number) => (n + 3) & ~3;
  const out = new Uint8Array(12 + pad(nameBytes.length) + pad(desc.length));
  const v = new DataView(out.buffer);
  v.setUint32(0, nameBytes.length, true);
  v.setUint32(4, desc.length, true);
  v.setUint32(8, type, true);
  out.set(nameBytes, 12);
  out.set(desc, 12 + pad(nameBytes.length));
  return out;
}

/**
 * readelf's stdout. Its stderr may only hold "Corrupt note" warnings: a raw crash_notes or vmcoreinfo buffer is
 * zero-padded past its notes (/proc/vmcore trims PT_NOTE sizes; a header straight from kexec does not).
 */
function readelf(args: string[]): string {
  const r = spawnSync('readelf', args, { encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    assert.fail('readelf is not installed: apt-get install -y binutils (this test cannot run without it)');
  }
  assert.equal(r.status, 0, r.stderr);
  const unexpected = r.stderr.split('\n').filter((l) => l !== '' && !/Warning: Corrupt note: only \d+ bytes remain/.test(l));
  assert.deepEqual(unexpected, [], 'readelf complained');
  return r.stdout;
}

for (const coreHeaderType of ['elf64', 'elf32'] as const) {
  test(`readelf -lnW agrees with the ${coreHeaderType} header (notes synthesised at the crash_notes addresses)`, () => {
    const m = machine({ mem: GiB, crashkernel: ['256M'] });
    const { result } = run(m, { req: { coreHeaderType } });
    const hdr = readElfCoreHeader(result.elfHeader);
    // x86_64 kexec-tools accepts --elf32-core-headers and ignores it (its arch_options stay ELF64).
    assert.equal(hdr.class, 64);
    assert.equal(hdr.machine, EM_X86_64);
    // Synthetic notes where the running kernel keeps them: a CORE/NT_PRSTATUS per CPU, then VMCOREINFO.
    const notes = new Map<bigint, Uint8Array>();
    for (let cpu = 0; cpu < m.cpus; cpu++) {
      const prstatus = new Uint8Array(336);
      new DataView(prstatus.buffer).setUint32(32, 100 + cpu, true); // pr_pid
      notes.set(crashNotesAddr(cpu), note('CORE', NT_PRSTATUS, prstatus));
    }
    const vmcoreinfo = 'OSRELEASE=6.1.0-vkexec\nPAGESIZE=4096\nSYMBOL(_stext)=ffffffff81000000\n';
    notes.set(vmcoreinfoNoteAddr(), note('VMCOREINFO', 0, Buffer.from(vmcoreinfo, 'latin1')));
    const dir = mkdtempSync(join(tmpdir(), 'vkexec-crash-'));
    try {
      const file = join(dir, 'vmcore');
      writeVmcore(file, result.elfHeader, hdr.phdrs, notes);
      const out = readelf(['-lnW', file]);
      assert.match(out, /Elf file type is CORE \(Core file\)/);
      assert.match(out, new RegExp(`There are ${hdr.phnum} program headers, starting at offset ${hdr.phoff}`));
      const rows = [...out.matchAll(/^\s+(NOTE|LOAD)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+([R ][W ][E ])\s+(\S+)$/gm)];
      assert.equal(rows.length, hdr.phnum, out);
      rows.forEach((r, i) => {
        const p = hdr.phdrs[i]!;
        assert.equal(r[1], p.type === PT_NOTE ? 'NOTE' : 'LOAD', `row ${i} type`);
        assert.deepEqual([BigInt('0x' + r[2]), BigInt('0x' + r[3]), BigInt('0x' + r[4]), BigInt('0x' + r[5]), BigInt('0x' + r[6])], [p.offset, p.vaddr, p.paddr, p.filesz, p.memsz], `row ${i}`);
        assert.equal(r[7], p.type === PT_LOAD ? 'RWE' : '   ', `row ${i} flags`);
      });
      // readelf finds the notes through the PT_NOTE headers.
      assert.equal([...out.matchAll(/^\s+CORE\s+0x00000150\s+NT_PRSTATUS/gm)].length, m.cpus, out);
      assert.match(out, /^\s+VMCOREINFO\s+0x[0-9a-f]+\s/m);
      // And so does our reader.
      // A PT_NOTE segment's bytes as the dump holds them: the note, then zeros to p_filesz.
      const noteBytes = (p: (typeof hdr.phdrs)[number]) => {
        const seg = new Uint8Array(Number(p.filesz));
        seg.set(notes.get(p.offset)!);
        return seg;
      };
      const cpu1 = readElfNotes(noteBytes(hdr.phdrs[1]!));
      assert.equal(cpu1.length, 1);
      assert.deepEqual([cpu1[0]!.name, cpu1[0]!.type, cpu1[0]!.desc.length], ['CORE', NT_PRSTATUS, 336]);
      assert.equal(new DataView(cpu1[0]!.desc.buffer, cpu1[0]!.desc.byteOffset).getUint32(32, true), 101);
      const vi = readElfNotes(noteBytes(hdr.phdrs[2]!));
      assert.equal(vi[0]!.name, 'VMCOREINFO');
      const kv = parseVmcoreinfo(vi[0]!.desc);
      assert.equal(kv.get('OSRELEASE'), '6.1.0-vkexec');
      assert.equal(kv.get('SYMBOL(_stext)'), 'ffffffff81000000');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('--pass-memmap-cmdline: memmap=exactmap and the RAM entries of 100 KiB or more, after elfcorehdr=', () => {
  const m = machine({ mem: GiB, crashkernel: ['256M'] });
  const { result } = run(m, { req: { passMemmapCmdline: true } });
  // 0x1000-0x9fbff -> 635K@4K; 0x2f000000-0x3ef5cfff -> 261492K@770048K; the 1 KiB tail after the backup is skipped;
  // the ACPI tables 0x3ffe0000-0x3fffffff -> 128K#1048448K.
  assert.equal(result.cmdline, `${CMDLINE} elfcorehdr=1031540K memmap=exactmap memmap=635K@4K memmap=261492K@770048K memmap=128K#1048448K`);
});

test('no command line at all: the additions start with their space, as kexec-tools strcat()s them', () => {
  const m = machine({ mem: GiB, crashkernel: ['256M'] });
  assert.equal(run(m, { cmdline: null }).result.cmdline, ' elfcorehdr=1031540K');
});

test('i386, 1 GiB, crashkernel=128M@256M: ELF32 EM_386, no kernel-text header, lowmem split at X86_MAXMEM', () => {
  const m = machine({ mem: GiB, arch: 'i386', cpus: 1, crashkernel: ['128M@256M'] });
  const { result, info, crash } = run(m, { arch: 'i386' });
  assert.deepEqual(crash, { start: 0x10000000n, end: 0x17ffffffn });
  const hdr = readElfCoreHeader(result.elfHeader);
  assert.equal(hdr.class, 32); // get_core_type: no range ends above 4 GiB
  assert.equal(hdr.machine, EM_386);
  assert.equal(hdr.phentsize, 32);
  assert.deepEqual(hdr.phdrs.map((p) => p.type), [PT_NOTE, PT_NOTE, PT_LOAD, PT_LOAD, PT_LOAD, PT_LOAD]);
  // RAM split at 0x38000000 (896 MiB), crash region cut out; lowmem at PAGE_OFFSET 0xc0000000, highmem at -1.
  assert.deepEqual(
    hdr.phdrs.slice(2).map((p) => [p.paddr, p.paddr + p.filesz - 1n, p.vaddr]),
    [
      [0x1000n, 0x9fbffn, 0xc0001000n],
      [0x100000n, 0xfffffffn, 0xc0100000n],
      [0x18000000n, 0x37ffffffn, 0xd8000000n],
      [0x38000000n, 0x3ffdffffn, 0xffffffffn],
    ],
  );
  assert.equal(hdr.phdrs[2]!.offset, result.backup.start);
  for (const s of info.segments) assert.ok(s.mem >= crash.start && s.mem + s.memsz - 1n <= crash.end);
  assert.equal(result.cmdline, `${CMDLINE} elfcorehdr=${result.elfcorehdr / 1024n}K`);
});

test('6 GiB with crashkernel=512M,high: both regions left out of the dump and given to the capture kernel', () => {
  const m = machine({ mem: 6n * GiB, cpus: 1, crashkernel: ['512M,high'] });
  const regions = crashKernelRanges(m.files);
  assert.equal(regions.length, 2);
  const [low, high] = regions as [Range, Range];
  assert.ok(high.start >= 4n * GiB && low.end < 4n * GiB);
  const { result, info } = run(m);
  // Segments go to the high (last) region, the one get_crash_kernel_load_range picks.
  for (const s of info.segments) assert.ok(s.mem >= high.start && s.mem + s.memsz - 1n <= high.end);
  const hdr = readElfCoreHeader(result.elfHeader);
  const loads = hdr.phdrs.filter((p) => p.type === PT_LOAD).slice(1);
  for (const r of [low, high]) {
    for (const p of loads) assert.ok(p.paddr + p.filesz - 1n < r.start || p.paddr > r.end, `PT_LOAD ${hex(p.paddr)} overlaps a crash region`);
  }
  const ram = iomemLines(m.files).filter((r) => r.name === 'System RAM').flatMap((r) => subtract(r, [low, high]));
  assert.deepEqual(loads.map((p) => [p.paddr, p.paddr + p.filesz - 1n]), ram.map((r) => [r.start, r.end]));
  const crashRam = info.crashRanges!.filter((r) => r.type === RANGE.RAM);
  assert.ok(crashRam.some((r) => r.start === low.start && r.end === low.end), 'the low region is RAM for the capture kernel');
  assert.ok(crashRam.some((r) => r.start === high.start), 'the high region is RAM for the capture kernel');
});

test('unaligned low RAM: add_memmap shrinks it to 1 KiB and says so on stdout; the header still maps the backup', () => {
  const base = machine({ mem: GiB, crashkernel: ['256M'] });
  const iomem = formatIomem(parseIomem(base.files('/proc/iomem')!).map((r) => (r.start === 0x1000n ? { ...r, start: 0x100n } : r.start === 0n ? { ...r, end: 0xffn } : r)));
  const m = withIomem(base, iomem);
  const { result, info } = run(m);
  assert.deepEqual(result.stdout, ['add_memmap: RAM chunk 0x100 - 0x9fc00 unaligned', 'add_memmap: RAM chunk shrunk to 0x400 - 0x9fc00']);
  assert.deepEqual({ srcStart: result.backup.srcStart, srcSize: result.backup.srcSize }, { srcStart: 0x100n, srcSize: 0x9fb00n });
  assert.equal(segmentOf(info, result.backup.start).bufsz, 0x9fc00); // ALIGN(0x9fb00, 1024)
  assert.deepEqual(info.crashRanges![1], { start: 0x400n, end: 0x9fbffn, type: RANGE.RAM });
  const low = readElfCoreHeader(result.elfHeader).phdrs.find((p) => p.type === PT_LOAD && p.paddr === 0x100n)!;
  assert.equal(low.offset, result.backup.start);
});

test('no crash region: kexec-tools\' ENOCRASHKERNEL message, exactly', () => {
  const m = machine({ mem: GiB });
  assert.throws(
    () => run(m),
    (e: unknown) => {
      assert.ok(e instanceof NoCrashKernelSegment && e instanceof LoadFailed);
      assert.equal(e.reason, 'No crash kernel segment found in /proc/iomem\nPlease check the crashkernel= boot parameter.');
      assert.equal(e.code, ENOCRASHKERNEL);
      assert.equal(e.code, -2);
      return true;
    },
  );
});

test('a command line that leaves no room for elfcorehdr= is "Command line overflow" (die, exit 1)', () => {
  const m = machine({ mem: GiB, crashkernel: ['256M'] });
  const long = 'x'.repeat(COMMAND_LINE_SIZE - 10);
  assert.throws(() => run(m, { cmdline: long }), (e: unknown) => e instanceof UsageError && e.message === 'Command line overflow' && e.exitCode === 1);
});

test('a crash region outside mem_min/mem_max bounds: the backup segment lands elsewhere and the load fails', () => {
  const m = machine({ mem: GiB, crashkernel: ['256M'] });
  const debug: Debug = { enabled: false, print: () => undefined };
  const info = new KexecInfo(getMemoryRanges(m.files), KEXEC_ON_CRASH, debug); // memMin/memMax left wide open
  const req = { files: m.files, debug, arch: 'x86_64', kernel: new Uint8Array(0) } as unknown as LoadRequest;
  assert.throws(() => loadCrashdumpSegments(info, req, CMDLINE), (e: unknown) => e instanceof LoadFailed && e.debugOnly && /backup segment at 0x3ff41000 .* not inside the crash region/.test(e.reason));
});

test('crashPrepareElf64Headers (kexec_file_load): page-padded, exact kernel text, p_offset = physical address', () => {
  const notes = [crashNotesAddr(0), crashNotesAddr(1)];
  const { buf, phdrs } = crashPrepareElf64Headers({
    machine: EM_X86_64,
    notes,
    noteSize: 0x170n,
    vmcoreinfo: { addr: vmcoreinfoNoteAddr(), size: VMCOREINFO_NOTE_SIZE },
    kernelText: { vaddr: 0xffffffff81000000n, paddr: 0x1000000n, size: 0x1f7d000n },
    ranges: [{ start: 0x100000n, end: 0x2f000000n }, { start: 0x3f000000n, end: 0x3ffe0000n }],
    pageOffset: X86_64_PAGE_OFFSET,
  });
  assert.equal(buf.length, 4096);
  const hdr = readElfCoreHeader(buf);
  assert.equal(hdr.phnum, 6);
  assert.deepEqual(hdr.phdrs.map(({ index: _i, ...p }) => p), phdrs);
  assert.deepEqual([hdr.phdrs[3]!.vaddr, hdr.phdrs[3]!.filesz, hdr.phdrs[3]!.offset], [0xffffffff81000000n, 0x1f7d000n, 0x1000000n]);
  assert.deepEqual([hdr.phdrs[4]!.offset, hdr.phdrs[4]!.vaddr], [0x100000n, X86_64_PAGE_OFFSET + 0x100000n]);
});

test('elf-core reader refuses what is not an ELF core header', () => {
  const m = machine({ mem: GiB, crashkernel: ['256M'] });
  const good = run(m).result.elfHeader;
  const bad = (f: (b: Uint8Array) => void) => {
    const b = Uint8Array.from(good);
    f(b);
    return b;
  };
  assert.throws(() => readElfCoreHeader(bad((b) => (b[0] = 0))), (e: unknown) => e instanceof ElfFormatError && /no ELF magic/.test(e.message));
  assert.throws(() => readElfCoreHeader(bad((b) => (b[16] = 2))), (e: unknown) => e instanceof ElfFormatError && /not ET_CORE/.test(e.message));
  assert.throws(() => readElfCoreHeader(good.subarray(0, 200)), (e: unknown) => e instanceof ElfFormatError && /program header table .* not inside/.test(e.message));
  const truncatedNote = note('CORE', NT_PRSTATUS, new Uint8Array(336)).subarray(0, 100);
  assert.throws(() => readElfNotes(truncatedNote), (e: unknown) => e instanceof ElfFormatError && /runs past/.test(e.message));
});
