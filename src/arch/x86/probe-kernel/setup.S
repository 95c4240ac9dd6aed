/*
 * vkexec probe kernel, real-mode part: boot sector + setup header + 16-bit setup (bzImage bytes
 * 0 .. (setup_sects + 1) * 512). kexec never runs this code (it copies the header and enters the
 * protected-mode part directly); BIOS-based loaders (QEMU -kernel's linuxboot ROM, v86's bzimage option,
 * GRUB's linux16) jump to offset 0x200 with CS = base + 0x20 and DS = ES = SS = base. The setup then does
 * what Linux's setup does, minimally: builds a zeroed zero page (boot_params) holding a copy of the setup
 * header as the loader filled it in and the BIOS E820 map, enters 32-bit protected mode with the boot
 * protocol's flat segments (__BOOT_CS 0x10, __BOOT_DS 0x18) and jumps to code32_start with ESI =
 * boot_params. The zero page is not the loaded image itself because bytes 0..0x1F0 and 0x2D0.. of the
 * image are boot sector and code, which a reader would take for ext_ramdisk_image, e820 entries, etc.
 *
 * Real-mode segment layout (the boot protocol leaves the segment up to heap_end_ptr + 0x200 to us;
 * loaders put the command line at 0xE000 (v86) or 0x10000 (QEMU) or higher):
 *   0x0000 .. SETUP_SIZE   this code      ZP .. ZP+0x1000   the zero page      .. RM_STACK_TOP   the stack
 */
	.set	SETUP_SECTS, 4		/* Linux's minimum; 0 would also mean 4 to loaders */
	.set	ZP, 0x1000
	.set	RM_STACK_TOP, 0x3000

	.text
	.code16
bootsect:
	/* Booted as a BIOS boot sector (at 0x7c00): say how to boot this file, then stop. */
	ljmp	$0x07c0, $bs_start
bs_start:
	movw	%cs, %ax
	movw	%ax, %ds
	movw	$bs_msg, %si
1:	lodsb
	testb	%al, %al
	jz	2f
	movb	$0x0e, %ah
	movw	$7, %bx
	int	$0x10
	jmp	1b
2:	cli
	hlt
	jmp	2b
bs_msg:
	.asciz	"vkexec probe kernel: load it with a boot loader (x86 boot protocol 2.15).\r\n"

	/* Documentation/arch/x86/boot.rst: the real-mode kernel header. */
	.org	0x1f1
hdr:
	.byte	SETUP_SECTS		/* 0x1f1 setup_sects */
	.word	0			/* 0x1f2 root_flags */
	.long	SYSSIZE			/* 0x1f4 syssize: protected-mode part in 16-byte units */
	.word	0			/* 0x1f8 ram_size (obsolete) */
	.word	0xffff			/* 0x1fa vid_mode: NORMAL_VGA */
	.word	0			/* 0x1fc root_dev */
	.word	0xaa55			/* 0x1fe boot_flag */
	.byte	0xeb, start_of_setup - 1f	/* 0x200 jump */
1:	.ascii	"HdrS"			/* 0x202 header */
	.word	0x020f			/* 0x206 version 2.15 */
	.long	0			/* 0x208 realmode_swtch */
	.word	0x1000			/* 0x20c start_sys_seg (obsolete) */
	.word	kernel_version - 0x200	/* 0x20e kernel_version */
	.byte	0			/* 0x210 type_of_loader */
	.byte	0x01			/* 0x211 loadflags: LOADED_HIGH */
	.word	0x8000			/* 0x212 setup_move_size */
	.long	0x100000		/* 0x214 code32_start */
	.long	0			/* 0x218 ramdisk_image */
	.long	0			/* 0x21c ramdisk_size */
	.long	0			/* 0x220 bootsect_kludge */
	.word	0			/* 0x224 heap_end_ptr */
	.byte	0			/* 0x226 ext_loader_ver */
	.byte	0			/* 0x227 ext_loader_type */
	.long	0			/* 0x228 cmd_line_ptr */
	.long	0x7fffffff		/* 0x22c initrd_addr_max */
	.long	0x200000		/* 0x230 kernel_alignment */
	.byte	1			/* 0x234 relocatable_kernel */
	.byte	12			/* 0x235 min_alignment: runs at any 4 KiB-aligned address */
	.word	0x0003			/* 0x236 xloadflags: XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
	.long	2047			/* 0x238 cmdline_size: COMMAND_LINE_SIZE - 1, as Linux */
	.long	0			/* 0x23c hardware_subarch: PC */
	.quad	0			/* 0x240 hardware_subarch_data */
	.long	PAYLOAD_OFFSET		/* 0x248 payload_offset: probe-vmlinux (uncompressed ELF) */
	.long	PAYLOAD_LENGTH		/* 0x24c payload_length */
	.quad	0			/* 0x250 setup_data */
	.quad	0x1000000		/* 0x258 pref_address: Linux's LOAD_PHYSICAL_ADDR */
	.long	INIT_SIZE		/* 0x260 init_size */
	.long	0			/* 0x264 handover_offset: no EFI handover */
	.long	KERNEL_INFO_OFFSET	/* 0x268 kernel_info_offset */

start_of_setup:
	cli
	cld
	movw	%ds, %ax
	movw	%ax, %es
	movw	%ax, %ss
	movw	$RM_STACK_TOP, %sp
	pushw	%ds			/* CS:IP = base:label, so labels are offsets from the image start */
	pushw	$3f
	lretw
3:
	inb	$0x92, %al		/* fast A20 gate */
	orb	$0x02, %al
	andb	$0xfe, %al
	outb	%al, $0x92

	movw	$ZP, %di		/* zeroed zero page */
	xorw	%ax, %ax
	movw	$0x800, %cx
	rep stosw
	movw	$0x1f1, %si		/* setup header: 0x1f1 .. 0x202 + the jump's offset byte */
	movw	$ZP + 0x1f1, %di
	movzbw	0x201, %cx
	addw	$0x202 - 0x1f1, %cx
	rep movsb

	xorl	%ebx, %ebx		/* INT 15h AX=E820 into boot_params.e820_table, count at 0x1e8 */
	movw	$ZP + 0x2d0, %di
	xorw	%bp, %bp
e820_next:
	movl	$0xe820, %eax
	movl	$20, %ecx
	movl	$0x534d4150, %edx	/* "SMAP" */
	int	$0x15
	jc	e820_done
	cmpl	$0x534d4150, %eax
	jne	e820_done
	incw	%bp
	addw	$20, %di
	cmpw	$128, %bp
	jae	e820_done
	testl	%ebx, %ebx
	jnz	e820_next
e820_done:
	movw	%bp, %ax
	movb	%al, ZP + 0x1e8

	xorl	%ebx, %ebx		/* linear address of this segment */
	movw	%ds, %bx
	shll	$4, %ebx
	leal	gdt(%ebx), %eax
	movl	%eax, gdt_ptr + 2
	leal	pm_entry(%ebx), %eax
	movl	%eax, pm_jump
	leal	ZP(%ebx), %esi
	lgdtl	gdt_ptr
	movl	%cr0, %eax
	orb	$1, %al
	movl	%eax, %cr0
	ljmpl	*pm_jump

	.code32
pm_entry:
	movl	$0x18, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %fs
	movl	%eax, %gs
	movl	%eax, %ss
	movl	0x214(%esi), %eax	/* code32_start as the loader left it */
	xorl	%ebx, %ebx
	xorl	%ebp, %ebp
	xorl	%edi, %edi
	jmp	*%eax

	.balign	8
gdt:
	.quad	0, 0
	.quad	0x00cf9a000000ffff	/* 0x10 __BOOT_CS: 4 GiB flat code */
	.quad	0x00cf92000000ffff	/* 0x18 __BOOT_DS: 4 GiB flat data */
gdt_ptr:
	.word	gdt_ptr - gdt - 1
	.long	0
pm_jump:
	.long	0
	.word	0x10
kernel_version:
	.asciz	"vkexec-probe 1"

	.org	(SETUP_SECTS + 1) * 512	/* fails to assemble if the code outgrows the setup sectors */
