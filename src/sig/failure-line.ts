// One line of facts about a refused signature, for the CLI to print under "kexec_file_load failed: ...": who
// signed, which keyrings were searched and how many certificates each held, and the digest the signature
// vouches for next to the one computed. Type-only imports: the CLI loads this on every failure, cheaply.

import type { KexecError } from '../errno.js';
import type { KeyringSearch, SignerFacts, TrustedBy } from './facts.js';

/** What PeSignatureReport and AppendedSignatureReport share, plus the PE-only digest facts. */
export interface SignatureReportFacts {
  signers: SignerFacts[];
  keyringsSearched: KeyringSearch[];
  trustedBy: TrustedBy | undefined;
  digestAlgorithm?: string | undefined;
  expectedDigest?: string | undefined;
  computedDigest?: string | undefined;
  imageSha256?: string | undefined;
  imageBlacklisted?: boolean;
  /** Appended signatures: the bytes the signature covers. */
  contentLength?: number | undefined;
}

/** A KexecError that carries a signature report (SignatureError), recognised without importing src/sig. */
export function signatureReportOf(e: KexecError): SignatureReportFacts | undefined {
  const r = (e as { report?: unknown }).report;
  if (typeof r !== 'object' || r === null) return undefined;
  const f = r as Partial<SignatureReportFacts>;
  return Array.isArray(f.signers) && Array.isArray(f.keyringsSearched) ? (r as SignatureReportFacts) : undefined;
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

function signerText(r: SignatureReportFacts): string {
  const s = r.signers[0];
  if (!s) return 'no signer could be read';
  const who = s.subject ? `"${s.subject}"` : s.sid;
  const more = r.signers.length > 1 ? ` and ${plural(r.signers.length - 1, 'other signer')}` : '';
  return `signed by ${who}${s.issuer ? ` (issuer "${s.issuer}")` : ''}${more}`;
}

function searchText(r: SignatureReportFacts): string {
  if (r.keyringsSearched.length === 0) return 'no keyring searched';
  const each = r.keyringsSearched.map((k) => `${k.kernelKeyrings.join(' + ')} (${plural(k.certificates, 'certificate')}): ${k.result}`);
  return `searched ${each.join(', ')}`;
}

function digestText(r: SignatureReportFacts): string | undefined {
  const parts: string[] = [];
  if (r.expectedDigest !== undefined && r.computedDigest !== undefined) {
    const same = r.expectedDigest === r.computedDigest;
    parts.push(`${r.digestAlgorithm ?? 'image'} digest signed ${r.expectedDigest}, computed ${r.computedDigest} (${same ? 'match' : 'MISMATCH'})`);
  } else if (r.imageSha256 !== undefined) {
    parts.push(`image sha256 ${r.imageSha256}`);
  }
  if (r.imageBlacklisted) parts.push(`bin:${r.imageSha256} is in .blacklist (kexec's PE check does not consult it)`);
  if (r.contentLength !== undefined) parts.push(`appended signature covers ${r.contentLength} bytes`);
  return parts.length ? parts.join('; ') : undefined;
}

/** "signed by ...; searched ...; sha256 digest signed ..., computed ..." */
export function signatureFactsLine(r: SignatureReportFacts): string {
  return [signerText(r), searchText(r), digestText(r)].filter((p) => p !== undefined).join('; ');
}
