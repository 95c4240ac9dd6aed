// The one codec for C structs laid out in bytes: a struct is a table of named fields (offset, size), read
// and written little-endian (every struct vkexec touches is x86 or a little-endian file format). 8-byte
// fields are bigint, smaller ones number, so a 64-bit address can never lose bits on the way.

export interface FieldSpec {
  offset: number;
  size: 1 | 2 | 4 | 8;
}

export type FieldValue<F extends FieldSpec> = F['size'] extends 8 ? bigint : number;

/** Reads a little-endian field at `base + f.offset`; 8-byte fields come back as bigint, others as number. */
export function readField(buf: Uint8Array, f: FieldSpec, base = 0): number | bigint {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const at = base + f.offset;
  switch (f.size) {
    case 1:
      return v.getUint8(at);
    case 2:
      return v.getUint16(at, true);
    case 4:
      return v.getUint32(at, true);
    case 8:
      return v.getBigUint64(at, true);
  }
}

/** Writes a little-endian field; a value wider than the field keeps its low bits, as a C assignment does. */
export function writeField(buf: Uint8Array, f: FieldSpec, value: number | bigint, base = 0): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const at = base + f.offset;
  const bits = BigInt(value) & ((1n << BigInt(f.size * 8)) - 1n);
  switch (f.size) {
    case 1:
      v.setUint8(at, Number(bits));
      return;
    case 2:
      v.setUint16(at, Number(bits), true);
      return;
    case 4:
      v.setUint32(at, Number(bits), true);
      return;
    case 8:
      v.setBigUint64(at, bits, true);
      return;
  }
}

/** A struct layout: named fields and the struct's size, with typed accessors relative to a base offset. */
export class Struct<L extends Record<string, FieldSpec>> {
  constructor(
    readonly name: string,
    readonly fields: L,
    readonly size: number,
  ) {}

  get<K extends keyof L & string>(buf: Uint8Array, field: K, base = 0): FieldValue<L[K]> {
    return readField(buf, this.fields[field]!, base) as FieldValue<L[K]>;
  }

  set<K extends keyof L & string>(buf: Uint8Array, field: K, value: number | bigint, base = 0): void {
    writeField(buf, this.fields[field]!, value, base);
  }

  /** Whether the whole struct fits in `buf` at `base` (callers check before reading untrusted bytes). */
  fits(buf: Uint8Array, base = 0): boolean {
    return base >= 0 && base + this.size <= buf.length;
  }
}
