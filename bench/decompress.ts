// Benchmark (not a test): vkexec's decoders against the reference tools on real kernel payloads, side by side in
// one run. Three rows a format: the tool; vkexec's own decoder (VKEXEC_PAYLOAD_DECODER=builtin); the payload
// decode as --fast does it (payload-decoder.ts: the tool on PATH through a pipe, or the own decoder where it is
// the faster; CPU includes the tool's, a child of the node process). Payloads: Debian's amd64 xz payload (x86 BCJ + LZMA2, taken from vmlinuz) and the same vmlinux compressed by
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
  xz: ['xz', '-dc', '--single-stream'],
  zstd: ['zstd', '-dc'],
  gzip: ['gzip', '-dc'],
  lz4: ['lz4', '-dc'],
  bzip2: ['bzip2', '-dc'],
  lzma: ['xz', '--format=lzma', '-dc'],
};

/** Every payload fixture decodes to Debian's amd64 vmlinux: the size trailer's outputLength. */
const OUTPUT_LENGTH = statSync(join(FIXTURE_CACHE, 'vmlinux-amd64')).size;

/**
 * The child: decode FILE as FORMAT once and print the output length, with vkexec's decompress() ('own') or as
 * --fast does ('fast': the payload decoder's tool when it has one and it succeeds, else decompress()); 'none'
 * reads the file and decodes nothing: the floor of Node's start-up and imports in the two others.
 */
function childArgv(format: Format, file: string, how: 'own' | 'fast' | 'none'): string[] {
  const url = (m: string) => JSON.stringify(pathToFileURL(join(opt('--root', ROOT), 'dist/src', m)).href);
  const script = `const { decompress } = await import(${url('formats/compress.js')});
    const b = new Uint8Array((await import('node:fs')).readFileSync(${JSON.stringify(file)}));
    const f = ${JSON.stringify(format)}, n = ${OUTPUT_LENGTH};
    const ext = ${how === 'fast'} ? (await import(${url('loaders/userspace/payload-decoder.js')})).payloadDecoder()?.decode(b, f, n) : null;
    if (ext && !ext.bytes) throw new Error(ext.by + ': ' + ext.failed);
    if (${how === 'none'}) process.exit(0);
    process.stdout.write(String((ext?.bytes ?? decompress(b, f, { sizeHint: n })).length));`;
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
    const [tool, own, fast, none]: Array<Array<[number, number]>> = [[], [], [], []];
    for (let i = 0; i < runs; i++) {
      tool.push(timed([...TOOL[f], file], TOOL[f].join(' ')));
      own.push(timed(childArgv(f, file, 'own'), `vkexec ${f} decode`));
      fast.push(timed(childArgv(f, file, 'fast'), `vkexec --fast ${f} decode`));
      none.push(timed(childArgv(f, file, 'none'), 'node start-up'));
    }
    const med = (xs: Array<[number, number]>) => [median(xs.map((x) => x[0])), median(xs.map((x) => x[1]))] as const;
    const [tw, tc] = med(tool);
    const ms = (x: number) => x.toFixed(0).padStart(6);
    const row = (what: string, [w, c]: readonly [number, number], ratios: boolean) =>
      `  ${what.padEnd(24)} wall ${ms(w)} cpu ${ms(c)} ms${ratios ? `  ratio wall ${(w / tw).toFixed(2)}x cpu ${(c / tc).toFixed(2)}x` : ''}`;
    console.log(`${f} payload, ${statSync(file).size} B`);
    console.log(row(TOOL[f].join(' '), [tw, tc], false));
    console.log(row('vkexec own decoder', med(own), true));
    console.log(row('vkexec --fast decode', med(fast), true));
    console.log(row('(node + imports, no decode)', med(none), false));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
