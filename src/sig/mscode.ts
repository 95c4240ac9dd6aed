// SpcIndirectDataContent, the Authenticode payload of a PE signature (crypto/asymmetric_keys/mscode_parser.c,
// mscode.asn1): the data type must be a PE image, and it carries the image digest the signer vouched for.

import { KexecError } from '../errno.js';
import { UNIV, badmsg, children, content, decodeBer, isUniversal, oidOf } from './der.js';
import { HASH_OIDS, OID, isRegisteredOid, type HashName } from './oids.js';

export const RULE_MSCODE = 'mscode_parse';

export interface MsCode {
  /** SpcAttributeTypeAndOptionalValue type: SPC_PE_IMAGE_DATAOBJ (or the OID old pesign wrote by mistake). */
  contentType: string;
  digestAlgo: HashName;
  digestOid: string;
  digest: Uint8Array;
}

export interface MsCodeOptions {
  /** Accept SHA-1 image digests (kernels up to 6.1 and later stable kernels do). Default true. */
  allowSha1?: boolean;
}

/** mscode_note_digest_algo: SHA-224/256/384/512 (and SHA-1 on older kernels). */
function digestAlgoFor(oid: string, opts: MsCodeOptions): HashName {
  const hash = HASH_OIDS[oid];
  if (hash === 'sha224' || hash === 'sha256' || hash === 'sha384' || hash === 'sha512') return hash;
  if (hash === 'sha1' && opts.allowSha1 !== false) return hash;
  if (!hash && !isRegisteredOid(oid)) throw badmsg(RULE_MSCODE, `Authenticode digest algorithm ${oid} is an unknown OID`);
  throw new KexecError('ENOPKG', RULE_MSCODE, `Authenticode image digest algorithm ${hash ?? oid} is not supported by this kernel`, {
    hint: 'sign the image with a SHA-256 digest (sbsign and pesign default to it)',
  });
}

/** mscode_parse: parses the whole SpcIndirectDataContent element. */
export function mscodeParse(element: Uint8Array, opts: MsCodeOptions = {}): MsCode {
  const root = decodeBer(element, RULE_MSCODE, 'SpcIndirectDataContent');
  const [type, digestInfo] = isUniversal(root, UNIV.SEQUENCE) ? children(root, RULE_MSCODE, 'SpcIndirectDataContent') : [];
  if (!isUniversal(type, UNIV.SEQUENCE) || !isUniversal(digestInfo, UNIV.SEQUENCE)) {
    throw badmsg(RULE_MSCODE, 'SpcIndirectDataContent is not SEQUENCE { SEQUENCE, SEQUENCE }');
  }
  const [ctNode, params] = children(type, RULE_MSCODE, 'SpcAttributeTypeAndOptionalValue');
  const contentType = oidOf(ctNode, RULE_MSCODE, 'SpcAttributeTypeAndOptionalValue type');
  if (params === undefined) throw badmsg(RULE_MSCODE, 'SpcAttributeTypeAndOptionalValue lacks its value');
  // Old pesign wrote msIndividualSPKeyPurpose here; the kernel accepts both.
  if (contentType !== OID.msPeImageDataObjId && contentType !== OID.msIndividualSPKeyPurpose) {
    throw badmsg(RULE_MSCODE, `Authenticode data type ${contentType} is not a PE image (${OID.msPeImageDataObjId})`);
  }
  const [alg, digestNode] = children(digestInfo, RULE_MSCODE, 'DigestInfo');
  if (!isUniversal(alg, UNIV.SEQUENCE)) throw badmsg(RULE_MSCODE, 'DigestInfo algorithm is not a SEQUENCE');
  const digestOid = oidOf(children(alg, RULE_MSCODE, 'DigestInfo algorithm')[0], RULE_MSCODE, 'DigestInfo algorithm');
  const digestAlgo = digestAlgoFor(digestOid, opts);
  if (!isUniversal(digestNode, UNIV.OCTET_STRING) || digestNode.idBlock.isConstructed) throw badmsg(RULE_MSCODE, 'DigestInfo digest is not an OCTET STRING');
  return { contentType, digestAlgo, digestOid, digest: content(digestNode) };
}
