// Linux lib/cmdline.c memparse: a number in any base with an optional K/M/G/T suffix, as kernel parameters
// (crashkernel=, elfcorehdr=, mem=) give sizes and addresses.

/** Parses "512M", "1G", "0x2000000", "4096"; null when the text is not one number with an optional suffix. */
export function memparse(text: string): bigint | null {
  const m = /^(0[xX][0-9a-fA-F]+|[0-9]+)([KMGTkmgt]?)$/.exec(text.trim());
  if (!m) return null;
  const base = BigInt(m[1]!);
  const shift = { '': 0n, k: 10n, m: 20n, g: 30n, t: 40n }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return base << shift;
}
