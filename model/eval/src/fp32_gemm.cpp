#include "lbfp/eval/fp32_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

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

namespace {

#if defined(__x86_64__) && defined(__GNUC__)
#define LBFP_FP32_AVX512 1

// One tile of R rows x 32 columns (two vectors, masked at the right edge), k innermost: R x 2
// accumulators stay in registers for the whole reduction.
template <int R>
__attribute__((target("avx512f"))) void tile_avx512(size_t k, const float* a, size_t lda,
                                                    const float* b, size_t ldb, float* c,
                                                    size_t ldc, __mmask16 m0, __mmask16 m1) {
  __m512 acc0[R], acc1[R];
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
  for (size_t kk = 0; kk < k; ++kk) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + kk * ldb);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + kk * ldb + 16);
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(a[static_cast<size_t>(r) * lda + kk]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(c + static_cast<size_t>(r) * ldc, m0, acc0[r]);
    _mm512_mask_storeu_ps(c + static_cast<size_t>(r) * ldc + 16, m1, acc1[r]);
  }
}

__attribute__((target("avx512f"))) void gemm_avx512(size_t m, size_t n, size_t k, const float* a,
                                                    size_t lda, const float* b, size_t ldb,
                                                    float* c, size_t ldc) {
  constexpr size_t kRows = 8, kCols = 32;
  for (size_t j = 0; j < n; j += kCols) {
    const size_t w = std::min(kCols, n - j);
    const auto m0 = static_cast<__mmask16>(w >= 16 ? 0xFFFFu : (1u << w) - 1);
    const auto m1 = static_cast<__mmask16>(w >= 32 ? 0xFFFFu : w > 16 ? (1u << (w - 16)) - 1 : 0);
    size_t i = 0;
    for (; i + kRows <= m; i += kRows) {
      tile_avx512<8>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, m0, m1);
    }
    const float* ai = a + i * lda;
    float* ci = c + i * ldc + j;
    switch (m - i) {
      case 7: tile_avx512<7>(k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;
      case 6: tile_avx512<6>(k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;
      case 5: tile_avx512<5>(k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;
      case 4: tile_avx512<4>(k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;
      case 3: tile_avx512<3>(k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;
      case 2: tile_avx512<2>(k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;
      case 1: tile_avx512<1>(k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;
      default: break;
    }
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
    gemm_avx512(m, n, k, a, lda, b, ldb, c, ldc);
    return;
  }
#endif
  fp32_gemm_portable(m, n, k, a, lda, b, ldb, c, ldc);
}

}  // namespace lbfp::eval::detail
