/* x86_64 purgatory: hand-off to a 32-bit image (kexec-tools' --entry-32bit bzImage loader, 32-bit ELF
 * and multiboot images). Reached through entry64_regs.rip = entry32, after purgatory() has checked that
 * entry32_regs.eip is set and that this code lies below 4 GiB.
 * Leaving long mode is legal here because the code runs identity-mapped: switch to a 32-bit
 * (compatibility mode) code segment, clear CR0.PG, clear EFER.LME, clear CR4, then load gdt32, the flat
 * data segments and entry32_regs, and far-jump to SEL_CODE:eip.
 * The final jump cannot go through memory (every register is the image's by then, and a 32-bit absolute
 * address would need a relocation that overflows when the purgatory sits above 4 GiB), so its target is
 * stored into the immediate of the ljmp instruction itself before the mode switch. */
#include "regs.h"

#define MSR_EFER	0xc0000080
#define EFER_LME	0x00000100
#define X86_CR0_PG	0x80000000
#define X86_CR4_PCIDE	0x00020000

	.text
	.code64
	.globl	entry32
	.type	entry32, @function
entry32:
	movl	entry32_regs + ENTRY32_EIP(%rip), %eax
	movl	%eax, entry32_target(%rip)
	leaq	entry32_regs(%rip), %rsi
	leaq	gdt32_desc(%rip), %rdi
	leaq	compat(%rip), %rax
	movl	%eax, compat_far(%rip)

	/* Turning paging off with CR4.PCIDE set faults; PCIDE can only be cleared from 64-bit mode. */
	movq	%cr4, %rax
	andq	$~X86_CR4_PCIDE, %rax
	movq	%rax, %cr4

	ljmpl	*compat_far(%rip)

	.code32
compat:
	movl	%cr0, %eax
	andl	$~X86_CR0_PG, %eax
	movl	%eax, %cr0
	movl	$MSR_EFER, %ecx
	rdmsr
	andl	$~EFER_LME, %eax
	wrmsr
	xorl	%eax, %eax
	movl	%eax, %cr4

	lgdt	(%edi)
	movl	$SEL_DATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs

	/* kexec-tools' struct entry32_regs; esi holds the block's address, so it is loaded last. */
	movl	ENTRY32_EAX(%esi), %eax
	movl	ENTRY32_EBX(%esi), %ebx
	movl	ENTRY32_ECX(%esi), %ecx
	movl	ENTRY32_EDX(%esi), %edx
	movl	ENTRY32_EDI(%esi), %edi
	movl	ENTRY32_ESP(%esi), %esp
	movl	ENTRY32_EBP(%esi), %ebp
	movl	ENTRY32_ESI(%esi), %esi
	.byte	0xea			/* ljmp ptr16:32 */
entry32_target:
	.long	0
	.word	SEL_CODE
	.size	entry32, . - entry32

	.data
	.balign 8
compat_far:				/* m16:32 far pointer to compat */
	.long	0
	.word	SEL_CODE32_COMPAT

	.balign 4
	.globl	entry32_regs
	.type	entry32_regs, @object
entry32_regs:
	.fill	9, 4, 0			/* eax ebx ecx edx esi edi esp ebp eip */
	.size	entry32_regs, . - entry32_regs

	.section .note.GNU-stack, "", @progbits
