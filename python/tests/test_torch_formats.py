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
                          ",".join(lbfp.SCALED_FORMATS), "--calib", "max,percentile",
                          "--calib-images",
                          str(CALIB_IMAGES), "--test-images", str(TEST_IMAGES), "--out",
                          str(out_dir)], capture_output=True, text=True, check=True).stdout
    with open(out_dir / "predictions.csv") as f:
        header, *rows = [line.strip().split(",") for line in f]
    return out, header, rows


def label(fmt, calib="max"):
    """The name of a configuration in eval's output: "int8 max/max", "mxint8 ocp"."""
    return f"{fmt} ocp" if lbfp.ScaledFormat(fmt).is_mx else f"{fmt} {calib}/max"


def eval_scales(out, fmt, calib="max"):
    """The FP32 scales eval prints (%.6g): graph input, then each Conv / Gemm output."""
    section = out.split(f"scales, {label(fmt, calib)} ")[1].split("\n\n")[0]
    scales = re.findall(r"^  (\(graph input\)|/\S+/(?:Conv|Gemm))\s+(\S+)", section, re.M)
    return [float(s) for _, s in scales]


def eval_column(header, rows, fmt, calib="max"):
    column = header.index(label(fmt, calib))
    return np.array([int(r[column]) for r in rows])


def eval_overflows(out, fmt, calib="max"):
    name = re.escape(label(fmt, calib))
    return int(re.search(rf"^  {name} +\d.*\s(\d+)$", out, re.M).group(1))


CONFIGS = [(f, "max") for f in lbfp.SCALED_FORMATS] + \
    [(f, "percentile") for f in lbfp.SCALED_FORMATS if not lbfp.ScaledFormat(f).is_mx]


@pytest.mark.parametrize("fmt,calib_method", CONFIGS)
def test_lenet5_like_eval(fmt, calib_method, lenet, mnist, cli_eval):
    calib, test = mnist
    out, header, rows = cli_eval
    q = lt.quantize(lenet, [calib[:100], calib[100:]], fmt=fmt, calib=calib_method)
    with torch.no_grad():
        logits = q(test).numpy()
    assert np.array_equal(np.argmax(logits, axis=1), eval_column(header, rows, fmt, calib_method))
    layers = list(lt.layers(q).values())
    assert sum(layer.overflows for layer in layers) == eval_overflows(out, fmt, calib_method)
    if not lbfp.ScaledFormat(fmt).is_mx:
        ours = [layers[0].in_scale] + [layer.out_scale for layer in layers[:-1]]
        printed = eval_scales(out, fmt, calib_method)[:-1]  # the last output's is not used
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


# ---- every layer's outputs against the spec, written out here with NumPy -------------------------
# Element values from the bit layout of spec 13.1, q of 13.2 as nearest-on-the-grid, and the sums
# in float64, exact for these formats on LeNet-5 (INT8, MXINT8 and E4M3 products and their sums
# stay far inside 53 bits; E5M2's do not, so those two formats are left to the eval comparison).

def element_value(fmt, code):
    kind = lbfp.ScaledFormat(fmt).element
    if kind == "int8":
        n = code - 256 if code >= 128 else code
        return n / 64 if fmt == "mxint8" else float(n)
    e, m = (code >> 3) & 15, code & 7  # E4M3
    if e == 15 and m == 7:
        return None
    v = m * 2.0 ** -9 if e == 0 else (8 + m) * 2.0 ** (e - 10)
    return -v if code & 0x80 else v


def q(v, fmt):
    """Spec 13.2 on float64 values: nearest grid value, ties to the even code, saturated."""
    grid = sorted((element_value(fmt, c), c) for c in range(128)
                  if element_value(fmt, c) is not None)
    if lbfp.ScaledFormat(fmt).element == "int8":
        grid = grid[:128]  # 0 .. 127 steps
    vals = np.array([g for g, _ in grid])
    even = np.array([c % 2 == 0 for _, c in grid])
    a = np.abs(v)
    i = np.clip(np.searchsorted(vals, a), 1, len(vals) - 1)
    lo, hi = vals[i - 1], vals[i]
    up = (a - lo > hi - a) | ((a - lo == hi - a) & even[i])
    r = np.where(a >= vals[-1], vals[-1], np.where(up, hi, lo))
    return np.where(v < 0, -r, r)


def reference_tensor_layer(layer, x, fmt):
    """FP8 / INT8 (spec 13.3, 13.6, 13.7): codes' values out, or the logits of the last layer."""
    lsb = lbfp.ScaledFormat(fmt).product_lsb
    conv = isinstance(layer.layer, nn.Conv2d)
    sa = np.float32(layer.in_scale)
    xq = q((x.numpy().astype(np.float32) / sa).astype(np.float64), fmt)
    w = layer.layer.weight.detach().numpy()
    o = w.shape[0]
    sb = np.broadcast_to(np.asarray(layer.weight_scales, np.float32), (o,))
    wq = q((w.reshape(o, -1) / sb[:, None]).astype(np.float64), fmt).reshape(w.shape)
    if conv:
        sums = F.conv2d(torch.from_numpy(xq), torch.from_numpy(wq), stride=layer.layer.stride,
                        padding=layer.layer.padding, groups=layer.layer.groups).numpy()
    else:
        sums = xq @ wq.T
    shape = (1, -1, 1, 1) if conv else (1, -1)
    sab = (sa * sb).astype(np.float32)
    bias = layer.layer.bias.detach().numpy().astype(np.float32)
    bias_acc = np.round((bias / sab).astype(np.float64) * 2.0 ** -lsb)  # ties to even
    acc = sums * 2.0 ** -lsb + bias_acc.reshape(shape)
    so = np.float32(1 if layer.out_scale is None else layer.out_scale)
    m = (sab / so).astype(np.float32).astype(np.float64) * 2.0 ** lsb
    y = (acc.astype(np.float32).astype(np.float64) * m.reshape(shape)).astype(np.float32)
    if layer.out_scale is None:
        return y
    return (q(y.astype(np.float64), fmt) * np.float64(so)).astype(np.float32)


def mx_quantize(v, fmt):
    """Blocks of 32 along the last axis (spec 13.3): (element values, E per block)."""
    emax = lbfp.ScaledFormat(fmt).emax_elem
    k = v.shape[-1]
    nb = (k + 31) // 32
    padded = np.zeros(v.shape[:-1] + (nb * 32,))
    padded[..., :k] = v
    blocks = padded.reshape(v.shape[:-1] + (nb, 32))
    amax = np.abs(blocks).max(axis=-1)
    e = np.where(amax == 0, -emax, np.frexp(amax)[1] - 1 - emax).clip(-127, 127)
    values = q(blocks / 2.0 ** e[..., None], fmt).reshape(padded.shape)[..., :k]
    return values, e


def reference_mx_layer(layer, x, fmt):
    """MX (spec 13.7): each block pair's exact sum, fp32(sum + fp32(acc * 2^(Ea + Eb + L))) from
    the bias in block order; taps in (kh, kw) order, skipped on the padding."""
    w = layer.layer.weight.detach().numpy().astype(np.float64)
    bias = layer.layer.bias.detach().numpy().astype(np.float32)
    xv = x.numpy().astype(np.float64)
    if not isinstance(layer.layer, nn.Conv2d):
        xq, xe = mx_quantize(xv, fmt)
        wq, we = mx_quantize(w, fmt)
        total = np.broadcast_to(bias, (len(xv), len(bias))).copy()
        for j in range(xe.shape[1]):
            s = slice(32 * j, 32 * j + 32)
            block = xq[:, s] @ wq[:, s].T
            term = (block * 2.0 ** (xe[:, j:j + 1] + we[None, :, j])).astype(np.float32)
            total = (total + term).astype(np.float32)
        return total
    conv = layer.layer
    n, c, h, wd = xv.shape
    (ph, pw), (sh, sw), (kh, kw) = conv.padding, conv.stride, conv.kernel_size
    groups = conv.groups
    cg, og = c // groups, conv.out_channels // groups
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    total = np.broadcast_to(bias[None, :, None, None], (n, len(bias), oh, ow)).copy()
    for g in range(groups):
        # Blocks over the group's channels at each pixel (input) and each tap (weights).
        xq, xe = mx_quantize(xv[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1), fmt)
        wq, we = mx_quantize(w[g * og:(g + 1) * og].transpose(0, 2, 3, 1), fmt)  # O, kh, kw, C
        nb = xe.shape[-1]
        xp = np.zeros((n, h + 2 * ph, wd + 2 * pw, cg))
        xp[:, ph:ph + h, pw:pw + wd] = xq
        ep = np.zeros((n, h + 2 * ph, wd + 2 * pw, nb), np.int64)
        ep[:, ph:ph + h, pw:pw + wd] = xe
        inside = np.zeros((n, h + 2 * ph, wd + 2 * pw), bool)
        inside[:, ph:ph + h, pw:pw + wd] = True
        part = total[:, g * og:(g + 1) * og]
        for ky in range(kh):
            for kx in range(kw):
                rows = slice(ky, ky + sh * (oh - 1) + 1, sh)
                cols = slice(kx, kx + sw * (ow - 1) + 1, sw)
                for j in range(nb):
                    ch = slice(32 * j, 32 * j + 32)
                    block = np.einsum("nyxc,oc->noyx", xp[:, rows, cols, ch], wq[:, ky, kx, ch])
                    scale = ep[:, None, rows, cols, j] + we[None, :, ky, kx, j, None, None]
                    term = (block * 2.0 ** scale).astype(np.float32)
                    part = np.where(inside[:, None, rows, cols], (part + term).astype(np.float32),
                                    part)
        total[:, g * og:(g + 1) * og] = part
    return total


@pytest.mark.parametrize("fmt", ["int8", "fp8-e4m3", "mxint8", "mxfp8-e4m3"])
def test_lenet5_layers_equal_the_spec_written_here(fmt, lenet, mnist):
    calib, test = mnist
    q_model = lt.quantize(lenet, [calib], fmt=fmt)
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, i[0], o)))
             for m in lt.layers(q_model).values()]
    with torch.no_grad():
        q_model(test[:4])
    for h in hooks:
        h.remove()
    assert len(seen) == 5
    reference = reference_mx_layer if lbfp.ScaledFormat(fmt).is_mx else reference_tensor_layer
    for layer, x, y in seen:
        want = reference(layer, x, fmt)
        assert np.array_equal(y.numpy(), want), layer.name  # bit for bit, the logits included


class Blocks(nn.Module):
    """Random weights through every blocking case of an MX convolution: one input channel, a
    depthwise strided layer (single-channel blocks), 40 channels per group (two blocks per tap,
    the second padded), a grouped layer; then a Linear over 784 features (25 blocks)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 40, 3, padding=1)
        self.dw = nn.Conv2d(40, 40, 3, stride=2, padding=1, groups=40)
        self.conv3 = nn.Conv2d(40, 16, 3, padding=1)
        self.conv4 = nn.Conv2d(16, 16, 3, padding=1, groups=2)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = F.relu(self.dw(F.relu(self.conv1(x))))
        x = F.max_pool2d(F.relu(self.conv4(F.relu(self.conv3(x)))), 2)
        return self.fc(torch.flatten(x, 1))


@pytest.fixture(scope="module")
def blocks_model():
    torch.manual_seed(21)
    return Blocks().eval()


@pytest.mark.parametrize("fmt", ["int8", "fp8-e4m3", "mxint8", "mxfp8-e4m3"])
def test_grouped_and_wide_layers_equal_the_spec_written_here(fmt, blocks_model):
    x = torch.rand(2, 1, 28, 28)
    q_model = lt.quantize(blocks_model, [torch.rand(8, 1, 28, 28)], fmt=fmt)
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append((m, i[0], o)))
             for m in lt.layers(q_model).values()]
    with torch.no_grad():
        q_model(x)
    for h in hooks:
        h.remove()
    reference = reference_mx_layer if lbfp.ScaledFormat(fmt).is_mx else reference_tensor_layer
    for layer, xin, y in seen:
        assert np.array_equal(y.numpy(), reference(layer, xin, fmt)), layer.name
