#!/usr/bin/env bash
# The sim and sweep report.html rendered by headless Chromium (Debian `chromium`, installed by
# scripts/setup.sh): a screenshot, no console errors, and a page that is not blank. Without
# Chromium the test says so and is reported as skipped (exit 77), never as passed.
set -u
lbfp=$1
src=$2
here=$(cd "$(dirname "$0")" && pwd)
chromium=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$chromium" ]]; then
  echo "SKIPPED: chromium is not installed (scripts/setup.sh installs it); report.html not rendered"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export HOME=$work  # Chromium writes its profile there
fail=0
"$lbfp" sim --workload "$src/sim/workloads/lenet5.csv" --out sim --quiet || { echo "FAIL: lbfp sim"; exit 1; }
"$lbfp" sweep --workload gemm:64,64,64 --vary array.rows=8,16 --jobs 2 --out sweep > /dev/null ||
  { echo "FAIL: lbfp sweep"; exit 1; }
python3 "$here/screenshot.py" "$chromium" sim/report.html sim.png || fail=1
python3 "$here/screenshot.py" "$chromium" sweep/report.html sweep.png || fail=1
[[ $fail == 0 ]] && echo "screenshot_test: ok"
exit $fail
