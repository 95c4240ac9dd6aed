// Start-up is a feature (issue 15): `vkexec -S` in a script loop, `machine show`, `--version` import only what
// they need. The real binary runs with NODE_DEBUG=esm, whose lines name every ES module it loads, by import()
// or by require() (bin/vkexec.js and main.ts load the kexec command line with require(), which no load hook
// sees), and the test names what must not be among them: commander and chalk/ora for -S, asn1js (the keyring
// codec), the loaders, the inspector and the checker. -S, `-S -p`, --version and `machine show` must not start
// the asynchronous ES module loader at all (its jobs are the `ModuleJob {` lines; require()'s are
// ModuleJobSync). It also proves the deferred parts still run when needed: a machine with keyrings has them
// checked on every read (a damaged one makes -S answer 2, as before).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, tempDir, vkexec } from '../helpers/cli.js';

const work = tempDir();

/** Runs vkexec ARGS on machine M; returns its status, the modules it loaded (file URLs) and whether any was imported asynchronously. */
function loaded(m: string, args: string[]): { code: number; stdout: string; modules: string[]; asyncLoader: boolean } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, VKEXEC_MACHINE: m, NO_COLOR: '1', NODE_DEBUG: 'esm' } });
  const lines = r.stderr.split('\n');
  const modules = [...new Set(lines.map((l) => /^ESM \d+: Storing (\S+) /.exec(l)?.[1]).filter((u): u is string => u !== undefined))];
  assert.ok(modules.some((u) => u.endsWith('/dist/src/cli/main.js')), `NODE_DEBUG=esm named no module (has its format changed?): ${r.stderr.slice(0, 2000)}`);
  return { code: r.status ?? -1, stdout: r.stdout, modules, asyncLoader: lines.some((l) => /^ESM \d+: .*\bModuleJob \{/.test(l)) };
}

function none(modules: string[], pattern: RegExp, what: string): void {
  assert.deepEqual(modules.filter((u) => pattern.test(u)), [], `${what} must not be loaded`);
}

const HEAVY = /node_modules\/(asn1js|@peculiar|chalk|ora|v86|tar-stream|zstddec)\/|\/dist\/src\/(loaders|formats\/decompress|sig|vm\/engines)\//;

test('vkexec -S, machine show and --version import only what they need', () => {
  const m = path.join(work, 'machine');
  assert.equal(vkexec(m, ['machine', 'init']).code, 0);
  const status = loaded(m, ['-S']);
  assert.equal(status.code, 0);
  none(status.modules, HEAVY, 'for -S, the keyring codec, loaders, engines and kernel code');
  none(status.modules, /node_modules\/commander\/|\/dist\/src\/vm\/kernel\//, 'for -S, commander and the kernel side');
  none(status.modules, /\/dist\/src\/cli\/(report|usage)\.js$/, 'for a -S that succeeds, the failure reporter and the usage text');
  none(status.modules, /\/dist\/src\/vm\/machine\/(lock|blob-stage)\.js$/, 'for -S, which only reads the state, the lock and the blob copier');
  assert.equal(status.asyncLoader, false, '-S imports nothing asynchronously');
  const panic = loaded(m, ['-S', '-p']);
  assert.equal(panic.code, 0, 'no crash kernel loaded');
  assert.equal(panic.asyncLoader, false, '-S -p imports nothing asynchronously');
  const ckr = loaded(m, ['--print-ckr-size']);
  assert.equal(ckr.code, 0);
  assert.equal(ckr.stdout, '0\n', 'no crashkernel= reservation');
  assert.equal(ckr.asyncLoader, false, '--print-ckr-size imports nothing asynchronously');
  const show = loaded(m, ['machine', 'show']);
  assert.equal(show.code, 0);
  assert.match(show.stdout, /^normal +not loaded$/m);
  none(show.modules, HEAVY, 'for machine show, the keyring codec, loaders, engines and kernel code');
  none(show.modules, /\/dist\/src\/cli\/(boot|check|inspect|vmcore|keys|panic|kdump)-|\/dist\/src\/cli\/machine-trust\.js$/, 'for machine show, the other commands');
  assert.equal(show.asyncLoader, false, 'machine show imports nothing asynchronously');
  const version = loaded(m, ['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^vkexec /m);
  none(version.modules, HEAVY, 'for --version, the keyring codec, loaders, engines and kernel code');
  none(version.modules, /\/dist\/src\/(vm\/machine\/|cli\/machine-open\.js$)/, 'for --version, which opens no machine, the machine side');
  assert.equal(version.asyncLoader, false, '--version imports nothing asynchronously');
});

test('a machine with keyrings has them checked on every read: a damaged one makes -S answer 2', () => {
  const m = path.join(work, 'keyed');
  assert.equal(vkexec(m, ['machine', 'init']).code, 0);
  const add = vkexec(m, ['machine', 'keys', 'add', '--keyring', 'blacklist', `tbs:${'ab'.repeat(32)}`]);
  assert.equal(add.code, 0, add.stderr);
  assert.equal(vkexec(m, ['-S']).code, 0);
  const file = path.join(m, 'machine.json');
  const s = JSON.parse(fs.readFileSync(file, 'utf8'));
  s.keyrings.blacklist.hashes = ['not-a-hash'];
  fs.writeFileSync(file, JSON.stringify(s));
  const bad = vkexec(m, ['-S']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /keyrings: /);
  assert.match(bad.stderr, /^vkexec: fix: /m);
  assert.doesNotMatch(bad.stderr, /internal error|    at /);
});
