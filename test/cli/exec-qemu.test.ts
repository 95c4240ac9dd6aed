// `vkexec -l ... && vkexec -e --engine qemu` end to end through the real binary: Debian's kernels with a busybox
// initramfs whose /init prints VKEXEC-INIT-OK, then the command line, then reboots. Covers the kexec_load (-c) and
// kexec_file_load (-s) layouts, the 32-bit entry (--entry-32bit on x86_64, and an i386 machine), the --fast path,
// a segment altered after loading (the purgatory refuses it), --console, --timeout and the reboot outcome.
// Needs qemu-system-x86 (Debian package) and the fixtures of test/setup/fixtures.mjs. Each boot takes 3-10 s (TCG).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT_ENDED_UNMATCHED, OUTCOME_EXIT } from '../../src/vm/engines/engine.js';
import { fixture, INIT_MARKER } from '../helpers/fixtures.js';
import { BIN, tempDir, vkexec, type Run } from '../helpers/cli.js';
import { debianSecureBootCa } from '../sig/sig-fixtures-lib.js';

const KERNEL64 = fixture('vmlinuz-amd64-unsigned');
const INITRD64 = fixture('initramfs-busybox-amd64.cpio');
const KERNEL32 = fixture('vmlinuz-686');
const INITRD32 = fixture('initramfs-busybox-i386.cpio');
const APPEND = 'console=ttyS0 panic=-1';
/**
 * The marker, then /init's next line: the kernel command line, which proves --append arrived. Kernel log lines
 * ("[    2.28] clocksource: ...") may come between the two. The serial console ends lines with CR LF; the
 * engine's matcher drops the CR, the echoed stdout keeps it.
 */
const EXPECT = `${INIT_MARKER}\\r?\\n(?:\\[[^\\n]*\\n)*[^[\\n][^\\n]*panic=-1`;
const EXEC = ['-e', '--engine', 'qemu', '--accel', 'tcg', '--expect', EXPECT, '--timeout', '120'];

const qemu = spawnSync('qemu-system-x86_64', ['-version'], { encoding: 'utf8' });
assert.ok(!qemu.error && /QEMU emulator version/.test(qemu.stdout), 'qemu-system-x86_64 is needed for these tests: apt-get install qemu-system-x86');

const temps: string[] = [];
process.on('exit', () => temps.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function scratch(): string {
  const d = tempDir();
  temps.push(d);
  return d;
}

function newMachine(...init: string[]): string {
  const dir = path.join(scratch(), 'm');
  const r = vkexec(dir, ['machine', 'init', ...init]);
  assert.equal(r.code, 0, r.stderr);
  return dir;
}

function ok(r: Run, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\n--- stderr\n${r.stderr}\n--- stdout (tail)\n${r.stdout.slice(-3000)}`);
}

/** Loads with `load` options, then executes on QEMU until the marker and the command line appear. */
function loadAndBoot(m: string, load: string[]): Run {
  ok(vkexec(m, load), `vkexec ${load.join(' ')}`);
  const r = vkexec(m, EXEC);
  ok(r, 'vkexec -e');
  assert.match(r.stdout, new RegExp(EXPECT), 'the guest console is echoed on stdout');
  assert.match(r.stderr, /qemu: matched after/);
  return r;
}

test('-c -l: the kexec_load layout of a bzImage64 boots to /init, --console keeps a copy of the console', () => {
  const m = newMachine();
  ok(vkexec(m, ['-c', '-l', KERNEL64, '--initrd', INITRD64, '--append', APPEND]), '-c -l');
  const log = path.join(scratch(), 'console.log');
  const r = vkexec(m, [...EXEC, '--console', log]);
  ok(r, '-e');
  const text = fs.readFileSync(log, 'latin1');
  assert.match(text, /Linux version 6\./);
  assert.match(text, /Command line: console=ttyS0 panic=-1/);
  assert.match(text, new RegExp(EXPECT));
});

test('-s -l: the kexec_file_load layout boots to /init', () => {
  loadAndBoot(newMachine(), ['-s', '-l', KERNEL64, '--initrd', INITRD64, '--append', APPEND]);
});

test('without --expect the guest runs to its reboot -f: outcome reboot, exit 0', () => {
  const m = newMachine();
  ok(vkexec(m, ['-c', '-l', KERNEL64, '--initrd', INITRD64, '--append', APPEND]), '-c -l');
  const r = vkexec(m, ['-e', '--engine', 'qemu', '--accel', 'tcg', '--timeout', '120']);
  ok(r, '-e');
  assert.match(r.stdout, /reboot: Restarting system/);
  assert.match(r.stderr, /qemu: reboot after/);
  // The same guest with a marker it never prints: a reboot is no success (a broken init must not pass CI).
  const never = vkexec(m, ['-e', '--engine', 'qemu', '--accel', 'tcg', '--expect', 'NEVER-PRINTED', '--timeout', '120']);
  assert.equal(never.code, EXIT_ENDED_UNMATCHED, never.stderr);
  assert.match(never.stderr, /qemu: reboot without matching --expect \/NEVER-PRINTED\/ after/);
  assert.match(never.stderr, /diagnosis: the guest ended \(reboot\) before the marker: init finished without printing it/);
  assert.match(never.stderr, /vkexec: fix: make init print the --expect marker/);
});

test('--expect unmatched when the guest powers off: exit 6 on both engines, for boot, machine panic and --json', () => {
  for (const engine of ['qemu', 'v86']) {
    const r = vkexec(null, ['boot', '--probe', '--engine', engine, '--expect', 'NEVER-PRINTED', '--timeout', '120']);
    assert.equal(r.code, EXIT_ENDED_UNMATCHED, `${engine}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${engine}: poweroff without matching --expect /NEVER-PRINTED/`));
    const matched = vkexec(null, ['boot', '--probe', '--engine', engine, '--expect', 'VKEXEC-PROBE-END', '--timeout', '120']);
    assert.equal(matched.code, 0, `${engine}: ${matched.stderr}`);
    const plain = vkexec(null, ['boot', '--probe', '--engine', engine, '--timeout', '120']);
    assert.equal(plain.code, 0, `${engine} without --expect a power-off is success: ${plain.stderr}`);
  }
  const json = vkexec(null, ['--json', 'boot', '--probe', '--engine', 'qemu', '--expect', 'NEVER-PRINTED', '--timeout', '120']);
  assert.equal(json.code, EXIT_ENDED_UNMATCHED, json.stderr);
  const o = JSON.parse(json.stdout) as { status: string; exitStatus: number; expectMatched: boolean };
  assert.deepEqual([o.status, o.exitStatus, o.expectMatched], ['poweroff', EXIT_ENDED_UNMATCHED, false]);
  const m = newMachine('--mem', '1G', '--crashkernel', '256M');
  const probe = path.join(scratch(), 'probe.bzImage');
  ok(vkexec(m, ['probe-kernel', '--out', probe]), 'probe-kernel');
  ok(vkexec(m, ['-p', probe, '--append', 'console=ttyS0']), '-p probe');
  const panic = vkexec(m, ['machine', 'panic', '--engine', 'qemu', '--accel', 'tcg', '--expect', 'NEVER-PRINTED', '--timeout', '120']);
  assert.equal(panic.code, EXIT_ENDED_UNMATCHED, panic.stderr);
});

/** Pids of live processes whose command line mentions `text`. */
function processesMentioning(text: string): string[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && p !== String(process.pid)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(text);
    } catch {
      return false; // gone meanwhile
    }
  });
}

/** Runs `vkexec boot` with its own TMPDIR, sends `sig` once stdout shows `when` (null: once boot made its temporary machine, during the load). */
function bootAndSignal(sig: NodeJS.Signals, when: RegExp | null): Promise<{ code: number | null; stderr: string; tmp: string }> {
  const tmp = scratch();
  const args = [BIN, 'boot', KERNEL64, '--initrd', INITRD64, '--append', APPEND, '--engine', 'qemu', '--accel', 'tcg', '--timeout', '300'];
  const child = spawn(process.execPath, args, { env: { ...process.env, TMPDIR: tmp, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let sent = false;
  const send = () => {
    if (!sent) child.kill(sig);
    sent = true;
  };
  if (when === null) {
    const poll = setInterval(() => {
      if (fs.readdirSync(tmp).some((n) => n.startsWith('vkexec-boot-'))) {
        clearInterval(poll);
        send();
      }
    }, 5);
    child.on('close', () => clearInterval(poll));
  }
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString('latin1');
    if (when && when.test(stdout)) send();
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr, tmp })));
}

test('SIGINT, SIGTERM, SIGHUP during vkexec boot: QEMU stopped, temporary files removed, exit 130/143/129', async () => {
  const cases: [NodeJS.Signals, number, RegExp | null][] = [
    ['SIGINT', 130, /Linux version/],
    ['SIGTERM', 143, /Linux version/],
    ['SIGHUP', 129, /Linux version/],
    ['SIGTERM', 143, null], // early: while the temporary machine is made and the kernel loaded, before QEMU runs
  ];
  for (const [sig, status, when] of cases) {
    const r = await bootAndSignal(sig, when);
    assert.equal(r.code, status, `${sig} (${when ?? 'early'}): ${r.stderr}`);
    assert.deepEqual(fs.readdirSync(r.tmp), [], `${sig}: nothing left in TMPDIR ${r.tmp}`);
    assert.deepEqual(processesMentioning(r.tmp), [], `${sig}: no process (QEMU) left running on ${r.tmp}`);
  }
});

test('boot -s on a secure-boot machine that trusts Debian\'s CA: the Debian-signed kernel loads and boots to /init', () => {
  const m = newMachine('--secure-boot', 'on', '--sig-enforce', 'on');
  ok(vkexec(m, ['machine', 'keys', 'add', '--keyring', 'platform', debianSecureBootCa().pem]), 'keys add');
  const r = vkexec(m, ['boot', '-s', fixture('vmlinuz-amd64'), '--initrd', INITRD64, '--append', APPEND, '--engine', 'qemu', '--accel', 'tcg', '--expect', EXPECT, '--timeout', '180']);
  ok(r, 'boot -s');
  assert.match(r.stdout, new RegExp(EXPECT));
});

test('--entry-32bit on an x86_64 machine: the 686 kernel through the 32-bit boot protocol', () => {
  const r = loadAndBoot(newMachine(), ['-c', '-l', '--entry-32bit', KERNEL32, '--initrd', INITRD32, '--append', APPEND]);
  assert.match(r.stdout, /Linux version 6\.\S+-686/);
});

test('an i386 machine: the purgatory starts in protected mode and enters the 686 kernel at 32 bits', () => {
  const m = newMachine('--arch', 'i386');
  const r = loadAndBoot(m, ['-c', '-l', KERNEL32, '--initrd', INITRD32, '--append', APPEND]);
  assert.match(r.stdout, /Linux version 6\.\S+-686/);
});

test('-l --fast: the host-decompressed vmlinux entered at startup_64 boots to /init', () => {
  const m = newMachine();
  const load = vkexec(m, ['-d', '-l', '--fast', KERNEL64, '--initrd', INITRD64, '--append', APPEND]);
  ok(load, '-l --fast');
  // Without -s or -c the load goes through kexec_load; the vmlinux sits at its link address (LOAD_PHYSICAL_ADDR).
  assert.match(load.stderr, /--fast: xz payload unpacked: vmlinux \[0x1000000, /);
  assert.match(load.stderr, /Loaded vmlinux at 0x1000000 \(phys_base 0x0\), startup_64 at 0x1000000/);
  const r = vkexec(m, EXEC);
  ok(r, '-e');
  assert.match(r.stdout, new RegExp(EXPECT));
});

test('boot --fast: load and execute in one step on a fresh machine', () => {
  const r = vkexec(null, ['boot', '--fast', KERNEL64, '--initrd', INITRD64, '--append', APPEND, '--engine', 'qemu', '--accel', 'tcg', '--expect', EXPECT, '--timeout', '120']);
  ok(r, 'boot --fast');
  assert.match(r.stdout, new RegExp(EXPECT));
});

test('-p --fast: the vmlinux moved into the crashkernel= region (phys_base) boots when the machine panics', () => {
  const m = newMachine('--mem', '1G', '--crashkernel', '256M');
  const load = vkexec(m, ['-d', '-p', '--fast', KERNEL64, '--initrd', INITRD64, '--append', APPEND]);
  ok(load, '-p --fast');
  const at = /Loaded vmlinux at (0x[0-9a-f]+) \(phys_base (0x[0-9a-f]+)\)/.exec(load.stderr);
  assert.ok(at, load.stderr);
  assert.ok(BigInt(at[2]!) > 0n && BigInt(at[2]!) % 0x200000n === 0n, `the move is a non-zero multiple of 2 MiB: ${at[0]}`);
  const r = vkexec(m, ['machine', 'panic', '--engine', 'qemu', '--accel', 'tcg', '--expect', EXPECT, '--timeout', '120']);
  ok(r, 'machine panic');
  assert.match(r.stdout, /Command line: console=ttyS0 panic=-1 elfcorehdr=/);
});

test('a kernel that panics (no root, no initramfs): outcome panic, its exit status', () => {
  const m = newMachine();
  ok(vkexec(m, ['-c', '-l', KERNEL64, '--append', APPEND]), '-c -l');
  const r = vkexec(m, ['-e', '--engine', 'qemu', '--accel', 'tcg', '--timeout', '120']);
  assert.equal(r.code, OUTCOME_EXIT.panic, r.stderr);
  assert.match(r.stderr, /console: .*Kernel panic - not syncing: VFS: Unable to mount root fs/);
  assert.match(r.stderr, /qemu: panic after/);
});

test('--fast is refused where it cannot apply: -s, --entry-32bit, a 32-bit kernel', () => {
  const m = newMachine();
  const s = vkexec(m, ['-s', '-l', '--fast', KERNEL64]);
  assert.equal(s.code, 1, s.stderr);
  assert.match(s.stderr, /--fast is not supported with kexec_file_load/);
  const e32 = vkexec(m, ['-c', '-l', '--fast', '--entry-32bit', KERNEL64]);
  assert.equal(e32.code, 255, e32.stderr);
  assert.match(e32.stderr, /--fast needs a relocatable 64-bit bzImage entered at 64 bits: --entry-32bit/);
  const k32 = vkexec(m, ['-c', '-l', '--fast', KERNEL32]);
  assert.equal(k32.code, 255, k32.stderr);
  assert.match(k32.stderr, /--fast needs a relocatable 64-bit bzImage .*is loaded as bzImage/);
  const st = vkexec(m, ['machine', 'show']);
  assert.match(st.stdout, /normal\s+not loaded/);
});

test('a segment altered after loading: the purgatory refuses to start it', () => {
  const m = newMachine();
  ok(vkexec(m, ['-c', '-l', KERNEL64, '--initrd', INITRD64, '--append', APPEND]), '-c -l');
  // The largest blob is the kernel's protected-mode code; flip one byte in its middle.
  const blobs = path.join(m, 'blobs');
  const biggest = fs.readdirSync(blobs).map((n) => path.join(blobs, n)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!;
  const fd = fs.openSync(biggest, 'r+');
  const at = Math.floor(fs.fstatSync(fd).size / 2);
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0] ^= 0xff;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
  const r = vkexec(m, EXEC);
  assert.equal(r.code, OUTCOME_EXIT['purgatory-mismatch'], r.stderr);
  assert.match(r.stdout, /sha256 digests do not match/);
  assert.match(r.stderr, /purgatory: sha256 digests do not match: the purgatory refused to start the loaded image/);
  assert.doesNotMatch(r.stdout, /Linux version/);
  // Post-mortem: the CPU read through QMP sits in the purgatory's digest loop.
  assert.match(r.stderr, /CPU \(QMP info registers\): RIP=0x[0-9a-f]+ RSP=0x[0-9a-f]+ CR0=0x[0-9a-f]+ CR3=0x[0-9a-f]+ CR4=0x[0-9a-f]+ EFER=0x[0-9a-f]+ mode=long64/);
  assert.match(r.stderr, /RIP is in purgatory segment\[\d+\] \+0x[0-9a-f]+ \(purgatory\+0x[0-9a-f]+\)/, 'the purgatory\'s own function is named');
  assert.match(r.stderr, /diagnosis: the purgatory stopped in its digest loop .*a segment changed after the load/);
  assert.match(r.stderr, /vkexec: fix: load the image again/);
});

/** -e on a machine loaded with `load`, --json: the outcome and its post-mortem. */
function brokenRun(load: string[], timeout = '150'): { code: number; o: { status: string; postMortem?: { cpu?: { rip: string }; placement?: { segment: string }; diagnosis: string; fix: string } } } {
  const m = newMachine();
  ok(vkexec(m, load), load.join(' '));
  const r = vkexec(m, ['--json', '-e', '--engine', 'qemu', '--accel', 'tcg', '--expect', INIT_MARKER, '--timeout', timeout]);
  return { code: r.code, o: JSON.parse(r.stdout) };
}

test('post-mortem: a kernel with console output disabled (no console=ttyS0) never writes to the console', () => {
  const { code, o } = brokenRun(['-c', '-l', KERNEL64, '--initrd', INITRD64, '--append', 'panic=-1']);
  assert.notEqual(code, 0);
  assert.ok(o.postMortem, JSON.stringify(o));
  assert.match(o.postMortem.diagnosis, /the kernel never wrote to the console/);
  assert.match(o.postMortem.fix, /earlyprintk=serial,ttyS0,115200/);
  assert.equal(o.postMortem.placement?.segment, 'kernel', JSON.stringify(o.postMortem));
});

test('post-mortem: a wrong entry point (--entry into empty RAM) is placed outside every segment', () => {
  const { code, o } = brokenRun(['-c', '-l', '--entry=0x5000000', KERNEL64, '--initrd', INITRD64, '--append', APPEND], '60');
  assert.notEqual(code, 0);
  assert.ok(o.postMortem?.cpu, JSON.stringify(o));
  assert.equal(o.postMortem?.placement?.segment, 'none', JSON.stringify(o.postMortem));
  assert.match(o.postMortem?.diagnosis ?? '', /hand-off jumped to a wrong place/);
});

test('post-mortem: an init that exits is a panic with its first line and the fix', () => {
  const { code, o } = brokenRun(['-c', '-l', KERNEL64, '--initrd', INITRD64, '--append', `${APPEND} rdinit=/bin/busybox`]);
  assert.equal(code, OUTCOME_EXIT.panic);
  assert.match(o.postMortem?.diagnosis ?? '', /the kernel panicked: .*Attempted to kill init/);
  assert.match(o.postMortem?.fix ?? '', /init exited/);
});

test('post-mortem: boot_params zeroed after the load (purgatory checks off, -i): the kernel never writes, RIP placed', () => {
  const m = newMachine();
  ok(vkexec(m, ['-c', '-l', '-i', KERNEL64, '--initrd', INITRD64, '--append', APPEND]), '-c -l -i');
  // The boot_params segment's blob: the small one holding "HdrS" at 0x202.
  const blobs = path.join(m, 'blobs');
  const bp = fs.readdirSync(blobs).map((n) => path.join(blobs, n)).find((f) => {
    const b = fs.readFileSync(f);
    return b.length <= 0x10000 && b.subarray(0x202, 0x206).toString('latin1') === 'HdrS';
  });
  assert.ok(bp, 'a boot_params blob');
  fs.writeFileSync(bp, Buffer.alloc(fs.statSync(bp).size));
  const r = vkexec(m, ['--json', '-e', '--engine', 'qemu', '--accel', 'tcg', '--expect', INIT_MARKER, '--timeout', '60']);
  assert.notEqual(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { postMortem?: { cpu?: unknown; placement?: { segment: string }; diagnosis: string } };
  assert.ok(o.postMortem?.cpu, r.stdout);
  assert.ok(o.postMortem?.placement, r.stdout);
  assert.match(o.postMortem!.diagnosis, /never wrote to the console|hand-off jumped to a wrong place|triple fault/);
});

test('--timeout: no outcome in time ends QEMU with exit 124', () => {
  const m = newMachine();
  ok(vkexec(m, ['-c', '-l', KERNEL64, '--initrd', INITRD64, '--append', APPEND]), '-c -l');
  const r = vkexec(m, ['-e', '--engine', 'qemu', '--accel', 'tcg', '--expect', 'never-printed', '--timeout', '1']);
  assert.equal(r.code, 124, r.stderr);
  assert.match(r.stderr, /qemu: timeout after/);
});
