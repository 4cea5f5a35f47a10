#!/usr/bin/env bash
# report.html of `lbfp sim` and `lbfp sweep` through the real binary: well-formed XHTML and SVG
# (check_report.py, python3's XML parser), every layer and every number of layers.csv /
# sweep.csv in the page, and byte-identical pages and charts on a rerun.
set -u
lbfp=$1
src=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
cd "$work" || exit 1

# sim: the same command twice into the same folder.
sim() {
  "$lbfp" sim --workload "$src/sim/workloads/lenet5.csv" --format both --seed 3 --out sim --quiet
}
sim || { echo "FAIL: lbfp sim"; exit 1; }
names=()
while IFS= read -r layer; do names+=(--name "$layer"); done < <(
  python3 -c 'import csv,sys; print("\n".join(dict.fromkeys(r["layer"] for r in csv.DictReader(open(sys.argv[1])))))' sim/layers.csv)
python3 "$here/check_report.py" sim/report.html sim/layers.csv "${names[@]}" --name "lbfp sim --workload" \
  --name "Cycles per layer by cause" --name "stall: input load" \
  --name "DRAM traffic by operand against the lower bound" --name "lower bound" || fail=1
for f in energy.svg ratios.svg cycles.svg utilization.svg dram.svg dram-operands.svg; do
  [[ -s sim/charts/$f ]] || { echo "FAIL: sim wrote no charts/$f"; fail=1; }
done
# Every layer's cycles split by cause add up to its cycles; layers.csv carries no 17-digit floats.
python3 - sim/layers.csv <<'PY' || fail=1
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    n = {k: int(r[k]) for k in ("total_cycles", "compute_cycles", "stall_cycles", "fill_drain_cycles",
                                "stall_ifmap_cycles", "stall_filter_cycles", "stall_output_cycles",
                                "writeback_cycles")}
    parts = n["stall_ifmap_cycles"] + n["stall_filter_cycles"] + n["stall_output_cycles"]
    if parts != n["stall_cycles"] or n["compute_cycles"] + parts + n["writeback_cycles"] != n["total_cycles"] \
            or n["fill_drain_cycles"] > n["compute_cycles"]:
        sys.exit(f"FAIL: the cycles of {r['format']} {r['layer']} do not add up: {n}")
PY
if grep -Eq '[0-9]\.[0-9]{7,}' sim/layers.csv; then
  echo "FAIL: layers.csv has numbers with more than six decimals"; fail=1
fi
mv sim sim.first
sim || { echo "FAIL: lbfp sim (rerun)"; exit 1; }
diff -r sim.first sim > /dev/null || { echo "FAIL: the sim reports differ on a rerun"; diff -r sim.first sim | head; fail=1; }

# A one-layer run: the charts still read (sized to the number of layers).
"$lbfp" sim --workload gemm:64,64,64 --format lbfp8 --out one --quiet || { echo "FAIL: one layer"; fail=1; }
python3 "$here/check_report.py" one/report.html one/layers.csv || fail=1

# sweep: two axes, so each key is drawn against the other's lines.
sweep() {
  "$lbfp" sweep --workload gemm:64,64,64 --vary array.rows=8,16 --vary array.cols=8,16 \
    --jobs 2 --out sweep > /dev/null
}
sweep || { echo "FAIL: lbfp sweep"; exit 1; }
python3 "$here/check_report.py" sweep/report.html sweep/sweep.csv --name "Pareto" \
  --name "array.rows" --name "array.cols" || fail=1
for f in pareto.svg array.rows-cycles.svg array.cols-energy.svg array.rows-dram.svg; do
  [[ -s sweep/charts/$f ]] || { echo "FAIL: sweep wrote no charts/$f"; fail=1; }
done
mkdir first && cp sweep/report.html sweep/sweep.csv first/ && cp -r sweep/charts first/
sweep || { echo "FAIL: lbfp sweep (rerun)"; exit 1; }
for f in report.html sweep.csv charts; do
  diff -r "first/$f" "sweep/$f" > /dev/null || { echo "FAIL: sweep $f differs on a rerun"; fail=1; }
done
# sweep.csv carries the precision of its numbers, not 17 digits.
if grep -Eq '[0-9]\.[0-9]{7,}' sweep/sweep.csv; then
  echo "FAIL: sweep.csv has numbers with more than six decimals"; fail=1
fi

# eval: on MNIST (scripts/setup.sh fetches it); the page twice, byte-identical.
evalrun() {
  "$lbfp" eval --model "$src/sim/models/lenet5.onnx" --data mnist --test-images 200 \
    --calib-images 100 --out "$1" > /dev/null 2> "$1.err"
}
if evalrun ev && mv ev eval1 && evalrun ev; then
  python3 "$here/check_report.py" eval1/report.html --name /conv1/Conv --name /fc3/Gemm \
    --name "lbfp8 kl/max" || fail=1
  diff -r eval1 ev > /dev/null || { echo "FAIL: eval report.html differs on a rerun"; fail=1; }
else
  echo "NOT RUN: the eval report (lbfp eval on mnist failed: $(head -1 ev.err))"
fi

[[ $fail == 0 ]] && echo "report_test: ok"
exit $fail
