"""(label long, about 15 s) lbfp.torch against `lbfp eval --format X` for all six section 13
formats on a model with every blocking case of an MX convolution (test_torch_formats.Blocks:
a depthwise strided layer, 40 channels per group, a grouped layer, a 784-feature Linear), random
weights whose last layer is centred on the calibration images' features so that the 30 test
images spread over several classes: the same class for every image, the same saturation count,
and (FP8, INT8) the same scales to the digits eval prints. Exported with torch.onnx.export."""

import os
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="NOT RUN: python3-torch is missing (scripts/setup.sh)")

import lbfp  # noqa: E402
import lbfp.torch as lt  # noqa: E402
from test_torch_formats import (Blocks, eval_column, eval_overflows, eval_scales,  # noqa: E402
                                mnist_dir, read_idx)

CLI = os.environ.get("LBFP_CLI")
CALIB_IMAGES = 50
TEST_IMAGES = 30


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    if not CLI:
        pytest.skip("NOT RUN: LBFP_CLI is not set (run through ctest)")
    d = mnist_dir()
    if not os.path.exists(os.path.join(d, "t10k-images-idx3-ubyte")):
        pytest.skip(f"NOT RUN: MNIST is not in {d} (scripts/setup.sh fetches it)")
    train = read_idx(os.path.join(d, "train-images-idx3-ubyte"))
    calib = train[np.arange(CALIB_IMAGES) * (len(train) // CALIB_IMAGES)]  # eval's choice
    test = read_idx(os.path.join(d, "t10k-images-idx3-ubyte"))[:TEST_IMAGES]
    as_input = lambda x: torch.from_numpy(x.astype(np.float32) / np.float32(255)).unsqueeze(1)
    torch.manual_seed(21)
    model = Blocks().eval()
    with torch.no_grad():
        features = []
        hook = model.fc.register_forward_pre_hook(lambda m, i: features.append(i[0]))
        model(as_input(calib))
        hook.remove()
        model.fc.weight.mul_(20)
        model.fc.bias.copy_(-(model.fc.weight @ features[0].mean(0)))
    out_dir = tmp_path_factory.mktemp("blocks")
    path = str(out_dir / "blocks.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=False)
    out = subprocess.run([CLI, "eval", "--model", path, "--data", d, "--format",
                          ",".join(lbfp.SCALED_FORMATS), "--calib", "max", "--calib-images",
                          str(CALIB_IMAGES), "--test-images", str(TEST_IMAGES), "--out",
                          str(out_dir / "eval")], capture_output=True, text=True,
                         check=True).stdout
    with open(out_dir / "eval" / "predictions.csv") as f:
        header, *rows = [line.strip().split(",") for line in f]
    return model, as_input(calib), as_input(test), out, header, rows


@pytest.mark.parametrize("fmt", lbfp.SCALED_FORMATS)
def test_blocks_like_eval(fmt, setup):
    model, calib, test, out, header, rows = setup
    q = lt.quantize(model, [calib], fmt=fmt)
    with torch.no_grad():
        predicted = np.argmax(q(test).numpy(), axis=1)
    want = eval_column(header, rows, fmt)
    assert np.array_equal(predicted, want)
    assert len(set(want.tolist())) >= 5  # the images spread over classes
    layers = list(lt.layers(q).values())
    assert sum(layer.overflows for layer in layers) == eval_overflows(out, fmt)
    if not lbfp.ScaledFormat(fmt).is_mx:
        ours = [layers[0].in_scale] + [layer.out_scale for layer in layers[:-1]]
        assert [float(f"{s:.6g}") for s in ours] == eval_scales(out, fmt)[:-1]
