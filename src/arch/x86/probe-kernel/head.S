/*
 * vkexec probe kernel, protected-mode part: the bytes a loader puts at the kernel address (bzImage offset
 * (setup_sects + 1) * 512; probe-vmlinux's PT_LOAD). Position independent: the load address is computed.
 *
 *   0x000  startup_32: boot protocol 32-bit entry (code32_start): flat 4 GiB CS/DS, paging off, ESI = boot_params
 *   0x200  startup_64: boot protocol 64-bit entry: long mode, identity mapped, RSI = boot_params
 *   then   probe.c built for i386, probe.c built for x86_64, kernel_info, a version string
 * (multiboot.S wraps this part for multiboot loaders and enters probe32 with the multiboot magic and information)
 *   INIT_SIZE - STACK_SIZE .. INIT_SIZE: the stack (inside init_size, outside the file)
 */
	.text
	.code32
startup_32:
	cli
	cld
	/* No stack is promised here: borrow boot_params.scratch (0x1E4) for the call, as Linux does. */
	leal	0x1e8(%esi), %esp
	call	1f
1:	popl	%ebp
	subl	$(1b - startup_32), %ebp
	leal	INIT_SIZE(%ebp), %esp
	/* struct entry_regs { u64 load_addr, boot_params, rdi; u32 mode, pad; u32 mb_magic, mb_info; u64 pad2; } */
	pushl	$0
	pushl	$0
	pushl	$0
	pushl	$0
	pushl	$0
	pushl	$32
	pushl	$0
	pushl	$0
	pushl	$0
	pushl	%esi
	pushl	$0
	pushl	%ebp
	movl	%esp, %eax
	subl	$12, %esp
	pushl	%eax
	call	probe32
2:	cli
	hlt
	jmp	2b

	.org	0x200
	.code64
startup_64:
	cli
	cld
	leaq	startup_32(%rip), %rbp
	leaq	INIT_SIZE(%rbp), %rsp
	pushq	$0			/* pad2 */
	pushq	$0			/* mb_magic, mb_info: not a multiboot entry */
	pushq	$64
	pushq	%rdi
	pushq	%rsi
	pushq	%rbp
	movq	%rsp, %rdi
	call	probe64
3:	cli
	hlt
	jmp	3b

	.balign	64
probe32:
	.incbin	"probe32.bin"
	.balign	64
probe64:
	.incbin	"probe64.bin"

	/* Documentation/arch/x86/boot.rst, kernel_info (protocol 2.15): found via hdr.kernel_info_offset. */
	.balign	16
kernel_info:
	.ascii	"LToP"
	.long	kernel_info_var_len_data - kernel_info
	.long	kernel_info_end - kernel_info
	.long	0x8000000a		/* setup_type_max: SETUP_INDIRECT | SETUP_KEXEC_KHO */
kernel_info_var_len_data:
kernel_info_end:
	.asciz	"vkexec-probe 1"
probe_end:
