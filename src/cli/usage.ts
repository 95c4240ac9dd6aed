// kexec-tools' usage() text, with the loaders vkexec implements and vkexec's own options after it.

import { KEXEC_TOOLS_VERSION as BOOTLOADER_VERSION } from '../kexec/version.js';

export const VKEXEC_VERSION = '0.1.0';

/** First line exactly as kexec-tools prints it, so scripts that parse `kexec -v` keep working. */
export function versionText(): string {
  return `kexec-tools ${BOOTLOADER_VERSION}\nvkexec ${VKEXEC_VERSION} (kexec into an emulated x86 machine)`;
}

export function usage(): string {
  return `kexec-tools ${BOOTLOADER_VERSION}
Usage: vkexec [OPTION]... [kernel]
       vkexec machine|boot|inspect|probe-kernel|vmcore|kdump-size ... (see vkexec help COMMAND)
Directly reboot into a new kernel (on vkexec's emulated machine)

 -h, --help           Print this help.
 -v, --version        Print the version of kexec.
 -f, --force          Force an immediate kexec,
                      don't call shutdown.
 -i, --no-checks      Fast reboot, no memory integrity checks.
 -x, --no-ifdown      Don't bring down network interfaces.
 -y, --no-sync        Don't sync filesystems before kexec.
 -l, --load           Load the new kernel into the
                      current kernel.
 -p, --load-panic     Load the new kernel for use on panic.
 -u, --unload         Unload the current kexec target kernel.
                      If capture kernel is being unloaded
                      specify -p with -u.
 -e, --exec           Execute a currently loaded kernel.
 -t, --type=TYPE      Specify the new kernel is of this type.
     --mem-min=<addr> Specify the lowest memory address to
                      load code into.
     --mem-max=<addr> Specify the highest memory address to
                      load code into.
     --print-ckr-size Print crash kernel region size.
     --load-preserve-context Load the new kernel and preserve
                      context of current kernel during kexec.
     --entry=<addr>   Specify jump back address.
 -s, --kexec-file-syscall Use file based syscall for kexec operation
 -c, --kexec-syscall  Use the kexec_load syscall for for compatibility
                      with systems that don't support -s
 -a, --kexec-syscall-auto  Use file based syscall for kexec and fall
                      back to the compatibility syscall when file based
                      syscall is not supported or the kernel did not
                      understand the image (default)
 -d, --debug          Enable debugging to help spot a failure.
 -S, --status         Return 1 if the type (by default crash) is loaded,
                      0 if not.

Supported kernel file types and options: 
elf-x86_64
elf-x86
    --command-line=STRING Set the kernel command line to STRING
    --append=STRING       Set the kernel command line to STRING
    --reuse-cmdline       Use kernel command line from running system.
    --initrd=FILE         Use FILE as the kernel's initial ramdisk.
    --ramdisk=FILE        Use FILE as the kernel's initial ramdisk.
    --args-linux          Pass linux kernel style options
    --args-elf            Pass elf boot notes
    --args-none           Jump directly from the kernel
bzImage64
bzImage
    --command-line=STRING Set the kernel command line to STRING
    --append=STRING       Set the kernel command line to STRING
    --reuse-cmdline       Use kernel command line from running system.
    --initrd=FILE         Use FILE as the kernel's initial ramdisk.
    --ramdisk=FILE        Use FILE as the kernel's initial ramdisk.
    --entry-32bit         Use the kernels 32bit entry point.
Architecture options: 
     --reset-vga               Attempt to reset a standard vga device
     --serial=<port>           Specify the serial port for debug output
     --serial-baud=<baud_rate> Specify the serial port baud rate
     --console-vga             Enable the vga console
     --console-serial          Enable the serial console
     --elf32-core-headers      Prepare core headers in ELF32 format
     --elf64-core-headers      Prepare core headers in ELF64 format
     --pass-memmap-cmdline     Pass memory map via command line in kexec on panic case
     --noefi                   Disable efi support

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
