// An example third-party kexec_file loader (docs/loaders.md): the toy format "VKXTOY01" is a 16-byte header
// followed by a flat 64-bit payload. The CLI picks it up with VKEXEC_LOADERS=<this compiled module>; importing
// the module and taking its default export puts the loader behind the built-in bzImage64 in the kernel's
// probe chain.
//
// Header (little-endian): magic "VKXTOY01" (8 bytes), entry offset into the payload (u32), flags (u32, must be 0).
// Layout: purgatory (top-down above 0x3000) -> payload (top-down above 1 MiB, 2 MiB aligned); the purgatory
// enters the payload in 64-bit mode at payload + entry with rsi = 0 (no boot_params). Signatures: an appended
// (module-style) PKCS#7 signature, checked like s390's kexec_file verify_sig.

import { KexecError } from '../../src/errno.js';
import { getEntry64Regs, setEntry64Regs } from '../../src/arch/x86/purgatory-symbols.js';
import { type FileLoadInput, type KexecFileOps, type SigAccepted, type SigCheckContext } from '../../src/vm/kernel/kexec-file-ops.js';
import { parseAppendedSignature, verifyAppendedSignature } from '../../src/sig/module-sig.js';
import type { FileKimage } from '../../src/vm/kernel/file-kimage.js';

export const TOY_MAGIC = 'VKXTOY01';
export const TOY_HEADER_SIZE = 16;
const ULONG_MAX = (1n << 64n) - 1n;

/** The payload bytes: everything after the header, up to an appended signature if there is one. */
function payloadOf(kernel: Uint8Array): Uint8Array {
  let end = kernel.length;
  try {
    end = parseAppendedSignature(kernel).contentLength;
  } catch {
    // unsigned: the payload runs to the end of the file
  }
  return kernel.subarray(TOY_HEADER_SIZE, Math.max(TOY_HEADER_SIZE, end));
}

function probe(kernel: Uint8Array): KexecError | null {
  const refuse = (msg: string) => new KexecError('ENOEXEC', 'toy_probe', msg, { hint: `a toy image starts with "${TOY_MAGIC}"` });
  if (kernel.length < TOY_HEADER_SIZE || Buffer.from(kernel.subarray(0, 8)).toString('latin1') !== TOY_MAGIC) return refuse('Not a VKXTOY01 image');
  const v = new DataView(kernel.buffer, kernel.byteOffset, TOY_HEADER_SIZE);
  if (v.getUint32(12, true) !== 0) return refuse('VKXTOY01 flags must be 0');
  return null;
}

function load(image: FileKimage, input: FileLoadInput): void {
  const v = new DataView(input.kernel.buffer, input.kernel.byteOffset, TOY_HEADER_SIZE);
  const entry = BigInt(v.getUint32(8, true));
  const payload = payloadOf(input.kernel);
  if (payload.length === 0) throw new KexecError('ENOEXEC', 'toy_load', 'the VKXTOY01 image has no payload', { hint: 'put the code after the 16-byte header' });
  if (entry >= BigInt(payload.length)) {
    throw new KexecError('ENOEXEC', 'toy_load', `entry offset ${entry} lies outside the ${payload.length}-byte payload`, { hint: 'fix the entry field at offset 8' });
  }
  const p = image.loadPurgatory(0x3000n, ULONG_MAX, true);
  image.dprintk(`Loaded purgatory at 0x${p.loadAddr.toString(16)}`);
  const addr = image.addBuffer({
    buffer: { kind: 'bytes', data: payload },
    memsz: BigInt(payload.length),
    bufAlign: 0x200000n,
    bufMin: 0x100000n,
    bufMax: ULONG_MAX,
    topDown: true,
    what: 'toy payload',
  });
  image.dprintk(`Loaded toy payload at 0x${addr.toString(16)} bufsz=0x${payload.length.toString(16)}`);
  image.facts.kernel = `0x${addr.toString(16)}`;
  setEntry64Regs(p, { ...getEntry64Regs(p), rip: addr + entry, rsi: 0n, rbx: 0n, rsp: p.symbolAddr('stack_end') });
}

function verifySig(kernel: Uint8Array, ctx: SigCheckContext): SigAccepted {
  const r = verifyAppendedSignature(kernel, ctx.keyrings, ctx.source === undefined ? {} : { source: ctx.source });
  return { summary: `toy image signed by "${r.signers[0]?.subject ?? 'unknown signer'}", trusted through ${r.trustedBy?.keyring ?? '?'}` };
}

export const toyFileOps: KexecFileOps = { name: 'vkxtoy', probe, load, verifySig };

export default toyFileOps;
