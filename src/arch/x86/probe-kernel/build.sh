#!/usr/bin/env bash
# Builds vkexec's probe kernel: probe-bzImage and probe-vmlinux, byte-for-byte deterministic for a given
# toolchain. The committed images come from Debian 12's gcc 12.2.0 and binutils 2.40 (apt-get install gcc
# binutils); another compiler version may emit other (equally valid) bytes.
# Usage: build.sh [OUTDIR]  (default: this directory, i.e. rebuild the committed images).
#
# bzImage layout:
#   0 .. 0xa00                  setup.S: boot sector, setup header (protocol 2.15), 16-bit setup
#   0xa00 ..                    protected-mode part (code32_start = its offset 0; 64-bit entry at +0x200):
#     0 .. |probe.bin|            head.S + probe.c (i386) + probe.c (x86_64) + kernel_info
#     PAYLOAD_OFFSET ..           probe-vmlinux, uncompressed ELF (payload_offset/payload_length)
#     .. INIT_SIZE                the stack (memory only)
# probe-vmlinux: ELF64 ET_EXEC, one PT_LOAD of probe.bin at 0x1000000, e_entry 0x1000200.
# probe-multiboot: ELF32 ET_EXEC, one PT_LOAD at 0x1000000: Multiboot v1 and v2 headers, multiboot.S's entry,
#   then probe.bin (entered through its 32-bit probe with the multiboot magic and information).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
CC=${CC:-gcc}
AS=${AS:-as}
LD=${LD:-ld}
OBJCOPY=${OBJCOPY:-objcopy}

INIT_SIZE=0x18000    # code + payload + stack, from the load address
STACK_SIZE=0x4000
LOAD_ADDR=0x1000000  # probe-vmlinux's physical address (Linux's LOAD_PHYSICAL_ADDR)

for tool in "$CC" "$AS" "$LD" "$OBJCOPY"; do
	command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (Debian: apt-get install gcc binutils)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

size() { stat -c %s "$1"; }

CFLAGS=(-std=gnu11 -O2 -Wall -Wextra -Werror -ffreestanding -nostdlib -fpie -fvisibility=hidden
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none
	-fno-jump-tables -fno-tree-loop-distribute-patterns -fno-delete-null-pointer-checks -fno-strict-aliasing
	-fno-common -fno-ident -mgeneral-regs-only)

# One C blob per mode. Linking at two bases must give the same bytes: proof that it holds no absolute address.
blob() { # bits ld-emulation
	local bits=$1 emul=$2 extra=()
	[ "$bits" = 64 ] && extra=(-mno-red-zone)
	"$CC" -m"$bits" "${CFLAGS[@]}" "${extra[@]}" -c "$here/probe.c" -o "$tmp/probe$bits.o"
	for base in 0 0x10000; do
		"$LD" -m "$emul" -static -nostdlib --build-id=none --no-warn-rwx-segments --defsym=BLOB_BASE=$base -T "$here/blob.ld" \
			"$tmp/probe$bits.o" -o "$tmp/probe$bits.$base.elf"
		"$OBJCOPY" -O binary "$tmp/probe$bits.$base.elf" "$tmp/probe$bits.$base.bin"
	done
	cmp -s "$tmp/probe$bits.0.bin" "$tmp/probe$bits.0x10000.bin" ||
		{ echo "build.sh: probe.c ($bits-bit) is not position independent" >&2; exit 1; }
	local sz
	for sz in $(readelf -SW "$tmp/probe$bits.0.elf" | sed 's/^ *\[ *[0-9]*\]//' | awk '$1 == ".data" || $1 == ".bss" { print $5 }'); do
		if [ $(( 16#$sz )) != 0 ]; then
			echo "build.sh: probe.c ($bits-bit) has writable static data; the blob must not" >&2; exit 1
		fi
	done
	cp "$tmp/probe$bits.0.bin" "$tmp/probe$bits.bin"
}
blob 32 elf_i386
blob 64 elf_x86_64

# Protected-mode code.
"$AS" --64 -I "$tmp" --defsym INIT_SIZE=$INIT_SIZE -o "$tmp/head.o" "$here/head.S"
if [ -n "$(readelf -rW "$tmp/head.o" | grep -E '^ *[0-9a-f]{8,}' || true)" ]; then
	echo "build.sh: head.S needs relocations; it must be position independent" >&2; exit 1
fi
"$OBJCOPY" -O binary -j .text "$tmp/head.o" "$tmp/probe.bin"
kinfo=0x$(nm "$tmp/head.o" | awk '$3 == "kernel_info" { print $1 }')

# probe-vmlinux, also the bzImage payload.
"$AS" --64 -I "$tmp" --defsym LOAD_ADDR=$LOAD_ADDR --defsym INIT_SIZE=$INIT_SIZE -o "$tmp/vmlinux.o" "$here/vmlinux.S"
"$OBJCOPY" -O binary -j .text "$tmp/vmlinux.o" "$tmp/probe-vmlinux"

code=$(size "$tmp/probe.bin")
payload_offset=$(( (code + 15) & ~15 ))
payload_length=$(size "$tmp/probe-vmlinux")
pm=$(( payload_offset + payload_length ))
if [ $(( pm > INIT_SIZE - STACK_SIZE )) = 1 ]; then
	echo "build.sh: protected-mode part ($pm bytes) runs into the stack; raise INIT_SIZE" >&2; exit 1
fi
cp "$tmp/probe.bin" "$tmp/pm.bin"
truncate -s $payload_offset "$tmp/pm.bin"
cat "$tmp/probe-vmlinux" >> "$tmp/pm.bin"

"$AS" --32 --defsym SYSSIZE=$(( (pm + 15) / 16 )) --defsym PAYLOAD_OFFSET=$payload_offset \
	--defsym PAYLOAD_LENGTH=$payload_length --defsym INIT_SIZE=$INIT_SIZE --defsym KERNEL_INFO_OFFSET=$kinfo \
	-o "$tmp/setup.o" "$here/setup.S"
"$OBJCOPY" -O binary -j .text "$tmp/setup.o" "$tmp/setup.bin"

cat "$tmp/setup.bin" "$tmp/pm.bin" > "$tmp/probe-bzImage"

# probe-multiboot (probe.bin without the bzImage payload: a multiboot loader never reads it).
probe32=0x$(nm "$tmp/head.o" | awk '$3 == "probe32" { print $1 }')
"$AS" --32 -I "$tmp" --defsym LOAD_ADDR=$LOAD_ADDR --defsym INIT_SIZE=$INIT_SIZE --defsym PROBE32_OFFSET=$probe32 \
	-o "$tmp/multiboot.o" "$here/multiboot.S"
"$OBJCOPY" -O binary -j .text "$tmp/multiboot.o" "$tmp/probe-multiboot"

cp "$tmp/probe-bzImage" "$tmp/probe-vmlinux" "$tmp/probe-multiboot" "$out/"
printf 'probe-bzImage %d bytes (setup %d, code %d, payload %d at +%#x); probe-vmlinux %d bytes\n' \
	"$(size "$out/probe-bzImage")" "$(size "$tmp/setup.bin")" "$code" "$payload_length" "$payload_offset" \
	"$(size "$out/probe-vmlinux")"
printf 'probe-multiboot %d bytes\n' "$(size "$out/probe-multiboot")"
