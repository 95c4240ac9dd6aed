// The uki file type of kexec-tools 2.0.32 (kexec/kexec-uki.c, x86_64 only, probed last): a unified kernel image
// is stripped of its PE envelope; the .linux section (VirtualSize bytes, as kexec-tools after 2.0.32 takes it:
// formats/uki.ts) is probed with the other file types
// and loaded by the first that takes it, the .initrd section is the initrd unless --initrd names one, and
// the .cmdline section is NOT used (kexec-uki.c defines UKI_CMDLINE_SECTION and never reads it: the command
// line is --command-line/--append/--reuse-cmdline alone). kexec-tools copies both sections to /tmp/KernelXXXXXX
// and /tmp/InitrdXXXXXX and leaves them there; vkexec reads them in place from the UKI file.
//
// On kexec_load (-c), kexec-tools 2.0.32's uki_image_load hands the inner type the UKI buffer itself, so
// bzImage64_load reads the PE headers as a setup header (run on an objcopy-built UKI: "kernel init_size 0x200",
// "locate_hole failed", exit 1); vkexec hands it the .linux section with the .initrd, as the -s path does (a
// deliberate difference, man page "UNIFIED KERNEL IMAGES").

import type { Debug } from '../../kexec/debug.js';
import { type Initrd, type KexecFileType, type LoadRequest, LoadFailed } from '../../kexec/file-type.js';
import { hex } from '../../lib/hex.js';
import { UkiFormatError, parseUki, ukiSectionBytes, ukiSectionText, type UkiImage } from '../../formats/uki.js';

/** What uki_image_probe finds: the envelope, the .linux bytes and the file type that takes them. */
export interface UkiContents {
  uki: UkiImage;
  linux: Uint8Array;
  inner: KexecFileType | null;
}

/** uki_image_probe without its side effects (temporary files): null when the file is no UKI. */
export function ukiContents(buf: Uint8Array, types: readonly KexecFileType[], debug: Debug): UkiContents | null {
  let uki: UkiImage;
  try {
    uki = parseUki(buf);
  } catch (e) {
    if (!(e instanceof UkiFormatError)) throw e;
    debug.print(e.kexecToolsText ?? e.message);
    return null;
  }
  const linux = ukiSectionBytes(buf, uki.linux);
  const quiet: Debug = { enabled: false, print: () => {} };
  const inner = types.find((t) => t.name !== 'uki' && t.probe(linux, quiet)) ?? null;
  return { uki, linux, inner };
}

/** The .initrd section as an initrd read in place from the UKI file. */
export function ukiInitrd(path: string, c: UkiContents): Initrd | null {
  const s = c.uki.initrd;
  return s ? { path, size: s.size, offset: s.offset } : null;
}

/** The -d lines both paths print about a UKI: what is taken and what is left. */
export function ukiDebugLines(buf: Uint8Array, c: UkiContents, userInitrd: boolean, cmdline: string | null): string[] {
  const { uki } = c;
  const lines = [`uki: .linux ${uki.linux.size} bytes at ${hex(uki.linux.offset)}, loaded as ${c.inner?.name ?? '(nothing)'}`];
  if (uki.initrd) lines.push(`uki: .initrd ${uki.initrd.size} bytes at ${hex(uki.initrd.offset)}${userInitrd ? ' not used: --initrd names the initrd' : ' is the initrd'}`);
  const embedded = ukiSectionText(buf, uki.cmdline);
  if (embedded !== null) {
    lines.push(`uki: .cmdline "${embedded.trim()}" not used (kexec-tools 2.0.32 passes only --command-line/--append/--reuse-cmdline: "${cmdline ?? ''}")`);
  }
  return lines;
}

/** The uki file type; `types` is the file_type[] it belongs to (its probe walks them for the .linux section). */
export function ukiFileType(types: () => readonly KexecFileType[]): KexecFileType {
  return {
    name: 'uki',
    // uki_image_probe: a PE with a .linux section some other file type takes.
    probe(buf, debug) {
      const c = ukiContents(buf, types(), debug);
      if (c && !c.inner) debug.print('Can not recognize the kernel format in .linux section');
      if (c?.inner) debug.print(`A UKI: its .linux section (${c.linux.length} bytes) is a ${c.inner.name}`);
      return Boolean(c?.inner);
    },
    // uki_image_load -> file_type[embeded_linux_format_index].load, with the .linux section (see above).
    load(req: LoadRequest, info) {
      const c = ukiContents(req.kernel, types(), info.debug);
      if (!c?.inner) {
        throw new LoadFailed(`${req.kernelPath}: not a UKI whose .linux section a file type takes`, 'vkexec inspect shows the sections and what each probe says of .linux');
      }
      for (const line of ukiDebugLines(req.kernel, c, req.initrd !== null, req.cmdline)) info.debug.print(line);
      return c.inner.load({ ...req, kernel: c.linux, initrd: req.initrd ?? ukiInitrd(req.kernelPath, c) }, info);
    },
    // uki_image_load with info->file_mode: info->kernel_fd is the .linux copy, implicit_initrd_fd the .initrd.
    fileMode(buf, all, o) {
      const c = ukiContents(buf, all, { enabled: false, print: () => {} });
      if (!c?.inner) throw new LoadFailed('Can not recognize the kernel format in .linux section', 'vkexec inspect shows the sections and what each probe says of .linux');
      const s = c.uki.initrd;
      return {
        kernel: c.linux, what: '(.linux section)', inner: c.inner.name,
        initrd: s ? { offset: s.offset, length: s.size } : null,
        debug: ukiDebugLines(buf, c, o.initrd, o.cmdline),
      };
    },
  };
}
