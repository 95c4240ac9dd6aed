// Start-up is a feature (issue 15): `vkexec -S` in a script loop, `machine show`, `--version` import only what
// they need. The real binary runs with a module load hook (module.register) that lists every module it imports,
// and the test names what must not be among them: commander and chalk/ora for -S, asn1js (the keyring codec),
// the loaders, the inspector and the checker. It also proves the deferred parts still run when needed: a
// machine with keyrings has them checked on every read (a damaged one makes -S answer 2, as before).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { BIN, tempDir, vkexec } from '../helpers/cli.js';

const work = tempDir();
const hook = path.join(work, 'hook.mjs');
const register = path.join(work, 'register.mjs');
fs.writeFileSync(hook, "export async function load(u, c, next) { process._rawDebug('LOADED ' + u); return next(u, c); }\n");
fs.writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hook).href)});\n`);

/** Runs vkexec ARGS on machine M; returns its status and the modules it loaded (file URLs, node: names). */
function loaded(m: string, args: string[]): { code: number; stdout: string; modules: string[] } {
  const r = spawnSync(process.execPath, ['--import', register, BIN, ...args], { encoding: 'utf8', env: { ...process.env, VKEXEC_MACHINE: m, NO_COLOR: '1' } });
  const modules = r.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7));
  assert.ok(modules.some((u) => u.endsWith('/dist/src/cli/main.js')), `the load hook saw no module: ${r.stderr}`);
  return { code: r.status ?? -1, stdout: r.stdout, modules };
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
  const show = loaded(m, ['machine', 'show']);
  assert.equal(show.code, 0);
  assert.match(show.stdout, /^normal +not loaded$/m);
  none(show.modules, HEAVY, 'for machine show, the keyring codec, loaders, engines and kernel code');
  none(show.modules, /\/dist\/src\/cli\/(boot|check|inspect|vmcore|keys|panic|kdump)-|\/dist\/src\/cli\/machine-trust\.js$/, 'for machine show, the other commands');
  const version = loaded(m, ['--version']);
  assert.equal(version.code, 0);
  none(version.modules, HEAVY, 'for --version, the keyring codec, loaders, engines and kernel code');
});

test('a machine with keyrings has them checked on every read: a damaged one makes -S answer 2', () => {
  const m = path.join(work, 'keyed');
  assert.equal(vkexec(m, ['machine', 'init']).code, 0);
  const add = vkexec(m, ['machine', 'keys', 'add', '--keyring', 'blacklist', `tbs:${'ab'.repeat(32)}`]);
  assert.equal(add.code, 0, add.stderr);
  // (The codec is loaded by require(), which the load hook does not see: the damaged state below shows it ran.)
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
