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

export class FileKimage {
  readonly fileMode = true;
  readonly segments: PlacedSegment[] = [];
  /** image->start, set by the purgatory load (its relocated entry). */
  start = 0n;
  purgatory: RelocatedPurgatory | null = null;
  /** Lines the kernel would print with kexec_dprintk under KEXEC_FILE_DEBUG. */
  readonly log: string[] = [];
  /** Extra facts a loader reports (kernel and initrd addresses, final command line), for `machine show`. */
  readonly facts: Record<string, string> = {};
  /** image->elf_load_addr and elf_headers_sz of a crash image. */
  elfHeaders: { addr: bigint; size: bigint } | null = null;

  constructor(
    readonly type: 'normal' | 'crash',
    readonly config: MachineConfig,
    readonly crashk: Resource | undefined,
    readonly crashkLow: Resource | undefined,
    readonly debug: boolean,
  ) {}

  get iomem(): readonly Resource[] {
    return this.config.iomem;
  }

  dprintk(line: string): void {
    if (this.debug) this.log.push(`kexec_file: ${line}`);
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
    const mem = this.addBuffer({ buffer: null, memsz: BigInt(layout.memsz), bufAlign: BigInt(layout.align), bufMin, bufMax, topDown, what: 'purgatory' });
    const p = relocatePurgatory(layout, mem);
    const seg = this.segments[this.segments.length - 1]!;
    seg.buf = { kind: 'bytes', data: p.buf };
    seg.bufsz = p.buf.length;
    this.purgatory = p;
    this.start = p.entry;
    return p;
  }

  /** The purgatory a loader must have loaded before it patches symbols. */
  requirePurgatory(): RelocatedPurgatory {
    if (!this.purgatory) throw new KexecError('EINVAL', 'kexec_purgatory_get_set_symbol', 'the loader set purgatory symbols before loading the purgatory');
    return this.purgatory;
  }
}
