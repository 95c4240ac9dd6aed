// Runs the real vkexec binary (bin/vkexec.js over dist/) as a user would, against a throwaway machine.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.join(ROOT, 'bin', 'vkexec.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const made: string[] = [];
let cleanupInstalled = false;

/** A fresh temporary directory, removed when the test process exits (the suite leaves no temporary files). */
export function tempDir(prefix = 'vkexec-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    process.on('exit', () => made.forEach((m) => fs.rmSync(m, { recursive: true, force: true })));
  }
  return d;
}

function env(machine: string | null, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // The user's payload cache stays untouched and every --fast decodes, unless a test gives a cache directory.
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', VKEXEC_PAYLOAD_CACHE: 'off', ...extra };
  if (machine) e.VKEXEC_MACHINE = machine;
  else delete e.VKEXEC_MACHINE;
  return e;
}

export function vkexec(machine: string | null, args: string[], extra: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: env(machine, extra), maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function vkexecAsync(machine: string | null, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: env(machine) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A snapshot of everything in a machine directory (names and bytes), to prove a failed command changed nothing. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      if (fs.statSync(p).isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}
