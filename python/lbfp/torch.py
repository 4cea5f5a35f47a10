"""Hardware-true LBFP8 / BFP8 inference for PyTorch models on the exact kernels.

quantize(model, calibration_batches) returns a copy of the model whose nn.Conv2d and nn.Linear
layers (grouped and depthwise included) run lbfp.conv2d / lbfp.gemm: the layer's input is encoded
with one exponent per tensor (spec sections 2, 4), the weights with one exponent per output
channel, the bias enters the A-bit saturating accumulator first (sections 6, 7) and the output is
requantized to the next layer's codes (section 8). Between layers the model's own code runs on
the codes' exact values: ReLU, max pooling, flattening and reshapes keep values on the producer's
grid, so the next layer re-encodes them to the very codes the hardware would pass on. The last
layer's output is the accumulators' exact value (acc * 2^scale), as `lbfp eval` reads logits.

Backward is straight-through: gradients are those of the float layer on the same input, so
quantization-aware fine-tuning works with any optimizer.

Exponents are saved and loaded in the JSON `lbfp eval` writes (docs/accuracy.md): one entry per
layer under "weights", named like the node torch.onnx.export writes ("/conv1/Conv"), with the
exponents of the layer's input and output tensors.
"""

import copy
import json

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

import lbfp

__all__ = ["quantize", "QuantizedLayer", "layers", "save_exponents", "load_exponents"]


def onnx_node_name(module_name, module):
    """The node name torch.onnx.export (1.13) gives the layer: its scope, then the op type."""
    parts = module_name.split(".")
    scopes = [".".join(parts[:i + 1]) for i in range(len(parts))]
    op = "Conv" if isinstance(module, nn.Conv2d) else "Gemm"
    return "/" + "/".join(scopes) + "/" + op


class QuantizedLayer(nn.Module):
    """An nn.Conv2d or nn.Linear running the exact kernels (see the module docstring).

    Attributes: layer (the float module, whose parameters are used and trained), fmt,
    in_exponent, out_exponent (None: the output is the accumulators' real value),
    weight_exponents (int32 per output channel), overflows (saturating accumulator steps so far).
    """

    def __init__(self, layer, name, fmt):
        super().__init__()
        self.layer = layer
        self.name = name
        self.fmt = fmt
        self.in_exponent = None
        self.out_exponent = None
        self.weight_exponents = None
        self.overflows = 0
        self.threads = 2
        self._mode = "quantized"
        self._in_cal = None
        self._out_cal = None

    def _weight_codes(self):
        w = self.layer.weight.detach().to(torch.float32).contiguous().cpu().numpy()
        codes, _ = lbfp.encode(w, self.weight_exponents, self.fmt, block="channel", axis=0)
        return codes

    def _bias(self):
        if self.layer.bias is None:
            return None
        return self.layer.bias.detach().to(torch.float32).contiguous().cpu().numpy()

    def _exact(self, x):
        xin = x.detach().to(torch.float32).contiguous().cpu().numpy()
        codes, _ = lbfp.encode(xin, self.in_exponent, self.fmt)
        w = self._weight_codes()
        out_e = self.out_exponent
        if isinstance(self.layer, nn.Conv2d):
            codes, padding = _pad_codes(self.layer, self.name, codes)
            result, ovf = lbfp.conv2d(codes, self.in_exponent, w, self.weight_exponents, self.fmt,
                                      bias=self._bias(), stride=tuple(self.layer.stride),
                                      padding=padding, groups=self.layer.groups,
                                      out_exponent=out_e, threads=self.threads,
                                      dilation=tuple(self.layer.dilation))
            channel_axis_shape = (1, -1, 1, 1)
        else:
            lead = codes.shape[:-1]
            a = codes.reshape(-1, codes.shape[-1])
            b = np.ascontiguousarray(w.T)
            result, ovf = lbfp.gemm(a, self.in_exponent, b, self.weight_exponents, self.fmt,
                                    bias=self._bias(), out_exponent=out_e, threads=self.threads)
            result = result.reshape(*lead, -1)
            channel_axis_shape = (-1,)
        if out_e is None:
            self.overflows += int(ovf.sum())
            scales = np.array([lbfp.product_scale(self.in_exponent, int(e), self.fmt)
                               for e in self.weight_exponents], np.int32).reshape(channel_axis_shape)
            values = np.ldexp(result.astype(np.float64), scales)
        else:
            self.overflows += int(ovf)
            values = lbfp.decode(result, out_e, self.fmt)
        return torch.from_numpy(values.astype(np.float32)).to(x.device)

    def forward(self, x):
        y = self.layer(x) if self._mode != "quantized" or torch.is_grad_enabled() else None
        if self._mode == "calibrate":
            self._in_cal.add(_nonzero(x))
            self._out_cal.add(_nonzero(y))
            return y
        q = self._exact(x)
        if y is None:
            return q
        return y + (q - y).detach()  # straight-through: the value is q, the gradient y's


_NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad_codes(conv, name, codes):
    """The codes and the padding lbfp.conv2d gets for an nn.Conv2d's padding and padding_mode.

    Zero padding of equal sides goes to the kernels (the zero code, no copy). Otherwise the codes
    are padded here as PyTorch pads the float input (F.pad before the convolution): 'reflect',
    'replicate' and 'circular' copy codes, which is exact because the input has one exponent, so
    a copied value's code is the copied code; 'zeros' with unequal sides (padding='same' with an
    even span) adds zero codes.
    """
    kh, kw = conv.kernel_size
    dh, dw = conv.dilation
    if isinstance(conv.padding, str):  # 'valid' or 'same' (stride 1), as PyTorch splits it
        if conv.padding == "valid":
            sides = [(0, 0), (0, 0)]
        else:
            sides = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                     for d, k in ((dh, kh), (dw, kw))]
    else:
        sides = [(p, p) for p in conv.padding]
    mode = conv.padding_mode
    if mode == "zeros" and all(a == b for a, b in sides):
        return codes, (sides[0][0], sides[1][0])
    if mode != "zeros" and mode not in _NUMPY_PAD_MODES:
        raise ValueError(f"{name}: padding_mode {mode!r} is not supported "
                         "(zeros, reflect, replicate, circular)")
    h, w = codes.shape[2:]
    if mode == "reflect" and any(max(s) >= n for s, n in zip(sides, (h, w))):
        raise ValueError(f"{name}: padding {sides} with padding_mode 'reflect' needs an input "
                         f"larger than the padding, not {h} x {w}")
    if mode == "circular" and any(max(s) > n for s, n in zip(sides, (h, w))):
        raise ValueError(f"{name}: padding {sides} with padding_mode 'circular' needs an input at "
                         f"least as large as the padding, not {h} x {w}")
    pad = [(0, 0), (0, 0)] + sides
    if mode == "zeros":
        padded = np.pad(codes, pad)
    else:
        padded = np.pad(codes, pad, mode=_NUMPY_PAD_MODES[mode])
    return np.ascontiguousarray(padded), (0, 0)


def _nonzero(t):
    v = t.detach().to(torch.float32).reshape(-1).cpu().numpy()
    return np.ascontiguousarray(v[v != 0])


def layers(model):
    """The QuantizedLayers of a quantized model, by name, in module order."""
    return {m.name: m for m in model.modules() if isinstance(m, QuantizedLayer)}


def _replace(model, fmt):
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, (nn.Conv2d, nn.Linear)) and not isinstance(module, QuantizedLayer):
                full = f"{name}.{child_name}" if name else child_name
                setattr(module, child_name, QuantizedLayer(child, full, fmt))


def _on_grid(x, exponent, fmt):
    """Whether every value of x is exactly a code's value for `exponent`."""
    v = x.detach().to(torch.float32).contiguous().cpu().numpy()
    codes, _ = lbfp.encode(v, exponent, fmt)
    return np.array_equal(lbfp.decode(codes, exponent, fmt).astype(np.float32), v)


def quantize(model, calibration_batches, fmt="lbfp8", calib="kl", weight_calib="max",
             percentile=99.99, threads=2):
    """A copy of `model` with every Conv2d / Linear on the exact kernels (module docstring).

    calibration_batches: an iterable of input tensors (or (input, ...) tuples). Exponents (spec
    section 11): weights per output channel by `weight_calib` (default max); each layer's output
    by `calib` (max, kl, kl-linear, mse, percentile) over its FP32 output's non-zero values; each
    layer's input takes its producer's output exponent when its values lie on that grid (ReLU,
    pooling, reshapes in between), otherwise it is calibrated on the input itself. The layer run
    last gives the accumulators' real values (no requantization).
    """
    q = copy.deepcopy(model).eval()
    _replace(q, fmt)
    qlayers = list(layers(q).values())
    if not qlayers:
        raise ValueError("the model has no nn.Conv2d or nn.Linear layer")
    batches = [b[0] if isinstance(b, (tuple, list)) else b for b in calibration_batches]
    if not batches:
        raise ValueError("calibration_batches is empty")
    for layer in qlayers:
        layer.fmt = fmt
        layer.threads = threads
        layer._mode = "calibrate"
        layer._in_cal, layer._out_cal = lbfp.Calibrator(), lbfp.Calibrator()
    order = []
    hooks = [m.register_forward_pre_hook(lambda m, _, order=order: order.append(m)) for m in qlayers]
    with torch.no_grad():
        for b in batches:
            q(b)
    for h in hooks:
        h.remove()
    run_order = list(dict.fromkeys(order))
    for layer in qlayers:
        w = layer.layer.weight.detach().to(torch.float32).cpu().numpy().reshape(
            layer.layer.weight.shape[0], -1)
        if weight_calib == "max":
            layer.weight_exponents = np.array([lbfp.max_exponent(float(np.abs(r).max()))
                                               for r in w], np.int32)
        else:
            layer.weight_exponents = np.array(
                [lbfp.calibrate(np.ascontiguousarray(r), weight_calib, fmt, percentile)
                 for r in w], np.int32)
        layer.out_exponent = (layer._out_cal.exponent(calib, fmt, percentile)[0]
                              if layer._out_cal.count else 0)
    run_order[-1].out_exponent = None
    # Inputs: a probe pass in the quantized network, layer by layer in run order.
    _set_inputs(q, run_order, batches[0], fmt, calib, percentile)
    for layer in qlayers:
        layer._mode = "quantized"
        layer._in_cal = layer._out_cal = None
    return q


def _set_inputs(q, run_order, batch, fmt, calib, percentile):
    for layer in run_order:
        layer.in_exponent = None
    produced = []  # layers already run in the probe, most recent last

    def pre_hook(layer, inputs):
        x = inputs[0]
        if layer.in_exponent is None:
            for producer in reversed(produced):
                if producer.out_exponent is not None and _on_grid(x, producer.out_exponent, fmt):
                    layer.in_exponent = producer.out_exponent
                    break
            else:
                layer.in_exponent = layer._in_cal.exponent(calib, fmt, percentile)[0] \
                    if layer._in_cal.count else 0
        layer._mode = "quantized"

    def post_hook(layer, inputs, output):
        produced.append(layer)

    hooks = [m.register_forward_pre_hook(pre_hook) for m in run_order]
    hooks += [m.register_forward_hook(post_hook) for m in run_order]
    with torch.no_grad():
        q(batch)
    for h in hooks:
        h.remove()


def save_exponents(model, path, model_name="model"):
    """Writes the exponents in the JSON of `lbfp eval` (readable by `lbfp eval --exponents`)."""
    qlayers = list(layers(model).values())
    fmt = qlayers[0].fmt
    entry = {
        "model": model_name,
        "format": fmt if isinstance(fmt, str) else fmt.name,
        "activations": [],
        "weights": [],
    }
    for layer in qlayers:
        w = {"layer": onnx_node_name(layer.name, layer.layer),
             "per_output_channel": [int(e) for e in layer.weight_exponents],
             "input_exponent": int(layer.in_exponent)}
        if layer.out_exponent is not None:
            w["output_exponent"] = int(layer.out_exponent)
        entry["weights"].append(w)
    with open(path, "w") as f:
        json.dump([entry], f, indent=1)
        f.write("\n")


def load_exponents(model, path, fmt=None):
    """Sets a quantized model's exponents from the JSON of `lbfp eval` (or save_exponents).

    Layers are matched by the ONNX node name of torch.onnx.export ("/conv1/Conv"); the file's
    first configuration of the model's format is used. Raises ValueError for a layer the file
    does not cover or a channel count that does not match.
    """
    with open(path) as f:
        saved = json.load(f)
    if isinstance(saved, dict):
        saved = [saved]
    qlayers = list(layers(model).values())
    want = fmt or qlayers[0].fmt
    want = want if isinstance(want, str) else want.name
    configs = [c for c in saved if c.get("format") == want]
    if not configs:
        raise ValueError(f"{path}: no configuration of format {want!r}")
    config = configs[0]
    tensors = {a["tensor"]: a["exponent"] for a in config.get("activations", [])}
    by_name = {w["layer"]: w for w in config["weights"]}
    for layer in qlayers:
        node = onnx_node_name(layer.name, layer.layer)
        if node not in by_name:
            raise ValueError(f"{path}: no exponents for layer {node!r} ({layer.name})")
        w = by_name[node]
        exps = np.array(w["per_output_channel"], np.int32)
        if len(exps) != layer.layer.weight.shape[0]:
            raise ValueError(f"{path}: {node} has {len(exps)} weight exponents for "
                             f"{layer.layer.weight.shape[0]} output channels")
        layer.weight_exponents = exps
        layer.in_exponent = int(w["input_exponent"]) if "input_exponent" in w else \
            int(tensors[w["input"]])
        if layer.out_exponent is not None:
            layer.out_exponent = int(w["output_exponent"]) if "output_exponent" in w else \
                int(tensors[w["output"]])
