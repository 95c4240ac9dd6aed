/*
 * The v86 engine's entry stub: the reference from which src/vm/engines/v86-stub.ts generates its bytes.
 * test/vm/engines/v86.test.ts assembles this file (as --32 --defsym ENTRY=...) and requires the TypeScript
 * table to match it byte for byte, so edit both together.
 *
 * v86 has no BIOS here. Its multiboot loader copies this image to BASE (a.out kludge: flag 16 of the
 * multiboot header) and starts the CPU at `code` in flat 32-bit protected mode with paging off, CS = 0x08
 * and DS..SS = 0x10, but with no GDT loaded. The stub plays the last steps of i386 relocate_kernel: it
 * loads a GDT with the boot protocol's flat segments (__BOOT_CS 0x10, __BOOT_DS 0x18;
 * Documentation/arch/x86/boot.rst, "32-bit boot protocol"), loads the general registers from the
 * entry32_regs block at REGS (kexec-tools' purgatory/arch/i386/entry32.S field order), and far-jumps to
 * the image's entry point with interrupts off.
 *
 * The reset trap sits at the x86 reset vector (0xFFFF0, F000:FFF0 after v86's reset_cpu). With no BIOS,
 * a CPU reset lands there; the trap stamps RESET_MAGIC into `reset_flag` and halts with interrupts off,
 * which the engine observes as v86's cpu-event-halt and reads back to tell a reset from a plain halt.
 */
	.set	BASE, 0x1000
	.set	REGS, 0x1800
	.set	RESET_MAGIC, 0x54455352		/* "RSET" */

	.text
	.code32
multiboot_header:
	.long	0x1BADB002			/* magic */
	.long	0x00010000			/* flags: load address fields are valid */
	.long	-(0x1BADB002 + 0x00010000)	/* checksum */
	.long	BASE				/* header_addr */
	.long	BASE				/* load_addr */
	.long	BASE + (image_end - multiboot_header)	/* load_end_addr */
	.long	0				/* bss_end_addr */
	.long	BASE + (code - multiboot_header)	/* entry_addr */
gdt:
	.quad	0				/* 0x00 null */
	.quad	0x00CF9A000000FFFF		/* 0x08 4 GiB flat code, 32-bit */
	.quad	0x00CF9A000000FFFF		/* 0x10 __BOOT_CS */
	.quad	0x00CF92000000FFFF		/* 0x18 __BOOT_DS */
gdt_ptr:
	.word	gdt_ptr - gdt - 1
	.long	BASE + (gdt - multiboot_header)
	.word	0
code:
	cli
	cld
	lgdtl	BASE + (gdt_ptr - multiboot_header)
	movl	$0x18, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %fs
	movl	%eax, %gs
	movl	%eax, %ss
	movl	REGS + 0, %eax
	movl	REGS + 4, %ebx
	movl	REGS + 8, %ecx
	movl	REGS + 12, %edx
	movl	REGS + 16, %esi
	movl	REGS + 20, %edi
	movl	REGS + 24, %esp
	movl	REGS + 28, %ebp
	ljmpl	$0x10, $ENTRY
	.balign	4, 0
reset_flag:
	.long	0
image_end:

	.section .reset_trap, "ax"
	.code16
reset_trap:
	movl	$RESET_MAGIC, BASE + (reset_flag - multiboot_header)
1:	hlt
	jmp	1b
