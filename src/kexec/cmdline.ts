// Command-line assembly as kexec-tools does it (kexec/kexec.c get_command_line, remove_parameter,
// concat_cmdline).

const isspace = (c: string | undefined) => c !== undefined && ' \t\n\v\f\r'.includes(c);

/**
 * remove_parameter (kexec-tools 2.0.32): finds the name anywhere with strstr; if that is not the start of a
 * word it stops; otherwise it cuts from there through the next space (to the end when there is none), with
 * no collapsing of other spaces, and looks again from the start of the line (2.0.32 removes every
 * occurrence; 2.0.25 stopped after the first).
 */
export function removeParameter(cmdline: string, name: string): string {
  let line = cmdline;
  let start = line.indexOf(name);
  while (start >= 0) {
    if (start !== 0 && !isspace(line[start - 1])) return line;
    const end = line.indexOf(' ', start);
    line = end < 0 ? line.slice(0, start) : line.slice(0, start) + line.slice(end + 1);
    start = line.indexOf(name);
  }
  return line;
}

/**
 * get_command_line: /proc/cmdline without its last byte (the newline) and cut at the first CR/LF, minus
 * BOOT_IMAGE (and crashkernel for a panic kernel).
 */
export function reuseCommandLine(procCmdline: string, crash: boolean): string {
  let line = procCmdline.slice(0, -1);
  const cut = line.search(/[\r\n]/);
  if (cut >= 0) line = line.slice(0, cut);
  line = removeParameter(line, 'BOOT_IMAGE');
  if (crash) line = removeParameter(line, 'crashkernel');
  return line;
}

/** concat_cmdline: the reused line, one space, the --append/--command-line text; null when neither is given. */
export function concatCmdline(base: string | null, append: string | null): string | null {
  if (base === null) return append;
  if (append === null) return base;
  return `${base} ${append}`;
}

/** The command line as kexec-tools passes it: the text plus its NUL (no line at all is a lone NUL). */
export function cmdlineBytes(cmdline: string | null): Uint8Array {
  return Buffer.from((cmdline ?? '') + '\0', 'utf8');
}
