// machine init's --iomem and --memmap: a real machine's /proc/iomem and its firmware map
// (/sys/firmware/memmap, as a saved tree or as text). Given --memmap alone, /proc/iomem is derived from it as
// Linux derives it; given both, each view is the real machine's own.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, fileErrorText } from '../errno.js';
import { type FirmwareMapEntry, MemmapParseError, iomemFromFirmware, memmapFromTree, parseMemmapText } from '../vm/machine/firmware-map.js';
import { IomemParseError, parseIomem, systemRam } from '../vm/machine/iomem.js';
import { KERNEL_RESOURCES, type MachineConfig } from '../vm/machine/machine-config.js';

function readText(file: string, option: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read --${option} file ${file}: ${fileErrorText(e)}`, { hint: `give the path of a saved ${option === 'iomem' ? '/proc/iomem' : '/sys/firmware/memmap'}` });
  }
}

/** A saved /sys/firmware/memmap directory (N/start, N/end, N/type) or a text file of its lines. */
function readMemmap(p: string): FirmwareMapEntry[] {
  const hint = 'save it with: for d in /sys/firmware/memmap/*; do echo "$(cat $d/start)-$(cat $d/end) : $(cat $d/type)"; done (as root), or copy the directory';
  try {
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) {
      const files = new Map<number, { start: string; end: string; type: string }>();
      for (const n of fs.readdirSync(p).filter((d) => /^\d+$/.test(d))) {
        const f = (name: string) => readText(path.join(p, n, name), 'memmap');
        files.set(Number(n), { start: f('start'), end: f('end'), type: f('type') });
      }
      return memmapFromTree(files, p);
    }
    return parseMemmapText(readText(p, 'memmap'), p);
  } catch (e) {
    if (e instanceof MemmapParseError) throw new UsageError(e.message, { hint });
    throw e;
  }
}

/** Sets config.iomem (and config.firmwareMap) from the options; at least one of them is given. */
export function applyMapOptions(config: MachineConfig, iomem: string | undefined, memmap: string | undefined): void {
  if (memmap) {
    config.firmwareMap = readMemmap(memmap);
    if (!iomem) config.iomem = iomemFromFirmware(config.firmwareMap, KERNEL_RESOURCES);
  }
  if (iomem) {
    try {
      config.iomem = parseIomem(readText(iomem, 'iomem'), iomem);
    } catch (e) {
      if (e instanceof IomemParseError) throw new UsageError(e.message, { hint: 'the file must look like /proc/iomem: "START-END : NAME" lines, children indented by two spaces' });
      throw e;
    }
  }
  if (!systemRam(config.iomem).some((r) => r.end >= 0x100000n)) {
    throw new UsageError(`${iomem ?? memmap}: no System RAM above 1 MiB`, { hint: 'copy the files from a machine as root (addresses read as zero otherwise)' });
  }
}
