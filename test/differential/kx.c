/* kx: calls kexec_file_load(2) and kexec_load(2) directly for the real-kernel differential test
 * (test/differential/linux-kexec.test.ts). Built with `gcc -static` at test time and run inside a Debian
 * kernel's initramfs. Prints one parsable line per call:
 *   VKX-RESULT <name> rc=<rc> errno=<n>
 * Usage:
 *   kx <name> file <kernel> <initrd|-> <cmdline|-> <flags>     kexec_file_load (cmdline_len counts the NUL)
 *   kx <name> load <flags> <mem> <memsz>                       kexec_load of one zero-filled segment at mem
 *   kx <name> load-unload <flags>                              kexec_load with nr_segments 0 (unload) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct kexec_segment { const void *buf; size_t bufsz; unsigned long mem; size_t memsz; };

static int result(const char *name, long rc) {
  int e = rc < 0 ? errno : 0;
  printf("VKX-RESULT %s rc=%ld errno=%d\n", name, rc, e);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "kx: usage: see kx.c\n"); return 2; }
  const char *name = argv[1], *op = argv[2];
  if (!strcmp(op, "file") && argc == 7) {
    int kfd = open(argv[3], O_RDONLY);
    int ifd = strcmp(argv[4], "-") ? open(argv[4], O_RDONLY) : -1;
    const char *cmd = strcmp(argv[5], "-") ? argv[5] : NULL;
    unsigned long flags = strtoul(argv[6], NULL, 0);
    if (kfd < 0 || (strcmp(argv[4], "-") && ifd < 0)) { perror("kx: open"); return 2; }
    long rc = syscall(SYS_kexec_file_load, kfd, ifd, cmd ? strlen(cmd) + 1 : 0, cmd, flags);
    return result(name, rc);
  }
  if (!strcmp(op, "load") && argc == 6) {
    unsigned long flags = strtoul(argv[3], NULL, 0);
    unsigned long mem = strtoul(argv[4], NULL, 0), memsz = strtoul(argv[5], NULL, 0);
    static char page[4096];
    struct kexec_segment seg = { page, sizeof page, mem, memsz };
    long rc = syscall(SYS_kexec_load, mem, 1UL, &seg, flags);
    return result(name, rc);
  }
  if (!strcmp(op, "load-unload") && argc == 4) {
    long rc = syscall(SYS_kexec_load, 0UL, 0UL, NULL, strtoul(argv[3], NULL, 0));
    return result(name, rc);
  }
  fprintf(stderr, "kx: bad arguments\n");
  return 2;
}
