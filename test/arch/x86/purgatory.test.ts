// vkexec's purgatories and their loader: the committed objects' symbol contract and hygiene, layout and
// relocation (two bases, and byte-for-byte against GNU ld linking the same object at the same addresses),
// Linux's get/set-symbol rules and the relocation refusals on mutated objects, the typed helpers, the C
// sha256 built for the host against node:crypto, a rebuild that must reproduce the committed objects, and
// real runs under QEMU: a multiboot harness jumps into a relocated purgatory (i386 in 32-bit protected mode;
// x86_64 after entering long mode, below and above 4 GiB) and the purgatory must print the mismatch report,
// or hand over to the harness with the registers, mode and segments it was told to set up.
// Tools: gcc + binutils (VKEXEC_NO_TOOLCHAIN=1 skips those tests loudly), qemu-system-i386/x86_64 with
// SeaBIOS (Debian qemu-system-x86; VKEXEC_NO_QEMU=1 skips the boots loudly). A missing tool otherwise fails.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KexecError } from '../../../src/errno.js';
import {
  EHDR, ElfFile, ET_EXEC, EM_386, R_386_32, R_386_PC32, R_X86_64_32, R_X86_64_32S, R_X86_64_64, R_X86_64_PC32,
  R_X86_64_PLT32, RELA, SHDR, SHF_ALLOC, SHN_COMMON, SHT_NOBITS, SHT_REL, SHT_RELA, SHT_SYMTAB, STB_GLOBAL, STB_LOCAL, STB_WEAK,
  STRUCT_SIZE, SYM, STT_FILE, STT_FUNC, parseElf,
} from '../../../src/formats/elf.js';
import { relocatePurgatory } from '../../../src/arch/x86/kexec-apply-relocations.js';
import { loadPurgatory, purgatoryObjectPath, readPurgatoryObject } from '../../../src/arch/x86/kexec-load-purgatory.js';
import { layoutPurgatory, PurgatoryArch } from '../../../src/arch/x86/kexec-purgatory-setup.js';
import { findPurgatoryInfo, PURGATORY_INFO_MAGIC } from '../../../src/arch/x86/purgatory-info.js';
import {
  ENTRY32_REGS, ENTRY64_REGS, getEntry32Regs, getEntry64Regs, getShaRegions, setBackup, setConsole, setEntry32Regs,
  setEntry64Regs, setShaRegions, setSkipChecks,
} from '../../../src/arch/x86/purgatory-symbols.js';
import { requireTools } from '../../helpers/tools.js';

const ARCHES: PurgatoryArch[] = ['x86_64', 'i386'];
const SRC_DIR = dirname(purgatoryObjectPath('x86_64'));
const workDir = mkdtempSync(join(tmpdir(), 'vkexec-purgatory-test-'));
process.on('exit', () => rmSync(workDir, { recursive: true, force: true }));

function kexecError(errno: string, rule: string, detail: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof KexecError, `expected KexecError, got ${String(e)}`);
    assert.equal(e.errno, errno);
    assert.equal(e.rule, rule);
    assert.match(e.message, detail);
    return true;
  };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

// ---- the symbol contract ----

/** Patchable symbols: [name, size, x86_64 only]. */
const PATCHABLE: [string, number, boolean][] = [
  ['sha256_regions', 256, false],
  ['purgatory_sha_regions', 256, false],
  ['sha256_digest', 32, false],
  ['purgatory_sha256_digest', 32, false],
  ['skip_checks', 4, false],
  ['console_serial', 1, false],
  ['serial_base', 2, false],
  ['serial_baud', 4, false],
  ['backup_start', 8, false],
  ['backup_src_start', 8, false],
  ['backup_src_size', 8, false],
  ['cmdline_end', 8, false],
  ['reset_vga', 1, false],
  ['console_vga', 1, false],
  ['panic_kernel', 1, false],
  ['entry32_regs', 36, false],
  ['entry64_regs', 136, true],
  ['stack_arg32_1', 4, false],
  ['stack_arg32_2', 4, false],
  ['vkexec_purgatory_info', 64, false],
];
/** Symbols loaders take only the address of. */
const ADDRESS_ONLY: [string, boolean][] = [
  ['purgatory_start', false],
  ['stack_end', false],
  ['entry32', true],
];

for (const arch of ARCHES) {
  test(`purgatory-${arch}.o: exactly the contract symbols are GLOBAL, patchable ones in .data with kexec sizes`, () => {
    const elf = parseElf(readPurgatoryObject(arch));
    const globals = elf.symbols().filter((s) => s.bind === STB_GLOBAL);
    const expected = [
      ...PATCHABLE.filter(([, , only64]) => arch === 'x86_64' || !only64).map(([n]) => n),
      ...ADDRESS_ONLY.filter(([, only64]) => arch === 'x86_64' || !only64).map(([n]) => n),
    ].sort();
    assert.deepEqual(globals.map((s) => s.name).sort(), expected);
    for (const [name, size, only64] of PATCHABLE) {
      if (only64 && arch !== 'x86_64') continue;
      const s = globals.find((g) => g.name === name)!;
      assert.equal(s.size, BigInt(size), `${name} size`);
      assert.equal(elf.sections[s.shndx]!.name, '.data', `${name} must be in .data (Linux refuses bss)`);
    }
    assert.equal(globals.find((s) => s.name === 'purgatory_start')!.type, STT_FUNC);
    assert.ok(!globals.some((s) => elf.sections[s.shndx]!.type === SHT_NOBITS), 'no GLOBAL symbol in bss');
    const byName = (n: string) => globals.find((s) => s.name === n)!;
    assert.equal(byName('purgatory_sha_regions').value, byName('sha256_regions').value, 'alias shares storage');
    assert.equal(byName('purgatory_sha256_digest').value, byName('sha256_digest').value, 'alias shares storage');
  });

  test(`purgatory-${arch}.o: deterministic hygiene (no debug, .comment, paths, undefined symbols; kernel-handled relocations)`, () => {
    const bytes = readPurgatoryObject(arch);
    const elf = parseElf(bytes);
    for (const s of elf.sections) {
      assert.ok(!/^\.(comment|debug|note\.gnu\.property|eh_frame)/.test(s.name), `unexpected section ${s.name}`);
    }
    const text = Buffer.from(bytes).toString('latin1');
    for (const p of ['/tmp', '/work', '/home', '/usr', '/build', '/root']) assert.ok(!text.includes(p), `object contains path ${p}`);
    const syms = elf.symbols();
    assert.ok(!syms.some((s) => s.type === STT_FILE && s.name.includes('/')));
    assert.deepEqual(syms.filter((s) => s.index > 0 && s.shndx === 0).map((s) => s.name), [], 'undefined symbols');
    const types = new Set<number>();
    for (const s of elf.sections.filter((x) => x.type === SHT_RELA || x.type === SHT_REL)) {
      for (const r of elf.relocations(s)) types.add(r.type);
    }
    if (arch === 'x86_64') {
      // No R_X86_64_32/32S: they would overflow (ENOEXEC) when kexec_file_load puts the purgatory above 4 GiB.
      assert.deepEqual([...types].sort(), [R_X86_64_64, R_X86_64_PC32, R_X86_64_PLT32].sort());
      assert.ok(elf.sections.every((s) => s.type !== SHT_REL), 'x86_64: RELA only (the kernel has no REL)');
    } else {
      assert.deepEqual([...types].sort(), [R_386_32, R_386_PC32], 'kexec-tools i386 handles R_386_32 and R_386_PC32 only');
    }
  });
}

// ---- layout and relocation ----

for (const arch of ARCHES) {
  test(`${arch}: layout follows kexec_purgatory_setup_kbuf, entry follows kexec_purgatory_setup_sechdrs`, () => {
    const layout = layoutPurgatory(readPurgatoryObject(arch));
    const elf = layout.elf;
    const alloc = elf.sections.filter((s) => (s.flags & SHF_ALLOC) !== 0n);
    assert.deepEqual(layout.sections.map((p) => p.index), alloc.map((s) => s.index), 'every SHF_ALLOC section, in order');
    let end = 0;
    for (const p of layout.sections.filter((x) => !x.nobits)) {
      assert.equal(p.offset % p.align, 0, `${p.name} aligned`);
      assert.ok(p.offset >= end, `${p.name} after the previous section`);
      assert.ok(p.offset - end < p.align, `${p.name} packed`);
      end = p.offset + p.size;
    }
    const bss = layout.sections.filter((x) => x.nobits);
    const bssAlign = Math.max(1, ...bss.map((p) => p.align));
    assert.equal(layout.bufsz, Math.ceil(end / bssAlign) * bssAlign);
    assert.equal(layout.memsz, layout.bufsz + bss.reduce((n, p) => n + p.size, 0));
    assert.equal(layout.align, Math.max(...layout.sections.map((p) => p.align)));
    assert.ok(layout.memsz - layout.bufsz >= 4096, 'the purgatory stack is bss');

    const base = 0x1ffd7000n;
    const r = relocatePurgatory(layout, base);
    assert.equal(r.buf.byteLength, layout.bufsz);
    // The kernel: image->start = e_entry rebased into the SHF_EXECINSTR section that holds it.
    const text = layout.sections.find((p) => p.name === '.text')!;
    assert.equal(elf.header.entry, 0n);
    assert.equal(r.entry, base + BigInt(text.offset) + elf.header.entry);
    assert.equal(r.entry, r.symbolAddr('purgatory_start'));
  });
}

interface Word {
  at: number;
  width: 4 | 8;
  absolute: boolean;
}

/** Every relocated word of the segment buffer. */
function relocatedWords(arch: PurgatoryArch): Word[] {
  const layout = layoutPurgatory(readPurgatoryObject(arch));
  const elf = layout.elf;
  const words: Word[] = [];
  for (const rel of elf.sections.filter((s) => s.type === SHT_RELA || s.type === SHT_REL)) {
    const place = layout.sections.find((p) => p.index === rel.info);
    if (!place) continue;
    for (const r of elf.relocations(rel)) {
      const absolute = arch === 'x86_64' ? r.type === R_X86_64_64 : r.type === R_386_32;
      words.push({ at: place.offset + Number(r.offset), width: arch === 'x86_64' && absolute ? 8 : 4, absolute });
    }
  }
  return words;
}

function word(buf: Uint8Array, w: Word): bigint {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return w.width === 8 ? v.getBigUint64(w.at, true) : BigInt(v.getUint32(w.at, true));
}

const BASES: Record<PurgatoryArch, [bigint, bigint]> = {
  x86_64: [0x1ffd7000n, 0x123456000n], // the second above 4 GiB, where kexec_file_load may put it
  i386: [0x3000n, 0x7ff00000n],
};

for (const arch of ARCHES) {
  test(`${arch}: relocation at two bases differs exactly in the absolute words, by the base difference`, () => {
    const [b1, b2] = BASES[arch];
    const layout = layoutPurgatory(readPurgatoryObject(arch));
    const p1 = relocatePurgatory(layout, b1);
    const p2 = relocatePurgatory(layout, b2);
    const words = relocatedWords(arch);
    const absolute = words.filter((w) => w.absolute);
    assert.ok(absolute.length > 10 && words.length > absolute.length, 'both kinds of relocation present');
    const inAbsolute = new Uint8Array(layout.bufsz);
    for (const w of absolute) inAbsolute.fill(1, w.at, w.at + w.width);
    for (let i = 0; i < layout.bufsz; i++) {
      if (p1.buf[i] !== p2.buf[i]) assert.equal(inAbsolute[i], 1, `byte ${i} changed outside an absolute relocation`);
    }
    const mask = arch === 'x86_64' ? (1n << 64n) - 1n : 0xffffffffn;
    for (const w of absolute) assert.equal((word(p2.buf, w) - word(p1.buf, w)) & mask, b2 - b1, `absolute word at ${w.at}`);
    for (const w of words.filter((x) => !x.absolute)) assert.equal(word(p2.buf, w), word(p1.buf, w), `PC-relative word at ${w.at}`);
    assert.equal(p2.entry - p1.entry, b2 - b1);
    for (const p of [p1, p2]) {
      const info = findPurgatoryInfo(p.buf)!;
      assert.equal(info.arch, arch === 'x86_64' ? 64 : 32);
      assert.equal(info.sha256Regions, p.symbolAddr('sha256_regions'));
      assert.equal(info.sha256Digest, p.symbolAddr('sha256_digest'));
      assert.equal(info.skipChecks, p.symbolAddr('skip_checks'));
      assert.equal(info.entry32Regs, p.symbolAddr('entry32_regs'));
      assert.equal(info.backupStart, p.symbolAddr('backup_start'));
      assert.equal(info.entry64Regs, arch === 'x86_64' ? p.symbolAddr('entry64_regs') : 0n);
      assert.equal(info.offset + Number(p.loadAddr), Number(p.symbolAddr('vkexec_purgatory_info')));
    }
  });

  test(`${arch}: relocated segment equals GNU ld's final link of the same object at the same addresses`, (t) => {
    if (!requireTools(t, ['ld'], 'VKEXEC_NO_TOOLCHAIN', 'binutils')) return;
    const obj = readPurgatoryObject(arch);
    const objPath = join(workDir, `ld-${arch}.o`);
    writeFileSync(objPath, obj);
    for (const base of BASES[arch]) {
      const layout = layoutPurgatory(obj);
      const ours = relocatePurgatory(layout, base);
      const script = [
        'ENTRY(purgatory_start)',
        'SECTIONS {',
        ...layout.sections.map((s) => `  ${s.name} 0x${(base + BigInt(s.offset)).toString(16)} : { *(${s.name}) }`),
        '  /DISCARD/ : { *(.note.GNU-stack) }',
        '}',
      ].join('\n');
      const scriptPath = join(workDir, `ld-${arch}.ld`);
      const outPath = join(workDir, `ld-${arch}.elf`);
      writeFileSync(scriptPath, script);
      execFileSync('ld', ['-m', arch === 'x86_64' ? 'elf_x86_64' : 'elf_i386', '--no-warn-rwx-segments', '-T', scriptPath, '-o', outPath, objPath]);
      const linked = parseElf(new Uint8Array(readFileSync(outPath)));
      assert.equal(linked.header.entry, ours.entry, 'entry');
      for (const s of layout.sections) {
        const o = linked.sectionByName(s.name)!;
        assert.equal(o.addr, base + BigInt(s.offset), `${s.name} address`);
        assert.equal(o.size, BigInt(s.size), `${s.name} size`);
        if (!s.nobits) assert.ok(Buffer.from(linked.sectionData(o)).equals(ours.buf.subarray(s.offset, s.offset + s.size)), `${s.name} bytes at base 0x${base.toString(16)}`);
      }
    }
  });
}

test('defaults: serial_base COM1, entry64_regs.rip = entry32 (the 32-bit hand-off), the rest zero', () => {
  for (const arch of ARCHES) {
    const p = loadPurgatory(arch, 0x1000000n);
    assert.deepEqual([...p.getSymbol('serial_base', 2)], [0xf8, 0x03]);
    assert.deepEqual(getEntry32Regs(p), { eax: 0, ebx: 0, ecx: 0, edx: 0, esi: 0, edi: 0, esp: 0, ebp: 0, eip: 0 });
    assert.ok(p.getSymbol('sha256_regions', 256).every((b) => b === 0));
    assert.deepEqual([...p.getSymbol('skip_checks', 4)], [0, 0, 0, 0]);
    // kexec-tools' elf-x86 loader: esp = &stack_arg32_2, arg1 at stack_arg32_1, just below stack_end.
    assert.equal(p.symbolAddr('stack_arg32_1'), p.symbolAddr('stack_end') - 4n);
    assert.equal(p.symbolAddr('stack_arg32_2'), p.symbolAddr('stack_end') - 8n);
    const info = p.getSymbol('vkexec_purgatory_info', 64);
    assert.equal(Buffer.from(info.subarray(0, 8)).toString('latin1'), PURGATORY_INFO_MAGIC);
  }
  const p = loadPurgatory('x86_64', 0x1000000n);
  const regs = getEntry64Regs(p);
  assert.equal(regs.rip, p.symbolAddr('entry32'));
  assert.ok(Object.entries(regs).every(([k, v]) => k === 'rip' || v === 0n));
});

// ---- Linux's symbol rules and the relocation refusals, on mutated objects ----

type Mutator = (obj: Uint8Array, elf: ElfFile) => void;

function mutated(arch: PurgatoryArch, fn: Mutator): Uint8Array {
  const obj = readPurgatoryObject(arch).slice();
  fn(obj, parseElf(obj));
  return obj;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** File offset of symbol `name`'s entry in .symtab. */
function symEntry(elf: ElfFile, name: string): number {
  const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB)!;
  const sym = elf.symbols().find((s) => s.name === name)!;
  return Number(symtab.offset) + sym.index * STRUCT_SIZE[elf.header.class].sym;
}

function setSym(obj: Uint8Array, elf: ElfFile, name: string, field: 'st_shndx' | 'st_info' | 'st_size', v: number): void {
  const f = SYM[elf.header.class][field];
  const at = symEntry(elf, name) + f.offset;
  if (f.size === 1) obj[at] = v;
  else if (f.size === 2) dv(obj).setUint16(at, v, true);
  else if (f.size === 4) dv(obj).setUint32(at, v, true);
  else dv(obj).setBigUint64(at, BigInt(v), true);
}

test('get/set symbol: bss, size mismatch, local, weak, undefined section refused with EINVAL', () => {
  const rule = 'kexec_purgatory_get_set_symbol';
  for (const arch of ARCHES) {
    const ok = loadPurgatory(arch, 0x100000n);
    assert.throws(() => ok.setSymbol('skip_checks', new Uint8Array(8)), kexecError('EINVAL', rule, /^symbol skip_checks size mismatch: expected 4 actual 8$/));
    assert.throws(() => ok.getSymbol('sha256_digest', 16), kexecError('EINVAL', rule, /size mismatch: expected 32 actual 16/));
    assert.throws(() => ok.getSymbol('sha256_block', 518), kexecError('EINVAL', rule, /symbol sha256_block not found among the purgatory's global symbols/));
    assert.throws(() => ok.getSymbol('no_such_symbol', 4), kexecError('EINVAL', rule, /not found/));

    const bssIndex = layoutPurgatory(readPurgatoryObject(arch)).elf.sectionByName('.bss')!.index;
    const inBss = relocatePurgatory(layoutPurgatory(mutated(arch, (o, e) => setSym(o, e, 'skip_checks', 'st_shndx', bssIndex))), 0x100000n);
    assert.throws(() => inBss.setSymbol('skip_checks', new Uint8Array(4)), kexecError('EINVAL', rule, /^symbol skip_checks is in a bss section. Cannot set$/));
    assert.throws(() => inBss.getSymbol('skip_checks', 4), kexecError('EINVAL', rule, /is in a bss section. Cannot get$/));

    for (const bind of [STB_LOCAL, STB_WEAK]) {
      const p = relocatePurgatory(layoutPurgatory(mutated(arch, (o, e) => setSym(o, e, 'skip_checks', 'st_info', (bind << 4) | 1))), 0x100000n);
      assert.throws(() => p.setSymbol('skip_checks', new Uint8Array(4)), kexecError('EINVAL', rule, /not found/));
    }
    const huge = relocatePurgatory(layoutPurgatory(mutated(arch, (o, e) => setSym(o, e, 'cmdline_end', 'st_shndx', 0xff00))), 0x100000n);
    assert.throws(() => huge.getSymbol('cmdline_end', 8), kexecError('EINVAL', rule, /not found/), 'section index beyond e_shnum');
    // The object must not steer a write outside the buffer.
    const outside = relocatePurgatory(layoutPurgatory(mutated(arch, (o, e) => setSym(o, e, 'cmdline_end', 'st_size', 1 << 20))), 0x100000n);
    assert.throws(() => outside.setSymbol('cmdline_end', new Uint8Array(1 << 20)), kexecError('EINVAL', rule, /does not lie inside a loaded section/));
  }
});

test('missing stack_end: EINVAL "Could not find address of symbol stack_end"', () => {
  for (const arch of ARCHES) {
    const obj = mutated(arch, (o, e) => {
      const strtab = e.sections[e.sections.find((s) => s.type === SHT_SYMTAB)!.link]!;
      const stName = dv(o).getUint32(symEntry(e, 'stack_end') + SYM[e.header.class].st_name.offset, true);
      o[Number(strtab.offset) + stName + 8] = 0x58; // "stack_enX"
    });
    const p = relocatePurgatory(layoutPurgatory(obj), 0x100000n);
    assert.throws(() => p.symbolAddr('stack_end'), (e: unknown) => {
      assert.ok(e instanceof KexecError);
      assert.equal(e.errno, 'EINVAL');
      assert.equal(e.rule, 'kexec_purgatory_get_symbol_addr');
      assert.equal(e.message, 'Could not find address of symbol stack_end');
      assert.equal(e.value, 'stack_end');
      return true;
    });
  }
});

/** File offset of the first relocation entry (in any relocation section) whose symbol is named `name`. */
function relocEntry(elf: ElfFile, name: string): { at: number; section: number } {
  const syms = elf.symbols();
  for (const s of elf.sections.filter((x) => x.type === SHT_RELA || x.type === SHT_REL)) {
    const size = s.type === SHT_RELA ? STRUCT_SIZE[elf.header.class].rela : STRUCT_SIZE[elf.header.class].rel;
    const i = elf.relocations(s).findIndex((r) => syms[r.sym]!.name === name);
    if (i >= 0) return { at: Number(s.offset) + i * size, section: s.index };
  }
  throw new Error(`no relocation against ${name}`);
}

function setRelocType(obj: Uint8Array, elf: ElfFile, at: number, type: number): void {
  const f = RELA[elf.header.class].r_info;
  if (f.size === 8) {
    const info = dv(obj).getBigUint64(at + f.offset, true);
    dv(obj).setBigUint64(at + f.offset, (info & ~0xffffffffn) | BigInt(type), true);
  } else {
    obj[at + f.offset] = type;
  }
}

test('relocation refusals: unknown type, undefined/common/invalid symbol, overflow, REL on x86_64, out of range', () => {
  const rule = 'kexec_apply_relocations';
  const relocate = (obj: Uint8Array, base = 0x100000n) => relocatePurgatory(layoutPurgatory(obj), base);

  const unknown64 = mutated('x86_64', (o, e) => setRelocType(o, e, relocEntry(e, 'entry32').at, 99));
  assert.throws(() => relocate(unknown64), kexecError('ENOEXEC', rule, /^Unknown rela relocation: 99$/));
  const unknown32 = mutated('i386', (o, e) => setRelocType(o, e, relocEntry(e, 'entry32_regs').at, 99));
  assert.throws(() => relocate(unknown32), kexecError('ENOEXEC', rule, /^Unknown rel relocation: 99$/));

  for (const arch of ARCHES) {
    const undef = mutated(arch, (o, e) => setSym(o, e, 'entry32_regs', 'st_shndx', 0));
    assert.throws(() => relocate(undef), kexecError('ENOEXEC', rule, /^Undefined symbol: entry32_regs$/));
    const common = mutated(arch, (o, e) => setSym(o, e, 'entry32_regs', 'st_shndx', SHN_COMMON));
    assert.throws(() => relocate(common), kexecError('ENOEXEC', rule, /^symbol 'entry32_regs' in common section$/));
    const invalid = mutated(arch, (o, e) => setSym(o, e, 'entry32_regs', 'st_shndx', 0xff00));
    assert.throws(() => relocate(invalid), kexecError('ENOEXEC', rule, /^Invalid section 65280 for symbol entry32_regs$/));
    const offset = mutated(arch, (o, e) => {
      const { at } = relocEntry(e, 'entry32_regs');
      const f = RELA[e.header.class].r_offset;
      if (f.size === 8) dv(o).setBigUint64(at, 0x7fffffn, true);
      else dv(o).setUint32(at, 0x7fffff, true);
    });
    assert.throws(() => relocate(offset), kexecError('ENOEXEC', rule, /lies outside the section/));
  }

  // R_X86_64_64 turned into R_X86_64_32 / 32S: fine low, an overflow high.
  const to32 = mutated('x86_64', (o, e) => setRelocType(o, e, relocEntry(e, 'entry32').at, R_X86_64_32));
  assert.ok(relocate(to32, 0x1000000n));
  assert.throws(() => relocate(to32, 0x123456000n), kexecError('ENOEXEC', rule, /^Overflow in relocation type 10 value 0x1234560[0-9a-f]+$/));
  const to32s = mutated('x86_64', (o, e) => setRelocType(o, e, relocEntry(e, 'entry32').at, R_X86_64_32S));
  assert.ok(relocate(to32s, 0x1000000n));
  assert.throws(() => relocate(to32s, 0x80000000n), kexecError('ENOEXEC', rule, /^Overflow in relocation type 11 /));

  const rel64 = mutated('x86_64', (o, e) => {
    const s = e.sections.find((x) => x.type === SHT_RELA)!;
    dv(o).setUint32(Number(e.header.shoff) + s.index * STRUCT_SIZE[64].shdr + SHDR[64].sh_type.offset, SHT_REL, true);
  });
  assert.throws(() => relocate(rel64), kexecError('ENOEXEC', rule, /^REL relocation unsupported$/));

  assert.throws(() => relocate(readPurgatoryObject('i386').slice(), 0xffffe000n), kexecError('ENOEXEC', rule, /does not fit the 32-bit address space/));
  assert.throws(
    () => relocatePurgatory(layoutPurgatory(readPurgatoryObject('x86_64')), 0x100010n),
    kexecError('EINVAL', 'kexec_load_purgatory', /load address 0x100010 is not aligned to 0x20/),
  );
});

test('object refusals: not ET_REL, wrong machine, not ELF, no purgatory_start: ENOEXEC', () => {
  const rule = 'kexec_load_purgatory';
  const exec = mutated('x86_64', (o) => dv(o).setUint16(EHDR[64].e_type.offset, ET_EXEC, true));
  assert.throws(() => layoutPurgatory(exec), kexecError('ENOEXEC', rule, /e_type 2, expected ET_REL/));
  const machine = mutated('x86_64', (o) => dv(o).setUint16(EHDR[64].e_machine.offset, EM_386, true));
  assert.throws(() => layoutPurgatory(machine), kexecError('ENOEXEC', rule, /ELF64 for machine 3, not x86_64/));
  assert.throws(() => layoutPurgatory(randomBytes(100)), kexecError('ENOEXEC', rule, /^purgatory object: not an ELF file/));
  const truncated = readPurgatoryObject('i386').slice(0, 2000);
  assert.throws(() => layoutPurgatory(truncated), kexecError('ENOEXEC', rule, /^purgatory object: section header 0 extends past end of file/));
  const noStart = mutated('i386', (o, e) => setSym(o, e, 'purgatory_start', 'st_info', (STB_LOCAL << 4) | STT_FUNC));
  assert.throws(() => relocatePurgatory(layoutPurgatory(noStart), 0x100000n), kexecError('ENOEXEC', rule, /no global symbol purgatory_start/));
});

// ---- typed helpers ----

test('typed helpers write the named fields at their offsets, merge partial updates, refuse out-of-range values', () => {
  const p = loadPurgatory('x86_64', 0x7fe00000n);
  setEntry64Regs(p, { rbx: 0n, rsi: 0x7ffd1000n, rip: 0x1000200n, rsp: p.symbolAddr('stack_end') });
  setEntry64Regs(p, { r15: 0xfedcba9876543210n });
  const raw = dv(p.getSymbol('entry64_regs', 136));
  assert.equal(raw.getBigUint64(ENTRY64_REGS.rsi.offset, true), 0x7ffd1000n);
  assert.equal(raw.getBigUint64(ENTRY64_REGS.rip.offset, true), 0x1000200n);
  assert.equal(raw.getBigUint64(ENTRY64_REGS.r15.offset, true), 0xfedcba9876543210n);
  assert.equal(getEntry64Regs(p).rsp, p.symbolAddr('stack_end'));
  setEntry32Regs(p, { esi: 0x90000, eip: 0x100000 });
  const raw32 = dv(p.getSymbol('entry32_regs', 36));
  assert.equal(raw32.getUint32(ENTRY32_REGS.esi.offset, true), 0x90000);
  assert.equal(raw32.getUint32(ENTRY32_REGS.eip.offset, true), 0x100000);

  const digest = sha256(new Uint8Array([1, 2, 3]));
  setShaRegions(p, [{ start: 0x1000000n, len: 0x3f97000n }, { start: 0x1bf04000n, len: 0x100000n }], digest);
  const back = getShaRegions(p);
  assert.deepEqual(back.regions.slice(0, 3), [{ start: 0x1000000n, len: 0x3f97000n }, { start: 0x1bf04000n, len: 0x100000n }, { start: 0n, len: 0n }]);
  assert.deepEqual(back.digest, digest);
  // The kernel's names see the same storage.
  assert.deepEqual(p.getSymbol('purgatory_sha256_digest', 32), digest);
  assert.deepEqual(p.getSymbol('purgatory_sha_regions', 256), p.getSymbol('sha256_regions', 256));
  setSkipChecks(p, true);
  assert.deepEqual([...p.getSymbol('skip_checks', 4)], [1, 0, 0, 0]);
  setConsole(p, { serial: true, base: 0x2f8, baud: 9600 });
  assert.deepEqual([...p.getSymbol('console_serial', 1), ...p.getSymbol('serial_base', 2)], [1, 0xf8, 0x02]);
  setBackup(p, { backupStart: 0x1000n, srcStart: 0n, srcSize: 0xa0000n });
  assert.equal(dv(p.getSymbol('backup_src_size', 8)).getBigUint64(0, true), 0xa0000n);

  const rule = 'kexec_purgatory_get_set_symbol';
  assert.throws(() => setEntry32Regs(p, { eip: 2 ** 32 }), kexecError('EINVAL', rule, /entry32_regs.eip 0x100000000 does not fit 32 bits/));
  assert.throws(() => setEntry32Regs(p, { esp: 1.5 }), kexecError('EINVAL', rule, /entry32_regs.esp 1.5 is not an integer/));
  assert.throws(() => setEntry64Regs(p, { rax: -1n }), kexecError('EINVAL', rule, /entry64_regs.rax/));
  assert.throws(() => setShaRegions(p, Array(17).fill({ start: 0n, len: 0n }), digest), kexecError('EINVAL', rule, /17 sha256 regions, the purgatory holds 16/));
  assert.throws(() => setShaRegions(p, [], digest.subarray(0, 31)), kexecError('EINVAL', rule, /digest of 31 bytes/));
  assert.throws(() => setConsole(p, { serial: true, base: 0x10000, baud: 0 }), kexecError('EINVAL', rule, /not an I\/O port/));
  assert.throws(() => getEntry64Regs(loadPurgatory('i386', 0x100000n)), kexecError('EINVAL', rule, /entry64_regs not found/));
});

// ---- the C sha256, built for the host ----

const SHA_HARNESS = `
#include <stdio.h>
#include <stdlib.h>
#include "sha256.h"
/* stdin: records {u32 len, u32 chunk, len bytes}; stdout: one hex digest per record, hashed in chunks. */
int main(void)
{
	unsigned char h[8];
	while (fread(h, 1, 8, stdin) == 8) {
		uint32_t len = h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24;
		uint32_t chunk = h[4] | h[5] << 8 | h[6] << 16 | (uint32_t)h[7] << 24;
		unsigned char *buf = malloc(len + 1);
		struct sha256_ctx ctx;
		uint8_t d[32];
		if (!buf || fread(buf, 1, len, stdin) != len)
			return 2;
		sha256_init(&ctx);
		for (uint32_t off = 0; off < len; off += chunk)
			sha256_update(&ctx, buf + off, len - off < chunk ? len - off : chunk);
		sha256_final(&ctx, d);
		for (int i = 0; i < 32; i++)
			printf("%02x", d[i]);
		printf("\\n");
		free(buf);
	}
	return 0;
}
`;

test('purgatory sha256.c (host build) agrees with node:crypto on random inputs, 0..1 MB, any chunking', (t) => {
  if (!requireTools(t, ['gcc'], 'VKEXEC_NO_TOOLCHAIN', 'gcc')) return;
  const dir = mkdtempSync(join(workDir, 'sha-'));
  writeFileSync(join(dir, 'main.c'), SHA_HARNESS);
  const exe = join(dir, 'sha256-host');
  execFileSync('gcc', ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-I', SRC_DIR, join(dir, 'main.c'), join(SRC_DIR, 'sha256.c'), '-o', exe]);
  const lengths = [0, 1, 3, 54, 55, 56, 57, 63, 64, 65, 111, 112, 119, 120, 127, 128, 129, 1000, 4103, 65537, 1000003];
  const cases: { data: Uint8Array; chunk: number }[] = [];
  for (const len of lengths) {
    for (const chunk of [len || 1, 1, 7, 55, 56, 63, 64, 65, 4096]) {
      if (chunk === 1 && len > 5000) continue;
      cases.push({ data: randomBytes(len), chunk });
    }
  }
  const input = Buffer.concat(cases.flatMap(({ data, chunk }) => {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(data.byteLength, 0);
    h.writeUInt32LE(chunk, 4);
    return [h, data];
  }));
  const lines = execFileSync(exe, [], { input, encoding: 'utf8', maxBuffer: 16 << 20 }).trim().split('\n');
  assert.equal(lines.length, cases.length);
  cases.forEach(({ data, chunk }, i) => {
    assert.equal(lines[i], hex(sha256(data)), `length ${data.byteLength}, chunk ${chunk}, input ${hex(data.subarray(0, 16))}...`);
  });
});

// ---- rebuild ----

test('build.sh reproduces the committed purgatory objects byte for byte', (t) => {
  if (!requireTools(t, ['gcc', 'ld', 'objcopy', 'nm'], 'VKEXEC_NO_TOOLCHAIN', 'gcc binutils')) return;
  const out = mkdtempSync(join(workDir, 'rebuild-'));
  execFileSync('sh', [join(SRC_DIR, 'build.sh'), out], { stdio: ['ignore', 'ignore', 'pipe'] });
  const committedToolchain = readFileSync(join(SRC_DIR, 'toolchain.txt'), 'utf8').trim();
  const localToolchain = readFileSync(join(out, 'toolchain.txt'), 'utf8').trim();
  for (const arch of ARCHES) {
    const committed = readFileSync(purgatoryObjectPath(arch));
    const rebuilt = readFileSync(join(out, `purgatory-${arch}.o`));
    assert.ok(
      committed.equals(rebuilt),
      `rebuilt purgatory-${arch}.o differs from the committed one (committed with: ${committedToolchain}; rebuilt with: ${localToolchain}). ` +
        'If the sources changed, run src/arch/x86/purgatory/build.sh and commit the objects.',
    );
  }
  assert.equal(localToolchain, committedToolchain);
});

// ---- real runs under QEMU ----

// Multiboot v1 kernel: QEMU -kernel (SeaBIOS + its multiboot option ROM) enters it in flat 32-bit
// protected mode with paging off. It loads a GDT unlike the purgatory's, then either jumps to the
// purgatory in 32-bit mode or builds identity page tables for the first 8 GiB (2 MiB pages), enters long
// mode and jumps there. ok64/ok32 are the "images": they check the registers, mode and segments the
// purgatory handed over and report on COM1, then leave through isa-debug-exit (0x10 -> status 33).
const HARNESS = `
	.set	PARAMS, 0x1ff000
	.set	P_MODE, PARAMS + 0
	.set	P_ESP, PARAMS + 4
	.set	P_ENTRY, PARAMS + 8
	.set	P_RSP, PARAMS + 16
	.set	P_BSRC, PARAMS + 24
	.set	P_BDST, PARAMS + 28
	.set	P_BLEN, PARAMS + 32
	.set	COM1, 0x3f8
	.set	EXIT_PORT, 0xf4

	.section .multiboot, "a"
	.balign 4
	.long	0x1badb002, 0, -0x1badb002

	.text
	.code32
	.globl	_start
_start:
	cli
	movl	$stack_top, %esp
	lgdt	gdtr
	ljmp	$0x20, $1f
1:	movl	$0x30, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	cmpl	$64, P_MODE
	je	go64
	jmp	*P_ENTRY
go64:
	movl	$pd, %edi
	xorl	%ecx, %ecx
2:	movl	%ecx, %eax
	shll	$21, %eax
	orl	$0x83, %eax
	movl	%eax, (%edi,%ecx,8)
	movl	%ecx, %eax
	shrl	$11, %eax
	movl	%eax, 4(%edi,%ecx,8)
	incl	%ecx
	cmpl	$8 * 512, %ecx
	jne	2b
	xorl	%ecx, %ecx
3:	movl	%ecx, %eax
	shll	$12, %eax
	addl	$pd + 3, %eax
	movl	%eax, pdpt(,%ecx,8)
	incl	%ecx
	cmpl	$8, %ecx
	jne	3b
	movl	$pdpt + 3, pml4
	movl	%cr4, %eax
	orl	$0x20, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx
	rdmsr
	orl	$0x100, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000000, %eax
	movl	%eax, %cr0
	ljmp	$0x28, $long64

	.code64
long64:
	movq	P_ENTRY, %rax
	jmpq	*%rax

	.globl	ok64
ok64:
	movabs	$0x1111111111111111, %r8
	cmpq	%r8, %rax
	jne	bad64
	movabs	$0x3333333333333333, %r8
	cmpq	%r8, %rcx
	jne	bad64
	movabs	$0x5555555555555555, %r8
	cmpq	%r8, %rsi
	jne	bad64
	movabs	$0x6666666666666666, %r8
	cmpq	%r8, %rdi
	jne	bad64
	movabs	$0xfedcba9876543210, %r8
	cmpq	%r8, %r15
	jne	bad64
	cmpq	P_RSP, %rsp
	jne	bad64
	movw	%cs, %ax
	cmpw	$0x10, %ax
	jne	bad64
	movw	%ds, %ax
	cmpw	$0x18, %ax
	jne	bad64
	movl	$msg_ok64, %esi
	movb	$0x10, %bl
	jmp	4f
bad64:
	movl	$msg_bad64, %esi
	movb	$0x11, %bl
4:	movw	$COM1, %dx
5:	lodsb
	testb	%al, %al
	jz	6f
	outb	%al, %dx
	jmp	5b
6:	movb	%bl, %al
	outb	%al, $EXIT_PORT
	hlt

	.code32
	.globl	ok32
ok32:
	cmpl	$0x11111111, %eax
	jne	bad32
	cmpl	$0x22222222, %ebx
	jne	bad32
	cmpl	$0x33333333, %ecx
	jne	bad32
	cmpl	$0x44444444, %edx
	jne	bad32
	cmpl	$0x55555555, %esi
	jne	bad32
	cmpl	$0x66666666, %edi
	jne	bad32
	cmpl	$0x77777777, %ebp
	jne	bad32
	cmpl	P_ESP, %esp
	jne	bad32
	movl	%cs, %eax
	cmpw	$0x10, %ax
	jne	bad32
	movl	%ds, %eax
	cmpw	$0x18, %ax
	jne	bad32
	movl	%ss, %eax
	cmpw	$0x18, %ax
	jne	bad32
	movl	%cr0, %eax
	testl	$0x80000000, %eax
	jnz	bad32
	cmpl	$64, P_MODE
	jne	7f
	movl	$0xc0000080, %ecx
	rdmsr
	testl	$0x500, %eax
	jnz	bad32
7:	movl	P_BLEN, %ecx
	testl	%ecx, %ecx
	jz	8f
	movl	P_BSRC, %esi
	movl	P_BDST, %edi
	cld
	repe cmpsb
	jne	badbackup
8:	movl	$msg_ok32, %esi
	movb	$0x10, %bl
	jmp	9f
badbackup:
	movl	$msg_badbackup, %esi
	movb	$0x11, %bl
	jmp	9f
bad32:
	movl	$msg_bad32, %esi
	movb	$0x11, %bl
9:	movw	$COM1, %dx
10:	lodsb
	testb	%al, %al
	jz	11f
	outb	%al, %dx
	jmp	10b
11:	movb	%bl, %al
	outb	%al, $EXIT_PORT
	hlt

	.data
	.balign 8
gdt:
	.quad	0, 0, 0, 0
	.quad	0x00cf9a000000ffff
	.quad	0x00af9a000000ffff
	.quad	0x00cf92000000ffff
gdt_end:
gdtr:
	.word	gdt_end - gdt - 1
	.long	gdt
msg_ok64:	.asciz "VKX-OK64\\n"
msg_bad64:	.asciz "VKX-BAD64\\n"
msg_ok32:	.asciz "VKX-OK32\\n"
msg_bad32:	.asciz "VKX-BAD32\\n"
msg_badbackup:	.asciz "VKX-BADBACKUP\\n"
	.balign 4096
pml4:	.fill	512, 8, 0
pdpt:	.fill	512, 8, 0
pd:	.fill	8 * 512, 8, 0
	.fill	1024, 4, 0
stack_top:
`;

const HARNESS_LD = `ENTRY(_start)
SECTIONS {
  . = 0x100000;
  .text : { *(.multiboot) *(.text) }
  .data : { *(.data) *(.bss) }
}
`;

let harnessCache: { path: string; ok32: bigint; ok64: bigint } | undefined;

function buildHarness(): { path: string; ok32: bigint; ok64: bigint } {
  if (harnessCache) return harnessCache;
  const dir = mkdtempSync(join(workDir, 'harness-'));
  writeFileSync(join(dir, 'harness.S'), HARNESS);
  writeFileSync(join(dir, 'harness.ld'), HARNESS_LD);
  execFileSync('as', ['--32', join(dir, 'harness.S'), '-o', join(dir, 'harness.o')]);
  const path = join(dir, 'harness.elf');
  execFileSync('ld', ['-m', 'elf_i386', '-T', join(dir, 'harness.ld'), '-o', path, join(dir, 'harness.o')]);
  const syms = parseElf(new Uint8Array(readFileSync(path))).symbols();
  const addr = (n: string) => syms.find((s) => s.name === n)!.value;
  harnessCache = { path, ok32: addr('ok32'), ok64: addr('ok64') };
  return harnessCache;
}

const BLOB_ADDR = 0x300000n;
const BACKUP_DST = 0x400000;
const PARAMS_ADDR = 0x1ff000;

interface Scenario {
  arch: PurgatoryArch;
  base: bigint;
  /** What the harness's target checks: 'ok64' (64-bit entry), 'ok32' (32-bit entry), none (rip/eip left). */
  target: 'ok64' | 'ok32';
  badDigest?: boolean;
  skipChecks?: boolean;
  chatty?: boolean;
  /** Stop once the output matches (for runs that end in the purgatory's halt loop). */
  until?: RegExp;
}

interface Run {
  output: string;
  errors: string;
  status: number | null;
  computed: string;
  expected: string;
}

async function runScenario(s: Scenario): Promise<Run> {
  const h = buildHarness();
  const dir = mkdtempSync(join(workDir, 'run-'));
  const blob = randomBytes(200000);
  const regions = [{ start: BLOB_ADDR, len: 100000n }, { start: BLOB_ADDR + 100000n, len: 99999n }, { start: BLOB_ADDR, len: 0n }];
  const good = sha256(blob.subarray(0, 199999));
  const digest = s.badDigest || s.skipChecks ? good.map((b, i) => (i === 31 ? b ^ 0x80 : b)) : good;

  const p = loadPurgatory(s.arch, s.base);
  setShaRegions(p, regions, digest);
  if (s.skipChecks) setSkipChecks(p, true);
  if (s.chatty) setConsole(p, { serial: true, base: 0x3f8, baud: 115200 });
  setBackup(p, { backupStart: BigInt(BACKUP_DST), srcStart: BLOB_ADDR, srcSize: 4096n });
  const stackEnd = p.symbolAddr('stack_end');
  const esp32 = stackEnd > 0xffffffffn ? 0x1fe000 : Number(stackEnd);
  setEntry32Regs(p, {
    eax: 0x11111111, ebx: 0x22222222, ecx: 0x33333333, edx: 0x44444444, esi: 0x55555555, edi: 0x66666666, ebp: 0x77777777,
    esp: esp32, eip: Number(h.ok32),
  });
  if (s.target === 'ok64') {
    setEntry64Regs(p, {
      rax: 0x1111111111111111n, rcx: 0x3333333333333333n, rsi: 0x5555555555555555n, rdi: 0x6666666666666666n,
      r15: 0xfedcba9876543210n, rsp: stackEnd, rip: h.ok64,
    });
  }
  const params = Buffer.alloc(64);
  params.writeUInt32LE(s.arch === 'x86_64' ? 64 : 32, 0);
  params.writeUInt32LE(esp32, 4);
  params.writeBigUInt64LE(p.entry, 8);
  params.writeBigUInt64LE(stackEnd, 16);
  params.writeUInt32LE(Number(BLOB_ADDR), 24);
  params.writeUInt32LE(BACKUP_DST, 28);
  params.writeUInt32LE(4096, 32);
  const files = { purgatory: join(dir, 'purgatory.bin'), blob: join(dir, 'blob.bin'), params: join(dir, 'params.bin') };
  writeFileSync(files.purgatory, p.buf);
  writeFileSync(files.blob, blob);
  writeFileSync(files.params, params);

  const qemu = s.arch === 'x86_64' ? 'qemu-system-x86_64' : 'qemu-system-i386';
  const args = [
    '-accel', 'tcg', '-m', s.base > 0xffffffffn ? '4608M' : '64M', '-display', 'none', '-nodefaults', '-serial', 'stdio',
    '-monitor', 'none', '-no-reboot', '-kernel', h.path, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-device', `loader,file=${files.purgatory},addr=0x${s.base.toString(16)},force-raw=on`,
    '-device', `loader,file=${files.blob},addr=0x${BLOB_ADDR.toString(16)},force-raw=on`,
    '-device', `loader,file=${files.params},addr=0x${PARAMS_ADDR.toString(16)},force-raw=on`,
  ];
  const child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  const status = await new Promise<number | null>((resolve) => {
    // A hang guard, not a timing assertion: the purgatory's halt loop never ends on its own.
    const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString('latin1').replace(/\r/g, '');
      if (s.until?.test(output)) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => {
      errors += d.toString('latin1');
    });
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve(code);
    });
  });
  return { output, errors, status, computed: hex(good), expected: hex(digest) };
}

function requireQemu(t: TestContext, arch: PurgatoryArch): boolean {
  if (!requireTools(t, ['as', 'ld'], 'VKEXEC_NO_TOOLCHAIN', 'binutils')) return false;
  return requireTools(t, [arch === 'x86_64' ? 'qemu-system-x86_64' : 'qemu-system-i386'], 'VKEXEC_NO_QEMU', 'qemu-system-x86');
}

const MISMATCH = /sha256 digests do not match :\(\n {7}digest: ([0-9a-f]{64})\nsha256_digest: ([0-9a-f]{64})\n/;

for (const arch of ARCHES) {
  test(`QEMU ${arch}: a bad digest stops the purgatory with the report on COM1, showing the right digests`, async (t) => {
    if (!requireQemu(t, arch)) return;
    const r = await runScenario({ arch, base: 0x200000n, target: arch === 'x86_64' ? 'ok64' : 'ok32', badDigest: true, until: MISMATCH });
    const m = MISMATCH.exec(r.output);
    assert.ok(m, `no mismatch report on serial; output: ${JSON.stringify(r.output)} ${r.errors}`);
    assert.equal(m[1], r.computed, 'the purgatory computed the digest node:crypto computes over the regions');
    assert.equal(m[2], r.expected, 'and printed the stored one');
    assert.ok(!r.output.includes('VKX-'), 'the image must not be entered');
  });
}

test('QEMU i386: good digest -> entry32_regs loaded, flat 32-bit mode, backup copied, image entered', async (t) => {
  if (!requireQemu(t, 'i386')) return;
  const r = await runScenario({ arch: 'i386', base: 0x200000n, target: 'ok32' });
  assert.equal(r.output.trim(), 'VKX-OK32', r.errors);
  assert.equal(r.status, 33);
});

test('QEMU x86_64: good digest -> entry64_regs loaded, own GDT (CS 0x10, DS 0x18), console chatter on request', async (t) => {
  if (!requireQemu(t, 'x86_64')) return;
  const r = await runScenario({ arch: 'x86_64', base: 0x200000n, target: 'ok64', chatty: true });
  assert.equal(r.output, "I'm in purgatory\nVKX-OK64\n");
  assert.equal(r.status, 33);
});

test('QEMU x86_64: default rip = entry32 leaves long mode (paging and EFER.LME off) into entry32_regs; -i skips the check', async (t) => {
  if (!requireQemu(t, 'x86_64')) return;
  const r = await runScenario({ arch: 'x86_64', base: 0x200000n, target: 'ok32', skipChecks: true });
  assert.equal(r.output.trim(), 'VKX-OK32', r.errors);
  assert.equal(r.status, 33);
});

test('QEMU x86_64 above 4 GiB: the 64-bit path runs; a 32-bit hand-off is refused with a message', async (t) => {
  if (!requireQemu(t, 'x86_64')) return;
  const high = 0x100200000n;
  const ok = await runScenario({ arch: 'x86_64', base: high, target: 'ok64' });
  assert.equal(ok.output.trim(), 'VKX-OK64', ok.errors);
  const refused = await runScenario({ arch: 'x86_64', base: high, target: 'ok32', until: /below 4 GiB\n/ });
  assert.equal(refused.output, 'purgatory: a 32-bit entry needs the purgatory below 4 GiB\n');
});

test('the committed objects exist beside their sources', () => {
  for (const arch of ARCHES) assert.ok(existsSync(purgatoryObjectPath(arch)), purgatoryObjectPath(arch));
  assert.ok(existsSync(join(SRC_DIR, 'build.sh')));
});
