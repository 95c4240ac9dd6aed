// The common ar(1) archive format as dpkg writes .deb files (deb(5), ar(5)): the global magic "!<arch>\n",
// then members, each a 60-byte ASCII header (name 16, mtime 12, uid 6, gid 6, mode 8, size 10, "`\n") and
// its data padded to an even offset. GNU "name/" terminators are accepted; dpkg writes none.

export const AR_MAGIC = '!<arch>\n';
const HEADER_LEN = 60;

export class ArchiveError extends Error {
  constructor(
    readonly format: string,
    detail: string,
  ) {
    super(`${format}: ${detail}`);
    this.name = 'ArchiveError';
  }
}

export interface ArMember {
  name: string;
  /** Byte offset of the data in the archive. */
  offset: number;
  data: Uint8Array;
}

export function isAr(buf: Uint8Array): boolean {
  return buf.length >= 8 && Buffer.from(buf.buffer, buf.byteOffset, 8).toString('latin1') === AR_MAGIC;
}

/** The members of an ar archive (views into `buf`); throws ArchiveError on a bad header or a truncated member. */
export function parseAr(buf: Uint8Array): ArMember[] {
  if (!isAr(buf)) throw new ArchiveError('ar', 'no "!<arch>" magic at offset 0');
  const text = (a: number, b: number) => Buffer.from(buf.buffer, buf.byteOffset + a, b - a).toString('latin1');
  const members: ArMember[] = [];
  let at = 8;
  while (at < buf.length) {
    if (buf.length - at < HEADER_LEN) throw new ArchiveError('ar', `truncated member header at offset ${at}`);
    if (text(at + 58, at + 60) !== '`\n') throw new ArchiveError('ar', `member header at offset ${at} lacks its "\`\\n" terminator`);
    const name = text(at, at + 16).trimEnd().replace(/\/$/, '');
    const sizeText = text(at + 48, at + 58).trim();
    if (!/^\d+$/.test(sizeText)) throw new ArchiveError('ar', `member ${name} at offset ${at}: size field "${sizeText}" is not a decimal number`);
    const size = Number(sizeText);
    const offset = at + HEADER_LEN;
    if (offset + size > buf.length) throw new ArchiveError('ar', `member ${name} declares ${size} bytes at offset ${offset}, past the end of the ${buf.length}-byte archive (truncated download?)`);
    members.push({ name, offset, data: buf.subarray(offset, offset + size) });
    at = offset + size + (size & 1);
  }
  return members;
}
