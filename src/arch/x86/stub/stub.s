# vkexec firmware stub: a 64 KiB "BIOS" for QEMU (-bios stub.bin) that puts the CPU in the state the old
# kernel's relocate_kernel leaves it in before jumping to image->start, then jumps to the loaded entry.
#
# Guest memory used (the scratch area; nothing else is read or written):
#   0x0500-0x051f  parameter block, written by the engine before the CPU starts (read only here)
#   0x0600-0x0fff  stack; RSP/ESP = 0x1000 at the entry
#   0x1000-0x1fff  PML4   (long64 only)
#   0x2000-0x2fff  PDPT   (long64 only), identity map with 1 GiB pages
#   0x1000-0x15ff  the ACPI installer's buffers, used before the page tables are built
#   0xf0000-0xfffff  made RAM (i440FX PAM0) and holding the RSDP when QEMU's ACPI tables are installed
#   [acpi_base, acpi_base + acpi_size)  QEMU's ACPI tables (an "ACPI Tables" e820 range the engine chose)
# kexec never places anything below 0x3000 (buf_min 0x3000 in kexec_add_buffer callers and kexec-tools).
#
# Parameter block (little-endian):
#   +0x00 u32 magic 0x54534b56 ("VKST")   +0x04 u32 version 1
#   +0x08 u32 mode: 1 = protected32, 2 = long64
#   +0x0c u32 gib: 1 GiB pages to identity-map from 0 (long64; 1..512)
#   +0x10 u64 entry (protected32: below 4 GiB)
#   +0x18 u64 rsi: value of RSI/ESI at the entry (0 = what relocate_kernel leaves; the 64-bit and 32-bit boot
#             protocols want boot_params there, which the purgatory normally sets)
#   +0x20 u32 acpi_base, +0x24 u32 acpi_size: where QEMU's ACPI tables go (acpi_size 0: install none)
#
# ACPI, before the mode switch (what SeaBIOS does on QEMU's pc machine, written anew here): the i440FX/PIIX
# chipset set up as firmware leaves it (PAM0 F-segment RAM read/write, PIIX4 PM I/O at 0x600, PIIX3 PIRQ
# A-D -> IRQ 10,10,11,11 level-triggered), then QEMU's fw_cfg "etc/table-loader" (hw/acpi/bios-linker-loader.c)
# run: ALLOCATE (zone HIGH -> the ACPI range, zone FSEG -> 0xf0000, where Linux's acpi_find_root_pointer scans
# for the RSDP), ADD_POINTER, ADD_CHECKSUM; WRITE_POINTER and unknown commands are ignored. fw_cfg through
# its I/O ports (selector 0x510, data 0x511). A failure prints "vkexec-stub: ACPI: ..." and boots on without
# ACPI (the RSDP area is cleared again).
#
# Entry state, after arch/x86/kernel/relocate_kernel_{64,32}.S (identity_mapped):
#   long64:      CR0 = PE|MP|ET|NE|PG, CR4 = PAE, EFER.LME, CS = 0x10 (64-bit), DS/ES/SS/FS/GS = 0x18
#   protected32: CR0 = PE|MP|ET|NE,    CR4 = 0,  paging off,   CS = 0x10 (32-bit), DS/ES/SS/FS/GS = 0x18
#   both: interrupts off, IDT limit 0 (any exception triple-faults, as after machine_kexec's set_idt(0, 0)),
#   general registers zero except RSI and RSP. Selectors 0x10/0x18 are __BOOT_CS/__BOOT_DS of the boot protocol.
# Failures (bad parameter block, CPU without long mode or 1 GiB pages) print "vkexec-stub: ..." on COM1 and halt.

	.equ PARAM,       0x500
	.equ P_MAGIC,     PARAM + 0x00
	.equ P_VERSION,   PARAM + 0x04
	.equ P_MODE,      PARAM + 0x08
	.equ P_GIB,       PARAM + 0x0c
	.equ P_ENTRY,     PARAM + 0x10
	.equ P_RSI,       PARAM + 0x18
	.equ P_ACPI_BASE, PARAM + 0x20
	.equ P_ACPI_SIZE, PARAM + 0x24
	.equ MAGIC,       0x54534b56
	.equ VERSION,     2
	.equ MODE_PROT32, 1
	.equ MODE_LONG64, 2
	.equ STACK_TOP,   0x1000
	.equ PML4,        0x1000
	.equ PDPT,        0x2000
	.equ MAX_GIB,     512

	.equ CS32,        0x08
	.equ BOOT_CS,     0x10
	.equ BOOT_DS,     0x18

	.equ CR0_PE,      0x00000001
	.equ CR0_MP,      0x00000002
	.equ CR0_ET,      0x00000010
	.equ CR0_NE,      0x00000020
	.equ CR0_PG,      0x80000000
	.equ CR4_PAE,     0x00000020
	.equ MSR_EFER,    0xc0000080
	.equ EFER_LME,    8
	.equ PTE_P_RW,    0x003
	.equ PTE_P_RW_PS, 0x083
	.equ COM1,        0x3f8

	# ACPI installer
	.equ FW_CFG_SEL,  0x510
	.equ FW_CFG_DATA, 0x511
	.equ FW_CFG_SIGNATURE, 0x0000
	.equ FW_CFG_FILE_DIR,  0x0019
	.equ QEMU_SIG,    0x554d4551	# "QEMU"
	.equ FSEG_START,  0xf0000
	.equ FSEG_END,    0x100000
	.equ CMD_BUF,     0x1000	# one table-loader command (128 bytes)
	.equ DIRENT,      0x1080	# one fw_cfg directory entry (64 bytes)
	.equ FILES,       0x1100	# allocated files: name[56], u32 addr, u32 size
	.equ MAX_FILES,   16
	.equ VARS,        0x1500
	.equ V_LOADER_SEL,  VARS + 0
	.equ V_LOADER_LEFT, VARS + 4
	.equ V_INDEX,       VARS + 8
	.equ V_NFILES,      VARS + 12
	.equ V_HIGH_NEXT,   VARS + 16
	.equ V_HIGH_END,    VARS + 20
	.equ V_FSEG_NEXT,   VARS + 24
	.equ V_TMP,         VARS + 28
	.equ CMD_ALLOCATE, 1
	.equ CMD_ADD_POINTER, 2
	.equ CMD_ADD_CHECKSUM, 3
	.equ ZONE_HIGH,   1
	.equ ZONE_FSEG,   2
	.equ PCI_ADDR,    0xcf8
	.equ PCI_DATA,    0xcfc
	.equ PCI_I440FX,  0x80000000	# 00:00.0
	.equ PCI_PIIX3,   0x80000800	# 00:01.0
	.equ PCI_PIIX4PM, 0x80000b00	# 00:01.3
	.equ PM_IO_BASE,  0x600

	.text
rom_base:

	.code16
start16:
	cld
	lgdtl	%cs:(gdt64_ptr - rom_base)
	lidtl	%cs:(idt_null_ptr - rom_base)
	# Fast A20 gate (port 0x92 bit 1) so odd megabytes are reachable.
	inb	$0x92, %al
	orb	$0x02, %al
	andb	$0xfe, %al
	outb	%al, $0x92
	# Caches on (reset leaves CD/NW set), protected mode on.
	movl	$(CR0_PE | CR0_MP | CR0_ET | CR0_NE), %eax
	movl	%eax, %cr0
	ljmpl	$CS32, $start32

	.code32
start32:
	movl	$BOOT_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movl	$STACK_TOP, %esp

	cmpl	$MAGIC, P_MAGIC
	jne	bad_params
	cmpl	$VERSION, P_VERSION
	jne	bad_params
	call	acpi_install
	movl	P_MODE, %eax
	cmpl	$MODE_LONG64, %eax
	je	long64
	cmpl	$MODE_PROT32, %eax
	jne	bad_params

	# protected32: a GDT whose 0x10 is 32-bit code, then reload CS with it.
	lgdtl	gdt32_ptr
	ljmpl	$BOOT_CS, $prot32_entry
prot32_entry:
	cmpl	$0, P_ENTRY + 4
	jne	bad_params
	xorl	%eax, %eax
	movl	%eax, %cr4
	movl	P_RSI, %esi
	xorl	%ebx, %ebx
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	xorl	%edi, %edi
	xorl	%ebp, %ebp
	jmp	*P_ENTRY

long64:
	movl	$0x80000000, %eax
	cpuid
	cmpl	$0x80000001, %eax
	jb	no_long_mode
	movl	$0x80000001, %eax
	cpuid
	btl	$29, %edx
	jnc	no_long_mode
	btl	$26, %edx
	jnc	no_gbpages
	movl	P_GIB, %ecx
	testl	%ecx, %ecx
	jz	bad_params
	cmpl	$MAX_GIB, %ecx
	ja	bad_params

	# PML4 and PDPT: zero both pages, one PML4 entry, one 1 GiB PDPT entry per GiB.
	xorl	%eax, %eax
	movl	$PML4, %edi
	movl	$(2 * 4096 / 4), %ecx
	rep stosl
	movl	$(PDPT | PTE_P_RW), PML4
	xorl	%ebx, %ebx
1:	movl	%ebx, %eax
	shll	$30, %eax
	orl	$PTE_P_RW_PS, %eax
	movl	%eax, PDPT(, %ebx, 8)
	movl	%ebx, %eax
	shrl	$2, %eax
	movl	%eax, PDPT + 4(, %ebx, 8)
	incl	%ebx
	cmpl	P_GIB, %ebx
	jb	1b

	movl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$PML4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	btsl	$EFER_LME, %eax
	wrmsr
	movl	$(CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG), %eax
	movl	%eax, %cr0
	ljmpl	$BOOT_CS, $start64

	.code64
start64:
	movl	$BOOT_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movq	$STACK_TOP, %rsp
	movq	P_RSI, %rsi
	xorl	%eax, %eax
	xorl	%ebx, %ebx
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	xorl	%edi, %edi
	xorl	%ebp, %ebp
	xorl	%r8d, %r8d
	xorl	%r9d, %r9d
	xorl	%r10d, %r10d
	xorl	%r11d, %r11d
	xorl	%r12d, %r12d
	xorl	%r13d, %r13d
	xorl	%r14d, %r14d
	xorl	%r15d, %r15d
	jmp	*P_ENTRY

	.code32
bad_params:
	movl	$msg_params, %esi
	jmp	fail
no_long_mode:
	movl	$msg_long_mode, %esi
	jmp	fail
no_gbpages:
	movl	$msg_gbpages, %esi
# Print the NUL-terminated string at ESI on COM1, then halt for good.
fail:
	call	puts
3:	cli
	hlt
	jmp	3b

# Print the NUL-terminated string at ESI on COM1 (waiting for THR empty). Clobbers ESI.
puts:
	pushl	%eax
	pushl	%edx
1:	movw	$COM1 + 5, %dx
2:	inb	%dx, %al
	testb	$0x20, %al
	jz	2b
	lodsb
	testb	%al, %al
	jz	3f
	movw	$COM1, %dx
	outb	%al, %dx
	jmp	1b
3:	popl	%edx
	popl	%eax
	ret

	.include "acpi.s"

	.balign 8
gdt64:
	.quad	0
	.quad	0x00cf9a000000ffff	# 0x08 32-bit code, flat
	.quad	0x00af9a000000ffff	# 0x10 64-bit code
	.quad	0x00cf92000000ffff	# 0x18 data, flat
gdt64_end:
gdt32:
	.quad	0
	.quad	0x00cf9a000000ffff	# 0x08 32-bit code, flat
	.quad	0x00cf9a000000ffff	# 0x10 32-bit code, flat
	.quad	0x00cf92000000ffff	# 0x18 data, flat
gdt32_end:
gdt64_ptr:
	.word	gdt64_end - gdt64 - 1
	.long	gdt64
gdt32_ptr:
	.word	gdt32_end - gdt32 - 1
	.long	gdt32
idt_null_ptr:
	.word	0
	.long	0

msg_params:
	.asciz	"vkexec-stub: bad parameter block at 0x500\n"
msg_long_mode:
	.asciz	"vkexec-stub: CPU has no long mode\n"
msg_gbpages:
	.asciz	"vkexec-stub: CPU has no 1 GiB pages (pdpe1gb)\n"

# The reset vector at ROM offset 0xfff0 (CS base 0xffff0000, IP 0xfff0; physical 0xfffffff0). The near jump
# back to offset 0 relies on IP wrapping at 64 KiB in real mode, so it is encoded by hand.
	.org	0xfff0, 0xff
	.code16
	.globl	reset_vector
reset_vector:
	cli
	.byte	0xe9
	.word	((start16 - rom_base) - (reset_vector + 4 - rom_base)) & 0xffff
	.fill	rom_base + 0x10000 - ., 1, 0xf4
