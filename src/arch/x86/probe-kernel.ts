// vkexec's probe kernel: the committed images (built by src/arch/x86/probe-kernel/build.sh) and a parser for
// the report the probe prints on COM1. The report format is specified at the top of probe-kernel/probe.c.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../errno.js';

export type ProbeImageKind = 'bzImage' | 'elf' | 'multiboot';

const IMAGE_FILE: Record<ProbeImageKind, string> = { bzImage: 'probe-bzImage', elf: 'probe-vmlinux', multiboot: 'probe-multiboot' };

export const PROBE_BEGIN = 'VKEXEC-PROBE-BEGIN';
export const PROBE_END = 'VKEXEC-PROBE-END';
export const PROBE_POWEROFF = 'VKEXEC-PROBE-POWEROFF';
/** The byte the probe writes to isa-debug-exit (port 0x501); QEMU then exits with (0x31 << 1) | 1 = 99. */
export const PROBE_DEBUG_EXIT_VALUE = 0x31;

// This module runs as dist/src/arch/x86/probe-kernel.js (compiled) or src/arch/x86/probe-kernel.ts (from source);
// the images always live in the package's src/arch/x86/probe-kernel/.
const IMAGE_DIR_CANDIDATES = ['../../../../src/arch/x86/probe-kernel/', './probe-kernel/'];

/** Folder holding the probe kernel's sources and committed images. */
export function probeKernelDir(): string {
  for (const rel of IMAGE_DIR_CANDIDATES) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new UsageError('probe kernel: folder src/arch/x86/probe-kernel/ not found beside this package', {
    hint: 'reinstall vkexec; the package must ship src/arch/x86/probe-kernel/',
  });
}

/** Path of a committed probe image (for engines that take a file, e.g. QEMU -kernel). */
export function probeKernelPath(kind: ProbeImageKind): string {
  const path = probeKernelDir() + IMAGE_FILE[kind];
  if (!existsSync(path)) {
    throw new UsageError(`probe kernel: ${path} is missing`, {
      hint: 'run src/arch/x86/probe-kernel/build.sh (needs gcc and binutils) to rebuild it',
    });
  }
  return path;
}

/** The committed probe-bzImage (boot protocol 2.15 bzImage), probe-vmlinux (ELF64 ET_EXEC) or probe-multiboot (ELF32 with Multiboot v1 and v2 headers). */
export function probeKernelImage(kind: ProbeImageKind): Uint8Array {
  return new Uint8Array(readFileSync(probeKernelPath(kind)));
}

export interface ProbeE820Entry {
  addr: bigint;
  size: bigint;
  type: number;
}

export interface ProbeSetupData {
  addr: bigint;
  /** False when the node's header or data could not be read (above 4 GiB in 32-bit mode). */
  reachable: boolean;
  type?: number;
  len?: number;
  /** First bytes of the payload (up to 32); absent for SETUP_RNG_SEED and SETUP_INDIRECT. */
  data?: Uint8Array;
  indirect?: { type: number; len: bigint; addr: bigint };
}

export interface ProbePhdr {
  type: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
}

export interface ProbeElfCoreHeader {
  addr: bigint;
  /** From elfcorehdr=SIZE@ADDR. */
  size?: bigint;
  state: 'ok' | 'bad-magic' | 'unreachable';
  class?: 32 | 64;
  type?: number;
  machine?: number;
  phoff?: bigint;
  phnum?: number;
  /** Listed program headers, by index (the probe lists at most 64). */
  phdrs: ProbePhdr[];
}

export interface ProbeBootNotes {
  addr: bigint;
  size: bigint;
  records: number;
  bootloader?: string;
  bootloaderVersion?: string;
  cmdline?: string;
}

export interface ProbeReport {
  /** Report format version (1). */
  version: number;
  entry: 32 | 64;
  loadAddr: bigint;
  bootParams: bigint;
  /** RDI at the 64-bit entry. */
  rdi?: bigint;
  /** Setup header fields as seen in boot_params, by boot protocol name (e.g. version, loadflags). */
  hdr: Record<string, bigint>;
  /** Other boot_params fields: ext_ramdisk_image, ext_ramdisk_size, ext_cmd_line_ptr, acpi_rsdp_addr, ... */
  bp: Record<string, bigint>;
  /** Absent when boot_params was 0. */
  cmdline?: {
    addr: bigint;
    state: 'ok' | 'none' | 'unreachable';
    /** The bytes before the NUL, one char per byte (latin1). */
    text?: string;
    truncated: boolean;
  };
  initrd?: {
    addr: bigint;
    size: bigint;
    state: 'ok' | 'none' | 'unreachable';
    /** Lowercase hex, computed in the guest. */
    sha256?: string;
  };
  e820: ProbeE820Entry[];
  e820Count?: number;
  setupData: ProbeSetupData[];
  setupDataTruncated: boolean;
  elfcorehdr?: ProbeElfCoreHeader;
  bootnotes?: ProbeBootNotes;
  /** The probe printed VKEXEC-PROBE-POWEROFF after the report (engines without isa-debug-exit). */
  poweroff: boolean;
  /** Every key: value line of the report, as printed. */
  raw: Map<string, string>;
  /** Lines inside the report that are not key: value (console noise). */
  noise: string[];
}

const KEY_LINE = /^([a-z0-9_.]+): (.*)$/;

export function reportError(detail: string): UsageError {
  return new UsageError(`probe report: ${detail}`, {
    hint: 'the guest console must hold the probe kernel\'s report (format: src/arch/x86/probe-kernel/probe.c)',
  });
}

export function parseHex(key: string, v: string): bigint {
  if (!/^0x[0-9a-f]+$/.test(v)) throw reportError(`${key}: expected a 0x number, got "${v}"`);
  return BigInt(v);
}

export function parseDec(key: string, v: string): number {
  if (!/^[0-9]+$/.test(v)) throw reportError(`${key}: expected a decimal count, got "${v}"`);
  return Number(v);
}

export function parseSmallHex(key: string, v: string): number {
  const n = parseHex(key, v);
  if (n > 0xffffffffn) throw reportError(`${key}: ${v} does not fit 32 bits`);
  return Number(n);
}

/** Decodes the probe's quoted string: \" \\ \xHH escapes, one char per byte. */
export function parseQuoted(key: string, v: string): string {
  if (v.length < 2 || v[0] !== '"' || v[v.length - 1] !== '"') throw reportError(`${key}: expected a quoted string`);
  let out = '';
  for (let i = 1; i < v.length - 1; i++) {
    const c = v[i];
    if (c !== '\\') {
      if (c === '"') throw reportError(`${key}: unescaped quote inside the string`);
      out += c;
      continue;
    }
    const e = v[++i];
    if (e === '"' || e === '\\') out += e;
    else if (e === 'x' && /^[0-9a-f]{2}$/.test(v.slice(i + 1, i + 3))) {
      out += String.fromCharCode(parseInt(v.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw reportError(`${key}: bad escape at offset ${i}`);
  }
  return out;
}

export interface RecordTokens {
  values: Map<string, string>;
  flags: Set<string>;
}

export function parseRecord(v: string): RecordTokens {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (const tok of v.split(' ').filter((t) => t !== '')) {
    const eq = tok.indexOf('=');
    if (eq < 0) flags.add(tok);
    else values.set(tok.slice(0, eq), tok.slice(eq + 1));
  }
  return { values, flags };
}

export function field(key: string, r: RecordTokens, name: string): string {
  const v = r.values.get(name);
  if (v === undefined) throw reportError(`${key}: missing ${name}=`);
  return v;
}

/** The value of a line that must be present. */
type Need = (key: string) => string;

/** cmdline.addr / cmdline: where the command line is and its text. */
function readCmdline(raw: Map<string, string>, need: Need, report: ProbeReport): void {
  const cmdAddr = raw.get('cmdline.addr');
  if (cmdAddr !== undefined) {
    const v = need('cmdline');
    const state = v === 'none' || v === 'unreachable' ? v : 'ok';
    report.cmdline = { addr: parseHex('cmdline.addr', cmdAddr), state, truncated: raw.get('cmdline.truncated') === '1' };
    if (state === 'ok') report.cmdline.text = parseQuoted('cmdline', v);
  }
}

/** initrd.addr / initrd.size / initrd.sha256. */
function readInitrd(raw: Map<string, string>, need: Need, report: ProbeReport): void {
  const initrdAddr = raw.get('initrd.addr');
  if (initrdAddr !== undefined) {
    const sha = need('initrd.sha256');
    const state = sha === 'none' || sha === 'unreachable' ? sha : 'ok';
    if (state === 'ok' && !/^[0-9a-f]{64}$/.test(sha)) throw reportError(`initrd.sha256: "${sha}" is not a sha256`);
    report.initrd = {
      addr: parseHex('initrd.addr', initrdAddr),
      size: parseHex('initrd.size', need('initrd.size')),
      state,
    };
    if (state === 'ok') report.initrd.sha256 = sha;
  }
}

/** e820.count and the e820.N records. */
function readE820(raw: Map<string, string>, report: ProbeReport): void {
  const e820Count = raw.get('e820.count');
  if (e820Count !== undefined) report.e820Count = parseDec('e820.count', e820Count);
  for (let i = 0; raw.has(`e820.${i}`); i++) {
    const key = `e820.${i}`;
    const r = parseRecord(raw.get(key)!);
    report.e820.push({
      addr: parseHex(key, field(key, r, 'addr')),
      size: parseHex(key, field(key, r, 'size')),
      type: parseSmallHex(key, field(key, r, 'type')),
    });
  }
}

/** The setup_data.N records of the setup_data list. */
function readSetupData(raw: Map<string, string>, report: ProbeReport): void {
  for (let i = 0; raw.has(`setup_data.${i}`); i++) {
    const key = `setup_data.${i}`;
    const r = parseRecord(raw.get(key)!);
    const node: ProbeSetupData = { addr: parseHex(key, field(key, r, 'addr')), reachable: !r.flags.has('unreachable') };
    if (r.values.has('type')) node.type = parseSmallHex(key, field(key, r, 'type'));
    if (r.values.has('len')) node.len = parseSmallHex(key, field(key, r, 'len'));
    const data = r.values.get('data');
    if (data !== undefined) {
      if (!/^([0-9a-f]{2})*$/.test(data)) throw reportError(`${key}: data= is not hex bytes`);
      node.data = Uint8Array.from(Buffer.from(data, 'hex'));
    }
    if (r.values.has('indirect_type')) {
      node.indirect = {
        type: parseSmallHex(key, field(key, r, 'indirect_type')),
        len: parseHex(key, field(key, r, 'indirect_len')),
        addr: parseHex(key, field(key, r, 'indirect_addr')),
      };
    }
    report.setupData.push(node);
  }
}

/** elfcorehdr.*: the ELF core header the crash kernel was handed. */
function readElfCoreHeader(raw: Map<string, string>, need: Need, report: ProbeReport): void {
  const coreAddr = raw.get('elfcorehdr.addr');
  if (coreAddr !== undefined) {
    const ehdr = need('elfcorehdr.ehdr');
    const core: ProbeElfCoreHeader = {
      addr: parseHex('elfcorehdr.addr', coreAddr),
      state: ehdr === 'bad-magic' || ehdr === 'unreachable' ? ehdr : 'ok',
      phdrs: [],
    };
    const size = raw.get('elfcorehdr.size');
    if (size !== undefined) core.size = parseHex('elfcorehdr.size', size);
    if (core.state === 'ok') {
      const r = parseRecord(ehdr);
      const cls = parseDec('elfcorehdr.ehdr', field('elfcorehdr.ehdr', r, 'class'));
      if (cls !== 32 && cls !== 64) throw reportError(`elfcorehdr.ehdr: class=${cls}`);
      core.class = cls;
      core.type = parseSmallHex('elfcorehdr.ehdr', field('elfcorehdr.ehdr', r, 'type'));
      core.machine = parseSmallHex('elfcorehdr.ehdr', field('elfcorehdr.ehdr', r, 'machine'));
      core.phoff = parseHex('elfcorehdr.ehdr', field('elfcorehdr.ehdr', r, 'phoff'));
      core.phnum = parseDec('elfcorehdr.ehdr', field('elfcorehdr.ehdr', r, 'phnum'));
      for (let i = 0; i < core.phnum; i++) {
        const key = `elfcorehdr.phdr.${i}`;
        const v = raw.get(key);
        if (v === undefined) continue;
        const p = parseRecord(v);
        core.phdrs.push({
          type: parseSmallHex(key, field(key, p, 'type')),
          offset: parseHex(key, field(key, p, 'offset')),
          vaddr: parseHex(key, field(key, p, 'vaddr')),
          paddr: parseHex(key, field(key, p, 'paddr')),
          filesz: parseHex(key, field(key, p, 'filesz')),
          memsz: parseHex(key, field(key, p, 'memsz')),
        });
      }
    }
    report.elfcorehdr = core;
  }
}

/** bootnotes.*: the boot notes the probe found. */
function readBootNotes(raw: Map<string, string>, need: Need, report: ProbeReport): void {
  const notesAddr = raw.get('bootnotes.addr');
  if (notesAddr !== undefined) {
    const notes: ProbeBootNotes = {
      addr: parseHex('bootnotes.addr', notesAddr),
      size: parseHex('bootnotes.size', need('bootnotes.size')),
      records: parseDec('bootnotes.records', need('bootnotes.records')),
    };
    const bl = raw.get('bootnotes.bootloader');
    if (bl !== undefined) notes.bootloader = parseQuoted('bootnotes.bootloader', bl);
    const blv = raw.get('bootnotes.bootloader_version');
    if (blv !== undefined) notes.bootloaderVersion = parseQuoted('bootnotes.bootloader_version', blv);
    const cl = raw.get('bootnotes.cmdline');
    if (cl !== undefined) notes.cmdline = parseQuoted('bootnotes.cmdline', cl);
    report.bootnotes = notes;
  }
}

function parseBlock(lines: string[], poweroff: boolean): ProbeReport {
  const raw = new Map<string, string>();
  const noise: string[] = [];
  for (const line of lines) {
    const m = KEY_LINE.exec(line);
    if (!m) {
      if (line.trim() !== '') noise.push(line);
      continue;
    }
    raw.set(m[1]!, m[2]!);
  }
  const need = (key: string): string => {
    const v = raw.get(key);
    if (v === undefined) throw reportError(`the line "${key}: ..." is missing`);
    return v;
  };

  const version = parseDec('probe', need('probe'));
  if (version !== 1) throw reportError(`format version ${version} is not understood (this vkexec reads 1)`);
  const entryNum = parseDec('entry', need('entry'));
  if (entryNum !== 32 && entryNum !== 64) throw reportError(`entry: ${entryNum} is neither 32 nor 64`);

  const report: ProbeReport = {
    version,
    entry: entryNum,
    loadAddr: parseHex('load_addr', need('load_addr')),
    bootParams: parseHex('boot_params', need('boot_params')),
    hdr: {},
    bp: {},
    e820: [],
    setupData: [],
    setupDataTruncated: raw.get('setup_data.truncated') === '1',
    poweroff,
    raw,
    noise,
  };
  const rdi = raw.get('rdi');
  if (rdi !== undefined) report.rdi = parseHex('rdi', rdi);

  for (const [key, v] of raw) {
    if (key.startsWith('hdr.')) report.hdr[key.slice(4)] = parseHex(key, v);
    else if (key.startsWith('bp.')) report.bp[key.slice(3)] = parseHex(key, v);
  }

  readCmdline(raw, need, report);
  readInitrd(raw, need, report);
  readE820(raw, report);
  readSetupData(raw, report);
  readElfCoreHeader(raw, need, report);
  readBootNotes(raw, need, report);
  return report;
}

/**
 * Every complete probe report in a console capture, in order. Text outside BEGIN/END is ignored, as are
 * lines inside that are not "key: value" (kept in `noise`); the markers may follow other text on their line.
 */
export function parseProbeReports(text: string): ProbeReport[] {
  const lines = text.split(/\r?\n/).map((l) => l.replace(/\r/g, ''));
  const reports: ProbeReport[] = [];
  let open = -1;
  let sawBegin = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.includes(PROBE_BEGIN)) {
      open = i + 1;
      sawBegin = true;
    } else if (line.includes(PROBE_END) && open >= 0) {
      let poweroff = false;
      for (let j = i + 1; j < lines.length && !lines[j]!.includes(PROBE_BEGIN); j++) {
        if (lines[j]!.includes(PROBE_POWEROFF)) poweroff = true;
      }
      reports.push(parseBlock(lines.slice(open, i), poweroff));
      open = -1;
    }
  }
  if (reports.length === 0) {
    throw reportError(
      sawBegin
        ? `${PROBE_BEGIN} was printed but ${PROBE_END} never was: the probe stopped mid-report or the console was cut`
        : `no ${PROBE_BEGIN} line in the console output: the probe kernel never ran`,
    );
  }
  return reports;
}

/** The last complete probe report in a console capture (a kexec chain of probes prints one per boot). */
export function parseProbeReport(text: string): ProbeReport {
  const all = parseProbeReports(text);
  return all[all.length - 1]!;
}
