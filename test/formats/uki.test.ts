// The UKI reader against kexec-tools' uki_image_probe (kexec/kexec-uki.c, include/pe.h; section sizes as after
// 2.0.32, commit e18a71f): a real UKI
// built by objcopy from systemd's stub (test/setup/fixtures.mjs) and synthetic PEs for each refusal.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { UkiFormatError, parseUki, ukiSectionBytes, ukiSectionText } from '../../src/formats/uki.js';
import { ukiFileType } from '../../src/loaders/userspace/uki.js';
import { fileTypesFor } from '../../src/loaders/index.js';
import { fixture } from '../helpers/fixtures.js';
import { buildPe, patternBytes } from '../sig/sig-fixtures-lib.js';

const uki = new Uint8Array(readFileSync(fixture('uki-amd64.efi')));
const kernel = new Uint8Array(readFileSync(fixture('vmlinuz-amd64')));
const initrd = new Uint8Array(readFileSync(fixture('initramfs-busybox-amd64.cpio')));

function refuses(buf: Uint8Array, text: string | null, message: RegExp): void {
  assert.throws(() => parseUki(buf), (e: unknown) => {
    assert.ok(e instanceof UkiFormatError, String(e));
    assert.equal(e.kexecToolsText, text);
    assert.match(e.message, message);
    return true;
  });
}

test('the objcopy-built UKI: .linux is Debian\'s signed kernel byte for byte, .initrd the initramfs, .cmdline the text', () => {
  const u = parseUki(uki);
  assert.deepEqual(u.sections.map((s) => s.name), ['.text', '.reloc', '.data', '.dynamic', '.rela', '.dynsym', '.sbat', '.sdmagic', '.osrel', '.cmdline', '.linux', '.initrd']);
  // VirtualSize, not the FileAlignment-padded SizeOfRawData (kexec-tools e18a71f, after 2.0.32).
  assert.ok(u.linux.rawSize > u.linux.size, 'the raw size is padded');
  assert.deepEqual(ukiSectionBytes(uki, u.linux), kernel);
  assert.deepEqual(ukiSectionBytes(uki, u.initrd!), initrd);
  assert.equal(ukiSectionText(uki, u.cmdline), 'console=ttyS0 panic=-1 vkexec.uki=embedded');
  assert.match(ukiSectionText(uki, u.osrel)!, /^PRETTY_NAME="vkexec test UKI"$/m);
});

test('the uki file type takes the UKI, finds bzImage64 inside, and is the last x86_64 type (i386 has none)', () => {
  const types = fileTypesFor('x86_64');
  assert.equal(types[types.length - 1]!.name, 'uki');
  assert.ok(!fileTypesFor('i386').some((t) => t.name === 'uki'));
  const lines: string[] = [];
  assert.equal(types.find((t) => t.probe(uki, { enabled: true, print: (l) => void lines.push(l) }))?.name, 'uki');
  assert.match(lines.join('\n'), /is a bzImage64/);
  // Debian's signed bzImage is a PE too, but has no .linux: not a UKI.
  const mine = ukiFileType(() => types);
  const why: string[] = [];
  assert.equal(mine.probe(kernel, { enabled: true, print: (l) => void why.push(l) }), false);
  assert.deepEqual(why, ['ERR: can not find .linux section']);
});

test('a .linux no file type takes: probed as kexec-tools does, refused with its words', () => {
  const pe = buildPe('PE32+', [{ name: '.text', data: patternBytes(600, 1) }, { name: '.linux', data: patternBytes(5000, 2) }]);
  const why: string[] = [];
  assert.equal(ukiFileType(() => fileTypesFor('x86_64')).probe(pe, { enabled: true, print: (l) => void why.push(l) }), false);
  assert.deepEqual(why, ['Can not recognize the kernel format in .linux section']);
});

test('sections: VirtualSize bytes at PointerToRawData; the last of a name wins, as kexec-tools overwrites', () => {
  const a = patternBytes(3000, 3);
  const b = patternBytes(1000, 4);
  const u = parseUki(buildPe('PE32+', [{ name: '.linux', data: a }, { name: '.initrd', data: b }, { name: '.linux', data: b }]));
  assert.equal(u.linux.size, 1000);
  assert.equal(u.sections.filter((s) => s.name === '.linux').length, 2);
  assert.deepEqual(ukiSectionBytes(buildPe('PE32+', [{ name: '.linux', data: a }]), parseUki(buildPe('PE32+', [{ name: '.linux', data: a }])).linux), a);
});

test('refusals: get_pehdr_offset, the optional header, no .linux, and sections outside the file', () => {
  const pe = buildPe('PE32+', [{ name: '.linux', data: patternBytes(2000, 5) }, { name: '.initrd', data: patternBytes(700, 6) }]);
  const v = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const far = pe.slice();
  v(far).setUint32(0x3c, 4097, true);
  refuses(far, 'PE header offset is not a reasonable value', /e_lfanew 4097/);
  const neg = pe.slice();
  v(neg).setInt32(0x3c, -8, true);
  refuses(neg, 'PE header offset is not a reasonable value', /e_lfanew -8/);
  const noPe = pe.slice();
  noPe[0x80] = 0x4e;
  refuses(noPe, 'Not a PE file', /no "PE\\0\\0"/);
  const noOpt = pe.slice();
  v(noOpt).setUint16(0x80 + 20, 0, true);
  refuses(noOpt, 'ERR: optional header is missing', /SizeOfOptionalHeader 0/);
  refuses(buildPe('PE32+', [{ name: '.text', data: patternBytes(100, 7) }]), 'ERR: can not find .linux section', /no \.linux/);
  // A .initrd whose VirtualSize runs past the end: kexec-tools would read past its buffer; refused here.
  const u = parseUki(pe);
  const long = pe.slice();
  const initrdHeader = 0x80 + 24 + 112 + 16 * 8 + 40;
  v(long).setUint32(initrdHeader + 8, pe.length, true);
  assert.throws(() => parseUki(long), (e: unknown) => e instanceof UkiFormatError && e.section === '.initrd' && e.kexecToolsText === null && /past the end/.test(e.message));
  assert.equal(u.initrd!.size, 700);
  refuses(new Uint8Array(20), null, /too short/);
});
