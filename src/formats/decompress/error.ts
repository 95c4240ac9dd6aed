// The one error type of the decompressors: which format, what went wrong, and where.

export type CompressionFormat = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'bzip2' | 'lzma';

/** truncated: the input ends inside a stream; corrupt: the bytes break a rule of the format;
 * too-large: the output would exceed the caller's cap; unsupported: valid but uses a feature we do not decode. */
export type DecompressFailure = 'truncated' | 'corrupt' | 'too-large' | 'unsupported';

const LABEL: Record<DecompressFailure, string> = {
  truncated: 'truncated data',
  corrupt: 'corrupt data',
  'too-large': 'output too large',
  unsupported: 'unsupported feature',
};

export class DecompressError extends Error {
  readonly format: CompressionFormat;
  readonly reason: DecompressFailure;
  /** Offset in the compressed input where the problem was seen, when known. */
  readonly offset: number | undefined;

  constructor(format: CompressionFormat, reason: DecompressFailure, detail: string, offset?: number) {
    const where = offset === undefined ? '' : ` (at compressed offset ${offset})`;
    super(`${format}: ${LABEL[reason]}: ${detail}${where}`);
    this.name = 'DecompressError';
    this.format = format;
    this.reason = reason;
    this.offset = offset;
  }
}
