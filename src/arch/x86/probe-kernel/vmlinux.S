/*
 * probe-vmlinux: the protected-mode part wrapped in an ELF64 executable, as kexec-tools' elf-x86_64 loader
 * (kexec_load path) takes it: ET_EXEC, EM_X86_64, one PT_LOAD placed at its p_paddr (LOAD_ADDR, Linux's
 * LOAD_PHYSICAL_ADDR) with memsz = INIT_SIZE (the stack lives past the file bytes), and e_entry = the 64-bit
 * entry at LOAD_ADDR + 0x200, which the purgatory enters with RSI = boot_params (--args-linux) or
 * RDI = ELF boot notes (--args-elf). The same file is the bzImage payload (payload_offset/payload_length).
 */
	.text
ehdr:
	.byte	0x7f, 'E', 'L', 'F', 2, 1, 1, 0	/* ELFCLASS64, little endian, EV_CURRENT, SYSV */
	.skip	8
	.word	2				/* ET_EXEC */
	.word	62				/* EM_X86_64 */
	.long	1				/* EV_CURRENT */
	.quad	LOAD_ADDR + 0x200		/* e_entry: startup_64 */
	.quad	phdr - ehdr			/* e_phoff */
	.quad	shdr - ehdr			/* e_shoff */
	.long	0				/* e_flags */
	.word	64, 56, 1			/* e_ehsize, e_phentsize, e_phnum */
	.word	64, 3, 2			/* e_shentsize, e_shnum, e_shstrndx */
phdr:
	.long	1				/* PT_LOAD */
	.long	7				/* PF_R | PF_W | PF_X: code and stack share the segment */
	.quad	text - ehdr			/* p_offset */
	.quad	LOAD_ADDR			/* p_vaddr */
	.quad	LOAD_ADDR			/* p_paddr */
	.quad	text_end - text			/* p_filesz */
	.quad	INIT_SIZE			/* p_memsz */
	.quad	0x1000				/* p_align */
shstrtab:
	.asciz	""
	.asciz	".text"
	.asciz	".shstrtab"
shstrtab_end:
	.balign	0x1000, 0
text:
	.incbin	"probe.bin"
text_end:
	.balign	8, 0
shdr:
	.skip	64				/* SHN_UNDEF */
	.long	1, 1				/* ".text", SHT_PROGBITS */
	.quad	7				/* SHF_WRITE | SHF_ALLOC | SHF_EXECINSTR */
	.quad	LOAD_ADDR, text - ehdr, text_end - text
	.long	0, 0
	.quad	64, 0
	.long	7, 3				/* ".shstrtab", SHT_STRTAB */
	.quad	0, 0, shstrtab - ehdr, shstrtab_end - shstrtab
	.long	0, 0
	.quad	1, 0
