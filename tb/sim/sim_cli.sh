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

# An ONNX model's Conv and Gemm layers with their real weights: LeNet-5 has the shapes of the
# LeNet-5 topology file, so the cycles must be the same.
if [[ -f "$src/sim/models/lenet5.onnx" ]]; then
  "$lbfp" sim --workload "$src/sim/models/lenet5.onnx" --format lbfp8 --out onnx --quiet || {
    echo "FAIL: lbfp sim on lenet5.onnx"; fail=1; }
  "$lbfp" sim --workload "$src/sim/workloads/lenet5.csv" --format lbfp8 --out csv --quiet || fail=1
  c1=$(grep -m1 '"total_cycles"' onnx/summary.json)
  c2=$(grep -m1 '"total_cycles"' csv/summary.json)
  [[ -n "$c1" && "$c1" == "$c2" ]] || { echo "FAIL: ONNX LeNet-5 $c1 vs topology $c2"; fail=1; }
  grep -q 'weights and biases from' onnx/summary.json || { echo "FAIL: ONNX origin not stated"; fail=1; }
else
  echo "FAIL: sim/models/lenet5.onnx is missing"; fail=1
fi

# A sweep: 2 x 2 points in parallel, one CSV row per point and format; and the job list.
if "$lbfp" sweep --workload "$src/sim/workloads/lenet5.csv" --vary array.rows=8,16 \
     --vary dram.bandwidth_bytes_per_cycle=4,16 --out sweep > sweep.txt 2>&1; then
  rows=$(($(wc -l < sweep/sweep.csv) - 1))
  [[ $rows -eq 8 ]] || { echo "FAIL: sweep.csv has $rows rows, want 8 (4 points x 2 formats)"; fail=1; }
  head -1 sweep/sweep.csv | grep -q '^point,array.rows,dram.bandwidth_bytes_per_cycle,format,total_cycles' ||
    { echo "FAIL: sweep.csv header: $(head -1 sweep/sweep.csv)"; fail=1; }
else
  echo "FAIL: lbfp sweep"; cat sweep.txt; fail=1
fi
"$lbfp" sweep --workload gemm:32,32,32 --vary array.rows=4,8 --out jobs --emit-jobs > /dev/null || fail=1
[[ $(wc -l < jobs/jobs.txt) -eq 2 ]] || { echo "FAIL: jobs.txt should list 2 points"; fail=1; }
bash -c "$(head -1 jobs/jobs.txt)" && [[ -s jobs/points/0000/summary.json ]] ||
  { echo "FAIL: a jobs.txt line does not run as it is"; fail=1; }

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
"$lbfp" sweep --vary array.rows --out s3 > /dev/null 2> err.txt; rc=$?
[[ $rc -eq 2 ]] && grep -q "expected key=v1,v2" err.txt || { echo "FAIL: bad --vary: status $rc"; fail=1; }
mkdir -p ro && chmod 500 ro
if [[ $(id -u) -ne 0 ]]; then
  check_bad "cannot" --workload gemm:4,4,4 --out ro/sub
fi
exit $fail
