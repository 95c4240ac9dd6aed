// The model of `vkexec inspect`: what every part of vkexec sees in a kernel file, without a machine: the
// answer (and reason) of each userspace file type's probe (-c) and of each kexec_file_ops probe (-s), the
// setup header, the compressed payload, PE/COFF sections and Authenticode signatures, and an appended
// signature. Read-only and keyring-free; a hostile file yields problems, never an exception.

import { KexecError } from '../errno.js';
import { DecompressError, decompressKernelFile, detectCompression } from '../formats/compress.js';
import { PayloadError, extractPayload, zOutputLen } from '../formats/bzimage-payload.js';
import { ElfFormatError, PT_LOAD, parseElf } from '../formats/elf.js';
import {
  HDRS_MAGIC, LOADFLAG_NAMES, SETUP_HEADER, SETUP_HEADER_SINCE, SetupHeader, XLOADFLAG_NAMES, type SetupHeaderField,
} from '../formats/setup-header.js';
import { readField } from '../formats/struct.js';
import type { Debug } from '../kexec/debug.js';
import { hex } from '../lib/hex.js';
import { X86_KEXEC_FILE_LOADERS, fileTypesFor, loadersFor } from '../loaders/index.js';
import type { KexecFileOps } from '../vm/kernel/kexec-file-ops.js';
import { signerFacts, type SignerFacts } from '../sig/facts.js';
import { modsigContentDigest, parseAppendedSignature } from '../sig/module-sig.js';
import { pkcs7ParseMessage } from '../sig/pkcs7.js';
import { describePeSignatures, type PeDescription } from '../sig/verify-pefile.js';
import type { MachineArch } from '../vm/machine/machine-config.js';
import { readMultibootFacts, type MultibootFacts } from './inspect-multiboot.js';
import { readInitramfsFacts, type InitramfsFacts } from './inspect-initramfs.js';
import { readUkiFacts, type ProbeAnswer, type UkiFacts } from './inspect-uki.js';

export type { ProbeAnswer };

export interface SetupHeaderFacts {
  protocol: string;
  kernelVersion: string | null;
  fields: Record<string, number | bigint>;
  loadflags: string[];
  xloadflags: string[];
  realModeSize: number;
  /** Bytes after the real-mode part: what bzImage64_load places as the kernel. */
  protectedModeSize: number;
}

export interface PayloadFacts {
  format: string | null;
  offset: number;
  compressedSize: number;
  /** z_output_len, the size the trailer declares. */
  declaredSize: number | null;
  /** With --payload: what decompression actually gave. */
  decompressedSize?: number;
}

export interface AppendedSignatureFacts {
  contentLength: number;
  signatureLength: number;
  signers: SignerFacts[];
  contentDigest: { algo: string; hex: string } | null;
}

export interface InspectReport {
  file: string;
  size: number;
  compression: { format: string | null; decompressedSize: number | null; note: string | null };
  fileTypes: { arch: MachineArch; probes: ProbeAnswer[]; chosen: string | null };
  kexecFileOps: { probes: ProbeAnswer[]; chosen: string | null };
  setupHeader: SetupHeaderFacts | null;
  payload: PayloadFacts | null;
  elf: { class: number; machine: number; type: number; entry: bigint; programHeaders: number; loadSegments: number } | null;
  pe: PeDescription | null;
  /** Multiboot v1 and v2 headers (multiboot-x86, multiboot2-x86). */
  multiboot: MultibootFacts | null;
  /** An initramfs (cpio at the start, plain or compressed): its archives, /init and modules. */
  initramfs: InitramfsFacts | null;
  /** A unified kernel image: its sections, the inner kernel's probes and both signatures. */
  uki: UkiFacts | null;
  appendedSignature: AppendedSignatureFacts | null;
  problems: string[];
}

const problemText = (e: unknown): string => {
  if (e instanceof KexecError) return `${e.errno} ${e.rule}: ${e.message}`;
  if (e instanceof DecompressError || e instanceof PayloadError || e instanceof ElfFormatError) return e.message;
  return `internal error: ${(e as Error)?.message ?? String(e)}`;
};

/** The userspace probes in kexec-tools' order; each reports its reason through debug.print, as under -d. */
function probeFileTypes(kernel: Uint8Array, arch: MachineArch): ProbeAnswer[] {
  return fileTypesFor(arch).map((t) => {
    const lines: string[] = [];
    const debug: Debug = { enabled: true, print: (l) => void lines.push(l) };
    try {
      const accepts = t.probe(kernel, debug);
      return { name: t.name, accepts, reason: lines.join('; ') || (accepts ? 'accepted' : 'refused') };
    } catch (e) {
      return { name: t.name, accepts: false, reason: `probe failed: ${problemText(e)}` };
    }
  });
}

/** The kernel's arch_kexec_kernel_image_probe chain: every loader asked, so each one's answer shows. */
function probeKexecFileOps(kernel: Uint8Array, chain: readonly KexecFileOps[]): ProbeAnswer[] {
  return chain.map((ops) => {
    try {
      const refusal = ops.probe(kernel);
      return refusal
        ? { name: ops.name, accepts: false, reason: refusal.message, errno: refusal.errno }
        : { name: ops.name, accepts: true, reason: 'probe returned 0' };
    } catch (e) {
      return { name: ops.name, accepts: false, reason: `probe failed: ${problemText(e)}` };
    }
  });
}

const flagNames = (v: number, table: readonly [number, string][]): string[] => table.filter(([bit]) => (v & bit) !== 0).map(([, n]) => n);

function readSetupHeader(kernel: Uint8Array): SetupHeaderFacts | null {
  const h = new SetupHeader(kernel);
  if (kernel.length < 0x202 + 4 || h.num('header') !== HDRS_MAGIC) return null;
  const version = h.num('version');
  const fields: Record<string, number | bigint> = {};
  for (const [name, f] of Object.entries(SETUP_HEADER) as [SetupHeaderField, (typeof SETUP_HEADER)[SetupHeaderField]][]) {
    if ((SETUP_HEADER_SINCE[name] ?? 0) > version || f.offset + f.size > kernel.length) continue;
    fields[name] = readField(kernel, f);
  }
  // kernel_version: offset - 0x200 of a NUL-terminated string, when non-zero.
  let kernelVersion: string | null = null;
  const kv = h.num('kernel_version');
  if (kv !== 0 && 0x200 + kv < kernel.length) {
    const start = 0x200 + kv;
    const end = kernel.indexOf(0, start);
    const raw = Buffer.from(kernel.subarray(start, Math.min(end < 0 ? kernel.length : end, start + 256))).toString('latin1');
    kernelVersion = /^[\x20-\x7e]*$/.test(raw) ? raw : `(not text at ${hex(start)})`;
  }
  return {
    protocol: `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`,
    kernelVersion,
    fields,
    loadflags: flagNames(h.num('loadflags'), LOADFLAG_NAMES),
    xloadflags: version >= 0x20c ? flagNames(h.num('xloadflags'), XLOADFLAG_NAMES) : [],
    realModeSize: h.kern16Size,
    protectedModeSize: Math.max(0, kernel.length - h.kern16Size),
  };
}

/** payload_offset/payload_length (protocol 2.08+) and the size trailer; decompressed only when asked. */
function readPayload(kernel: Uint8Array, decompressIt: boolean, problems: string[]): PayloadFacts | null {
  const h = new SetupHeader(kernel);
  if (h.num('version') < 0x208) return null;
  const offset = h.kern16Size + h.num('payload_offset');
  const length = h.num('payload_length');
  if (offset + length > kernel.length || length < 4) {
    problems.push(`payload_offset/payload_length (${offset}+${length}) lie outside the ${kernel.length}-byte file`);
    return null;
  }
  const bytes = kernel.subarray(offset, offset + length);
  const facts: PayloadFacts = {
    format: detectCompression(bytes), offset, compressedSize: length,
    declaredSize: zOutputLen(bytes),
  };
  if (decompressIt) {
    try {
      facts.decompressedSize = extractPayload(kernel).vmlinux.length;
    } catch (e) {
      problems.push(`payload: ${problemText(e)}`);
    }
  }
  return facts;
}

function readAppendedSignature(kernel: Uint8Array, problems: string[]): AppendedSignatureFacts | null {
  let sig;
  try {
    sig = parseAppendedSignature(kernel);
  } catch (e) {
    // No marker at the end is the common case: nothing to report. A damaged trailer is a problem.
    if (e instanceof KexecError && e.errno === 'EKEYREJECTED') return null;
    problems.push(`appended signature: ${problemText(e)}`);
    return null;
  }
  const facts: AppendedSignatureFacts = { contentLength: sig.contentLength, signatureLength: sig.sigLength, signers: [], contentDigest: modsigContentDigest(kernel) ?? null };
  try {
    facts.signers = signerFacts(pkcs7ParseMessage(kernel.subarray(sig.sigOffset, sig.sigOffset + sig.sigLength)));
  } catch (e) {
    problems.push(`appended signature: ${problemText(e)}`);
  }
  return facts;
}

function readElf(kernel: Uint8Array): InspectReport['elf'] {
  if (!(kernel[0] === 0x7f && kernel[1] === 0x45 && kernel[2] === 0x4c && kernel[3] === 0x46)) return null;
  const elf = parseElf(kernel);
  return {
    class: elf.header.class, machine: elf.header.machine, type: elf.header.type, entry: elf.header.entry,
    programHeaders: elf.programHeaders.length, loadSegments: elf.programHeaders.filter((p) => p.type === PT_LOAD).length,
  };
}

/** Everything `inspect` reports about a file's bytes. Never throws: what cannot be read becomes a problem. */
export async function inspectImage(file: string, raw: Uint8Array, opts: { arch: MachineArch; payload: boolean }): Promise<InspectReport> {
  const problems: string[] = [];
  const report: InspectReport = {
    file, size: raw.length, compression: { format: null, decompressedSize: null, note: null },
    fileTypes: { arch: opts.arch, probes: [], chosen: null }, kexecFileOps: { probes: [], chosen: null },
    setupHeader: null, payload: null, elf: null, pe: null, multiboot: null, initramfs: null, uki: null, appendedSignature: null, problems,
  };
  // kexec-tools (and -s, through a memfd) decompress the whole file first; every probe sees the result.
  let kernel = raw;
  try {
    const k = decompressKernelFile(raw);
    kernel = k.data;
    report.compression = {
      format: k.format, decompressedSize: k.format ? k.data.length : null,
      note: k.fallback ? `looks compressed but does not decompress (${k.fallback.message}); used as it is` : null,
    };
  } catch (e) {
    problems.push(`whole-file decompression: ${problemText(e)}`);
  }
  const guard = <T>(what: string, f: () => T): T | null => {
    try {
      return f();
    } catch (e) {
      problems.push(`${what}: ${problemText(e)}`);
      return null;
    }
  };
  report.fileTypes.probes = probeFileTypes(kernel, opts.arch);
  report.fileTypes.chosen = report.fileTypes.probes.find((p) => p.accepts)?.name ?? null;
  let chain = X86_KEXEC_FILE_LOADERS;
  try {
    chain = (await loadersFor(opts.arch)).kexecFileOps;
  } catch (e) {
    problems.push(problemText(e));
  }
  report.kexecFileOps.probes = guard('kexec_file_ops', () => probeKexecFileOps(kernel, chain)) ?? [];
  report.kexecFileOps.chosen = report.kexecFileOps.probes.find((p) => p.accepts)?.name ?? null;
  report.setupHeader = guard('setup header', () => readSetupHeader(kernel));
  if (report.setupHeader && report.setupHeader.protectedModeSize === 0) {
    problems.push(`the file ends inside the ${report.setupHeader.realModeSize}-byte real-mode setup: the loaders refuse it ("bzImage truncated")`);
  }
  if (report.setupHeader) report.payload = guard('payload', () => readPayload(kernel, opts.payload, problems));
  report.elf = guard('ELF', () => readElf(kernel));
  report.multiboot = guard('multiboot', () => readMultibootFacts(kernel, problems));
  const cpio = (b: Uint8Array) => Buffer.from(b.subarray(0, 5)).toString('latin1') === '07070';
  if (cpio(raw) || cpio(kernel)) report.initramfs = guard('initramfs', () => readInitramfsFacts(raw, problems));
  if (kernel[0] === 0x4d && kernel[1] === 0x5a) report.pe = guard('PE', () => describePeSignatures(kernel));
  if (report.fileTypes.chosen === 'uki' || (kernel[0] === 0x4d && kernel[1] === 0x5a)) {
    const probe = (b: Uint8Array) => ({ fileTypes: probeFileTypes(b, opts.arch).filter((p) => p.name !== 'uki'), kexecFileOps: probeKexecFileOps(b, chain) });
    report.uki = guard('UKI', () => readUkiFacts(kernel, report.pe, probe, problems));
  }
  report.appendedSignature = guard('appended signature', () => readAppendedSignature(kernel, problems));
  return report;
}
