/* The stack handed to the next image (its esp/rsp = stack_end), kept apart from the purgatory's own
 * stack and in .data so a loader can prepopulate it: kexec-tools' elf-x86 loader (--args-elf) writes the
 * boot-notes pointer to stack_arg32_1 and starts the image with esp = stack_arg32_2, i.e. a zero return
 * address followed by one cdecl argument. Linux's bzImage64 loader only takes the address of stack_end. */

	.data
	.balign 16
	.globl	stack_end, stack_arg32_1, stack_arg32_2
stack:
	.skip	4096 - 8
stack_arg32_2:
	.long	0
	.type	stack_arg32_2, @object
	.size	stack_arg32_2, 4
stack_arg32_1:
	.long	0
	.type	stack_arg32_1, @object
	.size	stack_arg32_1, 4
stack_end:

	.section .note.GNU-stack, "", @progbits
