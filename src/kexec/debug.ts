// dbgprintf: kexec-tools' -d output goes to stderr, line by line, in its own formats. Control characters (a
// file name or command line holding a newline or ESC) are escaped, as on every line vkexec prints.

import { safeText } from '../lib/safe-text.js';

export interface Debug {
  readonly enabled: boolean;
  print(line: string): void;
}

export function makeDebug(enabled: boolean, out: NodeJS.WritableStream = process.stderr): Debug {
  return { enabled, print: (line) => (enabled ? void out.write(safeText(line) + '\n') : undefined) };
}
