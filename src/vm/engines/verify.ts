// Engine "verify": no CPU runs. It does in TypeScript what vkexec's purgatory would do (sha256 over its regions
// unless skip_checks, then the registers it would load) and checks the hand-off the next kernel would see:
// boot_params at rsi/esi, its setup header, the command line and initrd where boot_params point, the entry
// inside the kernel. It says so in its output: passing here proves the layout, not that the kernel boots.

import { createHash } from 'node:crypto';
import { findPurgatoryInfo } from '../../arch/x86/purgatory-info.js';
import { ENTRY32_REGS, ENTRY64_REGS } from '../../arch/x86/purgatory-symbols.js';
import { BOOT_PARAMS, getBp, HDRS_MAGIC, readE820 } from '../../arch/x86/boot-params.js';
import { hex } from '../../lib/hex.js';
import { memparse } from '../../lib/memparse.js';
import type { PhysRange } from '../../lib/range.js';
import type { EntryState, MemoryImage } from '../memory/memory-image.js';
import { MemoryReader } from '../memory/memory-reader.js';
import type { BootOptions, Engine, Outcome } from './engine.js';


/** The loaded segment holding `a`. */
const segmentOf = (segments: readonly PhysRange[], a: bigint): PhysRange | undefined => segments.find((s) => a >= s.start && a < s.end);
const span = (s: PhysRange): string => `[${hex(s.start)}, ${hex(s.end)})`;
const SHA256_REGIONS = 16;

/** elfcorehdr=[size@]offset as setup_elfcorehdr (kernel/crash_dump.c) reads it; the last one counts. */
function elfcorehdrAddr(cmdline: string): bigint | null {
  const all = [...cmdline.matchAll(/(?:^|\s)elfcorehdr=(\S+)/g)];
  const arg = all.at(-1)?.[1];
  return arg === undefined ? null : memparse(arg.slice(arg.indexOf('@') + 1));
}

interface Handoff {
  mode: 64 | 32;
  ip: bigint;
  /** rsi/esi: boot_params for the Linux boot protocol. */
  params: bigint;
  /** rdi / first stack argument: ELF boot notes for --args-elf. */
  arg: bigint;
}

export class VerifyEngine implements Engine {
  readonly name = 'verify' as const;

  async unavailable(): Promise<string | null> {
    return null;
  }

  async boot(memory: MemoryImage, entry: EntryState, _opts: BootOptions): Promise<Outcome> {
    const t0 = Date.now();
    const mem = new MemoryReader(memory);
    const details: string[] = [];
    const done = (status: Outcome['status']): Outcome => {
      mem.close();
      return { status, engine: 'verify', details, wallMs: Date.now() - t0 };
    };
    try {
      details.push(`machine_kexec: ${memory.extents.length} memory runs from the indirection list; entry ${hex(entry.entry)} in ${entry.mode === 'long64' ? '64-bit' : '32-bit'} mode`);
      const segments = memory.segments ?? [];
      const seg = segmentOf(segments, entry.entry);
      if (!seg) {
        details.push(`FAIL entry ${hex(entry.entry)} lies in no loaded segment`);
        return done('check-failed');
      }
      const purg = findPurgatoryInfo(mem.read(seg.start, Number(seg.end - seg.start)));
      if (!purg) {
        details.push(`no vkexec purgatory found in the segment at ${hex(seg.start)}: only the entry point can be checked`);
        details.push(`PASS entry ${hex(entry.entry)} lies in a loaded segment ${span(seg)}`);
        return done('verified');
      }
      const skip = mem.read(purg.skipChecks, 4);
      if (new DataView(skip.buffer).getUint32(0, true) !== 0) {
        details.push('purgatory: skip_checks is set (-i): digest not checked');
      } else {
        const regions = new DataView(mem.read(purg.sha256Regions, SHA256_REGIONS * 16).buffer);
        const want = Buffer.from(mem.read(purg.sha256Digest, 32));
        const hash = createHash('sha256');
        let n = 0;
        let bytes = 0n;
        for (let i = 0; i < SHA256_REGIONS; i++) {
          const start = regions.getBigUint64(i * 16, true);
          const len = regions.getBigUint64(i * 16 + 8, true);
          if (len === 0n) continue;
          mem.stream(start, len, (c) => hash.update(c));
          n++;
          bytes += len;
        }
        const got = hash.digest();
        if (!got.equals(want)) {
          details.push('purgatory: sha256 digests do not match :(');
          details.push(`       digest: ${got.toString('hex')}`);
          details.push(`sha256_digest: ${want.toString('hex')}`);
          return done('purgatory-mismatch');
        }
        details.push(`PASS purgatory sha256 over ${n} regions (${bytes} bytes) matches sha256_digest ${want.toString('hex').slice(0, 16)}...`);
      }
      const h = this.handoff(mem, purg, entry, seg);
      details.push(`purgatory hands over in ${h.mode}-bit mode: ip ${hex(h.ip)}, ${h.mode === 64 ? 'rsi' : 'esi'} ${hex(h.params)}`);
      const backup = new DataView(mem.read(purg.backupStart, 8).buffer).getBigUint64(0, true);
      const failures = this.checkHandoff(mem, h, segments, backup, details);
      if (failures > 0) return done('check-failed');
      details.push('verify engine: layout and hand-off checked; no kernel code ran (use --engine qemu or v86 to boot it)');
      return done('verified');
    } catch (e) {
      mem.close();
      throw e;
    }
  }

  /** The registers the purgatory loads: entry64_regs, or entry32_regs when rip points back into the purgatory. */
  private handoff(mem: MemoryReader, purg: NonNullable<ReturnType<typeof findPurgatoryInfo>>, entry: EntryState, purgSeg: PhysRange): Handoff {
    const r32 = () => {
      const v = new DataView(mem.read(purg.entry32Regs, 36).buffer);
      const g = (k: keyof typeof ENTRY32_REGS) => BigInt(v.getUint32(ENTRY32_REGS[k].offset, true));
      return { mode: 32 as const, ip: g('eip'), params: g('esi'), arg: 0n };
    };
    if (purg.arch === 32 || entry.mode === 'protected32') return r32();
    const v = new DataView(mem.read(purg.entry64Regs, 136).buffer);
    const g = (k: keyof typeof ENTRY64_REGS) => v.getBigUint64(ENTRY64_REGS[k].offset, true);
    const rip = g('rip');
    if (rip >= purgSeg.start && rip < purgSeg.end) return r32();
    return { mode: 64, ip: rip, params: g('rsi'), arg: g('rdi') };
  }

  /** `backup`: the purgatory's backup_start, where kexec -p saves the low memory (0: none). */
  private checkHandoff(mem: MemoryReader, h: Handoff, segments: readonly PhysRange[], backup: bigint, details: string[]): number {
    let failures = 0;
    const pass = (t: string) => details.push(`PASS ${t}`);
    const fail = (t: string) => {
      failures++;
      details.push(`FAIL ${t}`);
    };
    const segOf = (a: bigint) => segmentOf(segments, a);
    const kseg = segOf(h.ip);
    if (!kseg) fail(`entry ${hex(h.ip)} is in no loaded segment`);
    else pass(`entry ${hex(h.ip)} lies in the segment ${span(kseg)}`);
    if (h.params === 0n) {
      details.push('no boot_params handed over (ELF boot notes or bare entry): boot-protocol checks skipped');
      return failures;
    }
    if (!segOf(h.params) || !mem.covered(h.params, 4096n)) {
      fail(`boot_params at ${hex(h.params)} are not in a loaded segment`);
      return failures;
    }
    const bp = mem.read(h.params, 4096);
    const field = (n: keyof typeof BOOT_PARAMS) => getBp(bp, n);
    if (field('header') !== HDRS_MAGIC) fail(`boot_params at ${hex(h.params)}: setup header magic "HdrS" missing at 0x202`);
    else pass(`boot_params at ${hex(h.params)}: setup header protocol ${hex(field('version'))}, type_of_loader ${hex(field('type_of_loader'))}`);
    if (kseg && h.mode === 64) {
      const align = BigInt(field('kernel_alignment'));
      if (align > 0n && (kseg.start % align !== 0n || h.ip !== kseg.start + 0x200n)) {
        fail(`64-bit entry ${hex(h.ip)} is not startup_64 (kernel at ${hex(kseg.start)} + 0x200, aligned to ${hex(align)})`);
      }
    }
    const cmdPtr = BigInt(field('cmd_line_ptr')) | (BigInt(field('ext_cmd_line_ptr')) << 32n);
    let cmdline = '';
    if (cmdPtr !== 0n) {
      const max = Number(field('cmdline_size')) || 2048;
      if (!mem.covered(cmdPtr, 1n)) fail(`cmd_line_ptr ${hex(cmdPtr)} points outside the loaded segments`);
      else {
        const text = mem.read(cmdPtr, max + 1);
        const nul = text.indexOf(0);
        if (nul < 0) fail(`command line at ${hex(cmdPtr)} is not NUL-terminated within cmdline_size ${max}`);
        else {
          cmdline = Buffer.from(text.subarray(0, nul)).toString('latin1');
          pass(`command line at ${hex(cmdPtr)}: ${JSON.stringify(cmdline)}`);
        }
      }
    }
    const rdImage = BigInt(field('ramdisk_image')) | (BigInt(field('ext_ramdisk_image')) << 32n);
    const rdSize = BigInt(field('ramdisk_size')) | (BigInt(field('ext_ramdisk_size')) << 32n);
    if (rdSize > 0n) {
      const s = segOf(rdImage);
      if (!s || rdImage + rdSize > s.end) fail(`initrd [${hex(rdImage)}, +${hex(rdSize)}) is not inside one loaded segment`);
      else {
        const hash = createHash('sha256');
        mem.stream(rdImage, rdSize, (c) => hash.update(c));
        pass(`initrd at ${hex(rdImage)}, ${rdSize} bytes, sha256 ${hash.digest('hex')}`);
      }
    }
    const e820 = readE820(bp);
    if (e820.length === 0) fail('boot_params e820 table is empty');
    else {
      const ram = e820.filter((e) => e.type === 1);
      // A capture kernel's map leaves out the ELF core headers (Linux crash_setup_memmap_entries excludes
      // image->elf_load_addr; kexec-tools load_crashdump_segments deletes elfcorehdr and the backup region
      // from the memmap), so those segments are outside RAM by design.
      const core = elfcorehdrAddr(cmdline);
      const kept = [
        { seg: core === null ? undefined : segOf(core), what: 'the ELF core headers' },
        { seg: backup === 0n ? undefined : segOf(backup), what: 'the backup region' },
      ].filter((k): k is { seg: PhysRange; what: string } => k.seg !== undefined);
      const outside = segments.filter((s) => !kept.some((k) => k.seg === s) && !ram.some((e) => s.start >= e.addr && s.end <= e.addr + e.size));
      const besides = kept.length === 0 ? '' : ` but ${kept.map((k) => `${k.what} at ${hex(k.seg.start)}`).join(' and ')}, which a capture kernel's map leaves out`;
      if (outside.length > 0) fail(`segments at ${outside.map((s) => hex(s.start)).join(', ')} lie outside the RAM the e820 table reports`);
      else pass(`e820 table: ${e820.length} entries (${BOOT_PARAMS.e820_table.offset.toString(16)}h), every segment inside reported RAM${besides}`);
    }
    return failures;
  }
}
