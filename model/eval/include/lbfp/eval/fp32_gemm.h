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

// dst[i] = src[i * stride] for i < count (nothing past src[(count - 1) * stride] is read).
void fp32_gather(const float* src, size_t count, size_t stride, float* dst);

// y[r][j] = acc[r * ldacc + j] + bias for r < h, j < w, then v < 0 ? 0 : v when relu (which
// keeps -0 and NaN): a convolution's output plane from its sums.
void fp32_bias_store(const float* acc, size_t ldacc, size_t h, size_t w, float bias, bool relu,
                     float* y);

}  // namespace lbfp::eval::detail
