#!/usr/bin/env bash
# Builds vkexec's check init (init.c + the purgatory's sha256.c): init-x86_64 and init-i386, static ELF
# executables without libc, byte-for-byte deterministic for a given toolchain. The committed binaries come
# from Debian 12's gcc 12.2.0 and binutils 2.40 (apt-get install gcc binutils; `gcc -m32 -c` of freestanding
# code needs no gcc-multilib). test/check/init.test.ts rebuilds them and compares the bytes.
# Usage: build.sh [OUTDIR]  (default: this directory, i.e. rebuild the committed binaries).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
CC=${CC:-gcc}
LD=${LD:-ld}
STRIP=${STRIP:-strip}
export LC_ALL=C

for tool in "$CC" "$LD" "$STRIP"; do
	command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (Debian: apt-get install gcc binutils)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

CFLAGS=(-std=gnu11 -O2 -Wall -Wextra -Werror -ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie
	-fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none
	-fno-tree-loop-distribute-patterns -fno-common -fno-ident -mgeneral-regs-only -g0)

build() { # name gcc-flags ld-emulation
	local name=$1 flags=$2 emul=$3
	# Relative source names from this directory: no build path ends up in the objects.
	(cd "$here" && "$CC" $flags "${CFLAGS[@]}" -c init.c -o "$tmp/init-$name.o" &&
		"$CC" $flags "${CFLAGS[@]}" -c ../purgatory/sha256.c -o "$tmp/sha256-$name.o")
	"$LD" -m "$emul" -static -nostdlib --build-id=none -e _start -o "$tmp/init-$name" "$tmp/init-$name.o" "$tmp/sha256-$name.o"
	"$STRIP" --strip-all -R .comment "$tmp/init-$name"
	cp "$tmp/init-$name" "$out/init-$name"
}

build x86_64 "-m64 -march=x86-64 -mno-red-zone" elf_x86_64
build i386 "-m32 -march=i686" elf_i386
