#!/usr/bin/env bash
# On-demand Verilation through the real binary (docs/cosim.md), in a temporary cache.
#   ondemand_cli.sh LBFP SRC         the CI share: one on-demand build of a configuration that is
#                                    not prebuilt (8x4, A = 24, two pipeline stages, BFP8); its
#                                    outputs and cycles equal the C++ array's; the second run
#                                    reuses the cache (no build, and no Verilator on PATH); an FST
#                                    from --trace read back by fst2vcd; the SystemC VCD;
#                                    `cosim array --arch` runs the file's dataflow; a
#                                    weight-/input-stationary shape that is not prebuilt goes to
#                                    an on-demand build (without Verilator: the setup message).
#   ondemand_cli.sh LBFP SRC long    two concurrent first runs of another configuration both
#                                    succeed and build once; a damaged entry is rebuilt; one
#                                    on-demand weight-stationary array (3x5, A = 20, two pipeline
#                                    stages, LBFP8), built once, passes `lbfp cosim array` in both
#                                    dataflows and gives the C++ array's cycles in `lbfp sim`.
set -u
lbfp=$1
src=$2
mode=${3:-ci}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
cd "$work" || exit 1
cache=$work/cache
workload=gemm:19,10,37
# 8x4, A = 24, two pipeline stages, BFP8: not prebuilt.
a=(--arch "$src/configs/arch/bfp8_16x16.yaml" --set array.rows=8 --set array.cols=4
   --set array.pipe_stages=2 --set format.acc_bits=24)

# The summary's cycle counts and outputs per layer, without the wall time and the array's name.
summary() { grep -E '"(total_cycles|compute_cycles|stall_cycles|outputs_saturated|macs)"' "$1"; }

if [[ $mode == ci ]]; then
  # First run: builds the model into the cache, with progress on stderr.
  if ! "$lbfp" sim "${a[@]}" --workload $workload --format arch --array rtl --rtl-cache "$cache" \
       --no-progress --out rtl > rtl.txt 2> rtl.err; then
    echo "FAIL: the first --array rtl run"; cat rtl.err; fail=1
  fi
  grep -q 'verilating this array configuration' rtl.err ||
    { echo "FAIL: the first run did not report building the model"; cat rtl.err; fail=1; }
  "$lbfp" sim "${a[@]}" --workload $workload --format arch --mode cycle --no-progress \
    --out cpp > cpp.txt 2>&1 || { echo "FAIL: the C++ array run"; cat cpp.txt; fail=1; }
  if [[ -z "$(summary rtl/summary.json)" || "$(summary rtl/summary.json)" != "$(summary cpp/summary.json)" ]]; then
    echo "FAIL: the RTL's cycles differ from the C++ array's"; diff <(summary rtl/summary.json) <(summary cpp/summary.json); fail=1
  fi
  # Second run: reuses the cache; no build, and none possible without Verilator on PATH.
  if ! PATH=/nonexistent "$lbfp" sim "${a[@]}" --workload $workload --format arch --array rtl \
       --rtl-cache "$cache" --no-progress --out again > again.txt 2> again.err; then
    echo "FAIL: the second run (no verilator on PATH) did not reuse the cache"; cat again.err; fail=1
  fi
  grep -q 'verilating' again.err && { echo "FAIL: the second run built again"; fail=1; }
  [[ "$(summary again/summary.json)" == "$(summary rtl/summary.json)" ]] ||
    { echo "FAIL: the cached model gives other cycles"; fail=1; }

  # The RTL's FST, whole run, read back by fst2vcd: the array's ports, PE and requantizer
  # signals, and one dump per half clock for every cycle the RTL ran.
  "$lbfp" sim "${a[@]}" --workload $workload --format arch --array rtl --rtl-cache "$cache" \
    --no-progress --quiet --trace rtl.fst || { echo "FAIL: --trace"; fail=1; }
  if ! command -v fst2vcd > /dev/null; then
    echo "FAIL: fst2vcd not found (the gtkwave package; run scripts/setup.sh)"; fail=1
  else
    fst2vcd rtl.fst > rtl.vcd 2> /dev/null || { echo "FAIL: fst2vcd rtl.fst"; fail=1; }
    for sig in clk_i init_valid_i init_ready_o init_acc_i in_valid_i in_ready_o a_i b_i \
               out_valid_o out_row_o out_acc_o fwd_q done_q acc_o start_acc_q res_q res_ovf_q; do
      grep -q "\$var .* $sig " rtl.vcd || { echo "FAIL: no signal $sig in the FST"; fail=1; }
    done
    for scope in systolic_array 'gen_row\[7\]' 'gen_col\[3\]' u_pe u_acc; do
      grep -q "\$scope module $scope " rtl.vcd || { echo "FAIL: no scope $scope in the FST"; fail=1; }
    done
    # Every rising edge is one time step after the inputs were set: two steps per cycle.
    compute=$(grep -m1 '"compute_cycles"' rtl/summary.json | tr -dc 0-9)
    steps=$(grep -c '^#' rtl.vcd)
    if (( steps < 2 * compute )); then
      echo "FAIL: the FST has $steps time steps for $compute RTL cycles"; fail=1
    fi
    # A window: only cycles 10..20, so about 2 x 11 time steps.
    "$lbfp" sim "${a[@]}" --workload $workload --format arch --array rtl --rtl-cache "$cache" \
      --no-progress --quiet --trace win.fst --trace-window 10:20 || { echo "FAIL: --trace-window"; fail=1; }
    wsteps=$(fst2vcd win.fst 2> /dev/null | grep -c '^#')
    if (( wsteps < 20 || wsteps > 26 )); then
      echo "FAIL: --trace-window 10:20 gave $wsteps time steps"; fail=1
    fi
  fi

  # The SystemC model's VCD (no --array rtl).
  "$lbfp" sim "${a[@]}" --workload gemm:40,20,37 --format arch --no-progress --quiet \
    --trace model.vcd || { echo "FAIL: --trace on the SystemC model"; fail=1; }
  for sig in tile_index array_busy stall_cause input_buffer_tiles output_buffer_tiles dma_in_flight; do
    grep -q "\$var .* $sig " model.vcd || { echo "FAIL: no $sig in the SystemC VCD"; fail=1; }
  done
  grep -q '^#' model.vcd || { echo "FAIL: the SystemC VCD has no time steps"; fail=1; }

  # `lbfp cosim array --arch` takes the file's array.dataflow (here the prebuilt 4x4 LBFP8
  # weight-stationary array: no build); --dataflow given as well wins.
  sed -e 's/rows: 16/rows: 4/' -e 's/cols: 16/cols: 4/' -e 's/output-stationary/weight-stationary/' \
      -e 's#energy: ../#energy: '"$src"'/configs/#' "$src/configs/arch/lbfp8_16x16.yaml" > ws.yaml
  PATH=/nonexistent "$lbfp" cosim array --arch ws.yaml --rtl-cache "$work/none" --m 5 --n 6 \
    --k 9 > wsarch.txt 2>&1 || { echo "FAIL: cosim --arch (ws)"; cat wsarch.txt; fail=1; }
  grep -q 'weight-stationary' wsarch.txt && grep -q 'PASS' wsarch.txt ||
    { echo "FAIL: cosim --arch did not run the file's dataflow"; cat wsarch.txt; fail=1; }
  PATH=/nonexistent "$lbfp" cosim array --arch ws.yaml --dataflow is --rtl-cache "$work/none" \
    --m 5 --n 6 --k 9 > isarch.txt 2>&1 || { echo "FAIL: cosim --arch --dataflow is"; fail=1; }
  grep -q 'input-stationary' isarch.txt ||
    { echo "FAIL: --dataflow did not win over the file"; cat isarch.txt; fail=1; }

  # A weight- or input-stationary shape that is not prebuilt is built on demand, not refused:
  # with no Verilator and an empty cache, the run stops at the build (exit 1, scripts/setup.sh).
  PATH=/nonexistent "$lbfp" cosim array --dataflow ws --rows 2 --cols 3 --rtl-cache "$work/none" \
    > nows.txt 2>&1
  [[ $? == 1 ]] && grep -q 'scripts/setup.sh' nows.txt ||
    { echo "FAIL: an on-demand weight-stationary cosim"; cat nows.txt; fail=1; }
  PATH=/nonexistent "$lbfp" sim "${a[@]}" --workload $workload --format arch --dataflow is \
    --array rtl --rtl-cache "$work/none" --no-progress --quiet > nois.txt 2>&1
  [[ $? == 1 ]] && grep -q 'scripts/setup.sh' nois.txt ||
    { echo "FAIL: an on-demand input-stationary sim"; cat nois.txt; fail=1; }
else
  sed -e 's/rows: 16/rows: 5/' -e 's/cols: 16/cols: 3/' -e 's/acc_bits: 32/acc_bits: 20/' \
      -e 's#energy: ../#energy: '"$src"'/configs/#' "$src/configs/arch/lbfp8_16x16.yaml" > b.yaml
  # Two first runs at once: one builds, the other waits, both pass; one build in all.
  for run in 1 2; do
    "$lbfp" sim --arch b.yaml --workload $workload --format arch --array rtl --rtl-cache "$cache" \
      --no-progress --out "c$run" > "c$run.txt" 2> "c$run.err" &
  done
  wait %1 || { echo "FAIL: concurrent run 1"; cat c1.err; fail=1; }
  wait %2 || { echo "FAIL: concurrent run 2"; cat c2.err; fail=1; }
  builds=$(cat c1.err c2.err | grep -c 'verilating this array configuration')
  [[ $builds == 1 ]] || { echo "FAIL: $builds builds of one configuration"; fail=1; }
  [[ "$(summary c1/summary.json)" == "$(summary c2/summary.json)" ]] || { echo "FAIL: runs differ"; fail=1; }
  ls "$cache" | grep -q 'tmp-' && { echo "FAIL: a temporary build folder is left"; fail=1; }

  # A damaged entry (a truncated shared object) is detected and rebuilt.
  so=$(ls "$cache"/*/model.so | head -1)
  truncate -s 1000 "$so"
  "$lbfp" sim --arch b.yaml --workload $workload --format arch --array rtl --rtl-cache "$cache" \
    --no-progress --out d > d.txt 2> d.err || { echo "FAIL: the run after damage"; cat d.err; fail=1; }
  grep -q 'damaged' d.err || { echo "FAIL: the damage was not reported"; cat d.err; fail=1; }
  [[ "$(summary d/summary.json)" == "$(summary c1/summary.json)" ]] || { echo "FAIL: rebuilt model differs"; fail=1; }

  # `lbfp cosim array` on an architecture file's configuration (the cached one).
  "$lbfp" cosim array --arch b.yaml --rtl-cache "$cache" --m 7 --n 5 --k 30 > cosim.txt 2>&1 ||
    { echo "FAIL: lbfp cosim array --arch"; cat cosim.txt; fail=1; }
  grep -q 'PASS' cosim.txt || { echo "FAIL: cosim did not pass"; cat cosim.txt; fail=1; }

  # A failed build names its log and shows its last lines; no Verilator names scripts/setup.sh.
  PATH=/nonexistent "$lbfp" cosim array --rows 2 --cols 2 --rtl-cache "$cache" > nov.txt 2>&1
  [[ $? == 1 ]] && grep -q 'scripts/setup.sh' nov.txt || { echo "FAIL: no verilator"; cat nov.txt; fail=1; }

  # A weight-stationary array that is not prebuilt (3x5, A = 20, two pipeline stages, LBFP8):
  # built once, bit-exact in both dataflows, and the C++ array's cycles through the model.
  ws=(--rows 3 --cols 5 --pipe-stages 2 --array-acc-bits 20 --format lbfp8)
  for flow in ws is; do
    "$lbfp" cosim array --dataflow $flow "${ws[@]}" --rtl-cache "$cache" --m 9 --n 7 --k 11 \
      --fill saturate > "cosim_$flow.txt" 2>&1 || { echo "FAIL: cosim --dataflow $flow"; cat "cosim_$flow.txt"; fail=1; }
    grep -q 'built on demand' "cosim_$flow.txt" && grep -q 'PASS' "cosim_$flow.txt" ||
      { echo "FAIL: cosim --dataflow $flow did not pass on demand"; cat "cosim_$flow.txt"; fail=1; }
  done
  builds=$(cat cosim_ws.txt cosim_is.txt | grep -c 'verilating this array configuration')
  [[ $builds == 1 ]] || { echo "FAIL: $builds builds of one weight-stationary configuration"; fail=1; }
  w=(--arch "$src/configs/arch/lbfp8_16x16.yaml" --set array.rows=3 --set array.cols=5
     --set array.pipe_stages=2 --set format.acc_bits=20)
  for flow in ws is; do
    "$lbfp" sim "${w[@]}" --workload $workload --format arch --dataflow $flow --array rtl \
      --rtl-cache "$cache" --no-progress --out "rtl_$flow" > "rtl_$flow.txt" 2> "rtl_$flow.err" ||
      { echo "FAIL: sim --dataflow $flow --array rtl"; cat "rtl_$flow.err"; fail=1; }
    grep -q 'verilating' "rtl_$flow.err" && { echo "FAIL: sim --dataflow $flow built again"; fail=1; }
    "$lbfp" sim "${w[@]}" --workload $workload --format arch --dataflow $flow --mode cycle \
      --no-progress --out "cpp_$flow" > "cpp_$flow.txt" 2>&1 || { echo "FAIL: the C++ $flow run"; fail=1; }
    if [[ -z "$(summary "rtl_$flow/summary.json")" ||
          "$(summary "rtl_$flow/summary.json")" != "$(summary "cpp_$flow/summary.json")" ]]; then
      echo "FAIL: the $flow RTL's cycles differ from the C++ array's"
      diff <(summary "rtl_$flow/summary.json") <(summary "cpp_$flow/summary.json"); fail=1
    fi
  done
fi

if [[ $fail == 0 ]]; then echo "PASS ($mode)"; fi
exit $fail
