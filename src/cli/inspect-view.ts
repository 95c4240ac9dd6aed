// The view of `vkexec inspect`: the report of inspect-model.ts as lines for a person (--json prints the
// model itself).

import type { SetupHeaderField } from '../formats/setup-header.js';
import { hex } from '../lib/hex.js';
import type { PeDescription } from '../sig/verify-pefile.js';
import type { InspectReport } from './inspect-model.js';
import { safeText, type Out } from './output.js';
import { renderMultiboot } from './inspect-multiboot.js';
import { renderInitramfs } from './inspect-initramfs.js';
import { renderUki } from './inspect-uki.js';

/** The human-readable report, one fact per line (names from the file escaped: a newline in one is no new line). */
export function render(r: InspectReport, out: Out): void {
  const L = (s: string) => out.line(safeText(s));
  L(`file          ${r.file} (${r.size} bytes)`);
  if (r.compression.format) L(`compression   ${r.compression.format}, ${r.compression.decompressedSize} bytes decompressed (probes see those)`);
  else if (r.compression.note) L(`compression   ${r.compression.note}`);
  L(`userspace file types (kexec_load, -c), ${r.fileTypes.arch} probe order:`);
  for (const p of r.fileTypes.probes) L(`  ${p.name.padEnd(14)} ${p.accepts ? 'yes' : 'no '}  ${p.reason}`);
  L(`  -> ${r.fileTypes.chosen ? `-c loads it as ${r.fileTypes.chosen}` : 'no userspace type takes it: -c fails with "Cannot determine the file type"'}`);
  L('kexec_file_ops (kexec_file_load, -s), probe chain:');
  for (const p of r.kexecFileOps.probes) L(`  ${p.name.padEnd(14)} ${p.accepts ? 'yes' : 'no '}  ${p.errno ? `${p.errno}: ` : ''}${p.reason}`);
  const envelope = r.uki && r.fileTypes.chosen === 'uki';
  L(`  -> ${r.kexecFileOps.chosen ? `-s loads it with ${r.kexecFileOps.chosen}` : envelope ? 'no loader takes the UKI itself: -s hands the kernel its .linux section (see UKI below)' : 'no loader takes it: kexec_file_load fails with ENOEXEC (-a falls back to kexec_load)'}`);
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
  if (r.multiboot) renderMultiboot(r.multiboot, L);
  if (r.initramfs) renderInitramfs(r.initramfs, L);
  if (r.pe) renderPe(r.pe, L);
  if (r.uki) renderUki(r.uki, L);
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
