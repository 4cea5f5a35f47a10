#!/usr/bin/env bash
# SCALE-Sim's files through the real binary (docs/scalesim.md): SCALE-Sim v2's own configs/scale.cfg
# runs with every unmapped key named in a warning; its Dataflow : ws variant runs the
# weight-stationary array; SCALE-Sim's GEMM topology form runs; and the three SCALE-Sim reports of --out
# carry SCALE-Sim's columns with values that follow from layers.csv (check_scalesim_reports.py).
set -u
lbfp=$1
src=$2
here=$src/tb/sim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fail=0
command -v python3 > /dev/null || { echo "FAIL: python3 is needed (scripts/setup.sh installs it)"; exit 1; }

run() {  # run NAME ARGS...: lbfp sim ARGS, status in $rc, stderr in NAME.err
  local name=$1
  shift
  "$lbfp" sim --no-progress --quiet "$@" > "$name.out" 2> "$name.err"
  rc=$?
}

# 1. scale.cfg (CALC bandwidth, os) on LeNet-5, both formats: reports in the folder and per format.
run os --arch "$here/scalesim/scale.cfg" --workload "$src/sim/workloads/lenet5.csv" --out os
if [[ $rc -ne 0 ]]; then
  echo "FAIL: scale.cfg: status $rc: $(head -c 600 os.err)"
  fail=1
else
  for key in '10: IfmapOffset' '11: FilterOffset' '12: OfmapOffset' '13: Bandwidth' \
             '15: MemoryBanks' '18: InterfaceBandwidth'; do
    grep -qF "lbfp sim: warning: $here/scalesim/scale.cfg:$key: not mapped" os.err ||
      { echo "FAIL: no warning for scale.cfg:$key: $(cat os.err)"; fail=1; }
  done
  grep -q '"rows": 32' os/summary.json || { echo "FAIL: ArrayHeight 32 did not reach the run"; fail=1; }
  python3 "$here/check_scalesim_reports.py" os || fail=1
fi

# 2. SCALE-Sim's GEMM topology form (-i gemm), one format: the reports in the folder only.
run gemm --arch "$here/scalesim/scale.cfg" --format bfp8 \
  --workload "$here/scalesim/test_mnk_input.csv" --out gemm
if [[ $rc -ne 0 ]]; then
  echo "FAIL: test_mnk_input.csv: status $rc: $(head -c 600 gemm.err)"
  fail=1
else
  grep -q '^bfp8,"Test 1","M128 N64 K256",' gemm/layers.csv ||
    { echo "FAIL: the GEMM layer is not M128 N64 K256: $(head -3 gemm/layers.csv)"; fail=1; }
  python3 "$here/check_scalesim_reports.py" gemm || fail=1
fi

# 3. Dataflow : ws runs the weight-stationary array: the run says so, and the reports follow.
run ws --arch "$here/scalesim/scale_ws.cfg" --workload gemm:64,48,40 --out ws
if [[ $rc -ne 0 ]]; then
  echo "FAIL: scale_ws.cfg: status $rc: $(head -c 600 ws.err)"
  fail=1
else
  grep -q '"dataflow": "weight-stationary"' ws/summary.json ||
    { echo "FAIL: scale_ws.cfg: summary.json does not name the weight-stationary dataflow"; fail=1; }
  python3 "$here/check_scalesim_reports.py" ws || fail=1
fi

[[ $fail -eq 0 ]] && echo "scalesim_cli: all passed"
exit $fail
