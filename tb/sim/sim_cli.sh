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

# Determinism: the same inputs and seed give byte-identical reports. MobileNet v1's layers pw4
# to pw7 (pointwise, depthwise of stride 1 and 2, both formats): the whole network takes 25 s
# per run under the sanitizers.
cat > mobilenet_mid.csv <<'CSV'
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, Groups,
pw4, 28, 28, 1, 1, 128, 256, 1, 1,
dw5, 30, 30, 3, 3, 256, 256, 1, 256,
pw5, 28, 28, 1, 1, 256, 256, 1, 1,
dw6, 30, 30, 3, 3, 256, 256, 2, 256,
pw6, 14, 14, 1, 1, 256, 512, 1, 1,
dw7, 16, 16, 3, 3, 512, 512, 1, 512,
pw7, 14, 14, 1, 1, 512, 512, 1, 1,
CSV
for run in a b; do
  "$lbfp" sim --arch "$src/configs/arch/bfp8_16x16.yaml" --workload mobilenet_mid.csv \
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

# --dataflow best: every layer in each dataflow, the cheapest per layer; layers.csv names each
# layer's choice, summary.json what it saves against each fixed dataflow, whose totals must be
# those of the fixed runs themselves, and the choice never costs more than any of them.
topo="$src/sim/workloads/lenet5.csv"
"$lbfp" sim --workload "$topo" --format lbfp8 --dataflow best --out best --quiet ||
  { echo "FAIL: lbfp sim --dataflow best"; fail=1; }
for d in os ws is; do
  "$lbfp" sim --workload "$topo" --format lbfp8 --dataflow $d --out fixed_$d --quiet ||
    { echo "FAIL: lbfp sim --dataflow $d"; fail=1; }
done
head -1 best/layers.csv | grep -q ',dataflow$' || { echo "FAIL: best/layers.csv has no dataflow column"; fail=1; }
python3 - best fixed_os fixed_ws fixed_is <<'PY' || fail=1
import csv, json, sys
best, *fixed = sys.argv[1:]
names = {'fixed_os': 'output-stationary', 'fixed_ws': 'weight-stationary',
         'fixed_is': 'input-stationary'}
ok = True
def check(cond, what):
    global ok
    if not cond:
        print('FAIL:', what)
        ok = False
rows = list(csv.DictReader(open(best + '/layers.csv')))
s = json.load(open(best + '/summary.json'))
choice = s['formats']['lbfp8']['dataflow_choice']
check(s['arch']['dataflow'] == 'best' and choice['by'] == 'cycles', 'best run not labelled')
check([r['dataflow'] for r in rows] == [l['dataflow'] for l in choice['layers']],
      'layers.csv and summary.json disagree on the choices')
fixed_rows = {}
for f in fixed:
    name = names[f]
    fs = json.load(open(f + '/summary.json'))
    check(fs['arch']['dataflow'] == name, f + ' not labelled ' + name)
    v = choice['versus'][name]
    check(v['total_cycles'] == fs['formats']['lbfp8']['total_cycles'],
          f'{name}: versus {v["total_cycles"]} != its own run')
    check(v['cycles_saved'] == v['total_cycles'] - s['formats']['lbfp8']['total_cycles'],
          name + ': cycles_saved')
    check(v['cycles_saved'] >= 0, name + ': the choice costs more cycles')
    fixed_rows[name] = list(csv.DictReader(open(f + '/layers.csv')))
    check(all(r['dataflow'] == name for r in fixed_rows[name]), f + ': dataflow column')
check(sum(v['layers_chosen'] for v in choice['versus'].values()) == len(rows), 'layers_chosen')
for i, r in enumerate(rows):
    cycles = {n: int(fixed_rows[n][i]['total_cycles']) for n in fixed_rows}
    check(int(r['total_cycles']) == cycles[r['dataflow']], r['layer'] + ': not its run')
    check(int(r['total_cycles']) == min(cycles.values()), r['layer'] + ': not the fewest cycles')
    check(choice['layers'][i]['total_cycles'] == cycles, r['layer'] + ': summary.json per layer')
sys.exit(0 if ok else 1)
PY
"$lbfp" sim --workload "$topo" --format lbfp8 --dataflow best --best-by energy --quiet > /dev/null ||
  { echo "FAIL: --best-by energy"; fail=1; }

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
check_bad "--format fp16: expected lbfp8, bfp8, both, arch, mxint8, mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2 or int8" --format fp16 --workload gemm:4,4,4
check_bad "--set array.rows" --set array.rows --workload gemm:4,4,4
"$lbfp" sweep --vary array.rows --out s3 > /dev/null 2> err.txt; rc=$?
[[ $rc -eq 2 ]] && grep -q "expected key=v1,v2" err.txt || { echo "FAIL: bad --vary: status $rc"; fail=1; }
mkdir -p ro && chmod 500 ro
if [[ $(id -u) -ne 0 ]]; then
  check_bad "cannot" --workload gemm:4,4,4 --out ro/sub
fi
exit $fail
