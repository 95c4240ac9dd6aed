// An initramfs as the kernel unpacks it (init/initramfs.c unpack_to_rootfs): newc cpio archives one after
// another, NUL padding between them, and compressed archives (decompress_method's magics) whose output is itself
// such a sequence. Debian's initramfs-tools writes an uncompressed early-microcode archive and then a compressed
// main one. Reading only.

import { type CompressionFormat, decompress, detectCompression } from './compress.js';
import { type CpioRecord, parseCpio } from './cpio.js';

export class InitramfsError extends Error {}

export interface InitramfsArchive {
  /** Offset of the archive (or of the compressed stream holding it) in the file. */
  offset: number;
  compression: CompressionFormat | null;
  /** Bytes of the file it takes (the rest of the file for a compressed stream). */
  storedSize: number;
  /** Bytes of cpio data (the decompressed size for a compressed stream). */
  cpioSize: number;
  /** The cpio archives inside (one for a plain archive; a compressed stream may hold several). */
  archives: number;
  entries: CpioRecord[];
}

const startsNewc = (b: Uint8Array, p: number) => b[p] === 0x30 && b[p + 1] === 0x37 && b[p + 2] === 0x30 && b[p + 3] === 0x37 && b[p + 4] === 0x30;

/** Plain cpio archives from `p` on, NUL padding skipped; stops at the end or at bytes that are not an archive. */
function readCpioRun(buf: Uint8Array, p: number): { entries: CpioRecord[]; archives: number; end: number } {
  const entries: CpioRecord[] = [];
  let archives = 0;
  for (;;) {
    while (p < buf.length && buf[p] === 0) p++;
    if (p >= buf.length || !startsNewc(buf, p)) return { entries, archives, end: p };
    const a = parseCpio(buf, p);
    entries.push(...a.entries);
    archives++;
    p = a.end;
  }
}

/**
 * The archives of an initramfs file, in order. A compressed stream runs to the end of the file (the decoders
 * here take a whole buffer); bytes that are neither cpio, NUL padding nor a known compression are an error, as
 * the kernel's "junk within compressed archive" / "invalid magic at start of compressed archive".
 */
export function readInitramfs(buf: Uint8Array, maxOutput = 1 << 30): InitramfsArchive[] {
  const out: InitramfsArchive[] = [];
  let p = 0;
  while (p < buf.length) {
    const run = readCpioRun(buf, p);
    if (run.archives) {
      const start = p + buf.subarray(p).findIndex((b) => b !== 0);
      out.push({ offset: start, compression: null, storedSize: run.end - start, cpioSize: run.end - start, archives: run.archives, entries: run.entries });
    }
    p = run.end;
    if (p >= buf.length) break;
    const fmt = detectCompression(buf.subarray(p));
    if (!fmt) throw new InitramfsError(`invalid magic at start of compressed archive (offset ${p}: ${Buffer.from(buf.subarray(p, p + 4)).toString('hex')})`);
    const data = decompress(buf.subarray(p), fmt, { maxOutput });
    const inner = readCpioRun(data, 0);
    if (inner.end < data.length) throw new InitramfsError(`junk within compressed archive (${fmt} stream at offset ${p}, decompressed offset ${inner.end})`);
    out.push({ offset: p, compression: fmt, storedSize: buf.length - p, cpioSize: data.length, archives: inner.archives, entries: inner.entries });
    p = buf.length;
  }
  return out;
}
