"""The section 13 formats (docs/spec.md: MXINT8, MXFP8 E4M3 / E5M2, FP8, INT8) through the NumPy
API: every code's value against `lbfp golden` and against the bit layout written out here, every
product (65,536 pairs) against exact Fractions, gemm against dot, MX across blocks against an
FP32 reduction written here, E5M2 sums beyond 64 bits as exact Python ints, and the ValueErrors."""

import math
import os
import subprocess
from fractions import Fraction

import numpy as np
import pytest

import lbfp

CLI = os.environ.get("LBFP_CLI")
RNG = np.random.default_rng(13)
FORMATS = lbfp.SCALED_FORMATS


def golden(op, lines, *args):
    if not CLI:
        pytest.skip("NOT RUN: LBFP_CLI is not set (run through ctest)")
    out = subprocess.run([CLI, "golden", op, *args], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def element(fmt):
    return lbfp.ScaledFormat(fmt).element


def value(fmt, code):
    """The exact value of an element code from its bit layout (spec 13.1), None for NaN / inf."""
    kind = element(fmt)
    if kind == "int8":
        v = Fraction(code - 256 if code >= 128 else code)
        return v / 64 if fmt == "mxint8" else v
    sign = -1 if code & 0x80 else 1
    ebits, mbits, bias = (4, 3, 7) if kind == "e4m3" else (5, 2, 15)
    e = (code >> mbits) & ((1 << ebits) - 1)
    m = code & ((1 << mbits) - 1)
    if kind == "e4m3" and e == 15 and m == 7:
        return None  # NaN
    if kind == "e5m2" and e == 31:
        return None  # infinities and NaNs
    if e == 0:
        return sign * Fraction(m, 1 << mbits) * Fraction(2) ** (1 - bias)
    return sign * (1 + Fraction(m, 1 << mbits)) * Fraction(2) ** (e - bias)


def codes_of(fmt):
    return np.array([c for c in range(256) if value(fmt, c) is not None], np.uint8)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_code_decodes_as_golden_and_the_bit_layout(fmt):
    codes = codes_of(fmt)
    assert len(codes) == {"int8": 256, "e4m3": 254, "e5m2": 248}[element(fmt)]
    for e in (0, -9, 5):
        got = lbfp.decode(codes, e, fmt, block="tensor")
        assert [Fraction(float(g)) for g in got] == [value(fmt, c) * Fraction(2) ** e
                                                     for c in codes]
        want = golden("decode", [f"0x{c:02x}" for c in codes], "--format", fmt, "--exp", str(e))
        assert got.tolist() == [float(w) for w in want]
        assert [lbfp.element_value(int(c), fmt) for c in codes] == [float(value(fmt, c))
                                                                    for c in codes]
    if not lbfp.ScaledFormat(fmt).is_mx:  # FP32 scales: element * s, exact in float64
        s = np.float32(0.0123)
        got = lbfp.decode_scaled(codes, float(s), fmt)
        assert [Fraction(float(g)) for g in got] == [value(fmt, c) * Fraction(float(s))
                                                     for c in codes]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_product_is_exact(fmt):
    """All pairs of valid codes (65,536 for INT8): multiply(a, b) * 2^L == value(a) value(b)."""
    codes = codes_of(fmt)
    a = np.repeat(codes, len(codes))
    b = np.tile(codes, len(codes))
    got = lbfp.multiply(a, b, fmt)
    f = lbfp.ScaledFormat(fmt)
    assert got.dtype == (object if element(fmt) == "e5m2" else np.int64)
    lsb = Fraction(2) ** f.product_lsb
    values = {int(c): value(fmt, int(c)) for c in codes}
    want = [values[int(p)] * values[int(q)] / lsb for p, q in zip(a, b)]
    assert all(w.denominator == 1 for w in want)
    assert [int(g) for g in got] == [int(w) for w in want]
    if element(fmt) == "e5m2":  # 57344^2 in units of 2^-32: beyond int64
        assert max(abs(int(g)) for g in got) > 2 ** 63


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("exponent", [0, -6, 4])
def test_encode_equals_golden(fmt, exponent):
    codes = codes_of(fmt)
    v = np.sort(lbfp.decode(codes, exponent, fmt, block="tensor"))
    x = np.concatenate([v, (v[1:] + v[:-1]) / 2, RNG.standard_normal(300) * 2.0 ** exponent * 8,
                        [0.0, -0.0, 1e30, -1e30, np.inf, -np.inf]]).astype(np.float32)
    got, exps = lbfp.encode(x, exponent, fmt, block="tensor")
    assert exps.tolist() == [exponent]
    want = golden("encode", [repr(float(t)) for t in x], "--format", fmt, "--exp", str(exponent))
    assert [f"0x{c:02x}" for c in got] == want


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.startswith("mx")])
def test_mx_blocks_take_the_ocp_scale(fmt):
    """encode(exponent=None): blocks of 32 along the last axis, the last shorter, each
    E = floor(log2 amax) - emax_elem (spec 13.3)."""
    x = (RNG.standard_normal((3, 70)) * 2.0 ** RNG.integers(-20, 20, (3, 1))).astype(np.float32)
    x[1, 32:64] = 0
    codes, exps = lbfp.encode(x, None, fmt)
    emax = lbfp.ScaledFormat(fmt).emax_elem
    want = []
    for row in x:
        for first in range(0, 70, 32):
            amax = float(np.abs(row[first:first + 32]).max())
            want.append(-emax if amax == 0 else math.frexp(amax)[1] - 1 - emax)
    assert exps.tolist() == want
    assert exps.tolist() == [lbfp.mx_shared_exponent(np.ascontiguousarray(r[f:f + 32]), fmt)
                             for r in x for f in range(0, 70, 32)]
    per_element = np.repeat(exps.reshape(3, 3), 32, axis=1)[:, :70]
    for (i, j), c in np.ndenumerate(codes):
        assert c == lbfp.encode(x[i:i + 1, j], int(per_element[i, j]), fmt, block="tensor")[0][0]


def test_tensor_scales_and_int8_channels():
    assert lbfp.tensor_scale(448.0, "fp8-e4m3") == 1.0
    assert lbfp.tensor_scale(0.0, "int8") == 1.0
    assert lbfp.tensor_scale(3.5, "int8") == float(np.float32(3.5) / np.float32(127))
    w = (RNG.standard_normal((4, 9)) * [[1], [10], [0.1], [3]]).astype(np.float32)
    codes, scales = lbfp.encode_scaled(w, None, "int8", block="channel")
    assert scales.tolist() == [lbfp.tensor_scale(float(np.abs(r).max()), "int8") for r in w]
    for r in range(4):
        assert np.abs(codes[r].astype(np.int8)).max() == 127  # each row's amax maps to 127


@pytest.mark.parametrize("fmt", ["fp8-e4m3", "fp8-e5m2", "int8"])
def test_gemm_equals_dot(fmt):
    codes = codes_of(fmt)
    a = RNG.choice(codes, (5, 300)).astype(np.uint8)
    b = RNG.choice(codes, (7, 300)).astype(np.uint8)
    f = lbfp.ScaledFormat(fmt)
    initial = np.array([RNG.integers(-1000, 1000) for _ in range(7)],
                       object if f.wide else np.int64)
    for path in ("auto", "reference"):
        acc, overflows = lbfp.scaled_gemm(a, b, fmt, initial, path=path)
        want = [[lbfp.dot(a[i], b[j], fmt, int(initial[j])) for j in range(7)] for i in range(5)]
        assert [[int(v) for v in row] for row in acc] == [[w[0] for w in r] for r in want]
        assert overflows == sum(w[1] for r in want for w in r)
    # Requantized or dequantized in the call: the same as from the accumulators.
    m = RNG.uniform(1e-6, 1e-3, 7)
    codes, _ = lbfp.scaled_gemm(a, b, fmt, initial, multiplier=m, output="codes", relu=True)
    assert np.array_equal(codes, lbfp.requantize_scaled(acc, m, fmt, relu=True))
    values, _ = lbfp.scaled_gemm(a, b, fmt, initial, multiplier=m, output="float")
    assert np.array_equal(values, lbfp.dequantize(acc, m))


@pytest.mark.parametrize("fmt", ["mxint8", "mxfp8-e4m3", "mxfp8-e5m2"])
def test_mx_across_blocks(fmt):
    """K = 100 (blocks 32, 32, 32, 4): scaled_gemm per block equals dot; mx_dot and mx_gemm equal
    the FP32 reduction of spec 13.7 written here: fp32(sum + fp32(acc * 2^(ea + eb + L)))."""
    k, m, n = 100, 3, 4
    x = (RNG.standard_normal((m, k)) * 2.0 ** RNG.integers(-4, 4, (m, 1))).astype(np.float32)
    w = (RNG.standard_normal((n, k)) * 0.1).astype(np.float32)
    xc, xe = lbfp.encode(x, None, fmt)
    wc, we = lbfp.encode(w, None, fmt)
    xe, we = xe.reshape(m, 4), we.reshape(n, 4)
    bias = RNG.standard_normal(n).astype(np.float32)
    acc, _ = lbfp.scaled_gemm(xc, wc, fmt)
    assert acc.shape == (m, n, 4)
    lsb = lbfp.ScaledFormat(fmt).product_lsb
    out, _ = lbfp.mx_gemm(xc, np.ascontiguousarray(xe), wc, np.ascontiguousarray(we), fmt, bias)
    for i in range(m):
        for j in range(n):
            total = np.float32(bias[j])
            for q in range(4):
                s = slice(32 * q, min(k, 32 * q + 32))
                block, _ = lbfp.dot(np.ascontiguousarray(xc[i, s]), np.ascontiguousarray(wc[j, s]),
                                    fmt)
                assert int(acc[i, j, q]) == block
                term = np.float32(Fraction(block) * Fraction(2) ** int(xe[i, q] + we[j, q] + lsb))
                total = np.float32(total + term)
            got, _ = lbfp.mx_dot(xc[i], np.ascontiguousarray(xe[i]), wc[j],
                                 np.ascontiguousarray(we[j]), fmt, float(bias[j]))
            assert got == total and out[i, j] == total


def test_e5m2_sums_beyond_64_bits():
    """32 products of the largest E5M2 code (57344^2 in units of 2^-32 each): 2^70-bit sums."""
    top = np.full(32, 0x7b, np.uint8)
    for fmt in ("fp8-e5m2", "mxfp8-e5m2"):
        acc, overflows = lbfp.dot(top, top, fmt)
        assert isinstance(acc, int) and overflows == 0
        assert acc == 32 * 57344 ** 2 * 2 ** 32 and acc > 2 ** 64
    acc, _ = lbfp.scaled_gemm(top.reshape(1, 32), top.reshape(1, 32), "fp8-e5m2",
                              np.array([-(2 ** 68)], object))
    assert acc[0, 0] == 32 * 57344 ** 2 * 2 ** 32 - 2 ** 68
    # The value 17 * 2^31 with out_exponent 20: 17 * 2^11 = 1.0625 * 2^15 rounds to 2^15 in E5M2.
    codes = lbfp.requantize(acc, -32, 20, "fp8-e5m2")
    assert lbfp.decode(codes, 20, "fp8-e5m2", block="tensor")[0, 0] == 2.0 ** 35


def test_requantize_scaled_and_dequantize():
    """q(fp32(fp32(acc) * M)) against the rounding written here for INT8 (round half even,
    saturate to +-127) and fp32(fp32(acc) * M) for the logits."""
    sa, sb, so = np.float32(0.02), np.float32(0.003), np.float32(0.05)
    m = lbfp.requant_multiplier(float(sa), float(sb), float(so), "int8")
    assert m == float(np.float32(np.float32(sa * sb) / so))  # L = 0 for INT8
    acc = np.arange(-40000, 40000, 7, dtype=np.int64)
    codes = lbfp.requantize_scaled(acc, m, "int8")
    v = np.float32(acc.astype(np.float32) * np.float32(m))
    want = np.clip(np.round(v.astype(np.float64)), -127, 127).astype(np.int64)  # half to even
    assert np.array_equal(codes.astype(np.int8).astype(np.int64), want)
    assert np.array_equal(lbfp.dequantize(acc, m), v)
    relu = lbfp.requantize_scaled(acc, m, "int8", relu=True)
    assert np.array_equal(relu.astype(np.int8), np.maximum(want, 0))
    bias = lbfp.bias_to_accumulator_scaled(0.37, float(sa), float(sb), "int8")
    assert bias == round(float(np.float32(np.float32(0.37) / np.float32(sa * sb))))


def test_errors_name_the_argument():
    x = np.ones(4, np.float32)
    c = np.zeros(4, np.uint8)
    with pytest.raises(ValueError, match="fmt"):
        lbfp.encode(x, 0, "fp9")
    with pytest.raises(ValueError, match="fmt"):
        lbfp.ScaledFormat("mxfp4")
    with pytest.raises(ValueError, match=r"x\[2\] is NaN"):
        lbfp.encode(np.array([1, 2, np.nan], np.float32), None, "mxint8")
    with pytest.raises(ValueError, match=r"x\[0\] is NaN"):
        lbfp.encode_scaled(np.array([np.nan], np.float32), None, "fp8-e4m3")
    with pytest.raises(ValueError, match="exponent"):
        lbfp.encode(x, None, "fp8-e4m3")  # FP8 takes an FP32 scale
    with pytest.raises(ValueError, match="exponent 200"):
        lbfp.encode(x, 200, "mxint8")
    with pytest.raises(ValueError, match="same shape"):
        lbfp.multiply(c, np.zeros(3, np.uint8), "int8")
    with pytest.raises(ValueError, match=r"b\[1\] = 127 is not a code"):
        lbfp.multiply(c, np.array([0, 0x7f, 0, 0], np.uint8), "fp8-e4m3")
    with pytest.raises(ValueError, match="at most 32|n <= 32|32"):
        lbfp.dot(np.zeros(33, np.uint8), np.zeros(33, np.uint8), "mxint8")
    with pytest.raises(ValueError, match="K codes per row"):
        lbfp.scaled_gemm(np.zeros((2, 3), np.uint8), np.zeros((2, 4), np.uint8), "int8")
    with pytest.raises(ValueError, match="initial has 1 values for 2"):
        lbfp.scaled_gemm(np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.uint8), "int8",
                         np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="a_exponents must be 2 x 1"):
        lbfp.mx_gemm(np.zeros((2, 3), np.uint8), np.zeros((1, 1), np.int32),
                     np.zeros((2, 3), np.uint8), np.zeros((2, 1), np.int32), "mxint8")
    with pytest.raises(ValueError, match="dtype float32"):
        lbfp.encode(np.ones(3), None, "mxint8")
    with pytest.raises(ValueError, match="multiplier must hold 2 values"):
        lbfp.scaled_gemm(np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.uint8), "int8",
                         multiplier=np.ones(3), output="codes")
    with pytest.raises(ValueError, match="scale must be a number or a numpy array"):
        lbfp.encode_scaled(x, "big", "int8")
    assert lbfp.encode_scaled(x, np.float32(0.5), "int8")[0].tolist() == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="amax is NaN"):
        lbfp.tensor_scale(float("nan"), "int8")
    with pytest.raises(ValueError, match="initial 1099511627776 is outside"):
        lbfp.dot(c, c, "int8", 2 ** 40)  # beyond the 32-bit accumulator
    with pytest.raises(ValueError, match="scaled_gemm"):
        lbfp.gemm(np.zeros((1, 1), np.uint8), 0, np.zeros((1, 1), np.uint8), 0, "int8")


@pytest.mark.parametrize("width", [4, 6, 7])
def test_the_lbfp_family_by_name(width):
    """"lbfpW" / "bfpW" are LBFP(W, W / 2) and BFP(W), as `lbfp golden --format` names them."""
    x = RNG.standard_normal(200).astype(np.float32)
    for name, fmt in ((f"lbfp{width}", lbfp.LbfpFormat(width, width // 2)),
                      (f"bfp{width}", lbfp.BfpFormat(width))):
        got, e = lbfp.encode(x, None, name)
        want, e2 = lbfp.encode(x, None, fmt)
        assert np.array_equal(got, want) and e.tolist() == e2.tolist()
        golden_codes = golden("encode", [repr(float(t)) for t in x], "--format", name, "--exp",
                              str(int(e[0])))
        assert [int(c, 16) for c in golden_codes] == got.tolist()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("relu", [False, True])
def test_requantize_equals_golden(fmt, relu):
    """Power-of-two requantization (spec 13.6) against `lbfp golden requant`, int64 and Python
    int accumulators alike."""
    f = lbfp.ScaledFormat(fmt)
    bits = min(f.acc_bits - 1, 62)
    acc = np.concatenate([RNG.integers(-(2 ** bits), 2 ** bits, 300),
                          RNG.integers(-5000, 5000, 200), [0, 1, -1]]).astype(np.int64)
    args = ["--format", fmt, "--exp", "3", "--scale", str(f.product_lsb + 10)]
    want = golden("requant", [str(int(v)) for v in acc], *args, *(["--relu"] if relu else []))
    got = lbfp.requantize(acc, f.product_lsb + 10, 3, fmt, relu=relu)
    assert [f"0x{c:02x}" for c in got] == want
    as_ints = np.array([int(v) for v in acc], object)
    assert np.array_equal(lbfp.requantize(as_ints, f.product_lsb + 10, 3, fmt, relu=relu), got)
