/* vkexec purgatory, C part: runs between the old kernel and the new image. Checks the loaded segments
 * against the digest computed at load time, does the crash-kernel backup copy, then returns to the
 * assembler entry which loads the image's registers and jumps. */
#include "purgatory.h"
#include "regs.h"
#include "sha256.h"

/* Patched by the loader. Names and types are kexec-tools' (purgatory/purgatory.c,
 * purgatory/arch/i386/console-x86.c, crashdump_backup.c), except that the backup fields and cmdline_end
 * are u64 on both architectures so one set of layouts serves both objects. */
PATCHABLE struct sha256_region sha256_regions[SHA256_REGIONS];
PATCHABLE uint8_t sha256_digest[32];
PATCHABLE uint32_t skip_checks;
PATCHABLE uint8_t console_serial;
PATCHABLE uint16_t serial_base = COM1_BASE;
PATCHABLE uint32_t serial_baud;
PATCHABLE uint64_t backup_start;
PATCHABLE uint64_t backup_src_start;
PATCHABLE uint64_t backup_src_size;
/* Set by kexec-tools' arch_update_purgatory, so present for loaders that mirror it. This purgatory has no
 * VGA code: reset_vga and console_vga are stored, not acted on. The backup copy is keyed on backup_start,
 * which kexec-tools sets only when it sets panic_kernel (kexec -p). */
PATCHABLE uint8_t reset_vga;
PATCHABLE uint8_t console_vga;
PATCHABLE uint8_t panic_kernel;
/* kexec-tools sets it for the bzImage loaders (jump-back support appends to the command line there);
 * vkexec keeps the symbol so the same loader code can set it, and does not use it. */
PATCHABLE uint64_t cmdline_end;

/* The kernel's kexec_file_load path sets the same storage under its own names
 * (kernel/kexec_file.c: kexec_calculate_store_digests). */
extern struct sha256_region purgatory_sha_regions[SHA256_REGIONS]
	__attribute__((alias("sha256_regions"), visibility("default")));
extern uint8_t purgatory_sha256_digest[32] __attribute__((alias("sha256_digest"), visibility("default")));

#ifdef __x86_64__
extern uint64_t entry64_regs[ENTRY64_SIZE / 8];
extern char entry32[];
extern char purgatory_stack_end[]; /* the end of bss: the highest address the purgatory occupies */
#endif
extern uint32_t entry32_regs[ENTRY32_SIZE / 4];

static void halt_forever(void) __attribute__((noreturn));
static void halt_forever(void)
{
	for (;;)
		__asm__ __volatile__("cli; hlt");
}

void purgatory_fatal(const char *msg)
{
	serial_init(COM1_BASE, COM1_BAUD);
	serial_puts(COM1_BASE, "purgatory: ");
	serial_puts(COM1_BASE, msg);
	serial_puts(COM1_BASE, "\n");
	serial_drain(COM1_BASE);
	halt_forever();
}

static void report_mismatch(uint16_t port, const uint8_t digest[32])
{
	serial_puts(port, "sha256 digests do not match :(\n");
	serial_puts(port, "       digest: ");
	serial_hex(port, digest, 32);
	serial_puts(port, "\nsha256_digest: ");
	serial_hex(port, sha256_digest, 32);
	serial_puts(port, "\n");
	serial_drain(port);
}

/* Returns nonzero when the regions no longer hash to sha256_digest. */
static int verify_sha256_digest(uint8_t digest[32])
{
	struct sha256_ctx ctx;
	unsigned int i;
	int differ = 0;

	sha256_init(&ctx);
	for (i = 0; i < SHA256_REGIONS; i++)
		sha256_update(&ctx, (const uint8_t *)(uintptr_t)sha256_regions[i].start, sha256_regions[i].len);
	sha256_final(&ctx, digest);
	for (i = 0; i < 32; i++)
		differ |= digest[i] ^ sha256_digest[i];
	return differ;
}

/* kexec -p on x86 (kexec/arch/i386/crashdump-x86.c): the crash kernel gets a copy of the low memory the
 * panicked kernel was using, taken only now, after the checks. */
static void crashdump_backup_memory(void)
{
	uint8_t *dst = (uint8_t *)(uintptr_t)backup_start;
	const uint8_t *src = (const uint8_t *)(uintptr_t)backup_src_start;
	uint64_t n = backup_src_size;

	if (!backup_start)
		return;
	while (n--)
		*dst++ = *src++;
}

/* Refuse, with a message, the hand-offs the assembler exits cannot perform. */
static void check_entry_point(void)
{
#ifdef __x86_64__
	uint64_t rip = entry64_regs[ENTRY64_RIP / 8];

	if (rip == 0)
		purgatory_fatal("entry64_regs.rip is 0: the loader set no entry point");
	if (rip != (uintptr_t)entry32)
		return;
	/* entry32 runs with paging off: its code and data must all be addressable with 32 bits. */
	if ((uintptr_t)purgatory_stack_end > 0x100000000u)
		purgatory_fatal("a 32-bit entry needs the purgatory below 4 GiB");
#endif
	if (entry32_regs[ENTRY32_EIP / 4] == 0)
		purgatory_fatal("entry32_regs.eip is 0: the loader set no entry point");
}

void purgatory(void)
{
	uint8_t digest[32];

	if (console_serial) {
		serial_init(serial_base, serial_baud);
		serial_puts(serial_base, "I'm in purgatory\n");
	}
	check_entry_point();
	if (!skip_checks && verify_sha256_digest(digest)) {
		/* Unlike kexec-tools, always on COM1: a user of vkexec must see why the machine stopped. */
		serial_init(COM1_BASE, COM1_BAUD);
		report_mismatch(COM1_BASE, digest);
		if (console_serial && serial_base != COM1_BASE)
			report_mismatch(serial_base, digest);
		halt_forever();
	}
	crashdump_backup_memory();
}
