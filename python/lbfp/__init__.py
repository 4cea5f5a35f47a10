"""The exact LBFP and BFP arithmetic of docs/spec.md on NumPy arrays.

Every function calls the project's C++ golden model or its fast kernels (model/lbfp); nothing is
computed in Python. Codes are uint8 arrays, exponents int (or int32 arrays, one per block),
accumulators int64 arrays. Formats are "lbfp8", "bfp8", or LbfpFormat(W, F, P, A) /
BfpFormat(W, A) objects. Input arrays must be C-contiguous with the documented dtype (they are
read in place, never copied); anything else, NaN, codes or exponents out of range raise
ValueError naming the value. The GIL is released while the C++ code runs.

Submodules: lbfp.torch (PyTorch models on the exact kernels), lbfp.sim (architecture simulation).
"""

import numpy as np

from . import _core
from ._core import BfpFormat, Calibrator, LbfpFormat

__all__ = [
    "LbfpFormat", "BfpFormat", "Calibrator", "encode", "decode", "multiply", "dot", "gemm",
    "conv2d", "requantize", "calibrate", "max_exponent", "bias_to_accumulator", "product_scale",
]

CALIBRATION_METHODS = ("max", "kl", "kl-linear", "mse", "percentile")


def _format(fmt):
    if isinstance(fmt, (LbfpFormat, BfpFormat)):
        return fmt
    if fmt == "lbfp8":
        return LbfpFormat()
    if fmt == "bfp8":
        return BfpFormat()
    raise ValueError(f"unknown format {fmt!r} (lbfp8, bfp8, or an LbfpFormat / BfpFormat)")


def encode(x, exponent=None, fmt="lbfp8", block="tensor", axis=0):
    """Encode a float32/float64 array into codes (spec section 4, BFP: section 10).

    LBFP: exact round-to-nearest in the log domain; values below the smallest code's rounding
    boundary flush to 0, large values and +-inf saturate to the top code. BFP: round half to even,
    saturated. Blocks (section 2) share one exponent: block="tensor" (one), "channel" (one per
    index of `axis`) or an int k (k consecutive elements along `axis`; the last group may be
    shorter). exponent: None picks each block's exponent by the max rule (section 11,
    E = floor(log2 amax) + 1), an int applies to every block, an int32 array gives one per block.

    Returns (codes: uint8 array shaped as x, exponents: int32 array, one per block in block order).
    """
    return _core.encode(x, exponent, fmt, block, axis)


def decode(codes, exponent, fmt="lbfp8", block="tensor", axis=0):
    """The real values of codes as float64 (spec section 3; BFP: section 10).

    LBFP: (-1)^s 2^(E - 2^I + m / 2^F), the nearest double to within one ulp; BFP: n 2^(E-(W-1)),
    exact. Blocks and exponents as in encode.
    """
    return _core.decode(codes, exponent, fmt, block, axis)


def multiply(a, b, fmt="lbfp8"):
    """Elementwise exact products in accumulator units (spec section 5), int64.

    LBFP: sign xor, t = ma + mb, LUT[t mod 2^F] << (t >> F); the real product is the result times
    2^fmt.product_scale(Ea, Eb) = 2^(Ea + Eb - 2 * 2^I - P). BFP: the integer product n_a n_b
    (scale Ea + Eb - 2(W-1)).
    """
    return _core.multiply(a, b, fmt)


def dot(a, b, fmt="lbfp8", initial=0):
    """Sequential dot product of two 1-D code arrays in the A-bit saturating accumulator (spec
    section 6), starting from `initial` (a bias in accumulator units, section 7).

    Returns (acc, overflow_count): every step whose exact sum leaves the A-bit range is clamped and
    counted.
    """
    return _core.dot(a, b, fmt, initial)


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
    avx512_vbmi.
    The result arrays are allocated once and written by the kernels (out: an int64 M x N array
    to write the accumulators into instead, e.g. reused across calls); inputs are read in place.
    """
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
    """
    return _core.requantize(acc, scale, out_exponent, fmt, relu)


def max_exponent(amax):
    """The max rule of spec section 11: E = floor(log2 amax) + 1 (exact), 0 for 0, clamped."""
    return _core.max_exponent(amax)


def bias_to_accumulator(bias, scale, fmt="lbfp8"):
    """A real bias in accumulator units of 2^scale (spec section 7): nearest, ties to even,
    saturated to the A-bit range."""
    return _core.bias_to_accumulator(bias, scale, fmt)


def product_scale(ea, eb, fmt="lbfp8"):
    """The exponent of one accumulator LSB for operand exponents ea, eb (spec sections 5, 10)."""
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
    exponent, candidates = cal.exponent(method, fmt, percentile)
    return (exponent, candidates) if scores else exponent
