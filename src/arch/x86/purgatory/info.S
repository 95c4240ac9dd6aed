/* vkexec_purgatory_info: lets vkexec's verify engine find the patched state inside a loaded purgatory
 * segment without the ELF file. It scans the segment for the magic; the addresses below are absolute
 * once the loader has applied the relocations.
 *   +0  char magic[8] = "VKXPURG1"     +8  u32 version = 1     +12 u32 arch = 64 or 32
 *   +16 u64 sha256_regions  +24 u64 sha256_digest  +32 u64 skip_checks
 *   +40 u64 entry64_regs (0 on i386)  +48 u64 entry32_regs  +56 u64 backup_start */

#ifdef __x86_64__
#define ADDR64(sym)	.quad sym
#define ARCH_BITS	64
#else
/* i386 relocations are 32-bit: low half relocated, high half zero (little-endian). */
#define ADDR64(sym)	.long sym, 0
#define ARCH_BITS	32
#endif

	.data
	.balign 8
	.globl	vkexec_purgatory_info
	.type	vkexec_purgatory_info, @object
vkexec_purgatory_info:
	.ascii	"VKXPURG1"
	.long	1
	.long	ARCH_BITS
	ADDR64(sha256_regions)
	ADDR64(sha256_digest)
	ADDR64(skip_checks)
#ifdef __x86_64__
	ADDR64(entry64_regs)
#else
	.quad	0
#endif
	ADDR64(entry32_regs)
	ADDR64(backup_start)
	.size	vkexec_purgatory_info, . - vkexec_purgatory_info

	.section .note.GNU-stack, "", @progbits
