// Which decoder unpacks a bzImage's payload for --fast. As Linux's scripts/extract-vmlinux hands each format to
// the installed reference tool, the payload goes to the tool when it is on PATH and faster than vkexec's own
// decoder on real kernel payloads, measured cold as --fast runs (bench/decompress.ts): xz (x86 BCJ + LZMA2),
// lzma, bzip2, lz4 (the legacy frame format kernels use, which lz4 -dc reads) and zstd (its WASM decoder's
// instantiation costs more than the pipe). gzip stays with node:zlib, as fast as `gzip -dc` without the pipe.
// VKEXEC_PAYLOAD_DECODER=builtin uses vkexec's decoders only.
//
// The tool is trusted with nothing: its output is used only when it exits 0 within the time limit with exactly
// the size trailer's byte count and the ELF magic (checked in formats/bzimage-payload.ts); anything else and
// vkexec's own decoder decodes, so the bytes and every error message are the own decoder's. The payload goes
// in on a pipe and the output goes to an unnamed file (O_TMPFILE in the temporary directory: no name, so nothing
// to remove however vkexec ends; reading it back costs a third of what the 63 MB crossing a pipe cost, 60 ms
// against 150-180 ms of vkexec's CPU, bench/decompress.ts), capped by `ulimit -f` in the shell that execs the
// tool at outputLength rounded up to 512 bytes (SIGXFSZ past it); where O_TMPFILE is refused, stdout is a pipe
// capped at outputLength + 64 KiB bytes. The tool runs
// synchronously (spawnSync) in vkexec's process group, so Ctrl-C reaches both. No tool outlives vkexec: while
// spawnSync waits, Node's event loop does not run, so a caught SIGINT/SIGTERM/SIGHUP (boot, exec) is acted on
// once the tool has ended or been killed at the time limit; one vkexec does not catch would end vkexec at once
// and leave the tool running (a real tool ends on its next write, SIGPIPE; a hung one would not), so for the
// decode those signals are held too and re-raised afterwards (holdSignals).

import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { CompressionFormat } from '../../formats/compress.js';
import type { PayloadDecoder } from '../../formats/bzimage-payload.js';
import { UsageError } from '../../errno.js';

/** The reference tools by payload format: those Linux's scripts/extract-vmlinux runs (unxz, unlzma, bunzip2, lz4 -d, unzstd). */
export const PAYLOAD_TOOLS: Partial<Record<CompressionFormat, readonly string[]>> = {
  // The payload is one .xz stream; --single-stream stops there, as the kernel's xz_dec does.
  xz: ['xz', '-dc', '--single-stream'],
  // xz-utils' LZMA_Alone decoder: `lzma -dc` is the same program where it is installed, and not everywhere.
  lzma: ['xz', '--format=lzma', '-dc'],
  bzip2: ['bzip2', '-dc'],
  lz4: ['lz4', '-dc'],
  zstd: ['zstd', '-dc'],
};

/** Output beyond the payload's size that is still read (stderr's lines, a stdout too long by that much). */
const STDERR_ROOM = 64 << 10;

/** A real payload decodes in about 1 s; a tool still running after this is killed and the own decoder decodes. */
export const TOOL_TIME_LIMIT_MS = 30_000;

/** The decoder policy of VKEXEC_PAYLOAD_DECODER: 'tools' (default, unset or empty) or 'builtin'. */
export function payloadDecoderPolicy(env: NodeJS.ProcessEnv = process.env): 'tools' | 'builtin' {
  const v = env.VKEXEC_PAYLOAD_DECODER ?? '';
  if (v === '' || v === 'tools') return 'tools';
  if (v === 'builtin') return 'builtin';
  throw new UsageError(`vkexec: VKEXEC_PAYLOAD_DECODER=${v}: not a payload decoder policy (tools, builtin)`, {
    hint: 'set VKEXEC_PAYLOAD_DECODER=builtin for vkexec\'s own decoders, or unset it to use xz, bzip2, lz4 and zstd from PATH',
  });
}

/** The external decoder --fast uses, or undefined when VKEXEC_PAYLOAD_DECODER=builtin. */
export function payloadDecoder(env: NodeJS.ProcessEnv = process.env, timeLimitMs = TOOL_TIME_LIMIT_MS): PayloadDecoder | undefined {
  if (payloadDecoderPolicy(env) === 'builtin') return undefined;
  return { decode: (stream, format, outputLength) => runTool(PAYLOAD_TOOLS[format], stream, outputLength, env, timeLimitMs) };
}

/** Linux's O_TMPFILE (include/uapi/asm-generic/fcntl.h: __O_TMPFILE | O_DIRECTORY); Node has no constant for it. */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

/** An unnamed file for the tool's output, or null where the filesystem or kernel refuses O_TMPFILE. */
function openUnnamed(): number | null {
  try {
    return openSync(tmpdir(), O_TMPFILE | constants.O_RDWR, 0o600);
  } catch {
    return null;
  }
}

/** The tool's stdout for stream on stdin, or why there is none (null: no tool for this format). */
function runTool(argv: readonly string[] | undefined, stream: Uint8Array, outputLength: number, env: NodeJS.ProcessEnv, timeLimitMs: number) {
  if (!argv) return null;
  const by = argv.join(' ');
  const out = openUnnamed();
  holdSignals();
  try {
    const common = { input: stream, timeout: timeLimitMs, killSignal: 'SIGKILL' as const, env, windowsHide: true };
    // dash's ulimit -f counts 512-byte blocks; exec keeps the tool's own exit status and signals.
    const r = out === null
      ? spawnSync(argv[0]!, argv.slice(1), { ...common, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: outputLength + STDERR_ROOM })
      : spawnSync('/bin/sh', ['-c', 'ulimit -f "$0" && exec "$@"', String(Math.ceil(outputLength / 512)), ...argv], { ...common, stdio: ['pipe', out, 'pipe'], maxBuffer: STDERR_ROOM });
    const failed = toolFailure(r, out !== null, outputLength, timeLimitMs);
    if (failed) return { by, failed };
    return { by, bytes: out === null ? new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.length) : readUnnamed(out, outputLength) };
  } finally {
    if (out !== null) closeSync(out);
  }
}

/** Why the tool's run is not to be used, or null when it exited 0. */
function toolFailure(r: SpawnSyncReturns<Buffer>, viaShell: boolean, outputLength: number, timeLimitMs: number): string | null {
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || (viaShell && r.status === 127)) return 'not on PATH';
  if (code === 'ETIMEDOUT') return `still running after ${timeLimitMs / 1000} s, killed`;
  if (code === 'ENOBUFS') return `wrote more than the ${outputLength} bytes the size trailer declares (${STDERR_ROOM} to spare), killed`;
  if (r.error) return r.error.message;
  if (r.signal === 'SIGXFSZ') return `wrote more than the ${outputLength} bytes the size trailer declares, stopped by its file size limit`;
  if (r.signal) return `killed by ${r.signal}`;
  if (r.status !== 0) {
    const why = String(r.stderr).trim().split('\n')[0] ?? '';
    return `exit status ${r.status}${why ? ` (${why})` : ''}`;
  }
  return null;
}

/** The unnamed file's bytes, read up to one more than expected so that a longer output shows as longer. */
function readUnnamed(fd: number, outputLength: number): Uint8Array {
  const size = Math.min(fstatSync(fd).size, outputLength + 1);
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n <= 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

const HELD = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Makes the signals nothing catches wait for the event loop instead of ending vkexec during the tool's run:
 * a listener that, when one arrives, removes itself and raises it again with the default action restored. It
 * is removed two loop turns later (the signal pipe is read in the poll phase between them), when a signal
 * that came during spawnSync has been delivered.
 */
function holdSignals(): void {
  const held = HELD.filter((s) => process.listenerCount(s) === 0);
  if (held.length === 0) return;
  const release = () => held.forEach((s) => process.removeListener(s, reraise));
  function reraise(sig: NodeJS.Signals): void {
    release();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  }
  held.forEach((s) => process.on(s, reraise));
  setImmediate(() => setImmediate(release));
}
