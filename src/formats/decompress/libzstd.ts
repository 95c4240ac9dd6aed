// The reference zstd decoder (facebook/zstd's single-file decompressor, built to WebAssembly by the zstddec
// package) driven through its streaming API: ZSTD_createDCtx, ZSTD_decompressStream, ZSTD_freeDCtx.
// Chosen over fzstd on Debian's amd64 payload (63 MiB out of 9.4 MiB, bench/decompress.md): libzstd decodes it
// in about the time of `zstd -dc`, fzstd took over 30 times longer and can loop on crafted tables (issue 11).
// Bounded without a watchdog: libzstd's decoder does work proportional to its input and output (every step of
// ZSTD_decompressStream consumes input or writes output; a block holds at most 128 KiB; tables are limited by
// their header sizes before they are built), it is fuzzed continuously upstream, and the output is capped here
// chunk by chunk. vkexec's own evidence: the fuzz runner's decompress-zstd class (hang limit 10 s) and the
// payload test with changed bytes (bzimage-payload.test.ts). fzstd, before it, could spin on crafted tables,
// which is why it ran in a worker under a time limit (issue 11); libzstd runs in the calling thread.

import { ZSTDDecoder } from 'zstddec/stream';
import { DecompressError } from './error.js';
import type { Output } from './output.js';

/** The exports of zstddec's stream build that vkexec calls (wasm32: pointers and size_t are 32-bit). */
export interface LibzstdExports {
  memory: WebAssembly.Memory;
  malloc(n: number): number;
  free(p: number): void;
  ZSTD_createDCtx(): number;
  ZSTD_freeDCtx(dctx: number): number;
  ZSTD_decompressStream(dctx: number, output: number, input: number): number;
}

let loaded: LibzstdExports | null = null;

/**
 * Instantiates the wasm module once, synchronously (a decode is called from synchronous code). zstddec keeps
 * its instance private and instantiates through WebAssembly.instantiate when there is no fetch; for the length
 * of this call both are replaced so that the module is compiled and instantiated at once
 * (WebAssembly.Module/Instance) and handed to _init, which zstddec's typings make public.
 */
export function loadLibzstd(): LibzstdExports {
  if (loaded) return loaded;
  const g = globalThis as { fetch?: unknown };
  const { fetch } = g;
  const instantiate = WebAssembly.instantiate;
  const d = new ZSTDDecoder();
  let exports: LibzstdExports | null = null;
  d._init = (result: WebAssembly.WebAssemblyInstantiatedSource) => {
    ZSTDDecoder.prototype._init.call(d, result);
    exports = result.instance.exports as unknown as LibzstdExports;
  };
  try {
    delete g.fetch;
    (WebAssembly as { instantiate: unknown }).instantiate = (bytes: Uint8Array, imports: WebAssembly.Imports) => {
      const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
      const source = { module, instance: new WebAssembly.Instance(module, imports) };
      return { then: (f: (r: typeof source) => unknown) => (f(source), Promise.resolve()) };
    };
    void d.init();
  } finally {
    (WebAssembly as { instantiate: unknown }).instantiate = instantiate;
    if (fetch !== undefined) g.fetch = fetch;
  }
  if (!exports) throw new Error("zstddec's wasm module did not instantiate synchronously (a zstddec release vkexec does not know)");
  return (loaded = exports);
}

// zstd_errors.h (ZSTD_ErrorCode): the codes a decoder returns as (size_t)-code; ZSTD_isError is code > -ZSTD_error_maxCode.
const ERROR_MAX_CODE = 120;
const ERROR_TEXT: Record<number, [DecompressError['reason'], string]> = {
  10: ['corrupt', 'unknown frame descriptor (ZSTD_error_prefix_unknown)'],
  14: ['unsupported', 'unsupported frame parameter (ZSTD_error_frameParameter_unsupported)'],
  16: ['unsupported', 'frame requires too much memory for decoding (ZSTD_error_frameParameter_windowTooLarge)'],
  20: ['corrupt', 'data corruption detected (ZSTD_error_corruption_detected)'],
  22: ['corrupt', 'content checksum mismatch (ZSTD_error_checksum_wrong)'],
  24: ['corrupt', 'header of literals\' block is wrong (ZSTD_error_literals_headerWrong)'],
  32: ['unsupported', 'dictionary mismatch (ZSTD_error_dictionary_wrong)'],
  44: ['corrupt', 'table log too large (ZSTD_error_tableLog_tooLarge)'],
  64: ['too-large', 'the decoder could not allocate its window (ZSTD_error_memory_allocation)'],
  72: ['truncated', 'source size wrong (ZSTD_error_srcSize_wrong)'],
};

function libzstdError(ret: number, at: number): DecompressError {
  const code = 2 ** 32 - ret;
  const [reason, text] = ERROR_TEXT[code] ?? ['corrupt', `libzstd error ${code}`];
  return new DecompressError('zstd', reason, `libzstd: ${text}`, at);
}

const OUT_CHUNK = 4 << 20;

/**
 * Decodes one whole frame (input[start, end), already walked by zstd.ts) into out, which enforces the output
 * cap; libzstd verifies the content checksum. Returns the number of bytes written.
 */
export function decodeFrameLibzstd(z: LibzstdExports, input: Uint8Array, start: number, end: number, out: Output): number {
  const size = end - start;
  const src = z.malloc(size);
  const dst = z.malloc(OUT_CHUNK);
  const bufs = z.malloc(24); // ZSTD_inBuffer {src, size, pos} then ZSTD_outBuffer {dst, size, pos}
  const dctx = z.ZSTD_createDCtx();
  const from = out.pos;
  try {
    if (!src || !dst || !bufs || !dctx) throw new DecompressError('zstd', 'too-large', 'libzstd could not allocate its buffers');
    new Uint8Array(z.memory.buffer).set(input.subarray(start, end), src);
    const view = () => new DataView(z.memory.buffer); // memory.grow detaches the old buffer
    view().setUint32(bufs, src, true);
    view().setUint32(bufs + 4, size, true);
    view().setUint32(bufs + 8, 0, true);
    for (;;) {
      view().setUint32(bufs + 12, dst, true);
      view().setUint32(bufs + 16, OUT_CHUNK, true);
      view().setUint32(bufs + 20, 0, true);
      const ret = z.ZSTD_decompressStream(dctx, bufs + 12, bufs) >>> 0;
      if (ret > 2 ** 32 - ERROR_MAX_CODE) throw libzstdError(ret, start + view().getUint32(bufs + 8, true));
      const produced = view().getUint32(bufs + 20, true);
      out.ensure(produced);
      out.buf.set(new Uint8Array(z.memory.buffer, dst, produced), out.pos);
      out.pos += produced;
      if (ret === 0) break; // the frame is complete and flushed
      const consumed = view().getUint32(bufs + 8, true);
      if (consumed === size && produced < OUT_CHUNK) throw new DecompressError('zstd', 'truncated', 'frame ends before its last block', end);
    }
    if (view().getUint32(bufs + 8, true) !== size) throw new DecompressError('zstd', 'corrupt', 'frame ended before its walked end', start);
    return out.pos - from;
  } finally {
    if (dctx) z.ZSTD_freeDCtx(dctx);
    z.free(bufs);
    z.free(dst);
    z.free(src);
  }
}
