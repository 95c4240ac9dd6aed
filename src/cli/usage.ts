// The kexec command line's help and version texts.

import { KEXEC_TOOLS_VERSION as BOOTLOADER_VERSION } from '../kexec/version.js';

export const VKEXEC_VERSION = '0.1.0';

/** First line exactly as kexec-tools prints it, so scripts that parse `kexec -v` keep working. */
export function versionText(): string {
  return `kexec-tools ${BOOTLOADER_VERSION}\nvkexec ${VKEXEC_VERSION} (kexec into an emulated x86 machine)`;
}

/** multiboot_x86_usage and multiboot2_x86_usage (identical), under both names, first in the x86_64 probe order. */
const MULTIBOOT_USAGE = `multiboot2-x86
multiboot-x86
    --command-line=STRING        Set the kernel command line to STRING.
    --reuse-cmdline              Use kernel command line from running system.
    --module="MOD arg1 arg2..."  Load module MOD with command-line "arg1..."
                                 (can be used multiple times).
`;

/**
 * `vkexec -h`: kexec's options in kexec-tools' order and grouping (generic, per file type, architecture), in
 * vkexec's own words, then vkexec's additions. The first line is kexec-tools' version line, as `kexec -h` starts.
 */
export function usage(): string {
  return `kexec-tools ${BOOTLOADER_VERSION}
Usage: vkexec [OPTION]... [kernel]
       vkexec machine|boot|inspect|probe-kernel|vmcore|kdump-size|check ... (see vkexec help COMMAND)
Load a kernel into vkexec's emulated machine and boot it, as kexec does on a real one.

 -h, --help           Show this text and exit.
 -v, --version        Show the version and exit.
 -f, --force          Load and execute at once (there is no shutdown to skip).
 -i, --no-checks      The purgatory skips its sha256 check of the segments.
 -x, --no-ifdown      Accepted for compatibility; the machine has no network.
 -y, --no-sync        Accepted for compatibility; nothing to sync.
 -l, --load           Load the kernel as the image -e will run.
 -p, --load-panic     Load the kernel as the crash (capture) kernel.
 -u, --unload         Unload the loaded kernel; with -p, the crash kernel.
 -e, --exec           Execute the loaded kernel on an engine.
 -t, --type=TYPE      Treat the kernel file as TYPE (a file type below).
     --mem-min=<addr> Place no segment below ADDR.
     --mem-max=<addr> Place no segment above ADDR.
     --print-ckr-size Print the size of the crash kernel region in bytes.
     --load-preserve-context
                      Load for a jump back (kexec jump); needs --mem-max.
     --entry=<addr>   Start at ADDR instead of the image's entry.
 -s, --kexec-file-syscall
                      Load with kexec_file_load only.
 -c, --kexec-syscall  Load with kexec_load only (kexec-tools lays out the segments).
 -a, --kexec-syscall-auto
                      kexec_file_load first, kexec_load when the kernel side does
                      not support it or not this image (default).
 -d, --debug          Print kexec-tools' debug output and the segment list.
 -S, --status         Exit 1 if loaded, 0 if not: the crash kernel unless -l is
                      given.

Supported kernel file types and options:
${MULTIBOOT_USAGE}elf-x86_64
elf-x86
    --command-line=STRING The new kernel's command line.
    --append=STRING       Same as --command-line.
    --reuse-cmdline       Start from the machine's /proc/cmdline.
    --initrd=FILE         The initial ramdisk.
    --ramdisk=FILE        Same as --initrd.
    --args-linux          Hand over a boot_params page (Linux boot protocol).
    --args-elf            Hand over ELF boot notes (default).
    --args-none           Jump to the entry with nothing handed over.
bzImage64
bzImage
    --command-line=STRING The new kernel's command line.
    --append=STRING       Same as --command-line.
    --reuse-cmdline       Start from the machine's /proc/cmdline.
    --initrd=FILE         The initial ramdisk.
    --ramdisk=FILE        Same as --initrd.
    --entry-32bit         Enter at the 32-bit entry point.
Architecture options:
     --reset-vga               Purgatory: reset the VGA device.
     --serial=<port>           Purgatory: debug output on ttyS0, ttyS1 or a port.
     --serial-baud=<baud_rate> Purgatory: the serial port's baud rate.
     --console-vga             Purgatory: print on the VGA console.
     --console-serial          Purgatory: print on the serial port.
     --elf32-core-headers      kdump: write an ELF32 core header.
     --elf64-core-headers      kdump: write an ELF64 core header.
     --pass-memmap-cmdline     kdump: also pass the memory map as memmap=.
     --noefi                   Hand over no EFI information.

vkexec options:
     --machine=DIR        The machine to act on (default $VKEXEC_MACHINE, else
                          $XDG_STATE_HOME/vkexec/default, created on first use).
     --json               Machine-readable output for load and status.
     --fast               bzImage64 via kexec_load: decompress the kernel here and
                          enter its vmlinux directly (no KASLR; see vkexec(8)).
     --engine=ENGINE      auto|qemu|v86|verify: what executes -e/-f (default auto).
     --console=FILE       Copy the guest console to FILE.
     --expect=REGEX       Succeed at the first console line matching REGEX.
     --timeout=SEC        Give up after SEC seconds (exit 124).
     --accel=ACCEL        auto|kvm|tcg for the qemu engine.
     --disk=FILE          Attach a raw disk image to the guest (repeatable).
`;
}
