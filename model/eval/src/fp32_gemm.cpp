#include "lbfp/eval/fp32_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

// This file is compiled with -ffp-contract=off (CMakeLists.txt): the taps' w * x, then + must not
// be fused into one rounding by the compiler.

namespace lbfp::eval::detail {

void fp32_gemm_portable(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b,
                        size_t ldb, float* c, size_t ldc) {
  for (size_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    std::fill(ci, ci + n, 0.f);
    for (size_t kk = 0; kk < k; ++kk) {
      const float av = a[i * lda + kk];
      const float* bk = b + kk * ldb;
      for (size_t j = 0; j < n; ++j) ci[j] = std::fma(av, bk[j], ci[j]);
    }
  }
}

void fp32_gemm_offsets_portable(size_t m, size_t n, size_t k, const float* a, size_t lda,
                                const float* x, const int32_t* off, float* c, size_t ldc) {
  for (size_t i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    std::fill(ci, ci + n, 0.f);
    for (size_t kk = 0; kk < k; ++kk) {
      const float av = a[i * lda + kk];
      const float* xk = x + off[kk];
      for (size_t j = 0; j < n; ++j) ci[j] = std::fma(av, xk[j], ci[j]);
    }
  }
}

void fp32_taps_portable(size_t n, size_t taps, const float* w, const float* x,
                        const int32_t* off, float* c) {
  std::fill(c, c + n, 0.f);
  for (size_t t = 0; t < taps; ++t) {
    const float wv = w[t];
    const float* xt = x + off[t];
    for (size_t j = 0; j < n; ++j) c[j] += wv * xt[j];
  }
}

namespace {

// The rows of B: a matrix with a leading dimension, or a base and one offset per row.
struct StridedRows {
  const float* b;
  size_t ldb;
  const float* operator()(size_t kk) const { return b + kk * ldb; }
  StridedRows at(size_t j) const { return {b + j, ldb}; }
};
struct OffsetRows {
  const float* x;
  const int32_t* off;
  const float* operator()(size_t kk) const { return x + off[kk]; }
  OffsetRows at(size_t j) const { return {x + j, off}; }
};

#if defined(__x86_64__) && defined(__GNUC__)
#define LBFP_FP32_AVX512 1

// One tile of R rows x 16 V columns (V vectors, masked at the right edge when Masked), k
// innermost: R x V accumulators stay in registers for the whole reduction. The R values of A for
// step kk are ap[kk * R ... kk * R + R - 1] (packed by pack_block).
template <int R, int V, bool Masked, class Rows>
__attribute__((target("avx512f"))) void tile_avx512(size_t k, const float* ap, const Rows& b,
                                                    float* c, size_t ldc, __mmask16 m0,
                                                    __mmask16 m1) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
  for (size_t kk = 0; kk < k; ++kk) {
    const float* bk = b(kk);
    __m512 b0, b1 = _mm512_setzero_ps();
    if (Masked) {
      b0 = _mm512_maskz_loadu_ps(m0, bk);
      if (V == 2) b1 = _mm512_maskz_loadu_ps(m1, bk + 16);
    } else {
      b0 = _mm512_loadu_ps(bk);
      if (V == 2) b1 = _mm512_loadu_ps(bk + 16);
    }
    const float* ak = ap + kk * R;
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(ak[r]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      if (V == 2) acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    float* cr = c + static_cast<size_t>(r) * ldc;
    if (Masked) {
      _mm512_mask_storeu_ps(cr, m0, acc0[r]);
      if (V == 2) _mm512_mask_storeu_ps(cr + 16, m1, acc1[r]);
    } else {
      _mm512_storeu_ps(cr, acc0[r]);
      if (V == 2) _mm512_storeu_ps(cr + 16, acc1[r]);
    }
  }
}

// Rows i0 .. i0 + R - 1 of C over every column: 32-column tiles, the rest in one tile of one or
// two masked vectors.
template <int R, class Rows>
__attribute__((target("avx512f"))) void row_block_avx512(size_t n, size_t k, const float* ap,
                                                         const Rows& b, float* c, size_t ldc) {
  constexpr size_t kCols = 32;
  size_t j = 0;
  for (; j + kCols <= n; j += kCols) tile_avx512<R, 2, false>(k, ap, b.at(j), c + j, ldc, 0, 0);
  if (j == n) return;
  const size_t w = n - j;
  const auto m0 = static_cast<__mmask16>(w >= 16 ? 0xFFFFu : (1u << w) - 1);
  if (w <= 16) {
    tile_avx512<R, 1, true>(k, ap, b.at(j), c + j, ldc, m0, 0);
  } else {
    const auto m1 = static_cast<__mmask16>((1u << (w - 16)) - 1);
    tile_avx512<R, 2, true>(k, ap, b.at(j), c + j, ldc, m0, m1);
  }
}

constexpr size_t kRows = 8;

// A's rows i .. i + rows - 1, interleaved: step kk's values side by side.
void pack_block(size_t i, size_t rows, size_t k, const float* a, size_t lda, float* ap) {
  for (size_t kk = 0; kk < k; ++kk) {
    for (size_t r = 0; r < rows; ++r) ap[kk * rows + r] = a[(i + r) * lda + kk];
  }
}

template <class Rows>
__attribute__((target("avx512f"))) void row_block_any(size_t rows, size_t n, size_t k,
                                                      const float* ap, const Rows& b, float* c,
                                                      size_t ldc) {
  switch (rows) {
    case 8: row_block_avx512<8>(n, k, ap, b, c, ldc); break;
    case 7: row_block_avx512<7>(n, k, ap, b, c, ldc); break;
    case 6: row_block_avx512<6>(n, k, ap, b, c, ldc); break;
    case 5: row_block_avx512<5>(n, k, ap, b, c, ldc); break;
    case 4: row_block_avx512<4>(n, k, ap, b, c, ldc); break;
    case 3: row_block_avx512<3>(n, k, ap, b, c, ldc); break;
    case 2: row_block_avx512<2>(n, k, ap, b, c, ldc); break;
    default: row_block_avx512<1>(n, k, ap, b, c, ldc); break;
  }
}

template <class Rows>
__attribute__((target("avx512f"))) void gemm_avx512(size_t m, size_t n, size_t k, const float* a,
                                                    size_t lda, const Rows& b, float* c,
                                                    size_t ldc) {
  std::vector<float> ap(kRows * k);
  for (size_t i = 0; i < m; i += kRows) {
    const size_t rows = std::min(kRows, m - i);
    pack_block(i, rows, k, a, lda, ap.data());
    row_block_any(rows, n, k, ap.data(), b, c + i * ldc, ldc);
  }
}

// The offset product over A packed by fp32_pack_a.
__attribute__((target("avx512f"))) void gemm_offsets_packed_avx512(const PackedA& a, size_t n,
                                                                   const float* x,
                                                                   const int32_t* off, float* c,
                                                                   size_t ldc) {
  for (size_t i = 0; i < a.m; i += kRows) {
    const size_t rows = std::min(kRows, a.m - i);
    row_block_any(rows, n, a.k, a.blocks.data() + i * a.k, OffsetRows{x, off}, c + i * ldc, ldc);
  }
}

// Depthwise taps, 16 outputs per vector: a product, rounded, then a sum, as the scalar loop does.
// Four vectors advance side by side (independent chains: the adds' latency overlaps).
__attribute__((target("avx512f"))) void taps_avx512(size_t n, size_t taps, const float* w,
                                                    const float* x, const int32_t* off,
                                                    float* c) {
  size_t j = 0;
  for (; j + 64 <= n; j += 64) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t t = 0; t < taps; ++t) {
      const __m512 wv = _mm512_set1_ps(w[t]);
      const float* xt = x + off[t] + j;
      a0 = _mm512_add_ps(a0, _mm512_mul_ps(wv, _mm512_loadu_ps(xt)));
      a1 = _mm512_add_ps(a1, _mm512_mul_ps(wv, _mm512_loadu_ps(xt + 16)));
      a2 = _mm512_add_ps(a2, _mm512_mul_ps(wv, _mm512_loadu_ps(xt + 32)));
      a3 = _mm512_add_ps(a3, _mm512_mul_ps(wv, _mm512_loadu_ps(xt + 48)));
    }
    _mm512_storeu_ps(c + j, a0);
    _mm512_storeu_ps(c + j + 16, a1);
    _mm512_storeu_ps(c + j + 32, a2);
    _mm512_storeu_ps(c + j + 48, a3);
  }
  for (; j < n; j += 16) {
    const auto m = static_cast<__mmask16>(n - j >= 16 ? 0xFFFFu : (1u << (n - j)) - 1);
    __m512 acc = _mm512_setzero_ps();
    for (size_t t = 0; t < taps; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + off[t] + j);
      acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(w[t]), xv));
    }
    _mm512_mask_storeu_ps(c + j, m, acc);
  }
}

// Rows of acc (h rows, ldacc apart) + bias into y (h x w), ReLU'd when relu: v < 0 ? 0 : v, which
// keeps -0 and NaN.
__attribute__((target("avx512f"))) void bias_store_avx512(const float* acc, size_t ldacc,
                                                          size_t h, size_t w, float bias,
                                                          bool relu, float* y) {
  const __m512 bv = _mm512_set1_ps(bias);
  const __m512 zero = _mm512_setzero_ps();
  if (ldacc == w) {
    w *= h;
    h = 1;
  }
  for (size_t r = 0; r < h; ++r) {
    const float* a = acc + r * ldacc;
    float* out = y + r * w;
    for (size_t j = 0; j < w; j += 16) {
      const auto m = static_cast<__mmask16>(w - j >= 16 ? 0xFFFFu : (1u << (w - j)) - 1);
      __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + j), bv);
      if (relu) v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
      _mm512_mask_storeu_ps(out + j, m, v);
    }
  }
}

// dst[i] = src[2 i] for i < count, reading nothing past src[2 count - 2].
__attribute__((target("avx512f"))) void gather2_avx512(const float* src, size_t count,
                                                       float* dst) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                                         30);
  for (size_t i = 0; i < count; i += 16) {
    const size_t r = std::min<size_t>(16, count - i), need = 2 * r - 1;  // src floats read
    const auto mlo = static_cast<__mmask16>(need >= 16 ? 0xFFFFu : (1u << need) - 1);
    const auto mhi = static_cast<__mmask16>(need > 16 ? (1u << (need - 16)) - 1 : 0);
    const __m512 lo = _mm512_maskz_loadu_ps(mlo, src + 2 * i);
    const __m512 hi = _mm512_maskz_loadu_ps(mhi, src + 2 * i + 16);
    const auto mout = static_cast<__mmask16>(r >= 16 ? 0xFFFFu : (1u << r) - 1);
    _mm512_mask_storeu_ps(dst + i, mout, _mm512_permutex2var_ps(lo, even, hi));
  }
}

bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}
#endif

}  // namespace

void fp32_gemm(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b,
               size_t ldb, float* c, size_t ldc) {
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    gemm_avx512(m, n, k, a, lda, StridedRows{b, ldb}, c, ldc);
    return;
  }
#endif
  fp32_gemm_portable(m, n, k, a, lda, b, ldb, c, ldc);
}

void fp32_gemm_offsets(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* x,
                       const int32_t* off, float* c, size_t ldc) {
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    gemm_avx512(m, n, k, a, lda, OffsetRows{x, off}, c, ldc);
    return;
  }
#endif
  fp32_gemm_offsets_portable(m, n, k, a, lda, x, off, c, ldc);
}

PackedA fp32_pack_a(size_t m, size_t k, const float* a, size_t lda) {
  PackedA p;
  p.m = m;
  p.k = k;
  p.a = a;
  p.lda = lda;
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    p.blocks.resize(m * k);
    for (size_t i = 0; i < m; i += kRows) {
      pack_block(i, std::min(kRows, m - i), k, a, lda, p.blocks.data() + i * k);
    }
  }
#endif
  return p;
}

void fp32_gemm_offsets_packed(const PackedA& a, size_t n, const float* x, const int32_t* off,
                              float* c, size_t ldc) {
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    gemm_offsets_packed_avx512(a, n, x, off, c, ldc);
    return;
  }
#endif
  fp32_gemm_offsets_portable(a.m, n, a.k, a.a, a.lda, x, off, c, ldc);
}

void fp32_taps(size_t n, size_t taps, const float* w, const float* x, const int32_t* off,
               float* c) {
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    taps_avx512(n, taps, w, x, off, c);
    return;
  }
#endif
  fp32_taps_portable(n, taps, w, x, off, c);
}

void fp32_gather(const float* src, size_t count, size_t stride, float* dst) {
#ifdef LBFP_FP32_AVX512
  if (stride == 2 && has_avx512()) {
    gather2_avx512(src, count, dst);
    return;
  }
#endif
  for (size_t i = 0; i < count; ++i) dst[i] = src[i * stride];
}

void fp32_bias_store(const float* acc, size_t ldacc, size_t h, size_t w, float bias, bool relu,
                     float* y) {
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    bias_store_avx512(acc, ldacc, h, w, bias, relu, y);
    return;
  }
#endif
  for (size_t r = 0; r < h; ++r) {
    const float* a = acc + r * ldacc;
    float* out = y + r * w;
    for (size_t j = 0; j < w; ++j) {
      const float v = a[j] + bias;
      out[j] = relu && v < 0.f ? 0.f : v;
    }
  }
}

}  // namespace lbfp::eval::detail
