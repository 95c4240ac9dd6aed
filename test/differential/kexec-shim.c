/*
 * LD_PRELOAD shim for the differential test (test/differential/kexec-tools.test.ts): the real kexec binary
 * calls kexec_load through glibc's syscall(2) (its dynamic symbols have no kexec_load wrapper: check with
 * `nm -D sbin/kexec`). This shim catches that call, writes what the kernel would have received to the file
 * named by $VKEXEC_SHIM_OUT and returns success without entering the kernel. kexec_file_load is refused with
 * ENOSYS (the -c path never makes it), reboot(2) is refused with EPERM (nothing here may reboot the host), and
 * getrandom(2) answers a fixed byte pattern so that a seed the loader asks for is reproducible.
 *
 * Dump format, all integers little-endian u64: "VKXSHIM1" magic, entry, flags, nr_segments, then per segment
 * mem, memsz, bufsz followed by bufsz bytes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>

/* struct kexec_segment (include/uapi/linux/kexec.h). */
struct shim_segment {
	const void *buf;
	size_t bufsz;
	const void *mem;
	size_t memsz;
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

	if (nr == SYS_kexec_load)
		return dump_kexec_load((unsigned long)a[0], (unsigned long)a[1], (const struct shim_segment *)a[2], (unsigned long)a[3]);
	if (nr == SYS_kexec_file_load || nr == SYS_reboot) {
		errno = nr == SYS_reboot ? EPERM : ENOSYS;
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
