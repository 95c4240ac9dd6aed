// The kexec-tools release whose behaviour vkexec mirrors: printed by -v and written into ELF boot notes.
export const KEXEC_TOOLS_VERSION = '2.0.32';
