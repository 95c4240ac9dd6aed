// A machine cloned from a real QEMU/SeaBIOS guest (Debian 6.1.0-57's /proc/iomem, 1 GiB, crashkernel=192M):
// its RAM ends 128 KiB below a MiB boundary (SeaBIOS reserves the top of guest RAM), and it must still panic:
// machine_kexec hands the engines the whole MiB-rounded RAM, and the capture kernel's e820 keeps the reserved
// top entry. Placements on this map are those the real 6.1 and 6.12 kernels logged (test/differential).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { X86_KEXEC_FILE_LOADERS } from '../../../src/loaders/index.js';
import { KEXEC_FILE_ON_CRASH, kexecFileLoad } from '../../../src/vm/kernel/kexec-file.js';
import { machineKexec } from '../../../src/vm/kernel/machine-kexec.js';
import { checkImageForQemu } from '../../../src/vm/engines/qemu-layout.js';
import { MemoryReader } from '../../../src/vm/memory/memory-reader.js';
import { readE820 } from '../../../src/arch/x86/boot-params.js';
import { readState } from '../../../src/vm/machine/machine.js';
import { fixture } from '../../helpers/fixtures.js';
import { tempDir, vkexec } from '../../helpers/cli.js';

/** /proc/iomem of Debian 6.1.0-57 under qemu-system-x86_64 -m 1G (SeaBIOS), booted with crashkernel=192M. */
export const SEABIOS_1G_IOMEM = `00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000c0000-000c9bff : Video ROM
000ca000-000cadff : Adapter ROM
000cb000-000cb5ff : Adapter ROM
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-3ffdffff : System RAM
  01000000-01e01d31 : Kernel code
  02000000-028eafff : Kernel rodata
  02a00000-02c4897f : Kernel data
  03310000-043fffff : Kernel bss
  32000000-3dffffff : Crash kernel
3ffe0000-3fffffff : Reserved
40000000-febfffff : PCI Bus 0000:00
  fd000000-fdffffff : 0000:00:02.0
fec00000-fec003ff : IOAPIC 0
fed00000-fed003ff : HPET 0
fee00000-fee00fff : Local APIC
fffc0000-ffffffff : Reserved
100000000-17fffffff : PCI Bus 0000:00
fd00000000-ffffffffff : Reserved
`;

function clone(release: '6.1' | '6.12'): string {
  const dir = tempDir('vkexec-clone-');
  fs.writeFileSync(path.join(dir, 'iomem'), SEABIOS_1G_IOMEM);
  const m = path.join(dir, 'm');
  const r = vkexec(m, ['machine', 'init', '--iomem', path.join(dir, 'iomem'), '--kernel-release', release]);
  assert.equal(r.code, 0, r.stderr);
  return m;
}

for (const release of ['6.1', '6.12'] as const) {
  test(`Linux ${release}: a crash image on a cloned SeaBIOS machine is handed to QEMU whole, reserved top entry kept`, () => {
    const m = clone(release);
    const r = kexecFileLoad(m, { kernel: { kind: 'path', path: fixture('vmlinuz-amd64-unsigned') }, initrd: null, cmdline: Buffer.from('console=ttyS0\0'), flags: KEXEC_FILE_ON_CRASH | 4 }, X86_KEXEC_FILE_LOADERS);
    const state = readState(m);
    assert.equal(state.config.memBytes, 0x3ffe0000n, 'the guest RAM ends below a MiB boundary');
    const { memory, entry } = machineKexec(m, state, r.image!);
    assert.equal(memory.ramSize, 1n << 30n, 'the engine backs the whole 1 GiB the guest had');
    assert.doesNotThrow(() => checkImageForQemu(memory, entry));
    // Both releases put the purgatory at the top of the crash region (6.1 one page lower: its off-by-one).
    const purg = r.image!.segments[1]!;
    assert.equal(purg.mem, release === '6.1' ? 0x3dffa000n : 0x3dffb000n);
    const params = r.image!.segments[2]!;
    const e820 = readE820(new MemoryReader(memory).read(params.mem, 4096));
    assert.ok(e820.some((e) => e.addr === 0x3ffe0000n && e.size === 0x20000n && e.type === 2), 'the reserved top of RAM is in the capture e820');
  });
}
