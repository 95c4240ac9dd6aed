// `vkexec check`'s command line (commander): the options, their defaults and the help text; run.ts does the work.

import { Command, Option } from 'commander';
import type { GlobalOpts } from './global-opts.js';
import type { Out } from './output.js';
import { reportFailure } from './report.js';
import { CHECKS, DEFAULT_CHECKS } from './check-cases.js';
import { checkMain, type CheckCli } from './check-run.js';

const collect = (v: string, prev: string[]) => [...prev, v];

export function checkCommand(g: () => GlobalOpts, out: Out, setExit: (code: number) => void): Command {
  return new Command('check')
    .description('check kernel packages end to end: file types, -c and -s loads, the signature verdict, a boot to init, kdump with the vmcore checked in the guest; JUnit/TAP/JSON reports for CI')
    .argument('<input...>', 'Debian kernel package (.deb), a directory laid out like /boot or /lib/modules/RELEASE, or a kernel file')
    .option('--only <checks>', `comma-separated checks to run (${CHECKS.join(', ')}; default: ${DEFAULT_CHECKS.join(', ')})`)
    .option('--skip <checks>', 'comma-separated checks not to run')
    .option('--kdump-size', 'also measure the smallest working crashkernel= (the kdump-size check: several boots)')
    .option('--list', 'print the (input, check) cases this run would have (after --only/--skip/--shard) and stop')
    .option('--junit <file>', 'also write a JUnit XML report to FILE')
    .option('--tap', 'print a TAP version 13 report instead of the table')
    .option('--jobs <n>', 'run N cases at a time (default: the number of CPUs)')
    .option('--shard <k/n>', 'run only share K of N of the (input, check) cases (stable: a hash of input and check)')
    .option('--secure-boot', 'the signature check runs on a machine booted with secure boot')
    .addOption(new Option('--lockdown <mode>', 'lockdown of the signature check\'s machine').choices(['none', 'integrity', 'confidentiality']))
    .option('--key <keyring:file>', 'a certificate in a keyring of the signature check\'s machine (builtin, secondary, platform, blacklist); repeatable', collect, [])
    .option('--initrd <file>', 'with a kernel file: boot this initramfs instead of vkexec\'s check init (needs --expect)')
    .option('--expect <regex>', 'with --initrd: the console line that means the boot (and the capture) worked')
    .option('--append <text>', 'the kernel command line of the loads (default: console=ttyS0 panic=-1; kdump: reset_devices nr_cpus=1 irqpoll too)')
    .addOption(new Option('--engine <engine>', 'engine of the boot and kdump checks').choices(['auto', 'qemu', 'v86', 'verify']).default('auto'))
    .addOption(new Option('--accel <accel>').choices(['auto', 'kvm', 'tcg']).default('auto'))
    .option('--timeout <sec>', 'seconds a boot or capture may take', '300')
    .option('--mem <size>', 'RAM of each check\'s machine', '512M')
    .option('--crashkernel <size>', 'crashkernel= of the kdump machine (and the upper bound of kdump-size)', '256M')
    .action(async (inputs: string[], o: Omit<CheckCli, 'json'>) => {
      try {
        setExit(await checkMain(inputs, { ...o, json: g().json }, out));
      } catch (e) {
        setExit(reportFailure(e, out, 'vkexec'));
      }
    });
}
