/* x86_64 purgatory entry and 64-bit exit.
 * Entered at purgatory_start from the old kernel's relocate_kernel (or vkexec's machine) in 64-bit long
 * mode with identity-mapped paging and interrupts off; the GDT, segments and stack are unknown.
 * No 32-bit absolute relocations: the kernel may place the purgatory above 4 GiB (kexec_file_load puts it
 * top-down in RAM), so everything here is RIP-relative or a 64-bit address. */
#include "regs.h"

	.text
	.code64
	.globl	purgatory_start
	.type	purgatory_start, @function
purgatory_start:
	cli
	cld
	lgdt	gdt64_desc(%rip)
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	leaq	purgatory_stack_end(%rip), %rsp

	/* CS still names a descriptor of the old GDT: far-return into our own 64-bit code segment. */
	leaq	1f(%rip), %rax
	pushq	$SEL_CODE
	pushq	%rax
	lretq
1:
	call	purgatory

	/* Load the image's registers; rax carries the block's address, so it is loaded last. */
	leaq	entry64_regs(%rip), %rax
	movq	ENTRY64_RCX(%rax), %rcx
	movq	ENTRY64_RDX(%rax), %rdx
	movq	ENTRY64_RBX(%rax), %rbx
	movq	ENTRY64_RSP(%rax), %rsp
	movq	ENTRY64_RBP(%rax), %rbp
	movq	ENTRY64_RSI(%rax), %rsi
	movq	ENTRY64_RDI(%rax), %rdi
	movq	ENTRY64_R8(%rax), %r8
	movq	ENTRY64_R9(%rax), %r9
	movq	ENTRY64_R10(%rax), %r10
	movq	ENTRY64_R11(%rax), %r11
	movq	ENTRY64_R12(%rax), %r12
	movq	ENTRY64_R13(%rax), %r13
	movq	ENTRY64_R14(%rax), %r14
	movq	ENTRY64_R15(%rax), %r15
	movq	ENTRY64_RAX(%rax), %rax
	jmpq	*entry64_regs + ENTRY64_RIP(%rip)
	.size	purgatory_start, . - purgatory_start

	.data
	.balign 8
	.globl	entry64_regs
	.type	entry64_regs, @object
entry64_regs:
	.fill	16, 8, 0		/* rax rcx rdx rbx rsp rbp rsi rdi r8-r15 */
	.quad	entry32			/* rip: by default the 32-bit hand-off, as in kexec-tools */
	.size	entry64_regs, . - entry64_regs

	/* The purgatory's own stack; the image gets stack_end (stack.S). */
	.bss
	.balign 16
	.globl	purgatory_stack_end
	.hidden	purgatory_stack_end
purgatory_stack:
	.skip	4096
purgatory_stack_end:

	.section .note.GNU-stack, "", @progbits
