// Blob storage on a load: one pass over every byte (the purgatory digest's one SHA-256 stream also names the
// blobs, the copy is the kernel's), and never a blob whose name does not address its bytes, even when the file changes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ByteSource, blobPath, putBlob, segmentsSha256, withBlobStaging } from '../../../src/vm/machine/store.js';
import { STAGE_MIN_BYTES } from '../../../src/vm/machine/blob-stage.js';

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vkexec-store-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Counts the bytes this process reads with fs.readSync while fn runs (store.ts reads files only that way). */
function bytesRead<T>(fn: () => T): [T, number] {
  const cjs = createRequire(import.meta.url)('node:fs') as { readSync: typeof fs.readSync };
  const real = cjs.readSync;
  let n = 0;
  cjs.readSync = ((...args: Parameters<typeof fs.readSync>) => {
    const got = real(...args);
    n += got;
    return got;
  }) as typeof fs.readSync;
  syncBuiltinESMExports();
  try {
    return [fn(), n];
  } finally {
    cjs.readSync = real;
    syncBuiltinESMExports();
  }
}

/** A file older than the racy window, as an initrd built before the load is. */
async function oldFile(dir: string, data: Uint8Array): Promise<string> {
  const f = path.join(dir, 'initrd.img');
  fs.writeFileSync(f, data);
  await new Promise((r) => setTimeout(r, 120));
  return f;
}

test('a hashed initrd is stored without being read again; its digest and name are what its bytes say', async (t) => {
  const d = tmp(t);
  const data = randomBytes((3 << 20) + 123);
  const file = await oldFile(d, data);
  const src: ByteSource = { kind: 'file', path: file, offset: 0, length: data.length };
  const [digest, readHashing] = bytesRead(() => segmentsSha256([{ buf: src, bufsz: data.length, memsz: BigInt(data.length + 4096) }]));
  assert.equal(readHashing, data.length, 'the digest reads the file once');
  assert.equal(digest.toString('hex'), sha(Buffer.concat([data, Buffer.alloc(4096)])), 'bytes then memsz - bufsz zeros');
  const [name, readStoring] = bytesRead(() => putBlob(d, src));
  assert.equal(readStoring, 0, 'the blob is copied by the kernel, not read through this process');
  assert.equal(name, sha(data));
  assert.ok(fs.readFileSync(blobPath(d, name)).equals(data));
  assert.deepEqual(fs.readdirSync(path.join(d, 'blobs')), [name], 'no temporary left');
  // Loading the same file again: the blob is there, nothing is copied.
  const again: ByteSource = { ...src };
  segmentsSha256([{ buf: again, bufsz: data.length, memsz: BigInt(data.length) }]);
  assert.equal(putBlob(d, again), name);
});

test('one SHA-256 stream: each blob is named by the digest of the segments up to its end, the last one by the whole', async (t) => {
  const d = tmp(t);
  const head = randomBytes(10_000);
  const data = randomBytes(1 << 20);
  const file = await oldFile(d, data);
  const first: ByteSource = { kind: 'bytes', data: head };
  const src: ByteSource = { kind: 'file', path: file, offset: 0, length: data.length };
  const [digest, read] = bytesRead(() => segmentsSha256([{ buf: first, bufsz: head.length, memsz: 16384n }, { buf: src, bufsz: data.length, memsz: BigInt(data.length) }]));
  assert.equal(read, data.length);
  const pad = Buffer.alloc(16384 - head.length);
  assert.equal(digest.toString('hex'), sha(Buffer.concat([head, pad, data])));
  assert.equal(putBlob(d, first), sha(head));
  const name = putBlob(d, src);
  assert.equal(name, sha(Buffer.concat([head, pad, data])), 'named by the stream: prefix and bytes');
  assert.ok(fs.readFileSync(blobPath(d, name)).equals(data));
});

test('a file changed after it was hashed is read again and named by what was stored', async (t) => {
  const d = tmp(t);
  const data = randomBytes(1 << 20);
  const file = await oldFile(d, data);
  const src: ByteSource = { kind: 'file', path: file, offset: 0, length: data.length };
  segmentsSha256([{ buf: src, bufsz: data.length, memsz: BigInt(data.length) }]);
  const changed = randomBytes(data.length);
  fs.writeFileSync(file, changed); // same size, same inode, new ctime
  const [name, read] = bytesRead(() => putBlob(d, src));
  assert.equal(read, data.length, 'the changed file is read and hashed again');
  assert.equal(name, sha(changed));
  assert.ok(fs.readFileSync(blobPath(d, name)).equals(changed));
});

test('a file written just before the load (racy time stamps) is read again rather than trusted', (t) => {
  const d = tmp(t);
  const data = randomBytes(1 << 20);
  const file = path.join(d, 'fresh.img');
  fs.writeFileSync(file, data);
  const src: ByteSource = { kind: 'file', path: file, offset: 0, length: data.length };
  segmentsSha256([{ buf: src, bufsz: data.length, memsz: BigInt(data.length) }]);
  const [name, read] = bytesRead(() => putBlob(d, src));
  assert.equal(read, data.length);
  assert.equal(name, sha(data));
});

test('buffers hashed for the digest are written under that name without a second hash; ranges of files are streamed', async (t) => {
  const d = tmp(t);
  const data = randomBytes(200_000);
  const bytes: ByteSource = { kind: 'bytes', data };
  segmentsSha256([{ buf: bytes, bufsz: data.length, memsz: BigInt(data.length) }]);
  assert.equal(putBlob(d, bytes), sha(data));
  const file = await oldFile(d, data);
  const part: ByteSource = { kind: 'file', path: file, offset: 1000, length: 5000 };
  segmentsSha256([{ buf: part, bufsz: 5000, memsz: 5000n }]);
  const name = putBlob(d, part);
  assert.equal(name, sha(data.subarray(1000, 6000)));
  assert.ok(fs.readFileSync(blobPath(d, name)).equals(data.subarray(1000, 6000)));
});

test('a large file is copied into blobs/ on another thread while it is hashed, and kept when it is the hashed file', async (t) => {
  const d = tmp(t);
  const data = randomBytes(STAGE_MIN_BYTES + 4321);
  const file = await oldFile(d, data);
  const src: ByteSource = { kind: 'file', path: file, offset: 0, length: data.length };
  const [name, read] = bytesRead(() =>
    withBlobStaging(d, () => {
      segmentsSha256([{ buf: src, bufsz: data.length, memsz: BigInt(data.length) }]);
      // This thread is blocked here, so a temporary that appears is written by the copier thread.
      const sleep = new Int32Array(new SharedArrayBuffer(4));
      const temps = () => fs.readdirSync(path.join(d, 'blobs')).filter((n) => n.startsWith('.in.')).length;
      for (let i = 0; i < 1000 && temps() === 0; i++) Atomics.wait(sleep, 0, 0, 10);
      assert.equal(temps(), 1, 'the copy runs beside the hash, on another thread');
      return putBlob(d, src);
    }),
  );
  assert.equal(read, data.length, 'one read: the hash; the copy is the kernel\'s');
  assert.equal(name, sha(data));
  assert.ok(fs.readFileSync(blobPath(d, name)).equals(data));
  assert.deepEqual(fs.readdirSync(path.join(d, 'blobs')), [name], 'no temporary left');

  // The same file again: the blob exists, so the copy made during the hash is removed.
  const again: ByteSource = { ...src };
  withBlobStaging(d, () => {
    segmentsSha256([{ buf: again, bufsz: data.length, memsz: BigInt(data.length) }]);
    assert.equal(putBlob(d, again), name);
  });
  assert.deepEqual(fs.readdirSync(path.join(d, 'blobs')), [name]);
});

test('a staged copy is dropped when the file changed after the hash, and when the load fails', async (t) => {
  const d = tmp(t);
  const data = randomBytes(STAGE_MIN_BYTES);
  const file = await oldFile(d, data);
  const src: ByteSource = { kind: 'file', path: file, offset: 0, length: data.length };
  const changed = randomBytes(data.length);
  const name = withBlobStaging(d, () => {
    segmentsSha256([{ buf: src, bufsz: data.length, memsz: BigInt(data.length) }]);
    fs.writeFileSync(file, changed); // same size and inode, new ctime: neither the hash nor the copy can be trusted
    return putBlob(d, src);
  });
  assert.equal(name, sha(changed), 'read again and named by what was stored');
  assert.ok(fs.readFileSync(blobPath(d, name)).equals(changed));
  assert.deepEqual(fs.readdirSync(path.join(d, 'blobs')), [name]);

  const e2 = tmp(t);
  const other: ByteSource = { kind: 'file', path: await oldFile(e2, data), offset: 0, length: data.length };
  assert.throws(
    () =>
      withBlobStaging(e2, () => {
        segmentsSha256([{ buf: other, bufsz: data.length, memsz: BigInt(data.length) }]);
        throw new Error('the signature check refused the image');
      }),
    /signature check refused/,
  );
  assert.ok(!fs.existsSync(path.join(e2, 'blobs')), 'a failed load leaves neither a temporary nor blobs/');
});
