#!/usr/bin/python3
"""Trains the networks of docs/accuracy.md and exports them to ONNX (a one-off, not part of CI).

    OMP_WAIT_POLICY=PASSIVE nice /usr/bin/python3 sim/models/train.py \
        lenet5|resnet10|mobilenet|all [--epochs N] [--threads N]

Needs Debian's python3-torch and python3-onnx (apt-get install python3-torch python3-onnx) and the
data that scripts/setup.sh installs: MNIST under $LBFP_DATA_DIR/mnist (default ~/.cache/lbfp/mnist)
and Fashion-MNIST under /usr/share/datasets/fashion-mnist. The input of every model is the image's
pixels divided by 255, shape N x 1 x 28 x 28 (the same preprocessing as `lbfp eval`).

Writes sim/models/NAME.onnx (BatchNormalization kept as its own node: the C++ loader folds it into
the preceding convolution) and sim/models/NAME.expected.json with the FP32 test accuracy torch
measured and the logits of the first test images, which tb/eval checks the C++ FP32 inference
against.
"""
import argparse
import gzip
import json
import os
import random
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20200607
EXPECTED_IMAGES = 16


def data_dir(name):
    if name == "fashion-mnist":
        return "/usr/share/datasets/fashion-mnist"
    root = os.environ.get("LBFP_DATA_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lbfp")
    return os.path.join(root, "mnist")


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08, path
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(name, split):
    d = data_dir(name)
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if name == "fashion-mnist" else ""
    images = read_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte{suffix}"))
    labels = read_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte{suffix}"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.flatten = nn.Flatten()

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.flatten(x)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def conv_bn(cin, cout, stride=1, groups=1, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = conv_bn(cin, cout, stride)
        self.b = conv_bn(cout, cout)
        self.proj = conv_bn(cin, cout, stride, k=1) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        y = self.b(F.relu(self.a(x)))
        s = self.proj(x) if self.proj is not None else x
        return F.relu(y + s)


class ResNet10(nn.Module):
    """Stem + 4 basic blocks: 11 convolutions (2 of them 1x1 projections), all with batch norm."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 16)
        self.blocks = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2),
                                    BasicBlock(32, 64, 2), BasicBlock(64, 64, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = self.blocks(x)
        return self.fc(self.flatten(self.pool(x)))


class MobileNet(nn.Module):
    """MobileNet-v1 style: a 3x3 stem, then depthwise 3x3 + pointwise 1x1 pairs, each with BN + ReLU."""

    def __init__(self):
        super().__init__()
        cfg = [(16, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1)]
        layers = [conv_bn(1, 16), nn.ReLU()]
        for cin, cout, stride in cfg:
            layers += [conv_bn(cin, cin, stride, groups=cin), nn.ReLU(),
                       conv_bn(cin, cout, k=1), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.features(x))))


MODELS = {
    "lenet5": (LeNet5, "mnist", 4),
    "resnet10": (ResNet10, "fashion-mnist", 2),
    "mobilenet": (MobileNet, "fashion-mnist", 2),
}


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            correct += (model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum().item()
    return correct / len(x)


def train(name, epochs, threads):
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(threads)
    cls, dataset, default_epochs = MODELS[name]
    epochs = epochs or default_epochs
    xtr, ytr = load(dataset, "train")
    xte, yte = load(dataset, "test")
    model = cls()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * ((len(xtr) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(SEED)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, xte, yte)
        print(f"{name}: epoch {epoch + 1}/{epochs} loss {loss.item():.4f} test top-1 {acc:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    path = os.path.join(HERE, f"{name}.onnx")
    # Kept in training-mode export so that BatchNormalization stays a node of its own (the C++
    # loader folds it); the model is in eval mode, so its running statistics are what is exported.
    torch.onnx.export(model, xte[:1], path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    with torch.no_grad():
        logits = model(xte[:EXPECTED_IMAGES]).numpy()
    expected = {
        "model": name,
        "dataset": dataset,
        "preprocessing": "pixel / 255, N x 1 x 28 x 28",
        "seed": SEED,
        "epochs": epochs,
        "torch": torch.__version__,
        "fp32_test_top1": acc,
        "test_images": list(range(EXPECTED_IMAGES)),
        "logits": [[float(v) for v in row] for row in logits],
    }
    with open(os.path.join(HERE, f"{name}.expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"{name}: wrote {path} ({os.path.getsize(path)} bytes), FP32 top-1 {acc:.4f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=list(MODELS) + ["all"])
    parser.add_argument("--epochs", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    for name in (MODELS if args.model == "all" else [args.model]):
        train(name, args.epochs, args.threads)


if __name__ == "__main__":
    main()
