// `vkexec inspect`'s initramfs part: each concatenated archive (early microcode cpio, compressed main cpio), its
// compression, entries and sizes, what /init is once every archive is unpacked in order (later files replace
// earlier ones, as in the kernel's unpack_to_rootfs), and the kernel modules it carries.

import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type CpioRecord } from '../formats/cpio.js';
import { readInitramfs } from '../formats/initramfs.js';
import { hex } from '../lib/hex.js';

export interface InitFacts {
  /** The path /init resolves to (after symlinks), or null when there is no /init. */
  path: string | null;
  kind: 'elf' | 'script' | 'missing' | 'dangling symlink' | 'other';
  /** Scripts: the #! line's interpreter and whether the archives hold it. */
  interpreter?: string;
  interpreterPresent?: boolean;
  /** ELF: class and e_machine. */
  elf?: { class: number; machine: number };
  size?: number;
}

export interface InitramfsFacts {
  archives: { offset: number; compression: string | null; storedSize: number; cpioSize: number; cpioArchives: number; entries: number; microcode: string[] }[];
  totalEntries: number;
  init: InitFacts;
  modules: { count: number; kernelVersions: string[]; names: string[] };
}

const norm = (p: string) => p.replace(/^(\.\/|\/)+/, '');

/**
 * A path looked up as the kernel's path walk does (link_path_walk, fs/namei.c): every component, not only the
 * last, follows symlinks, so /bin/sh finds usr/bin/sh through initramfs-tools' `bin -> usr/bin` (merged /usr);
 * at most 40 links (MAXSYMLINKS), then ELOOP, reported as dangling.
 */
function resolve(files: Map<string, CpioRecord>, path: string): CpioRecord | null | 'dangling' {
  let rest = norm(path).split('/');
  let done: string[] = [];
  let hops = 0;
  while (rest.length > 0) {
    const name = rest.shift()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      done.pop();
      continue;
    }
    const e = files.get([...done, name].join('/'));
    if (e && (e.mode & S_IFMT) === S_IFLNK) {
      if (++hops > 40) return 'dangling';
      const target = Buffer.from(e.data).toString('utf8');
      if (target.startsWith('/')) done = [];
      rest = [...target.split('/'), ...rest];
      continue;
    }
    done.push(name);
  }
  return files.get(done.join('/')) ?? (hops === 0 ? null : 'dangling');
}

function initFacts(files: Map<string, CpioRecord>): InitFacts {
  const e = resolve(files, 'init');
  if (e === null) return { path: null, kind: 'missing' };
  if (e === 'dangling') return { path: null, kind: 'dangling symlink' };
  const d = e.data;
  const base = { path: '/' + norm(e.path), size: d.length };
  if ((e.mode & S_IFMT) !== S_IFREG) return { ...base, kind: 'other' };
  if (d[0] === 0x7f && d[1] === 0x45 && d[2] === 0x4c && d[3] === 0x46) return { ...base, kind: 'elf', elf: { class: d[4] === 2 ? 64 : 32, machine: d[18]! | (d[19]! << 8) } };
  if (d[0] === 0x23 && d[1] === 0x21) {
    const line = Buffer.from(d.subarray(2, Math.min(d.length, 258))).toString('utf8').split('\n')[0]!.trim();
    const interpreter = line.split(/\s+/)[0] ?? '';
    return { ...base, kind: 'script', interpreter, interpreterPresent: resolve(files, norm(interpreter)) instanceof Object };
  }
  return { ...base, kind: 'other' };
}

/** The initramfs facts of a file, or null when it is not one (no cpio at its start, plain or compressed). */
export function readInitramfsFacts(raw: Uint8Array, problems: string[]): InitramfsFacts | null {
  let archives;
  try {
    archives = readInitramfs(raw);
  } catch (e) {
    problems.push(`initramfs: ${(e as Error).message}`);
    return null;
  }
  if (archives.length === 0) return null;
  const files = new Map<string, CpioRecord>();
  for (const a of archives) for (const e of a.entries) if ((e.mode & S_IFMT) !== S_IFDIR) files.set(norm(e.path), e);
  const modules = [...files.keys()].filter((p) => /\.ko(\.(xz|zst|gz))?$/.test(p));
  return {
    archives: archives.map((a) => ({
      offset: a.offset, compression: a.compression, storedSize: a.storedSize, cpioSize: a.cpioSize, cpioArchives: a.archives, entries: a.entries.length,
      microcode: a.entries.map((e) => norm(e.path)).filter((p) => p.startsWith('kernel/x86/microcode/') && p.endsWith('.bin')),
    })),
    totalEntries: archives.reduce((n, a) => n + a.entries.length, 0),
    init: initFacts(files),
    modules: {
      count: modules.length,
      kernelVersions: [...new Set(modules.map((p) => /^(?:usr\/)?lib\/modules\/([^/]+)\/./.exec(p)?.[1]).filter((v): v is string => v !== undefined))],
      names: modules.map((p) => p.split('/').pop()!.replace(/\.ko(\.(xz|zst|gz))?$/, '')).sort(),
    },
  };
}

export function renderInitramfs(f: InitramfsFacts, L: (s: string) => void): void {
  L(`initramfs     ${f.archives.length} archive${f.archives.length === 1 ? '' : 's'}, ${f.totalEntries} entries in all`);
  f.archives.forEach((a, i) => {
    const what = a.compression ? `${a.compression}-compressed, ${a.storedSize} bytes -> ${a.cpioSize} bytes of cpio` : `uncompressed cpio, ${a.cpioSize} bytes`;
    L(`  archive ${i + 1} at ${hex(a.offset)}: ${what}, ${a.entries} entries${a.cpioArchives > 1 ? ` in ${a.cpioArchives} cpio archives` : ''}`);
    if (a.microcode.length) L(`    early microcode: ${a.microcode.map((m) => '/' + m).join(', ')}`);
  });
  const init = f.init;
  const desc = init.kind === 'elf' ? `ELF${init.elf!.class}, e_machine ${init.elf!.machine}`
    : init.kind === 'script' ? `script for ${init.interpreter}${init.interpreterPresent ? '' : ' (NOT in the archives)'}`
      : init.kind === 'missing' ? 'MISSING: the kernel falls back to root= (or panics without one)' : init.kind;
  L(`  /init         ${init.path && init.path !== '/init' ? `-> ${init.path}: ` : ''}${desc}${init.size !== undefined ? `, ${init.size} bytes` : ''}`);
  const m = f.modules;
  L(`  modules       ${m.count} kernel module${m.count === 1 ? '' : 's'}${m.kernelVersions.length ? ` for ${m.kernelVersions.join(', ')}` : ''}${m.count ? `: ${m.names.slice(0, 12).join(' ')}${m.count > 12 ? ' ...' : ''}` : ''}`);
}
