"""The exact LBFP and BFP arithmetic of docs/spec.md on NumPy arrays, and the industry 8-bit
formats of its section 13 (mxint8, mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2, int8).

Every function calls the project's C++ golden model or its fast kernels (model/lbfp); nothing is
computed in Python. Codes are uint8 arrays, exponents int (or int32 arrays, one per block),
accumulators int64 arrays. Formats are "lbfp8", "bfp8", "lbfpW" / "bfpW" (W in 2..8, F = W / 2),
LbfpFormat(W, F, P, A) / BfpFormat(W, A) objects, or a section 13 format: its name or a
ScaledFormat(name, acc_bits). The section 13 formats' accumulators are int64 arrays when their
accumulator has at most 64 bits and E5M2 is not involved (ScaledFormat.wide is False), else
object arrays of Python ints, exact (E5M2 products need 65 bits). Input arrays must be
C-contiguous with the documented dtype (they are read in place, never copied); anything else,
NaN, codes or exponents out of range raise ValueError naming the value. The GIL is released while the C++ code runs.

Submodules: lbfp.torch (PyTorch models on the exact kernels), lbfp.sim (architecture simulation).
"""

import numpy as np

from . import _core
from ._core import BfpFormat, Calibrator, LbfpFormat, ScaledFormat

__all__ = [
    "LbfpFormat", "BfpFormat", "ScaledFormat", "Calibrator", "encode", "decode", "multiply", "dot",
    "gemm", "conv2d", "requantize", "calibrate", "max_exponent", "bias_to_accumulator",
    "product_scale", "SCALED_FORMATS", "is_scaled", "encode_scaled", "decode_scaled", "mx_dot",
    "scaled_gemm", "mx_gemm", "requantize_scaled", "dequantize", "requant_multiplier",
    "bias_to_accumulator_scaled", "tensor_scale", "mx_shared_exponent", "element_value",
    "calibrate_scale",
]

# The formats of docs/spec.md section 13, named as `lbfp golden --format` and `lbfp eval --format`.
SCALED_FORMATS = ("mxint8", "mxfp8-e4m3", "mxfp8-e5m2", "fp8-e4m3", "fp8-e5m2", "int8")

CALIBRATION_METHODS = ("max", "kl", "kl-linear", "mse", "percentile")


def is_scaled(fmt):
    """Whether fmt is a section 13 format (a name of SCALED_FORMATS or a ScaledFormat)."""
    return isinstance(fmt, ScaledFormat) or (isinstance(fmt, str) and fmt in SCALED_FORMATS)


def _scaled(fmt):
    return fmt if isinstance(fmt, ScaledFormat) else ScaledFormat(fmt)


def _format(fmt):
    if isinstance(fmt, (LbfpFormat, BfpFormat, ScaledFormat)):
        return fmt
    if is_scaled(fmt):
        return ScaledFormat(fmt)
    if fmt == "lbfp8":
        return LbfpFormat()
    if fmt == "bfp8":
        return BfpFormat()
    if isinstance(fmt, str) and len(fmt) in (4, 5) and fmt[:-1] in ("lbfp", "bfp") \
            and fmt[-1] in "2345678":
        w = int(fmt[-1])
        return LbfpFormat(w, w // 2) if fmt.startswith("l") else BfpFormat(w)
    raise ValueError(f"fmt: unknown format {fmt!r} (lbfp8, bfp8, lbfpW / bfpW with W in 2..8, "
                     "an LbfpFormat / BfpFormat, or a section 13 format: "
                     + ", ".join(SCALED_FORMATS) + ")")


def _scaled_block(x, block, fmt, axis):
    """The section 13 bindings' blocking: 0 (one block) or k consecutive elements along the last
    axis, and the array to hand them (a view of x for "channel": one row per index of axis 0)."""
    if axis not in (None, -1) and not (hasattr(x, "ndim") and axis == x.ndim - 1) \
            and not (block == "channel" and axis == 0):
        raise ValueError(f"axis {axis}: the section 13 formats block along the last axis "
                         "(np.moveaxis, then np.ascontiguousarray), per channel along axis 0")
    if block is None:
        block = _scaled(fmt).block_size or "tensor"
    if block == "tensor":
        return x, 0
    if block == "channel":
        if not hasattr(x, "ndim") or x.ndim == 0:
            raise ValueError("x: block='channel' needs an array of at least one dimension")
        return (x.reshape(x.shape[0], -1) if x.flags.c_contiguous else x), \
            int(np.prod(x.shape[1:], dtype=np.int64)) or 1
    if isinstance(block, (int, np.integer)) and not isinstance(block, bool) and block > 0:
        return x, int(block)
    raise ValueError(f"block must be 'tensor', 'channel' or a positive int, not {block!r}")


def _reshaped(result, x):
    """Codes / values computed on a view of x, shaped back as x."""
    return result.reshape(x.shape) if hasattr(x, "shape") and result.shape != x.shape else result


def encode(x, exponent=None, fmt="lbfp8", block=None, axis=None):
    """Encode a float32/float64 array into codes (spec section 4, BFP: section 10).

    Section 13 formats with a power-of-two scale 2^E (spec 13.2): x float32, q(x / 2^E). Blocks
    run along the last axis (default: 32 for MX, one per tensor otherwise; "channel": one per
    index of axis 0); exponent None takes the OCP shared-scale choice of each block (MX only,
    spec 13.3: floor(log2 amax) - emax_elem). FP8 / INT8 with FP32 scales: encode_scaled.

    LBFP: exact round-to-nearest in the log domain; values below the smallest code's rounding
    boundary flush to 0, large values and +-inf saturate to the top code. BFP: round half to even,
    saturated. Blocks (section 2) share one exponent: block="tensor" (one), "channel" (one per
    index of `axis`) or an int k (k consecutive elements along `axis`; the last group may be
    shorter). exponent: None picks each block's exponent by the max rule (section 11,
    E = floor(log2 amax) + 1), an int applies to every block, an int32 array gives one per block.

    Returns (codes: uint8 array shaped as x, exponents: int32 array, one per block in block order).
    """
    if is_scaled(fmt):
        view, k = _scaled_block(x, block, fmt, axis)
        codes, exps = _core.scaled_encode(view, exponent, fmt, k)
        return _reshaped(codes, x), exps
    return _core.encode(x, exponent, _format(fmt) if isinstance(fmt, str) else fmt,
                        "tensor" if block is None else block, 0 if axis is None else axis)


def decode(codes, exponent, fmt="lbfp8", block=None, axis=None):
    """The real values of codes as float64 (spec section 3; BFP: section 10).

    LBFP: (-1)^s 2^(E - 2^I + m / 2^F), the nearest double to within one ulp; BFP: n 2^(E-(W-1)),
    exact. Section 13: element value times 2^E (spec 13.1), exact. Blocks and exponents as in
    encode.
    """
    if is_scaled(fmt):
        view, k = _scaled_block(codes, block, fmt, axis)
        return _reshaped(_core.scaled_decode(view, exponent, fmt, k), codes)
    return _core.decode(codes, exponent, _format(fmt) if isinstance(fmt, str) else fmt,
                        "tensor" if block is None else block, 0 if axis is None else axis)


def multiply(a, b, fmt="lbfp8"):
    """Elementwise exact products in accumulator units (spec section 5), int64.

    LBFP: sign xor, t = ma + mb, LUT[t mod 2^F] << (t >> F); the real product is the result times
    2^fmt.product_scale(Ea, Eb) = 2^(Ea + Eb - 2 * 2^I - P). BFP: the integer product n_a n_b
    (scale Ea + Eb - 2(W-1)). Section 13: the exact product in units of 2^L (spec 13.4,
    L = fmt.product_lsb), int64 or, for E5M2, Python ints (object array).
    """
    if is_scaled(fmt):
        return _core.scaled_multiply(a, b, fmt)
    return _core.multiply(a, b, _format(fmt) if isinstance(fmt, str) else fmt)


def dot(a, b, fmt="lbfp8", initial=0):
    """Sequential dot product of two 1-D code arrays in the A-bit saturating accumulator (spec
    section 6), starting from `initial` (a bias in accumulator units, section 7).

    Returns (acc, overflow_count): every step whose exact sum leaves the A-bit range is clamped and
    counted. Section 13 (spec 13.5): acc is a Python int (up to 126 bits); MX takes one block
    pair (at most 32 codes; mx_dot sums across blocks).
    """
    if is_scaled(fmt):
        return _core.scaled_dot(a, b, fmt, initial)
    return _core.dot(a, b, _format(fmt) if isinstance(fmt, str) else fmt, initial)


def gemm(a, a_exponent, b, b_exponents, fmt="lbfp8", bias=None, out_exponent=None, relu=False,
         threads=2, path="auto", per_output=True, out=None):
    """C = A x B on codes with the fast kernels, bit-exact to the spec (sections 5 to 8).

    a: M x K codes with one exponent; b: K x N codes with one exponent per column (int or int32[N]);
    bias: float32[N] entering the accumulator first (section 7). Each output sums in k order in the
    A-bit saturating accumulator (section 6); the kernels reorder only where no step can overflow.
    out_exponent None: returns (acc int64[M, N], overflows uint32[M, N], the saturating steps of each
    output; per_output=False: the total count instead, which spares the kernels the per-output
    bookkeeping). Otherwise requantizes (section 8, optional ReLU first) and returns
    (codes uint8[M, N], total overflow count). path: auto, reference, portable, avx2, avx512,
    avx512_vbmi (LBFP8), amx (BFP).
    The result arrays are allocated once and written by the kernels (out: an int64 M x N array
    to write the accumulators into instead, e.g. reused across calls); inputs are read in place.
    Section 13 formats: scaled_gemm and mx_gemm.
    """
    if is_scaled(fmt):
        raise ValueError(f"fmt: {fmt} has no LBFP exponents; use lbfp.scaled_gemm / lbfp.mx_gemm")
    if isinstance(fmt, str):
        fmt = _format(fmt)
    return _core.gemm(a, a_exponent, b, b_exponents, fmt, bias, out_exponent, relu, threads, path,
                      per_output, out)


def conv2d(x, x_exponent, w, w_exponents, fmt="lbfp8", bias=None, stride=1, padding=0, groups=1,
           out_exponent=None, relu=False, threads=2, path="auto", dilation=1):
    """2-D convolution on NCHW codes with OIHW weights, bit-exact (spec sections 5 to 8).

    Each output sums over (c, kh, kw), kw fastest, from the bias, in the saturating accumulator;
    padding adds zero products. x_exponent: int, or int32[C] per input channel for depthwise
    convolutions (groups == C; section 6). w_exponents: int or int32[O]. stride, padding,
    dilation: int or (h, w). out_exponent None: (acc int64, overflows uint32), NCHW. Otherwise an
    int or int32[O] (per output channel): (codes uint8, total overflow count).

    dilation d spaces the kernel's taps d apart. The kernels run it as the undilated convolution
    with the (k - 1) * d + 1 kernel whose taps between the weights are the zero code: a zero
    product leaves the saturating accumulator as it is, so each output is the same sequential sum
    of the same products in the same (c, kh, kw) order. That kernel is a new array (the only copy
    made), and the zero taps cost multiply-accumulates: (((k - 1) * d + 1) / k)^2 times the MACs
    of a k x k kernel.
    """
    if is_scaled(fmt):
        raise ValueError(f"fmt: conv2d runs LBFP / BFP; {fmt} runs through lbfp.torch")
    if isinstance(fmt, str):
        fmt = _format(fmt)
    dh, dw = _pair(dilation, "dilation")
    if (dh, dw) != (1, 1) and isinstance(w, np.ndarray) and w.ndim == 4:
        if w.dtype != np.uint8:
            raise ValueError(f"w must have dtype uint8, not {w.dtype}")
        o, cg, kh, kw = w.shape
        spread = np.zeros((o, cg, (kh - 1) * dh + 1, (kw - 1) * dw + 1), np.uint8)
        spread[:, :, ::dh, ::dw] = w
        w = spread
    return _core.conv2d(x, x_exponent, w, w_exponents, fmt, bias, stride, padding, groups,
                        out_exponent, relu, threads, path)


def _pair(value, what):
    """An int or a pair of ints, each >= 1, as (h, w)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                             or v < 1 for v in pair):
        raise ValueError(f"{what} must be a positive int or a pair of them, not {value!r}")
    return int(pair[0]), int(pair[1])


def requantize(acc, scale, out_exponent, fmt="lbfp8", relu=False):
    """Accumulators (int64, each within the A-bit range) to the next layer's codes (spec section 8).

    The value acc * 2^scale is encoded with exponent out_exponent exactly as encode would, in
    integers; relu zeroes acc <= 0 first. scale: int, or an int32 array shaped as acc.
    Section 13 (spec 13.6, power-of-two scales): q(acc * 2^(scale - out_exponent)), exact; acc
    int64 or an object array of Python ints. FP32 scales: requantize_scaled.
    """
    if is_scaled(fmt):
        return _core.scaled_requantize(acc, scale, out_exponent, fmt, relu)
    return _core.requantize(acc, scale, out_exponent, _format(fmt) if isinstance(fmt, str) else fmt,
                            relu)


def max_exponent(amax):
    """The max rule of spec section 11: E = floor(log2 amax) + 1 (exact), 0 for 0, clamped."""
    return _core.max_exponent(amax)


def bias_to_accumulator(bias, scale, fmt="lbfp8"):
    """A real bias in accumulator units of 2^scale (spec section 7): nearest, ties to even,
    saturated to the A-bit range."""
    if is_scaled(fmt):
        raise ValueError(f"fmt: {fmt}: use bias_to_accumulator_scaled")
    return _core.bias_to_accumulator(bias, scale, _format(fmt) if isinstance(fmt, str) else fmt)


def product_scale(ea, eb, fmt="lbfp8"):
    """The exponent of one accumulator LSB for operand exponents ea, eb (spec sections 5, 10;
    section 13: ea + eb + L)."""
    return _format(fmt).product_scale(ea, eb)


def calibrate(batches, method="kl", fmt="lbfp8", percentile=99.99, scores=False):
    """Choose one shared exponent for float32 data (spec section 11).

    batches: one float32 array or an iterable of them (streamed into the same histograms).
    method: "max" (E = floor(log2 amax) + 1), "kl" (KL divergence; LBFP on the log grid of 128 bins
    per binade, BFP on a linear histogram), "kl-linear" (the linear histogram for both), "mse"
    (least squared error of decode(encode(x)) over the histogram) or "percentile" (the max rule on
    the given percentile of |x|, default 99.99 %). Returns the exponent, or (exponent,
    [(candidate, score), ...] best first) with scores=True.
    """
    cal = Calibrator()
    if hasattr(batches, "dtype"):
        batches = [batches]
    for batch in batches:
        cal.add(batch)
    if is_scaled(fmt):
        raise ValueError(f"fmt: {fmt} takes calibrate_scale (FP32 scales) or its MX block rule")
    exponent, candidates = cal.exponent(method, _format(fmt) if isinstance(fmt, str) else fmt,
                                        percentile)
    return (exponent, candidates) if scores else exponent


# ---- the formats of spec section 13 ---------------------------------------------------------

def encode_scaled(x, scale=None, fmt="fp8-e4m3", block="tensor"):
    """float32 x into codes with FP32 scales s (spec 13.2): q(fp32(x / s)), round to nearest
    even, saturating; NaN is a ValueError. block: "tensor" (one scale), "channel" (one per index
    of axis 0, INT8 weights) or k along the last axis. scale: None takes each block's
    tensor_scale(amax) (spec 13.3), a float (rounded to FP32) or a float32 array, one per block.

    Returns (codes uint8 shaped as x, scales float32, one per block).
    """
    view, k = _scaled_block(x, block, fmt, None)
    codes, scales = _core.scaled_encode_fp32(view, scale, fmt, k)
    return _reshaped(codes, x), scales


def decode_scaled(codes, scale, fmt="fp8-e4m3", block="tensor"):
    """The values element * s of codes with FP32 scales, exact, as float64 (blocks as
    encode_scaled)."""
    view, k = _scaled_block(codes, block, fmt, None)
    return _reshaped(_core.scaled_decode_fp32(view, scale, fmt, k), codes)


def element_value(code, fmt):
    """The exact value of one element code without its scale (spec 13.1)."""
    return _core.element_value(code, fmt)


def tensor_scale(amax, fmt):
    """FP8 / INT8 scale choice (spec 13.3): fp32(amax / max_element), 1 for amax 0."""
    return _core.tensor_scale(amax, fmt)


def mx_shared_exponent(x, fmt):
    """The OCP shared-scale choice of one MX block (float32 values, spec 13.3):
    floor(log2 amax) - emax_elem, clamped to [-127, 127]."""
    return _core.mx_shared_exponent(x, fmt)


def calibrate_scale(batches, method="max", fmt="fp8-e4m3", percentile=99.99):
    """One FP32 tensor scale from float32 data as `lbfp eval` calibrates an FP8 / INT8 tensor:
    tensor_scale of the largest |x| (method "max") or of the percentile of |x| ("percentile").
    Zeros count as `lbfp eval` counts them: not at all (pass the non-zero values for
    percentile)."""
    if method not in ("max", "percentile"):
        raise ValueError(f"method: {fmt} calibrates by max or percentile, not {method!r}")
    cal = Calibrator()
    if hasattr(batches, "dtype"):
        batches = [batches]
    for batch in batches:
        cal.add(batch)
    if cal.count == 0:
        return tensor_scale(0.0, fmt)
    amax = cal.abs_max if method == "max" else cal.percentile_value(percentile)
    return tensor_scale(float(np.float32(amax)), fmt)


def mx_dot(a, a_exponents, b, b_exponents, fmt="mxfp8-e4m3", initial=0.0):
    """sum a[k] b[k] of an MX format across blocks of 32 (spec 13.7): each block pair's exact dot
    (spec 13.5) rounded once to FP32 and added to the FP32 sum from `initial`, in block order.
    a_exponents, b_exponents: int32, one per block. Returns (float, overflow count)."""
    return _core.mx_dot(a, a_exponents, b, b_exponents, fmt, initial)


def scaled_gemm(a, b, fmt, initial=None, block=None, path="auto", multiplier=None, output="acc",
                relu=False):
    """The exact sums of a section 13 format (spec 13.5) through lbfp::gemm_accumulate.

    a: M x K codes, b: N x K codes (output j's codes in row j, as nn.Linear stores weights).
    FP8 / INT8: acc[i, j] = dot(a[i], b[j]) from initial[j] (int64 or Python ints, N of them:
    the bias as an accumulator value, bias_to_accumulator_scaled). MX: K splits into blocks of
    `block` codes (default 32; the last may be shorter), each its own sum from 0:
    acc[i, j, q]. Returns (acc, total saturating steps); acc int64, or Python ints when
    fmt.wide. path: auto, reference, portable, avx512.

    FP8 / INT8 layers without the accumulators in Python: output "codes" requantizes each sum
    (requantize_scaled with multiplier[j], relu first where asked: uint8 M x N), output "float"
    dequantizes it (dequantize, then relu: float32 M x N, a last layer's logits). multiplier:
    float64[N] from requant_multiplier, or one number.
    """
    return _core.scaled_gemm(a, b, fmt, initial, 0 if block is None else block, path,
                             multiplier, output, relu)


def mx_gemm(a, a_exponents, b, b_exponents, fmt, bias=None, relu=False, block=None, a_skip=None,
            path="auto"):
    """An MX layer's outputs (spec 13.7): each block pair's exact sum (scaled_gemm) added to the
    FP32 sum from bias[j] by mx_accumulate, blocks in order; relu after.

    a: M x K, b: N x K codes; a_exponents M x nb, b_exponents N x nb int32 (nb = blocks of
    `block` codes, default 32); bias float32[N]; a_skip: uint8 M x nb, non-zero where a block
    has no pair (a convolution's taps on the padding, which `lbfp eval` skips). Returns
    (float32 M x N, total saturating steps).
    """
    return _core.mx_gemm(a, a_exponents, b, b_exponents, fmt, bias, relu,
                         0 if block is None else block, a_skip, path)


def _multipliers(multiplier, acc):
    if isinstance(multiplier, (float, int, np.floating, np.integer)):
        return float(multiplier)
    return np.ascontiguousarray(np.broadcast_to(np.asarray(multiplier, np.float64), acc.shape))


def requantize_scaled(acc, multiplier, fmt, relu=False):
    """FP32-scale requantization (spec 13.6): q(fp32(fp32(acc) * M)) with M from
    requant_multiplier; relu zeroes acc <= 0 first. multiplier: a float or an array that
    broadcasts to acc's shape (e.g. one per output channel along the last axis)."""
    return _core.requantize_scaled(acc, _multipliers(multiplier, acc), fmt, relu)


def dequantize(acc, multiplier):
    """A last layer's real outputs (spec 13.7): fp32(fp32(acc) * M), M = requant_multiplier(sa,
    sb, 1); float32 shaped as acc."""
    return _core.dequantize(acc, _multipliers(multiplier, acc))


def requant_multiplier(sa, sb, so, fmt):
    """M = fp32(fp32(sa * sb) / so) * 2^L as the exact double (spec 13.6)."""
    return _core.requant_multiplier(sa, sb, so, fmt)


def bias_to_accumulator_scaled(bias, sa, sb, fmt):
    """A bias as an accumulator value (spec 13.7): round(fp32(bias / fp32(sa * sb)) * 2^-L),
    nearest even, saturated to the A-bit range; a Python int."""
    return _core.bias_to_accumulator_scaled(bias, sa, sb, fmt)
