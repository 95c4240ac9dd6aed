#!/bin/sh
# Rebuild stub.bin from stub.s with GNU binutils (as, ld, objcopy). The output is deterministic: no build ids,
# no timestamps, a flat 64 KiB image; commit the rebuilt stub.bin beside this script.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
as --64 -I "$here" -o "$tmp/stub.o" "$here/stub.s"
ld -nostdlib --build-id=none -T "$here/stub.ld" -o "$tmp/stub.elf" "$tmp/stub.o"
objcopy -O binary "$tmp/stub.elf" "$tmp/stub.bin"
size=$(wc -c < "$tmp/stub.bin")
if [ "$size" -ne 65536 ]; then
  echo "build.sh: stub.bin is $size bytes, want 65536" >&2
  exit 1
fi
mv "$tmp/stub.bin" "$here/stub.bin"
sha256sum "$here/stub.bin"
