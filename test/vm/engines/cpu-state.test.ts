// The post-mortem's CPU state from QEMU's register dumps (target/i386/cpu-dump.c formats, as QEMU 7-9 print them).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeCpu, parseQemuRegisters } from '../../../src/vm/engines/cpu-state.js';

const DUMP64 = `RAX=0000000000000000 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000000
RSI=0000000000003000 RDI=0000000000000000 RBP=0000000000000000 RSP=000000001ffdc000
R8 =0000000000000000 R9 =0000000000000000 R10=0000000000000000 R11=0000000000000000
RIP=000000001ffdd123 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=1
ES =0018 0000000000000000 ffffffff 00c09300 DPL=0 DS   [-WA]
CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]
CR0=80000011 CR2=0000000000000000 CR3=0000000000001000 CR4=00000020
EFER=0000000000000500
`;

const DUMP32 = `CPU Reset (CPU 0)
EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000000
ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000
EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
CS =f000 ffff0000 0000ffff 00009b00
CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000
EFER=0000000000000000
`;

test('a 64-bit dump: RIP, RSP, control registers, EFER, long mode from CS64, HLT', () => {
  const c = parseQemuRegisters(DUMP64, 'QMP info registers');
  assert.deepEqual(c, { rip: '0x1ffdd123', rsp: '0x1ffdc000', cr0: '0x80000011', cr3: '0x1000', cr4: '0x20', efer: '0x500', mode: 'long64', halted: true, source: 'QMP info registers' });
  assert.match(describeCpu(c!), /RIP=0x1ffdd123 RSP=0x1ffdc000 CR0=0x80000011 CR3=0x1000 CR4=0x20 EFER=0x500 mode=long64 halted/);
});

const DUMP32_PROT = DUMP32.replace('EIP=0000fff0', 'EIP=00100a10').replace('CR0=60000010', 'CR0=00000011').replace('CS =f000 ffff0000 0000ffff 00009b00', 'CS =0010 00000000 ffffffff 00cf9b00 DPL=0 CS32 [-RA]');

test('the cpu_reset log: the last dump that is not the reset state itself, 32-bit form', () => {
  const c = parseQemuRegisters(DUMP32 + DUMP32_PROT + DUMP32, 'QEMU cpu_reset log');
  assert.equal(c?.rip, '0x100a10');
  assert.equal(c?.mode, 'protected32');
  assert.equal(c?.halted, false);
  assert.equal(parseQemuRegisters(DUMP32 + DUMP32, 'x'), null, 'only reset states: nothing to report');
  assert.equal(parseQemuRegisters('no registers here', 'x'), null);
});
