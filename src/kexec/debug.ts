// dbgprintf: kexec-tools' -d output goes to stderr, line by line, in its own formats.

export interface Debug {
  readonly enabled: boolean;
  print(line: string): void;
}

export function makeDebug(enabled: boolean, out: NodeJS.WritableStream = process.stderr): Debug {
  return { enabled, print: (line) => (enabled ? void out.write(line + '\n') : undefined) };
}

/** printf("%016llx") */
export const hex16 = (v: bigint) => v.toString(16).padStart(16, '0');
/** printf("%p") / "%#lx": 0x-prefixed lower-case hex, "(nil)" for a null pointer as glibc prints it. */
export const ptr = (v: bigint) => (v === 0n ? '(nil)' : '0x' + v.toString(16));
/** printf("%#llx") / "0x%zx" */
export const hx = (v: bigint | number) => '0x' + v.toString(16);
