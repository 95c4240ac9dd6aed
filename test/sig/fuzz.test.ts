// Deterministic mutation fuzzing of signed images: whatever bytes change in the PE headers, the certificate
// table, the PKCS#7 blob or the sections, verification ends in a KexecError or in acceptance of an image whose
// hashed bytes are untouched; inspection never throws.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ERRNO, KexecError } from '../../src/errno.js';
import { parsePe } from '../../src/formats/pe.js';
import { pefileDigestRanges } from '../../src/sig/authenticode.js';
import { Keyrings } from '../../src/sig/keyring.js';
import { verifyAppendedSignature } from '../../src/sig/module-sig.js';
import { describePeSignatures, verifyPefileSignature } from '../../src/sig/verify-pefile.js';
import { appendModsig, buildPe, makePki, makeTempDir, patternBytes, prng, readBytes, removeDir, sbsign, type Pki } from './sig-fixtures-lib.js';

const PE_MUTANTS = 3000;
const APPENDED_MUTANTS = 800;

let dir: string;
let pki: Pki;
let keys: Keyrings;

before(() => {
  dir = makeTempDir('fuzz');
  pki = makePki(join(dir, 'pki'), 'fuzz');
  keys = new Keyrings();
  keys.addCertificateFile('secondary', pki.caCert);
});

after(() => removeDir(dir));

/** Bytes changed between two equal-length images that fall inside the original's hashed ranges. */
function touchesHashed(orig: Uint8Array, mutant: Uint8Array, ranges: { start: number; end: number }[]): boolean {
  if (mutant.length !== orig.length) return true;
  for (const r of ranges) {
    for (let i = r.start; i < r.end; i++) if (orig[i] !== mutant[i]) return true;
  }
  return false;
}

function mutate(base: Uint8Array, rand: () => number, regions: [number, number][]): Uint8Array {
  const out = new Uint8Array(base);
  const [start, end] = regions[Math.floor(rand() * regions.length)]!;
  const n = 1 + Math.floor(rand() * 4);
  const special = [0x00, 0xff, 0x80, 0x7f, 0x30, 0x81, 0x82, 0x83, 0x01];
  for (let i = 0; i < n; i++) {
    const at = start + Math.floor(rand() * (end - start));
    const r = rand();
    out[at] = r < 0.4 ? out[at]! ^ (1 << Math.floor(rand() * 8)) : r < 0.7 ? special[Math.floor(rand() * special.length)]! : Math.floor(rand() * 256);
  }
  if (rand() < 0.03) return out.subarray(0, Math.floor(rand() * out.length));
  return out;
}

describe('fuzzing', () => {
  it(`PE: ${PE_MUTANTS} mutants give only KexecErrors, never accept changed hashed bytes`, (t) => {
    const unsigned = join(dir, 'img.efi');
    writeFileSync(unsigned, buildPe('PE32+', [
      { name: '.text', data: patternBytes(6000, 3) }, { name: '.data', data: patternBytes(1500, 4), bss: 0x1000 }, { name: '.reloc', data: patternBytes(64, 5) },
    ]));
    sbsign(unsigned, `${unsigned}.signed`, pki);
    const signed = readBytes(`${unsigned}.signed`);
    assert.equal(verifyPefileSignature(signed, keys).ok, true);
    const pe = parsePe(signed);
    const ranges = pefileDigestRanges(signed, { pe, sections: pe.sections, certsSize: pe.certDirent.size });
    const cert = pe.certDirent.virtualAddress;
    const regions: [number, number][] = [
      [0, pe.headerSize], // DOS/PE/optional headers, data directory, section table
      [0, 0x40],
      [pe.peaddr, pe.sectionTableOffset + 40 * pe.nSections],
      [cert, cert + 16], // WIN_CERTIFICATE and the DER header
      [cert + 8, signed.length], // the PKCS#7 blob
      [cert + 8, signed.length],
      [pe.sections[0]!.dataAddr, pe.sections[0]!.dataAddr + pe.sections[0]!.rawDataSize],
    ];
    const rand = prng(0x5eed_f00d);
    const seen: Record<string, number> = {};
    for (let n = 0; n < PE_MUTANTS; n++) {
      const m = mutate(signed, rand, regions);
      let accepted = false;
      try {
        verifyPefileSignature(m, keys);
        accepted = true;
      } catch (e) {
        assert.ok(e instanceof KexecError, `mutant ${n}: ${String(e)}\n${(e as Error).stack}`);
        assert.ok(e.errno in ERRNO);
        seen[`${e.errno} ${e.rule}`] = (seen[`${e.errno} ${e.rule}`] ?? 0) + 1;
      }
      if (accepted) {
        seen['accepted'] = (seen['accepted'] ?? 0) + 1;
        assert.equal(touchesHashed(signed, m, ranges), false, `mutant ${n} changed hashed bytes and was accepted`);
      }
      const d = describePeSignatures(m);
      assert.ok(Array.isArray(d.problems));
    }
    t.diagnostic(JSON.stringify(seen));
    assert.ok(Object.keys(seen).length > 8, 'mutations reach many different checks');
  });

  it(`appended signatures: ${APPENDED_MUTANTS} mutants give only KexecErrors, never accept changed content`, (t) => {
    const contentPath = join(dir, 'content');
    const content = patternBytes(4000, 8);
    writeFileSync(contentPath, content);
    const signed = new Uint8Array(appendModsig(contentPath, pki));
    assert.equal(verifyAppendedSignature(signed, keys).ok, true);
    const regions: [number, number][] = [[content.length, signed.length], [signed.length - 40, signed.length], [0, content.length]];
    const rand = prng(0xa99e_0d);
    const seen: Record<string, number> = {};
    for (let n = 0; n < APPENDED_MUTANTS; n++) {
      const m = mutate(signed, rand, regions);
      try {
        verifyAppendedSignature(m, keys);
        seen['accepted'] = (seen['accepted'] ?? 0) + 1;
        assert.equal(touchesHashed(signed, m, [{ start: 0, end: content.length }]), false, `mutant ${n} changed the content and was accepted`);
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.ok(e instanceof KexecError, `mutant ${n}: ${String(e)}\n${(e as Error).stack}`);
        seen[`${e.errno} ${e.rule}`] = (seen[`${e.errno} ${e.rule}`] ?? 0) + 1;
      }
    }
    t.diagnostic(JSON.stringify(seen));
  });
});
