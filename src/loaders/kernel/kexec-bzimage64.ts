// The kernel's bzImage64 kexec_file_ops (arch/x86/kernel/kexec-bzimage64.c): probe with its messages, then
// segments in the kernel's order: [crash: elfcorehdr] -> purgatory -> boot_params + command line + setup_data
// room -> kernel (top-down above max(1 MiB, pref_address), aligned to kernel_alignment, memsz init_size) ->
// initrd (top-down above 16 MiB). Entry through entry64_regs: rbx 0, rsi boot_params, rip kernel + 0x200.

import { randomBytes } from 'node:crypto';
import { KexecError } from '../../errno.js';
import { SetupHeader, HDRS_MAGIC, BOOT_FLAG, LOADED_HIGH, XLF_KERNEL_64, XLF_CAN_BE_LOADED_ABOVE_4G, SETUP_HEADER } from '../../formats/setup-header.js';
import { readField, writeField } from '../../formats/struct.js';
import { getEntry64Regs, setEntry64Regs } from '../../arch/x86/purgatory-symbols.js';
import { BOOT_PARAMS_SIZE, E820_MAX, SETUP_DATA_HEADER, SETUP_RNG_SEED, setBp, setupDataNode, writeE820 } from '../../arch/x86/boot-params.js';
import { verifyPefileSignature } from '../../sig/verify-pefile.js';
import type { FileKimage } from '../../vm/kernel/file-kimage.js';
import { E820_TYPES, machineMemmap } from '../../vm/machine/views.js';
import { crngReady } from '../../vm/machine/kernel-release.js';
import { alignUp } from '../../lib/align.js';
import { hex } from '../../lib/hex.js';
import type { KexecFileOps, FileLoadInput, SigAccepted, SigCheckContext } from '../../vm/kernel/kexec-file-ops.js';
import { crashLoadSegments, crashSetupMemmapEntries } from '../../vm/kernel/crash.js';

const MIN_PURGATORY_ADDR = 0x3000n;
const MIN_BOOTPARAM_ADDR = 0x3000n;
const MIN_KERNEL_LOAD_ADDR = 0x100000n;
const MIN_INITRD_LOAD_ADDR = 0x1000000n;
/** MAX_ELFCOREHDR_STR_LEN: room for "elfcorehdr=0x<16 hex digits> ". */
const MAX_ELFCOREHDR_STR_LEN = 30;
const RNG_SEED_LENGTH = 32;
/** sizeof(struct efi_setup_data). */
const EFI_SETUP_DATA_SIZE = 96;
/** pr_fmt of arch/x86/kernel/kexec-bzimage64.c. */
const PR_FMT = 'kexec-bzImage64';
const ULONG_MAX = (1n << 64n) - 1n;
const enoexec = (msg: string) => new KexecError('ENOEXEC', 'bzImage64_probe', msg, { hint: 'kexec_file_load on x86_64 takes only relocatable 64-bit bzImages (use -c for other formats)' });

/** bzImage64_probe: ENOEXEC with the kernel's message for anything it will not load. */
function bzImage64ProbeKernel(kernel: Uint8Array): KexecError | null {
  if (kernel.length < 1024) return enoexec('File is too short to be a bzImage');
  const h = new SetupHeader(kernel);
  if (h.num('header') !== HDRS_MAGIC) return enoexec('Not a bzImage');
  if (h.num('boot_flag') !== BOOT_FLAG) return enoexec('No x86 boot sector present');
  if (h.num('version') < 0x020c) return enoexec('Must be at least protocol version 2.12');
  if ((h.num('loadflags') & LOADED_HIGH) === 0) return enoexec('zImage not a bzImage');
  const x = h.num('xloadflags');
  if ((x & XLF_KERNEL_64) === 0) return enoexec('Not a bzImage64. XLF_KERNEL_64 is not set.');
  if ((x & XLF_CAN_BE_LOADED_ABOVE_4G) === 0) return enoexec('XLF_CAN_BE_LOADED_ABOVE_4G is not set.');
  return null;
}

/** setup_e820_entries / crash_setup_memmap_entries, then ext_mem_k/alt_mem_k from the RAM entry spanning 1 MiB. */
function setupE820(image: FileKimage, params: Uint8Array): void {
  // setup_e820_entries copies e820_table_kexec, the firmware's table from before trim_bios_range reserved page 0
  // (arch/x86/kernel/setup.c): /sys/firmware/memmap's entries (Debian 6.12 in QEMU logs page 0 as RAM).
  const e820 = image.type === 'crash' ? crashSetupMemmapEntries(image) : machineMemmap(image.config).map((e) => ({ addr: e.start, size: e.end - e.start + 1n, type: E820_TYPES[e.type] ?? 2 }));
  // Entries past E820_MAX_ENTRIES_ZEROPAGE are dropped, as the kernel does (no SETUP_E820_EXT on this path).
  writeE820(params, e820.slice(0, E820_MAX));
  // setup_e820_entries / crash_setup_memmap_entries (6.8+): kexec_dprintk of the table handed over.
  image.dprintkNew('E820 memmap:', PR_FMT);
  for (const e of e820.slice(0, E820_MAX)) image.dprintkNew(`${e.addr.toString(16).padStart(16, '0')}-${(e.addr + e.size - 1n).toString(16).padStart(16, '0')} (${e.type})`, PR_FMT);
  for (const e of e820.slice(0, E820_MAX)) {
    if (e.type !== 1) continue;
    const end = e.addr + e.size - 1n;
    if (e.addr <= 0x100000n && end > 0x100000n) {
      const memK = (end >> 10n) - (0x100000n >> 10n);
      setBp(params, 'ext_mem_k', memK > 0xfc00n ? 0xfc00 : Number(memK));
      setBp(params, 'alt_mem_k', memK > 0xffffffffn ? 0xffffffff : Number(memK));
    }
  }
}

/** bzImage64_load: elfcorehdr, purgatory, boot_params, kernel, initrd, entry registers, then the boot parameters. */
function load(image: FileKimage, input: FileLoadInput): void {
  const kernel = input.kernel;
  const h = new SetupHeader(kernel);
  const kern16 = h.kern16Size;
  if (kernel.length < kern16) throw new KexecError('ENOEXEC', 'bzImage64_load', `bzImage truncated: ${kernel.length} bytes, but setup_sects ${h.num('setup_sects')} needs ${kern16} for the setup code`, { hint: 'the file is cut short or its setup_sects (0x1f1) is corrupt' });
  const cmdlineLen = input.cmdline?.length ?? 0;
  const cmdlineSize = h.num('cmdline_size');
  if (cmdlineLen > cmdlineSize) throw new KexecError('EINVAL', 'bzImage64_load', `Kernel command line too long (${cmdlineLen} bytes with its NUL, cmdline_size ${cmdlineSize})`, { hint: 'shorten --append/--command-line' });
  // Even a normal load must leave room for "elfcorehdr=0x... " (MAX_ELFCOREHDR_STR_LEN).
  if (cmdlineLen + MAX_ELFCOREHDR_STR_LEN > cmdlineSize) {
    throw new KexecError('EINVAL', 'bzImage64_load', 'Appending elfcorehdr=<addr> to command line exceeds maximum allowed length', { value: `${cmdlineLen} + ${MAX_ELFCOREHDR_STR_LEN} > ${cmdlineSize}`, hint: `keep the command line under ${cmdlineSize - MAX_ELFCOREHDR_STR_LEN} bytes` });
  }
  let elfcorehdr: bigint | null = null;
  if (image.type === 'crash') elfcorehdr = crashLoadSegments(image);

  const p = image.loadPurgatory(MIN_PURGATORY_ADDR, ULONG_MAX, true);
  image.dprintk(`Loaded purgatory at ${hex(p.loadAddr)}`, PR_FMT);

  // boot_params, the command line at 0x1000, then setup_data slots: EFI (unused: the machine has no EFI
  // runtime) and the RNG seed, as the kernel sizes them. No IMA slot: Debian builds 6.1 and 6.12 without
  // CONFIG_IMA_KEXEC (both guests log bufsz=0x10e0 for a 23-byte command line).
  const paramsCmdlineSz = alignUp(BOOT_PARAMS_SIZE + cmdlineLen + MAX_ELFCOREHDR_STR_LEN, 16);
  const rngOffset = paramsCmdlineSz + SETUP_DATA_HEADER + EFI_SETUP_DATA_SIZE;
  const bufsz = rngOffset + SETUP_DATA_HEADER + RNG_SEED_LENGTH;
  const params = new Uint8Array(bufsz);
  const hdrSize = 0x202 + kernel[0x201]! - 0x1f1;
  params.set(kernel.subarray(0x1f1, 0x1f1 + hdrSize), 0x1f1);
  const bootparamAddr = image.addBuffer({ buffer: { kind: 'bytes', data: params }, memsz: BigInt(bufsz), bufAlign: 16n, bufMin: MIN_BOOTPARAM_ADDR, bufMax: ULONG_MAX, topDown: true, what: 'boot_params and command line' });
  // 6.1 prints the buffer's size as memsz; 6.8+ the segment's page-rounded memsz (kbuf.memsz after kexec_add_buffer).
  const bpMemsz = image.rules.logStyle === 'pr_debug' ? BigInt(bufsz) : image.segments[image.segments.length - 1]!.memsz;
  image.dprintk(`Loaded boot_param, command line and misc at ${hex(bootparamAddr)} bufsz=${hex(bufsz)} memsz=${hex(bpMemsz)}`, PR_FMT);

  const initSize = BigInt(h.num('init_size'));
  const pref = h.big('pref_address');
  const kernelAddr = image.addBuffer({
    buffer: { kind: 'bytes', data: kernel.subarray(kern16) },
    memsz: alignUp(initSize, 4096n),
    bufAlign: BigInt(h.num('kernel_alignment')),
    bufMin: pref > MIN_KERNEL_LOAD_ADDR ? pref : MIN_KERNEL_LOAD_ADDR,
    bufMax: ULONG_MAX,
    topDown: true,
    what: 'kernel',
  });
  const kseg = image.segments[image.segments.length - 1]!;
  image.dprintk(`Loaded 64bit kernel at ${hex(kernelAddr)} bufsz=${hex(kseg.bufsz)} memsz=${hex(kseg.memsz)}`, PR_FMT);
  image.facts.kernel = hex(kernelAddr);

  let initrdAddr = 0n;
  if (input.initrd) {
    initrdAddr = image.addBuffer({ buffer: { kind: 'file', path: input.initrd.path, offset: input.initrd.offset ?? 0, length: input.initrd.size }, memsz: BigInt(input.initrd.size), bufAlign: 4096n, bufMin: MIN_INITRD_LOAD_ADDR, bufMax: ULONG_MAX, topDown: true, what: 'initrd' });
    // memsz is the initrd's length, not the segment's page-rounded size (both releases).
    image.dprintk(`Loaded initrd at ${hex(initrdAddr)} bufsz=${hex(BigInt(input.initrd.size))} memsz=${hex(BigInt(input.initrd.size))}`, PR_FMT);
    image.facts.initrd = hex(initrdAddr);
  }

  const regs = getEntry64Regs(p);
  let stack: bigint;
  try {
    stack = p.symbolAddr('stack_end');
  } catch {
    throw new KexecError('EINVAL', 'bzImage64_load', 'Could not find address of symbol stack_end');
  }
  setEntry64Regs(p, { ...regs, rbx: 0n, rsi: bootparamAddr, rip: kernelAddr + 0x200n, rsp: stack });

  setupBootParameters(image, params, { bootparamAddr, rngOffset, initrdAddr, initrdSize: input.initrd?.size ?? 0, cmdline: input.cmdline, elfcorehdr });
}

interface BootParamsPlace {
  bootparamAddr: bigint;
  /** Offset of the RNG seed's setup_data node in the boot_params buffer. */
  rngOffset: number;
  initrdAddr: bigint;
  initrdSize: number;
  cmdline: Uint8Array | null;
  elfcorehdr: bigint | null;
}

/** setup_boot_parameters: loader type, command line (setup_cmdline), initrd, e820 table, RNG seed. */
function setupBootParameters(image: FileKimage, params: Uint8Array, where: BootParamsPlace): void {
  writeField(params, SETUP_HEADER.type_of_loader, 0x0d << 4);
  writeField(params, SETUP_HEADER.loadflags, 0);
  const cmdlineAddr = where.bootparamAddr + BigInt(BOOT_PARAMS_SIZE);
  // setup_cmdline: a crash kernel's line starts with "elfcorehdr=0x%lx "; the last byte becomes the NUL.
  const prefix = where.elfcorehdr !== null ? Buffer.from(`elfcorehdr=${hex(where.elfcorehdr)} `) : Buffer.alloc(0);
  const line = Buffer.concat([prefix, where.cmdline ?? new Uint8Array(0)]);
  if (line.length > 0) line[line.length - 1] = 0;
  params.set(line, BOOT_PARAMS_SIZE);
  writeField(params, SETUP_HEADER.cmd_line_ptr, cmdlineAddr & 0xffffffffn);
  setBp(params, 'ext_cmd_line_ptr', cmdlineAddr >> 32n);
  const text = Buffer.from(line).toString('latin1').replace(/\0.*$/s, '');
  image.dprintk(`Final command line is: ${text}`, PR_FMT);
  image.facts.cmdline = text;
  writeField(params, SETUP_HEADER.ramdisk_image, where.initrdAddr & 0xffffffffn);
  writeField(params, SETUP_HEADER.ramdisk_size, BigInt(where.initrdSize) & 0xffffffffn);
  setBp(params, 'ext_ramdisk_image', where.initrdAddr >> 32n);
  setBp(params, 'ext_ramdisk_size', BigInt(where.initrdSize) >> 32n);
  setupE820(image, params);
  // setup_rng_seed: prepended to the setup_data list (newest first), only once crng is ready (the slot stays
  // in bufsz either way).
  if (crngReady(image.config)) {
    const sdAddr = where.bootparamAddr + BigInt(where.rngOffset);
    const next = readField(params, SETUP_HEADER.setup_data) as bigint;
    params.set(setupDataNode(SETUP_RNG_SEED, randomBytes(RNG_SEED_LENGTH), next), where.rngOffset);
    writeField(params, SETUP_HEADER.setup_data, sdAddr);
  }
  setBp(params, 'acpi_rsdp_addr', 0n);
}

/** kexec_bzImage64_verify_sig: Authenticode against .secondary_trusted_keys, then .platform on ENOKEY. */
function verifySig(kernel: Uint8Array, ctx: SigCheckContext): SigAccepted {
  const r = verifyPefileSignature(kernel, ctx.keyrings, { platformKeyring: true, ...(ctx.source === undefined ? {} : { source: ctx.source }) });
  const signer = r.signers[0]?.subject ?? 'unknown signer';
  // verify_pefile_signature never consults "bin:" entries (only IMA's is_binary_blacklisted does): a listed
  // image is accepted, as Linux accepts it, and the user is told.
  const listed = r.imageBlacklisted ? `; warning: its hash bin:${r.imageSha256} is in the blacklist keyring, which Linux's kexec signature check does not consult (IMA appraisal would refuse the image)` : '';
  return { summary: `signed by "${signer}", trusted through the ${r.trustedBy?.keyring ?? '?'} keyring${listed}` };
}

export const bzImage64FileOps: KexecFileOps = {
  name: 'bzImage64',
  probe: bzImage64ProbeKernel,
  probeDebug: `${PR_FMT}: It's a relocatable bzImage64`,
  load,
  verifySig,
};
