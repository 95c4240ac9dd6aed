// The vmcoreinfo note's text as the machine's release writes it (kernel/crash_core.c crash_save_vmcoreinfo_init,
// kernel/printk/printk.c log_buf_vmcoreinfo_setup, kernel/kallsyms.c, arch/x86/kernel/machine_kexec_64.c
// arch_crash_save_vmcoreinfo, crash_save_vmcoreinfo's CRASHTIME at the panic). The machine holds no kernel
// data structures, so only lines that hold for every machine of the release are written (OSRELEASE, PAGESIZE,
// the release's NUMBER() constants, KERNELOFFSET), plus SYMBOL() lines for the symbols the machine was given
// with machine init --system-map (a System.map, or /proc/kallsyms of a nokaslr boot: the same addresses).
// OFFSET(), SIZE(), LENGTH() and BUILD-ID need the kernel's debug information and are absent (vkexec(8)).

import { UsageError } from '../../errno.js';
import { type FillPattern, formatFillPattern } from '../memory/fill-pattern.js';
import { type KernelRelease, kernelRelease } from '../machine/kernel-release.js';
import { type MachineConfig, PAGE_SIZE } from '../machine/machine-config.js';

/** One vmcoreinfo line of a release: a SYMBOL() from the kernel's symbols, or a fixed KEY=VALUE line. */
type InfoLine = { sym: string } | { line: string };
const sym = (name: string): InfoLine => ({ sym: name });
const num = (name: string, v: string | number): InfoLine => ({ line: `NUMBER(${name})=${v}` });

/** crash_save_vmcoreinfo_init up to the printk lines: the same on both releases apart from the vmalloc lines. */
const HEAD = [sym('init_uts_ns'), sym('node_online_map'), sym('swapper_pg_dir'), sym('_stext')];
const KALLSYMS = ['kallsyms_names', 'kallsyms_num_syms', 'kallsyms_token_table', 'kallsyms_token_index', 'kallsyms_offsets', 'kallsyms_relative_base'].map(sym);
/** arch_crash_save_vmcoreinfo (x86_64, no KASLR, 4-level paging, no SME) and KERNELOFFSET. */
const ARCH = [num('phys_base', 0), sym('init_top_pgt'), num('pgtable_l5_enabled', 0), sym('node_data'), { line: 'KERNELOFFSET=0' }, num('KERNEL_IMAGE_SIZE', 1073741824), num('sme_mask', 0)];

/**
 * The lines each release writes that hold for any machine of it, in the kernel's order, as Debian's 6.1.0-57
 * and 6.12.118 amd64 kernels wrote them in QEMU (nokaslr; test/differential/linux-kexec.test.ts). Left out,
 * because they need the kernel's debug information or its memory: BUILD-ID, OFFSET(), SIZE(), LENGTH(), and
 * SYMBOL(mem_section), whose value is the address of an array the running kernel allocated.
 */
export const VMCOREINFO_LAYOUT: Record<KernelRelease, readonly InfoLine[]> = {
  '6.1': [
    ...HEAD, sym('vmap_area_list'), num('SECTION_SIZE_BITS', 27), num('MAX_PHYSMEM_BITS', 46),
    sym('prb'), sym('printk_rb_static'), sym('clear_seq'),
    num('NR_FREE_PAGES', 0), num('PG_lru', 4), num('PG_private', 13), num('PG_swapcache', 10), num('PG_swapbacked', 19), num('PG_slab', 9),
    num('PG_hwpoison', 23), num('PG_head_mask', 65536), num('PAGE_BUDDY_MAPCOUNT_VALUE', -129), num('HUGETLB_PAGE_DTOR', 2), num('PAGE_OFFLINE_MAPCOUNT_VALUE', -257),
    ...KALLSYMS, ...ARCH,
  ],
  '6.12': [
    // VMALLOC_START and vmemmap: the defaults of page_64_types.h, as without KASLR of the memory regions.
    ...HEAD, num('VMALLOC_START', '0xffffc90000000000'), { line: 'SYMBOL(vmemmap)=ffffea0000000000' }, num('SECTION_SIZE_BITS', 27), num('MAX_PHYSMEM_BITS', 46),
    sym('prb'), sym('printk_rb_static'), sym('clear_seq'),
    num('NR_FREE_PAGES', 0), num('PG_lru', 5), num('PG_private', 14), num('PG_swapcache', 10), num('PG_swapbacked', 17), num('PAGE_SLAB_MAPCOUNT_VALUE', -184549376),
    num('PG_hwpoison', 20), num('PG_head_mask', 64), num('PAGE_BUDDY_MAPCOUNT_VALUE', -268435456), num('PAGE_HUGETLB_MAPCOUNT_VALUE', -201326592),
    num('PAGE_OFFLINE_MAPCOUNT_VALUE', -251658240),
    ...KALLSYMS, ...ARCH,
  ],
};

/** The release's SYMBOL() names. */
export function vmcoreinfoSymbols(release: KernelRelease): string[] {
  return VMCOREINFO_LAYOUT[release].flatMap((l) => ('sym' in l ? [l.sym] : []));
}

/**
 * Symbols that are macros for another object (so a System.map lists the object): swapper_pg_dir is
 * init_top_pgt (arch/x86/include/asm/pgtable_64.h); node_online_map is node_states[N_ONLINE], one nodemask_t
 * (1024 bits with Debian's NODES_SHIFT 10) after node_states (include/linux/nodemask.h).
 */
const ALIASES: Record<string, { of: string; plus: bigint }> = {
  swapper_pg_dir: { of: 'init_top_pgt', plus: 0n },
  node_online_map: { of: 'node_states', plus: 0x80n },
};

/** _stext without a System.map: the machine's kernel is linked at CONFIG_PHYSICAL_START 16 MiB, no KASLR. */
export const DEFAULT_STEXT = { x86_64: 0xffffffff81000000n, i386: 0xc1000000n } as const;

/**
 * A System.map ("ffffffff81000000 T _stext" lines; /proc/kallsyms' "[module]" column is allowed): the
 * addresses of the release's vmcoreinfo symbols. Debian's linux-image packages ship a one-line placeholder
 * System.map (the real one is in linux-image-*-dbg): refused, as is a map missing _stext.
 */
export function systemMapSymbols(text: string, source: string, release: KernelRelease): Record<string, bigint> {
  const names = vmcoreinfoSymbols(release);
  const wanted = new Set([...names, ...Object.values(ALIASES).map((a) => a.of)]);
  const found: Record<string, bigint> = {};
  let lines = 0;
  for (const raw of text.split('\n')) {
    const m = /^([0-9a-fA-F]{1,16})\s+\S\s+(\S+)(\s+\[\S+\])?\s*$/.exec(raw);
    if (!m) continue;
    lines++;
    const addr = BigInt(`0x${m[1]}`);
    if (wanted.has(m[2]!) && !m[3] && found[m[2]!] === undefined) found[m[2]!] = addr;
  }
  for (const [name, a] of Object.entries(ALIASES)) if (found[name] === undefined && found[a.of] !== undefined) found[name] = found[a.of]! + a.plus;
  for (const k of Object.keys(found)) if (!names.includes(k)) delete found[k];
  if (found._stext === undefined || found._stext === 0n) {
    const why =
      lines === 0
        ? "holds no symbols (Debian's linux-image packages ship a one-line placeholder System.map; the real one is in linux-image-<version>-dbg)"
        : 'has no _stext symbol, or only a zero address (kallsyms read without root shows zeros)';
    throw new UsageError(`--system-map ${source}: ${why}`, { hint: "give the kernel's real System.map (linux-image-<version>-dbg: /usr/lib/debug/boot/System.map-<version>) or, as root, a copy of /proc/kallsyms of a nokaslr boot" });
  }
  return found;
}

/**
 * The note's text at the panic: the release's lines, SYMBOL()s only for symbols the machine knows (_stext
 * always: the machine's kernel is linked at 16 MiB without KASLR). VKEXEC_FILL names the fill pattern, so
 * `vmcore check` can verify a dump without being told; CRASHTIME is what crash_save_vmcoreinfo appends.
 */
export function vmcoreinfoText(config: MachineConfig, opts: { fill: FillPattern | null; crashTime: bigint }): string {
  const syms: Record<string, bigint> = { _stext: DEFAULT_STEXT[config.arch], ...config.kernelSymbols };
  const lines = [`OSRELEASE=${config.osrelease}`, `PAGESIZE=${PAGE_SIZE}`];
  if (config.vmcoreinfo) {
    lines.splice(0, lines.length, ...config.vmcoreinfo); // machine init --vmcoreinfo: the kernel's own text
    if (!lines.some((l) => l.startsWith('KERNELOFFSET='))) lines.push('KERNELOFFSET=0');
  } else if (config.arch === 'x86_64') {
    for (const l of VMCOREINFO_LAYOUT[kernelRelease(config)]) {
      if (!('sym' in l)) lines.push(l.line);
      else if (syms[l.sym] !== undefined) lines.push(`SYMBOL(${l.sym})=${syms[l.sym]!.toString(16)}`);
    }
  } else {
    lines.push(`SYMBOL(_stext)=${syms._stext!.toString(16)}`); // i386: the generic symbol only
  }
  if (opts.fill) lines.push(`VKEXEC_FILL=${formatFillPattern(opts.fill)}`);
  lines.push(`CRASHTIME=${opts.crashTime}`);
  return lines.join('\n') + '\n';
}

/** The longest CRASHTIME line crash_save_vmcoreinfo appends ("CRASHTIME=%lld\n" of a time64_t). */
const CRASHTIME_MAX = 'CRASHTIME=-9223372036854775808\n'.length;
/** VMCOREINFO_BYTES (include/linux/crash_core.h): vmcoreinfo_append_str writes no text past it. */
const VMCOREINFO_TEXT_MAX = 4096;
const INFO_LINE = /^[A-Za-z_][A-Za-z0-9_-]*(\([A-Za-z0-9_.]+\))?=[\x20-\x7e]*$/;

/**
 * machine init --vmcoreinfo: a vmcoreinfo text of a real kernel (as `makedumpfile -g` writes it, or the
 * VMCOREINFO note of a real /proc/vmcore), the lines the note then carries in the machine's order. vkexec keeps
 * the lines that belong to the machine's own boot and panic: CRASHTIME (dropped here, written at the panic
 * by crash_save_vmcoreinfo) and KERNELOFFSET (the machine has no KASLR: the text must say 0 or nothing, and
 * gets KERNELOFFSET=0 when it says nothing). OSRELEASE must be the machine's release (its uname -r when
 * --osrelease is given) and PAGESIZE 4096; the text and a CRASHTIME line must fit VMCOREINFO_BYTES.
 */
export function vmcoreinfoFileLines(text: string, source: string, release: KernelRelease, osrelease: string | null): { lines: string[]; osrelease: string } {
  const lines = text.replace(/\r/g, '').split('\n').filter((l) => l !== '');
  const fix = 'give the text of a nokaslr boot of the same kernel: makedumpfile -g FILE -x vmlinux, or the VMCOREINFO note of its /proc/vmcore';
  const bad = lines.findIndex((l) => !INFO_LINE.test(l));
  if (bad >= 0) throw new UsageError(`--vmcoreinfo ${source}: line ${bad + 1} ${JSON.stringify(lines[bad]!.slice(0, 60))} is not a vmcoreinfo KEY=VALUE line (OSRELEASE=..., SYMBOL(name)=..., OFFSET(struct.member)=...)`, { hint: fix });
  const value = (key: string) => lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);
  const os = value('OSRELEASE');
  if (os === undefined) throw new UsageError(`--vmcoreinfo ${source}: no OSRELEASE= line (crash_save_vmcoreinfo_init writes it first)`, { hint: fix });
  if (!/^[\x21-\x7e]{1,64}$/.test(os)) throw new UsageError(`--vmcoreinfo ${source}: OSRELEASE=${os.slice(0, 80)} is not 1 to 64 printable characters without spaces (__NEW_UTS_LEN)`, { hint: fix });
  if (!os.startsWith(`${release}.`)) throw new UsageError(`--vmcoreinfo ${source}: OSRELEASE=${os} is not Linux ${release}, the machine's release`, { hint: `give --kernel-release ${/^\d+\.\d+/.exec(os)?.[0] ?? '6.1|6.12'} or a text of a ${release} kernel` });
  if (osrelease !== null && os !== osrelease) throw new UsageError(`--vmcoreinfo ${source}: OSRELEASE=${os} but --osrelease ${osrelease}`, { hint: 'give the text of the kernel the machine plays (or leave out --osrelease: the text names it)' });
  if (value('PAGESIZE') !== String(PAGE_SIZE)) throw new UsageError(`--vmcoreinfo ${source}: PAGESIZE=${value('PAGESIZE') ?? '(none)'}; the machine's pages are ${PAGE_SIZE} bytes`, { hint: fix });
  const offset = value('KERNELOFFSET');
  if (offset !== undefined && offset !== '0') throw new UsageError(`--vmcoreinfo ${source}: KERNELOFFSET=${offset}: the text is of a KASLR boot, its SYMBOL() addresses moved; the machine runs without KASLR`, { hint: fix });
  const kept = lines.filter((l) => !l.startsWith('CRASHTIME='));
  const bytes = kept.reduce((n, l) => n + l.length + 1, 0) + (offset === undefined ? 'KERNELOFFSET=0\n'.length : 0) + CRASHTIME_MAX;
  if (bytes > VMCOREINFO_TEXT_MAX) throw new UsageError(`--vmcoreinfo ${source}: ${bytes} bytes with the CRASHTIME line; the note holds at most ${VMCOREINFO_TEXT_MAX} (VMCOREINFO_BYTES: vmcoreinfo_append_str stops there)`, { hint: fix });
  return { lines: kept, osrelease: os };
}
