// kernel/kexec_file.c kexec_apply_relocations with arch/x86/kernel/machine_kexec_64.c
// arch_kexec_apply_relocations_add, and for the i386 object kexec-tools' kexec/kexec-elf-rel.c and
// kexec/arch/i386/kexec-elf-rel-x86.c: the purgatory's sections copied out and relocated for its address.

import { hex } from '../../lib/hex.js';
import { KexecError } from '../../errno.js';
import {
  ElfFormatError, R_386_32, R_386_PC32, R_X86_64_32, R_X86_64_32S, R_X86_64_64, R_X86_64_NONE, R_X86_64_PC32,
  R_X86_64_PLT32, SHF_ALLOC, SHN_ABS, SHN_COMMON, SHN_UNDEF, SHT_REL, SHT_RELA,
} from '../../formats/elf.js';
import { U32_MAX, type PurgatoryArch, type PurgatoryLayout } from './kexec-purgatory-setup.js';
import { RelocatedPurgatory } from './kexec-purgatory-symbol.js';

const U64_MASK = (1n << 64n) - 1n;

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

