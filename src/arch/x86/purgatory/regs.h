/* Layouts of the register blocks the assembler entries load before jumping to the image.
 * entry64_regs follows Linux's struct kexec_entry64_regs (arch/x86/include/asm/kexec.h), which the
 * kernel's bzImage64 loader writes through kexec_purgatory_get_set_symbol; kexec-tools' own
 * struct entry64_regs orders the first eight differently (rax rbx rcx rdx rsi rdi rsp rbp), which is why
 * vkexec sets the fields by name. entry32_regs follows kexec-tools' struct entry32_regs
 * (kexec/arch/i386/kexec-x86.h). Shared by C and assembler: plain #defines only. */
#ifndef VKEXEC_REGS_H
#define VKEXEC_REGS_H

#define ENTRY64_RAX 0
#define ENTRY64_RCX 8
#define ENTRY64_RDX 16
#define ENTRY64_RBX 24
#define ENTRY64_RSP 32
#define ENTRY64_RBP 40
#define ENTRY64_RSI 48
#define ENTRY64_RDI 56
#define ENTRY64_R8 64
#define ENTRY64_R9 72
#define ENTRY64_R10 80
#define ENTRY64_R11 88
#define ENTRY64_R12 96
#define ENTRY64_R13 104
#define ENTRY64_R14 112
#define ENTRY64_R15 120
#define ENTRY64_RIP 128
#define ENTRY64_SIZE 136

#define ENTRY32_EAX 0
#define ENTRY32_EBX 4
#define ENTRY32_ECX 8
#define ENTRY32_EDX 12
#define ENTRY32_ESI 16
#define ENTRY32_EDI 20
#define ENTRY32_ESP 24
#define ENTRY32_EBP 28
#define ENTRY32_EIP 32
#define ENTRY32_SIZE 36

/* Selectors of the purgatory's GDTs; 0x10/0x18 are Linux's __BOOT_CS/__BOOT_DS
 * (Documentation/arch/x86/boot.rst, 32-bit and 64-bit boot protocols). */
#define SEL_CODE32_COMPAT 0x08 /* gdt64 only: used while leaving long mode */
#define SEL_CODE 0x10
#define SEL_DATA 0x18

#endif
