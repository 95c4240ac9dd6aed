# The stub's ACPI installer (included by stub.s; 32-bit protected mode, flat segments, stack set up).
# It does what SeaBIOS's romfile loader does for QEMU's pc machine, written for vkexec: the chipset as
# firmware leaves it, then the commands of fw_cfg "etc/table-loader" (QEMU hw/acpi/bios-linker-loader.c:
# 128-byte entries; u32 command, then ALLOCATE {file[56], u32 align, u8 zone}, ADD_POINTER {dest[56],
# src[56], u32 offset, u8 size}, ADD_CHECKSUM {file[56], u32 offset, u32 start, u32 length}).
# Routines return CF clear on success, CF set with ESI = message on failure.

	.code32
# acpi_install: nothing when the engine gave no ACPI range (P_ACPI_SIZE 0).
acpi_install:
	cmpl	$0, P_ACPI_SIZE
	jne	1f
	ret
1:	movl	$FSEG_START, V_FSEG_NEXT
	call	chipset_setup
	movw	$FW_CFG_SIGNATURE, %ax
	call	fwcfg_select
	movl	$V_TMP, %edi
	movl	$4, %ecx
	call	fwcfg_read
	movl	$msg_no_fwcfg, %esi
	cmpl	$QEMU_SIG, V_TMP
	jne	acpi_fail
	movl	P_ACPI_BASE, %eax
	movl	%eax, V_HIGH_NEXT
	addl	P_ACPI_SIZE, %eax
	movl	%eax, V_HIGH_END
	movl	$0, V_NFILES
	movl	$0, V_INDEX
	movl	$name_loader, %esi
	call	fwcfg_find
	movl	$msg_no_loader, %esi
	jc	acpi_fail
	movl	%eax, V_LOADER_SEL
	shrl	$7, %ebx
	movl	%ebx, V_LOADER_LEFT
2:	cmpl	$0, V_LOADER_LEFT
	je	3f
	call	loader_fetch
	call	loader_run
	jc	acpi_fail
	incl	V_INDEX
	decl	V_LOADER_LEFT
	jmp	2b
3:	movl	$msg_no_rsdp, %esi
	cmpl	$FSEG_START, V_FSEG_NEXT
	je	acpi_fail
	ret

# Report ESI, then clear what was placed in the F segment so no half-built RSDP is found; boot on.
acpi_fail:
	pushl	%esi
	movl	$msg_acpi, %esi
	call	puts
	popl	%esi
	call	puts
	movl	$FSEG_START, %edi
	movl	V_FSEG_NEXT, %ecx
	subl	%edi, %ecx
	jbe	1f
	xorl	%eax, %eax
	rep stosb
1:	ret

# PCI configuration: EAX = 0x80000000 | bdf << 8 | reg.
pci_read32:
	andl	$~3, %eax
	movw	$PCI_ADDR, %dx
	outl	%eax, %dx
	movw	$PCI_DATA, %dx
	inl	%dx, %eax
	ret
# Write the byte BL at register EAX.
pci_write8:
	pushl	%eax
	andl	$~3, %eax
	movw	$PCI_ADDR, %dx
	outl	%eax, %dx
	popl	%eax
	andl	$3, %eax
	movw	$PCI_DATA, %dx
	addw	%ax, %dx
	movb	%bl, %al
	outb	%al, %dx
	ret

# The i440FX chipset as SeaBIOS leaves it (a q35 or unknown board is left alone): F segment RAM (PAM0),
# PIIX4 PM I/O space at 0x600 (QEMU builds the FADT from it when the tables are first read), PIRQ routing.
chipset_setup:
	movl	$PCI_I440FX, %eax
	call	pci_read32
	cmpl	$0x12378086, %eax
	jne	9f
	movl	$PCI_I440FX + 0x59, %eax	# PAM0: 0xf0000-0xfffff read/write to RAM
	movb	$0x30, %bl
	call	pci_write8
	movl	$PCI_PIIX4PM, %eax
	call	pci_read32
	cmpl	$0x71138086, %eax
	jne	1f
	movl	$PCI_PIIX4PM + 0x40, %eax	# PMBA
	movb	$(PM_IO_BASE & 0xff) | 1, %bl
	call	pci_write8
	movl	$PCI_PIIX4PM + 0x41, %eax
	movb	$(PM_IO_BASE >> 8), %bl
	call	pci_write8
	movl	$PCI_PIIX4PM + 0x80, %eax	# PMREGMISC: PM I/O space on
	movb	$1, %bl
	call	pci_write8
1:	movl	$PCI_PIIX3, %eax
	call	pci_read32
	cmpl	$0x70008086, %eax
	jne	9f
	movl	$PCI_PIIX3 + 0x60, %eax	# PIRQRC[A-D] = 10, 10, 11, 11
	movb	$10, %bl
	call	pci_write8
	movl	$PCI_PIIX3 + 0x61, %eax
	call	pci_write8
	movl	$PCI_PIIX3 + 0x62, %eax
	movb	$11, %bl
	call	pci_write8
	movl	$PCI_PIIX3 + 0x63, %eax
	call	pci_write8
	movw	$0x4d1, %dx			# ELCR2: IRQ 10 and 11 level-triggered
	inb	%dx, %al
	orb	$0x0c, %al
	outb	%al, %dx
9:	ret

# fw_cfg: select AX; read ECX bytes to EDI; skip ECX bytes.
fwcfg_select:
	movw	$FW_CFG_SEL, %dx
	outw	%ax, %dx
	ret
fwcfg_read:
	movw	$FW_CFG_DATA, %dx
	rep insb
	ret
fwcfg_skip:
	movw	$FW_CFG_DATA, %dx
	jecxz	2f
1:	inb	%dx, %al
	loop	1b
2:	ret

# fwcfg_find: the fw_cfg file named at ESI (NUL-terminated, at most 56 bytes) -> AX selector, EBX size.
fwcfg_find:
	pushl	%ebp
	pushl	%edi
	pushl	%ecx
	movw	$FW_CFG_FILE_DIR, %ax
	call	fwcfg_select
	movl	$V_TMP, %edi
	movl	$4, %ecx
	call	fwcfg_read
	movl	V_TMP, %ebp
	bswapl	%ebp
1:	testl	%ebp, %ebp
	jz	3f
	decl	%ebp
	movl	$DIRENT, %edi
	movl	$64, %ecx
	call	fwcfg_read
	movl	$DIRENT + 8, %edi
	call	name_eq
	jne	1b
	movl	DIRENT, %ebx
	bswapl	%ebx
	movzwl	DIRENT + 4, %eax
	xchgb	%al, %ah
	clc
	jmp	4f
3:	stc
4:	popl	%ecx
	popl	%edi
	popl	%ebp
	ret

# name_eq: ZF set when the names at ESI and EDI agree up to their NUL (56 bytes at most).
name_eq:
	pushl	%esi
	pushl	%edi
	pushl	%ecx
	pushl	%eax
	movl	$56, %ecx
1:	movb	(%esi), %al
	cmpb	(%edi), %al
	jne	2f
	testb	%al, %al
	jz	2f
	incl	%esi
	incl	%edi
	loop	1b
	xorl	%eax, %eax
2:	popl	%eax
	popl	%ecx
	popl	%edi
	popl	%esi
	ret

# file_lookup: the allocated file named at ESI -> EDI its FILES entry.
file_lookup:
	pushl	%ecx
	movl	$FILES, %edi
	movl	V_NFILES, %ecx
1:	jecxz	2f
	call	name_eq
	je	3f
	addl	$64, %edi
	decl	%ecx
	jmp	1b
2:	popl	%ecx
	movl	$msg_not_allocated, %esi
	stc
	ret
3:	popl	%ecx
	clc
	ret

# loader_fetch: command V_INDEX of the table-loader into CMD_BUF (legacy fw_cfg reads from the start only).
loader_fetch:
	movl	V_LOADER_SEL, %eax
	call	fwcfg_select
	movl	V_INDEX, %ecx
	shll	$7, %ecx
	call	fwcfg_skip
	movl	$CMD_BUF, %edi
	movl	$128, %ecx
	jmp	fwcfg_read

loader_run:
	movl	CMD_BUF, %eax
	cmpl	$CMD_ALLOCATE, %eax
	je	cmd_allocate
	cmpl	$CMD_ADD_POINTER, %eax
	je	cmd_add_pointer
	cmpl	$CMD_ADD_CHECKSUM, %eax
	je	cmd_add_checksum
	clc
	ret

# ALLOCATE: the file's bytes at the next aligned address of its zone.
cmd_allocate:
	movl	V_NFILES, %eax
	movl	$msg_too_many, %esi
	cmpl	$MAX_FILES, %eax
	jae	8f
	shll	$6, %eax
	leal	FILES(%eax), %ebp
	movl	$CMD_BUF + 4, %esi
	movl	%ebp, %edi
	movl	$56, %ecx
	rep movsb
	movl	$CMD_BUF + 4, %esi
	call	fwcfg_find
	movl	$msg_no_file, %esi
	jc	8f
	movl	%ebx, 60(%ebp)
	movzbl	CMD_BUF + 64, %edx
	movl	$V_HIGH_NEXT, %esi
	movl	V_HIGH_END, %ecx
	cmpl	$ZONE_HIGH, %edx
	je	1f
	movl	$V_FSEG_NEXT, %esi
	movl	$FSEG_END, %ecx
	cmpl	$ZONE_FSEG, %edx
	je	1f
	movl	$msg_zone, %esi
	jmp	8f
1:	movl	CMD_BUF + 60, %edx
	testl	%edx, %edx
	jnz	2f
	incl	%edx
2:	decl	%edx
	movl	(%esi), %edi
	addl	%edx, %edi
	notl	%edx
	andl	%edx, %edi
	subl	%edi, %ecx
	jb	7f
	cmpl	%ebx, %ecx
	jb	7f
	movl	%edi, 56(%ebp)
	leal	(%edi, %ebx), %edx
	movl	%edx, (%esi)
	call	fwcfg_select
	movl	%ebx, %ecx
	call	fwcfg_read
	incl	V_NFILES
	clc
	ret
7:	movl	$msg_no_room, %esi
8:	stc
	ret

# ADD_POINTER: dest[offset] (size bytes, little-endian) += the source file's address.
cmd_add_pointer:
	movl	$CMD_BUF + 60, %esi
	call	file_lookup
	jc	9f
	movl	56(%edi), %ebx
	movl	$CMD_BUF + 4, %esi
	call	file_lookup
	jc	9f
	movl	CMD_BUF + 116, %eax
	movzbl	CMD_BUF + 120, %ecx
	movl	60(%edi), %edx
	subl	%eax, %edx
	jb	7f
	cmpl	%ecx, %edx
	jb	7f
	addl	56(%edi), %eax
	cmpl	$8, %ecx
	je	8f
	cmpl	$4, %ecx
	je	4f
	cmpl	$2, %ecx
	je	2f
	cmpl	$1, %ecx
	jne	6f
	addb	%bl, (%eax)
	clc
	ret
2:	addw	%bx, (%eax)
	clc
	ret
4:	addl	%ebx, (%eax)
	clc
	ret
8:	addl	%ebx, (%eax)
	adcl	$0, 4(%eax)
	clc
	ret
6:	movl	$msg_ptr_size, %esi
	stc
	ret
7:	movl	$msg_bounds, %esi
	stc
9:	ret

# ADD_CHECKSUM: file[offset] -= the byte sum of file[start, start + length).
cmd_add_checksum:
	movl	$CMD_BUF + 4, %esi
	call	file_lookup
	jc	9f
	movl	60(%edi), %edx
	movl	CMD_BUF + 60, %eax
	cmpl	%edx, %eax
	jae	7f
	movl	CMD_BUF + 64, %esi
	movl	CMD_BUF + 68, %ecx
	subl	%esi, %edx
	jb	7f
	cmpl	%ecx, %edx
	jb	7f
	movl	56(%edi), %edi
	addl	%edi, %esi
	addl	%edi, %eax
	xorl	%edx, %edx
	jecxz	2f
1:	addb	(%esi), %dl
	incl	%esi
	loop	1b
2:	subb	%dl, (%eax)
	clc
	ret
7:	movl	$msg_bounds, %esi
	stc
9:	ret

name_loader:
	.asciz	"etc/table-loader"
msg_acpi:
	.asciz	"vkexec-stub: ACPI: "
msg_no_fwcfg:
	.asciz	"no QEMU fw_cfg at port 0x510; the kernel gets no ACPI tables\n"
msg_no_loader:
	.asciz	"fw_cfg has no etc/table-loader (QEMU without ACPI?); the kernel gets no ACPI tables\n"
msg_no_rsdp:
	.asciz	"etc/table-loader placed nothing in the F segment (no RSDP); the kernel gets no ACPI tables\n"
msg_not_allocated:
	.asciz	"etc/table-loader names a file it did not allocate; the kernel gets no ACPI tables\n"
msg_too_many:
	.asciz	"etc/table-loader allocates more than 16 files; the kernel gets no ACPI tables\n"
msg_no_file:
	.asciz	"etc/table-loader allocates a file fw_cfg does not have; the kernel gets no ACPI tables\n"
msg_zone:
	.asciz	"etc/table-loader allocates in an unknown zone; the kernel gets no ACPI tables\n"
msg_no_room:
	.asciz	"the tables do not fit the machine's ACPI Tables range; the kernel gets no ACPI tables\n"
msg_bounds:
	.asciz	"etc/table-loader patches outside a file; the kernel gets no ACPI tables\n"
msg_ptr_size:
	.asciz	"etc/table-loader has a pointer size other than 1, 2, 4, 8; the kernel gets no ACPI tables\n"
