import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { KexecError } from '../../../src/errno.js';
import { defaultConfig, newState, readState, writeState } from '../../../src/vm/machine/machine.js';
import { defaultIomem, GiB } from '../../../src/vm/machine/machine-config.js';
import { parseCrashkernel, reserveCrashkernel } from '../../../src/vm/machine/crashkernel.js';
import { kexecLoad, KEXEC_ARCH_X86_64, KEXEC_ON_CRASH, KEXEC_ARCH_386, type UserSegment } from '../../../src/vm/kernel/kexec-load.js';
import { IND_DESTINATION, IND_DONE, IND_INDIRECTION, IND_SOURCE } from '../../../src/vm/machine/kimage.js';
import { relocateKernel } from '../../../src/vm/kernel/machine-kexec.js';
import { MemoryReader } from '../../../src/vm/memory/memory-reader.js';
import { blobPath } from '../../../src/vm/machine/store.js';
import { tryLock } from '../../../src/vm/machine/lock.js';
import { tempDir } from '../../helpers/cli.js';

const INFO = { syscall: 'kexec_load' as const };

function machine(mutate?: (s: ReturnType<typeof newState>) => void): string {
  const dir = path.join(tempDir(), 'm');
  fs.mkdirSync(dir);
  const s = newState(defaultConfig());
  mutate?.(s);
  writeState(dir, s);
  return dir;
}

function withCrash(s: ReturnType<typeof newState>): void {
  s.config.memBytes = 1n * GiB;
  s.config.iomem = defaultIomem(1n * GiB);
  reserveCrashkernel(s.config.iomem, parseCrashkernel(['256M'], 1n * GiB));
}

const bytes = (n: number) => ({ kind: 'bytes' as const, data: randomBytes(n) });

function errno(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KexecError, String(e));
    return e.errno;
  }
  assert.fail('expected a KexecError');
}

test('normal image: the indirection list copies every page to its destination, zero-filled past bufsz', () => {
  const dir = machine();
  const segs: UserSegment[] = [
    { buf: bytes(5000), mem: 0x1000000n, memsz: 0x3000n },
    { buf: bytes(3 * 1024 * 1024 + 17), mem: 0x2000000n, memsz: 0x400000n },
  ];
  const { image } = kexecLoad(dir, 0x1000200n, segs, KEXEC_ARCH_X86_64, INFO);
  assert.ok(image);
  // 1 destination + 3 sources, 1 destination + 1024 sources, 1 done = 1030 entries over 3 list pages.
  assert.equal(image.indirectionPages.length, 3);
  assert.equal(image.head & 0xfn, IND_INDIRECTION);
  const list = fs.readFileSync(blobPath(dir, image.indirectionBlob!));
  assert.equal(list.readBigUInt64LE(0) & 0xfn, IND_DESTINATION);
  assert.equal(list.readBigUInt64LE(8) & 0xfn, IND_SOURCE);
  assert.equal(list.readBigUInt64LE(511 * 8) & 0xfn, IND_INDIRECTION, 'slot 511 links to the next page');
  const last = list.subarray(2 * 4096);
  const doneAt = (1030 - 2 * 511 - 1) * 8;
  assert.equal(last.readBigUInt64LE(doneAt), IND_DONE);
  // Sources avoid every destination.
  for (const r of image.sourceRuns) {
    for (const s of segs) assert.ok(r.addr + BigInt(r.pages) * 4096n <= s.mem || r.addr >= s.mem + s.memsz);
  }
  const mem = new MemoryReader({ ramSize: 512n << 20n, e820: [], extents: relocateKernel(dir, image) });
  for (const s of segs) {
    const data = (s.buf as { data: Uint8Array }).data;
    const got = mem.read(s.mem, Number(s.memsz));
    assert.deepEqual(Buffer.from(got.subarray(0, data.length)), Buffer.from(data));
    assert.ok(got.subarray(data.length).every((b) => b === 0), 'tail is zero');
  }
  mem.close();
  assert.equal(fs.readFileSync(path.join(dir, 'machine.json'), 'utf8').includes('"normal": null'), false);
  assert.equal(readState(dir).images.normal?.segments.length, 2);
});

test('nr_segments 0 unloads; a second unload is fine', () => {
  const dir = machine();
  kexecLoad(dir, 0x1000200n, [{ buf: bytes(10), mem: 0x1000000n, memsz: 0x1000n }], KEXEC_ARCH_X86_64, INFO);
  assert.equal(kexecLoad(dir, 0n, [], KEXEC_ARCH_X86_64, INFO).unloaded, true);
  assert.equal(readState(dir).images.normal, null);
  assert.equal(fs.readdirSync(path.join(dir, 'blobs')).length, 0, 'blobs of the unloaded image are collected');
  assert.equal(kexecLoad(dir, 0n, [], KEXEC_ARCH_X86_64, INFO).unloaded, false);
});

test('kexec_load_check: flags, 16 segments, arch, in that order', () => {
  const dir = machine();
  assert.equal(errno(() => kexecLoad(dir, 0n, [], 0x10 | KEXEC_ARCH_X86_64, INFO)), 'EINVAL');
  const many = Array.from({ length: 17 }, (_, i) => ({ buf: null, mem: BigInt(0x1000000 + i * 0x1000), memsz: 0x1000n }));
  assert.equal(errno(() => kexecLoad(dir, 0n, many, KEXEC_ARCH_X86_64, INFO)), 'EINVAL');
  assert.equal(errno(() => kexecLoad(dir, 0n, [], KEXEC_ARCH_386, INFO)), 'EINVAL');
});

test('lockdown refuses kexec_load with EPERM; secure boot with EACCES first', () => {
  const locked = machine((s) => (s.config.lockdown = 'integrity'));
  assert.equal(errno(() => kexecLoad(locked, 0n, [], KEXEC_ARCH_X86_64, INFO)), 'EPERM');
  const sb = machine((s) => {
    s.config.lockdown = 'integrity';
    s.config.secureBoot = true;
  });
  assert.equal(errno(() => kexecLoad(sb, 0n, [], KEXEC_ARCH_X86_64, INFO)), 'EACCES');
});

test('kexec_load_disabled and load limits: EPERM; the limit counts down even when the load then fails', () => {
  const off = machine((s) => (s.sysctl.kexec_load_disabled = 1));
  assert.equal(errno(() => kexecLoad(off, 0n, [], KEXEC_ARCH_X86_64, INFO)), 'EPERM');
  const lim = machine((s) => (s.sysctl.kexec_load_limit_reboot = 2));
  assert.equal(errno(() => kexecLoad(lim, 0n, [{ buf: null, mem: 0x1000800n, memsz: 0x1000n }], KEXEC_ARCH_X86_64, INFO)), 'EADDRNOTAVAIL');
  assert.equal(readState(lim).sysctl.kexec_load_limit_reboot, 1);
  kexecLoad(lim, 0n, [], KEXEC_ARCH_X86_64, INFO);
  assert.equal(readState(lim).sysctl.kexec_load_limit_reboot, 0);
  assert.equal(errno(() => kexecLoad(lim, 0n, [], KEXEC_ARCH_X86_64, INFO)), 'EPERM');
  assert.equal(readState(lim).sysctl.kexec_load_limit_panic, -1, 'the panic limit is separate');
});

test('a held lock gives EBUSY and changes nothing', () => {
  const dir = machine();
  const before = fs.readFileSync(path.join(dir, 'machine.json'));
  const lock = tryLock(dir, 'test');
  try {
    assert.equal(errno(() => kexecLoad(dir, 0x1000200n, [{ buf: bytes(10), mem: 0x1000000n, memsz: 0x1000n }], KEXEC_ARCH_X86_64, INFO)), 'EBUSY');
  } finally {
    lock.release();
  }
  assert.deepEqual(fs.readFileSync(path.join(dir, 'machine.json')), before);
});

test('crash image: loaded in place inside crashk_res, head IND_DONE, entry outside -> EADDRNOTAVAIL', () => {
  const dir = machine(withCrash);
  const crash = readState(dir).config.iomem.flatMap((r) => r.children).find((c) => c.name === 'Crash kernel')!;
  const flags = KEXEC_ON_CRASH | KEXEC_ARCH_X86_64;
  const { image } = kexecLoad(dir, crash.start + 0x200n, [{ buf: bytes(8192), mem: crash.start + 0x100000n, memsz: 0x3000n }], flags, INFO);
  assert.equal(image!.head, IND_DONE);
  assert.equal(image!.indirectionPages.length, 0);
  assert.ok(image!.controlPage >= crash.start && image!.controlPage <= crash.end);
  assert.equal(errno(() => kexecLoad(dir, 0x1000n, [{ buf: bytes(10), mem: crash.start, memsz: 0x1000n }], flags, INFO)), 'EADDRNOTAVAIL');
  assert.equal(readState(dir).images.crash, null, 'the old crash image was freed before the failed load');
});

test('a crash segment outside the region: EADDRNOTAVAIL from sanity_check_segment_list', () => {
  const dir = machine(withCrash);
  const crash = readState(dir).config.iomem.flatMap((r) => r.children).find((c) => c.name === 'Crash kernel')!;
  assert.equal(errno(() => kexecLoad(dir, crash.start, [{ buf: bytes(10), mem: crash.start - 0x1000n, memsz: 0x2000n }], KEXEC_ON_CRASH | KEXEC_ARCH_X86_64, INFO)), 'EADDRNOTAVAIL');
});

test('source pages of a new normal image avoid the loaded one; ENOMEM when RAM runs out', () => {
  const dir = machine();
  kexecLoad(dir, 0n, [{ buf: bytes(4096), mem: 0x10000000n, memsz: 0x8000000n }], KEXEC_ARCH_X86_64, INFO);
  const first = readState(dir).images.normal!;
  // A second image of 128 MiB more: its sources cannot reuse the first image's 128 MiB of sources.
  kexecLoad(dir, 0n, [{ buf: bytes(4096), mem: 0x8000000n, memsz: 0x8000000n }], KEXEC_ARCH_X86_64, INFO);
  const second = readState(dir).images.normal!;
  for (const a of second.sourceRuns) for (const b of first.sourceRuns) {
    assert.ok(a.addr + BigInt(a.pages) * 4096n <= b.addr || b.addr + BigInt(b.pages) * 4096n <= a.addr);
  }
  // Half of RAM in one segment plus the existing image's pages: no room for the sources.
  assert.equal(errno(() => kexecLoad(dir, 0n, [{ buf: null, mem: 0x1000000n, memsz: 0xff00000n }], KEXEC_ARCH_X86_64, INFO)), 'ENOMEM');
  assert.ok(readState(dir).images.normal, 'a failed load leaves the loaded image in place');
});
