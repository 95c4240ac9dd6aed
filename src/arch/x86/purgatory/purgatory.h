/* vkexec purgatory: declarations shared by the C and assembler parts (x86_64 and i386). */
#ifndef VKEXEC_PURGATORY_H
#define VKEXEC_PURGATORY_H

#include <stdint.h>

/* Storage the loader patches: GLOBAL (the kernel and kexec-tools look up only global symbols; everything
 * else is built hidden and made local) and in .data (Linux refuses to set a symbol that lives in bss,
 * kernel/kexec_file.c: kexec_purgatory_get_set_symbol). */
#define PATCHABLE __attribute__((section(".data"), visibility("default")))

/* kexec-tools kexec/kexec-sha256.h and Linux's struct kexec_sha_region: 16 x {start, len}. */
#define SHA256_REGIONS 16
struct sha256_region {
	uint64_t start;
	uint64_t len;
};

extern struct sha256_region sha256_regions[SHA256_REGIONS];
extern uint8_t sha256_digest[32];
extern uint32_t skip_checks;
extern uint8_t console_serial;
extern uint16_t serial_base;
extern uint32_t serial_baud;
extern uint64_t backup_start;
extern uint64_t backup_src_start;
extern uint64_t backup_src_size;
extern uint64_t cmdline_end;
extern uint8_t reset_vga;
extern uint8_t console_vga;
extern uint8_t panic_kernel;

/* The port the sha256 mismatch report always goes to, whatever the console options say. */
#define COM1_BASE 0x3f8
#define COM1_BAUD 115200

/* serial.c */
void serial_init(uint16_t base, uint32_t baud);
void serial_putc(uint16_t base, char c);
void serial_puts(uint16_t base, const char *s);
void serial_hex(uint16_t base, const uint8_t *bytes, unsigned int n);
void serial_drain(uint16_t base);

/* purgatory.c */
void purgatory(void);
void purgatory_fatal(const char *msg) __attribute__((noreturn));

#endif
