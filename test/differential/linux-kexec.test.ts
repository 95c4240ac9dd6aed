// The differential test against the real kernels: Debian's 6.1 and 6.12 amd64 kernels boot in QEMU (one boot
// each, both at once; see linux-guest.ts) and make the same kexec_file_load/kexec_load calls that are then made
// to a vkexec machine of the same release cloned from the guest (/proc/iomem, /sys/firmware/memmap, uname -r,
// the vmcoreinfo text the real capture kernel read from /proc/vmcore, machine init --vmcoreinfo). Required equal: every call's errno (lockdown off and on;
// unsigned, Debian-signed (its CA is in no keyring of a SeaBIOS guest) and tampered images; unknown flags),
// every kexec log line the kernel printed (placements, bufsz, memsz, the elfcorehdr, both e820 tables, the
// final command line), the crash_notes_size and vmcoreinfo views; then, after the guest's real panic and
// `machine panic` on the clone (QEMU engine, the same capture kernel and initramfs): /proc/vmcore's ELF
// header, every program header (offsets and sizes: the merged PT_NOTE's page count follows the note sizes)
// and note, the VMCOREINFO text but CRASHTIME, the layout machine panic predicts (crash-vmcore.ts), the
// capture kernel's e820 and its setup_data nodes (no RNG seed: crng is not ready at the load on either side);
// and the vmcoreinfo lines vkexec writes itself from the guest's kallsyms (machine init --system-map).
// Left out of the comparison, each for a stated reason: the purgatory relocation lines ("kexec: Applying
// relocate section", "Symbol:"; vkexec runs its own purgatory, only its footprint is Debian's), the entry point
// inside the purgatory and the indirection page in "head:" (kernel allocations), the lines of vkexec's own
// vmcoreinfo text that need debug information (vmcoreinfoLines), and a crash load under lockdown (it would free the capture kernel of the real panic: see CALLS).
// Needs qemu-system-x86_64, gcc with static libc, and the fixtures (6.12 kernels: test/setup/fixtures.mjs).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readState, writeState } from '../../src/vm/machine/machine.js';
import { readView } from '../../src/vm/machine/views.js';
import { systemMapSymbols, vmcoreinfoText } from '../../src/vm/kernel/vmcoreinfo.js';
import { tempDir, vkexec, vkexecAsync } from '../helpers/cli.js';
import { requireTools } from '../helpers/tools.js';
import { callVkexec, normalise } from './linux-compare.js';
import { CALLS, GUEST_CPUS, LOAD_CMDLINE, bootGuest, buildInitramfs, guestCmdline, parseConsole, type GuestRun, type Release } from './linux-guest.js';

const RELEASES: Release[] = ['6.1', '6.12'];
const scratch: string[] = [];
after(() => {
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});

const guests = new Map<Release, { run: GuestRun; files: Record<string, string> }>();
/** The machine each release's comparison test cloned and made every call on (its crash image: "panic-load"). */
const clones = new Map<Release, string>();
const boot = (async () => {
  const ready = RELEASES.map(async (release) => {
    const dir = tempDir(`vkexec-linux-${release}-`);
    scratch.push(dir);
    const { cpio, files } = buildInitramfs(release, dir);
    const run = await bootGuest(release, cpio);
    // VKEXEC_LINUX_KEEP=DIR keeps each guest's console (to read what the real kernel printed).
    if (process.env.VKEXEC_LINUX_KEEP) fs.writeFileSync(path.join(process.env.VKEXEC_LINUX_KEEP, `linux-${release}.console`), run.console);
    guests.set(release, { run, files });
  });
  await Promise.all(ready);
})();

test('the real kernels boot and make every call (Debian 6.1 and 6.12 in QEMU)', async (t) => {
  if (!requireTools(t, ['qemu-system-x86_64', 'gcc'], 'VKEXEC_SKIP_QEMU', 'qemu-system-x86 gcc libc6-dev')) return;
  await boot;
  for (const r of RELEASES) {
    const g = guests.get(r)!.run;
    assert.ok(g.osrelease.startsWith(`${r}.`), `the ${r} guest runs "${g.osrelease}"; its console:\n${g.console.slice(0, 3000)}`);
    assert.equal(g.calls.size, CALLS.length, `${r}: every call reported`);
    assert.match(g.iomem, /: Crash kernel$/m, `${r}: crashkernel= reserved a region`);
  }
});

for (const release of RELEASES) {
  test(`Linux ${release}: a machine cloned from the guest gives the same errnos and kexec log lines`, async (t) => {
    if (!requireTools(t, ['qemu-system-x86_64', 'gcc'], 'VKEXEC_SKIP_QEMU', 'qemu-system-x86 gcc libc6-dev')) return;
    await boot;
    const { run, files } = guests.get(release)!;
    const dir = tempDir('vkexec-clone-');
    scratch.push(dir);
    const iomem = path.join(dir, 'iomem.txt');
    fs.writeFileSync(iomem, run.iomem);
    const memmap = path.join(dir, 'memmap.txt');
    fs.writeFileSync(memmap, run.memmap);
    // The real kernel's vmcoreinfo text, as its capture kernel read it from /proc/vmcore (CRASHTIME is vkexec's).
    const info = path.join(dir, 'vmcoreinfo.txt');
    fs.writeFileSync(info, realVmcoreinfo(run).join('\n') + '\n');
    const m = path.join(dir, 'm');
    clones.set(release, m);
    const init = vkexec(m, ['machine', 'init', '--iomem', iomem, '--memmap', memmap, '--kernel-release', release, '--osrelease', run.osrelease, '--vmcoreinfo', info, '--cmdline', guestCmdline(), '--cpus', GUEST_CPUS]);
    assert.equal(init.code, 0, init.stderr);
    const state = readState(m);
    assert.equal(readView(state, '/sys/devices/system/cpu/cpu0/crash_notes_size')!.trim(), run.views.crash_notes_size, 'crash_notes_size');
    assert.equal(readView(state, '/sys/kernel/vmcoreinfo')!.trim().split(' ')[1], run.views.vmcoreinfo!.split(' ')[1], 'vmcoreinfo note size');
    assert.equal(readView(state, '/proc/sys/kernel/osrelease')!.split('.').slice(0, 2).join('.'), release);
    const mismatches: string[] = [];
    for (const [name, args] of CALLS) {
      if (name.startsWith('lk-') && readState(m).config.lockdown === 'none') {
        const s = readState(m);
        s.config.lockdown = 'integrity';
        writeState(m, s);
      }
      const real = run.calls.get(name)!;
      const mine = callVkexec(m, args, files);
      if (mine.errno !== real.errno) mismatches.push(`${name}: errno ${mine.errno}, the real kernel ${real.errno}`);
      if (args[0] !== 'file') continue; // kexec_load logs nothing on either release without lockdown (its Lockdown line is the LSM's)
      const opts = { dropE820: false };
      const want = normalise(real.log, opts);
      const got = normalise(mine.log, opts);
      if (JSON.stringify(want) !== JSON.stringify(got)) mismatches.push(`${name} (flags ${args[4]}): log lines differ\n  real:   ${want.join('\n          ')}\n  vkexec: ${got.join('\n          ')}`);
    }
    assert.deepEqual(mismatches, [], `Linux ${release} and vkexec differ:\n${mismatches.join('\n')}`);
    assert.ok(LOAD_CMDLINE.length > 0);
  });
}

/** kx vmcore's lines: the header, each program header, each note's name, type and size. */
function vmcoreHeaders(lines: readonly string[]): string[] {
  return lines.filter((l) => /^VKX-(EHDR|PHDR|NOTE) /.test(l));
}

/** The VMCOREINFO text of the guest's real panic, as kx vmcore printed it. */
function realVmcoreinfo(run: GuestRun): string[] {
  return (run.capture.vmcore ?? []).filter((l) => l.startsWith('VKX-VMCOREINFO ')).map((l) => l.slice('VKX-VMCOREINFO '.length));
}

/** The layout kx vmcore shows, in the words of machine panic's prediction (crash-vmcore.ts procVmcoreSummary). */
function layoutOf(lines: readonly string[]): string {
  const phdrs = lines.map((l) => /^VKX-PHDR type=(\d+) offset=(\S+) vaddr=\S+ paddr=(\S+) filesz=(\S+)/.exec(l)).filter((m) => m !== null);
  const note = phdrs.find((m) => m[1] === '4');
  const load = phdrs.find((m) => m[1] === '1');
  const pages = note ? Math.ceil(Number(note[4]) / 4096) : 0;
  return `PT_NOTE ${note?.[4]} bytes at ${note?.[2]} in ${pages} page${pages === 1 ? '' : 's'}; the first PT_LOAD (paddr ${load?.[3]}) at offset ${load?.[2]}`;
}

/**
 * The vmcoreinfo lines vkexec can write for a machine given the guest's kallsyms: all but BUILD-ID, OFFSET(),
 * SIZE(), LENGTH() (debug information), SYMBOL(mem_section) (an address the kernel allocated), SYMBOL()s of
 * symbols /proc/kallsyms does not list (kallsyms_*: the kallsyms tables leave themselves out) and CRASHTIME.
 */
function vmcoreinfoLines(lines: readonly string[], kallsyms: string): string[] {
  const known = new Set(kallsyms.split('\n').map((l) => l.split(' ')[2]));
  return lines
    .filter((l) => l.startsWith('VKX-VMCOREINFO '))
    .map((l) => l.slice('VKX-VMCOREINFO '.length))
    .filter((l) => !/^(BUILD-ID|CRASHTIME|VKEXEC_FILL)=|^(OFFSET|SIZE|LENGTH)\(|^SYMBOL\(mem_section\)/.test(l))
    .filter((l) => !/^SYMBOL\(kallsyms_/.test(l) || known.has(/\((\w+)\)/.exec(l)![1]));
}

for (const release of RELEASES) {
  test(`Linux ${release}: machine panic gives the capture kernel the /proc/vmcore headers and e820 of a real panic`, async (t) => {
    if (!requireTools(t, ['qemu-system-x86_64', 'gcc'], 'VKEXEC_SKIP_QEMU', 'qemu-system-x86 gcc libc6-dev')) return;
    await boot;
    const real = guests.get(release)!.run;
    assert.equal(real.calls.get('panic-load')?.errno, 0, `${release}: the guest loaded its capture kernel`);
    assert.ok(real.console.includes('VKX-CAPTURE-DONE'), `${release}: the real capture kernel ran its init; console tail:\n${real.console.slice(-3000)}`);
    const m = clones.get(release);
    assert.ok(m, 'the comparison test above made the cloned machine');
    assert.equal(vkexec(m, ['machine', 'show', '--file', '/sys/kernel/kexec_crash_loaded']).stdout.trim(), '1', 'panic-load left a crash image');
    const consoleFile = path.join(path.dirname(m), `panic-${release}.log`);
    // The same capture kernel and initramfs, booted by `machine panic` (QEMU engine) with the machine's old RAM.
    const p = await vkexecAsync(m, ['machine', 'panic', '--engine', 'qemu', '--expect', 'VKX-CAPTURE-DONE', '--timeout', '900', '--console', consoleFile]);
    assert.equal(p.code, 0, `machine panic: ${p.stderr}`);
    const mineText = fs.readFileSync(consoleFile, 'utf8').replace(/\r/g, '');
    if (process.env.VKEXEC_LINUX_KEEP) fs.writeFileSync(path.join(process.env.VKEXEC_LINUX_KEEP, `vkexec-${release}.console`), mineText);
    const mine = parseConsole(release, mineText + '\nVKX-DONE\n').capture;
    const differ: string[] = [];
    const same = (what: string, a: readonly string[] | undefined, b: readonly string[] | undefined) => {
      if (JSON.stringify(a) !== JSON.stringify(b)) differ.push(`${what}:\n  real:   ${(b ?? []).join('\n          ')}\n  vkexec: ${(a ?? []).join('\n          ')}`);
    };
    same('/proc/vmcore headers', vmcoreHeaders(mine.vmcore ?? []), vmcoreHeaders(real.capture.vmcore ?? []));
    // machine panic's prediction of the layout (fs/proc/vmcore.c rules) against what the real capture kernel built.
    const predicted = /merge_note_headers_elf64\): (PT_NOTE .*)$/m.exec(p.stderr)?.[1];
    same('the /proc/vmcore layout machine panic reports', [predicted ?? '(no layout line)'], [layoutOf(real.capture.vmcore ?? [])]);
    same('capture e820', mine.e820, real.capture.e820);
    // setup_rng_seed chains the RNG seed only when crng is ready (the guest's getrandom at the load: crng view).
    same(`capture setup_data (crng ${real.views.crng ?? 'unknown'} at the load)`, mine['setup_data'], real.capture['setup_data']);
    const noTime = (l: string[]) => l.map((x) => x.replace(/^CRASHTIME=\d+$/, 'CRASHTIME=T'));
    same('vmcoreinfo (machine init --vmcoreinfo)', noTime(realVmcoreinfo({ ...real, capture: mine })), noTime(realVmcoreinfo(real)));
    // vkexec's own text for a machine given the guest's kallsyms instead (machine init --system-map).
    const own = { ...readState(m).config, vmcoreinfo: undefined, kernelSymbols: systemMapSymbols(real.kallsyms, 'kallsyms', release) };
    const ownLines = vmcoreinfoText(own, { fill: null, crashTime: 0n }).trim().split('\n').map((l) => `VKX-VMCOREINFO ${l}`);
    same('vmcoreinfo (machine init --system-map)', vmcoreinfoLines(ownLines, real.kallsyms), vmcoreinfoLines(real.capture.vmcore ?? [], real.kallsyms));
    assert.deepEqual(differ, [], `Linux ${release}: machine panic and the real panic differ:\n${differ.join('\n')}`);
  });
}
