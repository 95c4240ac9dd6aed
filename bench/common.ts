// What every benchmark script needs: the repository's paths and `--name value` options with defaults.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin/vkexec.js');
export const FIXTURE_CACHE = join(ROOT, 'test/fixtures/cache');

/** The value after `name` on the command line, or `def`. */
export function opt(name: string, def: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
}
