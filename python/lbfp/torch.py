"""Hardware-true LBFP8 / BFP8 inference for PyTorch models on the exact kernels, and the formats
of spec section 13 (MXINT8, MXFP8, FP8, INT8) as `lbfp eval --format` runs them (ScaledLayer).

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

__all__ = ["quantize", "QuantizedLayer", "ScaledLayer", "layers", "save_exponents",
           "load_exponents"]


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
    """The QuantizedLayers (ScaledLayers) of a quantized model, by name, in module order."""
    return {m.name: m for m in model.modules() if isinstance(m, (QuantizedLayer, ScaledLayer))}


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


def quantize(model, calibration_batches, fmt="lbfp8", calib=None, weight_calib="max",
             percentile=99.99, threads=2, relu_after=None):
    """A copy of `model` with every Conv2d / Linear on the exact kernels (module docstring).

    calibration_batches: an iterable of input tensors (or (input, ...) tuples). Exponents (spec
    section 11): weights per output channel by `weight_calib` (default max); each layer's output
    by `calib` (max, kl, kl-linear, mse, percentile) over its FP32 output's non-zero values; each
    layer's input takes its producer's output exponent when its values lie on that grid (ReLU,
    pooling, reshapes in between), otherwise it is calibrated on the input itself. The layer run
    last gives the accumulators' real values (no requantization). calib None: kl.

    Section 13 formats (fmt in lbfp.SCALED_FORMATS): every Conv2d / Linear becomes a ScaledLayer,
    calibrated as `lbfp eval --format` does. FP8 / INT8: each calibrated tensor's FP32 scale is
    tensor_scale of its largest |x| over the calibration batches (calib None or "max"; or
    "percentile"): the model's input, and each layer's output (after the ReLU that alone reads
    it, which lbfp eval fuses into the layer: found by torch.fx, or the layer names in
    relu_after); weights by max, per tensor (FP8) or per output channel (INT8). MX: no
    calibration (the OCP choice per block of 32 as the values are read).
    """
    if lbfp.is_scaled(fmt):
        if weight_calib != "max":
            raise ValueError(f"weight_calib: {fmt} calibrates weights by max (as lbfp eval)")
        return _quantize_scaled(model, calibration_batches, fmt, calib or "max", percentile,
                                relu_after)
    calib = calib or "kl"
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


# ---- the formats of spec section 13 (MXINT8, MXFP8, FP8, INT8) ---------------------------------

class ScaledLayer(nn.Module):
    """An nn.Conv2d or nn.Linear in a section 13 format, computed as `lbfp eval --format` does
    (model/eval scaled_inference.cpp, docs/formats.md):

    FP8 / INT8: the input is encoded with its FP32 tensor scale (encode_scaled), the weights with
    one scale per tensor (FP8) or per output channel (INT8), both tensor_scale of the amax; the
    exact sums start from the bias (bias_to_accumulator_scaled) in the A-bit accumulator
    (scaled_gemm) and are requantized to the output's codes (requantize_scaled), whose exact
    values the layer returns; the last layer returns the dequantized accumulators (logits).

    MX: the input and the weights are quantized in blocks of 32 along the reduction's channel
    axis (per pixel and tap, within a group; a Linear along its input features) with the OCP
    shared-scale choice; each block pair's exact sum is added to the FP32 sum from the bias by
    mx_accumulate, taps in (kh, kw) order, blocks in channel order, taps on the padding skipped
    (mx_gemm). The output is FP32.

    Attributes: layer, name, fmt, in_scale, out_scale (None: the last layer), weight_scales
    (float32, FP8 / INT8), overflows (saturating accumulator steps so far).
    """

    def __init__(self, layer, name, fmt):
        super().__init__()
        self.layer = layer
        self.name = name
        self.fmt = fmt
        self.in_scale = None
        self.out_scale = None
        self.weight_scales = None
        self.overflows = 0
        self._mode = "quantized"
        self._cal = None
        self._weights = None
        if isinstance(layer, nn.Conv2d) and tuple(layer.dilation) != (1, 1):
            raise ValueError(f"{name}: dilation {tuple(layer.dilation)} is not supported in "
                             f"{fmt} (as in lbfp eval)")

    def _float_weight(self):
        return self.layer.weight.detach().to(torch.float32).contiguous().cpu().numpy()

    def _bias(self):
        o = self.layer.weight.shape[0]
        if self.layer.bias is None:
            return np.zeros(o, np.float32)
        return self.layer.bias.detach().to(torch.float32).contiguous().cpu().numpy()

    # -- FP8 / INT8 --

    def _prepare_tensor(self):
        f = lbfp.ScaledFormat(self.fmt)
        w = self._float_weight()
        rows = np.ascontiguousarray(w.reshape(w.shape[0], -1))
        block = "channel" if f.element == "int8" else "tensor"
        codes, scales = lbfp.encode_scaled(rows, None, self.fmt, block=block)
        self.weight_scales = scales
        sb = [float(scales[0 if len(scales) == 1 else o]) for o in range(w.shape[0])]
        bias = self._bias()
        so = 1.0 if self.out_scale is None else self.out_scale
        initial = [lbfp.bias_to_accumulator_scaled(float(bias[o]), self.in_scale, sb[o], self.fmt)
                   for o in range(w.shape[0])]
        initial = np.array(initial, object if f.wide else np.int64)
        mult = np.array([lbfp.requant_multiplier(self.in_scale, s, so, self.fmt) for s in sb])
        self._weights = (codes, initial, mult)

    def _exact_tensor(self, x):
        if self._weights is None:
            self._prepare_tensor()
        w, initial, mult = self._weights
        xin = x.detach().to(torch.float32).contiguous().cpu().numpy()
        codes, _ = lbfp.encode_scaled(xin, self.in_scale, self.fmt)
        if isinstance(self.layer, nn.Conv2d):
            codes, padding = _pad_codes(self.layer, self.name, codes)
            out = self._conv_sums(codes, padding, w, initial, mult)
        else:
            lead = codes.shape[:-1]
            out = self._sums(np.ascontiguousarray(codes.reshape(-1, codes.shape[-1])), w, initial,
                             mult).reshape(*lead, -1)
        if self.out_scale is not None:
            out = lbfp.decode_scaled(out, self.out_scale, self.fmt).astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(out)).to(x.device)

    def _sums(self, a, w, initial, mult):
        """The outputs of rows a against weight rows w: the next layer's codes, or (last layer)
        the dequantized sums."""
        out, ovf = lbfp.scaled_gemm(a, w, self.fmt, initial, multiplier=mult,
                                    output="float" if self.out_scale is None else "codes")
        self.overflows += int(ovf)
        return out

    def _conv_sums(self, codes, padding, w, initial, mult):
        """Each output's sum over its patch in (c, kh, kw) order, per group (scaled_gemm)."""
        conv = self.layer
        (ph, pw), (sh, sw), (kh, kw) = padding, conv.stride, conv.kernel_size
        x = np.pad(codes, [(0, 0), (0, 0), (ph, ph), (pw, pw)])  # code 0 is +0 in every format
        n, c = x.shape[:2]
        windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
        windows = windows[:, :, ::sh, ::sw]  # N, C, OH, OW, kh, kw
        oh, ow = windows.shape[2:4]
        groups = conv.groups
        cg, og = c // groups, conv.out_channels // groups
        out = None
        for g in range(groups):
            patches = windows[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1, 4, 5)
            a = np.ascontiguousarray(patches.reshape(n * oh * ow, cg * kh * kw))
            part = self._sums(a, np.ascontiguousarray(w[g * og:(g + 1) * og]),
                              np.ascontiguousarray(initial[g * og:(g + 1) * og]),
                              np.ascontiguousarray(mult[g * og:(g + 1) * og]))
            if out is None:
                out = np.empty((n, oh, ow, conv.out_channels), part.dtype)
            out[..., g * og:(g + 1) * og] = part.reshape(n, oh, ow, og)
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    # -- MX --

    def _prepare_mx(self):
        w = self._float_weight()
        if isinstance(self.layer, nn.Conv2d):
            o, cg, kh, kw = w.shape
            groups = self.layer.groups
            og = o // groups
            cgp, nb, _ = _mx_tap_layout(cg)
            # [o][kh][kw][c]: a tap's channels in blocks of 32, padded to cgp codes per tap.
            wt = np.ascontiguousarray(w.transpose(0, 2, 3, 1))
            codes, exps = lbfp.encode(wt, None, self.fmt, block=32)
            padded = np.zeros((o, kh, kw, cgp), np.uint8)
            padded[..., :cg] = codes
            exps = exps.reshape(o, kh * kw * nb)
            self._weights = [(np.ascontiguousarray(padded[g * og:(g + 1) * og].reshape(og, -1)),
                              np.ascontiguousarray(exps[g * og:(g + 1) * og]))
                             for g in range(groups)]
        else:
            codes, exps = lbfp.encode(np.ascontiguousarray(w), None, self.fmt, block=32)
            self._weights = [(codes, np.ascontiguousarray(exps.reshape(w.shape[0], -1)))]

    def _exact_mx(self, x):
        if self._weights is None:
            self._prepare_mx()
        xin = x.detach().to(torch.float32).contiguous().cpu().numpy()
        bias = self._bias()
        if not isinstance(self.layer, nn.Conv2d):
            lead = xin.shape[:-1]
            rows = np.ascontiguousarray(xin.reshape(-1, xin.shape[-1]))
            codes, exps = lbfp.encode(rows, None, self.fmt, block=32)
            (w, we), = self._weights
            out, ovf = lbfp.mx_gemm(codes, np.ascontiguousarray(exps.reshape(rows.shape[0], -1)),
                                    w, we, self.fmt, bias, block=32)
            self.overflows += int(ovf)
            return torch.from_numpy(out.reshape(*lead, -1)).to(x.device)
        conv = self.layer
        padding = _zero_pad_sides(conv, self.name, self.fmt)
        (ph, pw), (sh, sw), (kh, kw) = padding, conv.stride, conv.kernel_size
        n, c, h, wd = xin.shape
        groups = conv.groups
        cg, og = c // groups, conv.out_channels // groups
        cgp, nb, block = _mx_tap_layout(cg)
        result = np.empty((n, conv.out_channels) + _out_hw(h, wd, ph, pw, kh, kw, sh, sw),
                          np.float32)
        for g in range(groups):
            xg = np.ascontiguousarray(xin[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1))
            codes, exps = lbfp.encode(xg, None, self.fmt, block=32)  # per pixel, blocks of 32
            xc = np.zeros((n, h + 2 * ph, wd + 2 * pw, cgp), np.uint8)
            xc[:, ph:ph + h, pw:pw + wd, :cg] = codes
            xe = np.zeros((n, h + 2 * ph, wd + 2 * pw, nb), np.int32)
            xe[:, ph:ph + h, pw:pw + wd] = exps.reshape(n, h, wd, nb)
            skip = np.ones((n, h + 2 * ph, wd + 2 * pw, nb), np.uint8)
            skip[:, ph:ph + h, pw:pw + wd] = 0

            def rows(t):  # N, OH, OW, kh, kw, last -> (N OH OW) x (kh kw last)
                v = np.lib.stride_tricks.sliding_window_view(t, (kh, kw), axis=(1, 2))
                v = v[:, ::sh, ::sw].transpose(0, 1, 2, 4, 5, 3)
                return np.ascontiguousarray(v.reshape(-1, kh * kw * t.shape[-1])), v.shape[1:3]

            a, (oh, ow) = rows(xc)
            ae, _ = rows(xe)
            askip, _ = rows(skip)
            w, we = self._weights[g]
            out, ovf = lbfp.mx_gemm(a, ae, w, we, self.fmt, np.ascontiguousarray(
                bias[g * og:(g + 1) * og]), block=block, a_skip=askip)
            self.overflows += int(ovf)
            result[:, g * og:(g + 1) * og] = out.reshape(n, oh, ow, og).transpose(0, 3, 1, 2)
        return torch.from_numpy(result).to(x.device)

    def forward(self, x):
        y = self.layer(x) if self._mode != "quantized" or torch.is_grad_enabled() else None
        if self._mode == "calibrate":
            self._cal.append((x.detach(), y.detach()))
            return y
        q = self._exact_mx(x) if lbfp.ScaledFormat(self.fmt).is_mx else self._exact_tensor(x)
        if y is None:
            return q
        return y + (q - y).detach()  # straight-through


def _zero_pad_sides(conv, name, fmt):
    """(ph, pw) of a convolution zero-padded equally on both sides; else a ValueError (MX pads
    taps by skipping them, as lbfp eval, whose ONNX convolutions pad that way)."""
    if conv.padding_mode != "zeros":
        raise ValueError(f"{name}: {fmt} supports padding_mode 'zeros' only, not "
                         f"{conv.padding_mode!r}")
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        spans = [k - 1 for k in conv.kernel_size]
        if any(s % 2 for s in spans):
            raise ValueError(f"{name}: padding='same' with an even kernel pads unequal sides, "
                             f"which {fmt} does not support")
        return tuple(s // 2 for s in spans)
    return tuple(conv.padding)


def _mx_tap_layout(cg):
    """(codes per tap, blocks per tap, block) as lbfp eval lays out an MX convolution: a tap's
    cg channels in blocks of 32, padded with code 0 to whole blocks when there is more than one."""
    nb = (cg + 31) // 32
    block = cg if cg <= 32 else 32
    return nb * block, nb, block


def _out_hw(h, w, ph, pw, kh, kw, sh, sw):
    return ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


def _relu_after(model):
    """Names of the Conv2d / Linear modules whose output only a ReLU reads (torch.fx): `lbfp
    eval` fuses such a ReLU into the layer, so the layer's output tensor, whose scale FP8 / INT8
    calibrate, is the ReLU's output."""
    import torch.fx
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as e:  # noqa: BLE001 - any tracing failure
        raise ValueError(f"torch.fx cannot trace the model ({e}); pass relu_after= (the names of "
                         "the layers a ReLU follows)") from e
    modules = dict(model.named_modules())
    found = set()
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target),
                                                      (nn.Conv2d, nn.Linear)):
            continue
        users = list(node.users)
        if len(users) != 1:
            continue
        u = users[0]
        if (u.op == "call_function" and u.target in (F.relu, torch.relu)) or \
                (u.op == "call_method" and u.target == "relu") or \
                (u.op == "call_module" and isinstance(modules.get(u.target), nn.ReLU)):
            found.add(node.target)
    return found


def _quantize_scaled(model, batches, fmt, calib, percentile, relu_after):
    f = lbfp.ScaledFormat(fmt)
    if not f.is_mx and calib not in ("max", "percentile"):
        raise ValueError(f"calib: {fmt} calibrates activations by max or percentile (as lbfp "
                         f"eval), not {calib!r}")
    q = copy.deepcopy(model).eval()
    if relu_after is None and not f.is_mx:
        relu_after = _relu_after(q)
    for name, module in list(q.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, (nn.Conv2d, nn.Linear)) and not isinstance(module, ScaledLayer):
                full = f"{name}.{child_name}" if name else child_name
                setattr(module, child_name, ScaledLayer(child, full, fmt))
    qlayers = [m for m in q.modules() if isinstance(m, ScaledLayer)]
    if not qlayers:
        raise ValueError("the model has no nn.Conv2d or nn.Linear layer")
    batches = [b[0] if isinstance(b, (tuple, list)) else b for b in batches]
    if not batches:
        raise ValueError("calibration_batches is empty")
    for layer in qlayers:
        layer._mode, layer._cal = "calibrate", []
    order = []
    hooks = [m.register_forward_pre_hook(lambda m, _, order=order: order.append(m))
             for m in qlayers]
    with torch.no_grad():
        for b in batches:
            q(b)
    for h in hooks:
        h.remove()
    run_order = list(dict.fromkeys(order))
    if f.is_mx:
        for layer in qlayers:
            layer._mode, layer._cal = "quantized", None
        return q

    def scale_of(tensors):
        cal = lbfp.Calibrator()
        for t in tensors:
            cal.add(_nonzero(t))
        return lbfp.calibrate_scale([], calib, fmt) if cal.count == 0 else lbfp.tensor_scale(
            float(np.float32(cal.abs_max if calib == "max" else cal.percentile_value(percentile))),
            fmt)

    for layer in qlayers:
        outs = [F.relu(y) if layer.name in relu_after else y for _, y in layer._cal]
        layer.out_scale = scale_of(outs)
    run_order[-1].out_scale = None
    # Inputs: a producer's output scale when the values lie on its grid (ReLU, pooling,
    # flattening in between pass codes on, as lbfp eval passes them), else their own tensor's.
    produced = []

    def pre_hook(layer, inputs):
        x = inputs[0]
        layer._weights = None
        for producer in reversed(produced):
            if producer.out_scale is not None and _on_scaled_grid(x, producer.out_scale, fmt):
                layer.in_scale = producer.out_scale
                break
        else:
            layer.in_scale = scale_of([x for x, _ in layer._cal])
        layer._mode = "quantized"

    hooks = [m.register_forward_pre_hook(pre_hook) for m in run_order]
    hooks += [m.register_forward_hook(lambda m, i, o: produced.append(m)) for m in run_order]
    with torch.no_grad():
        q(batches[0])
    for h in hooks:
        h.remove()
    for layer in qlayers:
        layer._mode, layer._cal = "quantized", None
    return q


def _on_scaled_grid(x, scale, fmt):
    v = x.detach().to(torch.float32).contiguous().cpu().numpy()
    codes, _ = lbfp.encode_scaled(v, scale, fmt)
    return np.array_equal(lbfp.decode_scaled(codes, scale, fmt).astype(np.float32), v)
