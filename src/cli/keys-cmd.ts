// `vkexec machine keys add|list|remove`: the machine's system keyrings, as the running kernel holds them at
// boot (.builtin_trusted_keys, .secondary_trusted_keys, .platform, .blacklist). Certificates come as PEM or DER
// files; the blacklist also takes "tbs:<hex>" (a certificate's TBS hash) and "bin:<hex>" (a PE image's
// Authenticode SHA-256) entries, as certs/blacklist.c describes them.

import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { KexecError, UsageError, strerror, fileErrorText } from '../errno.js';
import { KERNEL_KEYRING_NAMES, KEYRING_NAMES, Keyrings, splitCertificates, type KeyringName, type SerializedKeyrings } from '../sig/keyring.js';
import { x509CertParse, type X509Cert } from '../sig/x509.js';
import { readState, writeState } from '../vm/machine/machine.js';
import { resolveMachineDir } from '../vm/machine/store.js';
import { tryLock } from '../vm/machine/lock.js';
import type { GlobalOpts } from './global-opts.js';
import { safeText, type Out } from './output.js';

const HASH_ENTRY = /^(tbs|bin):/i;

const machineKeyrings = (s: SerializedKeyrings | null): Keyrings => (s ? Keyrings.fromJSON(s) : new Keyrings());

interface KeyringOpt {
  keyring: KeyringName;
}

const keyringOption = (required: boolean): Option => {
  const o = new Option('--keyring <name>', 'builtin, secondary, platform or blacklist').choices(KEYRING_NAMES as string[]);
  return required ? o.makeOptionMandatory() : o;
};

/** A kernel refusal while adding a key (what `keyctl add` would print), as a usage failure naming the file. */
function keyFailure(what: string, ring: KeyringName, e: KexecError): UsageError {
  return new UsageError(`cannot add ${what} to ${KERNEL_KEYRING_NAMES[ring]}: ${e.message} (${e.errno}: ${strerror(e.errno)})`, {
    ...(e.hint ? { hint: e.hint } : {}),
  });
}

/** Reads and updates the keyrings under the machine's kexec lock, writing the state atomically. */
function withKeyrings(g: () => GlobalOpts, what: string, change: (k: Keyrings) => string[]): string[] {
  const dir = resolveMachineDir(g().machine ?? undefined);
  const lock = tryLock(dir, what);
  try {
    const state = readState(dir);
    const k = machineKeyrings(state.keyrings);
    const lines = change(k);
    state.keyrings = k.toJSON();
    writeState(dir, state);
    return lines;
  } finally {
    lock.release();
  }
}

function readCertFile(path: string): Uint8Array {
  try {
    return fs.readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read certificate file ${path}: ${fileErrorText(e)}`, {
      hint: HASH_ENTRY.test(path) ? 'hash entries ("tbs:HEX", "bin:HEX") go to --keyring blacklist' : 'give the path of a PEM or DER X.509 certificate',
    });
  }
}

const describeCert = (c: X509Cert): string => `"${c.subject}" (issuer "${c.issuer}", sha256 ${c.fingerprint256})`;

function addEntry(k: Keyrings, ring: KeyringName, arg: string): string[] {
  if (HASH_ENTRY.test(arg)) {
    if (ring !== 'blacklist') {
      throw new UsageError(`${arg}: hash entries belong in the blacklist keyring, not ${ring}`, { hint: `use --keyring blacklist` });
    }
    // The kernel wants lowercase hex (blacklist_vet_description); users paste sha256sum or openssl output in any case.
    const desc = arg.toLowerCase();
    try {
      k.addBlacklistHash(desc);
    } catch (e) {
      if (e instanceof KexecError) throw keyFailure(`"${arg}"`, ring, e);
      throw e;
    }
    return [`added ${desc} to ${KERNEL_KEYRING_NAMES.blacklist}`];
  }
  const bytes = readCertFile(arg);
  try {
    return k.addCertificates(ring, bytes, arg).map((c) => `added ${describeCert(c)} to ${KERNEL_KEYRING_NAMES[ring]}`);
  } catch (e) {
    if (e instanceof KexecError) throw keyFailure(arg, ring, e);
    throw e;
  }
}

/** What `remove` names: a "tbs:"/"bin:" entry, a SHA-256 fingerprint, or a certificate file whose certificates go. */
function removeEntry(k: Keyrings, ring: KeyringName, arg: string): string[] {
  if (HASH_ENTRY.test(arg)) {
    const desc = arg.toLowerCase();
    if (ring !== 'blacklist' || !k.removeBlacklistHash(desc)) {
      throw new UsageError(`${desc} is not in ${KERNEL_KEYRING_NAMES[ring]}`, { hint: 'vkexec machine keys list shows what each keyring holds' });
    }
    return [`removed ${desc} from ${KERNEL_KEYRING_NAMES.blacklist}`];
  }
  const fingerprint = arg.replace(/:/g, '').toLowerCase();
  let targets: string[];
  if (/^[0-9a-f]{64}$/.test(fingerprint) && !fs.existsSync(arg)) targets = [fingerprint];
  else {
    try {
      targets = splitCertificates(readCertFile(arg), arg).map((der) => x509CertParse(der, arg).fingerprint256);
    } catch (e) {
      if (e instanceof KexecError) throw new UsageError(`${arg}: ${e.message}`, { hint: 'give the certificate file that was added, or its SHA-256 fingerprint from keys list' });
      throw e;
    }
  }
  return targets.map((fp) => {
    const entry = k.entries(ring).find((e) => e.cert.fingerprint256 === fp);
    if (!entry || !k.removeCertificate(ring, fp)) {
      throw new UsageError(`no certificate with sha256 ${fp} in ${KERNEL_KEYRING_NAMES[ring]}`, { hint: 'vkexec machine keys list shows what each keyring holds' });
    }
    return `removed ${describeCert(entry.cert)} from ${KERNEL_KEYRING_NAMES[ring]}`;
  });
}

function certJson(c: X509Cert, source: string) {
  return {
    subject: c.subject, issuer: c.issuer, serial: c.serial, selfSigned: c.selfSigned, skid: c.skid ?? null,
    validFrom: c.validFrom.toISOString(), validTo: c.validTo.toISOString(), sha256: c.fingerprint256,
    tbs: c.tbsHash === undefined ? null : `tbs:${c.tbsHash}`, source,
  };
}

function listKeyrings(k: Keyrings, only: KeyringName | undefined, json: boolean, out: Out): void {
  const rings = only ? [only] : KEYRING_NAMES;
  if (json) {
    out.emitJson(Object.fromEntries(rings.map((r) => [r, {
      kernelName: KERNEL_KEYRING_NAMES[r],
      certificates: k.entries(r).map((e) => certJson(e.cert, e.source)),
      ...(r === 'blacklist' ? { hashes: k.hashes() } : {}),
    }])));
    return;
  }
  const L = (t: string) => out.line(safeText(t)); // subjects and file names are the user's
  for (const r of rings) {
    const certs = k.entries(r);
    const hashes = r === 'blacklist' ? k.hashes() : [];
    const count = `${certs.length} certificate${certs.length === 1 ? '' : 's'}${r === 'blacklist' ? `, ${hashes.length} hash${hashes.length === 1 ? '' : 'es'}` : ''}`;
    L(`${KERNEL_KEYRING_NAMES[r]} (${r}): ${count}`);
    for (const { cert: c, source } of certs) {
      L(`  ${c.subject}`);
      L(`    issuer ${c.issuer}${c.selfSigned ? ' (self-signed)' : ''}, serial ${c.serial}`);
      L(`    valid ${c.validFrom.toISOString()} to ${c.validTo.toISOString()}`);
      L(`    sha256 ${c.fingerprint256}${c.tbsHash ? `  tbs:${c.tbsHash}` : ''}`);
      L(`    from ${source}`);
    }
    for (const h of hashes) L(`  ${h}`);
  }
}

export function keysCommand(g: () => GlobalOpts, out: Out): Command {
  const cmd = new Command('keys').description("the machine's keyrings: trusted certificates for kexec signatures and the blacklist");
  cmd
    .command('add')
    .description('add certificates (PEM or DER) to a keyring; the blacklist also takes tbs:HEX and bin:HEX entries')
    .addOption(keyringOption(true))
    .argument('<file...>', 'certificate files, or tbs:HEX / bin:HEX for --keyring blacklist')
    .action((files: string[], o: KeyringOpt) => {
      const lines = withKeyrings(g, 'machine keys add', (k) => files.flatMap((f) => addEntry(k, o.keyring, f)));
      if (g().json) out.emitJson({ keyring: o.keyring, added: lines.length });
      else for (const l of lines) out.line(safeText(l));
    });
  cmd
    .command('remove')
    .description('remove certificates (by file or SHA-256 fingerprint) or blacklist entries from a keyring')
    .addOption(keyringOption(true))
    .argument('<entry...>', 'certificate file, SHA-256 fingerprint, or tbs:HEX / bin:HEX')
    .action((entries: string[], o: KeyringOpt) => {
      const lines = withKeyrings(g, 'machine keys remove', (k) => entries.flatMap((e) => removeEntry(k, o.keyring, e)));
      if (g().json) out.emitJson({ keyring: o.keyring, removed: lines.length });
      else for (const l of lines) out.line(safeText(l));
    });
  cmd
    .command('list')
    .description('print the keyrings (all, or one with --keyring)')
    .addOption(keyringOption(false))
    .action((o: Partial<KeyringOpt>) => {
      const state = readState(resolveMachineDir(g().machine ?? undefined));
      listKeyrings(machineKeyrings(state.keyrings), o.keyring, g().json, out);
    });
  return cmd;
}
