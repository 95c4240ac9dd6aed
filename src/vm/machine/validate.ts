// machine.json is input: a machine directory may come from elsewhere or be hand-edited. Every field is checked
// for type and range on every read, and every blob it names must be a regular file (never a link) of the
// claimed size, named by 64 lowercase hex digits, so a crafted state can make vkexec neither read outside the
// directory nor hang nor fail inside. A problem is returned as "FIELD is VALUE: what it must be".

import type { Stats } from 'node:fs';
import { KEXEC_SEGMENT_MAX } from './kimage.js';
import { blobPath, isBlobName } from './store.js';
import { isKernelRelease } from './kernel-release.js';

// Built-ins by process.getBuiltinModule, not import: no ES module facade to build (node:fs's loads its streams)
// and no import to resolve, on every command's path (issue 15, bench/startup.ts).
const fs = process.getBuiltinModule('node:fs');
const { createRequire } = process.getBuiltinModule('node:module');

// The keyring codec pulls in asn1js (two dozen modules, most of `vkexec -S`'s start-up): loaded (require of ESM,
// Node >= 20.19) only for a state that has keyrings.
type KeyringModule = typeof import('../../sig/keyring.js');
const keyringModule = (): KeyringModule => createRequire(import.meta.url)('../../sig/keyring.js') as KeyringModule;

const U64_MAX = (1n << 64n) - 1n;
/** x86 COMMAND_LINE_SIZE (arch/x86/include/uapi/asm/setup.h... asm/setup.h): 2048 with the NUL. */
const COMMAND_LINE_MAX = 2047;
/** What `machine init --cpus` accepts (the engines' limit). */
const CPUS_MAX = 64;
const MEM_MIN = 1n << 20n;
const MEM_MAX = 1n << 42n; // 4 TiB: a cloned /proc/iomem of a large server
const IOMEM_MAX_ENTRIES = 4096;
const IOMEM_MAX_DEPTH = 8;
/** kexec_load_limit_{panic,reboot}: -1 (no limit) or a count, an int (kernel/kexec_core.c kexec_limit_handler). */
const INT_MAX = 2 ** 31 - 1;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isU64 = (v: unknown): v is bigint => typeof v === 'bigint' && v >= 0n && v <= U64_MAX;
const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** A short, printable rendering of a bad value for the message. */
export function shown(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'bigint' ? `0x${v.toString(16)}` : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const bad = (field: string, v: unknown, want: string): string => `${field} is ${shown(v)}: ${want}`;

function printable(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length <= max && !/[\x00-\x1f\x7f]/.test(v);
}

function checkIomem(list: unknown, where: string, depth: number, count: { n: number }): string | null {
  if (!Array.isArray(list)) return bad(where, list, 'a list of resources');
  if (depth > IOMEM_MAX_DEPTH) return `${where} nests more than ${IOMEM_MAX_DEPTH} levels`;
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    const at = `${where}[${i}]`;
    if (++count.n > IOMEM_MAX_ENTRIES) return `config.iomem has more than ${IOMEM_MAX_ENTRIES} resources`;
    if (!isObj(r)) return bad(at, r, 'a resource {start, end, name, children}');
    if (!isU64(r.start)) return bad(`${at}.start`, r.start, 'a 64-bit address {"$u64": "0x..."}');
    if (!isU64(r.end) || r.end < r.start) return bad(`${at}.end`, r.end, 'a 64-bit address at or above start');
    if (!printable(r.name, 128) || r.name === '') return bad(`${at}.name`, r.name, 'a name of 1 to 128 printable characters');
    const sub = checkIomem(r.children, `${at}.children`, depth + 1, count);
    if (sub) return sub;
  }
  return null;
}

function checkConfig(c: unknown): string | null {
  if (!isObj(c)) return bad('config', c, 'an object');
  if (c.arch !== 'x86_64' && c.arch !== 'i386') return bad('config.arch', c.arch, 'x86_64 or i386');
  if (!isU64(c.memBytes) || c.memBytes < MEM_MIN || c.memBytes > MEM_MAX) return bad('config.memBytes', c.memBytes, 'from 1 MiB to 4 TiB');
  if (!isInt(c.cpus, 1, CPUS_MAX)) return bad('config.cpus', c.cpus, `a whole number from 1 to ${CPUS_MAX}`);
  if (typeof c.cmdline !== 'string' || c.cmdline.length > COMMAND_LINE_MAX || c.cmdline.includes('\0')) {
    return bad('config.cmdline', c.cmdline, `a string of at most ${COMMAND_LINE_MAX} characters (COMMAND_LINE_SIZE)`);
  }
  const r = checkIomem(c.iomem, 'config.iomem', 0, { n: 0 });
  if (r) return r;
  if (!['none', 'integrity', 'confidentiality'].includes(c.lockdown as string)) return bad('config.lockdown', c.lockdown, 'none, integrity or confidentiality');
  for (const k of ['secureBoot', 'sigEnforce', 'imaAppraise'] as const) if (typeof c[k] !== 'boolean') return bad(`config.${k}`, c[k], 'true or false');
  if (!printable(c.osrelease, 64)) return bad('config.osrelease', c.osrelease, 'at most 64 printable characters (__NEW_UTS_LEN)');
  if (c.kernelRelease !== undefined && !isKernelRelease(c.kernelRelease)) return bad('config.kernelRelease', c.kernelRelease, '6.1 or 6.12');
  if (c.kernelSymbols !== undefined) {
    const syms = c.kernelSymbols;
    if (!isObj(syms) || Object.keys(syms).length > 64) return bad('config.kernelSymbols', syms, 'an object of at most 64 symbols');
    for (const [k, v] of Object.entries(syms)) if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(k) || !isU64(v)) return bad(`config.kernelSymbols.${k}`, v, 'a symbol name and a 64-bit address {"$u64": "0x..."}');
  }
  if (c.vmcoreinfo !== undefined && (!Array.isArray(c.vmcoreinfo) || c.vmcoreinfo.length > 4096 || !c.vmcoreinfo.every((l) => printable(l, 4096)))) {
    return bad('config.vmcoreinfo', c.vmcoreinfo, 'a list of printable vmcoreinfo lines (machine init --vmcoreinfo)');
  }
  if (c.acpiRsdp !== undefined && !isU64(c.acpiRsdp)) return bad('config.acpiRsdp', c.acpiRsdp, 'a 64-bit address {"$u64": "0x..."}');
  return c.firmwareMap === undefined ? null : checkFirmwareMap(c.firmwareMap);
}

/** /sys/firmware/memmap entries: inclusive [start, end] with a type name, as the firmware reported them. */
function checkFirmwareMap(list: unknown): string | null {
  if (!Array.isArray(list) || list.length > 1024) return bad('config.firmwareMap', list, 'a list of at most 1024 entries');
  for (const [i, e] of list.entries()) {
    const at = `config.firmwareMap[${i}]`;
    if (!isObj(e) || !isU64(e.start) || !isU64(e.end) || e.end < e.start) return bad(at, e, '{start, end, type} with 64-bit addresses, end at or above start');
    if (!printable(e.type, 64)) return bad(`${at}.type`, e.type, 'a type name of at most 64 printable characters');
  }
  return null;
}

function checkSysctl(s: unknown): string | null {
  if (!isObj(s)) return bad('sysctl', s, 'an object');
  if (s.kexec_load_disabled !== 0 && s.kexec_load_disabled !== 1) return bad('sysctl.kexec_load_disabled', s.kexec_load_disabled, '0 or 1');
  for (const k of ['kexec_load_limit_panic', 'kexec_load_limit_reboot'] as const) {
    if (!isInt(s[k], -1, INT_MAX)) return bad(`sysctl.${k}`, s[k], `-1 (no limit) or a whole number up to ${INT_MAX}`);
  }
  return null;
}

/** The blob a field names: a name of 64 hex digits, a regular file in blobs/ (lstat: no link), of `size` bytes. */
function checkBlob(dir: string, name: unknown, field: string, size: number): string | null {
  if (!isBlobName(name)) return bad(field, name, 'a blob name: 64 lowercase hex digits (a sha256 addressing its bytes)');
  let st: Stats;
  try {
    st = fs.lstatSync(blobPath(dir, name));
  } catch {
    return `${field}: data blob ${name} is missing from blobs/`;
  }
  if (!st.isFile()) return `${field}: blobs/${name} is not a regular file (links are never followed)`;
  if (st.size !== size) return `${field}: blobs/${name} holds ${st.size} bytes, the state claims ${size}`;
  return null;
}

function checkSegments(dir: string, img: Obj, where: string): string | null {
  if (!Array.isArray(img.segments) || img.segments.length > KEXEC_SEGMENT_MAX) return bad(`${where}.segments`, img.segments, `a list of at most ${KEXEC_SEGMENT_MAX} segments`);
  for (const [i, s] of (img.segments as unknown[]).entries()) {
    const at = `${where}.segments[${i}]`;
    if (!isObj(s)) return bad(at, s, 'a segment {mem, memsz, bufsz, blob}');
    if (!isU64(s.mem)) return bad(`${at}.mem`, s.mem, 'a 64-bit address');
    if (!isU64(s.memsz) || s.mem + s.memsz > U64_MAX + 1n) return bad(`${at}.memsz`, s.memsz, 'a size that ends inside the 64-bit space');
    if (!isInt(s.bufsz, 0, Number.MAX_SAFE_INTEGER) || BigInt(s.bufsz) > s.memsz) return bad(`${at}.bufsz`, s.bufsz, 'a whole number of bytes, at most memsz');
    if (s.bufsz === 0 && s.blob !== null) return bad(`${at}.blob`, s.blob, 'null for a segment without bytes');
    const b = s.bufsz === 0 ? null : checkBlob(dir, s.blob, `${at}.blob`, s.bufsz);
    if (b) return b;
  }
  return null;
}

function checkIndirection(dir: string, img: Obj, where: string): string | null {
  const pages = img.indirectionPages;
  if (!Array.isArray(pages) || pages.length > 1 << 16 || !pages.every(isU64)) return bad(`${where}.indirectionPages`, pages, 'a list of 64-bit addresses');
  if (img.indirectionBlob === null) {
    if (pages.length > 0) return bad(`${where}.indirectionBlob`, null, 'the blob holding the indirection pages');
  } else {
    const b = checkBlob(dir, img.indirectionBlob, `${where}.indirectionBlob`, pages.length * 4096);
    if (b) return b;
  }
  const segs = img.segments as Obj[];
  if (!Array.isArray(img.sourceRuns) || img.sourceRuns.length > 1 << 20) return bad(`${where}.sourceRuns`, img.sourceRuns, 'a list of source runs');
  for (const [i, r] of (img.sourceRuns as unknown[]).entries()) {
    const at = `${where}.sourceRuns[${i}]`;
    if (!isObj(r) || !isU64(r.addr) || (r.addr as bigint) % 4096n !== 0n) return bad(`${at}.addr`, isObj(r) ? r.addr : r, 'a page-aligned 64-bit address');
    if (!isInt(r.segment, 0, segs.length - 1)) return bad(`${at}.segment`, r.segment, `a segment index below ${segs.length}`);
    const segPages = Number(((segs[r.segment]!.memsz as bigint) + 4095n) / 4096n);
    if (!isInt(r.firstPage, 0, segPages) || !isInt(r.pages, 1, segPages - r.firstPage)) {
      return bad(`${at}.pages`, r.pages, `pages inside segment ${r.segment}'s ${segPages}`);
    }
  }
  return null;
}

function checkImage(dir: string, img: unknown, slot: 'normal' | 'crash'): string | null {
  const where = `images.${slot}`;
  if (img === null) return null;
  if (!isObj(img)) return bad(where, img, 'null or an image');
  if (img.type !== slot) return bad(`${where}.type`, img.type, `"${slot}"`);
  if (img.arch !== 'x86_64' && img.arch !== 'i386') return bad(`${where}.arch`, img.arch, 'x86_64 or i386');
  for (const k of ['start', 'head', 'controlPage'] as const) if (!isU64(img[k])) return bad(`${where}.${k}`, img[k], 'a 64-bit address {"$u64": "0x..."}');
  if (!isInt(img.flags, 0, 2 ** 32 - 1)) return bad(`${where}.flags`, img.flags, 'a 32-bit flags word');
  if (!isObj(img.info) || (img.info.syscall !== 'kexec_load' && img.info.syscall !== 'kexec_file_load')) return bad(`${where}.info`, img.info, 'the loader facts {syscall, ...}');
  if (typeof img.loadedAt !== 'string') return bad(`${where}.loadedAt`, img.loadedAt, 'a time stamp');
  return checkSegments(dir, img, where) ?? checkIndirection(dir, img, where);
}

/** The first problem of a decoded machine.json, or null when it is a machine vkexec can use. */
export function validateState(raw: unknown, dir: string): string | null {
  if (!isObj(raw)) return 'the top level is not an object';
  if (raw.version !== 1) return bad('version', raw.version, '1 (the version this vkexec reads)');
  const problem = checkConfig(raw.config) ?? checkSysctl(raw.sysctl);
  if (problem) return problem;
  if (raw.keyrings !== null) {
    try {
      keyringModule().Keyrings.fromJSON(raw.keyrings);
    } catch (e) {
      return `keyrings: ${(e as Error).message}`;
    }
  }
  const tl = raw.trustedLoaders;
  if (tl !== undefined && (!Array.isArray(tl) || tl.length > 256 || !tl.every(isBlobName))) return bad('trustedLoaders', tl, 'a list of sha256 digests (64 lowercase hex digits)');
  const imgs = raw.images;
  if (!isObj(imgs)) return bad('images', imgs, '{normal, crash}');
  return checkImage(dir, imgs.normal ?? null, 'normal') ?? checkImage(dir, imgs.crash ?? null, 'crash');
}
