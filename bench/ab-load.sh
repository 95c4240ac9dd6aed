#!/bin/bash
# Two builds side by side (not a test): `-c -l` and `-s -l` of a real kernel with a large initrd, alternating
# runs of checkout A and checkout B on fresh machines, wall, CPU and peak RSS from GNU time. Take medians.
#   bash bench/ab-load.sh A_CHECKOUT B_CHECKOUT [KERNEL] [INITRD_MB] [RUNS]
set -eu
A=$1 B=$2
K=${3:-$(cd "$(dirname "$0")/.." && pwd)/test/fixtures/cache/vmlinuz-amd64-unsigned}
MB=${4:-200} RUNS=${5:-3}
T=$(mktemp -d /tmp/vkexec-ab-XXXXXX)
trap 'rm -rf "$T"' EXIT
head -c "${MB}M" /dev/urandom > "$T/initrd"
sleep 1 # older than the racy-timestamp window, as an initrd built before the load
for mode in -c -s; do
  for i in $(seq "$RUNS"); do
    for who in "$A" "$B"; do
      M=$T/machine
      rm -rf "$M"
      VKEXEC_MACHINE=$M node "$who/bin/vkexec.js" machine init --mem 2G > /dev/null
      /usr/bin/time -f "$mode -l $who: %e s wall, %U+%S s cpu, %M KiB peak RSS" \
        env VKEXEC_MACHINE="$M" node "$who/bin/vkexec.js" $mode -l "$K" --initrd "$T/initrd" --append console=ttyS0 2>&1 | tail -1
    done
  done
done
