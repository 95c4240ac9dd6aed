/* kx: calls kexec_file_load(2) and kexec_load(2) directly for the real-kernel differential test
 * (test/differential/linux-kexec.test.ts). Built with `gcc -static` at test time and run inside a Debian
 * kernel's initramfs. Prints one parsable line per call:
 *   VKX-RESULT <name> rc=<rc> errno=<n>
 * Usage:
 *   kx <name> file <kernel> <initrd|-> <cmdline|-> <flags>     kexec_file_load (cmdline_len counts the NUL)
 *   kx <name> load <flags> <mem> <memsz>                       kexec_load of one zero-filled segment at mem
 *   kx <name> load-unload <flags>                              kexec_load with nr_segments 0 (unload)
 *   kx vmcore <file>                                           in a capture kernel: /proc/vmcore's ELF64 header
 *   kx crng                                                    "VKX-VIEW crng ready|not-ready" (getrandom
 *                                                              GRND_NONBLOCK: EAGAIN until crng is ready)
 *   kx drain                                                   tcdrain(2) of stdout: returns once the serial
 *                                                              console has sent every byte written to it (a
 *                                                              panic or poweroff drops the tty's buffer)
 *   kx panic-on <cpu>                                          moves to CPU <cpu> (sched_setaffinity), then
 *                                                              writes "c" to /proc/sysrq-trigger: the panic
 *                                                              (and so the capture kernel) starts on that CPU
 * The vmcore op prints "VKX-PHDR type=.. offset=.. vaddr=.. paddr=.. filesz=.. memsz=.." per program header,
 * "VKX-NOTE name=.. type=.. descsz=.." per note of the PT_NOTE segments, and "VKX-VMCOREINFO <line>" per
 * line of the VMCOREINFO note's text. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <elf.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

struct kexec_segment { const void *buf; size_t bufsz; unsigned long mem; size_t memsz; };

static int result(const char *name, long rc) {
  int e = rc < 0 ? errno : 0;
  printf("VKX-RESULT %s rc=%ld errno=%d\n", name, rc, e);
  fflush(stdout);
  return 0;
}

static int vmcore(const char *file) {
  int fd = open(file, O_RDONLY);
  Elf64_Ehdr eh;
  if (fd < 0 || pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh) { perror("kx: vmcore"); return 2; }
  if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64) { fprintf(stderr, "kx: %s: not ELF64\n", file); return 2; }
  printf("VKX-EHDR type=%u machine=%u phnum=%u\n", eh.e_type, eh.e_machine, eh.e_phnum);
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    if (pread(fd, &ph, sizeof ph, eh.e_phoff + i * sizeof ph) != (ssize_t)sizeof ph) { perror("kx: phdr"); return 2; }
    printf("VKX-PHDR type=%u offset=0x%lx vaddr=0x%lx paddr=0x%lx filesz=0x%lx memsz=0x%lx\n", ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz);
    if (ph.p_type != PT_NOTE || ph.p_filesz > (1 << 20)) continue;
    char *n = malloc(ph.p_filesz + 1);
    if (!n || pread(fd, n, ph.p_filesz, ph.p_offset) != (ssize_t)ph.p_filesz) { perror("kx: notes"); return 2; }
    for (size_t at = 0; at + sizeof(Elf64_Nhdr) <= ph.p_filesz;) {
      Elf64_Nhdr *nh = (Elf64_Nhdr *)(n + at);
      size_t name = at + sizeof *nh, desc = name + ((nh->n_namesz + 3) & ~3u), next = desc + ((nh->n_descsz + 3) & ~3u);
      if (nh->n_namesz == 0 || next > ph.p_filesz) break;
      printf("VKX-NOTE name=%.*s type=%u descsz=%u\n", (int)nh->n_namesz - 1, n + name, nh->n_type, nh->n_descsz);
      if (!strncmp(n + name, "VMCOREINFO", nh->n_namesz)) {
        char *t = n + desc, *end = t + nh->n_descsz;
        while (t < end) {
          char *nl = memchr(t, '\n', end - t);
          int len = nl ? nl - t : end - t;
          if (len > 0) printf("VKX-VMCOREINFO %.*s\n", len, t);
          t += len + 1;
        }
      }
      at = next;
    }
    free(n);
  }
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "vmcore")) return vmcore(argv[2]);
  if (argc == 2 && !strcmp(argv[1], "crng")) {
    char b;
    long r = getrandom(&b, 1, GRND_NONBLOCK);
    printf("VKX-VIEW crng %s\n", r == 1 ? "ready" : errno == EAGAIN ? "not-ready" : "unknown");
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "drain")) return tcdrain(STDOUT_FILENO) ? (perror("kx: tcdrain"), 2) : 0;
  if (argc == 3 && !strcmp(argv[1], "panic-on")) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(atoi(argv[2]), &set);
    if (sched_setaffinity(0, sizeof set, &set)) { perror("kx: sched_setaffinity"); return 2; }
    int fd = open("/proc/sysrq-trigger", O_WRONLY);
    if (fd < 0 || write(fd, "c", 1) != 1) { perror("kx: sysrq-trigger"); return 2; }
    return 0; /* not reached: the kernel panicked */
  }
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
