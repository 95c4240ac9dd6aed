// The decoder `vkexec check` reads a .deb's data.tar with: the reference tool on PATH, streamed (xz decodes the
// blocks of Debian's data.tar.xz on every core, -T0: 17 blocks in Debian's amd64 kernel package), as
// payload-decoder.ts does for --fast and under the same switch (VKEXEC_PAYLOAD_DECODER=builtin: the own
// decoders only). Bench: bench/check.ts. The stream throws when the tool cannot run, exits non-zero, dies of a
// signal or writes more than maxOutput bytes, and formats/deb.ts then reads the package again with the own
// decoders, whose result or error is the one given. The tool is killed when the stream is abandoned; one that
// vkexec did not get to kill (vkexec killed itself) ends on its next write to the closed pipe (SIGPIPE).

import { spawn } from 'node:child_process';
import type { CompressionFormat } from '../formats/compress.js';
import type { DataTarDecoder } from '../formats/deb.js';
import { PAYLOAD_TOOLS, payloadDecoderPolicy } from '../loaders/userspace/payload-decoder.js';

/** The payload's tools (gzip stays with zlib's stream in process), but xz on every CPU: a data.tar is one stream. */
const TAR_TOOLS: Partial<Record<CompressionFormat, readonly string[]>> = { ...PAYLOAD_TOOLS, xz: ['xz', '-dc', '-T0'] };

export function dataTarDecoder(env: NodeJS.ProcessEnv = process.env): DataTarDecoder | undefined {
  if (payloadDecoderPolicy(env) === 'builtin') return undefined;
  return { stream: (data, format, maxOutput) => (TAR_TOOLS[format] ? toolStream(TAR_TOOLS[format], data, maxOutput, env) : null) };
}

async function* toolStream(argv: readonly string[], data: Uint8Array, maxOutput: number, env: NodeJS.ProcessEnv): AsyncGenerator<Uint8Array, void, void> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'ignore'], env });
  const ended = new Promise<string | null>((resolve) => {
    child.once('error', (e) => resolve(e.message));
    child.once('close', (code, signal) => resolve(signal ? `killed by ${signal}` : code === 0 ? null : `exit status ${code}`));
  });
  child.stdin.on('error', () => undefined); // EPIPE when the tool stops reading: its exit status says why
  child.stdin.end(Buffer.from(data.buffer, data.byteOffset, data.length));
  try {
    let total = 0;
    for await (const chunk of child.stdout) {
      total += (chunk as Buffer).length;
      if (total > maxOutput) throw new Error(`${argv[0]}: more than ${maxOutput} bytes`);
      yield chunk as Buffer;
    }
    const failed = await ended;
    if (failed) throw new Error(`${argv.join(' ')}: ${failed}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
