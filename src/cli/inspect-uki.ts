// `vkexec inspect`'s UKI part: the sections of a unified kernel image as kexec-tools 2.0.32's uki type reads
// them (kexec/kexec-uki.c), what each becomes on a load, the inner kernel's own probes, and the two signatures:
// the envelope's Authenticode (UEFI's business) and the inner kernel's (the only one kexec_file_load checks:
// Linux 6.1 and 6.12 have no UKI kexec_file_ops, kexec-tools strips the envelope before the syscall).

import { parseUki, ukiSectionBytes, ukiSectionText, UkiFormatError } from '../formats/uki.js';
import { hex } from '../lib/hex.js';
import { describePeSignatures, type PeDescription } from '../sig/verify-pefile.js';

/** A probe's answer in inspect's report (declared here, where the model imports it from, to keep imports one-way). */
export interface ProbeAnswer {
  name: string;
  accepts: boolean;
  /** What the probe said (its debug lines, or the kernel-side refusal). */
  reason: string;
  errno?: string;
}

export interface UkiSignatureFacts {
  /** Whether a certificate table with a PKCS#7 entry is there, its signers, and whether its digest matches. */
  signed: boolean;
  signers: string[];
  digest: string;
  /** What this signature covers and who checks it on a kexec load. */
  verifies: string;
}

export interface UkiFacts {
  sections: { name: string; offset: number; size: number; rawSize: number; virtualAddress: number; role: string }[];
  cmdline: string | null;
  osRelease: string | null;
  inner: { size: number; fileTypes: ProbeAnswer[]; chosen: string | null; kexecFileOps: ProbeAnswer[]; chosenOps: string | null };
  envelopeSignature: UkiSignatureFacts;
  kernelSignature: UkiSignatureFacts | null;
}

/** What a load makes of each section (kexec-uki.c reads .linux and .initrd only). */
const ROLES: Record<string, string> = {
  '.linux': 'the kernel: probed and loaded by the file type that takes it (VirtualSize bytes; kexec-tools 2.0.32 takes the raw size)',
  '.initrd': 'the initrd, unless --initrd names one',
  '.cmdline': 'NOT used: the command line is --command-line/--append/--reuse-cmdline alone',
  '.osrel': 'not used (os-release of the image)',
  '.uname': 'not used (the kernel release)',
  '.dtb': 'not used (UKI_DTB_SECTION, unused on x86)',
};

function signatureFacts(pe: PeDescription, verifies: string): UkiSignatureFacts {
  const e = pe.entries[0];
  const digest = !e ? 'no signature' : e.digestMatches === undefined ? 'digest not computed' : e.digestMatches ? `${e.digestAlgorithm} digest matches the image` : `${e.digestAlgorithm} digest DOES NOT match the image`;
  return { signed: Boolean(e), signers: e?.signers.map((s) => s.subject ?? s.sid) ?? [], digest, verifies };
}

const ENVELOPE_VERIFIES =
  'the whole UKI (stub, .linux, .initrd, .cmdline, .osrel): checked by UEFI firmware or shim when the UKI boots through EFI. ' +
  'On kexec it is checked by nobody: kexec-tools hands kexec_file_load the .linux section alone, and Linux 6.1/6.12 have no UKI loader (kexec_file_ops) that could see the envelope';
const KERNEL_VERIFIES =
  'the .linux bzImage alone: kexec_file_load checks it (kexec_bzImage64_verify_sig) when the machine enforces signatures. ' +
  'It does not cover .initrd or .cmdline';

/** The UKI facts, or null when the file is no UKI (no PE, or no .linux section). */
export function readUkiFacts(kernel: Uint8Array, envelope: PeDescription | null, probe: (b: Uint8Array) => { fileTypes: ProbeAnswer[]; kexecFileOps: ProbeAnswer[] }, problems: string[]): UkiFacts | null {
  let uki;
  try {
    uki = parseUki(kernel);
  } catch (e) {
    // Not a PE, or a PE without .linux (a signed bzImage is one): no UKI. A UKI whose .linux or .initrd
    // lies outside the file is one the loaders refuse: say so.
    if (!(e instanceof UkiFormatError) || e.section) problems.push(`UKI: ${(e as Error).message}`);
    return null;
  }
  const linux = ukiSectionBytes(kernel, uki.linux);
  const p = probe(linux);
  let kernelSignature: UkiSignatureFacts | null = null;
  if (linux[0] === 0x4d && linux[1] === 0x5a) kernelSignature = signatureFacts(describePeSignatures(linux), KERNEL_VERIFIES);
  const osrel = ukiSectionText(kernel, uki.osrel);
  return {
    sections: uki.sections.map((s) => ({ ...s, role: ROLES[s.name] ?? 'stub' })),
    cmdline: ukiSectionText(kernel, uki.cmdline),
    osRelease: osrel === null ? null : (/^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osrel)?.[1] ?? osrel.split('\n')[0] ?? ''),
    inner: {
      size: linux.length, fileTypes: p.fileTypes, chosen: p.fileTypes.find((a) => a.accepts)?.name ?? null,
      kexecFileOps: p.kexecFileOps, chosenOps: p.kexecFileOps.find((a) => a.accepts)?.name ?? null,
    },
    envelopeSignature: envelope ? signatureFacts(envelope, ENVELOPE_VERIFIES) : { signed: false, signers: [], digest: 'no signature', verifies: ENVELOPE_VERIFIES },
    kernelSignature,
  };
}

function renderSignature(what: string, s: UkiSignatureFacts, L: (s: string) => void): void {
  L(`  ${what}: ${s.signed ? `signed by ${s.signers.join(', ') || '(no signer info)'}, ${s.digest}` : 'unsigned'}`);
  L(`    covers ${s.verifies}`);
}

export function renderUki(u: UkiFacts, L: (s: string) => void): void {
  L(`UKI           unified kernel image, ${u.sections.length} sections${u.osRelease !== null ? `, os-release "${u.osRelease}"` : ''}`);
  for (const s of u.sections.filter((x) => x.name in ROLES)) {
    L(`  ${s.name.padEnd(8)} file ${hex(s.offset)}, ${s.size} bytes (VirtualSize; raw ${hex(s.rawSize)}): ${s.role}`);
  }
  if (u.cmdline !== null) L(`  .cmdline text "${u.cmdline.trim()}"`);
  L(`  inner kernel (.linux, ${u.inner.size} bytes): -c loads it as ${u.inner.chosen ?? '(no type takes it)'}, -s hands it to ${u.inner.chosenOps ?? '(no kexec_file loader takes it)'}`);
  for (const p of u.inner.fileTypes.filter((x) => x.accepts || x.name === 'bzImage64')) L(`    ${p.name.padEnd(14)} ${p.accepts ? 'yes' : 'no '}  ${p.reason}`);
  L('  signatures:');
  renderSignature('UKI envelope (Authenticode)', u.envelopeSignature, L);
  if (u.kernelSignature) renderSignature('inner kernel (Authenticode)', u.kernelSignature, L);
  else L('  inner kernel: not a PE, no Authenticode signature');
}
