// The --fast payload decoder policy (payload-decoder.ts): the reference tools on PATH give exactly vkexec's own
// decoder's bytes on real kernel payloads; without them, or when a tool misbehaves (garbage, wrong size, exit 1,
// a hang), the own decoder decodes and its result and error messages are unchanged; -d says who decoded; a
// signal during the tool's run never leaves the tool behind vkexec.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { extractPayload } from '../../src/formats/bzimage-payload.js';
import { PAYLOAD_TOOLS, payloadDecoder, payloadDecoderPolicy } from '../../src/loaders/userspace/payload-decoder.js';
import { fixture, splicePayload } from '../helpers/fixtures.js';
import { BIN, tempDir, vkexec } from '../helpers/cli.js';

const unsigned = fs.readFileSync(fixture('vmlinuz-amd64-unsigned'));
const vmlinux = fs.readFileSync(fixture('vmlinux-amd64')); // `xz -dc` of the payload
const FORMATS = ['xz', 'lzma', 'bzip2', 'lz4', 'zstd', 'gzip'] as const;
const kernelOf = (f: (typeof FORMATS)[number]): Buffer => (f === 'xz' ? unsigned : splicePayload(unsigned, fs.readFileSync(fixture(`payload-amd64.${f}`))));

/** The tools must be there for the comparison to mean anything: a missing one fails the test, naming the package. */
function requireTool(name: string): void {
  const r = spawnSync(name, ['--version'], { stdio: 'ignore' });
  if (r.error) throw new Error(`TOOL MISSING: ${name} is needed for this test (apt-get install xz-utils bzip2 lz4 zstd): ${r.error.message}`);
}

/** A directory holding one fake `name` (a shell script), put first on PATH. */
function fakeTool(name: string, script: string): NodeJS.ProcessEnv {
  const dir = tempDir('vkexec-fake-tool-');
  fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return { ...process.env, PATH: `${dir}:${process.env.PATH}` };
}

describe('payload decoder: the reference tools against the own decoders, real payloads', () => {
  for (const f of FORMATS) {
    it(`${f}: same bytes with the tool and with VKEXEC_PAYLOAD_DECODER=builtin`, () => {
      const tool = PAYLOAD_TOOLS[f];
      if (tool) requireTool(tool[0]!);
      const k = kernelOf(f);
      const viaTool = extractPayload(k, { decoder: payloadDecoder({ ...process.env, VKEXEC_PAYLOAD_DECODER: '' }) });
      assert.equal(viaTool.fallback, undefined, `no fallback expected: ${viaTool.fallback}`);
      assert.equal(viaTool.decodedBy, tool ? tool.join(' ') : 'vkexec', 'gzip stays in-process');
      assert.equal(payloadDecoder({ VKEXEC_PAYLOAD_DECODER: 'builtin' }), undefined);
      const own = extractPayload(k);
      assert.equal(own.decodedBy, 'vkexec');
      assert.ok(Buffer.from(viaTool.vmlinux).equals(vmlinux), `${f}: tool output differs from xz-utils' vmlinux`);
      assert.ok(Buffer.from(own.vmlinux).equals(vmlinux), `${f}: own decoder differs`);
    });
  }

  it('a PATH without the tools falls back to the own decoder, same bytes, saying why', () => {
    for (const f of ['xz', 'lz4'] as const) {
      const p = extractPayload(kernelOf(f), { decoder: payloadDecoder({ PATH: tempDir() }) });
      assert.equal(p.decodedBy, 'vkexec');
      assert.match(p.fallback ?? '', /: not on PATH$/);
      assert.ok(Buffer.from(p.vmlinux).equals(vmlinux));
    }
  });

  it('a corrupt payload gives the own decoder\'s error, with and without the tools', () => {
    for (const f of ['xz', 'lzma', 'bzip2', 'lz4', 'zstd'] as const) {
      const k = Buffer.from(kernelOf(f));
      const off = ((k[0x1f1] || 4) + 1) * 512 + k.readUInt32LE(0x248);
      for (let i = 1; i <= 3; i++) k[off + 64 + Math.floor((k.readUInt32LE(0x24c) - 80) * i * 0.25)] ^= 0x5a;
      const message = (decoder?: ReturnType<typeof payloadDecoder>) => {
        try {
          extractPayload(k, { decoder });
        } catch (e) {
          return `${(e as Error).name}: ${(e as Error).message}`;
        }
        return 'decoded';
      };
      const own = message();
      assert.notEqual(own, 'decoded', `${f}: the damaged payload decoded`);
      assert.equal(message(payloadDecoder({ ...process.env, VKEXEC_PAYLOAD_DECODER: '' })), own, `${f}: message differs with the tool`);
    }
  });
});

describe('payload decoder: a misbehaving tool is not trusted', () => {
  const n = vmlinux.length;
  const vm = fixture('vmlinux-amd64');
  const cases: Array<[string, string, RegExp]> = [
    ['prints garbage of the right size', `head -c ${n} /dev/zero`, /its output is not an ELF file/],
    ['prints an ELF of the wrong size', `head -c ${n - 4096} ${vm}`, /gave 65902516 bytes, the size trailer declares 65906612/],
    // Unnamed file: the shell's ulimit -f stops the writer (SIGXFSZ; the fake's script then exits 153). Pipe: maxBuffer.
    ['prints too much', `cat ${vm} ${vm}`, /wrote more than the 65906612 bytes the size trailer declares \(65536 to spare\), killed|exit status 153 \(File size limit exceeded\)/],
    ['exits 1 after the right bytes', `cat ${vm}; echo broken >&2; exit 1`, /exit status 1 \(broken\)/],
    ['sleeps past the time limit', 'exec sleep 30', /still running after 1 s, killed/],
    ['dies of a signal', 'kill -SEGV $$', /killed by SIGSEGV/],
  ];
  // The output goes to an O_TMPFILE file in TMPDIR; /proc refuses O_TMPFILE (ENOTSUP), so there it goes through a pipe.
  for (const tmp of [undefined, '/proc'] as const) {
    for (const [what, script, why] of cases) {
      it(`a fake xz that ${what} (${tmp ? 'pipe' : 'unnamed file'}): the own decoder decodes`, () => {
        const env = fakeTool('xz', `cat >/dev/null; ${script}`);
        const saved = process.env.TMPDIR;
        if (tmp) process.env.TMPDIR = tmp;
        try {
          const p = extractPayload(unsigned, { decoder: payloadDecoder(env, 1000) });
          assert.equal(p.decodedBy, 'vkexec');
          assert.match(p.fallback ?? '', why);
          assert.ok(Buffer.from(p.vmlinux).equals(vmlinux));
        } finally {
          if (tmp) saved === undefined ? delete process.env.TMPDIR : (process.env.TMPDIR = saved);
        }
      });
    }
  }

  it('the real xz through a pipe (TMPDIR without O_TMPFILE) gives the same bytes', () => {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = '/proc';
    try {
      const p = extractPayload(unsigned, { decoder: payloadDecoder({ ...process.env, VKEXEC_PAYLOAD_DECODER: '' }) });
      assert.equal(p.decodedBy, 'xz -dc --single-stream');
      assert.ok(Buffer.from(p.vmlinux).equals(vmlinux));
    } finally {
      saved === undefined ? delete process.env.TMPDIR : (process.env.TMPDIR = saved);
    }
  });

  it('VKEXEC_PAYLOAD_DECODER takes tools or builtin; anything else is refused with a fix', () => {
    assert.equal(payloadDecoderPolicy({}), 'tools');
    assert.equal(payloadDecoderPolicy({ VKEXEC_PAYLOAD_DECODER: 'builtin' }), 'builtin');
    assert.throws(() => payloadDecoderPolicy({ VKEXEC_PAYLOAD_DECODER: 'xz' }), /VKEXEC_PAYLOAD_DECODER=xz: not a payload decoder policy/);
  });
});

describe('payload decoder: vkexec -l --fast', () => {
  it('-d names the decoder; builtin and a bad policy as documented', () => {
    const m = tempDir();
    assert.equal(vkexec(m, ['machine', 'init']).code, 0);
    const args = ['-c', '-d', '-l', '--fast', fixture('vmlinuz-amd64-unsigned'), '--append', 'console=ttyS0'];
    const tools = vkexec(m, args, { VKEXEC_PAYLOAD_DECODER: '' });
    assert.equal(tools.code, 0, tools.stderr);
    assert.match(tools.stderr, /^--fast: xz payload unpacked by xz -dc --single-stream$/m);
    const own = vkexec(m, args, { VKEXEC_PAYLOAD_DECODER: 'builtin' });
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stderr, /^--fast: xz payload unpacked by vkexec's own decoder$/m);
    const bad = vkexec(m, args, { VKEXEC_PAYLOAD_DECODER: 'fast' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^vkexec: VKEXEC_PAYLOAD_DECODER=fast: not a payload decoder policy \(tools, builtin\)$/m);
    assert.match(bad.stderr, /^vkexec: fix: /m);
  });

  /** vkexec ARGS with a fake xz that sleeps 3 s, signalled once the fake runs: how vkexec ended, whether the fake outlived it. */
  async function signalDuringTool(args: string[], sig: NodeJS.Signals): Promise<{ end: string; toolAlive: boolean }> {
    const m = tempDir();
    assert.equal(vkexec(m, ['machine', 'init']).code, 0);
    const pidFile = path.join(tempDir(), 'tool.pid');
    const env = { ...fakeTool('xz', `echo $$ > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; cat >/dev/null; sleep 3; exit 1`), VKEXEC_MACHINE: m, VKEXEC_PAYLOAD_CACHE: 'off', NO_COLOR: '1' };
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: 'ignore' });
    const done = new Promise<string>((resolve) => child.on('exit', (code, s) => resolve(s ?? `exit ${code}`)));
    for (let i = 0; i < 1200 && !fs.existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    const toolPid = Number(fs.readFileSync(pidFile, 'utf8'));
    child.kill(sig);
    const end = await done;
    try {
      process.kill(toolPid, 0);
      return { end, toolAlive: true };
    } catch {
      return { end, toolAlive: false };
    }
  }

  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`-l --fast, ${sig} while the tool runs: vkexec dies of it, and only after the tool has ended`, async () => {
      const r = await signalDuringTool(['-c', '-l', '--fast', fixture('vmlinuz-amd64-unsigned')], sig);
      assert.equal(r.toolAlive, false, 'the fake tool outlived vkexec');
      // The signal raised again with its default action: vkexec dies of it, as it would without the tool.
      assert.equal(r.end, sig);
    });
  }

  it('boot --fast (signals caught to clean up), SIGTERM while the tool runs: 143 after the tool has ended', async () => {
    const args = ['boot', '--fast', fixture('vmlinuz-amd64-unsigned'), '--initrd', fixture('initramfs-busybox-amd64.cpio'), '--append', 'console=ttyS0'];
    const r = await signalDuringTool([...args, '--engine', 'qemu', '--expect', 'VKEXEC-INIT-OK', '--timeout', '300'], 'SIGTERM');
    assert.equal(r.toolAlive, false, 'the fake tool outlived vkexec');
    assert.equal(r.end, 'exit 143');
  });
});
