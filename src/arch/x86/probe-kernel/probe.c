/*
 * vkexec probe kernel: reports on COM1 exactly what a boot loader (kexec, QEMU, v86) handed it, then powers off.
 *
 * This file is compiled twice, as i386 and as x86_64 freestanding position-independent code; head.S enters
 * the matching copy from the 32-bit boot protocol entry (offset 0 of the protected-mode part, ESI =
 * boot_params) or from the 64-bit entry (offset 0x200, RSI = boot_params, identity mapped). Nothing here
 * has an absolute address: the image runs wherever it was placed. In 32-bit mode (paging off) memory above
 * 4 GiB cannot be read and is reported as "unreachable"; in 64-bit mode every address is read through the
 * identity map the loader gave us, so only memory the loader itself described is touched.
 *
 * REPORT FORMAT (version 1)
 * COM1 (0x3F8) at 115200 8N1, lines end in "\r\n". The report is the lines between
 *     VKEXEC-PROBE-BEGIN
 *     VKEXEC-PROBE-END
 * and each line inside is "key: value". Keys are [a-z0-9_.]+, in the order below; a key never repeats.
 * Values are one of
 *     0x<hex>            a number (lowercase hex, no leading zeros; addresses, sizes, flags)
 *     <decimal>          a count or length
 *     "<text>"           a string: bytes 0x20..0x7e as-is except '"' and '\' which are escaped as \" and
 *                        \\; any other byte as \xHH
 *     word               none | unreachable | bad-magic | <64 hex digits> (sha256)
 *     record             space-separated tokens name=value (value a number) or a bare word (a flag)
 * Keys:
 *     probe: 1                                 report format version
 *     entry: 32 | 64                           which entry was taken
 *     load_addr: 0x..                          address of the protected-mode part (computed at run time)
 *     boot_params: 0x..                        ESI / RSI at entry
 *     rdi: 0x..                                RDI at entry (64-bit entry only)
 *   when boot_params is 0 and RDI points at ELF boot notes (kexec --args-elf, 64-bit entry only):
 *     bootnotes.addr: 0x.., bootnotes.size: 0x.., bootnotes.records: N,
 *     bootnotes.bootloader: "..", bootnotes.bootloader_version: "..", bootnotes.cmdline: ".."
 *   when boot_params is non-zero (fields as the boot protocol names them; hdr.* from the setup header
 *   copy inside boot_params, bp.* from the rest of the zero page):
 *     hdr.setup_sects, hdr.boot_flag, hdr.header, hdr.version, hdr.type_of_loader, hdr.ext_loader_ver,
 *     hdr.ext_loader_type, hdr.loadflags, hdr.code32_start, hdr.cmd_line_ptr, hdr.ramdisk_image,
 *     hdr.ramdisk_size, hdr.heap_end_ptr, hdr.initrd_addr_max, hdr.kernel_alignment,
 *     hdr.relocatable_kernel, hdr.min_alignment, hdr.xloadflags, hdr.cmdline_size, hdr.hardware_subarch,
 *     hdr.payload_offset, hdr.payload_length, hdr.setup_data, hdr.pref_address, hdr.init_size,
 *     hdr.kernel_info_offset                   all 0x..
 *     bp.ext_ramdisk_image (0x0C0), bp.ext_ramdisk_size (0x0C4), bp.ext_cmd_line_ptr (0x0C8),
 *     bp.acpi_rsdp_addr (0x070), bp.alt_mem_k (0x1E0), bp.sentinel (0x1EF)
 *     cmdline.addr: 0x..                       cmd_line_ptr | ext_cmd_line_ptr << 32
 *     cmdline.len: N                           bytes before the NUL (scan capped at 8192)
 *     cmdline.truncated: 1                     only when no NUL was found within the cap (or below 4 GiB
 *                                              in 32-bit mode)
 *     cmdline: ".." | none | unreachable
 *     initrd.addr: 0x.., initrd.size: 0x..     ramdisk_image/size | ext_ramdisk_image/size << 32
 *     initrd.sha256: <hex> | none | unreachable      computed in the guest over initrd.size bytes
 *     e820.count: N                            the count byte at 0x1E8; at most 128 entries are listed
 *     e820.<i>: addr=0x.. size=0x.. type=0x..  i = 0..count-1
 *     setup_data.<i>: addr=0x.. type=0x.. len=0x.. [data=<hex of the first 32 bytes>]
 *                                              SETUP_RNG_SEED (9): no data; SETUP_INDIRECT (bit 31):
 *                                              indirect_type=0x.. indirect_len=0x.. indirect_addr=0x..;
 *                                              a node that cannot be read: addr=0x.. unreachable
 *     setup_data.count: N                      nodes listed (the walk stops after 32 nodes)
 *     setup_data.truncated: 1                  only when the chain went on past 32 nodes
 *   when the command line holds elfcorehdr=[SIZE@]ADDR (memparse syntax: 0x.., decimal, K/M/G suffix;
 *   the last occurrence wins, as in Linux):
 *     elfcorehdr.addr: 0x.., elfcorehdr.size: 0x.. (only with SIZE@)
 *     elfcorehdr.ehdr: class=N type=0x.. machine=0x.. phoff=0x.. phnum=N   | bad-magic | unreachable
 *     elfcorehdr.phdr.<i>: type=0x.. offset=0x.. vaddr=0x.. paddr=0x.. filesz=0x.. memsz=0x..
 *                                              i < min(phnum, 64); a phdr that cannot be read is skipped
 *   when entered through multiboot.S (probe-multiboot; 32-bit entry only) with a multiboot magic in EAX:
 *     multiboot.magic: 0x2badb002 | 0x36d76289, multiboot.info: 0x..   (EAX, EBX)
 *     v1: multiboot.flags: 0x.., then as the flags allow multiboot.mem_lower/mem_upper: 0x.. (KiB),
 *         multiboot.cmdline: "..", multiboot.boot_loader_name: "..", multiboot.mods.count: N,
 *         multiboot.mod.<i> and multiboot.mod.<i>.cmdline (below), multiboot.mmap.<i>, multiboot.mmap.count
 *     v2: multiboot.total_size: 0x.., then per tag in order: multiboot.cmdline, multiboot.boot_loader_name,
 *         multiboot.mod.<i> / .cmdline, multiboot.mem_lower/mem_upper, multiboot.mmap.<i>; then
 *         multiboot.mods.count (when any), multiboot.mmap.count
 *     multiboot.mod.<i>: start=0x.. end=0x.. sha256=<hex> | unreachable | empty   (sha256 over [start, end),
 *                                              computed in the guest; at most 32 modules)
 *     multiboot.mmap.<i>: addr=0x.. size=0x.. type=0x..                    (at most 128 entries)
 *     strings: ".." | none (address 0) | unreachable; scanned up to 4096 bytes
 * After END the probe writes 0x31 to port 0x501 (QEMU isa-debug-exit: exit status (0x31 << 1) | 1 = 99),
 * then prints "VKEXEC-PROBE-POWEROFF" (for machines without that device, e.g. v86) and halts with
 * interrupts off forever.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef unsigned long uptr;

/* Filled by head.S on its stack. */
struct entry_regs {
	u64 load_addr;
	u64 boot_params;
	u64 rdi;
	u32 mode;
	u32 pad;
	u32 mb_magic; /* multiboot.S: EAX at entry (0 from head.S's boot protocol entries) */
	u32 mb_info;  /* multiboot.S: EBX at entry */
	u64 pad2;
};

/* struct boot_params offsets (arch/x86/include/uapi/asm/bootparam.h). */
enum {
	BP_ACPI_RSDP_ADDR = 0x070,
	BP_EXT_RAMDISK_IMAGE = 0x0c0,
	BP_EXT_RAMDISK_SIZE = 0x0c4,
	BP_EXT_CMD_LINE_PTR = 0x0c8,
	BP_ALT_MEM_K = 0x1e0,
	BP_E820_ENTRIES = 0x1e8,
	BP_SENTINEL = 0x1ef,
	BP_E820_TABLE = 0x2d0,
	BP_E820_MAX = 128,
	BP_SIZE = 0x1000,
};

#define SETUP_RNG_SEED 9u
#define SETUP_INDIRECT 0x80000000u
#define CMDLINE_SCAN_MAX 8192u
#define SETUP_DATA_MAX 32
#define PHDR_MAX 64

/* ---- port I/O, COM1, power off ---- */

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

#define COM1 0x3f8

static void uart_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* divisor 1: 115200 */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0xc7); /* FIFO on, cleared */
	outb(COM1 + 4, 0x03); /* DTR, RTS; OUT2 off: no IRQ */
}

static void putc_raw(char c)
{
	/* Bounded wait for THRE so that a machine without a UART still reaches power off. */
	for (u32 spin = 0; spin < 1000000 && !(inb(COM1 + 5) & 0x20); spin++)
		;
	outb(COM1, (u8)c);
}

static void puts_(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			putc_raw('\r');
		putc_raw(*s);
	}
}

static void put_hex(u64 v)
{
	char buf[19];
	int n = 0;
	buf[n++] = '0';
	buf[n++] = 'x';
	int shift = 60;
	while (shift > 0 && ((v >> shift) & 0xf) == 0)
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		buf[n++] = "0123456789abcdef"[(v >> shift) & 0xf];
	buf[n] = 0;
	puts_(buf);
}

static void put_dec(u32 v)
{
	char buf[11];
	int n = 10;
	buf[n] = 0;
	do {
		buf[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	puts_(buf + n);
}

static void put_bytes_hex(const u8 *p, u32 n)
{
	char two[3] = { 0, 0, 0 };
	for (u32 i = 0; i < n; i++) {
		two[0] = "0123456789abcdef"[p[i] >> 4];
		two[1] = "0123456789abcdef"[p[i] & 0xf];
		puts_(two);
	}
}

static void put_quoted(const u8 *p, u32 n)
{
	char one[2] = { 0, 0 };
	putc_raw('"');
	for (u32 i = 0; i < n; i++) {
		u8 c = p[i];
		if (c == '"' || c == '\\') {
			putc_raw('\\');
			putc_raw((char)c);
		} else if (c >= 0x20 && c <= 0x7e) {
			one[0] = (char)c;
			puts_(one);
		} else {
			puts_("\\x");
			put_bytes_hex(&c, 1);
		}
	}
	putc_raw('"');
}

static void key_hex(const char *key, u64 v)
{
	puts_(key);
	puts_(": ");
	put_hex(v);
	puts_("\n");
}

static void key_dec(const char *key, u32 v)
{
	puts_(key);
	puts_(": ");
	put_dec(v);
	puts_("\n");
}

static void key_word(const char *key, const char *w)
{
	puts_(key);
	puts_(": ");
	puts_(w);
	puts_("\n");
}

/* "name.<i>: " */
static void key_index(const char *prefix, u32 i)
{
	puts_(prefix);
	put_dec(i);
	puts_(": ");
}

static void tok_hex(const char *name, u64 v)
{
	puts_(name);
	putc_raw('=');
	put_hex(v);
}

static __attribute__((noreturn)) void power_off(void)
{
	outb(0x501, 0x31);
	puts_("VKEXEC-PROBE-POWEROFF\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* ---- physical memory ---- */

/* A pointer to [addr, addr+len) or 0 when it cannot be addressed in this mode (paging off: 4 GiB). */
static const u8 *phys(u64 addr, u64 len)
{
	if (addr + len < addr)
		return 0;
#ifndef __x86_64__
	if (addr + len > 0x100000000ull)
		return 0;
#endif
	return (const u8 *)(uptr)addr;
}

static u16 rd16(const u8 *p) { return (u16)(p[0] | p[1] << 8); }
static u32 rd32(const u8 *p) { return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24; }
static u64 rd64(const u8 *p) { return (u64)rd32(p) | (u64)rd32(p + 4) << 32; }

/* Freestanding code may still get calls to these from the compiler. */
void *memset(void *d, int c, uptr n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, uptr n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

/* ---- SHA-256: the purgatory's implementation, compiled into this blob ---- */

#include "../purgatory/sha256.c"

/* ---- report sections ---- */

static void report_header(const u8 *bp)
{
	static const struct {
		char name[24];
		u16 off;
		u8 size;
	} fields[] = {
		{ "hdr.setup_sects", 0x1f1, 1 },    { "hdr.boot_flag", 0x1fe, 2 },
		{ "hdr.header", 0x202, 4 },         { "hdr.version", 0x206, 2 },
		{ "hdr.type_of_loader", 0x210, 1 }, { "hdr.ext_loader_ver", 0x226, 1 },
		{ "hdr.ext_loader_type", 0x227, 1 }, { "hdr.loadflags", 0x211, 1 },
		{ "hdr.code32_start", 0x214, 4 },   { "hdr.cmd_line_ptr", 0x228, 4 },
		{ "hdr.ramdisk_image", 0x218, 4 },  { "hdr.ramdisk_size", 0x21c, 4 },
		{ "hdr.heap_end_ptr", 0x224, 2 },   { "hdr.initrd_addr_max", 0x22c, 4 },
		{ "hdr.kernel_alignment", 0x230, 4 }, { "hdr.relocatable_kernel", 0x234, 1 },
		{ "hdr.min_alignment", 0x235, 1 },  { "hdr.xloadflags", 0x236, 2 },
		{ "hdr.cmdline_size", 0x238, 4 },   { "hdr.hardware_subarch", 0x23c, 4 },
		{ "hdr.payload_offset", 0x248, 4 }, { "hdr.payload_length", 0x24c, 4 },
		{ "hdr.setup_data", 0x250, 8 },     { "hdr.pref_address", 0x258, 8 },
		{ "hdr.init_size", 0x260, 4 },      { "hdr.kernel_info_offset", 0x268, 4 },
		{ "bp.ext_ramdisk_image", BP_EXT_RAMDISK_IMAGE, 4 },
		{ "bp.ext_ramdisk_size", BP_EXT_RAMDISK_SIZE, 4 },
		{ "bp.ext_cmd_line_ptr", BP_EXT_CMD_LINE_PTR, 4 },
		{ "bp.acpi_rsdp_addr", BP_ACPI_RSDP_ADDR, 8 },
		{ "bp.alt_mem_k", BP_ALT_MEM_K, 4 },
		{ "bp.sentinel", BP_SENTINEL, 1 },
	};
	for (unsigned i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const u8 *p = bp + fields[i].off;
		u64 v = fields[i].size == 1 ? p[0] : fields[i].size == 2 ? rd16(p) : fields[i].size == 4 ? rd32(p) : rd64(p);
		key_hex(fields[i].name, v);
	}
}

/* Returns the command line (its length in *len_out), or 0 when there is none or it cannot be read. */
static const u8 *report_cmdline(const u8 *bp, u32 *len_out)
{
	u64 addr = rd32(bp + 0x228) | (u64)rd32(bp + BP_EXT_CMD_LINE_PTR) << 32;
	key_hex("cmdline.addr", addr);
	if (!addr) {
		key_word("cmdline", "none");
		return 0;
	}
	const u8 *s = phys(addr, 1);
	if (!s) {
		key_word("cmdline", "unreachable");
		return 0;
	}
	u32 len = 0;
	int truncated = 0;
	for (;; len++) {
		if (len == CMDLINE_SCAN_MAX || !phys(addr + len, 1)) {
			truncated = 1;
			break;
		}
		if (s[len] == 0)
			break;
	}
	key_dec("cmdline.len", len);
	if (truncated)
		key_dec("cmdline.truncated", 1);
	puts_("cmdline: ");
	put_quoted(s, len);
	puts_("\n");
	*len_out = len;
	return s;
}

static void report_initrd(const u8 *bp)
{
	u64 addr = rd32(bp + 0x218) | (u64)rd32(bp + BP_EXT_RAMDISK_IMAGE) << 32;
	u64 size = rd32(bp + 0x21c) | (u64)rd32(bp + BP_EXT_RAMDISK_SIZE) << 32;
	key_hex("initrd.addr", addr);
	key_hex("initrd.size", size);
	if (!size) {
		key_word("initrd.sha256", "none");
		return;
	}
	const u8 *p = phys(addr, size);
	if (!p) {
		key_word("initrd.sha256", "unreachable");
		return;
	}
	struct sha256_ctx s;
	u8 digest[32];
	sha256_init(&s);
	sha256_update(&s, p, size);
	sha256_final(&s, digest);
	puts_("initrd.sha256: ");
	put_bytes_hex(digest, 32);
	puts_("\n");
}

static void report_e820(const u8 *bp)
{
	u32 n = bp[BP_E820_ENTRIES];
	key_dec("e820.count", n);
	if (n > BP_E820_MAX)
		n = BP_E820_MAX;
	for (u32 i = 0; i < n; i++) {
		const u8 *e = bp + BP_E820_TABLE + 20 * i;
		key_index("e820.", i);
		tok_hex("addr", rd64(e));
		putc_raw(' ');
		tok_hex("size", rd64(e + 8));
		putc_raw(' ');
		tok_hex("type", rd32(e + 16));
		puts_("\n");
	}
}

static void report_setup_data(const u8 *bp)
{
	u64 addr = rd64(bp + 0x250);
	u32 i = 0;
	for (; addr && i < SETUP_DATA_MAX; i++) {
		key_index("setup_data.", i);
		tok_hex("addr", addr);
		const u8 *node = phys(addr, 16);
		if (!node) {
			puts_(" unreachable\n");
			addr = 0;
			i++;
			break;
		}
		u32 type = rd32(node + 8), len = rd32(node + 12);
		putc_raw(' ');
		tok_hex("type", type);
		putc_raw(' ');
		tok_hex("len", len);
		const u8 *data = phys(addr + 16, len);
		if (!data) {
			puts_(" unreachable");
		} else if (type & SETUP_INDIRECT) {
			if (len >= 24) {
				puts_(" ");
				tok_hex("indirect_type", rd32(data));
				puts_(" ");
				tok_hex("indirect_len", rd64(data + 8));
				puts_(" ");
				tok_hex("indirect_addr", rd64(data + 16));
			}
		} else if (type != SETUP_RNG_SEED && len) {
			/* the RNG seed is a secret: only its length is reported */
			puts_(" data=");
			put_bytes_hex(data, len < 32 ? len : 32);
		}
		puts_("\n");
		addr = rd64(node);
	}
	key_dec("setup_data.count", i);
	if (addr)
		key_dec("setup_data.truncated", 1);
}

static int is_xdigit(u8 c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

/* lib/cmdline.c memparse: simple_strtoull base 0, then an optional K/M/G/T/P/E suffix. */
static u64 memparse(const u8 *s, const u8 *end, const u8 **after)
{
	u32 base = 10;
	u64 v = 0;
	if (s < end && *s == '0') {
		base = 8;
		if (s + 2 < end && (s[1] | 0x20) == 'x' && is_xdigit(s[2])) {
			base = 16;
			s += 2;
		}
	}
	for (; s < end; s++) {
		u32 d;
		u8 c = *s;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			break;
		if (d >= base)
			break;
		v = v * base + d;
	}
	if (s < end) {
		switch (*s | 0x20) {
		case 'e': v <<= 10; /* fallthrough */
		case 'p': v <<= 10; /* fallthrough */
		case 't': v <<= 10; /* fallthrough */
		case 'g': v <<= 10; /* fallthrough */
		case 'm': v <<= 10; /* fallthrough */
		case 'k': v <<= 10; s++; break;
		default: break;
		}
	}
	*after = s;
	return v;
}

static void report_elfcorehdr(const u8 *cmd, u32 len)
{
	static const char key[] = "elfcorehdr=";
	const u32 klen = sizeof key - 1;
	const u8 *arg = 0;
	/* Parameters are space separated; the last elfcorehdr= wins, as with Linux's early_param. */
	for (u32 i = 0; i + klen <= len; i++) {
		if (i && cmd[i - 1] != ' ')
			continue;
		u32 j = 0;
		while (j < klen && cmd[i + j] == (u8)key[j])
			j++;
		if (j == klen)
			arg = cmd + i + klen;
	}
	if (!arg)
		return;
	const u8 *end = cmd + len, *after;
	u64 addr = memparse(arg, end, &after), size = 0;
	int has_size = 0;
	if (after < end && *after == '@') {
		size = addr;
		has_size = 1;
		addr = memparse(after + 1, end, &after);
	}
	key_hex("elfcorehdr.addr", addr);
	if (has_size)
		key_hex("elfcorehdr.size", size);

	const u8 *eh = phys(addr, 64);
	if (!eh) {
		key_word("elfcorehdr.ehdr", "unreachable");
		return;
	}
	if (rd32(eh) != 0x464c457f || (eh[4] != 1 && eh[4] != 2) || eh[5] != 1) {
		key_word("elfcorehdr.ehdr", "bad-magic");
		return;
	}
	int is64 = eh[4] == 2;
	u64 phoff = is64 ? rd64(eh + 32) : rd32(eh + 28);
	u32 phentsize = rd16(eh + (is64 ? 54 : 42));
	u32 phnum = rd16(eh + (is64 ? 56 : 44));
	puts_("elfcorehdr.ehdr: class=");
	put_dec(is64 ? 64 : 32);
	puts_(" ");
	tok_hex("type", rd16(eh + 16));
	puts_(" ");
	tok_hex("machine", rd16(eh + 18));
	puts_(" ");
	tok_hex("phoff", phoff);
	puts_(" phnum=");
	put_dec(phnum);
	puts_("\n");
	if (phentsize < (is64 ? 56u : 32u))
		return;
	for (u32 i = 0; i < phnum && i < PHDR_MAX; i++) {
		const u8 *ph = phys(addr + phoff + (u64)i * phentsize, phentsize);
		if (!ph)
			continue;
		key_index("elfcorehdr.phdr.", i);
		tok_hex("type", rd32(ph));
		puts_(" ");
		if (is64) {
			tok_hex("offset", rd64(ph + 8));
			puts_(" ");
			tok_hex("vaddr", rd64(ph + 16));
			puts_(" ");
			tok_hex("paddr", rd64(ph + 24));
			puts_(" ");
			tok_hex("filesz", rd64(ph + 32));
			puts_(" ");
			tok_hex("memsz", rd64(ph + 40));
		} else {
			tok_hex("offset", rd32(ph + 4));
			puts_(" ");
			tok_hex("vaddr", rd32(ph + 8));
			puts_(" ");
			tok_hex("paddr", rd32(ph + 12));
			puts_(" ");
			tok_hex("filesz", rd32(ph + 16));
			puts_(" ");
			tok_hex("memsz", rd32(ph + 20));
		}
		puts_("\n");
	}
}

/* ---- multiboot (probe-multiboot, entered through multiboot.S: 32-bit only) ---- */

#ifndef __x86_64__

#define MB1_MAGIC 0x2badb002u
#define MB2_MAGIC 0x36d76289u
#define MB_MODS_MAX 32
#define MB_MMAP_MAX 128
#define MB_STRING_MAX 4096u

/* A NUL-terminated string at a physical address, quoted (scan capped at MB_STRING_MAX). */
static void key_cstring(const char *key, u64 addr)
{
	puts_(key);
	puts_(": ");
	const u8 *p = addr ? phys(addr, 1) : 0;
	if (!p) {
		puts_(addr ? "unreachable\n" : "none\n");
		return;
	}
	u32 n = 0;
	while (n < MB_STRING_MAX && phys(addr + n, 1) && p[n])
		n++;
	put_quoted(p, n);
	puts_("\n");
}

static void put_sha256(const u8 *p, u64 len)
{
	struct sha256_ctx s;
	u8 digest[32];
	sha256_init(&s);
	sha256_update(&s, p, len);
	sha256_final(&s, digest);
	put_bytes_hex(digest, 32);
}

/* multiboot.mod.<i>: start=0x.. end=0x.. sha256=<hex>|unreachable, then multiboot.mod.<i>.cmdline. */
static void report_mb_module(u32 i, u64 start, u64 end, u64 string)
{
	key_index("multiboot.mod.", i);
	tok_hex("start", start);
	puts_(" ");
	tok_hex("end", end);
	const u8 *p = end > start ? phys(start, end - start) : 0;
	puts_(p ? " sha256=" : end > start ? " unreachable" : " empty");
	if (p)
		put_sha256(p, end - start);
	puts_("\n");
	puts_("multiboot.mod.");
	put_dec(i);
	key_cstring(".cmdline", string);
}

static void report_mb_mmap(u32 i, u64 addr, u64 len, u32 type)
{
	key_index("multiboot.mmap.", i);
	tok_hex("addr", addr);
	puts_(" ");
	tok_hex("size", len);
	puts_(" ");
	tok_hex("type", type);
	puts_("\n");
}

/* Multiboot v1 (multiboot.h struct multiboot_info): flags, mem_*, cmdline, mods, mmap, boot_loader_name. */
static void report_multiboot1(u64 info)
{
	const u8 *mbi = phys(info, 88);
	if (!mbi)
		return;
	u32 flags = rd32(mbi);
	key_hex("multiboot.flags", flags);
	if (flags & 0x1) {
		key_hex("multiboot.mem_lower", rd32(mbi + 4));
		key_hex("multiboot.mem_upper", rd32(mbi + 8));
	}
	if (flags & 0x4)
		key_cstring("multiboot.cmdline", rd32(mbi + 16));
	if (flags & 0x200)
		key_cstring("multiboot.boot_loader_name", rd32(mbi + 64));
	if (flags & 0x8) {
		u32 count = rd32(mbi + 20), at = rd32(mbi + 24);
		key_dec("multiboot.mods.count", count);
		for (u32 i = 0; i < count && i < MB_MODS_MAX; i++) {
			const u8 *m = phys(at + 16 * i, 16);
			if (m)
				report_mb_module(i, rd32(m), rd32(m + 4), rd32(m + 8));
		}
	}
	if (flags & 0x40) {
		u32 len = rd32(mbi + 44), at = rd32(mbi + 48), off = 0, i = 0;
		/* Each entry: u32 size (not counting itself), u64 base, u64 length, u32 type. */
		while (off + 24 <= len && i < MB_MMAP_MAX) {
			const u8 *e = phys(at + off, 24);
			if (!e)
				break;
			report_mb_mmap(i++, rd64(e + 4), rd64(e + 12), rd32(e + 20));
			off += rd32(e) + 4;
		}
		key_dec("multiboot.mmap.count", i);
	}
}

/* Multiboot2 (multiboot2.h): total_size, then 8-aligned tags up to the end tag. */
static void report_multiboot2(u64 info)
{
	const u8 *h = phys(info, 8);
	if (!h)
		return;
	u32 total = rd32(h);
	key_hex("multiboot.total_size", total);
	const u8 *all = phys(info, total);
	if (!all || total < 8)
		return;
	u32 mods = 0, mmaps = 0;
	for (u32 off = 8; off + 8 <= total;) {
		u32 type = rd32(all + off), size = rd32(all + off + 4);
		if (type == 0 || size < 8 || size > total - off)
			break;
		const u8 *t = all + off;
		if (type == 1)
			key_cstring("multiboot.cmdline", info + off + 8);
		else if (type == 2)
			key_cstring("multiboot.boot_loader_name", info + off + 8);
		else if (type == 3 && size >= 16 && mods < MB_MODS_MAX)
			report_mb_module(mods++, rd32(t + 8), rd32(t + 12), info + off + 16);
		else if (type == 4 && size >= 16) {
			key_hex("multiboot.mem_lower", rd32(t + 8));
			key_hex("multiboot.mem_upper", rd32(t + 12));
		} else if (type == 6 && size >= 16) {
			u32 esz = rd32(t + 8);
			for (u32 e = 16; esz >= 24 && e + 24 <= size && mmaps < MB_MMAP_MAX; e += esz)
				report_mb_mmap(mmaps++, rd64(t + e), rd64(t + e + 8), rd32(t + e + 16));
		}
		off += (size + 7) & ~7u;
	}
	if (mods)
		key_dec("multiboot.mods.count", mods);
	key_dec("multiboot.mmap.count", mmaps);
}
#endif

/* kexec-tools --args-elf: RDI = Elf_Bhdr {signature 0x0E1FB007, size, checksum, records} + notes. */
static void report_bootnotes(u64 addr)
{
	const u8 *h = phys(addr, 12);
	if (!h || rd32(h) != 0x0e1fb007)
		return;
	u32 size = rd32(h + 4), records = rd16(h + 10);
	const u8 *all = phys(addr, size);
	if (!all || size < 12)
		return;
	key_hex("bootnotes.addr", addr);
	key_hex("bootnotes.size", size);
	key_dec("bootnotes.records", records);
	u32 off = 12;
	for (u32 r = 0; r < records && off + 12 <= size; r++) {
		u32 namesz = rd32(all + off), descsz = rd32(all + off + 4), type = rd32(all + off + 8);
		u32 desc = off + 12 + ((namesz + 3) & ~3u);
		if (desc > size || descsz > size - desc)
			break;
		u32 n = descsz;
		while (n && all[desc + n - 1] == 0) /* the strings carry their NUL */
			n--;
		const char *k = type == 2 ? "bootnotes.bootloader: " : type == 3 ? "bootnotes.bootloader_version: "
						 : type == 4 ? "bootnotes.cmdline: " : 0;
		if (namesz == 0 && k) {
			puts_(k);
			put_quoted(all + desc, n);
			puts_("\n");
		}
		off = desc + ((descsz + 3) & ~3u);
	}
}

__attribute__((section(".text.entry"), used, noreturn)) void probe_entry(const struct entry_regs *r)
{
	uart_init();
	puts_("\nVKEXEC-PROBE-BEGIN\n");
	key_dec("probe", 1);
	key_dec("entry", r->mode);
	key_hex("load_addr", r->load_addr);
	key_hex("boot_params", r->boot_params);
	if (r->mode == 64)
		key_hex("rdi", r->rdi);
#ifndef __x86_64__
	if (r->mb_magic == MB1_MAGIC || r->mb_magic == MB2_MAGIC) {
		key_hex("multiboot.magic", r->mb_magic);
		key_hex("multiboot.info", r->mb_info);
		if (r->mb_magic == MB1_MAGIC)
			report_multiboot1(r->mb_info);
		else
			report_multiboot2(r->mb_info);
	}
#endif

	const u8 *bp = r->boot_params ? phys(r->boot_params, BP_SIZE) : 0;
	if (!r->boot_params && r->mode == 64 && r->rdi)
		report_bootnotes(r->rdi);
	if (bp) {
		u32 cmdlen = 0;
		report_header(bp);
		const u8 *cmd = report_cmdline(bp, &cmdlen);
		report_initrd(bp);
		report_e820(bp);
		report_setup_data(bp);
		if (cmd)
			report_elfcorehdr(cmd, cmdlen);
	}
	puts_("VKEXEC-PROBE-END\n");
	power_off();
}
