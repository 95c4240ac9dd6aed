// Control characters in text vkexec prints: user-controlled strings (file names, command lines, names read
// from files) are printed with them escaped, so a name holding a newline or an escape sequence cannot forge a
// line (a fake `vkexec: fix:`) or drive the terminal. Here (lib) so every room's printer uses the same rule.

/** `t` with C0 controls but tab, DEL and the 8-bit CSI escaped: \n, \r, \xNN. */
export function safeText(t: string): string {
  return t.replace(/[\x00-\x08\x0a-\x1f\x7f\x9b]/g, (ch) => (ch === '\n' ? '\\n' : ch === '\r' ? '\\r' : `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`));
}
