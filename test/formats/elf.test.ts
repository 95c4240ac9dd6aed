// ELF reader: the real Debian amd64 vmlinux (extracted from the bzImage's xz payload) and vkexec's purgatory
// objects, each cross-checked field by field against binutils' readelf; then synthetic edge cases
// (truncation, hostile counts, overlapping tables, broken string and symbol tables, wrong classes).
// Needs the fixture vmlinuz-amd64-unsigned (or $VKEXEC_KERNEL_AMD64) and xz (Debian xz-utils): missing, the
// vmlinux tests fail. readelf (Debian binutils) is needed for the cross-checks; VKEXEC_NO_TOOLCHAIN=1 skips
// those loudly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EHDR, ElfFile, ElfFormatError, ElfSection, EM_386, EM_X86_64, ET_EXEC, ET_REL, PF_R, PF_W, PF_X, PHDR,
  PN_XNUM, PT_LOAD, PT_NOTE, SHDR, SHT_NOBITS, SHT_REL, SHT_RELA, SHT_STRTAB, SHT_SYMTAB, SHN_XINDEX, STB_GLOBAL,
  STRUCT_SIZE, parseElf,
} from '../../src/formats/elf.js';
import { writeField, type FieldSpec } from '../../src/formats/struct.js';
import { readPurgatoryObject } from '../../src/arch/x86/kexec-load-purgatory.js';
import { fixture } from '../helpers/fixtures.js';
import { hasTool, requireTools } from '../helpers/tools.js';

const BZIMAGE = process.env['VKEXEC_KERNEL_AMD64'] ?? fixture('vmlinuz-amd64-unsigned');
const workDir = mkdtempSync(join(tmpdir(), 'vkexec-elf-test-'));
process.on('exit', () => rmSync(workDir, { recursive: true, force: true }));

let vmlinuxCache: { bytes: Uint8Array; path: string } | undefined;

/** The bzImage's payload (setup header: setup_sects 0x1f1, payload_offset 0x248, payload_length 0x24c) through xz. */
function vmlinux(): { bytes: Uint8Array; path: string } {
  if (vmlinuxCache) return vmlinuxCache;
  if (!existsSync(BZIMAGE)) {
    assert.fail(`CANNOT RUN: ${BZIMAGE} is missing (a Debian linux-image-amd64 vmlinuz; set VKEXEC_KERNEL_AMD64 to another)`);
  }
  if (!hasTool('xz')) assert.fail('CANNOT RUN: xz missing (Debian: apt-get install -y xz-utils)');
  const bz = readFileSync(BZIMAGE);
  const setupSects = bz[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + bz.readUInt32LE(0x248);
  const payload = bz.subarray(start, start + bz.readUInt32LE(0x24c));
  assert.deepEqual([...payload.subarray(0, 6)], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], `${BZIMAGE}: payload is not xz`);
  const xzPath = join(workDir, 'payload.xz');
  writeFileSync(xzPath, payload);
  // The payload ends with the 4-byte decompressed size, which xz would take for a second stream.
  const out = execFileSync('xz', ['-dc', '--single-stream', xzPath], { maxBuffer: 512 << 20 });
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength); // slice() must copy, as Uint8Array's does
  const path = join(workDir, 'vmlinux');
  writeFileSync(path, bytes);
  vmlinuxCache = { bytes, path };
  return vmlinuxCache;
}

function readelf(args: string[], path: string): string {
  return execFileSync('readelf', [...args, path], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

/** readelf -S -W: [index, addr, off, size, es, lk, inf, al] per section. */
function readelfSections(path: string): Map<number, bigint[]> {
  const out = new Map<number, bigint[]>();
  for (const line of readelf(['-S', '-W'], path).split('\n')) {
    const m = /^\s*\[\s*(\d+)\]\s(.*)$/.exec(line);
    if (!m) continue;
    const tok = m[2]!.trim().split(/\s+/);
    // [0] has no name; sections without flags have one token less.
    const nums = tok.slice(tok.length === 8 ? 1 : 2);
    const [addr, off, size, es] = nums.slice(0, 4).map((x) => BigInt(`0x${x}`));
    const [lk, inf, al] = nums.slice(-3).map((x) => BigInt(x));
    out.set(Number(m[1]), [addr!, off!, size!, es!, lk!, inf!, al!]);
  }
  return out;
}

function checkAgainstReadelfSections(elf: ElfFile, path: string): void {
  const ref = readelfSections(path);
  assert.equal(elf.sections.length, ref.size, 'section count');
  for (const s of elf.sections) {
    assert.deepEqual(
      [s.addr, s.offset, s.size, s.entsize, BigInt(s.link), BigInt(s.info), s.addralign],
      ref.get(s.index),
      `section ${s.index} ${s.name} differs from readelf`,
    );
  }
  const names = readelf(['-S', '-W'], path);
  for (const s of elf.sections.slice(1)) assert.ok(names.includes(` ${s.name} `), `readelf lists section name ${s.name}`);
}

const flagString = (f: number): string => `${f & PF_R ? 'R' : ''}${f & PF_W ? 'W' : ''}${f & PF_X ? 'E' : ''}`;

function checkAgainstReadelfPhdrs(elf: ElfFile, path: string): void {
  const text = readelf(['-l', '-W'], path);
  const body = text.slice(text.indexOf('Program Headers:'));
  const rows = body.split('\n').slice(2).filter((l) => /^\s+[A-Z_]+\s+0x/.test(l));
  assert.equal(rows.length, elf.programHeaders.length, 'program header count');
  rows.forEach((row, i) => {
    const t = row.trim().split(/\s+/);
    const ph = elf.programHeaders[i]!;
    assert.deepEqual(
      [ph.offset, ph.vaddr, ph.paddr, ph.filesz, ph.memsz, ph.align],
      [t[1], t[2], t[3], t[4], t[5], t[t.length - 1]].map((x) => BigInt(x!)),
      `program header ${i} differs from readelf: ${row}`,
    );
    assert.equal(flagString(ph.flags), t.slice(6, -1).join(''), `program header ${i} flags`);
  });
}

// ---- real files ----

test('vmlinux: header, program headers and sections of Debian 6.1 amd64, exact 64-bit values', () => {
  const { bytes } = vmlinux();
  const elf = parseElf(bytes);
  assert.equal(elf.header.class, 64);
  assert.equal(elf.header.type, ET_EXEC);
  assert.equal(elf.header.machine, EM_X86_64);
  assert.equal(elf.header.entry, 0x1000000n);
  assert.equal(elf.programHeaders.length, 5);
  const load0 = elf.programHeaders[0]!;
  assert.equal(load0.type, PT_LOAD);
  // Not a safe integer as a Number: the reason 64-bit fields are bigint.
  assert.equal(load0.vaddr, 0xffffffff81000000n);
  assert.equal(load0.paddr, 0x1000000n);
  assert.equal(load0.flags, PF_R | PF_X);
  assert.equal(elf.programHeaders.filter((p) => p.type === PT_LOAD).length, 4);
  assert.equal(elf.programHeaders[4]!.type, PT_NOTE);
  const text = elf.sectionByName('.text')!;
  assert.equal(text.addr, 0xffffffff81000000n);
  assert.equal(text.addralign, 4096n); // elfy reads 268435456 here (wrong field offset)
  assert.equal(elf.sectionByName('.bss')!.type, SHT_NOBITS);
  // The kernel's own notes segment holds the "Linux" and "Xen" ELF notes.
  const notes = Buffer.from(elf.segmentData(elf.programHeaders[4]!)).toString('latin1');
  assert.ok(notes.includes('Linux'), 'PT_NOTE holds Linux notes');
  // Stripped: no symbol table.
  assert.deepEqual(elf.symbols(), []);
});

test('vmlinux: every section and program header agrees with readelf', (t) => {
  if (!requireTools(t, ['readelf'], 'VKEXEC_NO_TOOLCHAIN', 'binutils')) return;
  const { bytes, path } = vmlinux();
  const elf = parseElf(bytes);
  checkAgainstReadelfSections(elf, path);
  checkAgainstReadelfPhdrs(elf, path);
});

/** readelf -s -W rows by symbol index: [value, size, type, bind, ndx, name]. */
function readelfSymbols(path: string): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const line of readelf(['-s', '-W'], path).split('\n')) {
    const m = /^\s*(\d+):\s+([0-9a-f]+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(\S*)$/.exec(line);
    if (m) out.set(Number(m[1]), [m[2]!, m[3]!, m[4]!, m[5]!, m[7]!, m[8]!]);
  }
  return out;
}

/** readelf -r -W: per relocation section name, [offset, info, addend] rows. */
function readelfRelocs(path: string): Map<string, bigint[][]> {
  const out = new Map<string, bigint[][]>();
  let rows: bigint[][] | undefined;
  for (const line of readelf(['-r', '-W'], path).split('\n')) {
    const head = /^Relocation section '([^']+)'/.exec(line);
    if (head) {
      rows = [];
      out.set(head[1]!, rows);
      continue;
    }
    const m = /^([0-9a-f]{8,16})\s+([0-9a-f]{8,16})\s+\S+.*?(?:([+-]) ([0-9a-f]+))?$/.exec(line);
    if (m && rows) {
      const addend = m[3] ? BigInt(`0x${m[4]}`) * (m[3] === '-' ? -1n : 1n) : 0n;
      rows.push([BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`), addend]);
    }
  }
  return out;
}

const TYPES = ['NOTYPE', 'OBJECT', 'FUNC', 'SECTION', 'FILE'];
const BINDS = ['LOCAL', 'GLOBAL', 'WEAK'];

for (const arch of ['x86_64', 'i386'] as const) {
  test(`purgatory-${arch}.o: sections, symbols and relocations agree with readelf`, (t) => {
    if (!requireTools(t, ['readelf'], 'VKEXEC_NO_TOOLCHAIN', 'binutils')) return;
    const bytes = readPurgatoryObject(arch);
    const path = join(workDir, `purgatory-${arch}.o`);
    writeFileSync(path, bytes);
    const elf = parseElf(bytes);
    assert.equal(elf.header.class, arch === 'x86_64' ? 64 : 32);
    assert.equal(elf.header.machine, arch === 'x86_64' ? EM_X86_64 : EM_386);
    assert.equal(elf.header.type, ET_REL);
    assert.equal(elf.programHeaders.length, 0);
    checkAgainstReadelfSections(elf, path);

    const syms = elf.symbols();
    const ref = readelfSymbols(path);
    assert.equal(syms.length, ref.size, 'symbol count');
    for (const s of syms) {
      const [value, size, type, bind, ndx, name] = ref.get(s.index)!;
      assert.equal(s.value, BigInt(`0x${value}`), `symbol ${s.index} value`);
      assert.equal(s.size, BigInt(size!), `symbol ${s.index} size`);
      assert.equal(TYPES[s.type], type, `symbol ${s.index} type`);
      assert.equal(BINDS[s.bind], bind, `symbol ${s.index} bind`);
      assert.equal(s.shndx === 0 ? 'UND' : String(s.shndx), ndx, `symbol ${s.index} ndx`);
      if (s.type !== 3) assert.equal(s.name, name, `symbol ${s.index} name`);
    }
    assert.ok(syms.some((s) => s.name === 'purgatory_start' && s.bind === STB_GLOBAL));

    const relRef = readelfRelocs(path);
    const relSections = elf.sections.filter((s) => s.type === SHT_RELA || s.type === SHT_REL);
    assert.equal(relSections.length, relRef.size);
    assert.ok(relSections.every((s) => s.type === (arch === 'x86_64' ? SHT_RELA : SHT_REL)));
    for (const s of relSections) {
      const ours = elf.relocations(s);
      const theirs = relRef.get(s.name)!;
      assert.equal(ours.length, theirs.length, `${s.name} entry count`);
      ours.forEach((r, i) => {
        const [offset, info, addend] = theirs[i]!;
        const sym = arch === 'x86_64' ? info! >> 32n : info! >> 8n;
        const type = arch === 'x86_64' ? info! & 0xffffffffn : info! & 0xffn;
        assert.deepEqual([r.offset, BigInt(r.sym), BigInt(r.type), r.addend], [offset, sym, type, addend], `${s.name}[${i}]`);
      });
    }
  });
}

// ---- synthetic edge cases ----

function put(buf: Uint8Array, base: number, f: FieldSpec, v: number | bigint): void {
  writeField(buf, f, v, base);
}

function refuses(bytes: Uint8Array, pattern: RegExp, op: (e: ElfFile) => unknown = () => undefined): void {
  assert.throws(
    () => op(parseElf(bytes)),
    (e: unknown) => {
      assert.ok(e instanceof ElfFormatError, `expected ElfFormatError, got ${String(e)}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

const purgatory64 = (): Uint8Array => readPurgatoryObject('x86_64').slice();
const purgatory32 = (): Uint8Array => readPurgatoryObject('i386').slice();
const shdrAt = (bytes: Uint8Array, i: number): number => {
  const elf = parseElf(bytes);
  return Number(elf.header.shoff) + i * STRUCT_SIZE[elf.header.class].shdr;
};

interface SynthPhdr {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

/** An ET_EXEC with its program header table right after the header and `payload` at 0x1000. */
function synthExec(cls: 32 | 64, phdrs: SynthPhdr[], payload = new Uint8Array(0x100)): Uint8Array {
  const sz = STRUCT_SIZE[cls];
  const out = new Uint8Array(0x1000 + payload.byteLength);
  out.set([0x7f, 0x45, 0x4c, 0x46, cls === 32 ? 1 : 2, 1, 1]);
  const e = EHDR[cls];
  put(out, 0, e.e_type, ET_EXEC);
  put(out, 0, e.e_machine, cls === 32 ? EM_386 : EM_X86_64);
  put(out, 0, e.e_version, 1);
  put(out, 0, e.e_entry, 0x100000);
  put(out, 0, e.e_phoff, sz.ehdr);
  put(out, 0, e.e_ehsize, sz.ehdr);
  put(out, 0, e.e_phentsize, sz.phdr);
  put(out, 0, e.e_phnum, phdrs.length);
  put(out, 0, e.e_shentsize, sz.shdr);
  phdrs.forEach((ph, i) => {
    const at = sz.ehdr + i * sz.phdr;
    const p = PHDR[cls];
    put(out, at, p.p_type, ph.type);
    put(out, at, p.p_flags, ph.flags);
    put(out, at, p.p_offset, ph.offset);
    put(out, at, p.p_vaddr, ph.vaddr);
    put(out, at, p.p_paddr, ph.paddr);
    put(out, at, p.p_filesz, ph.filesz);
    put(out, at, p.p_memsz, ph.memsz);
    put(out, at, p.p_align, ph.align);
  });
  out.set(payload, 0x1000);
  return out;
}

const load32: SynthPhdr = { type: PT_LOAD, flags: PF_R | PF_X, offset: 0x1000n, vaddr: 0xc0100000n, paddr: 0x100000n, filesz: 0x100n, memsz: 0x2000n, align: 0x1000n };
const note32: SynthPhdr = { type: PT_NOTE, flags: PF_R, offset: 0x1080n, vaddr: 0xc0100080n, paddr: 0x100080n, filesz: 0x20n, memsz: 0x20n, align: 4n };

test('ELF32 program headers: values, and readelf agrees', (t) => {
  const bytes = synthExec(32, [load32, note32]);
  const elf = parseElf(bytes);
  assert.equal(elf.header.class, 32);
  assert.equal(elf.programHeaders.length, 2);
  assert.deepEqual({ ...elf.programHeaders[0]!, index: undefined }, { ...load32, index: undefined });
  assert.deepEqual(elf.segmentData(elf.programHeaders[1]!), bytes.subarray(0x1080, 0x10a0));
  assert.deepEqual(elf.sections, []);
  if (!requireTools(t, ['readelf'], 'VKEXEC_NO_TOOLCHAIN', 'binutils')) return;
  const path = join(workDir, 'synth32');
  writeFileSync(path, bytes);
  checkAgainstReadelfPhdrs(elf, path);
});

test('input may be any Uint8Array view, not only a Buffer at offset 0', () => {
  const obj = readPurgatoryObject('i386');
  const big = new Uint8Array(obj.byteLength + 13);
  big.set(obj, 5);
  const view = big.subarray(5, 5 + obj.byteLength);
  const a = parseElf(view);
  const b = parseElf(obj);
  assert.deepEqual(a.sections, b.sections);
  assert.deepEqual(a.symbols(), b.symbols());
});

test('identification: too short, bad magic, other class, big-endian, bad version, truncated header', () => {
  refuses(new Uint8Array(0), /file too short for e_ident \(0 bytes < 16\)/);
  refuses(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), /file too short for e_ident/);
  const good = purgatory64();
  const mz = good.slice();
  mz.set([0x4d, 0x5a, 0x90, 0], 0);
  refuses(mz, /not an ELF file: e_ident magic is 4d 5a 90 00/);
  const cls = good.slice();
  cls[4] = 3;
  refuses(cls, /unsupported e_ident\[EI_CLASS\] 3/);
  const msb = good.slice();
  msb[5] = 2;
  refuses(msb, /big-endian ELF .* not supported/);
  const data0 = good.slice();
  data0[5] = 0;
  refuses(data0, /invalid e_ident\[EI_DATA\] 0/);
  const ver = good.slice();
  ver[6] = 0;
  refuses(ver, /EI_VERSION\] is 0, expected EV_CURRENT/);
  refuses(good.subarray(0, 40), /ELF64 header truncated \(file size 0x28 < 0x40\)/);
  refuses(purgatory32().subarray(0, 51), /ELF32 header truncated \(file size 0x33 < 0x34\)/);
});

test('program headers: truncated table, hostile e_phnum, wrong e_phentsize, overlap with the header', () => {
  const { bytes } = vmlinux();
  // The first 0x12c bytes hold the header but only part of the 5-entry table at 0x40.
  refuses(bytes.subarray(0, 0x12c), /program header table extends past end of file \(e_phoff 0x40 \+ e_phnum 5 \* 0x38 = 0x158 > file size 0x12c\)/);
  const head = bytes.slice(0, 0x1000);
  put(head, 0, EHDR[64].e_shoff, 0);
  put(head, 0, EHDR[64].e_shnum, 0);
  put(head, 0, EHDR[64].e_shstrndx, 0);
  const hostile = head.slice();
  put(hostile, 0, EHDR[64].e_phnum, 0xfffe);
  refuses(hostile, /program header table extends past end of file \(e_phoff 0x40 \+ e_phnum 65534 \* 0x38/);
  const entsize = head.slice();
  put(entsize, 0, EHDR[64].e_phentsize, 32);
  refuses(entsize, /e_phentsize 0x20 is not the ELF64 program header size 0x38/);
  const overlap = head.slice();
  put(overlap, 0, EHDR[64].e_phoff, 0x10);
  refuses(overlap, /program header table \(e_phoff 0x10\) overlaps the ELF header \(0x40 bytes\)/);
  // A table that fits but segments that do not: a truncated kernel.
  // p_filesz differs between kernel builds: read it from the kernel's own table (ELF64 phdr +0x20).
  const filesz = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readBigUInt64LE(0x40 + 0x20);
  refuses(head, new RegExp(`program header 0 segment extends past end of file \\(p_offset 0x200000 \\+ p_filesz 0x${filesz.toString(16)} > file size 0x1000\\)`));
  refuses(bytes.subarray(0, 30 << 20), /program header 1 segment extends past end of file/);
});

test('program headers: p_filesz > p_memsz, PN_XNUM with and without section 0', () => {
  refuses(synthExec(32, [{ ...load32, memsz: 0x80n }]), /program header 0 \(PT_LOAD\): p_filesz 0x100 > p_memsz 0x80/);

  const xnum = synthExec(64, [
    { ...load32, vaddr: 0xffffffff81000000n },
    { ...note32, vaddr: 0xffffffff81000080n },
  ]);
  put(xnum, 0, EHDR[64].e_phnum, PN_XNUM);
  refuses(xnum, /e_phnum is PN_XNUM \(0xffff\) but there is no section 0/);
  // Section 0 at 0x1100 carries the real count in sh_info (gABI extended numbering).
  const withSection0 = new Uint8Array(0x1100 + 64);
  withSection0.set(xnum);
  put(withSection0, 0, EHDR[64].e_shoff, 0x1100);
  put(withSection0, 0, EHDR[64].e_shnum, 1);
  put(withSection0, 0x1100, SHDR[64].sh_info, 2);
  const elf = parseElf(withSection0);
  assert.equal(elf.header.phnum, 2);
  assert.equal(elf.programHeaders[1]!.vaddr, 0xffffffff81000080n);
});

test('section headers: truncated table, hostile e_shnum, extended count, wrong e_shentsize, overlaps', () => {
  const obj = purgatory64();
  const { shoff: shoffBig, shnum } = parseElf(obj).header;
  const shoff = Number(shoffBig);
  refuses(obj.subarray(0, shoff + 100), new RegExp(`section header table extends past end of file \\(e_shoff 0x${shoff.toString(16)} \\+ e_shnum ${shnum} \\* 0x40`));
  const hostile = obj.slice();
  put(hostile, 0, EHDR[64].e_shnum, 0xff00);
  refuses(hostile, /section header table extends past end of file \(e_shoff 0x[0-9a-f]+ \+ e_shnum 65280 \* 0x40/);
  // e_shnum 0: the count comes from section 0's sh_size (gABI); right and hostile values.
  const ext = obj.slice();
  put(ext, 0, EHDR[64].e_shnum, 0);
  put(ext, shoff, SHDR[64].sh_size, shnum);
  assert.equal(parseElf(ext).sections.length, shnum);
  put(ext, shoff, SHDR[64].sh_size, 1n << 40n);
  refuses(ext, /section header table extends past end of file \(e_shoff 0x[0-9a-f]+ \+ e_shnum 1099511627776 \* 0x40/);
  const past = obj.slice();
  put(past, 0, EHDR[64].e_shoff, obj.byteLength - 10);
  refuses(past, /section header 0 extends past end of file/);
  const entsize = obj.slice();
  put(entsize, 0, EHDR[64].e_shentsize, 40);
  refuses(entsize, /e_shentsize 0x28 is not the ELF64 section header size 0x40/);
  const noTable = obj.slice();
  put(noTable, 0, EHDR[64].e_shoff, 0);
  refuses(noTable, new RegExp(`e_shnum is ${shnum} but e_shoff is 0`));
  const onHeader = obj.slice();
  put(onHeader, 0, EHDR[64].e_shoff, 8);
  refuses(onHeader, /section header table \(e_shoff 0x8\) overlaps the ELF header/);

  const withPhdrs = synthExec(32, [load32, note32]);
  const both = new Uint8Array(withPhdrs.byteLength + 40);
  both.set(withPhdrs);
  put(both, 0, EHDR[32].e_shoff, 0x34 + 0x20); // inside the 2-entry phdr table at 0x34..0x74
  put(both, 0, EHDR[32].e_shnum, 1);
  refuses(both, /program header table \[0x34, 0x74\) overlaps section header table \[0x54, 0x7c\)/);
});

test('sections: data past end, bad e_shstrndx, name not NUL-terminated, SHN_XINDEX', () => {
  const obj = purgatory64();
  const elf = parseElf(obj);
  const text = elf.sectionByName('.text')!;
  const past = obj.slice();
  put(past, shdrAt(obj, text.index), SHDR[64].sh_offset, obj.byteLength - 16);
  refuses(past, new RegExp(`section ${text.index} extends past end of file \\(sh_offset 0x[0-9a-f]+ \\+ sh_size 0x${text.size.toString(16)} > file size`));
  // A huge bss is not file data and must not be refused.
  const bss = elf.sectionByName('.bss')!;
  const bigBss = obj.slice();
  put(bigBss, shdrAt(obj, bss.index), SHDR[64].sh_size, 1n << 60n);
  assert.equal(parseElf(bigBss).sectionByName('.bss')!.size, 1n << 60n);

  const shstrndx = elf.header.shstrndx;
  const outOfRange = obj.slice();
  const shnum = elf.sections.length;
  put(outOfRange, 0, EHDR[64].e_shstrndx, shnum);
  refuses(outOfRange, new RegExp(`e_shstrndx ${shnum} is not a section index \\(e_shnum ${shnum}\\)`));
  const notStrtab = obj.slice();
  put(notStrtab, 0, EHDR[64].e_shstrndx, text.index);
  refuses(notStrtab, new RegExp(`e_shstrndx ${text.index} names a section of type 1, not SHT_STRTAB`));
  const unterminated = obj.slice();
  const names = elf.sections[shstrndx]!;
  put(unterminated, shdrAt(obj, shstrndx), SHDR[64].sh_size, names.size - 1n);
  refuses(unterminated, /is not NUL-terminated within its string table/);
  const badName = obj.slice();
  put(badName, shdrAt(obj, text.index), SHDR[64].sh_name, 0x7fffffff);
  refuses(badName, new RegExp(`name of section ${text.index}: string offset 0x7fffffff is outside its string table`));
  // SHN_XINDEX: the real index is section 0's sh_link.
  const xindex = obj.slice();
  put(xindex, 0, EHDR[64].e_shstrndx, SHN_XINDEX);
  put(xindex, shdrAt(obj, 0), SHDR[64].sh_link, shstrndx);
  assert.equal(parseElf(xindex).sectionByName('.text')!.index, text.index);
});

test('symbol and relocation tables: wrong sh_entsize, partial entry, bad sh_link, wrong kind', () => {
  const obj = purgatory64();
  const elf = parseElf(obj);
  const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB)!;
  const rela = elf.sections.find((s) => s.type === SHT_RELA)!;
  const strtab = elf.sections[symtab.link]!;
  assert.equal(strtab.type, SHT_STRTAB);

  const ent = obj.slice();
  put(ent, shdrAt(obj, symtab.index), SHDR[64].sh_entsize, 16);
  refuses(ent, /sh_entsize 0x10 is not the symbol entry size 0x18/, (e) => e.symbols());
  const partial = obj.slice();
  put(partial, shdrAt(obj, symtab.index), SHDR[64].sh_size, symtab.size - 5n);
  refuses(partial, /sh_size 0x[0-9a-f]+ is not a multiple of the symbol entry size 0x18/, (e) => e.symbols());
  const link = obj.slice();
  put(link, shdrAt(obj, symtab.index), SHDR[64].sh_link, 99);
  refuses(link, /sh_link 99 is not a valid string table index/, (e) => e.symbols());
  const linkNotStrtab = obj.slice();
  put(linkNotStrtab, shdrAt(obj, symtab.index), SHDR[64].sh_link, rela.index);
  refuses(linkNotStrtab, /is of type 4, not SHT_STRTAB/, (e) => e.symbols());
  const relEnt = obj.slice();
  put(relEnt, shdrAt(obj, rela.index), SHDR[64].sh_entsize, 16);
  refuses(relEnt, /sh_entsize 0x10 is not the RELA entry size 0x18/, (e) => e.relocations(e.sections[rela.index]!));
  refuses(obj, /is not a relocation section/, (e) => e.relocations(e.sectionByName('.text')!));
  refuses(obj, /is not a symbol table/, (e) => e.symbols(e.sectionByName('.text')!));
  // A symbol name pointing outside the string table.
  const badSymName = obj.slice();
  put(badSymName, Number(symtab.offset) + 5 * 24, { offset: 0, size: 4 }, Number(strtab.size) + 100);
  refuses(badSymName, /string offset 0x[0-9a-f]+ is outside its string table/, (e) => e.symbols());
});

test('ELF32 REL entries decode r_info as sym << 8 | type', () => {
  const elf = parseElf(readPurgatoryObject('i386'));
  const rel = elf.sections.find((s: ElfSection) => s.type === SHT_REL)!;
  const entries = elf.relocations(rel);
  assert.ok(entries.length > 0);
  const syms = elf.symbols();
  for (const r of entries) {
    assert.ok(r.type === 1 || r.type === 2, `R_386_32 or R_386_PC32, got ${r.type}`);
    assert.ok(r.sym > 0 && r.sym < syms.length);
    assert.equal(r.addend, 0n);
  }
});
