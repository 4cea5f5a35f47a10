"""lbfp.torch against `lbfp eval`: a small PyTorch CNN (grouped and depthwise convolutions
included) and its ONNX export give the same LBFP8 / BFP8 predictions, image for image, through
both, with the exponents handed over in either direction in the JSON `lbfp eval` writes; a
saved-exponents round trip reproduces the predictions; the backward pass is straight-through."""

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
TEST_IMAGES = 300


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


@pytest.fixture(scope="module")
def mnist():
    d = mnist_dir()
    if not os.path.exists(os.path.join(d, "t10k-images-idx3-ubyte")):
        pytest.skip(f"NOT RUN: MNIST is not in {d} (scripts/setup.sh fetches it)")
    def images(prefix):
        x = read_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte"))
        return torch.from_numpy(x.astype(np.float32) / np.float32(255)).unsqueeze(1)
    return (images("train")[:3000], torch.from_numpy(
                read_idx(os.path.join(d, "train-labels-idx1-ubyte"))[:3000].astype(np.int64)),
            images("t10k")[:TEST_IMAGES],
            read_idx(os.path.join(d, "t10k-labels-idx1-ubyte"))[:TEST_IMAGES].astype(np.int64))


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)  # depthwise
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2)  # grouped
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * 7 * 7, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.dw(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.fc1(self.flatten(x)))
        return self.fc2(x)


@pytest.fixture(scope="module")
def trained(mnist, tmp_path_factory):
    xtr, ytr, _, _ = mnist
    torch.manual_seed(20)
    model = SmallNet()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(3):
        for i in range(0, len(xtr), 100):
            opt.zero_grad()
            F.cross_entropy(model(xtr[i:i + 100]), ytr[i:i + 100]).backward()
            opt.step()
    model.eval()
    path = str(tmp_path_factory.mktemp("onnx") / "small.onnx")
    torch.onnx.export(model, xtr[:1], path, opset_version=13, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=False)
    return model, path


def predictions(model, x):
    with torch.no_grad():
        return np.argmax(model(x).numpy(), axis=1)


def run_eval(path, fmt, out_dir, *args):
    """`lbfp eval` on the first TEST_IMAGES test images into out_dir: its top-1 and b/c against
    FP32, and its top-1 class of each image (predictions.csv)."""
    if not CLI:
        pytest.skip("NOT RUN: LBFP_CLI is not set (run through ctest)")
    out = subprocess.run([CLI, "eval", "--model", path, "--data", mnist_dir(), "--format", fmt,
                          "--calib-images", "200", "--test-images", str(TEST_IMAGES),
                          "--out", str(out_dir), *args],
                         capture_output=True, text=True, check=True).stdout
    row = re.search(rf"^  {fmt} \S+\s+([\d.]+) %.*?(\d+)/(\d+)", out, re.M)
    fp32 = re.search(r"^  fp32\s+([\d.]+) %", out, re.M)
    with open(os.path.join(out_dir, "predictions.csv")) as f:
        header, *rows = [line.strip().split(",") for line in f]
    column = header.index(next(h for h in header if h.startswith(fmt + " ")))
    predicted = np.array([int(r[column]) for r in rows])
    return (round(float(row.group(1)) * TEST_IMAGES / 100), int(row.group(2)),
            int(row.group(3)), round(float(fp32.group(1)) * TEST_IMAGES / 100)), predicted


def summary(q, model, x, y):
    """Correct, b (only quantized right), c (only FP32 right), FP32 correct: as lbfp eval."""
    qr = predictions(q, x) == y
    fr = predictions(model, x) == y
    return int(qr.sum()), int((qr & ~fr).sum()), int((~qr & fr).sum()), int(fr.sum())


@pytest.mark.parametrize("fmt", ["lbfp8", "bfp8"])
def test_torch_and_eval_agree_both_ways(mnist, trained, tmp_path, fmt):
    model, onnx_path = trained
    xtr, _, xte, yte = mnist
    q = lt.quantize(model, [xtr[:100], xtr[100:200]], fmt=fmt, calib="kl")
    correct, _, _, fp32_correct = summary(q, model, xte, yte)
    assert fp32_correct > TEST_IMAGES * 0.8 and correct > fp32_correct - 10  # a working network

    # lbfp.torch's exponents, read by lbfp eval: the same results.
    saved = tmp_path / "torch.json"
    lt.save_exponents(q, str(saved), "small")
    got, predicted = run_eval(onnx_path, fmt, tmp_path / "a", "--exponents", str(saved))
    assert got == summary(q, model, xte, yte)
    assert np.array_equal(predicted, predictions(q, xte))  # image for image
    eval_out = tmp_path / "a" / "small.exponents.json"

    # What eval used and wrote back reproduces lbfp.torch's predictions image for image.
    q2 = lt.quantize(model, [xtr[:50]], fmt=fmt, calib="max")
    lt.load_exponents(q2, str(eval_out))
    assert np.array_equal(predictions(q2, xte), predictions(q, xte))
    for a, b in zip(lt.layers(q).values(), lt.layers(q2).values()):
        assert np.array_equal(a.weight_exponents, b.weight_exponents)
        assert (a.in_exponent, a.out_exponent) == (b.in_exponent, b.out_exponent)

    # lbfp eval's own calibration, loaded into lbfp.torch: the same results.
    got, predicted = run_eval(onnx_path, fmt, tmp_path / "b", "--calib", "kl")
    lt.load_exponents(q2, str(tmp_path / "b" / "small.exponents.json"))
    assert got == summary(q2, model, xte, yte)
    assert np.array_equal(predicted, predictions(q2, xte))


def test_straight_through_backward(mnist, trained):
    model, _ = trained
    xtr, ytr, _, _ = mnist
    q = lt.quantize(model, [xtr[:100]])
    q.train()
    x = xtr[:20].clone().requires_grad_(True)
    loss = F.cross_entropy(q(x), ytr[:20])
    loss.backward()
    layer = lt.layers(q)["conv1"].layer
    assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with torch.no_grad():  # the forward value is the exact one, training or not
        exact = q(xtr[:20])
    assert torch.equal(q(xtr[:20]).detach(), exact)


def test_bad_inputs(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="calibration_batches is empty"):
        lt.quantize(model, [])
    with pytest.raises(ValueError, match="no nn.Conv2d or nn.Linear"):
        lt.quantize(nn.ReLU(), [torch.zeros(1, 3)])
    q = lt.quantize(model, [torch.zeros(2, 1, 28, 28)])
    bad = torch.zeros(1, 1, 28, 28)
    bad[0, 0, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="is NaN"):
        q(bad)


def test_load_exponents_refuses_a_file_that_does_not_fit(trained, tmp_path):
    model, _ = trained
    q = lt.quantize(model, [torch.zeros(2, 1, 28, 28)])
    path = tmp_path / "bad.json"
    path.write_text('[{"format": "lbfp8", "weights": [{"layer": "/conv1/Conv", '
                    '"per_output_channel": [0], "input_exponent": 0, "output_exponent": 0}]}]')
    with pytest.raises(ValueError, match="no exponents for layer '/dw/Conv'|1 weight exponents"):
        lt.load_exponents(q, str(path))
    with pytest.raises(ValueError, match="no configuration of format 'bfp8'"):
        lt.load_exponents(q, str(path), fmt="bfp8")



def exact_conv_reference(fmt, codes, ex, w_codes, ew, bias, stride, dilation, groups):
    """The exact real outputs of a convolution of already padded input codes: per output, the
    golden sequential dot product over the (c, kh, kw) taps, gathered here with numpy, from
    the bias, times 2^scale."""
    nb, c, h, wd = codes.shape
    o, cg, kh, kw = w_codes.shape
    (sh, sw), (dh, dw) = stride, dilation
    oh, ow = (h - (kh - 1) * dh - 1) // sh + 1, (wd - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((nb, o, oh, ow), np.float64)
    og = o // groups
    for oc in range(o):
        g = oc // og
        scale = lbfp.product_scale(ex, int(ew[oc]), fmt)
        init = 0 if bias is None else lbfp.bias_to_accumulator(float(bias[oc]), scale, fmt)
        wrow = np.ascontiguousarray(w_codes[oc].reshape(-1))
        for b in range(nb):
            for y in range(oh):
                for x in range(ow):
                    patch = codes[b, g * cg:(g + 1) * cg, y * sh:y * sh + (kh - 1) * dh + 1:dh,
                                  x * sw:x * sw + (kw - 1) * dw + 1:dw]
                    acc, _ = lbfp.dot(np.ascontiguousarray(patch.reshape(-1)), wrow, fmt, init)
                    out[b, oc, y, x] = np.ldexp(float(acc), scale)
    return out


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("kernel,padding,dilation,stride", [
    (3, 1, 1, 1), (3, 2, 2, 1), (3, (1, 2), (2, 3), 2), ((3, 4), "same", 1, 1),
    ((2, 3), "same", 2, 1), (3, "valid", 2, 1)])
def test_conv_padding_modes_and_dilation_are_exact(mode, kernel, padding, dilation, stride):
    # PyTorch pads the float input (F.pad), then convolves: the reference pads the float input
    # with F.pad too, encodes it with the layer's input exponent and sums the products in order.
    torch.manual_seed(3)
    conv = nn.Conv2d(4, 6, kernel, padding=padding, dilation=dilation, stride=stride, groups=2,
                     padding_mode=mode)
    model = nn.Sequential(conv)
    x = torch.randn(2, 4, 7, 9)
    q = lt.quantize(model, [x], fmt="lbfp8", calib="max")
    layer = lt.layers(q)["0"]
    with torch.no_grad():
        got = q(x).numpy()
        want_float = conv(x).numpy()
    torch_mode = "constant" if mode == "zeros" else mode
    padded = F.pad(x, conv._reversed_padding_repeated_twice, mode=torch_mode).numpy()
    codes, _ = lbfp.encode(np.ascontiguousarray(padded), layer.in_exponent, "lbfp8")
    w_codes, _ = lbfp.encode(conv.weight.detach().numpy(), layer.weight_exponents, "lbfp8",
                             block="channel", axis=0)
    want = exact_conv_reference("lbfp8", codes, layer.in_exponent, w_codes,
                                layer.weight_exponents, conv.bias.detach().numpy(),
                                conv.stride, conv.dilation, 2)
    assert got.shape == want.shape == want_float.shape
    assert np.array_equal(got, want.astype(np.float32))
    # and it is PyTorch's convolution, to LBFP8's precision
    assert np.corrcoef(got.reshape(-1), want_float.reshape(-1))[0, 1] > 0.99


def test_conv_padding_larger_than_the_input_is_refused():
    conv = nn.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")
    q = lt.quantize(nn.Sequential(conv), [torch.randn(1, 1, 8, 8)])
    with torch.no_grad(), pytest.raises(
            ValueError, match="0: padding .* 'reflect' needs an input larger than the padding, "
                              "not 2 x 2"):
        q(torch.randn(1, 1, 2, 2))
    lt.layers(q)["0"].layer.padding_mode = "mirror"  # not one PyTorch makes; refused by name
    with torch.no_grad(), pytest.raises(ValueError, match="0: padding_mode 'mirror'"):
        q(torch.randn(1, 1, 8, 8))
