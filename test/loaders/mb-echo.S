/* A tiny multiboot image for the engine tests (test/loaders/multiboot-engines.test.ts): entered in 32-bit mode,
 * it prints "VKEXEC-MB eax=<EAX> cmdline=<the command line from the v1 info or the v2 CMDLINE tag>" on COM1,
 * then halts. -DV1: a.out-kludge Multiboot v1 header; else a Multiboot2 header (the test wraps it in an ELF32).
 * Built: gcc -m32 -DV1 -c mb-echo.S && ld -m elf_i386 -Ttext=0x100000 --oformat binary (trailing zeros cut). */
	.code32
	.text
	.globl _start
_start:
hdr:
#ifdef V1
	.long 0x1badb002
	.long 0x00010002
	.long -(0x1badb002 + 0x00010002)
	.long hdr
	.long _start
	.long end_load
	.long end_bss
	.long entry
#else
	.long 0xe85250d6
	.long 0
	.long hdr_end - hdr
	.long -(0xe85250d6 + (hdr_end - hdr))
	.short 0, 0
	.long 8
hdr_end:
#endif
entry:
	cld
	movl $stack_top, %esp
	movl %eax, %edi
	cmpl $0x36d76289, %edi
	jne 2f
	leal 8(%ebx), %esi
3:	movl (%esi), %ecx
	testl %ecx, %ecx
	jz nocmd
	cmpl $1, %ecx
	je 4f
	movl 4(%esi), %ecx
	addl $7, %ecx
	andl $-8, %ecx
	addl %ecx, %esi
	jmp 3b
4:	leal 8(%esi), %esi
	jmp print
2:	cmpl $0x2badb002, %edi
	jne nocmd
	movl 16(%ebx), %esi
	jmp print
nocmd:	movl $empty, %esi
print:
	pushl %esi
	movl $prefix, %esi
	call puts
	movl %edi, %eax
	call puthex
	movl $mid, %esi
	call puts
	popl %esi
	call puts
	movb $10, %al
	call putc
halt:	cli
	hlt
	jmp halt
putc:
	pushl %edx
	pushl %eax
	movw $0x3fd, %dx
5:	inb %dx, %al
	testb $0x20, %al
	jz 5b
	popl %eax
	movw $0x3f8, %dx
	outb %al, %dx
	popl %edx
	ret
puts:
6:	lodsb
	testb %al, %al
	jz 7f
	call putc
	jmp 6b
7:	ret
puthex:
	movl $8, %ecx
	movl %eax, %edx
8:	roll $4, %edx
	movl %edx, %eax
	andl $15, %eax
	cmpb $10, %al
	jb 9f
	addb $39, %al
9:	addb $48, %al
	call putc
	loop 8b
	ret
prefix:	.asciz "VKEXEC-MB eax="
mid:	.asciz " cmdline="
empty:	.asciz "(none)"
	.balign 4
end_load:
	.fill 1024, 1, 0
stack_top:
end_bss:
