#!/usr/bin/env bash
# Every buffer size of the sweep in docs/buffer-sweep.md runs ResNet-18 (K split and on-chip
# im2col make any size down to one K step work), and what the sweep reports behaves as buffers
# should: DRAM traffic never rises with the buffer size, never falls below the lower bound (every
# input, weight and output crossing DRAM once), and reaches it with 1 MiB buffers.
set -u
lbfp=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
sizes=8,16,32,64,128,256,512,1024
if ! "$lbfp" sweep --vary buffers.kib=$sizes --format lbfp8 --jobs 2 --out sw > out.txt 2> err.txt; then
  echo "FAIL: the buffer sweep exited non-zero"; cat err.txt; exit 1
fi
python3 - sw/sweep.csv <<'PY' || exit 1
import csv, sys
rows = sorted(csv.DictReader(open(sys.argv[1])), key=lambda r: int(r["buffers.kib"]))
kib = [int(r["buffers.kib"]) for r in rows]
assert kib == [8, 16, 32, 64, 128, 256, 512, 1024], f"points: {kib}"
traffic = [int(r["dram_bytes_read"]) + int(r["dram_bytes_written"]) for r in rows]
bound = [int(r["dram_lower_bound_bytes"]) for r in rows]
assert len(set(bound)) == 1, f"the lower bound depends on the buffers: {bound}"
for k, t in zip(kib, traffic):
    assert t >= bound[0], f"{k} KiB: {t} bytes below the lower bound {bound[0]}"
for (k0, t0), (k1, t1) in zip(zip(kib, traffic), zip(kib[1:], traffic[1:])):
    assert t1 <= t0, f"DRAM traffic rose from {t0} ({k0} KiB) to {t1} ({k1} KiB)"
assert traffic[-1] == bound[0], f"1 MiB buffers: {traffic[-1]} bytes, bound {bound[0]}"
assert traffic[0] > traffic[-1], "8 KiB buffers moved no more than 1 MiB ones"
print(f"buffer sweep: {len(rows)} sizes, traffic {traffic[0]} .. {traffic[-1]} bytes, bound {bound[0]}")
PY
