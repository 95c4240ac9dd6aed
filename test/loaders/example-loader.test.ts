// A third-party kexec_file loader (test/loaders/example-loader.ts) picked up by the real binary through
// VKEXEC_LOADERS: probed after bzImage64, loaded with -s, executed by the verify engine and on QEMU (its payload
// prints a line on the serial port), and held to the machine's signature policy through its verify_sig.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { tempDir, vkexec, type Run } from '../helpers/cli.js';
import { appendModsig, makePki, removeDir, requireTool, type Pki } from '../sig/sig-fixtures-lib.js';

const LOADER = join(dirname(fileURLToPath(import.meta.url)), 'example-loader.js');
const WITH_LOADER = { VKEXEC_LOADERS: LOADER };
const MARKER = 'VKXTOY-OK';

/**
 * 64-bit code that writes MARKER and a newline to COM1 and halts:
 *   cld; lea rsi,[rip+msg]; mov dx,0x3f8; 1: lodsb; test al,al; jz 2f; out dx,al; jmp 1b; 2: cli; hlt; jmp 2b+1
 */
const CODE = Buffer.concat([
  Buffer.from([0xfc, 0x48, 0x8d, 0x35, 0x10, 0x00, 0x00, 0x00, 0x66, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xfa, 0xf4, 0xeb, 0xfd]),
  Buffer.from(`${MARKER}\n\0`, 'latin1'),
]);

function toyImage(entry = 0, flags = 0, code = CODE): Buffer {
  const h = Buffer.alloc(16);
  h.write('VKXTOY01', 0, 'latin1');
  h.writeUInt32LE(entry, 8);
  h.writeUInt32LE(flags, 12);
  return Buffer.concat([h, code]);
}

let work: string;
let toy: string;
let pki: Pki;

function newMachine(...init: string[]): string {
  const dir = join(work, `m${Math.random().toString(16).slice(2)}`);
  const r = vkexec(dir, ['machine', 'init', ...init]);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

function ok(r: Run): Run {
  assert.equal(r.code, 0, r.stderr);
  return r;
}

before(() => {
  work = tempDir('vkexec-loader-');
  toy = join(work, 'image.toy');
  writeFileSync(toy, toyImage());
  requireTool('openssl', 'openssl');
  pki = makePki(join(work, 'pki'), 'toy');
});
after(() => removeDir(work));

describe('third-party kexec_file loader through VKEXEC_LOADERS', () => {
  it('is asked after bzImage64, as vkexec inspect shows', () => {
    const out = ok(vkexec(null, ['inspect', toy], WITH_LOADER)).stdout;
    assert.match(out, /^ {2}bzImage64 +no +ENOEXEC: File is too short to be a bzImage\n {2}vkxtoy +yes +probe returned 0\n {2}-> -s loads it with vkxtoy$/m);
  });

  it('is loaded by -s (purgatory, then the payload top-down above 1 MiB) and run by -e --engine verify', () => {
    const m = newMachine();
    const r = ok(vkexec(m, ['-s', '-d', '-l', toy], WITH_LOADER));
    // Default 512 MiB map: RAM ends at 0x1ffdffff; the purgatory takes the top, the payload the 2 MiB-aligned slot below.
    assert.match(r.stderr, /^kexec_file: Loaded purgatory at 0x1ffdb000$/m);
    assert.match(r.stderr, new RegExp(`^kexec_file: Loaded toy payload at 0x1fe00000 bufsz=0x${CODE.length.toString(16)}$`, 'm'));
    assert.match(ok(vkexec(m, ['machine', 'show'])).stdout, /^normal {7}vkxtoy via kexec_file_load, entry 0x1ffdb000, 2 segments/m);
    const e = ok(vkexec(m, ['-e', '--engine', 'verify'], WITH_LOADER));
    assert.match(e.stderr, /PASS purgatory sha256 over 1 regions/);
    assert.match(e.stderr, /purgatory hands over in 64-bit mode: ip 0x1fe00000, rsi 0x0/);
    assert.match(e.stderr, /verify: verified/);
  });

  it('runs on QEMU: the payload prints its line on the serial console', () => {
    requireTool('qemu-system-x86_64', 'qemu-system-x86');
    const m = newMachine();
    ok(vkexec(m, ['-s', '-l', toy], WITH_LOADER));
    const e = ok(vkexec(m, ['-e', '--engine', 'qemu', '--expect', MARKER, '--timeout', '60']));
    assert.match(e.stdout + e.stderr, new RegExp(MARKER));
  });

  it('is unknown without VKEXEC_LOADERS, to -s and -c alike', () => {
    const m = newMachine();
    for (const mode of ['-s', '-c']) {
      const r = vkexec(m, [mode, '-l', toy]);
      assert.equal(r.code, 255);
      assert.match(r.stderr, /^Cannot determine the file type of .*image\.toy$/m);
    }
  });

  it("refuses a toy image its load() rejects with ENOEXEC, which kexec-tools treats as EFALLBACK (-s exits 253)", () => {
    const m = newMachine();
    const bad = join(work, 'bad-entry.toy');
    writeFileSync(bad, toyImage(0x10000));
    const r = vkexec(m, ['-s', '-l', bad], WITH_LOADER);
    assert.equal(r.code, 253, r.stderr);
    assert.match(r.stderr, /toy_load: entry offset 65536 lies outside the \d+-byte payload/);
    assert.match(r.stderr, /syscall kexec_file_load not available\./);
  });

  it('is held to signature enforcement through its verify_sig: unsigned refused, modsig-signed by a trusted CA loaded', () => {
    const m = newMachine('--sig-enforce', 'on');
    ok(vkexec(m, ['machine', 'keys', 'add', '--keyring', 'secondary', pki.caCert]));
    // A machine that enforces signatures runs only the loader modules it trusts (issue 11 item 7).
    const untrusted = vkexec(m, ['-s', '-l', toy], WITH_LOADER);
    assert.equal(untrusted.code, 1, untrusted.stderr);
    assert.match(untrusted.stderr, /is not trusted by this machine, which enforces signatures \(sig-enforce\)\nvkexec: fix: .*machine trust-loader/);
    ok(vkexec(m, ['machine', 'trust-loader', LOADER]));
    const r = vkexec(m, ['-s', '-l', toy], WITH_LOADER);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /^kexec_file_load failed: Key was rejected by service\nvkexec: verify_appended_signature: .*no appended signature/);
    const signedToy = join(work, 'signed.toy');
    appendModsig(toy, pki, signedToy);
    const s = ok(vkexec(m, ['-s', '-d', '-l', signedToy], WITH_LOADER));
    assert.match(s.stderr, /toy image signed by "CN=toy test signer", trusted through \.secondary_trusted_keys/);
    // The signature is not part of what is loaded.
    assert.match(s.stderr, new RegExp(`Loaded toy payload at 0x[0-9a-f]+ bufsz=0x${CODE.length.toString(16)}$`, 'm'));
  });

  it("reports a loader module's failure on import as the loader's error, never as a bug in vkexec", () => {
    const m = newMachine();
    const broken = join(work, 'broken-loader.mjs');
    writeFileSync(broken, "throw 'boom from the loader';\n");
    const r = vkexec(m, ['-s', '-l', toy], { VKEXEC_LOADERS: broken });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the loader module .*broken-loader\.mjs failed while it was imported: boom from the loader/);
    assert.match(r.stderr, /vkexec: fix: this is an error of that loader module, not of vkexec/);
    assert.doesNotMatch(r.stderr, /internal error|bug in vkexec/);
  });
});
