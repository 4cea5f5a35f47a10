#!/usr/bin/python3
"""lbfp.torch in the section 13 formats against `lbfp eval --format` on LeNet-5.

    PYTHONPATH=build/default/python /usr/bin/python3 python/bench/formats_bench.py \\
        [--cli build/default/sim/lbfp] [--images 1000] [--rounds 3]

Both run the shipped sim/models/lenet5.onnx (lbfp.torch on a PyTorch LeNet-5 loaded from it by
the tests' protobuf reader) on the first N MNIST test images in batches of 200, one thread,
after calibrating on eval's 200 evenly spaced training images. Each round times every format in
Python, then runs `lbfp eval --threads 1` and reads each format's time from its stderr line, so
that the two of a round see the same machine load; it prints every round's Python / eval ratio
per format and the median over the rounds, with the CPU model and the load average.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import test_torch_formats as t  # noqa: E402  (LeNet5, the ONNX reader, MNIST)

import lbfp  # noqa: E402
import lbfp.torch as lt  # noqa: E402
from gemm_bench import cpu_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cli", default="build/default/sim/lbfp")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    weights = t.onnx_initializers(t.LENET)
    model = t.LeNet5()
    model.load_state_dict({k: torch.from_numpy(weights[k].copy()) for k in model.state_dict()})
    model.eval()
    d = t.mnist_dir()
    train = t.read_idx(os.path.join(d, "train-images-idx3-ubyte"))
    calib = train[np.arange(200) * (len(train) // 200)]
    test = t.read_idx(os.path.join(d, "t10k-images-idx3-ubyte"))[:args.images]
    as_input = lambda x: torch.from_numpy(x.astype(np.float32) / np.float32(255)).unsqueeze(1)
    print(f"CPU: {cpu_model()}; LeNet-5, {args.images} images, one thread")
    ratios = {fmt: [] for fmt in lbfp.SCALED_FORMATS}
    for r in range(args.rounds):
        python_s = {}
        for fmt in lbfp.SCALED_FORMATS:
            q = lt.quantize(model, [as_input(calib)], fmt=fmt)
            start = time.perf_counter()
            with torch.no_grad():
                for i in range(0, len(test), 200):
                    q(as_input(test[i:i + 200]))
            python_s[fmt] = time.perf_counter() - start
        err = subprocess.run([args.cli, "eval", "--model", t.LENET, "--data", d, "--format",
                              ",".join(lbfp.SCALED_FORMATS), "--calib", "max", "--calib-images",
                              "200", "--test-images", str(args.images), "--threads", "1",
                              "--out", f"/tmp/lbfp-formats-bench-{os.getpid()}"],
                             capture_output=True, text=True, check=True).stderr
        line = []
        for fmt in lbfp.SCALED_FORMATS:
            eval_s = float(re.search(rf"[,:] {re.escape(fmt)} \S+ ([\d.]+) s", err).group(1))
            ratios[fmt].append(python_s[fmt] / eval_s)
            line.append(f"{fmt} {python_s[fmt]:.2f} / {eval_s:.2f} s = {ratios[fmt][-1]:.2f}")
        print(f"round {r + 1} (load {os.getloadavg()[0]:.1f}): " + ", ".join(line))
    print("median Python / eval: " + ", ".join(f"{fmt} {statistics.median(v):.2f}"
                                              for fmt, v in ratios.items()))


if __name__ == "__main__":
    main()
