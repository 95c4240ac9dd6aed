// A kexec_file_load image under construction: what a kexec_file_ops loader sees and calls (kexec_add_buffer,
// kexec_load_purgatory, the purgatory symbol accessors), mirroring struct kimage's file-mode fields.

import { KexecError } from '../../errno.js';
import { relocatePurgatory } from '../../arch/x86/kexec-apply-relocations.js';
import { readPurgatoryObject } from '../../arch/x86/kexec-load-purgatory.js';
import { layoutPurgatory } from '../../arch/x86/kexec-purgatory-setup.js';
import type { RelocatedPurgatory } from '../../arch/x86/kexec-purgatory-symbol.js';
import type { Resource } from '../machine/iomem.js';
import type { MachineConfig } from '../machine/machine-config.js';
import { type KexecBuf, type PlacedSegment, kexecAddBuffer } from './kexec-buf.js';
import { type ReleaseRules, releaseRules } from '../machine/kernel-release.js';

/**
 * The footprint of Debian's built-in x86_64 purgatory (kexec_purgatory in 6.1.0-57 and 6.12.118 alike:
 * "Loading segment 0: ... bufsz=0x4000 ... memsz=0x5000"). vkexec's own purgatory is smaller; its segment is
 * padded with zeros to this size so that every segment placed after it lands where the real kernel puts it.
 */
const DEBIAN_PURGATORY_BUFSZ = 0x4000;
const DEBIAN_PURGATORY_MEMSZ = 0x5000n;

export class FileKimage {
  readonly fileMode = true;
  readonly segments: PlacedSegment[] = [];
  /** image->start, set by the purgatory load (its relocated entry). */
  start = 0n;
  purgatory: RelocatedPurgatory | null = null;
  /** What the kernel logs: pr_debug lines (as with dynamic debug on) and kexec_dprintk lines under KEXEC_FILE_DEBUG. */
  readonly log: string[] = [];
  /** The machine's release rules (src/vm/machine/kernel-release.ts). */
  readonly rules: ReleaseRules;
  /** Extra facts a loader reports (kernel and initrd addresses, final command line), for `machine show`. */
  readonly facts: Record<string, string> = {};
  /** image->elf_load_addr and elf_headers_sz of a crash image. */
  elfHeaders: { addr: bigint; size: bigint } | null = null;
  /** How many RAM PT_LOAD headers the crash ELF headers end with (for their log lines). */
  lastRamRanges: number | null = null;

  constructor(
    readonly type: 'normal' | 'crash',
    readonly config: MachineConfig,
    readonly crashk: Resource | undefined,
    readonly crashkLow: Resource | undefined,
    readonly debug: boolean,
  ) {
    this.rules = releaseRules(config);
  }

  get iomem(): readonly Resource[] {
    return this.config.iomem;
  }

  /** pr_debug with the file's pr_fmt prefix ("kexec_file", "kexec-bzImage64", "kexec", ...): every release. */
  prDebug(line: string, prefix = 'kexec_file'): void {
    this.log.push(`${prefix}: ${line}`);
  }

  /** kexec_dprintk (6.8+): only under KEXEC_FILE_DEBUG; the same line was a pr_debug on 6.1. */
  dprintk(line: string, prefix = 'kexec_file'): void {
    if (this.debug || this.rules.logStyle === 'pr_debug') this.log.push(`${prefix}: ${line}`);
  }

  /** A kexec_dprintk line a 6.8+ kernel has and 6.1 does not print at all. */
  dprintkNew(line: string, prefix = 'kexec_file'): void {
    if (this.debug && this.rules.logStyle === 'kexec_dprintk') this.log.push(`${prefix}: ${line}`);
  }

  addBuffer(kbuf: KexecBuf): bigint {
    return kexecAddBuffer(this, kbuf);
  }

  /**
   * kexec_load_purgatory: the purgatory object laid out, placed with kexec_add_buffer (buf_min 0x3000 for x86,
   * top-down), relocated there; image->start becomes its entry.
   */
  loadPurgatory(bufMin: bigint, bufMax: bigint, topDown: boolean): RelocatedPurgatory {
    const layout = layoutPurgatory(readPurgatoryObject(this.config.arch));
    const x64 = this.config.arch === 'x86_64';
    const memsz = x64 && BigInt(layout.memsz) < DEBIAN_PURGATORY_MEMSZ ? DEBIAN_PURGATORY_MEMSZ : BigInt(layout.memsz);
    const mem = this.addBuffer({ buffer: null, memsz, bufAlign: BigInt(layout.align), bufMin, bufMax, topDown, what: 'purgatory' });
    const p = relocatePurgatory(layout, mem);
    const seg = this.segments[this.segments.length - 1]!;
    // The loader still patches symbols in p.buf; sealPurgatory() pads a copy once they are all set.
    seg.buf = { kind: 'bytes', data: p.buf };
    seg.bufsz = x64 && p.buf.length < DEBIAN_PURGATORY_BUFSZ ? DEBIAN_PURGATORY_BUFSZ : p.buf.length;
    this.purgatory = p;
    this.start = p.entry;
    return p;
  }

  /** After the digests are stored: the purgatory segment's bytes become p.buf zero-padded to its bufsz. */
  sealPurgatory(): void {
    const p = this.requirePurgatory();
    const seg = this.segments.find((s) => s.mem === p.loadAddr);
    if (seg && seg.bufsz > p.buf.length) seg.buf = { kind: 'bytes', data: padTo(p.buf, seg.bufsz) };
  }

  /** The purgatory a loader must have loaded before it patches symbols. */
  requirePurgatory(): RelocatedPurgatory {
    if (!this.purgatory) throw new KexecError('EINVAL', 'kexec_purgatory_get_set_symbol', 'the loader set purgatory symbols before loading the purgatory');
    return this.purgatory;
  }
}

function padTo(buf: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(buf);
  return out;
}
