/*
 * LD_PRELOAD shim for the differential test (test/differential/kexec-tools.test.ts): the real kexec binary
 * calls kexec_load through glibc's syscall(2) (its dynamic symbols have no kexec_load wrapper: check with
 * `nm -D sbin/kexec`). This shim catches that call, writes what the kernel would have received to the file
 * named by $VKEXEC_SHIM_OUT and returns success without entering the kernel. kexec_file_load is refused with
 * ENOSYS (the -c path never makes it), reboot(2) is refused with EPERM (nothing here may reboot the host), and
 * getrandom(2) answers a fixed byte pattern so that a seed the loader asks for is reproducible. When
 * $VKEXEC_SHIM_MACHINE is set, uname(2) reports it as the machine (Debian's i386 kexec on an x86_64 host
 * would otherwise see "x86_64" and load for KEXEC_ARCH_X86_64, where an i386 machine says "i686").
 *
 * Built for x86_64 and for i386 (gcc -m32): the build host has no 32-bit libc headers, so this file includes
 * none; it declares the few glibc functions it calls itself (they resolve against the real libc at run time).
 *
 * Dump format, all integers little-endian u64: "VKXSHIM1" magic, entry, flags, nr_segments, then per segment
 * mem, memsz, bufsz followed by bufsz bytes.
 */
#include <stdarg.h>
#include <stdint.h>

typedef __SIZE_TYPE__ size_t;
typedef long ssize_t;
typedef struct shim_file FILE;

extern char *getenv(const char *name);
extern FILE *fopen(const char *path, const char *mode);
extern size_t fwrite(const void *p, size_t size, size_t n, FILE *f);
extern int fclose(FILE *f);
extern int fprintf(FILE *f, const char *fmt, ...);
extern FILE *stderr;
extern char *strerror(int e);
extern char *strncpy(char *d, const char *s, size_t n);
extern int *__errno_location(void);
extern void *dlsym(void *handle, const char *name);
#define RTLD_NEXT ((void *)-1l)
#define errno (*__errno_location())
#define EPERM 1
#define EIO 5
#define EINVAL 22
#define ENOSYS 38

/* Syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl, syscall_32.tbl); i386 has no kexec_file_load. */
#ifdef __x86_64__
#define NR_KEXEC_LOAD 246
#define NR_KEXEC_FILE_LOAD 320
#define NR_REBOOT 169
#else
#define NR_KEXEC_LOAD 283
#define NR_KEXEC_FILE_LOAD (-1)
#define NR_REBOOT 88
#endif

/* struct kexec_segment (include/uapi/linux/kexec.h). */
struct shim_segment {
	const void *buf;
	size_t bufsz;
	const void *mem;
	size_t memsz;
};

/* struct utsname (glibc: six fields of _UTSNAME_LENGTH 65). */
struct shim_utsname {
	char sysname[65], nodename[65], release[65], version[65], machine[65], domainname[65];
};

static int put_u64(FILE *f, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return fwrite(b, 1, 8, f) == 8 ? 0 : -1;
}

static long dump_kexec_load(unsigned long entry, unsigned long nr, const struct shim_segment *segs, unsigned long flags)
{
	const char *out = getenv("VKEXEC_SHIM_OUT");
	FILE *f;
	int bad = 0;

	if (!out) {
		fprintf(stderr, "kexec-shim: VKEXEC_SHIM_OUT is not set\n");
		errno = EINVAL;
		return -1;
	}
	f = fopen(out, "wb");
	if (!f) {
		fprintf(stderr, "kexec-shim: cannot open %s: %s\n", out, strerror(errno));
		errno = EIO;
		return -1;
	}
	bad |= fwrite("VKXSHIM1", 1, 8, f) != 8;
	bad |= put_u64(f, entry) | put_u64(f, flags) | put_u64(f, nr);
	for (unsigned long i = 0; i < nr; i++) {
		bad |= put_u64(f, (uintptr_t)segs[i].mem) | put_u64(f, segs[i].memsz) | put_u64(f, segs[i].bufsz);
		if (segs[i].bufsz)
			bad |= fwrite(segs[i].buf, 1, segs[i].bufsz, f) != segs[i].bufsz;
	}
	bad |= fclose(f) != 0;
	if (bad) {
		fprintf(stderr, "kexec-shim: writing %s failed\n", out);
		errno = EIO;
		return -1;
	}
	return 0;
}

long syscall(long nr, ...)
{
	static long (*real)(long, ...);
	va_list ap;
	long a[6];

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);

	if (nr == NR_KEXEC_LOAD)
		return dump_kexec_load((unsigned long)a[0], (unsigned long)a[1], (const struct shim_segment *)a[2], (unsigned long)a[3]);
	if (nr == NR_KEXEC_FILE_LOAD || nr == NR_REBOOT) {
		errno = nr == NR_REBOOT ? EPERM : ENOSYS;
		return -1;
	}
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int reboot(int how)
{
	(void)how;
	errno = EPERM;
	return -1;
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	(void)flags;
	for (size_t i = 0; i < len; i++)
		((unsigned char *)buf)[i] = (unsigned char)(0xa5 ^ i);
	return (ssize_t)len;
}

int uname(struct shim_utsname *u)
{
	static int (*real)(struct shim_utsname *);
	const char *machine = getenv("VKEXEC_SHIM_MACHINE");
	int r;

	if (!real)
		real = (int (*)(struct shim_utsname *))dlsym(RTLD_NEXT, "uname");
	r = real(u);
	if (r == 0 && machine) {
		strncpy(u->machine, machine, sizeof(u->machine) - 1);
		u->machine[sizeof(u->machine) - 1] = 0;
	}
	return r;
}
