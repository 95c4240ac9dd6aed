/*
 * probe-multiboot: the protected-mode part behind a Multiboot v1 header and a Multiboot2 header, wrapped in an
 * ELF32 i386 executable, as kexec-tools' multiboot-x86 and multiboot2-x86 loaders take it (kexec_load path):
 * one PT_LOAD at LOAD_ADDR (p_paddr) with memsz covering the stack, e_entry = mb_entry. The headers sit at
 * file offset 0x1000 (inside the first 8 KiB that a v1 search reads and the first 32 KiB of a v2 search).
 * A multiboot loader enters mb_entry in 32-bit protected mode, paging off, with EAX = the magic (0x2BADB002
 * or 0x36D76289) and EBX = the information; no stack is promised. mb_entry fills head.S's entry_regs with
 * mode 32, no boot_params, and the magic and information address, and calls the 32-bit probe. The
 * multiboot headers are only in this image: probe-bzImage and probe-vmlinux stay as a multiboot probe
 * does not take them.
 */
	.text
	.code32
ehdr:
	.byte	0x7f, 'E', 'L', 'F', 1, 1, 1, 0	/* ELFCLASS32, little endian, EV_CURRENT, SYSV */
	.skip	8
	.word	2				/* ET_EXEC */
	.word	3				/* EM_386 */
	.long	1				/* EV_CURRENT */
	.long	LOAD_ADDR + (mb_entry - text)	/* e_entry */
	.long	phdr - ehdr			/* e_phoff */
	.long	0				/* e_shoff: no sections */
	.long	0				/* e_flags */
	.word	52, 32, 1			/* e_ehsize, e_phentsize, e_phnum */
	.word	40, 0, 0			/* e_shentsize, e_shnum, e_shstrndx */
phdr:
	.long	1				/* PT_LOAD */
	.long	text - ehdr			/* p_offset */
	.long	LOAD_ADDR			/* p_vaddr */
	.long	LOAD_ADDR			/* p_paddr */
	.long	text_end - text			/* p_filesz */
	.long	(probe_bin - text) + INIT_SIZE	/* p_memsz: the stack lives past the file bytes */
	.long	7				/* PF_R | PF_W | PF_X */
	.long	0x1000				/* p_align */
	.balign	0x1000, 0
text:
	/* Multiboot v1 header: PAGE_ALIGN (modules on page boundaries) | MEMORY_INFO (mem_* and the mmap). */
mb1_header:
	.long	0x1badb002
	.long	0x00000003
	.long	-(0x1badb002 + 0x00000003)
	.balign	8, 0
	/* Multiboot2 header, architecture 0 (i386): one information request (required) and the end tag. */
mb2_header:
	.long	0xe85250d6
	.long	0
	.long	mb2_header_end - mb2_header
	.long	-(0xe85250d6 + (mb2_header_end - mb2_header))
	.word	1, 0				/* MULTIBOOT_HEADER_TAG_INFORMATION_REQUEST, required */
	.long	8 + 5 * 4
	.long	1, 2, 3, 4, 6			/* cmdline, boot loader name, module, basic meminfo, mmap */
	.balign	8, 0
	.word	0, 0				/* end tag */
	.long	8
mb2_header_end:

mb_entry:
	cli
	cld
	movl	%eax, %edi			/* the magic */
	/* No stack to call/pop with: the ELF is loaded at its p_paddr, so the address is known. */
	movl	$(LOAD_ADDR + (probe_bin - text)), %ebp	/* EBP = the protected-mode part (load_addr) */
	leal	INIT_SIZE(%ebp), %esp
	/* struct entry_regs { u64 load_addr, boot_params, rdi; u32 mode, pad; u32 mb_magic, mb_info; u64 pad2; } */
	pushl	$0
	pushl	$0
	pushl	%ebx
	pushl	%edi
	pushl	$0
	pushl	$32
	pushl	$0
	pushl	$0
	pushl	$0
	pushl	$0
	pushl	$0
	pushl	%ebp
	movl	%esp, %eax
	subl	$12, %esp
	pushl	%eax
	call	probe_bin + PROBE32_OFFSET
2:	cli
	hlt
	jmp	2b

	.balign	64, 0
probe_bin:
	.incbin	"probe.bin"
text_end:
