// Reads a package off the main thread (worker_threads): a .deb's data.tar.xz takes seconds to decompress
// (xz on PATH, check-tar-decoder.ts) or tens of seconds (vkexec's own decoder), and meanwhile the main thread keeps running the other inputs' boots (their QEMU consoles, their
// timeouts) and the progress display. In: { file, kind }; out: { files } or { error } (an ArchiveError's text).

import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { ArchiveError } from '../formats/ar.js';
import { readDeb } from '../formats/deb.js';
import { readRpm } from '../formats/rpm.js';
import { dataTarDecoder } from './check-tar-decoder.js';
import { PACKAGED_FILE } from './check-input.js';

const { file, kind } = workerData as { file: string; kind: 'deb' | 'rpm' };
const keep = (p: string) => PACKAGED_FILE.test(p);

try {
  const buf = readFileSync(file);
  const files = kind === 'deb' ? await readDeb(buf, keep, undefined, dataTarDecoder()) : readRpm(buf, keep);
  parentPort!.postMessage({ files }); // copied, not transferred: the small files' bytes may share a pooled buffer
} catch (e) {
  parentPort!.postMessage({ error: e instanceof ArchiveError ? e.message : null, internal: e instanceof ArchiveError ? null : String((e as Error)?.stack ?? e) });
}
