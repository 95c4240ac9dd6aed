#!/bin/sh
# Benchmark (not a test): the purgatory's SHA-256 on an emulated CPU, the way it runs at `vkexec -e`.
# Builds src/arch/x86/purgatory/sha256.c with the purgatory's code-generation flags, links it into a small
# harness and hashes 64 MiB of zeros (a kernel segment's init_size is mostly zeros) under qemu-x86_64, the
# user-mode twin of the TCG that runs the guest. Prints MiB/s; asserts nothing.
# Needs gcc and qemu-user (Debian: apt-get install gcc qemu-user).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/src/arch/x86/purgatory"
for tool in gcc qemu-x86_64; do
	command -v "$tool" >/dev/null || { echo "bench: $tool missing (Debian: apt-get install gcc qemu-user)" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/harness.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "sha256.h"
int main(int argc, char **argv)
{
	size_t n = (size_t)atoi(argv[1]) << 20;
	unsigned char *buf = calloc(1, n), out[32];
	struct sha256_ctx c;
	sha256_init(&c);
	sha256_update(&c, buf, n);
	sha256_final(&c, out);
	for (int i = 0; i < 32; i++)
		printf("%02x", out[i]);
	printf("\n");
	return argc < 2;
}
C
gcc -std=gnu11 -O2 -march=x86-64 -ffreestanding -fno-builtin -mgeneral-regs-only -fno-tree-loop-distribute-patterns \
	-c "$src/sha256.c" -o "$tmp/sha256.o"
gcc -O2 -I "$src" "$tmp/harness.c" "$tmp/sha256.o" -o "$tmp/sha"
mib=64
want=$(head -c $((mib << 20)) /dev/zero | sha256sum | cut -d' ' -f1)
for run in 1 2 3; do
	t0=$(date +%s%N)
	got=$(qemu-x86_64 "$tmp/sha" $mib)
	t1=$(date +%s%N)
	[ "$got" = "$want" ] || { echo "bench: wrong digest $got (want $want)" >&2; exit 1; }
	ms=$(( (t1 - t0) / 1000000 ))
	echo "run $run: $mib MiB in $ms ms under qemu-x86_64 (TCG): $(( mib * 1000 / ms )) MiB/s"
done
