// Command-line assembly as kexec-tools does it (kexec/kexec.c get_command_line, remove_parameter,
// concat_cmdline).

/** Removes every "name=..." (or bare "name") word, as remove_parameter does for BOOT_IMAGE and crashkernel. */
export function removeParameter(cmdline: string, name: string): string {
  return cmdline
    .split(' ')
    .filter((w) => w !== name && !w.startsWith(name + '='))
    .join(' ')
    .replace(/ +/g, ' ')
    .trim();
}

/** get_command_line: /proc/cmdline minus its newline and BOOT_IMAGE (and crashkernel=* for a panic kernel). */
export function reuseCommandLine(procCmdline: string, crash: boolean): string {
  let line = procCmdline.replace(/\n$/, '');
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
