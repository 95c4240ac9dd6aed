// The guest's RAM as QEMU maps it (memory-backend-file, share=off): a sparse RAM-sized file holding every extent
// at its file offset (qemu-layout.ts maps guest-physical addresses to offsets) and the stub's parameters.

import { open } from 'node:fs/promises';
import { KexecError } from '../../errno.js';
import { STUB_PARAMS_ADDR } from '../../arch/x86/stub/params.js';
import type { MemoryImage } from '../memory/memory-image.js';
import { writeMemoryImage } from '../memory/ram-writer.js';
import { qemuRamRegions, ramFileOffset } from './qemu-layout.js';

export async function writeRamFile(path: string, image: MemoryImage, params: Uint8Array): Promise<void> {
  const regions = qemuRamRegions(image.ramSize);
  const fh = await open(path, 'wx');
  try {
    await fh.truncate(Number(image.ramSize));
    await writeMemoryImage(image, {
      rule: 'qemu memory-backend',
      writesZeros: false, // a new sparse file reads as zeros
      write: async (data, addr) => {
        await fh.write(data, 0, data.length, Number(ramFileOffset(regions, addr, BigInt(data.length))!));
      },
    });
    await fh.write(params, 0, params.length, Number(STUB_PARAMS_ADDR));
  } catch (err) {
    if (err instanceof KexecError) throw err;
    throw new KexecError('EIO', 'qemu memory-backend', `cannot write the guest RAM file ${path}: ${(err as Error).message}`, {
      value: path,
      hint: 'set TMPDIR to a filesystem with room for the loaded segments (the RAM file is sparse)',
    });
  } finally {
    await fh.close();
  }
}
