// Benchmark (not a test): vkexec's decoders against the reference tools on real kernel payloads, side by side in
// one run: Debian's amd64 xz payload (x86 BCJ + LZMA2, taken from vmlinuz) and the same vmlinux compressed by
// the other formats (test/fixtures/cache/payload-amd64.*). Each round runs the tool and then vkexec's decoder
// in a fresh process (start-up, worker and wasm instantiation included, as on a real load), alternating;
// medians of wall time and of CPU time (user + system of the child, from bash's `times`: steadier than wall time
// when the machine is shared) are printed with their ratios. Say how loaded the machine was with the figures.
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
function childArgv(format: Format, file: string): string[] {
  const url = pathToFileURL(join(opt('--root', ROOT), 'dist/src/formats/compress.js')).href;
  const script = `const { decompress } = await import(${JSON.stringify(url)});
    const b = new Uint8Array((await import('node:fs')).readFileSync(${JSON.stringify(file)}));
    process.stdout.write(String(decompress(b, ${JSON.stringify(format)}).length));`;
  return [process.execPath, '--input-type=module', '-e', script];
}

const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/** Runs argv under bash (output discarded) and returns [wall ms, CPU ms of the child: user + system from `times`]. */
function timed(argv: string[], what: string): [number, number] {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', `${argv.map(quote).join(' ')} >/dev/null || exit 1; times`], { encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr}`);
  // `times` prints the shell's then its children's "XmY.YYYs XmY.YYYs" (user, system).
  const kids = r.stdout.trim().split('\n').pop()!.match(/(\d+)m([\d.]+)s/g)!;
  const cpu = kids.map((t) => { const [, m, sec] = t.match(/(\d+)m([\d.]+)s/)!; return Number(m) * 60000 + Number(sec) * 1000; });
  return [wall, cpu[0]! + cpu[1]!];
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
  console.log(`decoders vs reference tools, ${runs} alternating runs each, medians (fresh process each run; cpu = user + system)`);
  for (const f of formats) {
    const file = files.get(f)!;
    const tool: Array<[number, number]> = [];
    const ours: Array<[number, number]> = [];
    for (let i = 0; i < runs; i++) {
      tool.push(timed([...TOOL[f], file], TOOL[f].join(' ')));
      ours.push(timed(childArgv(f, file), `vkexec ${f} decode`));
    }
    const [tw, tc, ow, oc] = [median(tool.map((x) => x[0])), median(tool.map((x) => x[1])), median(ours.map((x) => x[0])), median(ours.map((x) => x[1]))];
    const ms = (x: number) => x.toFixed(0).padStart(6);
    console.log(
      `${f.padEnd(6)} ${String(statSync(file).size).padStart(9)} B  ${TOOL[f].join(' ').padEnd(9)} wall ${ms(tw)} cpu ${ms(tc)} ms` +
        `  vkexec wall ${ms(ow)} cpu ${ms(oc)} ms  ratio wall ${(ow / tw).toFixed(2)}x cpu ${(oc / tc).toFixed(2)}x`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
