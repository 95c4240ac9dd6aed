// Hexadecimal as C's printf prints addresses and sizes, the one set of formatters every room uses.

/** printf("%#llx") for a nonzero value, "0x0" for zero: 0x-prefixed lower-case hex. */
export const hex = (v: bigint | number): string => '0x' + v.toString(16);

/** printf("%016llx"): 16 digits, no prefix. */
export const hex16 = (v: bigint): string => v.toString(16).padStart(16, '0');

/** printf("%0*llx") with width `w`: no prefix (kernel/resource.c r_show prints /proc/iomem so). */
export const hexPad = (v: bigint | number, w: number): string => v.toString(16).padStart(w, '0');

/** printf("%p"): glibc prints a null pointer as "(nil)". */
export const ptr = (v: bigint): string => (v === 0n ? '(nil)' : '0x' + v.toString(16));
