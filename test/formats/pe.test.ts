import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KexecError } from '../../src/errno.js';
import {
  parsePe, parsePeHeaders, readSectionTable, PE32_OPT_HDR, PE32PLUS_OPT_HDR, SECTION_HEADER_SIZE,
  type PeFile,
} from '../../src/formats/pe.js';
import { pefileParseHeaders, pefileReadSections } from '../../src/sig/authenticode.js';
import { buildPe, kernelSigned, kernelUnsigned, patternBytes, readBytes } from '../sig/sig-fixtures-lib.js';

/** parsePe as the kernel's pefile_parse_binary sees it: the format's refusals as ELIBBAD. */
function parsePeLibbad(buf: Uint8Array): PeFile {
  const hdrs = pefileParseHeaders(buf);
  return { ...hdrs, sections: pefileReadSections(buf, hdrs) };
}

function expectLibbad(buf: Uint8Array, pattern: RegExp): void {
  assert.throws(() => parsePeLibbad(buf), (e: unknown) => {
    assert.ok(e instanceof KexecError, `expected KexecError, got ${String(e)}`);
    assert.equal(e.errno, 'ELIBBAD');
    assert.equal(e.rule, 'pefile_parse_binary');
    assert.match(e.message, pattern);
    assert.ok(e.hint);
    return true;
  });
}

const syn = (format: 'PE32' | 'PE32+'): Uint8Array =>
  buildPe(format, [{ name: '.text', data: patternBytes(3000, 7) }, { name: '.data', data: patternBytes(100, 8), bss: 0x2000 }]);

describe('PE reader on the Debian kernels', () => {
  it('reads the unsigned EFI-stub bzImage as PE32+ with four sections and no certificate table', () => {
    const pe = parsePe(readBytes(kernelUnsigned()));
    assert.equal(pe.format, 'PE32+');
    assert.equal(pe.machine, 0x8664);
    assert.equal(pe.peaddr, 0x40);
    assert.equal(pe.headerSize, 0x1000);
    assert.equal(pe.nDataDirents, 6);
    assert.deepEqual(pe.sections.map((s) => s.name), ['.setup', '.compat', '.text', '.data']);
    assert.equal(pe.certDirent.offset, pe.dataDirOffset + 32);
    assert.equal(pe.certDirent.virtualAddress, 0);
    assert.equal(pe.certDirent.size, 0);
    assert.equal(pe.checksumOffset, pe.optHdrOffset + 64);
    const text = pe.sections.find((s) => s.name === '.text')!;
    assert.equal(text.dataAddr, 0x5000);
    assert.equal(text.rawDataSize, 0x7d7000);
  });

  it('finds the certificate table of the signed kernel after the sections', () => {
    const buf = readBytes(kernelSigned());
    const pe = parsePe(buf);
    const last = pe.sections[pe.sections.length - 1]!;
    assert.equal(pe.certDirent.virtualAddress, last.dataAddr + last.rawDataSize);
    assert.equal(pe.certDirent.virtualAddress + pe.certDirent.size, buf.length);
  });
});

describe('PE reader on synthetic images', () => {
  it('reads a PE32 image with its 32-bit fields', () => {
    const pe = parsePe(syn('PE32'));
    assert.equal(pe.format, 'PE32');
    assert.equal(pe.optHdrSize, 96 + 128);
    assert.equal(pe.imageBase, 0x400000n);
    assert.equal(pe.checksumOffset, pe.optHdrOffset + PE32_OPT_HDR.csum.offset);
    assert.equal(pe.dataDirOffset, pe.optHdrOffset + 96);
    assert.equal(pe.directories.length, 16);
    assert.equal(pe.directories[4]!.name, 'certs');
    assert.equal(pe.subsystem, 10);
    assert.deepEqual(pe.sections.map((s) => [s.name, s.dataAddr, s.rawDataSize]), [['.text', 0x200, 0xc00], ['.data', 0xe00, 0x200]]);
    assert.equal(pe.sections[1]!.virtualSize, 100 + 0x2000);
  });

  it('reads a PE32+ image with its 64-bit image base', () => {
    const pe = parsePe(syn('PE32+'));
    assert.equal(pe.format, 'PE32+');
    assert.equal(pe.imageBase, 0x140000000n);
    assert.equal(pe.checksumOffset, pe.optHdrOffset + PE32PLUS_OPT_HDR.csum.offset);
    assert.equal(pe.dataDirOffset, pe.optHdrOffset + 112);
  });

  it('splits header and section parsing the way the kernel orders its checks', () => {
    const buf = syn('PE32+');
    const hdrs = parsePeHeaders(buf);
    new DataView(buf.buffer).setUint16(hdrs.peaddr + 6, 500, true); // NumberOfSections
    assert.doesNotThrow(() => parsePeHeaders(buf));
    assert.throws(() => readSectionTable(buf, parsePeHeaders(buf)), /section headers .* do not fit/);
  });
});

describe('PE reader refusals (ELIBBAD, as pefile_parse_binary)', () => {
  const mutate = (fn: (v: DataView, b: Uint8Array) => void, format: 'PE32' | 'PE32+' = 'PE32+'): Uint8Array => {
    const b = syn(format);
    fn(new DataView(b.buffer), b);
    return b;
  };

  it('needs a whole DOS header and "MZ"', () => {
    expectLibbad(new Uint8Array(10), /DOS header/);
    expectLibbad(mutate((v) => v.setUint16(0, 0x4d5a, true)), /no "MZ"/);
  });

  it('needs e_lfanew inside the file, past the DOS header, pointing at "PE\\0\\0"', () => {
    expectLibbad(mutate((v) => v.setUint32(0x3c, 0x10, true)), /PE header/);
    expectLibbad(mutate((v, b) => v.setUint32(0x3c, b.length - 4, true)), /PE header/);
    expectLibbad(mutate((v) => v.setUint32(0x80, 0x00004551, true)), /no "PE/);
  });

  it('knows only the PE32 and PE32+ optional header magics', () => {
    expectLibbad(mutate((v) => v.setUint16(0x80 + 24, 0x107, true)), /neither PE32/);
  });

  it('needs SizeOfHeaders after the optional header and before the end of the file', () => {
    expectLibbad(mutate((v) => v.setUint32(0x80 + 24 + 60, 0x100, true)), /SizeOfHeaders/);
    expectLibbad(mutate((v, b) => v.setUint32(0x80 + 24 + 60, b.length, true)), /SizeOfHeaders/);
  });

  it('needs the declared data directory to fit in the headers', () => {
    expectLibbad(mutate((v) => v.setUint32(0x80 + 24 + 108, 1000, true)), /NumberOfRvaAndSizes/);
    expectLibbad(mutate((v) => v.setUint32(0x80 + 24 + 92, 1000, true), 'PE32'), /NumberOfRvaAndSizes/);
  });

  it('needs the section table to fit in the headers', () => {
    const b = syn('PE32+');
    const pe = parsePe(b);
    const room = Math.floor((pe.headerSize - pe.sectionTableOffset) / SECTION_HEADER_SIZE);
    new DataView(b.buffer).setUint16(pe.peaddr + 6, room, true);
    assert.equal(parsePe(b).sections.length, room);
    new DataView(b.buffer).setUint16(pe.peaddr + 6, room + 1, true);
    expectLibbad(b, /section headers/);
  });

  it('refuses every truncation inside the headers without reading past the end', () => {
    const full = syn('PE32+');
    assert.equal(parsePe(full).headerSize, 0x200);
    for (let len = 0; len <= 0x200; len += 3) {
      assert.throws(() => parsePeLibbad(full.subarray(0, len)), (e: unknown) => e instanceof KexecError && e.errno === 'ELIBBAD');
    }
  });
});
