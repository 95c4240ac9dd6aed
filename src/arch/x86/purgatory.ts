// Loader for vkexec's purgatory objects (relocatable ELF, built by purgatory/build.sh): lays the SHF_ALLOC
// sections out as one segment, applies the relocations for its load address, and gets/sets the symbols the
// image loaders patch. Mirrors kernel/kexec_file.c (kexec_load_purgatory, kexec_purgatory_setup_kbuf,
// kexec_purgatory_setup_sechdrs, kexec_apply_relocations, kexec_purgatory_find_symbol,
// kexec_purgatory_get_set_symbol), arch/x86/kernel/machine_kexec_64.c (arch_kexec_apply_relocations_add)
// and, for the i386 object, kexec-tools' kexec/kexec-elf-rel.c and kexec/arch/i386/kexec-elf-rel-x86.c.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KexecError, fileErrorText } from '../../errno.js';
import {
  ElfFile, ElfFormatError, ElfSection, ElfSymbol, EM_386, EM_486, EM_X86_64, ET_REL, R_386_32, R_386_PC32,
  R_X86_64_32, R_X86_64_32S, R_X86_64_64, R_X86_64_NONE, R_X86_64_PC32, R_X86_64_PLT32, SHF_ALLOC, SHN_ABS,
  SHN_COMMON, SHN_UNDEF, SHT_NOBITS, SHT_REL, SHT_RELA, SHT_SYMTAB, STB_GLOBAL,
} from '../../formats/elf.js';

export type PurgatoryArch = 'x86_64' | 'i386';

const U32_MAX = 0xffffffffn;
const U64_MASK = (1n << 64n) - 1n;
const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

// The compiled module is dist/src/arch/x86/purgatory.js; the objects stay in the source tree, which the
// package ships (package.json "files": src/arch/x86/purgatory/*.o).
const PURGATORY_DIR = new URL('../../../../src/arch/x86/purgatory/', import.meta.url);

export function purgatoryObjectPath(arch: PurgatoryArch): string {
  return fileURLToPath(new URL(`purgatory-${arch}.o`, PURGATORY_DIR));
}

/** The committed purgatory object for arch (the kernel's built-in kexec_purgatory blob, in Linux terms). */
export function readPurgatoryObject(arch: PurgatoryArch): Uint8Array {
  const path = purgatoryObjectPath(arch);
  try {
    // A plain Uint8Array: Buffer's slice() would share memory where callers expect a copy.
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new KexecError('ENOENT', 'kexec_load_purgatory', `cannot read the ${arch} purgatory ${path}: ${fileErrorText(e)}`, {
      hint: 'reinstall vkexec, or rebuild the objects with src/arch/x86/purgatory/build.sh',
    });
  }
}

/** Where one SHF_ALLOC section goes, as an offset from the segment's load address. */
export interface PurgatorySectionPlacement {
  index: number;
  name: string;
  offset: number;
  size: number;
  align: number;
  nobits: boolean;
}

export interface PurgatoryLayout {
  elf: ElfFile;
  arch: PurgatoryArch;
  sections: PurgatorySectionPlacement[];
  /** Bytes of segment data: the non-NOBITS sections, padded to the bss alignment. */
  bufsz: number;
  /** bufsz plus the bss sections. */
  memsz: number;
  /** The largest section alignment: the segment's load address must be a multiple of it. */
  align: number;
}

function enoexec(detail: string, value?: string): KexecError {
  return new KexecError('ENOEXEC', 'kexec_load_purgatory', detail, value === undefined ? {} : { value });
}

function sectionAlign(s: ElfSection): number {
  // kexec-tools treats sh_addralign 0 as 1 (get_section_addralign); the gABI allows only 0 and powers of two.
  const a = s.addralign === 0n ? 1n : s.addralign;
  if ((a & (a - 1n)) !== 0n || a > 0x100000n) {
    throw enoexec(`section ${s.index} (${s.name}) has sh_addralign ${hex(s.addralign)}, not a power of two up to 1 MiB`);
  }
  return Number(a);
}

/**
 * Lays out the SHF_ALLOC sections in section order (kernel/kexec_file.c: kexec_purgatory_setup_kbuf and
 * kexec_purgatory_setup_sechdrs): data sections packed from offset 0, each aligned to its sh_addralign;
 * bufsz rounded up to the bss alignment; bss sections after bufsz.
 */
export function layoutPurgatory(obj: Uint8Array): PurgatoryLayout {
  let elf: ElfFile;
  try {
    elf = ElfFile.parse(obj);
  } catch (e) {
    if (e instanceof ElfFormatError) throw enoexec(`purgatory object: ${e.message}`);
    throw e;
  }
  const h = elf.header;
  if (h.type !== ET_REL) throw enoexec(`purgatory object has e_type ${h.type}, expected ET_REL (1)`);
  let arch: PurgatoryArch;
  if (h.class === 64 && h.machine === EM_X86_64) arch = 'x86_64';
  else if (h.class === 32 && (h.machine === EM_386 || h.machine === EM_486)) arch = 'i386';
  else throw enoexec(`purgatory object is ELF${h.class} for machine ${h.machine}, not x86_64 (ELF64, 62) or i386 (ELF32, 3)`);
  if (elf.sections.length === 0) throw enoexec('purgatory object has no section headers');

  const alloc = elf.sections.filter((s) => (s.flags & SHF_ALLOC) !== 0n);
  let bufAlign = 1;
  let bssAlign = 1;
  let bufsz = 0;
  let bssSize = 0;
  const sections: PurgatorySectionPlacement[] = [];
  for (const s of alloc) {
    const align = sectionAlign(s);
    if (s.size > U32_MAX) throw enoexec(`section ${s.index} (${s.name}) has sh_size ${hex(s.size)}, too large for a purgatory`);
    const size = Number(s.size);
    const nobits = s.type === SHT_NOBITS;
    if (nobits) {
      bssAlign = Math.max(bssAlign, align);
      bssSize = alignUp(bssSize, align);
      sections.push({ index: s.index, name: s.name, offset: bssSize, size, align, nobits });
      bssSize += size;
    } else {
      bufAlign = Math.max(bufAlign, align);
      bufsz = alignUp(bufsz, align);
      sections.push({ index: s.index, name: s.name, offset: bufsz, size, align, nobits });
      bufsz += size;
    }
  }
  bufsz = alignUp(bufsz, bssAlign);
  for (const p of sections) if (p.nobits) p.offset += bufsz;
  const memsz = bufsz + bssSize;
  if (memsz > Number(U32_MAX)) throw enoexec(`purgatory memsz ${hex(memsz)} is too large`);
  return { elf, arch, sections, bufsz, memsz, align: Math.max(bufAlign, bssAlign) };
}

interface FoundSymbol {
  sym: ElfSymbol;
  section: ElfSection;
}

/** A purgatory placed at loadAddr with its relocations applied: the segment to load, and its symbols. */
export class RelocatedPurgatory {
  readonly arch: PurgatoryArch;
  /** The segment's data (bufsz bytes); the bss beyond it is zero-filled by the segment loader. */
  readonly buf: Uint8Array;
  readonly bufsz: number;
  readonly memsz: number;
  readonly loadAddr: bigint;
  /** The relocated purgatory_start: image->start. */
  readonly entry: bigint;
  private readonly layout: PurgatoryLayout;
  private readonly placement: Map<number, PurgatorySectionPlacement>;
  private readonly sectionAddr: bigint[];
  private readonly symtabs: { table: ElfSection; symbols: ElfSymbol[] }[];

  /** @internal Use relocatePurgatory. */
  constructor(layout: PurgatoryLayout, loadAddr: bigint, buf: Uint8Array, sectionAddr: bigint[]) {
    this.arch = layout.arch;
    this.layout = layout;
    this.buf = buf;
    this.bufsz = layout.bufsz;
    this.memsz = layout.memsz;
    this.loadAddr = loadAddr;
    this.sectionAddr = sectionAddr;
    this.placement = new Map(layout.sections.map((p) => [p.index, p]));
    this.symtabs = layout.elf.sections
      .filter((t) => t.type === SHT_SYMTAB)
      .map((table) => ({ table, symbols: layout.elf.symbols(table) }));
    const start = this.findSymbol('purgatory_start');
    if (!start) throw enoexec('purgatory object has no global symbol purgatory_start');
    this.entry = this.sectionAddr[start.section.index]! + start.sym.value;
  }

  /**
   * kernel/kexec_file.c: kexec_purgatory_find_symbol. Only GLOBAL symbols count; a match with an
   * undefined or out-of-range section index ends the search with nothing.
   */
  private findSymbol(name: string): FoundSymbol | undefined {
    const elf = this.layout.elf;
    for (const { symbols } of this.symtabs) {
      for (const sym of symbols) {
        if (sym.bind !== STB_GLOBAL || sym.name !== name) continue;
        if (sym.shndx === SHN_UNDEF || sym.shndx >= elf.sections.length) return undefined;
        return { sym, section: elf.sections[sym.shndx]! };
      }
    }
    return undefined;
  }

  /** kexec_purgatory_get_symbol_addr: where the symbol will be once the segment is loaded. */
  symbolAddr(name: string): bigint {
    const found = this.findSymbol(name);
    if (!found) {
      throw new KexecError('EINVAL', 'kexec_purgatory_get_symbol_addr', `Could not find address of symbol ${name}`, { value: name });
    }
    return this.sectionAddr[found.section.index]! + found.sym.value;
  }

  /** The bytes of a symbol inside buf, by the rules of kexec_purgatory_get_set_symbol. */
  private symbolBytes(name: string, size: number, op: 'get' | 'set'): Uint8Array {
    const rule = 'kexec_purgatory_get_set_symbol';
    const found = this.findSymbol(name);
    if (!found) throw new KexecError('EINVAL', rule, `symbol ${name} not found among the purgatory's global symbols`, { value: name });
    const { sym, section } = found;
    if (sym.size !== BigInt(size)) {
      throw new KexecError('EINVAL', rule, `symbol ${name} size mismatch: expected ${sym.size} actual ${size}`, { value: name });
    }
    if (section.type === SHT_NOBITS) {
      throw new KexecError('EINVAL', rule, `symbol ${name} is in a bss section. Cannot ${op}`, { value: name });
    }
    // The kernel trusts its built-in object here; an object from disk must not steer writes outside buf.
    const place = this.placement.get(section.index);
    if (!place || sym.value + sym.size > BigInt(place.size)) {
      throw new KexecError('EINVAL', rule, `symbol ${name} does not lie inside a loaded section`, { value: name });
    }
    const at = place.offset + Number(sym.value);
    return this.buf.subarray(at, at + size);
  }

  getSymbol(name: string, size: number): Uint8Array {
    return this.symbolBytes(name, size, 'get').slice();
  }

  setSymbol(name: string, bytes: Uint8Array): void {
    this.symbolBytes(name, bytes.byteLength, 'set').set(bytes);
  }
}

function relocError(detail: string): KexecError {
  return new KexecError('ENOEXEC', 'kexec_apply_relocations', detail);
}

/**
 * Copies the sections into a bufsz buffer for loadAddr and applies every relocation whose target section
 * is SHF_ALLOC (kernel/kexec_file.c: kexec_apply_relocations). x86_64 takes RELA only, with the types of
 * arch_kexec_apply_relocations_add; i386 takes kexec-tools' REL types R_386_32 and R_386_PC32.
 */
export function relocatePurgatory(layout: PurgatoryLayout, loadAddr: bigint): RelocatedPurgatory {
  if (loadAddr < 0n || loadAddr % BigInt(layout.align) !== 0n) {
    throw new KexecError('EINVAL', 'kexec_load_purgatory', `purgatory load address ${hex(loadAddr)} is not aligned to ${hex(layout.align)}`, {
      value: hex(loadAddr),
    });
  }
  const limit = layout.arch === 'i386' ? 1n << 32n : 1n << 64n;
  if (loadAddr + BigInt(layout.memsz) > limit) {
    throw relocError(`${layout.arch} purgatory at ${hex(loadAddr)} + ${hex(layout.memsz)} does not fit the ${layout.arch === 'i386' ? '32' : '64'}-bit address space`);
  }
  const elf = layout.elf;
  const buf = new Uint8Array(layout.bufsz);
  // Non-allocated sections keep their (object file) sh_addr, as the kernel's copy of the headers does.
  const sectionAddr = elf.sections.map((s) => s.addr);
  const placement = new Map(layout.sections.map((p) => [p.index, p]));
  for (const p of layout.sections) {
    sectionAddr[p.index] = loadAddr + BigInt(p.offset);
    if (!p.nobits) buf.set(elf.sectionData(elf.sections[p.index]!), p.offset);
  }

  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shnum = elf.sections.length;
  try {
    for (const rel of elf.sections) {
      if (rel.type !== SHT_RELA && rel.type !== SHT_REL) continue;
      if (rel.info >= shnum || rel.link >= shnum) {
        throw relocError(`relocation section ${rel.index} (${rel.name}) has sh_info ${rel.info} / sh_link ${rel.link} beyond e_shnum ${shnum}`);
      }
      const target = elf.sections[rel.info]!;
      const symtab = elf.sections[rel.link]!;
      if ((target.flags & SHF_ALLOC) === 0n) continue;
      if (symtab.link >= shnum) continue; // the kernel skips a symbol table without a valid string table
      if (layout.arch === 'x86_64' && rel.type === SHT_REL) throw relocError('REL relocation unsupported');
      const place = placement.get(target.index)!;
      if (place.nobits) throw relocError(`relocation section ${rel.index} (${rel.name}) applies to bss section ${target.name}`);
      const symbols = elf.symbols(symtab);

      for (const r of elf.relocations(rel)) {
        const width = relocWidth(layout.arch, r.type);
        if (r.offset + BigInt(width) > BigInt(place.size)) {
          throw relocError(`relocation at ${target.name}+${hex(r.offset)} lies outside the section (${hex(place.size)} bytes)`);
        }
        const at = place.offset + Number(r.offset);
        const address = sectionAddr[target.index]! + r.offset;
        const sym = symbols[r.sym];
        if (!sym) throw relocError(`relocation at ${target.name}+${hex(r.offset)} names symbol ${r.sym}, beyond the ${symbols.length} of ${symtab.name}`);
        const name = sym.name || elf.sections[sym.shndx]?.name || `#${r.sym}`;
        if (sym.shndx === SHN_UNDEF) throw relocError(`Undefined symbol: ${name}`);
        if (sym.shndx === SHN_COMMON) throw relocError(`symbol '${name}' in common section`);
        let secBase: bigint;
        if (sym.shndx === SHN_ABS) secBase = 0n;
        else if (sym.shndx >= shnum) throw relocError(`Invalid section ${sym.shndx} for symbol ${name}`);
        else secBase = sectionAddr[sym.shndx]!;
        const value = (sym.value + secBase + r.addend) & U64_MASK;

        if (layout.arch === 'x86_64') applyRelaX86_64(view, at, r.type, value, address);
        else applyRelI386(view, at, r.type, value, address);
      }
    }
    return new RelocatedPurgatory(layout, loadAddr, buf, sectionAddr);
  } catch (e) {
    if (e instanceof ElfFormatError) throw relocError(`purgatory object: ${e.message}`);
    throw e;
  }
}

function relocWidth(arch: PurgatoryArch, type: number): number {
  if (arch === 'x86_64') {
    switch (type) {
      case R_X86_64_NONE:
        return 0;
      case R_X86_64_64:
        return 8;
      case R_X86_64_32:
      case R_X86_64_32S:
      case R_X86_64_PC32:
      case R_X86_64_PLT32:
        return 4;
      default:
        throw relocError(`Unknown rela relocation: ${type}`);
    }
  }
  if (type === R_386_32 || type === R_386_PC32) return 4;
  throw relocError(`Unknown rel relocation: ${type}`);
}

function overflow(type: number, value: bigint): KexecError {
  return relocError(`Overflow in relocation type ${type} value ${hex(value)}`);
}

const toSigned64 = (v: bigint): bigint => BigInt.asIntN(64, v);

/** arch/x86/kernel/machine_kexec_64.c: arch_kexec_apply_relocations_add. */
function applyRelaX86_64(view: DataView, at: number, type: number, value: bigint, address: bigint): void {
  switch (type) {
    case R_X86_64_NONE:
      return;
    case R_X86_64_64:
      view.setBigUint64(at, value, true);
      return;
    case R_X86_64_32:
      if (value > U32_MAX) throw overflow(type, value);
      view.setUint32(at, Number(value), true);
      return;
    case R_X86_64_32S: {
      const s = toSigned64(value);
      if (s < -(1n << 31n) || s >= 1n << 31n) throw overflow(type, value);
      view.setInt32(at, Number(s), true);
      return;
    }
    case R_X86_64_PC32:
    case R_X86_64_PLT32: {
      // The kernel stores the low 32 bits unchecked; a displacement that does not fit would send the CPU
      // somewhere else, so it is refused here as an overflow.
      const d = toSigned64((value - address) & U64_MASK);
      if (d < -(1n << 31n) || d >= 1n << 31n) throw overflow(type, value);
      view.setInt32(at, Number(d), true);
      return;
    }
  }
}

/** kexec-tools kexec/arch/i386/kexec-elf-rel-x86.c: machine_apply_elf_rel (implicit addend at the location). */
function applyRelI386(view: DataView, at: number, type: number, value: bigint, address: bigint): void {
  const old = view.getUint32(at, true);
  const add = type === R_386_32 ? value : value - address;
  view.setUint32(at, Number((BigInt(old) + add) & U32_MAX), true);
}

// ---- Typed access to the patchable symbols. Layouts as tables of named offsets. ----

export interface SymbolField {
  offset: number;
  size: 4 | 8;
}

/** Linux's struct kexec_entry64_regs (arch/x86/include/asm/kexec.h); purgatory/regs.h has the same table. */
export const ENTRY64_REGS = {
  rax: { offset: 0, size: 8 },
  rcx: { offset: 8, size: 8 },
  rdx: { offset: 16, size: 8 },
  rbx: { offset: 24, size: 8 },
  rsp: { offset: 32, size: 8 },
  rbp: { offset: 40, size: 8 },
  rsi: { offset: 48, size: 8 },
  rdi: { offset: 56, size: 8 },
  r8: { offset: 64, size: 8 },
  r9: { offset: 72, size: 8 },
  r10: { offset: 80, size: 8 },
  r11: { offset: 88, size: 8 },
  r12: { offset: 96, size: 8 },
  r13: { offset: 104, size: 8 },
  r14: { offset: 112, size: 8 },
  r15: { offset: 120, size: 8 },
  rip: { offset: 128, size: 8 },
} as const satisfies Record<string, SymbolField>;
export const ENTRY64_REGS_SIZE = 136;
export type Entry64Regs = Record<keyof typeof ENTRY64_REGS, bigint>;

/** kexec-tools' struct entry32_regs (kexec/arch/i386/kexec-x86.h). */
export const ENTRY32_REGS = {
  eax: { offset: 0, size: 4 },
  ebx: { offset: 4, size: 4 },
  ecx: { offset: 8, size: 4 },
  edx: { offset: 12, size: 4 },
  esi: { offset: 16, size: 4 },
  edi: { offset: 20, size: 4 },
  esp: { offset: 24, size: 4 },
  ebp: { offset: 28, size: 4 },
  eip: { offset: 32, size: 4 },
} as const satisfies Record<string, SymbolField>;
export const ENTRY32_REGS_SIZE = 36;
export type Entry32Regs = Record<keyof typeof ENTRY32_REGS, number>;

/** struct sha256_region (kexec-tools) = struct kexec_sha_region (Linux): {u64 start; u64 len}. */
export const SHA256_REGION = {
  start: { offset: 0, size: 8 },
  len: { offset: 8, size: 8 },
} as const satisfies Record<string, SymbolField>;
export const SHA256_REGION_SIZE = 16;
export const SHA256_REGIONS = 16;
export const SHA256_DIGEST_SIZE = 32;

export interface Sha256Region {
  start: bigint;
  len: bigint;
}

function checkedValue(field: string, value: bigint, size: 4 | 8): bigint {
  const max = size === 4 ? U32_MAX : U64_MASK;
  if (value < 0n || value > max) {
    throw new KexecError('EINVAL', 'kexec_purgatory_get_set_symbol', `${field} ${hex(value)} does not fit ${size * 8} bits`, { value: hex(value) });
  }
  return value;
}

function integer(field: string, n: number): bigint {
  if (!Number.isSafeInteger(n)) {
    throw new KexecError('EINVAL', 'kexec_purgatory_get_set_symbol', `${field} ${n} is not an integer`, { value: String(n) });
  }
  return BigInt(n);
}

function encodeFields<K extends string>(
  symbol: string, layout: Record<K, SymbolField>, size: number, values: Record<K, bigint>,
): Uint8Array {
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  for (const name of Object.keys(layout) as K[]) {
    const f = layout[name];
    const v = checkedValue(`${symbol}.${name}`, values[name], f.size);
    if (f.size === 8) view.setBigUint64(f.offset, v, true);
    else view.setUint32(f.offset, Number(v), true);
  }
  return out;
}

function decodeFields<K extends string>(layout: Record<K, SymbolField>, bytes: Uint8Array): Record<K, bigint> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = {} as Record<K, bigint>;
  for (const name of Object.keys(layout) as K[]) {
    const f = layout[name];
    out[name] = f.size === 8 ? view.getBigUint64(f.offset, true) : BigInt(view.getUint32(f.offset, true));
  }
  return out;
}

export function getEntry64Regs(p: RelocatedPurgatory): Entry64Regs {
  return decodeFields(ENTRY64_REGS, p.getSymbol('entry64_regs', ENTRY64_REGS_SIZE));
}

/** Read-modify-write of entry64_regs, as the loaders do with get_symbol + set_symbol. */
export function setEntry64Regs(p: RelocatedPurgatory, regs: Partial<Entry64Regs>): void {
  const merged = { ...getEntry64Regs(p), ...regs };
  p.setSymbol('entry64_regs', encodeFields('entry64_regs', ENTRY64_REGS, ENTRY64_REGS_SIZE, merged));
}

export function getEntry32Regs(p: RelocatedPurgatory): Entry32Regs {
  const raw = decodeFields(ENTRY32_REGS, p.getSymbol('entry32_regs', ENTRY32_REGS_SIZE));
  const out = {} as Entry32Regs;
  for (const k of Object.keys(raw) as (keyof Entry32Regs)[]) out[k] = Number(raw[k]);
  return out;
}

/** Read-modify-write of entry32_regs. */
export function setEntry32Regs(p: RelocatedPurgatory, regs: Partial<Entry32Regs>): void {
  const merged = { ...getEntry32Regs(p), ...regs };
  const big = {} as Record<keyof Entry32Regs, bigint>;
  for (const k of Object.keys(merged) as (keyof Entry32Regs)[]) big[k] = integer(`entry32_regs.${k}`, merged[k]);
  p.setSymbol('entry32_regs', encodeFields('entry32_regs', ENTRY32_REGS, ENTRY32_REGS_SIZE, big));
}

/**
 * Stores the digest regions and the expected digest (kexec-tools names sha256_regions/sha256_digest; the
 * kernel's purgatory_sha_regions/purgatory_sha256_digest are aliases of the same storage). Unused slots
 * are zeroed, which hashes nothing.
 */
export function setShaRegions(p: RelocatedPurgatory, regions: readonly Sha256Region[], digest: Uint8Array): void {
  const rule = 'kexec_purgatory_get_set_symbol';
  if (regions.length > SHA256_REGIONS) {
    throw new KexecError('EINVAL', rule, `${regions.length} sha256 regions, the purgatory holds ${SHA256_REGIONS}`);
  }
  if (digest.byteLength !== SHA256_DIGEST_SIZE) {
    throw new KexecError('EINVAL', rule, `sha256 digest of ${digest.byteLength} bytes, expected ${SHA256_DIGEST_SIZE}`);
  }
  const table = new Uint8Array(SHA256_REGIONS * SHA256_REGION_SIZE);
  regions.forEach((r, i) => {
    table.set(encodeFields(`sha256_regions[${i}]`, SHA256_REGION, SHA256_REGION_SIZE, { start: r.start, len: r.len }), i * SHA256_REGION_SIZE);
  });
  p.setSymbol('sha256_regions', table);
  p.setSymbol('sha256_digest', digest);
}

export function getShaRegions(p: RelocatedPurgatory): { regions: Sha256Region[]; digest: Uint8Array } {
  const table = p.getSymbol('sha256_regions', SHA256_REGIONS * SHA256_REGION_SIZE);
  const regions: Sha256Region[] = [];
  for (let i = 0; i < SHA256_REGIONS; i++) {
    const { start, len } = decodeFields(SHA256_REGION, table.subarray(i * SHA256_REGION_SIZE, (i + 1) * SHA256_REGION_SIZE));
    regions.push({ start, len });
  }
  return { regions, digest: p.getSymbol('sha256_digest', SHA256_DIGEST_SIZE) };
}

function u8(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff);
}
function u16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, true);
  return b;
}
function u32(v: number | bigint): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, Number(v), true);
  return b;
}
function u64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

/** kexec -i: the purgatory skips the digest check (skip_checks, a C int in kexec-tools). */
export function setSkipChecks(p: RelocatedPurgatory, skip: boolean): void {
  p.setSymbol('skip_checks', u32(skip ? 1 : 0));
}

/** --console-serial, --serial=, --serial-baud= (kexec-tools arch_update_purgatory). baud 0 keeps the divisor. */
export interface PurgatoryConsole {
  serial: boolean;
  base: number;
  baud: number;
}

export function setConsole(p: RelocatedPurgatory, c: PurgatoryConsole): void {
  if (!Number.isInteger(c.base) || c.base < 0 || c.base > 0xffff) {
    throw new KexecError('EINVAL', 'kexec_purgatory_get_set_symbol', `serial_base ${c.base} is not an I/O port (0-0xffff)`);
  }
  p.setSymbol('console_serial', u8(c.serial ? 1 : 0));
  p.setSymbol('serial_base', u16(c.base));
  p.setSymbol('serial_baud', u32(checkedValue('serial_baud', integer('serial_baud', c.baud), 4)));
}

/** kexec -p: copy backup_src_size bytes from backup_src_start to backup_start after the digest check. */
export interface CrashBackup {
  backupStart: bigint;
  srcStart: bigint;
  srcSize: bigint;
}

export function setBackup(p: RelocatedPurgatory, b: CrashBackup): void {
  p.setSymbol('backup_start', u64(checkedValue('backup_start', b.backupStart, 8)));
  p.setSymbol('backup_src_start', u64(checkedValue('backup_src_start', b.srcStart, 8)));
  p.setSymbol('backup_src_size', u64(checkedValue('backup_src_size', b.srcSize, 8)));
}

export function setCmdlineEnd(p: RelocatedPurgatory, addr: bigint): void {
  p.setSymbol('cmdline_end', u64(checkedValue('cmdline_end', addr, 8)));
}

// ---- The descriptor vkexec's verify engine looks for (purgatory/info.S). ----

export const PURGATORY_INFO_MAGIC = 'VKXPURG1';
export const PURGATORY_INFO = {
  magic: { offset: 0, size: 8 },
  version: { offset: 8, size: 4 },
  arch: { offset: 12, size: 4 },
  sha256_regions: { offset: 16, size: 8 },
  sha256_digest: { offset: 24, size: 8 },
  skip_checks: { offset: 32, size: 8 },
  entry64_regs: { offset: 40, size: 8 },
  entry32_regs: { offset: 48, size: 8 },
  backup_start: { offset: 56, size: 8 },
} as const satisfies Record<string, SymbolField>;
export const PURGATORY_INFO_SIZE = 64;
export const PURGATORY_INFO_VERSION = 1;

export interface PurgatoryInfo {
  /** Offset of the descriptor inside the scanned bytes. */
  offset: number;
  version: number;
  arch: 32 | 64;
  /** Absolute addresses (0 for entry64Regs on i386). */
  sha256Regions: bigint;
  sha256Digest: bigint;
  skipChecks: bigint;
  entry64Regs: bigint;
  entry32Regs: bigint;
  backupStart: bigint;
}

/** Scans a loaded purgatory segment for the descriptor; undefined when there is none of a known version. */
export function findPurgatoryInfo(segment: Uint8Array): PurgatoryInfo | undefined {
  const magic = new TextEncoder().encode(PURGATORY_INFO_MAGIC);
  const view = new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
  for (let at = 0; at + PURGATORY_INFO_SIZE <= segment.byteLength; at += 8) {
    if (!magic.every((b, i) => segment[at + i] === b)) continue;
    const version = view.getUint32(at + PURGATORY_INFO.version.offset, true);
    const arch = view.getUint32(at + PURGATORY_INFO.arch.offset, true);
    if (version !== PURGATORY_INFO_VERSION || (arch !== 32 && arch !== 64)) continue;
    const addr = (f: SymbolField): bigint => view.getBigUint64(at + f.offset, true);
    return {
      offset: at,
      version,
      arch,
      sha256Regions: addr(PURGATORY_INFO.sha256_regions),
      sha256Digest: addr(PURGATORY_INFO.sha256_digest),
      skipChecks: addr(PURGATORY_INFO.skip_checks),
      entry64Regs: addr(PURGATORY_INFO.entry64_regs),
      entry32Regs: addr(PURGATORY_INFO.entry32_regs),
      backupStart: addr(PURGATORY_INFO.backup_start),
    };
  }
  return undefined;
}

/** readPurgatoryObject + layoutPurgatory + relocatePurgatory: the whole of kexec_load_purgatory minus placement. */
export function loadPurgatory(arch: PurgatoryArch, loadAddr: bigint): RelocatedPurgatory {
  const layout = layoutPurgatory(readPurgatoryObject(arch));
  if (layout.arch !== arch) throw enoexec(`purgatory-${arch}.o is a ${layout.arch} object`);
  return relocatePurgatory(layout, loadAddr);
}
