// A thin typed walk over asn1js's BER tree, for the kernel-side ASN.1 parsers in this folder (pkcs7, mscode,
// module signatures). Malformed input is the kernel's asn1_ber_decoder failing: EBADMSG (lib/asn1_decoder.c).

import * as asn1js from 'asn1js';
import { KexecError } from '../errno.js';

export type Node = asn1js.AsnType;

export const TAG_CLASS = { universal: 1, application: 2, context: 3, private: 4 } as const;
export const UNIV = {
  BOOLEAN: 1, INTEGER: 2, BIT_STRING: 3, OCTET_STRING: 4, NULL: 5, OID: 6, UTC_TIME: 23, GENERALIZED_TIME: 24,
  SEQUENCE: 16, SET: 17,
} as const;

/**
 * asn1_ber_decoder's framing rules (lib/asn1_decoder.c), checked over the whole tree before asn1js (which is
 * lenient) builds it: an element's length must fit in what its parent has left ("Data overrun error"), long
 * lengths take at most sizeof(size_t) - 1 bytes, indefinite length only for constructed elements, no
 * high-tag-number form. Returns the offset after the element at `at`.
 */
function asn1BerCheck(b: Uint8Array, at: number, end: number, rule: string, what: string): number {
  const fail = (msg: string) => badmsg(rule, `${what}: ASN.1 decoder: ${msg} at offset ${at}`);
  if (end - at < 2) throw fail('Data overrun error (no room for a tag and a length)');
  const tag = b[at]!;
  if ((tag & 0x1f) === 0x1f) throw fail('Long tag not supported');
  let dp = at + 2;
  let len = b[at + 1]!;
  if (len === 0x80) {
    if (!(tag & 0x20)) throw fail('Indefinite len primitive not permitted');
    for (;;) {
      if (end - dp < 2) throw fail('Data overrun error (missing end-of-contents)');
      if (b[dp] === 0 && b[dp + 1] === 0) return dp + 2;
      dp = asn1BerCheck(b, dp, end, rule, what);
    }
  }
  if (len > 0x80) {
    const n = len - 0x80;
    if (n > 7) throw fail('Length too long');
    if (n > end - dp) throw fail('Data overrun error (length bytes)');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[dp++]!;
  }
  if (len > end - dp) throw fail(`Data overrun error: the element claims ${len} bytes, its parent has ${end - dp} left`);
  const stop = dp + len;
  if (tag & 0x20) for (let p = dp; p < stop; ) p = asn1BerCheck(b, p, stop, rule, what);
  return stop;
}

/** Decodes exactly one BER element spanning all of `bytes`; anything else is EBADMSG under `rule`. */
export function decodeBer(bytes: Uint8Array, rule: string, what: string): Node {
  asn1BerCheck(bytes, 0, bytes.length, rule, what);
  let parsed: asn1js.FromBerResult;
  try {
    parsed = asn1js.fromBER(bytes, { parseEmbedded: false, copyInput: false });
  } catch (e) {
    throw badmsg(rule, `${what}: ASN.1 decoding failed (${(e as Error).message})`);
  }
  if (parsed.offset < 0 || parsed.result.error) {
    throw badmsg(rule, `${what}: malformed ASN.1 (${parsed.result.error || 'decoder error'})`);
  }
  if (parsed.offset !== bytes.length) {
    throw badmsg(rule, `${what}: ${bytes.length - parsed.offset} stray bytes after the ASN.1 element`);
  }
  return parsed.result;
}

export function badmsg(rule: string, detail: string): KexecError {
  return new KexecError('EBADMSG', rule, detail, {
    hint: 'the signature blob is not well-formed DER/BER; re-sign the image with sbsign, pesign or sign-file',
  });
}

// A tag test narrows to a branded node: a failed test must not make TypeScript think the value is no Node.
declare const tagChecked: unique symbol;
export type TaggedNode = Node & { readonly [tagChecked]: true };

export function isTag(n: Node | undefined, cls: number, num: number): n is TaggedNode {
  return n !== undefined && n.idBlock.tagClass === cls && n.idBlock.tagNumber === num;
}

export function isUniversal(n: Node | undefined, num: number): n is TaggedNode {
  return isTag(n, TAG_CLASS.universal, num);
}

export function isContext(n: Node | undefined, num: number): n is TaggedNode {
  return isTag(n, TAG_CLASS.context, num);
}

/** The children of a constructed node; EBADMSG when the node is primitive. */
export function children(n: Node, rule: string, what: string): Node[] {
  const v = (n.valueBlock as unknown as { value?: unknown }).value;
  // asn1js keeps e.g. a constructed-encoded string's value as text; only a list of elements is structure.
  if (!n.idBlock.isConstructed || !Array.isArray(v) || !v.every((c) => typeof c === 'object' && c !== null && 'idBlock' in c)) {
    throw badmsg(rule, `${what}: expected a constructed element`);
  }
  return v as Node[];
}

/** The element's full encoding (tag, length, content). */
export function raw(n: Node): Uint8Array {
  return n.valueBeforeDecodeView;
}

/** Length of the identifier and length octets of an encoded element. */
export function headerLength(enc: Uint8Array): number {
  let i = 1;
  if ((enc[0]! & 0x1f) === 0x1f) {
    while (i < enc.length && enc[i]! & 0x80) i++;
    i++;
  }
  const first = enc[i] ?? 0;
  return i + 1 + (first & 0x80 && first !== 0x80 ? first & 0x7f : 0);
}

/** Total encoded length of a definite-length, low-tag-number element at the start of `enc`, or undefined. */
export function definiteLength(enc: Uint8Array): number | undefined {
  if (enc.length < 2 || (enc[0]! & 0x1f) === 0x1f) return undefined;
  const first = enc[1]!;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || enc.length < 2 + n) return undefined;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + enc[2 + i]!;
  return 2 + n + len;
}

/** The content octets of an element: what the kernel's decoder hands an action as value/vlen. */
export function content(n: Node): Uint8Array {
  const enc = raw(n);
  const hdr = headerLength(enc);
  const end = n.lenBlock.isIndefiniteForm ? enc.length - 2 : enc.length;
  return enc.subarray(hdr, end);
}

export function oidOf(n: Node | undefined, rule: string, what: string): string {
  if (!isUniversal(n, UNIV.OID) || n.idBlock.isConstructed) throw badmsg(rule, `${what}: expected an OBJECT IDENTIFIER`);
  return (n as asn1js.ObjectIdentifier).valueBlock.toString();
}

/** OID text of raw content octets, or undefined when they do not decode (the kernel's look_up_OID miss). */
export function oidFromContent(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0 || bytes.length > 64) return undefined;
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < bytes.length; i++) {
    v = v * 128 + (bytes[i]! & 0x7f);
    if (!(bytes[i]! & 0x80)) {
      parts.push(v);
      v = 0;
    } else if (i === bytes.length - 1) {
      return undefined;
    }
  }
  const first = parts.shift()!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** UTCTime / GeneralizedTime as x509_decode_time reads them (Z-terminated, no fractions); EBADMSG otherwise. */
export function decodeTime(n: Node, rule: string, what: string): Date {
  const isUtc = isUniversal(n, UNIV.UTC_TIME);
  if (!isUtc && !isUniversal(n, UNIV.GENERALIZED_TIME)) throw badmsg(rule, `${what}: expected UTCTime or GeneralizedTime`);
  const text = Buffer.from(content(n)).toString('latin1');
  const m = isUtc ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) throw badmsg(rule, `${what}: bad time "${text}"`);
  let year = Number(m[1]);
  if (isUtc) year += year >= 50 ? 1900 : 2000;
  const [mon, day, hh, mm, ss] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 24 || mm > 59 || ss > 60) throw badmsg(rule, `${what}: bad time "${text}"`);
  return new Date(Date.UTC(year, mon - 1, day, hh, mm, ss));
}
