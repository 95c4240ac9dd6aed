// `vkexec inspect FILE [--json]`: what every part of vkexec sees in a kernel file, without a machine: the
// answer (and reason) of each userspace file type's probe (-c) and of each kexec_file_ops probe (-s), the
// setup header, the compressed payload, PE/COFF sections and Authenticode signatures, and an appended
// signature. Read-only and keyring-free; a hostile file yields lines of problems, never an exception.

import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { KexecError, UsageError, fileErrorText } from '../errno.js';
import { DecompressError, decompressKernelFile, detectCompression } from '../formats/compress.js';
import { PayloadError, extractPayload } from '../formats/bzimage-payload.js';
import { ElfFormatError, parseElf } from '../formats/elf.js';
import { SETUP_HEADER, SetupHeader, HDRS_MAGIC, type SetupHeaderField } from '../formats/setup-header.js';
import { readField } from '../formats/struct.js';
import { LOADED_HIGH, KEEP_SEGMENTS, CAN_USE_HEAP } from '../formats/setup-header.js';
import { XLF_KERNEL_64, XLF_CAN_BE_LOADED_ABOVE_4G, XLF_EFI_HANDOVER_32, XLF_EFI_HANDOVER_64, XLF_EFI_KEXEC, XLF_5LEVEL } from '../formats/setup-header.js';
import type { Debug } from '../kexec/debug.js';
import { X86_KEXEC_FILE_LOADERS, fileTypesFor, loadersFor } from '../loaders/index.js';
import type { KexecFileOps } from '../vm/kernel/kexec-file-ops.js';
import { signerFacts, type SignerFacts } from '../sig/facts.js';
import { modsigContentDigest, parseAppendedSignature } from '../sig/module-sig.js';
import { pkcs7ParseMessage } from '../sig/pkcs7.js';
import { describePeSignatures, type PeDescription } from '../sig/verify-pefile.js';
import type { MachineArch } from '../vm/machine/machine-config.js';
import type { GlobalOpts } from './machine-cmd.js';
import type { Out } from './output.js';

/** Files larger than the kernel's KEXEC_FILE_SIZE_MAX could never be loaded; inspect stops well below. */
const MAX_INSPECT = 1 << 30;

export interface ProbeAnswer {
  name: string;
  accepts: boolean;
  /** What the probe said (its debug lines, or the kernel-side refusal). */
  reason: string;
  errno?: string;
}

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

/** Boot protocol version each field appeared in (Documentation/arch/x86/boot.rst). */
const FIELD_SINCE: Partial<Record<SetupHeaderField, number>> = {
  jump: 0x200, header: 0x200, version: 0x200, realmode_swtch: 0x200, start_sys_seg: 0x200, kernel_version: 0x200,
  type_of_loader: 0x200, loadflags: 0x200, setup_move_size: 0x200, code32_start: 0x200, ramdisk_image: 0x200,
  ramdisk_size: 0x200, bootsect_kludge: 0x200, heap_end_ptr: 0x201, ext_loader_ver: 0x202, ext_loader_type: 0x202,
  cmd_line_ptr: 0x202, initrd_addr_max: 0x203, kernel_alignment: 0x205, relocatable_kernel: 0x205,
  min_alignment: 0x20a, xloadflags: 0x20c, cmdline_size: 0x206, hardware_subarch: 0x207, hardware_subarch_data: 0x207,
  payload_offset: 0x208, payload_length: 0x208, setup_data: 0x209, pref_address: 0x20a, init_size: 0x20a,
  handover_offset: 0x20b, kernel_info_offset: 0x20f,
};

const flagNames = (v: number, table: [number, string][]): string[] => table.filter(([bit]) => (v & bit) !== 0).map(([, n]) => n);

function readSetupHeader(kernel: Uint8Array): SetupHeaderFacts | null {
  const h = new SetupHeader(kernel);
  if (kernel.length < 0x202 + 4 || h.num('header') !== HDRS_MAGIC) return null;
  const version = h.num('version');
  const fields: Record<string, number | bigint> = {};
  for (const [name, f] of Object.entries(SETUP_HEADER) as [SetupHeaderField, (typeof SETUP_HEADER)[SetupHeaderField]][]) {
    if ((FIELD_SINCE[name] ?? 0) > version || f.offset + f.size > kernel.length) continue;
    fields[name] = readField(kernel, f);
  }
  // kernel_version: offset - 0x200 of a NUL-terminated string, when non-zero.
  let kernelVersion: string | null = null;
  const kv = h.num('kernel_version');
  if (kv !== 0 && 0x200 + kv < kernel.length) {
    const start = 0x200 + kv;
    const end = kernel.indexOf(0, start);
    const raw = Buffer.from(kernel.subarray(start, Math.min(end < 0 ? kernel.length : end, start + 256))).toString('latin1');
    kernelVersion = /^[\x20-\x7e]*$/.test(raw) ? raw : `(not text at 0x${start.toString(16)})`;
  }
  return {
    protocol: `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`,
    kernelVersion,
    fields,
    loadflags: flagNames(h.num('loadflags'), [[LOADED_HIGH, 'LOADED_HIGH'], [KEEP_SEGMENTS, 'KEEP_SEGMENTS'], [CAN_USE_HEAP, 'CAN_USE_HEAP']]),
    xloadflags: version >= 0x20c
      ? flagNames(h.num('xloadflags'), [
        [XLF_KERNEL_64, 'KERNEL_64'], [XLF_CAN_BE_LOADED_ABOVE_4G, 'CAN_BE_LOADED_ABOVE_4G'], [XLF_EFI_HANDOVER_32, 'EFI_HANDOVER_32'],
        [XLF_EFI_HANDOVER_64, 'EFI_HANDOVER_64'], [XLF_EFI_KEXEC, 'EFI_KEXEC'], [XLF_5LEVEL, '5LEVEL'],
      ])
      : [],
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
    declaredSize: new DataView(bytes.buffer, bytes.byteOffset + length - 4, 4).getUint32(0, true),
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
    programHeaders: elf.programHeaders.length, loadSegments: elf.programHeaders.filter((p) => p.type === 1).length,
  };
}

/** Everything `inspect` reports about a file's bytes. Never throws: what cannot be read becomes a problem. */
export async function inspectImage(file: string, raw: Uint8Array, opts: { arch: MachineArch; payload: boolean }): Promise<InspectReport> {
  const problems: string[] = [];
  const report: InspectReport = {
    file, size: raw.length, compression: { format: null, decompressedSize: null, note: null },
    fileTypes: { arch: opts.arch, probes: [], chosen: null }, kexecFileOps: { probes: [], chosen: null },
    setupHeader: null, payload: null, elf: null, pe: null, appendedSignature: null, problems,
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
  if (kernel[0] === 0x4d && kernel[1] === 0x5a) report.pe = guard('PE', () => describePeSignatures(kernel));
  report.appendedSignature = guard('appended signature', () => readAppendedSignature(kernel, problems));
  return report;
}

// ---- output ------------------------------------------------------------------------------------------------

const hex = (v: number | bigint) => '0x' + v.toString(16);

function render(r: InspectReport, out: Out): void {
  const L = (s: string) => out.line(s);
  L(`file          ${r.file} (${r.size} bytes)`);
  if (r.compression.format) L(`compression   ${r.compression.format}, ${r.compression.decompressedSize} bytes decompressed (probes see those)`);
  else if (r.compression.note) L(`compression   ${r.compression.note}`);
  L(`userspace file types (kexec_load, -c), ${r.fileTypes.arch} probe order:`);
  for (const p of r.fileTypes.probes) L(`  ${p.name.padEnd(12)} ${p.accepts ? 'yes' : 'no '}  ${p.reason}`);
  L(`  -> ${r.fileTypes.chosen ? `-c loads it as ${r.fileTypes.chosen}` : 'no userspace type takes it: -c fails with "Cannot determine the file type"'}`);
  L('kexec_file_ops (kexec_file_load, -s), probe chain:');
  for (const p of r.kexecFileOps.probes) L(`  ${p.name.padEnd(12)} ${p.accepts ? 'yes' : 'no '}  ${p.errno ? `${p.errno}: ` : ''}${p.reason}`);
  L(`  -> ${r.kexecFileOps.chosen ? `-s loads it with ${r.kexecFileOps.chosen}` : 'no loader takes it: kexec_file_load fails with ENOEXEC (-a falls back to kexec_load)'}`);
  const h = r.setupHeader;
  if (h) {
    const f = h.fields;
    L(`setup header  boot protocol ${h.protocol}${h.kernelVersion !== null ? `, kernel_version "${h.kernelVersion}"` : ''}`);
    L(`  setup_sects ${f.setup_sects} (real-mode part ${h.realModeSize} bytes, protected-mode part ${h.protectedModeSize} bytes)`);
    L(`  loadflags ${hex(f.loadflags ?? 0)} [${h.loadflags.join(' ')}]${f.xloadflags !== undefined ? `  xloadflags ${hex(f.xloadflags)} [${h.xloadflags.join(' ')}]` : ''}`);
    const show = (names: SetupHeaderField[]) => names.filter((n) => f[n] !== undefined).map((n) => `${n} ${hex(f[n]!)}`).join('  ');
    for (const row of [
      ['code32_start', 'initrd_addr_max', 'cmdline_size'],
      ['relocatable_kernel', 'kernel_alignment', 'min_alignment', 'pref_address'],
      ['init_size', 'handover_offset', 'kernel_info_offset'],
    ] as SetupHeaderField[][]) {
      const text = show(row);
      if (text) L(`  ${text}`);
    }
  }
  if (r.payload) {
    const p = r.payload;
    L(`payload       ${p.format ?? 'unknown format'} at file offset ${hex(p.offset)}, ${p.compressedSize} bytes compressed, ${p.declaredSize} bytes declared by its size trailer` +
      (p.decompressedSize !== undefined ? `, ${p.decompressedSize} bytes decompressed` : ''));
  }
  if (r.elf) L(`ELF           ELFCLASS${r.elf.class}, e_machine ${r.elf.machine}, e_type ${r.elf.type}, entry ${hex(r.elf.entry)}, ${r.elf.programHeaders} program headers (${r.elf.loadSegments} PT_LOAD)`);
  if (r.pe) renderPe(r.pe, L);
  const a = r.appendedSignature;
  if (a) {
    L(`appended signature  ${a.signatureLength}-byte PKCS#7 after ${a.contentLength} bytes of content${a.contentDigest ? `, content ${a.contentDigest.algo} ${a.contentDigest.hex}` : ''}`);
    for (const s of a.signers) L(`  signer ${s.subject ?? s.sid}${s.issuer ? `, issuer ${s.issuer}` : ''}, ${s.digestAlgorithm}/${s.signatureAlgorithm}`);
  } else {
    L('appended signature  none');
  }
  for (const p of r.problems) L(`problem: ${p}`);
}

function renderPe(pe: PeDescription, L: (s: string) => void): void {
  L(`PE/COFF       ${pe.format ?? 'unreadable'}${pe.machine !== undefined ? `, machine ${hex(pe.machine)}` : ''}${pe.headerSize !== undefined ? `, SizeOfHeaders ${hex(pe.headerSize)}` : ''}, ${pe.sections.length} sections`);
  for (const s of pe.sections) {
    L(`  ${s.name.padEnd(8)} file ${hex(s.dataAddr)}+${hex(s.rawDataSize)}  rva ${hex(s.virtualAddress)}+${hex(s.virtualSize)}  flags ${hex(s.flags)}`);
  }
  if (pe.imageSha256) L(`  Authenticode sha256 ${pe.imageSha256} (what UEFI dbx and "bin:" entries name)`);
  if (pe.certTable && pe.certTable.size) L(`  certificate table at ${hex(pe.certTable.offset)}, ${pe.certTable.size} bytes, ${pe.entries.length} entr${pe.entries.length === 1 ? 'y' : 'ies'} (the kernel reads the first)`);
  pe.entries.forEach((e, i) => {
    L(`  signature ${i + 1}: WIN_CERTIFICATE at ${hex(e.offset)}, ${e.length} bytes, revision ${hex(e.revision)}, type ${hex(e.certType)}`);
    for (const s of e.signers) L(`    signer ${s.subject ?? s.sid}${s.issuer ? `, issuer ${s.issuer}` : ''}, ${s.digestAlgorithm}/${s.signatureAlgorithm}${s.signingTime ? `, signed ${s.signingTime}` : ''}`);
    if (e.signers[0]?.chain.length) L(`    chain ${e.signers[0].chain.join(' <- ')}; a trusted keyring must hold ${e.signers[0].anchor}`);
    if (e.embeddedDigest !== undefined) {
      const verdict = e.digestMatches === undefined ? 'not computed' : e.digestMatches ? 'matches the image' : `DOES NOT match the image (computed ${e.computedDigest})`;
      L(`    ${e.digestAlgorithm} digest ${e.embeddedDigest}: ${verdict}`);
    }
    L(`    PKCS#7 self-check (no keyrings): ${e.selfCheck}`);
    for (const p of e.problems) L(`    problem: ${p}`);
  });
  for (const p of pe.problems) L(`  ${p.startsWith('ENODATA') ? 'unsigned' : 'problem'}: ${p}`);
}

export function inspectCommand(g: () => GlobalOpts, out: Out): Command {
  return new Command('inspect')
    .description('show how each probe answers for a kernel file, its setup header, payload, PE sections and signatures')
    .argument('<file>', 'kernel image (bzImage, vmlinux ELF, PE, compressed)')
    .addOption(new Option('--arch <arch>', 'whose userspace file types to probe with').choices(['x86_64', 'i386']).default('x86_64'))
    .option('--payload', 'also decompress the bzImage payload and check its size')
    .option('--json', 'machine-readable output')
    .action(async (file: string, o: { arch: MachineArch; payload?: boolean; json?: boolean }) => {
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch (e) {
        throw new UsageError(`cannot inspect ${file}: ${fileErrorText(e)}`, { hint: 'give the path of a kernel file' });
      }
      if (!st.isFile()) throw new UsageError(`cannot inspect ${file}: not a regular file`, { hint: 'give the path of a kernel file' });
      if (st.size > MAX_INSPECT) throw new UsageError(`cannot inspect ${file}: ${st.size} bytes is larger than any kernel vkexec inspects (1 GiB)`);
      const raw = new Uint8Array(fs.readFileSync(file));
      const report = await inspectImage(file, raw, { arch: o.arch, payload: Boolean(o.payload) });
      if (g().json || o.json) out.emitJson(report);
      else render(report, out);
    });
}
