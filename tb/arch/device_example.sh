#!/usr/bin/env bash
# The device platform example (examples/device_platform) at two memory latencies: each run's
# CYCLES counter equals the model's prediction (the example checks that and exits 1 if not), and
# the longer latency costs more cycles, at least one latency step per blocking descriptor read.
set -euo pipefail
example=$1
run() { "$example" --latency "$1"; }
short=$(run 20)
long=$(run 220)
echo "$short"
echo "$long"
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }
c1=$(field cycles "$short"); c2=$(field cycles "$long")
f1=$(field fetch_cycles "$short"); f2=$(field fetch_cycles "$long")
l1=$(field layer_cycles "$short"); l2=$(field layer_cycles "$long")
# Two layers: descriptor + exponents each, bias on the first: five blocking reads.
if (( f2 - f1 != 5 * 200 )); then echo "fetch cycles moved by $((f2 - f1)), not 1000"; exit 1; fi
if (( l2 <= l1 )); then echo "layer cycles did not grow with latency ($l1 -> $l2)"; exit 1; fi
if (( c2 - c1 != (l2 - l1) + (f2 - f1) )); then echo "cycles moved by $((c2 - c1))"; exit 1; fi
# The run with no such check (bad argument) is refused with status 2.
set +e
"$example" --latency nope 2>/dev/null
status=$?
set -e
if (( status != 2 )); then echo "bad --latency gave status $status"; exit 1; fi
echo "device example: OK"
