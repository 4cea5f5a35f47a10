"""The NumPy API against the C++ golden model: `lbfp golden` (the CLI on the same library, a separate
process) on random, boundary and saturating data, the sequential golden dot product for the fast
kernels, and the documented ValueErrors for bad input."""

import os
import subprocess

import numpy as np
import pytest

import lbfp

CLI = os.environ.get("LBFP_CLI")
RNG = np.random.default_rng(20)


def golden(op, lines, *args):
    """Runs `lbfp golden OP ARGS` over the lines; its output lines."""
    if not CLI:
        pytest.skip("LBFP_CLI is not set (run through ctest)")
    out = subprocess.run([CLI, "golden", op, *args], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def interesting_floats(fmt, exponent):
    """Random values over the block's range, every code's value and the midpoints between
    neighbouring codes (rounding boundaries), zeros, tiny, huge and infinite values."""
    x = [RNG.standard_normal(300) * 2.0 ** exponent / 4,
         RNG.uniform(-1, 1, 200) * 2.0 ** (exponent - RNG.integers(0, 12, 200))]
    codes = np.arange(256, dtype=np.uint8)
    if fmt == "bfp8":
        codes = codes[codes != 0x80]
    v = np.sort(lbfp.decode(codes, exponent, fmt))
    x += [v, (v[1:] + v[:-1]) / 2, -v]
    x.append(np.array([0.0, -0.0, 1e-30, -1e-30, 3e38, -3e38, np.inf, -np.inf]))
    return np.concatenate(x).astype(np.float32)


@pytest.mark.parametrize("fmt", ["lbfp8", "bfp8"])
@pytest.mark.parametrize("exponent", [0, -5, 7, 127, -127])
def test_encode_equals_golden(fmt, exponent):
    x = interesting_floats(fmt, exponent)
    codes, exps = lbfp.encode(x, exponent, fmt)
    assert exps.tolist() == [exponent]
    want = golden("encode", [repr(float(v)) for v in x], "--format", fmt, "--exp", str(exponent))
    assert [f"0x{c:02x}" for c in codes] == want


@pytest.mark.parametrize("fmt", ["lbfp8", "bfp8"])
@pytest.mark.parametrize("exponent", [0, -127, 127, 3])
def test_decode_equals_golden(fmt, exponent):
    codes = np.arange(256, dtype=np.uint8)
    if fmt == "bfp8":
        codes = codes[codes != 0x80]
    got = lbfp.decode(codes, exponent, fmt)
    want = golden("decode", [f"0x{c:02x}" for c in codes], "--format", fmt, "--exp", str(exponent))
    assert got.tolist() == [float(w) for w in want]


@pytest.mark.parametrize("fmt", ["lbfp8", "bfp8"])
def test_multiply_equals_golden_every_pair(fmt):
    codes = np.arange(256, dtype=np.uint8)
    if fmt == "bfp8":
        codes = codes[codes != 0x80]
    a = np.repeat(codes, len(codes))
    b = np.tile(codes, len(codes))
    got = lbfp.multiply(a, b, fmt)
    want = golden("mul", [f"0x{p:02x} 0x{q:02x}" for p, q in zip(a, b)], "--format", fmt)
    assert got.tolist() == [int(w) for w in want]


def random_codes(fmt, shape, saturating=False):
    if saturating:  # the largest magnitudes, mostly one sign: the accumulator saturates
        mag = RNG.integers(0x70, 0x80, shape)
        sign = (RNG.random(shape) < 0.02).astype(np.int64)
    else:
        mag = RNG.integers(0, 0x80, shape)
        sign = RNG.integers(0, 2, shape)
    if fmt == "lbfp8":
        return (mag | (sign << 7)).astype(np.uint8)
    return np.where(sign == 1, (256 - mag) % 256, mag).astype(np.uint8)


@pytest.mark.parametrize("fmt", ["lbfp8", "bfp8"])
def test_dot_equals_golden(fmt):
    lines, got = [], []
    # BFP8's products reach 127^2: A = 32 saturates after about 133,000 of them.
    longest = 5000 if fmt == "lbfp8" else 200000
    for n, sat in [(1, False), (17, False), (300, False), (2000, True), (longest, True)]:
        a, b = random_codes(fmt, n, sat), random_codes(fmt, n, sat)
        got.append(lbfp.dot(a, b, fmt))
        lines.append(",".join(f"0x{c:02x}" for c in a) + " " + ",".join(f"0x{c:02x}" for c in b))
    want = golden("dot", lines, "--format", fmt)
    assert [f"{acc} {ovf}" for acc, ovf in got] == [f"{p} {q}" for p, q in zip(want[::2], want[1::2])]
    assert any(ovf > 0 for _, ovf in got)  # the saturating cases do saturate


@pytest.mark.parametrize("fmt", ["lbfp8", "bfp8"])
@pytest.mark.parametrize("relu", [False, True])
def test_requantize_equals_golden(fmt, relu):
    acc = np.concatenate([RNG.integers(-2**31, 2**31, 200), RNG.integers(-300, 300, 100),
                          [0, 1, -1, 2**31 - 1, -2**31]]).astype(np.int64)
    for scale, out_exp in [(-20, 0), (-12, -3), (5, 127), (-300, -127)]:
        got = lbfp.requantize(acc, scale, out_exp, fmt, relu)
        args = ["--format", fmt, "--scale", str(scale), "--exp", str(out_exp)]
        want = golden("requant", [str(v) for v in acc], *args + (["--relu"] if relu else []))
        assert [f"0x{c:02x}" for c in got] == want


def reference_gemm(fmt, a, b, ea, eb, bias):
    """Per output: the golden sequential dot product from the bias in accumulator units."""
    m, n = a.shape[0], b.shape[1]
    acc = np.zeros((m, n), np.int64)
    ovf = np.zeros((m, n), np.uint32)
    for j in range(n):
        scale = lbfp.product_scale(ea, int(eb[j]), fmt)
        init = 0 if bias is None else lbfp.bias_to_accumulator(float(bias[j]), scale, fmt)
        col = np.ascontiguousarray(b[:, j])
        for i in range(m):
            acc[i, j], ovf[i, j] = lbfp.dot(a[i], col, fmt, init)
    return acc, ovf


def kernel_paths(fmt="lbfp8"):
    """The paths this CPU runs for fmt (each vector path the machine lacks is left out)."""
    paths = ["auto", "reference", "portable"]
    for p in ["avx2", "avx512", "avx512_vbmi", "amx"]:
        try:
            lbfp.gemm(np.zeros((1, 1), np.uint8), 0, np.zeros((1, 1), np.uint8), 0, fmt, path=p)
            paths.append(p)
        except ValueError:
            pass
    return paths


@pytest.mark.parametrize("fmt", ["lbfp8", "bfp8"])
@pytest.mark.parametrize("saturating", [False, True])
def test_gemm_equals_sequential_golden(fmt, saturating):
    m, k, n = 7, 700 if saturating else 300, 9
    if saturating and fmt == "bfp8":
        fmt = lbfp.BfpFormat(8, 20)  # BFP8's products are small: a narrower accumulator
    a = random_codes(fmt, (m, k), saturating)
    b = random_codes(fmt, (k, n), saturating)
    ea = 2
    eb = RNG.integers(-3, 4, n).astype(np.int32)
    bias = RNG.standard_normal(n).astype(np.float32) * 100
    want_acc, want_ovf = reference_gemm(fmt, a, b, ea, eb, bias)
    if saturating:
        assert want_ovf.sum() > 0
    for path in kernel_paths(fmt):
        acc, ovf = lbfp.gemm(a, ea, b, eb, fmt, bias=bias, path=path)
        assert np.array_equal(acc, want_acc), path
        assert np.array_equal(ovf, want_ovf), path
        buf = np.zeros((m, n), np.int64)
        acc2, total = lbfp.gemm(a, ea, b, eb, fmt, bias=bias, path=path, per_output=False, out=buf)
        assert acc2 is not None and np.shares_memory(acc2, buf)
        assert np.array_equal(buf, want_acc) and total == want_ovf.sum(), path
        codes, total = lbfp.gemm(a, ea, b, eb, fmt, bias=bias, out_exponent=5, relu=True, path=path)
        scales = np.array([[lbfp.product_scale(ea, int(e), fmt) for e in eb]] * m, np.int32)
        assert np.array_equal(codes, lbfp.requantize(want_acc, scales, 5, fmt, relu=True)), path
        assert total == want_ovf.sum()


def im2col_reference(fmt, x, ex, w, ew, stride, pad, groups, dilation=(1, 1)):
    """Convolution through numpy gathers and the golden dot product, (c, kh, kw) order."""
    nb, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    dh, dw = dilation
    xp = np.zeros((nb, c, h + 2 * pad, wd + 2 * pad), np.uint8)  # the zero code pads
    xp[:, :, pad:pad + h, pad:pad + wd] = x
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    oh, ow = (h + 2 * pad - span_h) // stride + 1, (wd + 2 * pad - span_w) // stride + 1
    acc = np.zeros((nb, o, oh, ow), np.int64)
    ovf = np.zeros((nb, o, oh, ow), np.uint32)
    og = o // groups
    for b in range(nb):
        for oc in range(o):
            g = oc // og
            wrow = np.ascontiguousarray(w[oc].reshape(-1))
            for y in range(oh):
                for xx in range(ow):
                    patch = xp[b, g * cg:(g + 1) * cg, y * stride:y * stride + span_h:dh,
                               xx * stride:xx * stride + span_w:dw]
                    acc[b, oc, y, xx], ovf[b, oc, y, xx] = lbfp.dot(
                        np.ascontiguousarray(patch.reshape(-1)), wrow, fmt)
    return acc, ovf


@pytest.mark.parametrize("fmt", ["lbfp8", "bfp8"])
@pytest.mark.parametrize("c,o,groups,stride,pad", [(3, 4, 1, 1, 1), (4, 6, 2, 2, 0),
                                                   (5, 5, 5, 1, 1), (4, 8, 4, 2, 2)])
def test_conv2d_equals_sequential_golden(fmt, c, o, groups, stride, pad):
    x = random_codes(fmt, (2, c, 6, 5))
    w = random_codes(fmt, (o, c // groups, 3, 3))
    ew = RNG.integers(-2, 3, o).astype(np.int32)
    want_acc, want_ovf = im2col_reference(fmt, x, 1, w, ew, stride, pad, groups)
    acc, ovf = lbfp.conv2d(x, 1, w, ew, fmt, stride=stride, padding=pad, groups=groups)
    assert np.array_equal(acc, want_acc)
    assert np.array_equal(ovf, want_ovf)
    codes, _ = lbfp.conv2d(x, 1, w, ew, fmt, stride=stride, padding=pad, groups=groups,
                           out_exponent=3)
    scales = np.broadcast_to(np.array([lbfp.product_scale(1, int(e), fmt) for e in ew],
                                      np.int32)[None, :, None, None], acc.shape)
    assert np.array_equal(codes, lbfp.requantize(acc, np.ascontiguousarray(scales), 3, fmt))


@pytest.mark.parametrize("fmt", ["lbfp8", "bfp8"])
@pytest.mark.parametrize("c,o,groups,stride,pad,dilation", [
    (3, 4, 1, 1, 2, (2, 2)), (4, 6, 2, 2, 1, (2, 3)), (5, 5, 5, 1, 3, (3, 3)),
    (2, 3, 1, 1, 0, (1, 2))])
@pytest.mark.parametrize("saturating", [False, True])
def test_conv2d_dilation_equals_sequential_golden(fmt, c, o, groups, stride, pad, dilation,
                                                  saturating):
    x = random_codes(fmt, (2, c, 9, 8), saturating)
    w = random_codes(fmt, (o, c // groups, 3, 3), saturating)
    ew = RNG.integers(-2, 3, o).astype(np.int32)
    if saturating:  # narrow accumulators, so that a few taps saturate
        fmt = lbfp.LbfpFormat(8, 4, 8, 24) if fmt == "lbfp8" else lbfp.BfpFormat(8, 16)
    want_acc, want_ovf = im2col_reference(fmt, x, 1, w, ew, stride, pad, groups, dilation)
    acc, ovf = lbfp.conv2d(x, 1, w, ew, fmt, stride=stride, padding=pad, groups=groups,
                           dilation=dilation)
    assert np.array_equal(acc, want_acc)
    assert np.array_equal(ovf, want_ovf)
    assert (want_ovf.sum() > 0) == saturating
    with pytest.raises(ValueError, match="dilation must be a positive int"):
        lbfp.conv2d(x, 1, w, ew, fmt, dilation=0)
    with pytest.raises(ValueError, match="dilation must be a positive int"):
        lbfp.conv2d(x, 1, w, ew, fmt, dilation=(2, 2, 2))


def test_conv2d_depthwise_channel_exponents():
    x = random_codes("lbfp8", (1, 3, 5, 5))
    w = random_codes("lbfp8", (3, 1, 3, 3))
    ex = np.array([-1, 0, 4], np.int32)
    acc, _ = lbfp.conv2d(x, ex, w, 0, groups=3, padding=1)
    for ch in range(3):  # each channel alone, with its own exponent
        one, _ = lbfp.conv2d(np.ascontiguousarray(x[:, ch:ch + 1]), int(ex[ch]),
                             np.ascontiguousarray(w[ch:ch + 1]), 0, padding=1)
        assert np.array_equal(acc[:, ch:ch + 1], one)
    with pytest.raises(ValueError, match="depthwise"):
        lbfp.conv2d(random_codes("lbfp8", (1, 4, 5, 5)), np.zeros(4, np.int32),
                    random_codes("lbfp8", (2, 2, 3, 3)), 0, groups=2)


def test_blocks():
    x = RNG.standard_normal((4, 6)).astype(np.float32) * np.array([1, 10, 100, 1000])[:, None]
    codes, exps = lbfp.encode(x, block="channel", axis=0)
    assert exps.tolist() == [lbfp.max_exponent(float(np.abs(r).max())) for r in x]
    for i in range(4):  # each row alone with its exponent
        assert np.array_equal(codes[i], lbfp.encode(np.ascontiguousarray(x[i]), int(exps[i]))[0])
    codes, exps = lbfp.encode(x, block=4, axis=1)  # 2 groups per row: 4 and 2 elements
    assert len(exps) == 8
    assert exps[1] == lbfp.max_exponent(float(np.abs(x[0, 4:]).max()))
    back = lbfp.decode(codes, exps, block=4, axis=1)
    assert np.allclose(back, x, rtol=0.05, atol=2.0 ** (exps.max() - 8))
    x64 = x.astype(np.float64)
    assert np.array_equal(lbfp.encode(x64, 3)[0], lbfp.encode(x, 3)[0])  # exact: x64 == x


def test_calibration():
    x = (RNG.standard_normal(100000) * 3).astype(np.float32)
    emax = lbfp.max_exponent(float(np.abs(x).max()))
    assert lbfp.calibrate(x, "max") == emax
    assert 2.0 ** (emax - 1) <= np.abs(x).max() < 2.0 ** emax
    for method in ["kl", "kl-linear", "mse", "percentile"]:
        for fmt in ["lbfp8", "bfp8"]:
            e, scores = lbfp.calibrate(x, method, fmt, scores=True)
            assert emax - 16 <= e <= emax, (method, fmt)
            if scores:
                assert scores[0][0] == e
    # A few outliers: percentile and mse look past them, max does not.
    y = np.concatenate([x, [1e4, -2e4]]).astype(np.float32)
    assert lbfp.calibrate(y, "max") == 15
    assert lbfp.calibrate(y, "percentile", percentile=99.9) <= emax
    # Streaming batches gives what one call gives.
    assert lbfp.calibrate([x[:500], x[500:]], "max") == emax
    # MSE: the candidate of least error of decode(encode(x)).
    e, scores = lbfp.calibrate(x, "mse", "bfp8", scores=True)
    errors = {c: float(np.mean((lbfp.decode(lbfp.encode(x, c, "bfp8")[0], c, "bfp8") - x) ** 2))
              for c, _ in scores}
    assert min(errors, key=errors.get) == e


def test_custom_formats():
    f = lbfp.LbfpFormat(8, 4, 8, 16)
    a = random_codes("lbfp8", 3000, saturating=True)
    acc, ovf = lbfp.dot(a, a, f)
    want = golden("dot", [",".join(f"0x{c:02x}" for c in a) + " " +
                          ",".join(f"0x{c:02x}" for c in a)], "--format", "lbfp8", "--acc-bits",
                  "16")
    assert [str(acc), str(ovf)] == want and ovf > 0
    with pytest.raises(ValueError, match="9"):
        lbfp.LbfpFormat(9, 4, 8, 32)


# ---- bad input --------------------------------------------------------------------------------

def test_bad_input_raises_value_error_naming_the_value():
    x = np.ones(5, np.float32)
    x[3] = np.nan
    with pytest.raises(ValueError, match=r"x\[3\] is NaN"):
        lbfp.encode(x)
    with pytest.raises(ValueError, match="dtype float32, not int64"):
        lbfp.calibrate(np.ones(3, np.int64))
    with pytest.raises(ValueError, match="dtype uint8, not float32"):
        lbfp.decode(np.ones(3, np.float32), 0)
    with pytest.raises(ValueError, match="C-contiguous"):
        lbfp.gemm(np.zeros((4, 8), np.uint8)[:, ::2], 0, np.zeros((4, 2), np.uint8), 0)
    with pytest.raises(ValueError, match="a is 2 x 3 but b is 4 x 2"):
        lbfp.gemm(np.zeros((2, 3), np.uint8), 0, np.zeros((4, 2), np.uint8), 0)
    with pytest.raises(ValueError, match="128 is outside"):
        lbfp.encode(np.ones(3, np.float32), 128)
    with pytest.raises(ValueError, match="-128 is outside"):
        lbfp.gemm(np.zeros((2, 3), np.uint8), -128, np.zeros((3, 2), np.uint8), 0)
    with pytest.raises(ValueError, match="200 is outside"):
        lbfp.gemm(np.zeros((2, 3), np.uint8), 0, np.zeros((3, 2), np.uint8),
                  np.array([0, 200], np.int32))
    with pytest.raises(ValueError, match="3 exponents for 2 blocks"):
        lbfp.decode(np.zeros((2, 2), np.uint8), np.zeros(3, np.int32), block="channel")
    with pytest.raises(ValueError, match="code 0x80 is"):  # the kernels' own check
        lbfp.gemm(np.array([[0, 128]], np.uint8), 0, np.zeros((2, 1), np.uint8), 0, "bfp8")
    with pytest.raises(ValueError, match=r"codes\[1\] = 128 is not a code of bfp8"):
        lbfp.decode(np.array([0, 128], np.uint8), 0, "bfp8")
    with pytest.raises(ValueError, match="unknown format 'fp16'"):
        lbfp.encode(np.ones(2, np.float32), fmt="fp16")
    with pytest.raises(ValueError, match="block size 0"):
        lbfp.encode(np.ones(2, np.float32), block=0)
    with pytest.raises(ValueError, match="bias.* is NaN"):
        lbfp.gemm(np.zeros((1, 1), np.uint8), 0, np.zeros((1, 1), np.uint8), 0,
                  bias=np.array([np.nan], np.float32))
    with pytest.raises(ValueError, match="x has 4 channels in 3 groups"):
        lbfp.conv2d(np.zeros((1, 4, 5, 5), np.uint8), 0, np.zeros((3, 1, 3, 3), np.uint8), 0,
                    groups=3)
    with pytest.raises(ValueError, match="groups 2 must divide"):
        lbfp.conv2d(np.zeros((1, 4, 5, 5), np.uint8), 0, np.zeros((3, 2, 3, 3), np.uint8), 0,
                    groups=2)
    with pytest.raises(ValueError, match="kernel larger"):
        lbfp.conv2d(np.zeros((1, 1, 2, 2), np.uint8), 0, np.zeros((1, 1, 3, 3), np.uint8), 0)
    with pytest.raises(ValueError, match="outside the 32-bit accumulator"):
        lbfp.requantize(np.array([2**40], np.int64), 0, 0)
    with pytest.raises(ValueError, match="unknown calibration method 'entropy'"):
        lbfp.calibrate(np.ones(3, np.float32), "entropy")
    with pytest.raises(ValueError, match="must be a numpy array"):
        lbfp.dot([1, 2], [3, 4])
    with pytest.raises(ValueError, match="unknown kernel path 'gpu'"):
        lbfp.gemm(np.zeros((1, 1), np.uint8), 0, np.zeros((1, 1), np.uint8), 0, path="gpu")


def test_calls_from_threads_give_the_same_results():
    """The GIL is released inside the kernels: calls from several threads run side by side and
    each still gets exactly the single-threaded result."""
    import threading
    a = random_codes("lbfp8", (64, 512))
    b = random_codes("lbfp8", (512, 64))
    want, _ = lbfp.gemm(a, 0, b, 0, threads=1)
    got = [None] * 4

    def work(i):
        got[i] = lbfp.gemm(a, 0, b, 0, threads=1)[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(g, want) for g in got)
