#!/usr/bin/env bash
# The FP32 pass of each shipped model through `lbfp eval`'s engine (lbfp_eval_bench) and through
# ONNX Runtime (npm onnxruntime-node, CPU), same images, same batch, same threads, one after the
# other in one run; prints both lines, the throughput ratio (by wall time, and by the CPU time each
# process spent, the fairer figure when other jobs share the cores) and whether every prediction
# agrees.
# ONNX Runtime is installed here, at benchmark time, into a scratch folder (never by
# scripts/setup.sh or the tests); ONNXRUNTIME_NODE_INSTALL=skip skips its optional GPU download.
# Usage: sim/bench/eval_vs_ort.sh [THREADS [IMAGES [BATCH]]]   (defaults 2, 10000, 200)
# Environment: LBFP_EVAL_BENCH (the binary; default build/default/sim/bench/lbfp_eval_bench),
# ORT_SCRATCH (default build/ort), ORT_VERSION (default 1.30.0).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
threads=${1:-2}
images=${2:-10000}
batch=${3:-200}
bench=${LBFP_EVAL_BENCH:-$root/build/default/sim/bench/lbfp_eval_bench}
scratch=${ORT_SCRATCH:-$root/build/ort}
version=${ORT_VERSION:-1.30.0}
[ -x "$bench" ] || { echo "eval_vs_ort.sh: $bench not built (cmake --build --preset default --target lbfp_eval_bench)" >&2; exit 2; }
if [ ! -d "$scratch/node_modules/onnxruntime-node" ]; then
  mkdir -p "$scratch"
  (cd "$scratch" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save --no-audit --no-fund \
      "onnxruntime-node@$version" >/dev/null)
fi
mnist_dir=$("$bench" --data-dir mnist)
fashion_dir=$("$bench" --data-dir fashion-mnist)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), threads $threads, images $images, batch $batch"
for m in lenet5:"$mnist_dir" resnet10:"$fashion_dir" mobilenet:"$fashion_dir"; do
  name=${m%%:*}
  data=${m#*:}
  ours=$("$bench" "$root/sim/models/$name.onnx" "$data" "$threads" "$images" "$batch" "$tmp/lbfp.txt")
  theirs=$(node "$root/sim/bench/eval_ort.js" "$scratch/node_modules" "$root/sim/models/$name.onnx" \
      "$data" "$threads" "$images" "$batch" "$tmp/ort.txt")
  echo "$ours"
  echo "$theirs"
  rate() { sed -n 's/.*images_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }
  cpu() { sed -n 's/.*cpu_seconds=\([0-9.]*\).*/\1/p' <<<"$1"; }
  same=$(cmp -s "$tmp/lbfp.txt" "$tmp/ort.txt" && echo "every prediction the same" || echo "predictions DIFFER")
  awk -v a="$(rate "$ours")" -v b="$(rate "$theirs")" -v ca="$(cpu "$ours")" \
      -v cb="$(cpu "$theirs")" -v n="$name" -v s="$same" \
      'BEGIN { printf "%s: lbfp / ort throughput %.2fx (wall), %.2fx (cpu time); %s\n", n, a / b, cb / ca, s }'
done
