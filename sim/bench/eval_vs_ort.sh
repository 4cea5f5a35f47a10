#!/usr/bin/env bash
# The FP32 pass of each shipped model through `lbfp eval`'s engine (lbfp_eval_bench) and through
# ONNX Runtime (npm onnxruntime-node, CPU), same images, same batch, same threads, alternately in
# one run (ROUNDS times each); prints every line, the throughput ratio of the two fastest rounds
# (by wall time, and by the CPU time each process spent, the fairer figure when other jobs share
# the cores) and whether every prediction agrees in every round.
# ONNX Runtime is installed here, at benchmark time, into a scratch folder (never by
# scripts/setup.sh or the tests); ONNXRUNTIME_NODE_INSTALL=skip skips its optional GPU download.
# Usage: sim/bench/eval_vs_ort.sh [THREADS [IMAGES [BATCH [ROUNDS]]]]   (defaults 2, 10000, 200, 3)
# Environment: LBFP_EVAL_BENCH (the binary; default build/default/sim/bench/lbfp_eval_bench),
# ORT_SCRATCH (default build/ort), ORT_VERSION (default 1.30.0).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
threads=${1:-2}
images=${2:-10000}
batch=${3:-200}
rounds=${4:-3}
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
  # The two engines alternate, rounds times each: a shared machine's speed drifts over seconds,
  # and the fastest round of each (by CPU time) is the one least disturbed by other work.
  best_ours="" best_theirs=""
  for ((r = 1; r <= rounds; ++r)); do
    ours=$("$bench" "$root/sim/models/$name.onnx" "$data" "$threads" "$images" "$batch" "$tmp/lbfp.txt")
    theirs=$(node "$root/sim/bench/eval_ort.js" "$scratch/node_modules" "$root/sim/models/$name.onnx" \
        "$data" "$threads" "$images" "$batch" "$tmp/ort.txt")
    echo "$ours"
    echo "$theirs"
    cmp -s "$tmp/lbfp.txt" "$tmp/ort.txt" || same="predictions DIFFER"
    best_ours=$(printf '%s\n%s\n' "$best_ours" "$ours" | sed '/^$/d' | sort -t= -k7 -g | head -1)
    best_theirs=$(printf '%s\n%s\n' "$best_theirs" "$theirs" | sed '/^$/d' | sort -t= -k7 -g | head -1)
  done
  rate() { sed -n 's/.*images_per_s=\([0-9]*\).*/\1/p' <<<"$1"; }
  cpu() { sed -n 's/.*cpu_seconds=\([0-9.]*\).*/\1/p' <<<"$1"; }
  awk -v a="$(rate "$best_ours")" -v b="$(rate "$best_theirs")" -v ca="$(cpu "$best_ours")" \
      -v cb="$(cpu "$best_theirs")" -v n="$name" -v s="${same:-every prediction the same}" \
      -v r="$rounds" \
      'BEGIN { printf "%s: lbfp / ort throughput %.2fx (wall), %.2fx (cpu time), fastest of %d rounds each; %s\n", n, a / b, cb / ca, r, s }'
  same=""
done
