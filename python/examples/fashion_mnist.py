#!/usr/bin/python3
"""Notebook-style walk-through: a small PyTorch CNN trained on Fashion-MNIST, then run bit-exact in
BFP8 and LBFP8 with lbfp.torch; prints FP32 / BFP8 / LBFP8 top-1 and writes per-layer SQNR.

    PYTHONPATH=build/default/python OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 \
        python/examples/fashion_mnist.py [--epochs 2] [--out fashion_sqnr.svg]

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, scripts/setup.sh).
The plot is matplotlib's when it is installed, else a small hand-written SVG.
"""
import argparse
import gzip
import os
import struct

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

import lbfp.torch as lt

DATA = "/usr/share/datasets/fashion-mnist"


# %% Data: IDX files, pixels / 255 (the same preprocessing as `lbfp eval`).
def load(split):
    prefix = "train" if split == "train" else "t10k"
    def idx(name):
        with gzip.open(os.path.join(DATA, f"{prefix}-{name}-idx{3 if name == 'images' else 1}-ubyte.gz")) as f:
            raw = f.read()
        ndim = raw[3]
        dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    x = torch.from_numpy(idx("images").astype(np.float32) / np.float32(255)).unsqueeze(1)
    return x, torch.from_numpy(idx("labels").astype(np.int64))


# %% The network: a plain, a depthwise and a grouped convolution, two linear layers.
class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=2)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.dw(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def top1(model, x, y, batch=1000):
    with torch.no_grad():
        right = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
                    for i in range(0, len(x), batch))
    return right / len(x)


# %% Per-layer SQNR: each layer's output against the FP32 layer's on the same images.
def layer_outputs(model, x, kinds):
    outs = {}

    def keep(name):
        def hook(module, inputs, output):
            outs[name] = output.detach().double()  # returns None: the output stays as it is
        return hook

    hooks = [m.register_forward_hook(keep(n))
             for n, m in model.named_modules() if isinstance(m, kinds)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return outs


def sqnr_db(model, q, x):
    ref = layer_outputs(model, x, (nn.Conv2d, nn.Linear))
    got = layer_outputs(q, x, (lt.QuantizedLayer,))
    return {n: float(10 * torch.log10((ref[n] ** 2).sum() / ((ref[n] - got[n]) ** 2).sum()))
            for n in ref}


def plot(results, path):
    names = list(next(iter(results.values())))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3))
        for k, (fmt, s) in enumerate(results.items()):
            ax.bar(np.arange(len(names)) + 0.4 * k, [s[n] for n in names], 0.4, label=fmt)
        ax.set_xticks(np.arange(len(names)) + 0.2, names)
        ax.set_ylabel("SQNR (dB)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        return
    except ImportError:
        pass
    # A minimal SVG bar chart: one group of bars per layer, one bar per format.
    top = max(max(s.values()) for s in results.values()) * 1.1
    w, h, colors = 80 * len(names) + 60, 240, ["#4477aa", "#ee6677"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
             'font-family="sans-serif" font-size="11">',
             f'<text x="4" y="14">per-layer SQNR (dB), 0 .. {top:.0f}</text>']
    for i, n in enumerate(names):
        for k, (fmt, s) in enumerate(results.items()):
            bh = 180 * s[n] / top
            x = 40 + 80 * i + 30 * k
            parts.append(f'<rect x="{x}" y="{210 - bh:.1f}" width="28" height="{bh:.1f}" '
                         f'fill="{colors[k % 2]}"><title>{fmt} {n}: {s[n]:.1f} dB</title></rect>')
        parts.append(f'<text x="{40 + 80 * i}" y="226">{n}</text>')
    for k, fmt in enumerate(results):
        parts.append(f'<text x="{w - 60}" y="{30 + 14 * k}" fill="{colors[k % 2]}">{fmt}</text>')
    with open(path, "w") as f:
        f.write("\n".join(parts + ["</svg>"]) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-images", type=int, default=20000)
    p.add_argument("--out", default="fashion_sqnr.svg")
    o = p.parse_args()
    torch.manual_seed(0)
    xtr, ytr = load("train")
    xte, yte = load("test")
    xtr, ytr = xtr[:o.train_images], ytr[:o.train_images]

    # %% Train in FP32.
    model = Cnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(o.epochs):
        for i in range(0, len(xtr), 100):
            opt.zero_grad()
            F.cross_entropy(model(xtr[i:i + 100]), ytr[i:i + 100]).backward()
            opt.step()
    model.eval()

    # %% Quantize: KL calibration on 1000 training images, the exact kernels at inference.
    calib = [xtr[i:i + 250] for i in range(0, 1000, 250)]
    print(f"top-1 on {len(xte)} Fashion-MNIST test images")
    print(f"  fp32   {100 * top1(model, xte, yte):6.2f} %")
    sqnr = {}
    for fmt in ["bfp8", "lbfp8"]:
        q = lt.quantize(model, calib, fmt=fmt, calib="kl")
        print(f"  {fmt:6} {100 * top1(q, xte, yte):6.2f} %")
        sqnr[fmt] = sqnr_db(model, q, xte[:500])
    print("per-layer SQNR against FP32 (dB, 500 test images):")
    for n in sqnr["lbfp8"]:
        print(f"  {n:6} " + "  ".join(f"{fmt} {s[n]:5.1f}" for fmt, s in sqnr.items()))
    plot(sqnr, o.out)
    print(f"wrote {o.out}")


if __name__ == "__main__":
    main()
