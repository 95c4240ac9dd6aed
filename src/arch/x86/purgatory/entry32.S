/* i386 purgatory entry and exit. Entered at purgatory_start in flat 32-bit protected mode with paging
 * off; the GDT, segments and stack are unknown. Absolute 32-bit addresses are fine here: the whole
 * address space is 32-bit. */
#include "regs.h"

	.text
	.code32
	.globl	purgatory_start
	.type	purgatory_start, @function
purgatory_start:
	cli
	cld
	lgdt	gdt32_desc
	ljmp	$SEL_CODE, $1f
1:
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movl	$purgatory_stack_end, %esp

	call	purgatory

	/* kexec-tools' struct entry32_regs; esi holds the block's address, so it is loaded last. */
	movl	$entry32_regs, %esi
	movl	ENTRY32_EAX(%esi), %eax
	movl	ENTRY32_EBX(%esi), %ebx
	movl	ENTRY32_ECX(%esi), %ecx
	movl	ENTRY32_EDX(%esi), %edx
	movl	ENTRY32_EDI(%esi), %edi
	movl	ENTRY32_ESP(%esi), %esp
	movl	ENTRY32_EBP(%esi), %ebp
	movl	ENTRY32_ESI(%esi), %esi
	jmp	*entry32_regs + ENTRY32_EIP
	.size	purgatory_start, . - purgatory_start

	.data
	.balign 4
	.globl	entry32_regs
	.type	entry32_regs, @object
entry32_regs:
	.fill	9, 4, 0			/* eax ebx ecx edx esi edi esp ebp eip */
	.size	entry32_regs, . - entry32_regs

	/* The purgatory's own stack; the image gets stack_end (stack.S). */
	.bss
	.balign 16
purgatory_stack:
	.skip	4096
purgatory_stack_end:

	.section .note.GNU-stack, "", @progbits
