// The multiboot header readers: where the search looks (v1: 4-byte steps in 8 KiB; v2: 8-byte steps in 32 KiB),
// the checksum rule, the v2 tag walk and its refusal of tags that cannot be walked.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findMultibootHeader, MULTIBOOT_SEARCH } from '../../src/formats/multiboot.js';
import { findMultiboot2Header, Multiboot2FormatError, readMultiboot2HeaderTags } from '../../src/formats/multiboot2.js';
import { mb1Header, mb2Header } from '../loaders/multiboot-images.js';

test('v1: found at a 4-byte offset with its fields; a bad checksum or an unaligned header is not a header', () => {
  const img = Buffer.alloc(4096);
  mb1Header(0x10003, { header: 0x100040, load: 0x100000, loadEnd: 0x101000, bssEnd: 0x102000, entry: 0x100060 }).copy(img, 0x40);
  const h = findMultibootHeader(img)!;
  assert.equal(h.offset, 0x40);
  assert.equal(h.flags, 0x10003);
  assert.equal(h.entry_addr, 0x100060);
  const bad = Buffer.from(img);
  bad.writeUInt32LE(bad.readUInt32LE(0x48) + 1, 0x48);
  assert.equal(findMultibootHeader(bad), null);
  const unaligned = Buffer.alloc(4096);
  mb1Header(3).copy(unaligned, 0x42);
  assert.equal(findMultibootHeader(unaligned), null);
});

test('v1: only the first 8 KiB are searched; a header at the very end of a short file reads zeros past it', () => {
  const far = Buffer.alloc(MULTIBOOT_SEARCH + 64);
  mb1Header(3).copy(far, MULTIBOOT_SEARCH);
  assert.equal(findMultibootHeader(far), null);
  const edge = Buffer.alloc(MULTIBOOT_SEARCH - 4);
  mb1Header(3).copy(edge, MULTIBOOT_SEARCH - 16);
  const h = findMultibootHeader(edge)!;
  assert.equal(h.offset, MULTIBOOT_SEARCH - 16);
  assert.equal(h.entry_addr, 0);
  assert.equal(findMultibootHeader(Buffer.alloc(8)), null);
});

test('v2: 8-byte aligned within 32 KiB, tags walked in order to the end tag', () => {
  const img = Buffer.alloc(40000);
  const hdr = mb2Header([{ type: 10, flags: 1, words: [0x200000, 0xffffffff, 0x200000, 2] }, { type: 6 }]);
  hdr.copy(img, 0x7000);
  const h = findMultiboot2Header(img)!;
  assert.equal(h.offset, 0x7000);
  assert.deepEqual(readMultiboot2HeaderTags(img, h).map((t) => [t.type, t.size, t.words.length]), [[10, 24, 4], [6, 8, 0], [0, 8, 0]]);
  const off4 = Buffer.alloc(40000);
  hdr.copy(off4, 0x7004);
  assert.equal(findMultiboot2Header(off4), null);
  const beyond = Buffer.alloc(40000);
  hdr.copy(beyond, 32768);
  assert.equal(findMultiboot2Header(beyond), null);
});

test('v2: a zero-sized tag (kexec-tools loops forever on it) is a format error', () => {
  const hdr = mb2Header([{ type: 6 }]);
  hdr.writeUInt32LE(0, 16 + 4);
  const h = findMultiboot2Header(hdr)!;
  assert.throws(() => readMultiboot2HeaderTags(hdr, h), Multiboot2FormatError);
  const noEnd = mb2Header([]).subarray(0, 16);
  assert.throws(() => readMultiboot2HeaderTags(noEnd, findMultiboot2Header(noEnd)!), /without an end tag/);
});
