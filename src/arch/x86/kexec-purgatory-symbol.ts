// kernel/kexec_file.c kexec_purgatory_find_symbol, kexec_purgatory_get_symbol_addr and
// kexec_purgatory_get_set_symbol: the relocated purgatory and access to its global symbols by name.

import { KexecError } from '../../errno.js';
import { ElfSection, ElfSymbol, SHN_UNDEF, SHT_NOBITS, SHT_SYMTAB, STB_GLOBAL } from '../../formats/elf.js';
import { enoexec, type PurgatoryArch, type PurgatoryLayout, type PurgatorySectionPlacement } from './kexec-purgatory-setup.js';

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
