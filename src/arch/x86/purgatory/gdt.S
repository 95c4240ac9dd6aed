/* The purgatory's descriptor tables. gdt32 is what a 32-bit image is entered with (i386 purgatory, and
 * the x86_64 purgatory's 32-bit hand-off); gdt64 is the x86_64 purgatory's own. All segments are flat
 * 4 GiB. Descriptor words: limit 0xffff, base 0, then access/flags (G=1, D=1 for 32-bit, L=1 for 64-bit). */
#include "regs.h"

#define DESC_CODE32	.word 0xffff, 0x0000, 0x9a00, 0x00cf
#define DESC_CODE64	.word 0xffff, 0x0000, 0x9a00, 0x00af
#define DESC_DATA	.word 0xffff, 0x0000, 0x9200, 0x00cf
#define DESC_NULL	.word 0, 0, 0, 0

/* Pseudo-descriptor for lgdt: 16-bit limit then the base. On x86_64 the base is a full quad (an
 * R_X86_64_64 relocation, valid wherever the purgatory lands); a 32-bit lgdt reads its low half. */
#ifdef __x86_64__
#define GDT_BASE(sym)	.quad sym
#else
#define GDT_BASE(sym)	.long sym
#endif

	.data
	.balign 16
gdt32:
	DESC_NULL
	DESC_NULL
	DESC_CODE32	/* SEL_CODE */
	DESC_DATA	/* SEL_DATA */
gdt32_end:

	.balign 8
	.globl	gdt32_desc
	.hidden	gdt32_desc
gdt32_desc:
	.word	gdt32_end - gdt32 - 1
	GDT_BASE(gdt32)

#ifdef __x86_64__
	.balign 16
gdt64:
	DESC_NULL
	DESC_CODE32	/* SEL_CODE32_COMPAT */
	DESC_CODE64	/* SEL_CODE */
	DESC_DATA	/* SEL_DATA */
gdt64_end:

	.balign 8
	.globl	gdt64_desc
	.hidden	gdt64_desc
gdt64_desc:
	.word	gdt64_end - gdt64 - 1
	GDT_BASE(gdt64)
#endif

	.section .note.GNU-stack, "", @progbits
