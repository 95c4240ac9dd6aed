// -s (kexec_file_load) places Debian's kernel where Linux's bzImage64 loader would on the same memory map: the
// expected addresses are computed here from the kernel's rules (kexec_add_buffer + kexec_locate_mem_hole top-down
// over the System RAM ranges of /proc/iomem, bzImage64_load's sizes and alignments), then compared with what the
// real binary reports in --json and prints under -d.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixture } from '../helpers/fixtures.js';
import { tempDir, vkexec, type Run } from '../helpers/cli.js';
import { removeDir } from '../sig/sig-fixtures-lib.js';

const PAGE = 4096n;
const alignUp = (v: bigint, a: bigint) => ((v + a - 1n) / a) * a;
const alignDown = (v: bigint, a: bigint) => (v / a) * a;
const hex = (v: bigint) => '0x' + v.toString(16);

interface Range {
  start: bigint;
  end: bigint; // inclusive
}
interface Placed {
  mem: bigint;
  memsz: bigint;
  bufsz: bigint;
}
interface Buf {
  bufsz: bigint;
  memsz: bigint;
  align: bigint;
  min: bigint;
}

/**
 * kexec_add_buffer + kexec_locate_mem_hole, top-down (bzImage64 passes buf_max ULONG_MAX): highest System RAM
 * range first, a range too small or below buf_min skipped, one page down on each overlap.
 */
function addBuffer(ram: Range[], placed: Placed[], b: Buf): bigint {
  const memsz = alignUp(b.memsz, PAGE);
  const align = b.align > PAGE ? b.align : PAGE;
  for (const r of [...ram].sort((x, y) => (y.start > x.start ? 1 : -1))) {
    if (r.end - r.start + 1n < memsz || r.end < b.min) continue;
    let start = r.end - memsz + 1n;
    for (;;) {
      start = alignDown(start, align);
      if (start < r.start || start < b.min) break;
      const end = start + memsz - 1n;
      if (placed.some((p) => end >= p.mem && start <= p.mem + p.memsz - 1n)) {
        start -= PAGE;
        continue;
      }
      placed.push({ mem: start, memsz, bufsz: b.bufsz });
      return start;
    }
  }
  throw new Error('no hole (EADDRNOTAVAIL)');
}

/** bzImage64_load's segments for this kernel, command line and initrd, in its order. */
function linuxLayout(ram: Range[], kernel: Buffer, cmdline: string, initrdSize: bigint | null, purgatory: { bufsz: bigint; memsz: bigint }): Placed[] {
  const placed: Placed[] = [];
  // Purgatory: buf_min 0x3000, top-down; its size is vkexec's purgatory object's (the only input not from Linux).
  addBuffer(ram, placed, { ...purgatory, align: PAGE, min: 0x3000n });
  // boot_params (4 KiB) + command line (cmdline_len with its NUL) + room for "elfcorehdr=0x... " (30), aligned to
  // 16, then setup_data headers (16 bytes each) for the EFI map (96) and the RNG seed (32); no IMA slot
  // (Debian's 6.1 and 6.12 build without CONFIG_IMA_KEXEC: both log bufsz=0x10e0 for a 23-byte line).
  const cmdlineLen = BigInt(Buffer.byteLength(cmdline) + 1);
  const bpBufsz = alignUp(4096n + cmdlineLen + 30n, 16n) + 16n + 96n + 16n + 32n;
  addBuffer(ram, placed, { bufsz: bpBufsz, memsz: bpBufsz, align: 16n, min: 0x3000n });
  const setupSects = kernel[0x1f1] || 4;
  const kern16 = BigInt((setupSects + 1) * 512);
  const pref = kernel.readBigUInt64LE(0x258);
  addBuffer(ram, placed, {
    bufsz: BigInt(kernel.length) - kern16,
    memsz: alignUp(BigInt(kernel.readUInt32LE(0x260)), PAGE),
    align: BigInt(kernel.readUInt32LE(0x230)),
    min: pref > 0x100000n ? pref : 0x100000n,
  });
  if (initrdSize !== null) addBuffer(ram, placed, { bufsz: initrdSize, memsz: initrdSize, align: PAGE, min: 0x1000000n });
  return placed;
}

function systemRam(iomem: string): Range[] {
  return [...iomem.matchAll(/^([0-9a-f]+)-([0-9a-f]+) : System RAM$/gm)].map((m) => ({ start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]) }));
}

let work: string;
const KERNEL = () => fixture('vmlinuz-amd64');

function ok(r: Run): Run {
  assert.equal(r.code, 0, r.stderr);
  return r;
}

function check(mem: string, initrd: string | null, cmdline: string): { segs: Placed[]; stderr: string; expected: Placed[] } {
  const m = join(work, `m-${mem}-${Math.random().toString(16).slice(2)}`);
  ok(vkexec(m, ['machine', 'init', '--mem', mem]));
  const ram = systemRam(ok(vkexec(m, ['machine', 'show', '--file', '/proc/iomem'])).stdout);
  const r = ok(vkexec(m, ['--json', '-s', '-d', '-l', KERNEL(), '--append', cmdline, ...(initrd ? ['--initrd', initrd] : [])]));
  const segs = (JSON.parse(r.stdout).segments as { mem: string; memsz: string; bufsz: number }[]).map((s) => ({ mem: BigInt(s.mem), memsz: BigInt(s.memsz), bufsz: BigInt(s.bufsz) }));
  const expected = linuxLayout(ram, readFileSync(KERNEL()), cmdline, initrd ? BigInt(readFileSync(initrd).length) : null, segs[0]!);
  return { segs, stderr: r.stderr, expected };
}

before(() => {
  work = tempDir('vkexec-file-load-');
});
after(() => removeDir(work));

describe('-s segment layout equals Linux bzImage64_load on the same map', () => {
  it('512 MiB, 1.9 MiB initramfs: purgatory and boot_params at the top of RAM, kernel below, initrd under the kernel', () => {
    const initrd = fixture('initramfs-busybox-amd64.cpio');
    const { segs, stderr, expected } = check('512M', initrd, 'console=ttyS0');
    assert.deepEqual(segs, expected);
    const [p, bp, k, rd] = expected;
    assert.equal(k!.mem, 0x1c000000n, 'the highest 2 MiB-aligned hole for init_size');
    assert.ok(rd!.mem + rd!.memsz === k!.mem, 'the initrd does not fit the gap above the kernel, so it ends where the kernel starts');
    // kexec_dprintk lines, in the kernel's words.
    assert.match(stderr, new RegExp([
      `^kexec-bzImage64: Loaded purgatory at ${hex(p!.mem)}$`,
      `^kexec-bzImage64: Loaded boot_param, command line and misc at ${hex(bp!.mem)} bufsz=${hex(bp!.bufsz)} memsz=${hex(bp!.memsz)}$`,
      `^kexec-bzImage64: Loaded 64bit kernel at ${hex(k!.mem)} bufsz=${hex(k!.bufsz)} memsz=${hex(k!.memsz)}$`,
      // memsz is the initrd's length, as Debian's 6.1 and 6.12 print it (not the segment's rounded memsz).
      `^kexec-bzImage64: Loaded initrd at ${hex(rd!.mem)} bufsz=${hex(rd!.bufsz)} memsz=${hex(rd!.bufsz)}$`,
      '^kexec-bzImage64: Final command line is: console=ttyS0$',
      '^kexec_file: nr_segments = 4$',
    ].join('\n[^]*?'), 'm'));
  });

  it('512 MiB, 8 KiB initrd: squeezed into the gap between the kernel\'s end and boot_params, as the step-down search finds it', () => {
    const initrd = join(work, 'small.img');
    writeFileSync(initrd, randomBytes(8192));
    const { segs, expected } = check('512M', initrd, 'console=ttyS0 quiet');
    assert.deepEqual(segs, expected);
    const [, bp, k, rd] = expected;
    assert.ok(rd!.mem > k!.mem + k!.memsz - 1n && rd!.mem + rd!.memsz <= bp!.mem, `initrd at ${hex(rd!.mem)} lies between kernel and boot_params`);
  });

  it('5 GiB (RAM above 4 GiB): every segment in the highest RAM range, above 4 GiB', () => {
    const { segs, stderr, expected } = check('5G', null, 'console=ttyS0');
    assert.deepEqual(segs, expected);
    assert.equal(segs.length, 3);
    assert.ok(segs.every((s) => s.mem >= 1n << 32n), segs.map((s) => hex(s.mem)).join(' '));
    assert.match(stderr, new RegExp(`^kexec-bzImage64: Loaded 64bit kernel at ${hex(expected[2]!.mem)} `, 'm'));
  });
});
