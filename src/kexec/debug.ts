// dbgprintf: kexec-tools' -d output goes to stderr, line by line, in its own formats.

export interface Debug {
  readonly enabled: boolean;
  print(line: string): void;
}

export function makeDebug(enabled: boolean, out: NodeJS.WritableStream = process.stderr): Debug {
  return { enabled, print: (line) => (enabled ? void out.write(line + '\n') : undefined) };
}
