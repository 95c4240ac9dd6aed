// ALIGN and ALIGN_DOWN (include/linux/align.h) for bigint addresses and number offsets. `a` must be > 0;
// unlike the kernel's macros it need not be a power of two.

export function alignUp(v: bigint, a: bigint): bigint;
export function alignUp(v: number, a: number): number;
export function alignUp(v: bigint | number, a: bigint | number): bigint | number {
  if (typeof v === 'bigint') return ((v + (a as bigint) - 1n) / (a as bigint)) * (a as bigint);
  return Math.ceil(v / (a as number)) * (a as number);
}

export function alignDown(v: bigint, a: bigint): bigint;
export function alignDown(v: number, a: number): number;
export function alignDown(v: bigint | number, a: bigint | number): bigint | number {
  if (typeof v === 'bigint') return (v / (a as bigint)) * (a as bigint);
  return Math.floor(v / (a as number)) * (a as number);
}
