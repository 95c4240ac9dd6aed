// Benchmark (not a test): reading one .deb as `vkexec check` does (readDeb, keeping the kernel image,
// System.map, config and the virtio modules), alone in this process: files listed, bytes kept, wall time and
// peak RSS (getrusage ru_maxrss, which includes Node itself, ~45 MiB, and the package file read whole).
//   node dist/bench/deb-read.js [--input FILE] [--root DIR: another build's checkout, to compare]
// Measured (2026-12-06, 2 cores shared with other sessions, load ~30):
//   linux-image-6.1.0-57-amd64 (70 MB .deb, data.tar.xz 392 MiB in 17 blocks of 24 MiB):
//     whole data.tar in memory (before): peak 529 MiB, 27.3 s; streamed, xz block by block: 258-299 MiB over three runs, 23-36 s.
//   linux-image-6.12 amd64 (107 MB .deb, but a data.tar of only 106 MiB: its modules are .ko.xz already):
//     before 283 MiB, 26.2 s; streamed 265 MiB, 25.0 s (the package buffer dominates there).
// Most of what remains is the 70 MB package buffer and decoded blocks the GC has not collected yet: with a
// forced collection after every block the decoding alone peaks at 194 MiB (112 MiB after reading the file).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FIXTURE_CACHE, ROOT, opt } from './common.js';

const input = opt('--input', join(FIXTURE_CACHE, 'linux-image-amd64.deb'));
const root = opt('--root', ROOT);
const { readDeb } = (await import(pathToFileURL(join(root, 'dist/src/formats/deb.js')).href)) as typeof import('../src/formats/deb.js');
const t0 = Date.now();
const files = await readDeb(readFileSync(input), (p) => /^boot\/|virtio/.test(p));
const kept = files.filter((f) => f.data);
console.log(`readDeb ${input} (${root})`);
console.log(`  files ${files.length}, kept ${kept.length} (${kept.reduce((a, f) => a + f.data!.length, 0)} bytes)`);
console.log(`  wall ${((Date.now() - t0) / 1000).toFixed(1)} s, peak RSS ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`);
