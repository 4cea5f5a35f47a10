#!/usr/bin/env bash
# `lbfp sim` through the real binary: the README's main command (no arguments) end to end,
# byte-identical reports for the same inputs and seed, and exit status 2 with a message naming
# the file, line and key on bad input.
set -u
lbfp=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
cd "$work" || exit 1

# The main job: no arguments, the embedded default, reports in ./lbfp-sim-out.
if ! "$lbfp" sim --no-progress > main.txt 2> main.err; then
  echo "FAIL: lbfp sim (no arguments) exited non-zero"; cat main.err; fail=1
fi
for f in layers.csv summary.json plot.svg; do
  [[ -s lbfp-sim-out/$f ]] || { echo "FAIL: lbfp sim wrote no lbfp-sim-out/$f"; fail=1; }
done
grep -q 'lbfp8 / bfp8: cycles' main.txt || { echo "FAIL: no LBFP8/BFP8 ratios"; fail=1; }
grep -q 'layer4.1.conv2' main.txt || { echo "FAIL: the ResNet-18 layers are missing"; fail=1; }

# Determinism: the same inputs and seed give byte-identical reports.
for run in a b; do
  "$lbfp" sim --arch "$src/configs/arch/bfp8_16x16.yaml" --workload "$src/sim/workloads/mobilenet_v1.csv" \
    --format both --seed 5 --out "$run" --quiet || { echo "FAIL: run $run"; fail=1; }
done
for f in layers.csv summary.json plot.svg; do
  cmp -s "a/$f" "b/$f" || { echo "FAIL: $f differs between identical runs"; fail=1; }
done

check_bad() {  # expected message, arguments...
  local want=$1; shift
  "$lbfp" sim --quiet "$@" > out.txt 2> err.txt
  local rc=$?
  if [[ $rc -ne 2 ]] || ! grep -qF -- "$want" err.txt; then
    echo "FAIL: lbfp sim $*: status $rc (want 2), stderr: $(cat err.txt) (want '$want')"; fail=1
  else
    echo "ok   $want"
  fi
}
printf 'name: x\narray:\n  rows: 16\n  colls: 16\n' > bad.yaml
check_bad "bad.yaml:4: array.colls: unknown key" --arch bad.yaml --workload gemm:4,4,4
printf 'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nc1, 8, 8, 3, 3, x, 4, 1,\n' > bad.csv
check_bad "bad.csv:2: Channels: expected a positive integer, got 'x'" --workload bad.csv
check_bad "missing.yaml: cannot open the file" --arch missing.yaml
check_bad "--format fp16: expected lbfp8, bfp8, both or arch" --format fp16 --workload gemm:4,4,4
check_bad "--set array.rows" --set array.rows --workload gemm:4,4,4
mkdir -p ro && chmod 500 ro
if [[ $(id -u) -ne 0 ]]; then
  check_bad "cannot" --workload gemm:4,4,4 --out ro/sub
fi
exit $fail
