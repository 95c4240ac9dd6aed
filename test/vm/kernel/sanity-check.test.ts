import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KexecError } from '../../../src/errno.js';
import { sanityCheckSegmentList, type SegmentRange } from '../../../src/vm/kernel/sanity-check.js';

const opts = { arch: 'x86_64' as const, totalRamPages: 131072n, crash: false };
const seg = (mem: bigint, memsz: bigint, bufsz = 0): SegmentRange => ({ mem, memsz, bufsz });

function refused(segs: SegmentRange[], errno: string, o: Partial<Parameters<typeof sanityCheckSegmentList>[1]> = {}): KexecError {
  try {
    sanityCheckSegmentList(segs, { ...opts, ...o });
  } catch (e) {
    assert.ok(e instanceof KexecError, `expected KexecError, got ${String(e)}`);
    assert.equal(e.errno, errno, e.message);
    assert.equal(e.rule, 'sanity_check_segment_list');
    assert.ok(e.hint, 'every refusal says what to change');
    return e;
  }
  assert.fail(`expected ${errno}`);
}

test('accepts aligned, disjoint segments within half of RAM', () => {
  sanityCheckSegmentList([seg(0x100000n, 0x1000n, 10), seg(0x200000n, 0x2000n, 0x2000)], opts);
});

test('unaligned start or end: EADDRNOTAVAIL', () => {
  refused([seg(0x100800n, 0x1000n)], 'EADDRNOTAVAIL');
  refused([seg(0x100000n, 0x1800n)], 'EADDRNOTAVAIL');
});

test('wrap-around of mem + memsz: EADDRNOTAVAIL (checked before alignment)', () => {
  const e = refused([seg(0xfffffffffffff000n, 0x2000n)], 'EADDRNOTAVAIL');
  assert.match(e.message, /wraps/);
});

test('destination at or beyond 1 << 46 on x86_64: EADDRNOTAVAIL; i386 limit is 4 GiB', () => {
  refused([seg((1n << 46n) - 0x1000n, 0x1000n)], 'EADDRNOTAVAIL');
  sanityCheckSegmentList([seg((1n << 46n) - 0x2000n, 0x1000n)], opts);
  refused([seg(0xfffff000n, 0x1000n)], 'EADDRNOTAVAIL', { arch: 'i386' });
});

test('overlap with an earlier segment: EINVAL; touching segments are fine', () => {
  refused([seg(0x100000n, 0x2000n), seg(0x101000n, 0x1000n)], 'EINVAL');
  sanityCheckSegmentList([seg(0x100000n, 0x1000n), seg(0x101000n, 0x1000n)], opts);
});

test('bufsz larger than memsz: EINVAL', () => {
  refused([seg(0x100000n, 0x1000n, 0x1001)], 'EINVAL');
});

test('more than half of RAM, one segment or in total: EINVAL', () => {
  refused([seg(0x100000n, 65537n * 4096n)], 'EINVAL');
  sanityCheckSegmentList([seg(0x100000n, 65536n * 4096n)], opts);
  const e = refused([seg(0x100000n, 40000n * 4096n), seg(0x20000000n, 30000n * 4096n)], 'EINVAL');
  assert.match(e.message, /segments 0\.\.1/);
});

test('order of checks: an unaligned segment is refused before an overlap is seen', () => {
  refused([seg(0x100000n, 0x2000n), seg(0x100800n, 0x1000n)], 'EADDRNOTAVAIL');
});

test('crash image: every segment inside crashk_res, else EADDRNOTAVAIL', () => {
  const crashk = { start: 0x10000000n, end: 0x1fffffffn, name: 'Crash kernel', children: [] };
  sanityCheckSegmentList([seg(0x10000000n, 0x1000n), seg(0x1ffff000n, 0x1000n)], { ...opts, crash: true, crashk });
  refused([seg(0x0ffff000n, 0x2000n)], 'EADDRNOTAVAIL', { crash: true, crashk });
  refused([seg(0x1ffff000n, 0x2000n)], 'EADDRNOTAVAIL', { crash: true, crashk });
  refused([seg(0x10000000n, 0x1000n)], 'EADDRNOTAVAIL', { crash: true, crashk: undefined });
});
