#!/usr/bin/python3
"""Extracts one tile of a real layer for the RTL array testbench and `lbfp synth`: fc1 of LeNet-5
(sim/models/lenet5.onnx, 400 -> 120), its FP32 input activations for the first MNIST test images
and the weights of its first output channels, written as text to lenet5_fc1_tile.txt.

    /usr/bin/python3 data/make_lenet5_tile.py [--images 6] [--channels 10]

Needs only numpy: the ONNX initializers are read with a minimal protobuf decoder, and the layers
before fc1 (conv1, ReLU, max-pool, conv2, ReLU, max-pool, flatten) are evaluated in numpy. The
forward pass is checked against the logits torch recorded in sim/models/lenet5.expected.json
before anything is written. MNIST: $LBFP_DATA_DIR/mnist (default ~/.cache/lbfp/mnist)."""
import argparse
import json
import os
import struct

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def varint(buf, pos):
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos


def fields(buf):
    """Yields (field number, wire type, value) of one protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def initializers(path):
    """name -> float32 array of every initializer (ModelProto.graph = 7, GraphProto.initializer = 5;
    TensorProto: dims = 1, data_type = 2, float_data = 4, name = 8, raw_data = 9)."""
    with open(path, "rb") as f:
        model = f.read()
    graph = next(v for n, w, v in fields(model) if n == 7)
    tensors = {}
    for n, w, v in fields(graph):
        if n != 5:
            continue
        dims, name, raw, floats, dtype = [], None, None, [], 1
        for tn, tw, tv in fields(v):
            if tn == 1 and tw == 0:
                dims.append(tv)
            elif tn == 1 and tw == 2:
                p = 0
                while p < len(tv):
                    d, p = varint(tv, p)
                    dims.append(d)
            elif tn == 2:
                dtype = tv
            elif tn == 4 and tw == 2:
                floats.extend(struct.unpack(f"<{len(tv) // 4}f", tv))
            elif tn == 4 and tw == 5:
                floats.append(struct.unpack("<f", tv)[0])
            elif tn == 8:
                name = tv.decode()
            elif tn == 9:
                raw = tv
        if dtype != 1:
            continue
        data = np.frombuffer(raw, dtype="<f4") if raw is not None else np.array(floats, "<f4")
        tensors[name] = data.reshape(dims).astype(np.float32)
    return tensors


def conv2d(x, w, b, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    cols = np.empty((n, c, kh, kw, oh, ow), np.float32)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i:i + oh, j:j + ow]
    return np.einsum("ncijuv,ocij->nouv", cols, w) + b[None, :, None, None]


def pool2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--channels", type=int, default=10)
    args = ap.parse_args()

    t = initializers(os.path.join(ROOT, "sim", "models", "lenet5.onnx"))
    data = os.environ.get("LBFP_DATA_DIR") or os.path.expanduser("~/.cache/lbfp")
    with open(os.path.join(data, "mnist", "t10k-images-idx3-ubyte"), "rb") as f:
        raw = f.read()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with open(os.path.join(ROOT, "sim", "models", "lenet5.expected.json")) as f:
        expected = json.load(f)
    count = len(expected["test_images"])
    x = images[:count].astype(np.float32) / 255.0

    a = pool2(np.maximum(conv2d(x, t["conv1.weight"], t["conv1.bias"], 2), 0))
    a = pool2(np.maximum(conv2d(a, t["conv2.weight"], t["conv2.bias"], 0), 0))
    fc1_in = a.reshape(count, -1)
    h = np.maximum(fc1_in @ t["fc1.weight"].T + t["fc1.bias"], 0)
    h = np.maximum(h @ t["fc2.weight"].T + t["fc2.bias"], 0)
    logits = h @ t["fc3.weight"].T + t["fc3.bias"]
    err = np.abs(logits - np.array(expected["logits"], np.float32)).max()
    assert err < 1e-3, f"numpy forward pass disagrees with torch: max |logit error| {err}"

    m, n = args.images, args.channels
    w = t["fc1.weight"][:n].T  # K x N
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lenet5_fc1_tile.txt")
    with open(out, "w") as f:
        f.write("# LeNet-5 fc1 (sim/models/lenet5.onnx): FP32 input activations of MNIST test "
                f"images 0..{m - 1} and the weights of output channels 0..{n - 1}.\n")
        f.write(f"# Written by data/make_lenet5_tile.py (logits checked, max error {err:.2e}).\n")
        f.write(f"activations {m} {fc1_in.shape[1]}\n")
        for row in fc1_in[:m]:
            f.write(" ".join(f"{v:.9g}" for v in row) + "\n")
        f.write(f"weights {w.shape[0]} {n}\n")
        for row in w:
            f.write(" ".join(f"{v:.9g}" for v in row) + "\n")
        f.write(f"bias {n}\n" + " ".join(f"{v:.9g}" for v in t["fc1.bias"][:n]) + "\n")
    print(f"wrote {out}: {m} x {fc1_in.shape[1]} activations, {w.shape[0]} x {n} weights")


if __name__ == "__main__":
    main()
