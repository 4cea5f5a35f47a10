// The FP32 matrix product of the evaluator's FP32 reference (conv and Gemm layers): each output is
// one chain of fused multiply-adds in k order from +0, c = fma(a[k], b[k], c), so its value does
// not depend on the tiling, the vector width, the thread count or the CPU (every path rounds the
// same way: AVX-512 lanes, or std::fma where AVX-512 is missing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lbfp::eval::detail {

// C[i][j] = sum_k A[i][k] * B[k][j] for i < m, j < n (row-major, leading dimensions lda, ldb, ldc).
void fp32_gemm(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b,
               size_t ldb, float* c, size_t ldc);

// The same with std::fma only (the reference the vector path is tested against).
void fp32_gemm_portable(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b,
                        size_t ldb, float* c, size_t ldc);

// The product with B given by row offsets: C[i][j] = sum_k A[i][k] * x[off[k] + j], the same
// fma chain in k order from +0. A direct convolution over a zero-padded input plane whose rows are
// `off` apart (x[off[k] + j] is tap k of output j) needs no im2col copy.
void fp32_gemm_offsets(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* x,
                       const int32_t* off, float* c, size_t ldc);
void fp32_gemm_offsets_portable(size_t m, size_t n, size_t k, const float* a, size_t lda,
                                const float* x, const int32_t* off, float* c, size_t ldc);

// A rearranged once for fp32_gemm_offsets_packed (blocks of 8 rows, each step's values side by
// side), for products that reuse the same A (a convolution's weights over many images).
struct PackedA {
  size_t m = 0, k = 0;
  const float* a = nullptr;  // the original (the path without AVX-512 reads it)
  size_t lda = 0;
  std::vector<float> blocks;
  std::vector<float> by_k;  // for fp32_conv_channels: a[r][kk] at by_k[kk * m + r]
};
PackedA fp32_pack_a(size_t m, size_t k, const float* a, size_t lda);
// fp32_gemm_offsets(a.m, n, a.k, a.a, a.lda, x, off, c, ldc): the same values.
void fp32_gemm_offsets_packed(const PackedA& a, size_t n, const float* x, const int32_t* off,
                              float* c, size_t ldc);

// One depthwise output row: c[j] = sum_t w[t] * x[off[t] + j] in t order from +0, each product
// rounded, then added (no fused multiply-add: the depthwise sums always were w * x, then +).
void fp32_taps(size_t n, size_t taps, const float* w, const float* x, const int32_t* off,
               float* c);
void fp32_taps_portable(size_t n, size_t taps, const float* w, const float* x,
                        const int32_t* off, float* c);

// A convolution's output planes straight from its sums (no buffer of sums in between): column
// q = oy * wq + ox of the product (q < n = h * wq) is output oy * w + ox when ox < w (the other
// columns are dropped); the value is sum + bias, then v < 0 ? 0 : v when relu (fp32_bias_store's
// values). PlaneMap: which columns are kept, built once per layer.
struct PlaneMap {
  size_t n = 0, wq = 0, w = 0;
  std::vector<uint16_t> valid;  // per 16 columns: the kept lanes
  std::vector<uint32_t> start;  // per 16 columns: the output of the first kept lane
};
PlaneMap fp32_plane_map(size_t n, size_t wq, size_t w);
struct PlaneOut {
  float* y;           // row r's plane at y + r * plane
  size_t plane;       // h * w
  const float* bias;  // bias[r] for row r
  bool relu;
  const PlaneMap* map;
};
// fp32_gemm_offsets_packed(a, map.n, x, off, sums), then the planes of its a.m rows.
void fp32_conv_packed(const PackedA& a, const float* x, const int32_t* off, const PlaneOut& out);
// fp32_taps(map.n, taps, w, x, off, sums), then the one plane.
void fp32_taps_plane(size_t taps, const float* w, const float* x, const int32_t* off,
                     const PlaneOut& out);

// One input plane, its output plane and the kernel, strides and padding between them.
struct TapShape {
  size_t h = 0, w = 0;    // input plane
  size_t ho = 0, wo = 0;  // output plane
  size_t kh = 0, kw = 0, sh = 1, sw = 1, ph = 0, pw = 0;
};

// The convolution with the output channels in the vector lanes (16 per vector) and the output
// pixels broadcast: output (r, i) = sum_k a[r][k] * x[off[k] + cols[i]], the same fma chain in k
// order from +0 as fp32_conv_packed, for the kept columns only (no lane spent on a dropped column
// or a partial vector of pixels). out.map's kept columns, in order, are cols (built once per layer
// by fp32_kept_columns). Only where fp32_conv_channels_ok(a): AVX-512 and a.m a multiple of 16.
// skip_rows (the convolution's shape, k = (c, kh, kw)), where every weight is finite: a tile of
// pixels leaves out the steps whose kernel row kh is on the zero border for all of its pixels
// (each would add fma(w, 0, s) = s: s, a sum from +0 rounded to nearest, is never -0), so the
// values are the same; nullptr: every step.
bool fp32_conv_channels_ok(const PackedA& a);
std::vector<uint32_t> fp32_kept_columns(const PlaneMap& map);
void fp32_conv_channels(const PackedA& a, const float* x, const int32_t* off,
                        const std::vector<uint32_t>& cols, const PlaneOut& out,
                        const TapShape* skip_rows);

// The output channels in the lanes, one output row per tile: rows of 7, 14 or 28 pixels with 64,
// 32 or 16 channels (28 accumulators), kernels three columns wide, pixel (oy, ox) at column
// oy pitch + ox step, its tap k = (c, kh, kw) at x[off[k] + column] (the phase layout: pitch wq,
// step 1; or, where skip leaves no tap outside the input, the unpadded planes: pitch sh w, step
// sw, 1 or 2, 1 for 28-pixel rows). Each output is the same fma chain in k order from +0. With
// skip (every weight finite), a row leaves out the kernel rows on the zero border and pixel 0 /
// wo - 1 their kw = 0 / 2 column where it is on the border (fma(w, 0, s) = s). Only where
// fp32_conv_rows_ok(a, s): AVX-512, wo 7, 14 or 28 with a.m a multiple of 64, 32 or 16, and only
// the first and last pixel's outer column on the border.
bool fp32_conv_rows_ok(const PackedA& a, const TapShape& s);
void fp32_conv_rows(const PackedA& a, const float* x, const int32_t* off, const PlaneOut& out,
                    const TapShape& s, size_t pitch, size_t step, bool skip);

// A convolution of stride 1 whose output is as wide as its input, read from its unpadded NCHW
// planes (no phase copy, no dropped column): output q = oy * w + ox, tap k = (c, kh, kw) reads
// x[off[k] + q] (off[k] = c h w + (kh - ph) w + kw - pw) in the lanes where that input is inside
// the plane, 0 in the others (masks: per 16 outputs and per tap kh * kw_count + kw; tap: per k
// that index). Each output is the same fma chain in (c, kh, kw) order from +0 as
// fp32_conv_packed over the zero-padded copy, so the same value. Only where fp32_conv_masked_ok.
struct MaskedTaps {
  size_t n = 0, taps = 0;  // outputs per plane (ho x w), taps per channel (kh x kw)
  std::vector<int32_t> off;
  std::vector<uint16_t> tap;
  std::vector<uint16_t> masks;
};
// AVX-512, stride 1, wo == w, at most 65,535 taps per channel and the offsets in 32 bits
// (channels planes of h x w).
bool fp32_conv_masked_ok(const TapShape& s, size_t channels);
MaskedTaps fp32_masked_taps(const TapShape& s, size_t channels);
// The planes of out (its map: n columns, none dropped) from the a.m rows of the product.
void fp32_conv_masked(const PackedA& a, const float* x, const MaskedTaps& t, const PlaneOut& out);

// A depthwise convolution (one input and one output channel per group) read straight from its
// unpadded NCHW planes: no phase copy. Output (oy, ox) of each plane is sum over (kh, kw) of
// w[kh][kw] * x[iy][ix] from +0 in (kh, kw) order, each product rounded, then added, where a tap
// outside the input reads 0 (as the zero-padded plane gave: w * 0, then +), then + bias and the
// ReLU (v < 0 ? 0 : v): fp32_taps_plane's values over the zero-padded input.
// What fp32_depthwise_planes needs, built once per layer. direct: whether it has a fast path for
// this shape on this CPU (AVX-512; stride 1, or horizontal stride 2 with a kernel at most 8 wide);
// where not, use the phase layout and fp32_taps_plane.
struct DepthwisePlan {
  TapShape s;
  bool direct = false;
  // Stride 1: the output plane as one flat row of vectors; per vector and tap, the lanes whose
  // input is inside the plane (the others read 0), and each tap's offset in the input plane.
  std::vector<uint16_t> masks;
  std::vector<int32_t> off;
  // Stride 2 (both ways) with a kernel at most pw + 2 wide (3 x 3 with padding 1): the plane's
  // four phases (even / odd rows x even / odd columns) are copied, unpadded, into a buffer whose
  // phase rows are wo floats apart, and the output is one flat row of vectors over it as above
  // (off and masks relative to the buffer). phase_floats: the buffer's size; phase_base: where
  // phase (py, px) starts (index 2 py + px); fill: per chunk of 32 input columns, the lanes of
  // its two input vectors read and of its even and odd phase columns written.
  bool phases = false;
  size_t phase_floats = 0, phase_base[4] = {0, 0, 0, 0};
  struct FillMasks {
    uint16_t lo = 0, hi = 0, even = 0, odd = 0;
  };
  std::vector<FillMasks> fill;
  // 3 x 3, stride 1, padding 1, planes at most 31 wide but not 16: each plane row copied into
  // rows_vectors whole 64-byte-aligned vectors with zero lanes after it, between a zero row
  // above the plane and one below. Tap column kw = 1 is a row's vector as it is, kw = 0 and 2
  // the vector shifted by one lane (valignd with its neighbour, whose lane is a zero lane at
  // the plane's edges): no load crosses a cache line and no mask is needed. rows_pair: planes at
  // most 7 wide, two channels per vector (lanes 0-7 and 8-15).
  // Stride 2 (3 x 3, padding 1, planes at most 32 wide, rows_stride2): each row is copied as
  // its even and its odd columns, a vector each; output column ox's taps are odd column ox - 1
  // (the odd vector shifted one lane, a zero entering), even column ox and odd column ox.
  // rows_pair: planes at most 14 wide, two channels per vector.
  size_t rows_vectors = 0;
  bool rows_pair = false;
  bool rows_stride2 = false;
};
DepthwisePlan fp32_depthwise_plan(const TapShape& s);
// Planes [0, channels) of one image: x + c * h * w in, y + c * ho * wo out, weights
// w + c * kh * kw, bias[c]. Only where plan.direct.
void fp32_depthwise_planes(const DepthwisePlan& plan, size_t channels, const float* w,
                           const float* bias, bool relu, const float* x, float* y);

// One image's channels (c planes of h x w at x) into a direct convolution's phase layout at buf:
// input row iy of channel ch goes to phase (py, px) = ((iy + ph) % sh, (column + pw) % sw), row
// (iy + ph) / sh, columns px .. of the padded row taken every sw-th; phase planes of wq columns,
// `plane` floats apart, channels `channel` floats apart. Only the in-bounds values are written
// (the zero border of a buffer zeroed once stays zero).
struct PhaseFill {
  size_t c = 0, h = 0, w = 0, sh = 1, sw = 1, ph = 0, pw = 0, wq = 0, plane = 0, channel = 0;
  // The phases a tap reads: py with some kh % sh == py, px with some kw % sw == px (a 1 x 1
  // convolution of stride 2 reads phase (0, 0) only); the others are left as they are.
  size_t kh = 1, kw = 1;
};
void fp32_fill_phases(const PhaseFill& f, const float* x, float* buf);

// Max pooling of NCHW planes whose windows lie inside the input (no padding): output (oy, ox) of
// each plane is the first element of its window, then each element e in (ky, kx) order replaces
// v where v < e (so the first of equal values is kept, and a NaN is kept only where it comes
// first): the row loop's values, 16 outputs per vector. Only where fp32_max_pool_ok.
struct PoolShape {
  size_t h = 0, w = 0, ho = 0, wo = 0, kh = 1, kw = 1, sh = 1, sw = 1;
};
// AVX-512, horizontal stride 1 or 2, every window inside the input.
bool fp32_max_pool_ok(const PoolShape& s);
void fp32_max_pool_planes(const PoolShape& s, size_t planes, const float* x, float* y);

// y[i] = a[i] + b[i], then v < 0 ? 0 : v when relu (a residual Add), for i < count.
void fp32_add(const float* a, const float* b, size_t count, bool relu, float* y);

// Whether any of v[0 .. count) is not finite (NaN or infinite).
bool fp32_any_not_finite(const float* v, size_t count);

// dst[i] = src[i * stride] for i < count (nothing past src[(count - 1) * stride] is read).
void fp32_gather(const float* src, size_t count, size_t stride, float* dst);

// y[r][j] = acc[r * ldacc + j] + bias for r < h, j < w, then v < 0 ? 0 : v when relu (which
// keeps -0 and NaN): a convolution's output plane from its sums.
void fp32_bias_store(const float* acc, size_t ldacc, size_t h, size_t w, float bias, bool relu,
                     float* y);

}  // namespace lbfp::eval::detail
