"""lbfp.torch in the formats of docs/spec.md section 13 against `lbfp eval --format X` on the
shipped LeNet-5 (sim/models/lenet5.onnx): the same FP32 scales (to the digits eval prints), the
same top-1 class of every test image, the same saturation count. The ONNX weights are read by a
small protobuf reader written here (no onnx package needed)."""

import os
import re
import struct
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="NOT RUN: python3-torch is missing (scripts/setup.sh)")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import lbfp  # noqa: E402
import lbfp.torch as lt  # noqa: E402

CLI = os.environ.get("LBFP_CLI")
SRC = os.environ.get("LBFP_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
LENET = os.path.join(SRC, "sim", "models", "lenet5.onnx")
CALIB_IMAGES = 200  # eval takes training images 0, 300, 600, ... (evenly spaced over 60000)
TEST_IMAGES = 40


def mnist_dir():
    root = os.environ.get("LBFP_DATA_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lbfp")
    return os.path.join(root, "mnist")


def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    _, _, ndim = struct.unpack(">HBB", raw[:4])
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _varint(buf, i):
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7f) << shift
        shift += 7
        if b < 0x80:
            return value, i


def _fields(buf):
    """(field number, wire type, value) of a protobuf message: ints or bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        else:
            raise ValueError(f"protobuf wire type {wire}")
        yield field, wire, value


def onnx_initializers(path):
    """name -> float32 array of an ONNX model's initializers (ModelProto.graph = 7,
    GraphProto.initializer = 5; TensorProto dims 1, float_data 4, name 8, raw_data 9)."""
    with open(path, "rb") as f:
        model = f.read()
    graph = next(v for k, w, v in _fields(model) if k == 7)
    out = {}
    for k, _, tensor in _fields(graph):
        if k != 5:
            continue
        dims, name, data = [], None, None
        for field, wire, value in _fields(tensor):
            if field == 1:
                if wire == 0:
                    dims.append(value)
                else:  # packed
                    j = 0
                    while j < len(value):
                        d, j = _varint(value, j)
                        dims.append(d)
            elif field == 8:
                name = value.decode()
            elif field == 9:
                data = np.frombuffer(value, "<f4")
            elif field == 4:
                data = np.frombuffer(value, "<f4") if wire == 2 else \
                    np.concatenate([data if data is not None else np.zeros(0, "<f4"),
                                    np.frombuffer(value, "<f4")])
        out[name] = np.array(data, np.float32).reshape(dims)
    return out


class LeNet5(nn.Module):
    """sim/models/lenet5.onnx as a PyTorch module (its graph: Conv 5x5 pad 2, Relu, MaxPool 2,
    Conv 5x5, Relu, MaxPool 2, Flatten, Gemm, Relu, Gemm, Relu, Gemm)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


@pytest.fixture(scope="module")
def lenet():
    weights = onnx_initializers(LENET)
    model = LeNet5()
    state = model.state_dict()
    assert set(state) <= set(weights), sorted(weights)
    model.load_state_dict({k: torch.from_numpy(weights[k].copy()) for k in state})
    return model.eval()


@pytest.fixture(scope="module")
def mnist():
    d = mnist_dir()
    if not os.path.exists(os.path.join(d, "t10k-images-idx3-ubyte")):
        pytest.skip(f"NOT RUN: MNIST is not in {d} (scripts/setup.sh fetches it)")
    train = read_idx(os.path.join(d, "train-images-idx3-ubyte"))
    stride = len(train) // CALIB_IMAGES
    calib = train[np.arange(CALIB_IMAGES) * stride]
    test = read_idx(os.path.join(d, "t10k-images-idx3-ubyte"))[:TEST_IMAGES]
    as_input = lambda x: torch.from_numpy(x.astype(np.float32) / np.float32(255)).unsqueeze(1)
    return as_input(calib), as_input(test)


@pytest.fixture(scope="module")
def cli_eval(tmp_path_factory):
    """`lbfp eval` of every section 13 format on LeNet-5: stdout and predictions.csv."""
    if not CLI:
        pytest.skip("NOT RUN: LBFP_CLI is not set (run through ctest)")
    if not os.path.exists(os.path.join(mnist_dir(), "t10k-images-idx3-ubyte")):
        pytest.skip(f"NOT RUN: MNIST is not in {mnist_dir()} (scripts/setup.sh fetches it)")
    out_dir = tmp_path_factory.mktemp("eval")
    out = subprocess.run([CLI, "eval", "--model", LENET, "--data", mnist_dir(), "--format",
                          ",".join(lbfp.SCALED_FORMATS), "--calib", "max", "--calib-images",
                          str(CALIB_IMAGES), "--test-images", str(TEST_IMAGES), "--out",
                          str(out_dir)], capture_output=True, text=True, check=True).stdout
    with open(out_dir / "predictions.csv") as f:
        header, *rows = [line.strip().split(",") for line in f]
    return out, header, rows


def eval_scales(out, fmt):
    """The FP32 scales eval prints for fmt (%.6g): graph input, then each Conv / Gemm output."""
    section = out.split(f"scales, {fmt} max/max")[1].split("\n\n")[0]
    scales = re.findall(r"^  (\(graph input\)|/\S+/(?:Conv|Gemm))\s+(\S+)", section, re.M)
    return [float(s) for _, s in scales]


def eval_column(header, rows, fmt):
    column = header.index(next(h for h in header if h.split(" ")[0] == fmt))
    return np.array([int(r[column]) for r in rows])


def eval_overflows(out, fmt):
    return int(re.search(rf"^  {re.escape(fmt)} \S+ .*\s(\d+)$", out, re.M).group(1))


@pytest.mark.parametrize("fmt", lbfp.SCALED_FORMATS)
def test_lenet5_like_eval(fmt, lenet, mnist, cli_eval):
    calib, test = mnist
    out, header, rows = cli_eval
    q = lt.quantize(lenet, [calib[:100], calib[100:]], fmt=fmt)
    with torch.no_grad():
        logits = q(test).numpy()
    assert np.array_equal(np.argmax(logits, axis=1), eval_column(header, rows, fmt))
    layers = list(lt.layers(q).values())
    assert sum(layer.overflows for layer in layers) == eval_overflows(out, fmt)
    if not lbfp.ScaledFormat(fmt).is_mx:
        ours = [layers[0].in_scale] + [layer.out_scale for layer in layers[:-1]]
        printed = eval_scales(out, fmt)[:-1]  # the last layer's output scale is not used
        assert [float(f"{s:.6g}") for s in ours] == printed
        # Each layer reads its producer's codes (ReLU and pooling in between pass codes on).
        for a, b in zip(layers, layers[1:]):
            assert b.in_scale == a.out_scale
        w = layers[0].weight_scales
        assert len(w) == (6 if fmt == "int8" else 1)  # INT8 per output channel, FP8 per tensor


def test_calibration_choices_are_checked(lenet):
    x = torch.zeros(2, 1, 28, 28)
    with pytest.raises(ValueError, match="calib: fp8-e4m3 calibrates activations by max or "
                                         "percentile"):
        lt.quantize(lenet, [x], fmt="fp8-e4m3", calib="kl")
    with pytest.raises(ValueError, match="weight_calib"):
        lt.quantize(lenet, [x], fmt="int8", weight_calib="mse")
    q = lt.quantize(lenet, [x], fmt="mxint8")  # MX: no calibration, any batch
    assert all(isinstance(m, lt.ScaledLayer) for m in lt.layers(q).values())
