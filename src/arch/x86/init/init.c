/* vkexec's own /init for `vkexec check`: a static, freestanding x86_64 or i386 program that makes only system
 * calls (no libc). Built by build.sh; src/arch/x86/check-init.ts packs it into a cpio.
 *
 * What it does, in order:
 *   1. mounts proc on /proc (mount(2)); stdout is /dev/console as the kernel opened it for init
 *      (init/main.c console_on_rootfs), else devtmpfs is mounted on /dev and /dev/console opened;
 *   2. prints   VKEXEC-CHECK-INIT bits=64 cmdline-sha256=<64 hex>
 *      the digest of /proc/cmdline without its final newline (fs/proc/cmdline.c adds one);
 *   3. if /proc/vmcore exists (a capture kernel: fs/proc/vmcore.c, elfcorehdr=), reads its ELF header and
 *      program headers, finds VKEXEC_FILL=addr[^KEY] in the VMCOREINFO note, and compares every byte of every
 *      PT_LOAD with the fill pattern (each 8-byte word at physical A holds A ^ KEY, see
 *      src/vm/memory/fill-pattern.ts), except the ranges given as vkexec_skip=HEX-HEX[,HEX-HEX...] on the
 *      command line (the old kernel's note buffers). Then prints one verdict line:
 *        VKEXEC-CHECK-VMCORE ok class=ELF64 machine=62 notes=N loads=N checked-mib=N fill=addr^0x...
 *        VKEXEC-CHECK-VMCORE bad <reason>
 *   4. reboot(LINUX_REBOOT_CMD_POWER_OFF) (kernel/reboot.c), or spins in pause(2) if that fails.
 */
#include <stdint.h>
#include "../purgatory/sha256.h"

#if defined(__x86_64__)
enum { NR_read = 0, NR_write = 1, NR_open = 2, NR_close = 3, NR_pread64 = 17, NR_pause = 34, NR_mkdir = 83, NR_mount = 165, NR_reboot = 169 };
#define BITS "64"
static long sys5(long n, long a, long b, long c, long d, long e)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
	return ret;
}
static long sys_pread(int fd, void *buf, long len, uint64_t off)
{
	return sys5(NR_pread64, fd, (long)buf, len, (long)off, 0);
}
#elif defined(__i386__)
enum { NR_read = 3, NR_write = 4, NR_open = 5, NR_close = 6, NR_pause = 29, NR_mkdir = 39, NR_mount = 21, NR_reboot = 88, NR_pread64 = 180 };
#define BITS "32"
static long sys5(long n, long a, long b, long c, long d, long e)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
	return ret;
}
static long sys_pread(int fd, void *buf, long len, uint64_t off)
{
	return sys5(NR_pread64, fd, (long)buf, len, (long)(uint32_t)off, (long)(uint32_t)(off >> 32));
}
#else
#error "x86_64 or i386 only"
#endif

#define sys3(n, a, b, c) sys5((n), (long)(a), (long)(b), (long)(c), 0, 0)

static int out_fd = 1;
static char line[512];
static unsigned int line_len;
static uint8_t chunk[65536];
static char cmdline[4096];

static void put(const char *s)
{
	while (*s && line_len < sizeof(line) - 1) line[line_len++] = *s++;
}

static void put_hex(uint64_t v)
{
	char b[19];
	int i = 18;
	b[i] = 0;
	do {
		b[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	b[--i] = 'x';
	b[--i] = '0';
	put(b + i);
}

static void put_dec(uint64_t v)
{
	char b[21];
	int i = 20;
	b[i] = 0;
	do {
		/* v % 10 and v / 10 without libgcc's 64-bit division on i386: v < 2^32 here (counts and MiB). */
		uint32_t w = (uint32_t)v;
		b[--i] = (char)('0' + w % 10);
		v = w / 10;
	} while (v);
	put(b + i);
}

static void flush(void)
{
	line[line_len++] = '\n';
	sys3(NR_write, out_fd, line, line_len);
	line_len = 0;
}

static __attribute__((noreturn)) void power_off(void)
{
	/* LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_POWER_OFF */
	sys5(NR_reboot, (long)0xfee1dead, 672274793, 0x4321fedc, 0, 0);
	for (;;) sys3(NR_pause, 0, 0, 0);
}

static void console(void)
{
	if (sys3(NR_write, 1, "", 0) >= 0) return;
	sys3(NR_mkdir, "/dev", 0755, 0);
	sys5(NR_mount, (long)"devtmpfs", (long)"/dev", (long)"devtmpfs", 0, 0);
	long fd = sys3(NR_open, "/dev/console", 1 /* O_WRONLY */, 0);
	if (fd >= 0) out_fd = (int)fd;
}

static int starts(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++) return 0;
	return 1;
}

/* Reads hex digits (an optional 0x first) at *s; advances *s. */
static uint64_t parse_hex(const char **s)
{
	uint64_t v = 0;
	const char *p = *s;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) p += 2;
	for (;; p++) {
		char c = *p;
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0) break;
		v = (v << 4) | (uint64_t)d;
	}
	*s = p;
	return v;
}

#define MAX_SKIP 16
static uint64_t skip_start[MAX_SKIP], skip_end[MAX_SKIP];
static int nskip;

/* vkexec_skip=HEX-HEX[,HEX-HEX...] from the command line: physical ranges not compared with the pattern. */
static void parse_skip(void)
{
	for (const char *p = cmdline; *p; p++) {
		if ((p != cmdline && p[-1] != ' ') || !starts(p, "vkexec_skip=")) continue;
		p += 12;
		while (nskip < MAX_SKIP) {
			skip_start[nskip] = parse_hex(&p);
			if (*p != '-') break;
			p++;
			skip_end[nskip++] = parse_hex(&p);
			if (*p != ',') break;
			p++;
		}
		if (!*p) break;
	}
}

static int skipped(uint64_t a)
{
	for (int i = 0; i < nskip; i++)
		if (a >= skip_start[i] && a < skip_end[i]) return 1;
	return 0;
}

static uint64_t rd(const uint8_t *p, int n)
{
	uint64_t v = 0;
	while (n--) v = (v << 8) | p[n];
	return v;
}

struct load {
	uint64_t offset, paddr, filesz;
};
#define MAX_LOADS 64
static struct load loads[MAX_LOADS];

static void bad(const char *why, uint64_t value)
{
	put("VKEXEC-CHECK-VMCORE bad ");
	put(why);
	if (value != (uint64_t)-1) {
		put(" ");
		put_hex(value);
	}
	flush();
}

/* Finds "VKEXEC_FILL=addr" or "VKEXEC_FILL=addr^KEY" in the notes; 0 when there is none. */
static int find_fill(int fd, uint64_t off, uint64_t size, uint64_t *key)
{
	long n = sys_pread(fd, chunk, size < sizeof(chunk) ? (long)size : (long)sizeof(chunk), off);
	for (long i = 0; i + 16 < n; i++) {
		if (!starts((const char *)chunk + i, "VKEXEC_FILL=addr")) continue;
		const char *p = (const char *)chunk + i + 16;
		*key = 0;
		if (*p == '^') {
			p++;
			*key = parse_hex(&p);
		}
		return 1;
	}
	return 0;
}

/* Compares one PT_LOAD with the pattern; returns the physical address of the first difference or -1. */
static uint64_t compare_load(int fd, const struct load *l, uint64_t key)
{
	for (uint64_t off = 0; off < l->filesz; off += sizeof(chunk)) {
		long want = l->filesz - off < sizeof(chunk) ? (long)(l->filesz - off) : (long)sizeof(chunk);
		long got = sys_pread(fd, chunk, want, l->offset + off);
		if (got != want) return l->paddr + off;
		for (long i = 0; i < want; i += 8) {
			uint64_t a = l->paddr + off + (uint64_t)i;
			if (rd(chunk + i, 8) != (a ^ key) && !skipped(a)) return a;
		}
	}
	return (uint64_t)-1;
}

static void check_vmcore(int fd)
{
	uint8_t eh[64];
	if (sys_pread(fd, eh, 64, 0) != 64 || !starts((const char *)eh, "\177ELF")) return bad("no ELF header at offset 0", (uint64_t)-1);
	int is64 = eh[4] == 2;
	if ((eh[4] != 1 && !is64) || eh[5] != 1) return bad("EI_CLASS/EI_DATA is not ELF32/ELF64 little-endian", eh[4]);
	if (rd(eh + 16, 2) != 4) return bad("e_type is not ET_CORE", rd(eh + 16, 2));
	uint64_t machine = rd(eh + 18, 2);
	if (machine != 62 && machine != 3) return bad("e_machine is neither EM_X86_64 nor EM_386", machine);
	uint64_t phoff = is64 ? rd(eh + 32, 8) : rd(eh + 28, 4);
	uint64_t phentsize = rd(eh + (is64 ? 54 : 42), 2), phnum = rd(eh + (is64 ? 56 : 44), 2);
	if (phentsize != (is64 ? 56u : 32u) || phnum == 0 || phnum > MAX_LOADS + 1) return bad("e_phentsize/e_phnum out of range", phnum);
	int nloads = 0, nnotes = 0;
	uint64_t note_off = 0, note_size = 0, key = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		uint8_t ph[56];
		if (sys_pread(fd, ph, (long)phentsize, phoff + i * phentsize) != (long)phentsize) return bad("cannot read program header", i);
		uint64_t type = rd(ph, 4);
		uint64_t offset = is64 ? rd(ph + 8, 8) : rd(ph + 4, 4), paddr = is64 ? rd(ph + 24, 8) : rd(ph + 12, 4);
		uint64_t filesz = is64 ? rd(ph + 32, 8) : rd(ph + 16, 4), memsz = is64 ? rd(ph + 40, 8) : rd(ph + 20, 4);
		if (type == 4) {
			nnotes++;
			note_off = offset;
			note_size = filesz;
		} else if (type == 1) {
			if (filesz > memsz) return bad("PT_LOAD p_filesz > p_memsz at p_paddr", paddr);
			if (paddr & 7) return bad("PT_LOAD p_paddr is not 8-byte aligned", paddr);
			loads[nloads++] = (struct load){ offset, paddr, filesz };
		}
	}
	if (nnotes != 1) return bad("PT_NOTE count is not 1 (fs/proc/vmcore.c merges the notes into one)", (uint64_t)nnotes);
	if (nloads == 0) return bad("no PT_LOAD", (uint64_t)-1);
	if (!find_fill(fd, note_off, note_size, &key)) return bad("no VKEXEC_FILL in the VMCOREINFO note (the panic filled no pattern)", (uint64_t)-1);
	uint64_t checked = 0;
	for (int i = 0; i < nloads; i++) {
		uint64_t at = compare_load(fd, &loads[i], key);
		if (at != (uint64_t)-1) return bad("PT_LOAD data differs from the fill pattern at physical", at);
		checked += loads[i].filesz;
	}
	put("VKEXEC-CHECK-VMCORE ok class=ELF");
	put(is64 ? "64" : "32");
	put(" machine=");
	put_dec(machine);
	put(" notes=1 loads=");
	put_dec((uint64_t)nloads);
	put(" checked-mib=");
	put_dec(checked >> 20);
	put(" fill=addr^");
	put_hex(key);
	flush();
}

void _start(void) __attribute__((noreturn, used));
void _start(void)
{
	sys3(NR_mkdir, "/proc", 0555, 0);
	sys5(NR_mount, (long)"proc", (long)"/proc", (long)"proc", 0, 0);
	console();
	long fd = sys3(NR_open, "/proc/cmdline", 0, 0);
	long n = fd >= 0 ? sys3(NR_read, fd, cmdline, sizeof(cmdline) - 1) : -1;
	if (n < 0) n = 0;
	if (n > 0 && cmdline[n - 1] == '\n') n--;
	cmdline[n] = 0;
	struct sha256_ctx ctx;
	uint8_t digest[32];
	sha256_init(&ctx);
	sha256_update(&ctx, (const uint8_t *)cmdline, (uint64_t)n);
	sha256_final(&ctx, digest);
	put("VKEXEC-CHECK-INIT bits=" BITS " cmdline-sha256=");
	for (int i = 0; i < 32; i++) {
		char h[3] = { "0123456789abcdef"[digest[i] >> 4], "0123456789abcdef"[digest[i] & 15], 0 };
		put(h);
	}
	flush();
	long vm = sys3(NR_open, "/proc/vmcore", 0, 0);
	if (vm >= 0) {
		parse_skip();
		check_vmcore((int)vm);
	}
	power_off();
}
