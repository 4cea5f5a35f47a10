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

// Where a tile's sums go. PlainStore: row r of C at c + r * ldc.
struct PlainStore {
  float* c;
  size_t ldc;
  PlainStore rows(size_t i) const { return {c + i * ldc, ldc}; }
  __attribute__((target("avx512f"))) void put(int r, size_t j, __m512 v, __mmask16 m,
                                              bool masked) const {
    float* p = c + static_cast<size_t>(r) * ldc + j;
    if (masked) {
      _mm512_mask_storeu_ps(p, m, v);
    } else {
      _mm512_storeu_ps(p, v);
    }
  }
};

// PlaneStore: row r is output channel r's plane; column q = oy * wq + ox goes to oy * w + ox when
// ox < w (the others are dropped), + bias[r], then the ReLU (v < 0 ? 0 : v). The kept lanes of a
// vector are consecutive outputs: compressed together, then stored at once.
struct PlaneStore {
  float* y;
  size_t plane;
  const float* bias;
  bool relu;
  const uint16_t* valid;  // per 16 columns: the kept lanes
  const uint32_t* start;  // per 16 columns: the output index of the first kept lane
  PlaneStore rows(size_t i) const {
    PlaneStore s = *this;
    s.y += i * plane;
    s.bias += i;
    return s;
  }
  __attribute__((target("avx512f"))) void put(int r, size_t j, __m512 v, __mmask16 m,
                                              bool masked) const {
    const size_t b = j / 16;
    const auto keep = static_cast<__mmask16>(masked ? valid[b] & m : valid[b]);
    if (keep == 0) return;
    v = _mm512_add_ps(v, _mm512_set1_ps(bias[r]));
    if (relu) {
      const __m512 zero = _mm512_setzero_ps();
      v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
    }
    if (keep == 0xFFFF) {
      _mm512_storeu_ps(y + static_cast<size_t>(r) * plane + start[b], v);
      return;
    }
    const int count = __builtin_popcount(keep);
    const auto out = static_cast<__mmask16>(count >= 16 ? 0xFFFFu : (1u << count) - 1);
    _mm512_mask_storeu_ps(y + static_cast<size_t>(r) * plane + start[b], out,
                          _mm512_maskz_compress_ps(keep, v));
  }
};

// One tile of R rows x 16 V columns (V vectors, masked at the right edge when Masked), k
// innermost: R x V accumulators stay in registers for the whole reduction. The R values of A for
// step kk are ap[kk * R ... kk * R + R - 1] (packed by pack_block).
template <int R, int V, bool Masked, class Rows, class Store>
__attribute__((target("avx512f"))) void tile_avx512(size_t k, const float* ap, const Rows& b,
                                                    const Store& st, size_t j, __mmask16 m0,
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
    st.put(r, j, acc0[r], m0, Masked);
    if (V == 2) st.put(r, j + 16, acc1[r], m1, Masked);
  }
}

// Rows i0 .. i0 + R - 1 of C over every column: 32-column tiles, the rest in one tile of one or
// two masked vectors.
template <int R, class Rows, class Store>
__attribute__((target("avx512f"))) void row_block_avx512(size_t n, size_t k, const float* ap,
                                                         const Rows& b, const Store& st) {
  constexpr size_t kCols = 32;
  size_t j = 0;
  for (; j + kCols <= n; j += kCols) tile_avx512<R, 2, false>(k, ap, b.at(j), st, j, 0, 0);
  if (j == n) return;
  const size_t w = n - j;
  const auto m0 = static_cast<__mmask16>(w >= 16 ? 0xFFFFu : (1u << w) - 1);
  if (w <= 16) {
    tile_avx512<R, 1, true>(k, ap, b.at(j), st, j, m0, 0);
  } else {
    const auto m1 = static_cast<__mmask16>((1u << (w - 16)) - 1);
    tile_avx512<R, 2, true>(k, ap, b.at(j), st, j, m0, m1);
  }
}

constexpr size_t kRows = 8;

// A's rows i .. i + rows - 1, interleaved: step kk's values side by side.
void pack_block(size_t i, size_t rows, size_t k, const float* a, size_t lda, float* ap) {
  for (size_t kk = 0; kk < k; ++kk) {
    for (size_t r = 0; r < rows; ++r) ap[kk * rows + r] = a[(i + r) * lda + kk];
  }
}

template <class Rows, class Store>
__attribute__((target("avx512f"))) void row_block_any(size_t rows, size_t n, size_t k,
                                                      const float* ap, const Rows& b,
                                                      const Store& st) {
  switch (rows) {
    case 8: row_block_avx512<8>(n, k, ap, b, st); break;
    case 7: row_block_avx512<7>(n, k, ap, b, st); break;
    case 6: row_block_avx512<6>(n, k, ap, b, st); break;
    case 5: row_block_avx512<5>(n, k, ap, b, st); break;
    case 4: row_block_avx512<4>(n, k, ap, b, st); break;
    case 3: row_block_avx512<3>(n, k, ap, b, st); break;
    case 2: row_block_avx512<2>(n, k, ap, b, st); break;
    default: row_block_avx512<1>(n, k, ap, b, st); break;
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
    row_block_any(rows, n, k, ap.data(), b, PlainStore{c + i * ldc, ldc});
  }
}

// The offset product over A packed by fp32_pack_a.
template <class Store>
__attribute__((target("avx512f"))) void gemm_offsets_packed_avx512(const PackedA& a, size_t n,
                                                                   const float* x,
                                                                   const int32_t* off,
                                                                   const Store& st) {
  for (size_t i = 0; i < a.m; i += kRows) {
    const size_t rows = std::min(kRows, a.m - i);
    row_block_any(rows, n, a.k, a.blocks.data() + i * a.k, OffsetRows{x, off}, st.rows(i));
  }
}

// C vectors of depthwise outputs from column j: C independent chains side by side, so that the
// adds' latency overlaps.
template <int C, class Store>
__attribute__((target("avx512f"))) void taps_block_avx512(size_t j, size_t taps, const float* w,
                                                          const float* x, const int32_t* off,
                                                          const Store& st) {
  __m512 acc[C];
#pragma GCC unroll 8
  for (int v = 0; v < C; ++v) acc[v] = _mm512_setzero_ps();
  for (size_t t = 0; t < taps; ++t) {
    const __m512 wv = _mm512_set1_ps(w[t]);
    const float* xt = x + off[t] + j;
#pragma GCC unroll 8
    for (int v = 0; v < C; ++v) {
      acc[v] = _mm512_add_ps(acc[v], _mm512_mul_ps(wv, _mm512_loadu_ps(xt + 16 * v)));
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < C; ++v) st.put(0, j + 16 * static_cast<size_t>(v), acc[v], 0, false);
}

// Depthwise taps, 16 outputs per vector: a product, rounded, then a sum, as the scalar loop does.
template <class Store>
__attribute__((target("avx512f"))) void taps_avx512(size_t n, size_t taps, const float* w,
                                                    const float* x, const int32_t* off,
                                                    const Store& st) {
  size_t j = 0;
  for (; j + 128 <= n; j += 128) taps_block_avx512<8>(j, taps, w, x, off, st);
  for (; j + 64 <= n; j += 64) taps_block_avx512<4>(j, taps, w, x, off, st);
  for (; j + 32 <= n; j += 32) taps_block_avx512<2>(j, taps, w, x, off, st);
  for (; j < n; j += 16) {
    const auto m = static_cast<__mmask16>(n - j >= 16 ? 0xFFFFu : (1u << (n - j)) - 1);
    __m512 acc = _mm512_setzero_ps();
    for (size_t t = 0; t < taps; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + off[t] + j);
      acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(w[t]), xv));
    }
    st.put(0, j, acc, m, true);
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
    gemm_offsets_packed_avx512(a, n, x, off, PlainStore{c, ldc});
    return;
  }
#endif
  fp32_gemm_offsets_portable(a.m, n, a.k, a.a, a.lda, x, off, c, ldc);
}

void fp32_taps(size_t n, size_t taps, const float* w, const float* x, const int32_t* off,
               float* c) {
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    taps_avx512(n, taps, w, x, off, PlainStore{c, 0});
    return;
  }
#endif
  fp32_taps_portable(n, taps, w, x, off, c);
}

PlaneMap fp32_plane_map(size_t n, size_t wq, size_t w) {
  PlaneMap p;
  p.n = n;
  p.wq = wq;
  p.w = w;
  const size_t blocks = (n + 15) / 16;
  p.valid.assign(blocks, 0);
  p.start.assign(blocks, 0);
  for (size_t b = 0; b < blocks; ++b) {
    bool first = true;
    for (size_t lane = 0; lane < 16 && b * 16 + lane < n; ++lane) {
      const size_t q = b * 16 + lane, oy = q / wq, ox = q % wq;
      if (ox >= w) continue;
      p.valid[b] = static_cast<uint16_t>(p.valid[b] | (1u << lane));
      if (first) p.start[b] = static_cast<uint32_t>(oy * w + ox);
      first = false;
    }
  }
  return p;
}

namespace {
// The paths without AVX-512: the sums into a buffer, then fp32_bias_store.
void plane_from_sums(const std::vector<float>& sums, size_t rows, const PlaneOut& out) {
  const size_t h = out.map->n / out.map->wq;
  for (size_t r = 0; r < rows; ++r) {
    fp32_bias_store(sums.data() + r * out.map->n, out.map->wq, h, out.map->w, out.bias[r],
                    out.relu, out.y + r * out.plane);
  }
}
}  // namespace

void fp32_conv_packed(const PackedA& a, const float* x, const int32_t* off, const PlaneOut& out) {
  const size_t n = out.map->n;
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    gemm_offsets_packed_avx512(a, n, x, off,
                               PlaneStore{out.y, out.plane, out.bias, out.relu,
                                          out.map->valid.data(), out.map->start.data()});
    return;
  }
#endif
  std::vector<float> sums(a.m * n);
  fp32_gemm_offsets_portable(a.m, n, a.k, a.a, a.lda, x, off, sums.data(), n);
  plane_from_sums(sums, a.m, out);
}

void fp32_taps_plane(size_t taps, const float* w, const float* x, const int32_t* off,
                     const PlaneOut& out) {
  const size_t n = out.map->n;
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    taps_avx512(n, taps, w, x, off,
                PlaneStore{out.y, out.plane, out.bias, out.relu, out.map->valid.data(),
                           out.map->start.data()});
    return;
  }
#endif
  std::vector<float> sums(n);
  fp32_taps_portable(n, taps, w, x, off, sums.data());
  plane_from_sums(sums, 1, out);
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
