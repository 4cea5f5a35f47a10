#!/usr/bin/python3
"""lbfp.gemm from Python against the C++ benchmark (sim/bench/gemm_bench.cpp, BM_*GemmCube/512).

    PYTHONPATH=build/default/python /usr/bin/python3 python/bench/gemm_bench.py \
        [--cpp build/default/sim/bench/lbfp_gemm_bench] [--size 512] [--repeat 20]

The same problem as the C++ benchmark: a 512 x 512 x 512 LBFP8 (and BFP8) GEMM of Gaussian data,
activations |x| with one exponent, weights one exponent per output column, a bias, 2 threads,
raw accumulators without per-output overflow counts. Prints the median GMAC/s of each, measured
one after the other in the same process tree, and their ratio.
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


def python_rate(fmt, n, repeat, threads):
    rng = np.random.default_rng(1)
    a, ea = lbfp.encode(np.abs(rng.standard_normal((n, n))).astype(np.float32), fmt=fmt)
    b, eb = lbfp.encode(rng.standard_normal((n, n)).astype(np.float32), fmt=fmt, block="channel",
                        axis=1)
    bias = (0.01 * (np.arange(n) % 7)).astype(np.float32)
    args = (a, int(ea[0]), b, eb, fmt)
    out = np.empty((n, n), np.int64)  # reused, as the C++ benchmark reuses its accumulators
    lbfp.gemm(*args, bias=bias, threads=threads, per_output=False, out=out)  # warm-up
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        lbfp.gemm(*args, bias=bias, threads=threads, per_output=False, out=out)
        rates.append(n ** 3 / (time.perf_counter() - t0) / 1e9)
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
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    o = p.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} logical CPUs, {o.threads} threads, "
          f"{o.size}^3 GEMM, median GMAC/s")
    for fmt in ["lbfp8", "bfp8"]:
        py = python_rate(fmt, o.size, o.repeat, o.threads)
        line = f"  {fmt:6} lbfp.gemm {py:7.2f}"
        if os.path.exists(o.cpp):
            cpp = cpp_rate(o.cpp, fmt, o.size)
            line += f"   C++ benchmark {cpp:7.2f}   Python / C++ {py / cpp:5.3f}"
        print(line)


if __name__ == "__main__":
    main()
