#!/usr/bin/python3
"""lbfp.gemm from Python against the C++ benchmark (sim/bench/gemm_bench.cpp, BM_*GemmCube/512).

    PYTHONPATH=build/default/python /usr/bin/python3 python/bench/gemm_bench.py \
        [--cpp build/default/sim/bench/lbfp_gemm_bench] [--size 512] [--rounds 5]

The same problem as the C++ benchmark: a 512 x 512 x 512 LBFP8 (and BFP8) GEMM of Gaussian data,
ReLU'd activations with one max exponent, weights with one max exponent per output column, the
bias 0.01 * (j % 7), 2 threads, raw accumulators without per-output overflow counts, written into a reused array. Both are timed
alike: 5 repetitions, each as many calls as fill 0.5 s (Google Benchmark's default minimum time),
the median of their GMAC/s. Each round times lbfp.gemm and then runs the C++ benchmark, so that
the two of a round see the same machine load; it prints every round's ratio and the median,
lowest and highest ratio over the rounds, with the load average.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import time

import numpy as np

import lbfp


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def python_rate(fmt, n, repetitions, threads, min_seconds=0.5):
    """As Google Benchmark times the C++ rows: each repetition calls lbfp.gemm until min_seconds
    have passed and divides the MACs by the wall time; the median of the repetitions."""
    rng = np.random.default_rng(1)
    a, ea = lbfp.encode(np.maximum(rng.standard_normal((n, n)), 0).astype(np.float32), fmt=fmt)
    b, eb = lbfp.encode(rng.standard_normal((n, n)).astype(np.float32), fmt=fmt, block="channel",
                        axis=1)
    bias = (np.float32(0.01) * (np.arange(n) % 7).astype(np.float32)).astype(np.float32)
    args = (a, int(ea[0]), b, eb, fmt)
    out = np.empty((n, n), np.int64)  # reused, as the C++ benchmark reuses its accumulators
    lbfp.gemm(*args, bias=bias, threads=threads, per_output=False, out=out)  # warm-up
    rates = []
    for _ in range(repetitions):
        calls = 0
        t0 = time.perf_counter()
        while True:
            lbfp.gemm(*args, bias=bias, threads=threads, per_output=False, out=out)
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_seconds:
                break
        rates.append(calls * n ** 3 / elapsed / 1e9)
    return statistics.median(rates)


def cpp_rate(binary, fmt, n):
    name = {"lbfp8": "BM_Lbfp8GemmCube", "bfp8": "BM_Bfp8GemmCube"}[fmt]
    out = subprocess.run([binary, f"--benchmark_filter=^{name}/{n}/", "--benchmark_format=json",
                          "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true"],
                         capture_output=True, text=True, check=True).stdout
    # The binary prints its OpenBLAS configuration before the JSON.
    for b in json.loads(out[out.index("{"):])["benchmarks"]:
        if b.get("aggregate_name") == "median":
            return b["GMACs"]
    raise RuntimeError(f"{binary}: no median for {name}/{n}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cpp", default="build/default/sim/bench/lbfp_gemm_bench")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repetitions", type=int, default=5)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    o = p.parse_args()
    have_cpp = os.path.exists(o.cpp)
    print(f"{cpu_model()}, {os.cpu_count()} logical CPUs, {o.threads} threads, "
          f"{o.size}^3 GEMM, median GMAC/s per round")
    if not have_cpp:
        print(f"  NOT COMPARED: {o.cpp} does not exist (build lbfp_gemm_bench)")
    for fmt in ["lbfp8", "bfp8"]:
        ratios = []
        for r in range(o.rounds):
            py = python_rate(fmt, o.size, o.repetitions, o.threads)
            line = f"  {fmt:6} round {r + 1}: lbfp.gemm {py:7.2f}"
            if have_cpp:
                cpp = cpp_rate(o.cpp, fmt, o.size)
                ratios.append(py / cpp)
                line += f"   C++ benchmark {cpp:7.2f}   Python / C++ {py / cpp:5.3f}"
            line += f"   load average {os.getloadavg()[0]:.1f}"
            print(line, flush=True)
        if ratios:
            print(f"  {fmt:6} Python / C++ over {len(ratios)} rounds: median "
                  f"{statistics.median(ratios):5.3f}, lowest {min(ratios):5.3f}, "
                  f"highest {max(ratios):5.3f}")


if __name__ == "__main__":
    main()
