#!/bin/sh
# Builds vkexec's purgatories from the sources beside this script:
#   purgatory-x86_64.o  purgatory-i386.o   (ET_REL: `ld -r` of the pieces, loaded by src/arch/x86/kexec-load-purgatory.ts)
#   toolchain.txt                          (the compiler and linker that produced them)
# Usage: build.sh [OUTDIR]     OUTDIR defaults to this directory (the committed objects).
# Needs gcc and binutils; `gcc -m32 -c` of freestanding code works without gcc-multilib.
# Deterministic: relative source names only, no debug info, no .comment, no .note.gnu.property.
set -eu

SRC=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$SRC}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CC=${CC:-gcc}
LD=${LD:-ld}
OBJCOPY=${OBJCOPY:-objcopy}
NM=${NM:-nm}
export LC_ALL=C

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$SRC"

# -fno-zero-initialized-in-bss: patchable zero-initialised data must stay out of bss (PATCHABLE also says so).
# -fvisibility=hidden: only the loader's contract symbols stay GLOBAL; objcopy makes the rest LOCAL.
# -fno-jump-tables, -mcmodel=large (x86_64): no 32-bit absolute relocations, which would overflow above 4 GiB.
# -fno-tree-loop-distribute-patterns: no hidden calls to memcpy/memset, there is no libc.
# -fno-merge-constants: strings in plain .rodata, no SHF_MERGE sections a final link would rewrite.
CFLAGS="-std=gnu11 -O2 -Wall -Wextra -Werror -ffreestanding -fno-builtin -fno-pic -fno-pie
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-jump-tables
	-fno-zero-initialized-in-bss -fno-common -fno-tree-loop-distribute-patterns
	-fno-reorder-blocks-and-partition -fno-merge-constants -fvisibility=hidden -fno-ident -fcf-protection=none
	-mgeneral-regs-only -g0"
CFLAGS_x86_64="-m64 -march=x86-64 -mcmodel=large -mno-red-zone"
CFLAGS_i386="-m32 -march=i686"
LDEMU_x86_64=elf_x86_64
LDEMU_i386=elf_i386
# Entry code first, so purgatory_start is at the start of .text.
SOURCES_x86_64="entry64.S entry64-32.S gdt.S stack.S info.S purgatory.c sha256.c serial.c"
SOURCES_i386="entry32.S gdt.S stack.S info.S purgatory.c sha256.c serial.c"

build() {
	arch=$1
	eval "archflags=\$CFLAGS_$arch ldemu=\$LDEMU_$arch sources=\$SOURCES_$arch"
	objs=
	for src in $sources; do
		obj="$WORK/$arch-${src%.*}.o"
		# shellcheck disable=SC2086 # word splitting of the flag lists is intended
		$CC $CFLAGS $archflags -c "$src" -o "$obj"
		objs="$objs $obj"
	done
	# shellcheck disable=SC2086
	$LD -r -m "$ldemu" -e purgatory_start -o "$WORK/$arch.o" $objs
	$OBJCOPY --localize-hidden --strip-debug --remove-section=.comment --remove-section=.note.gnu.property \
		"$WORK/$arch.o" "$OUT/purgatory-$arch.o"
	undefined=$($NM -u "$OUT/purgatory-$arch.o")
	if [ -n "$undefined" ]; then
		echo "build.sh: purgatory-$arch.o has undefined symbols (no libc here): $undefined" >&2
		exit 1
	fi
}

build x86_64
build i386
{
	$CC --version | head -n 1
	$LD --version | head -n 1
} >"$OUT/toolchain.txt"
