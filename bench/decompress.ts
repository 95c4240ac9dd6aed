// Benchmark (not a test): vkexec's decoders against the reference tools on real kernel payloads, side by side in
// one run: Debian's amd64 xz payload (x86 BCJ + LZMA2, taken from vmlinuz) and the same vmlinux compressed by
// the other formats (test/fixtures/cache/payload-amd64.*). Each round runs the tool and then vkexec's decoder
// in a fresh process (start-up, worker and wasm instantiation included, as on a real load), alternating;
// medians of wall time are printed with their ratio. The machine may be shared: say so with the figures.
//   node dist/bench/decompress.js [--runs 5] [--formats xz,zstd,...] [--root DIR: another build's checkout, to compare]

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FIXTURE_CACHE, ROOT, median, opt } from './common.js';

const FORMATS = ['xz', 'zstd', 'gzip', 'lz4', 'bzip2', 'lzma'] as const;
type Format = (typeof FORMATS)[number];
const TOOL: Record<Format, string[]> = {
  xz: ['xz', '-dc'],
  zstd: ['zstd', '-dc'],
  gzip: ['gzip', '-dc'],
  lz4: ['lz4', '-dc'],
  bzip2: ['bzip2', '-dc'],
  lzma: ['lzma', '-dc'],
};

/** The child: decode FILE as FORMAT once with vkexec's decompress() and print the output length. */
function child(format: Format, file: string): void {
  const url = pathToFileURL(join(opt('--root', ROOT), 'dist/src/formats/compress.js')).href;
  const script = `const { decompress } = await import(${JSON.stringify(url)});
    const b = new Uint8Array((await import('node:fs')).readFileSync(${JSON.stringify(file)}));
    process.stdout.write(String(decompress(b, ${JSON.stringify(format)}).length));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`vkexec ${format} decode failed: ${r.stderr}`);
}

function timeMs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}


/** The payloads as bare streams: the xz one cut out of vmlinuz, the others without mkpiggy's 4-byte size trailer. */
function payloads(dir: string, formats: readonly Format[]): Map<Format, string> {
  const out = new Map<Format, string>();
  for (const f of formats) {
    const file = join(dir, `payload.${f}`);
    if (f === 'xz') {
      const k = readFileSync(join(FIXTURE_CACHE, 'vmlinuz-amd64-unsigned'));
      const kern16 = ((k[0x1f1] || 4) + 1) * 512;
      const off = kern16 + k.readUInt32LE(0x248);
      writeFileSync(file, k.subarray(off, off + k.readUInt32LE(0x24c) - 4));
    } else {
      const p = readFileSync(join(FIXTURE_CACHE, `payload-amd64.${f}`));
      writeFileSync(file, f === 'gzip' ? p : p.subarray(0, p.length - 4));
    }
    out.set(f, file);
  }
  return out;
}

const runs = Number(opt('--runs', '5'));
const formats = opt('--formats', FORMATS.join(',')).split(',') as Format[];
const dir = mkdtempSync(join(tmpdir(), 'vkexec-bench-dec-'));
try {
  const files = payloads(dir, formats);
  console.log(`decoders vs reference tools, ${runs} alternating runs each, median wall time (fresh process each run)`);
  for (const f of formats) {
    const file = files.get(f)!;
    const tool: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < runs; i++) {
      tool.push(timeMs(() => {
        const r = spawnSync(TOOL[f][0]!, [...TOOL[f].slice(1), file], { stdio: ['ignore', 'ignore', 'pipe'] });
        if (r.status !== 0) throw new Error(`${TOOL[f].join(' ')} failed: ${r.stderr}`);
      }));
      ours.push(timeMs(() => child(f, file)));
    }
    const [t, o] = [median(tool), median(ours)];
    console.log(`${f.padEnd(6)} ${String(statSync(file).size).padStart(9)} B  ${TOOL[f].join(' ').padEnd(9)} ${t.toFixed(0).padStart(6)} ms  vkexec ${o.toFixed(0).padStart(6)} ms  ratio ${(o / t).toFixed(2)}x`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
