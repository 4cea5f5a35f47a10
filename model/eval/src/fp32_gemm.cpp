#include "lbfp/eval/fp32_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
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

// The rows of B of fp32_conv_masked: row kk at x + off[kk], vector v of a tile (16 columns from
// a multiple of 16) masked to the lanes of masks[v * taps + tap[kk]] (at() moves masks with j).
struct MaskedRows {
  const float* x;
  const int32_t* off;
  const uint16_t* tap;
  const uint16_t* masks;
  size_t taps;
  const float* operator()(size_t kk) const { return x + off[kk]; }
  MaskedRows at(size_t j) const { return {x + j, off, tap, masks + (j / 16) * taps, taps}; }
  __mmask16 lanes(size_t kk, int v) const {
    return masks[static_cast<size_t>(v) * taps + tap[kk]];
  }
};

// Vector v of row kk of B at p: all 16 lanes, or (Masked) the lanes of m; MaskedRows: the lanes
// whose tap is inside the plane (none past the plane's last output, so none outside m either).
template <bool Masked, class Rows>
__attribute__((target("avx512f"))) inline __m512 load_b(const Rows&, size_t, int, const float* p,
                                                        __mmask16 m) {
  return Masked ? _mm512_maskz_loadu_ps(m, p) : _mm512_loadu_ps(p);
}
template <bool Masked>
__attribute__((target("avx512f"))) inline __m512 load_b(const MaskedRows& b, size_t kk, int v,
                                                        const float* p, __mmask16) {
  return _mm512_maskz_loadu_ps(b.lanes(kk, v), p);
}

// One tile of R rows x 16 V columns (V vectors, masked at the right edge when Masked: vector v's
// lanes m[v]), k innermost: R x V accumulators stay in registers for the whole reduction. The R
// values of A for step kk are ap[kk * as ... kk * as + R - 1] (packed by pack_block, as >= R
// rows side by side).
template <int R, int V, bool Masked, class Rows, class Store>
__attribute__((target("avx512f"))) void tile_avx512(size_t k, const float* ap, size_t as,
                                                    const Rows& b, const Store& st, size_t j,
                                                    const __mmask16* m) {
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  }
  for (size_t kk = 0; kk < k; ++kk) {
    const float* bk = b(kk);
    __m512 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      bv[v] = load_b<Masked>(b, kk, v, bk + 16 * v, Masked ? m[v] : __mmask16{0xFFFF});
    }
    const float* ak = ap + kk * (R == 8 ? 8 : as);  // a whole block of 8 is 8 rows wide
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 av = _mm512_set1_ps(ak[r]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      st.put(r, j + 16 * static_cast<size_t>(v), acc[r][v], Masked ? m[v] : 0xFFFF, Masked);
    }
  }
}

// Rows i0 .. i0 + R - 1 of C over every column: 48-column tiles (24 accumulators for R = 8),
// the rest in one tile of one to three masked vectors.
template <int R, class Rows, class Store>
__attribute__((target("avx512f"))) void row_block_avx512(size_t n, size_t k, const float* ap,
                                                         size_t as, const Rows& b,
                                                         const Store& st) {
  constexpr size_t kCols = 48;
  size_t j = 0;
  for (; j + kCols <= n; j += kCols) {
    tile_avx512<R, 3, false>(k, ap, as, b.at(j), st, j, nullptr);
  }
  if (j == n) return;
  const size_t w = n - j;
  __mmask16 m[3];
  for (size_t v = 0; v < 3; ++v) {
    const size_t lanes = w > 16 * v ? std::min<size_t>(16, w - 16 * v) : 0;
    m[v] = static_cast<__mmask16>((1u << lanes) - 1);
  }
  if (w <= 16) {
    tile_avx512<R, 1, true>(k, ap, as, b.at(j), st, j, m);
  } else if (w <= 32) {
    tile_avx512<R, 2, true>(k, ap, as, b.at(j), st, j, m);
  } else {
    tile_avx512<R, 3, true>(k, ap, as, b.at(j), st, j, m);
  }
}

constexpr size_t kRows = 8;

// A's rows i .. i + rows - 1, interleaved: step kk's values side by side.
void pack_block(size_t i, size_t rows, size_t k, const float* a, size_t lda, float* ap) {
  for (size_t kk = 0; kk < k; ++kk) {
    for (size_t r = 0; r < rows; ++r) ap[kk * rows + r] = a[(i + r) * lda + kk];
  }
}

// A packed block of `rows` (at most 8) rows: 8 or 6 at once, or 4, 2 and 1 of them (each output
// is the same fma chain whatever the block; fewer tile shapes keep the compile time down).
template <class Rows, class Store>
__attribute__((target("avx512f"))) void row_block_any(size_t rows, size_t n, size_t k,
                                                      const float* ap, const Rows& b,
                                                      const Store& st) {
  if (rows == 8) {
    row_block_avx512<8>(n, k, ap, 8, b, st);
    return;
  }
  size_t r = 0;
  if (rows >= 6) {
    row_block_avx512<6>(n, k, ap, rows, b, st);
    r = 6;
  }
  if (rows - r >= 4) {
    row_block_avx512<4>(n, k, ap + r, rows, b, st.rows(r));
    r += 4;
  }
  if (rows - r >= 2) {
    row_block_avx512<2>(n, k, ap + r, rows, b, st.rows(r));
    r += 2;
  }
  if (rows - r >= 1) row_block_avx512<1>(n, k, ap + r, rows, b, st.rows(r));
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

// m = the lanewise largest of m and the exponent fields of the lanes of k at p (0 elsewhere).
__attribute__((target("avx512f"))) inline void largest_exponent(__m512i& m, const float* p,
                                                                 __mmask16 k) {
  const __m512i e = _mm512_and_si512(_mm512_maskz_loadu_epi32(k, p),
                                     _mm512_set1_epi32(0x7f800000));
  m = _mm512_mask_max_epu32(m, 0xFFFF, m, e);  // (the unmasked form warns in GCC 12)
}

// Not finite where the largest exponent field is all ones. Four vectors per step.
__attribute__((target("avx512f"))) bool any_not_finite_avx512(const float* v, size_t count) {
  __m512i m0 = _mm512_set1_epi32(0), m1 = m0, m2 = m0, m3 = m0;
  size_t i = 0;
  for (; i + 64 <= count; i += 64) {
    largest_exponent(m0, v + i, 0xFFFF);
    largest_exponent(m1, v + i + 16, 0xFFFF);
    largest_exponent(m2, v + i + 32, 0xFFFF);
    largest_exponent(m3, v + i + 48, 0xFFFF);
  }
  for (; i < count; i += 16) {
    largest_exponent(m0, v + i,
                     static_cast<__mmask16>(count - i >= 16 ? 0xFFFFu : (1u << (count - i)) - 1));
  }
  m0 = _mm512_mask_max_epu32(m0, 0xFFFF, m0, m1);
  m2 = _mm512_mask_max_epu32(m2, 0xFFFF, m2, m3);
  m0 = _mm512_mask_max_epu32(m0, 0xFFFF, m0, m2);
  return _mm512_cmpeq_epi32_mask(m0, _mm512_set1_epi32(0x7f800000)) != 0;
}

__attribute__((target("avx512f"))) void add_avx512(const float* a, const float* b, size_t count,
                                                   bool relu, float* y) {
  const __m512 zero = _mm512_setzero_ps();
  for (size_t i = 0; i < count; i += 16) {
    const auto m = static_cast<__mmask16>(count - i >= 16 ? 0xFFFFu : (1u << (count - i)) - 1);
    __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
    if (relu) v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
    _mm512_mask_storeu_ps(y + i, m, v);
  }
}

// fp32_max_pool_planes: 16 outputs of a row per vector; for stride 2 the window column kx of
// lane j is input column 2 (ox0 + j) + kx, the even lanes of the 32 floats from 2 ox0 + kx.
template <int S>
__attribute__((target("avx512f"))) void max_pool_avx512(const PoolShape& s, size_t planes,
                                                        const float* x, float* y) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                                         30);
  for (size_t p = 0; p < planes; ++p) {
    const float* xp = x + p * s.h * s.w;
    float* yp = y + p * s.ho * s.wo;
    for (size_t oy = 0; oy < s.ho; ++oy) {
      for (size_t ox0 = 0; ox0 < s.wo; ox0 += 16) {
        const size_t r = std::min<size_t>(16, s.wo - ox0), need = S * (r - 1) + 1;
        const auto mout = static_cast<__mmask16>(r >= 16 ? 0xFFFFu : (1u << r) - 1);
        const auto mlo = static_cast<__mmask16>(need >= 16 ? 0xFFFFu : (1u << need) - 1);
        const auto mhi = static_cast<__mmask16>(need > 16 ? (1u << (need - 16)) - 1 : 0);
        __m512 v = _mm512_setzero_ps();
        for (size_t ky = 0; ky < s.kh; ++ky) {
          const float* row = xp + (oy * s.sh + ky) * s.w + S * ox0;
          for (size_t kx = 0; kx < s.kw; ++kx) {
            __m512 e;
            if (S == 1) {
              e = _mm512_maskz_loadu_ps(mout, row + kx);
            } else {
              e = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(mlo, row + kx), even,
                                         _mm512_maskz_loadu_ps(mhi, row + kx + 16));
            }
            v = ky == 0 && kx == 0
                    ? e
                    : _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, e, _CMP_LT_OQ), e);
          }
        }
        _mm512_mask_storeu_ps(yp + oy * s.wo + ox0, mout, v);
      }
    }
  }
}

// One chunk of an even / odd split of a row (32 input floats from 32 c): ne even and no odd
// lanes kept (at most 16 each), read from the first max(2 ne - 1, 2 no) floats.
using SplitMasks = DepthwisePlan::FillMasks;
SplitMasks split_masks(size_t ne, size_t no) {
  const size_t need = std::max(ne > 0 ? 2 * ne - 1 : 0, 2 * no);
  SplitMasks m;
  m.lo = static_cast<uint16_t>(need >= 16 ? 0xFFFFu : (1u << need) - 1);
  m.hi = static_cast<uint16_t>(need > 16 ? (1u << (need - 16)) - 1 : 0);
  m.even = static_cast<uint16_t>((1u << ne) - 1);
  m.odd = static_cast<uint16_t>((1u << no) - 1);
  return m;
}

// The row at r split by chunks: chunk c's even lanes to de + 16 c, its odd lanes to
// dodd + 16 c, under m[c] (one load of 32 floats, two permutations).
__attribute__((target("avx512f"))) void split_row_avx512(const float* r, const SplitMasks* m,
                                                         size_t chunks, float* de,
                                                         float* dodd) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                                         30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (size_t c = 0; c < chunks; ++c) {
    const __m512 lo = _mm512_maskz_loadu_ps(m[c].lo, r + 32 * c);
    const __m512 hi = _mm512_maskz_loadu_ps(m[c].hi, r + 32 * c + 16);
    _mm512_mask_storeu_ps(de + 16 * c, m[c].even, _mm512_permutex2var_ps(lo, even, hi));
    _mm512_mask_storeu_ps(dodd + 16 * c, m[c].odd, _mm512_permutex2var_ps(lo, odd, hi));
  }
}

// fp32_fill_phases for horizontal strides 1 and 2.
__attribute__((target("avx512f"))) void fill_phases_avx512(const PhaseFill& f, const float* x,
                                                           float* buf) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                                         30);
  // Column rx of phase px is padded column rx * sw + px, input column that - pw: the columns
  // rx in [first[px], end[px]) are inside the input.
  size_t first[2] = {}, end[2] = {};
  for (size_t px = 0; px < f.sw; ++px) {
    first[px] = px >= f.pw ? 0 : (f.pw - px + f.sw - 1) / f.sw;
    end[px] = std::min(f.wq, (f.w + f.pw - px + f.sw - 1) / f.sw);
  }
  // Stride 2 with both column phases read and rows of at most 8 chunks of 32 floats: each chunk
  // of a row loaded once for both phases, the chunks' masks built once per call.
  constexpr size_t kChunks = 8;
  const size_t chunks = (f.w + 31) / 32, pe = f.pw % 2;
  const bool both = f.sw == 2 && f.kw >= 2 && chunks <= kChunks;
  SplitMasks split[kChunks];
  if (both) {
    for (size_t j = 0; j < chunks; ++j) {
      // Even lane i goes to phase column 16 j + i + pw / 2, odd lane i to 16 j + i +
      // (pw + 1) / 2: kept below end[] (the phase columns whose input column is below w).
      const size_t e_col = 16 * j + f.pw / 2, o_col = 16 * j + (f.pw + 1) / 2;
      split[j] = split_masks(std::min<size_t>(16, end[pe] > e_col ? end[pe] - e_col : 0),
                             std::min<size_t>(16, end[1 - pe] > o_col ? end[1 - pe] - o_col : 0));
    }
  }
  for (size_t ch = 0; ch < f.c; ++ch) {
    size_t py = f.ph % f.sh, ry = f.ph / f.sh;  // of input row iy = 0
    for (size_t iy = 0; iy < f.h; ++iy) {
      const float* xr = x + (ch * f.h + iy) * f.w;
      float* row = buf + ch * f.channel + py * f.sw * f.plane + ry * f.wq;
      if (py >= f.kh) {
        // No tap reads this phase's rows.
      } else if (f.sw == 1) {
        float* dst = row + f.pw;
        for (size_t i = 0; i < f.w; i += 16) {
          const auto m = static_cast<__mmask16>(f.w - i >= 16 ? 0xFFFFu : (1u << (f.w - i)) - 1);
          _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, xr + i));
        }
      } else if (both) {
        // Input column ix goes to phase (ix + pw) % 2, column (ix + pw) / 2: the even lanes of
        // chunk j (input columns 32 j ..) to phase pe from column 16 j + pw / 2, the odd lanes
        // to phase 1 - pe from column 16 j + (pw + 1) / 2.
        split_row_avx512(xr, split, chunks, row + pe * f.plane + f.pw / 2,
                         row + (1 - pe) * f.plane + (f.pw + 1) / 2);
      } else {
        for (size_t px = 0; px < 2 && px < f.kw; ++px) {
          if (first[px] >= end[px]) continue;
          const float* src = xr + first[px] * 2 + px - f.pw;
          float* dst = row + px * f.plane + first[px];
          const size_t count = end[px] - first[px];
          for (size_t i = 0; i < count; i += 16) {
            const size_t r = std::min<size_t>(16, count - i), need = 2 * r - 1;  // floats read
            const auto mlo = static_cast<__mmask16>(need >= 16 ? 0xFFFFu : (1u << need) - 1);
            const auto mhi = static_cast<__mmask16>(need > 16 ? (1u << (need - 16)) - 1 : 0);
            const __m512 lo = _mm512_maskz_loadu_ps(mlo, src + 2 * i);
            const __m512 hi = _mm512_maskz_loadu_ps(mhi, src + 2 * i + 16);
            const auto mout = static_cast<__mmask16>(r >= 16 ? 0xFFFFu : (1u << r) - 1);
            _mm512_mask_storeu_ps(dst + i, mout, _mm512_permutex2var_ps(lo, even, hi));
          }
        }
      }
      if (++py == f.sh) {
        py = 0;
        ++ry;
      }
    }
  }
}

bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}

// The sums of P pixels (outputs out0 .. out0 + P - 1 of each plane) x 16 V output channels from
// ch0: + bias, the ReLU, then one scatter per pixel and vector into the channels' planes.
template <int P, int V>
__attribute__((target("avx512f"))) inline void store_scattered(const __m512 (&acc)[P][V],
                                                               const PlaneOut& o, size_t ch0,
                                                               size_t out0) {
  const __m512i lane = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                            12, 13, 14, 15),
                                          _mm512_set1_epi32(static_cast<int>(o.plane)));
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    const size_t ch = ch0 + 16 * static_cast<size_t>(v);
    const __m512 bias = _mm512_loadu_ps(o.bias + ch);
    float* yv = o.y + ch * o.plane + out0;
#pragma GCC unroll 28
    for (int i = 0; i < P; ++i) {
      __m512 r = _mm512_add_ps(acc[i][v], bias);
      if (o.relu) r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(r, zero, _CMP_LT_OQ), zero);
      _mm512_i32scatter_ps(yv + i, lane, r, 4);
    }
  }
}

// The steps of a channel tile: kk = c * taps + t for t in [t0, t1), c = 0, 1, ... while kk < k
// (taps = k, t0 = 0, t1 = k: every step), in increasing order.
struct TileSteps {
  size_t k, taps, t0, t1;
};

// Output channels ch0 .. ch0 + 16 V - 1 (the lanes) of P output pixels: pixel i is column
// cols[i] of the product (its taps x[off[kk] + cols[i]]) and output out[i] of each plane. The
// weights of step kk are wk[kk * m + ch0 ...], side by side.
template <int P, int V>
__attribute__((target("avx512f"))) void channels_tile(const TileSteps& s, size_t m,
                                                      const float* wk, const float* x,
                                                      const int32_t* off,
                                                      const uint32_t* cols, size_t out0,
                                                      const PlaneOut& o, size_t ch0) {
  __m512 acc[P][V];
#pragma GCC unroll 8
  for (int i = 0; i < P; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  size_t q[P];
#pragma GCC unroll 8
  for (int i = 0; i < P; ++i) q[i] = cols[i];
  for (size_t c = 0; c < s.k; c += s.taps) {
    for (size_t kk = c + s.t0; kk < c + s.t1; ++kk) {
      const float* xk = x + off[kk];
      const float* wr = wk + kk * m;
      __m512 w[V];
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) w[v] = _mm512_loadu_ps(wr + 16 * v);
#pragma GCC unroll 8
      for (int i = 0; i < P; ++i) {
        const __m512 xv = _mm512_set1_ps(xk[q[i]]);
#pragma GCC unroll 4
        for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(w[v], xv, acc[i][v]);
      }
    }
  }
  store_scattered<P, V>(acc, o, ch0, out0);
}

template <int P, int V>
__attribute__((target("avx512f"))) void channels_tail(size_t rest, const TileSteps& steps,
                                                      size_t m, const float* wk, const float* x,
                                                      const int32_t* off, const uint32_t* cols,
                                                      size_t out0, const PlaneOut& o,
                                                      size_t ch0) {
  if constexpr (P > 0) {
    if (rest == P) {
      channels_tile<P, V>(steps, m, wk, x, off, cols, out0, o, ch0);
    } else {
      channels_tail<P - 1, V>(rest, steps, m, wk, x, off, cols, out0, o, ch0);
    }
  }
}

// Pixels cols[0 .. count - 1], outputs out0, out0 + 1, ... of every output channel: tiles of
// P pixels x 16 V channels, the last pixels in a smaller tile.
// With rows (the convolution's shape, where every weight is finite), a tile skips the taps
// (kh, kw) whose row is outside the input for each of its pixels: such a step adds
// fma(w, 0, s) = s to every sum (a tap on the zero border; s is never -0), so the values stay.
template <int P, int V>
__attribute__((target("avx512f"))) void conv_channels_avx512(const PackedA& a, const float* x,
                                                             const int32_t* off,
                                                             const uint32_t* cols, size_t count,
                                                             size_t out0, const PlaneOut& o,
                                                             const TapShape* rows) {
  auto steps = [&](size_t i, size_t n) {
    if (!rows) return TileSteps{a.k, a.k, 0, a.k};
    // Row oy reads kh in [ph - oy sh, h + ph - oy sh) of [0, kh): the tile's rows from
    // oy_first to oy_last read kh in [lo(oy_last), hi(oy_first)).
    const long sh = static_cast<long>(rows->sh), ph = static_cast<long>(rows->ph);
    const long first = static_cast<long>((out0 + i) / o.map->w);
    const long last = static_cast<long>((out0 + i + n - 1) / o.map->w);
    const long kh = static_cast<long>(rows->kh), h = static_cast<long>(rows->h);
    const long lo = std::clamp(ph - last * sh, 0L, kh);
    const long hi = std::clamp(h + ph - first * sh, lo, kh);
    const size_t taps = rows->kh * rows->kw;
    return TileSteps{a.k, taps, static_cast<size_t>(lo) * rows->kw,
                     static_cast<size_t>(hi) * rows->kw};
  };
  for (size_t ch0 = 0; ch0 < a.m; ch0 += 16 * V) {
    size_t i = 0;
    for (; i + P <= count; i += P) {
      channels_tile<P, V>(steps(i, P), a.m, a.by_k.data() + ch0, x, off, cols + i, out0 + i, o,
                          ch0);
    }
    if (i < count) {
      channels_tail<P - 1, V>(count - i, steps(i, count - i), a.m, a.by_k.data() + ch0, x, off,
                              cols + i, out0 + i, o, ch0);
    }
  }
}

// 7 pixels (a 7 x 7 plane in whole tiles) x up to 64 channels: 28 accumulators, each step's
// weights in 4 registers, the pixels broadcast from memory.
__attribute__((target("avx512f"))) void conv_channels_any(const PackedA& a, const float* x,
                                                          const int32_t* off,
                                                          const uint32_t* cols, size_t count,
                                                          size_t out0, const PlaneOut& o,
                                                          const TapShape* rows) {
  if (a.m % 64 == 0) {
    conv_channels_avx512<7, 4>(a, x, off, cols, count, out0, o, rows);
  } else if (a.m % 32 == 0) {
    conv_channels_avx512<7, 2>(a, x, off, cols, count, out0, o, rows);
  } else {
    conv_channels_avx512<7, 1>(a, x, off, cols, count, out0, o, rows);
  }
}

// r[0 .. 15] transposed: lane j of r[i] goes to lane i of r[j].
__attribute__((target("avx512f"))) inline void transpose16(__m512 r[16]) {
  // (The masked forms: the plain ones warn in GCC 12.)
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_mask_unpacklo_ps(r[2 * i], 0xFFFF, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_mask_unpackhi_ps(r[2 * i], 0xFFFF, r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    const __m512 a = t[4 * i], b = t[4 * i + 1], c = t[4 * i + 2], d = t[4 * i + 3];
    r[4 * i] = _mm512_mask_shuffle_ps(a, 0xFFFF, a, c, 0x44);
    r[4 * i + 1] = _mm512_mask_shuffle_ps(a, 0xFFFF, a, c, 0xEE);
    r[4 * i + 2] = _mm512_mask_shuffle_ps(b, 0xFFFF, b, d, 0x44);
    r[4 * i + 3] = _mm512_mask_shuffle_ps(b, 0xFFFF, b, d, 0xEE);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const __m512 a = r[8 * i + j], b = r[8 * i + 4 + j];
      t[8 * i + j] = _mm512_mask_shuffle_f32x4(a, 0xFFFF, a, b, 0x88);
      t[8 * i + 4 + j] = _mm512_mask_shuffle_f32x4(a, 0xFFFF, a, b, 0xDD);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_mask_shuffle_f32x4(t[j], 0xFFFF, t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_mask_shuffle_f32x4(t[j], 0xFFFF, t[j], t[8 + j], 0xDD);
  }
}

// One step kk of a row tile: pixels I0 .. I1 - 1 (tap x[off[kk] + S i] from the row's first
// pixel at xq) x the V vectors of output channels (weights wk[kk * m ...]).
template <int P, int V, int I0, int I1, int S>
__attribute__((target("avx512f"))) inline void row_step(size_t kk, size_t m, const float* wk,
                                                        const float* xq, const int32_t* off,
                                                        __m512 (&acc)[P][V]) {
  const float* xk = xq + off[kk];
  const float* wr = wk + kk * m;
  __m512 w[V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) w[v] = _mm512_loadu_ps(wr + 16 * v);
#pragma GCC unroll 28
  for (int i = I0; i < I1; ++i) {
    if constexpr (P * V + V >= 32) {
      // Every register holds an accumulator or a weight: the pixel broadcast from memory by
      // each fused multiply-add (w x x + acc, the same rounding).
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        asm("vfmadd231ps %[x]%{1to16%}, %[w], %[a]"
            : [a] "+v"(acc[i][v])
            : [w] "v"(w[v]), [x] "m"(xk[S * i]));
      }
    } else {
      const __m512 xv = _mm512_set1_ps(xk[S * i]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(w[v], xv, acc[i][v]);
    }
  }
}

// A row tile: output row oy (P pixels, columns q0 .. q0 + P - 1 of the product) x output
// channels ch0 .. ch0 + 16 V - 1, for kernels three columns wide: steps kk = (c kh_n + kh) 3 + kw
// for every input channel c, kh in [kh0, kh1), kw = 0, 1, 2, in increasing kk. With L, pixel 0
// leaves out kw = 0 and with Rt, pixel P - 1 leaves out kw = 2: their input column is on the
// zero border (fma(w, 0, s) = s, every weight finite, s never -0), so the values stay. Pixel
// i's taps are S i floats from pixel 0's (S: 2 for stride 2 over the unpadded planes).
template <int P, int V, bool L, bool Rt, int S>
__attribute__((target("avx512f"))) void rows_tile(size_t cg, size_t kh_n, size_t kh0,
                                                  size_t kh1, size_t m, const float* wk,
                                                  const float* xq, const int32_t* off,
                                                  size_t out0, const PlaneOut& o, size_t ch0) {
  __m512 acc[P][V];
#pragma GCC unroll 28
  for (int i = 0; i < P; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  for (size_t c = 0; c < cg; ++c) {
    for (size_t kh = kh0; kh < kh1; ++kh) {
      const size_t kk = (c * kh_n + kh) * 3;
      row_step<P, V, L ? 1 : 0, P, S>(kk, m, wk, xq, off, acc);
      row_step<P, V, 0, P, S>(kk + 1, m, wk, xq, off, acc);
      row_step<P, V, 0, Rt ? P - 1 : P, S>(kk + 2, m, wk, xq, off, acc);
    }
  }
  if constexpr (P >= 14) {
    // 16 pixels at a time: their vectors of channels transposed into each channel's run of
    // pixels, stored whole (the last run masked).
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const size_t ch = ch0 + 16 * static_cast<size_t>(v);
      const __m512 bias = _mm512_loadu_ps(o.bias + ch);
      float* yv = o.y + ch * o.plane + out0;
#pragma GCC unroll 2
      for (int b = 0; b < P; b += 16) {
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) {
          if (b + i < P) {
            r[i] = _mm512_add_ps(acc[b + i][v], bias);
            if (o.relu) {
              r[i] = _mm512_mask_mov_ps(r[i], _mm512_cmp_ps_mask(r[i], zero, _CMP_LT_OQ), zero);
            }
          } else {
            r[i] = zero;
          }
        }
        transpose16(r);
        const auto run = static_cast<__mmask16>(P - b >= 16 ? 0xFFFFu : (1u << (P - b)) - 1);
#pragma GCC unroll 16
        for (int c = 0; c < 16; ++c) {
          _mm512_mask_storeu_ps(yv + static_cast<size_t>(c) * o.plane + b, run, r[c]);
        }
      }
    }
    return;
  }
  store_scattered<P, V>(acc, o, ch0, out0);
}

// Every output row (pitch floats apart) through rows_tile<P, V, L, Rt, S>: the kernel rows on
// the zero border left out for each row where skip (every weight finite).
template <int P, int V, bool L, bool Rt, int S>
__attribute__((target("avx512f"))) void conv_rows_lr(const PackedA& a, const float* x,
                                                     const int32_t* off, const PlaneOut& o,
                                                     const TapShape& s, size_t pitch, bool skip) {
  const size_t cg = a.k / (s.kh * 3);
  for (size_t ch0 = 0; ch0 < a.m; ch0 += 16 * V) {
    for (size_t oy = 0; oy < s.ho; ++oy) {
      size_t kh0 = 0, kh1 = s.kh;
      if (skip) {
        // Row oy reads kernel rows kh with 0 <= oy sh + kh - ph < h.
        const long base = static_cast<long>(oy * s.sh) - static_cast<long>(s.ph);
        kh0 = static_cast<size_t>(std::clamp(-base, 0L, static_cast<long>(s.kh)));
        kh1 = static_cast<size_t>(
            std::clamp(static_cast<long>(s.h) - base, static_cast<long>(kh0),
                       static_cast<long>(s.kh)));
      }
      rows_tile<P, V, L, Rt, S>(cg, s.kh, kh0, kh1, a.m, a.by_k.data() + ch0, x + oy * pitch,
                                off, oy * s.wo, o, ch0);
    }
  }
}

template <int P, int V, int S>
__attribute__((target("avx512f"))) void conv_rows_pv(const PackedA& a, const float* x,
                                                     const int32_t* off, const PlaneOut& o,
                                                     const TapShape& s, size_t pitch, bool skip) {
  // Only pixel 0's kw = 0 column and pixel wo - 1's kw = 2 column may be on the border
  // (fp32_conv_rows_ok).
  const bool l = skip && s.pw > 0;
  const bool r = skip && (s.wo - 1) * s.sw + 2 >= s.w + s.pw;
  if (l && r) {
    conv_rows_lr<P, V, true, true, S>(a, x, off, o, s, pitch, skip);
  } else if (l) {
    conv_rows_lr<P, V, true, false, S>(a, x, off, o, s, pitch, skip);
  } else if (r) {
    conv_rows_lr<P, V, false, true, S>(a, x, off, o, s, pitch, skip);
  } else {
    conv_rows_lr<P, V, false, false, S>(a, x, off, o, s, pitch, skip);
  }
}

// Sum + bias, the ReLU, then the lanes of m into p.
__attribute__((target("avx512f"))) inline void dw_store(float* p, __mmask16 m, __m512 acc,
                                                        __m512 bias, bool relu) {
  __m512 v = _mm512_add_ps(acc, bias);
  if (relu) {
    const __m512 zero = _mm512_setzero_ps();
    v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
  }
  _mm512_mask_storeu_ps(p, m, v);
}

// Stride 1 with the output as wide as the input: output q of the plane (flat) reads input
// q + off[t] for tap t in the lanes of masks[v * taps + t] (vector v), 0 in the others. C
// vectors side by side, so that the adds' latency overlaps.
template <int C>
__attribute__((target("avx512f"))) void dw_flat_block(const DepthwisePlan& p, size_t v0,
                                                      const float* w, __m512 bias, bool relu,
                                                      const float* x, float* y) {
  const size_t taps = p.off.size(), n = p.s.ho * p.s.wo;
  __m512 acc[C];
#pragma GCC unroll 8
  for (int v = 0; v < C; ++v) acc[v] = _mm512_setzero_ps();
  const uint16_t* masks = p.masks.data() + v0 * taps;
  for (size_t t = 0; t < taps; ++t) {
    const __m512 wv = _mm512_set1_ps(w[t]);
    const float* xt = x + static_cast<std::ptrdiff_t>(16 * v0) + p.off[t];
#pragma GCC unroll 8
    for (int v = 0; v < C; ++v) {
      const __m512 xv = _mm512_maskz_loadu_ps(masks[static_cast<size_t>(v) * taps + t], xt + 16 * v);
      acc[v] = _mm512_add_ps(acc[v], _mm512_mul_ps(wv, xv));
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < C; ++v) {
    const size_t q = 16 * (v0 + static_cast<size_t>(v));
    const auto m = static_cast<__mmask16>(n - q >= 16 ? 0xFFFFu : (1u << (n - q)) - 1);
    dw_store(y + q, m, acc[v], bias, relu);
  }
}

__attribute__((target("avx512f"))) void dw_flat_plane(const DepthwisePlan& p, const float* w,
                                                      float bias, bool relu, const float* x,
                                                      float* y) {
  const size_t vectors = (p.s.ho * p.s.wo + 15) / 16;
  const __m512 bv = _mm512_set1_ps(bias);
  size_t v = 0;
  for (; v + 8 <= vectors; v += 8) dw_flat_block<8>(p, v, w, bv, relu, x, y);
  for (; v + 4 <= vectors; v += 4) dw_flat_block<4>(p, v, w, bv, relu, x, y);
  for (; v + 2 <= vectors; v += 2) dw_flat_block<2>(p, v, w, bv, relu, x, y);
  for (; v < vectors; ++v) dw_flat_block<1>(p, v, w, bv, relu, x, y);
}

// DepthwisePlan::rows_vectors: output rows oy0 .. oy0 + R - 1 of J vectors each from the padded
// rows of buf (row r of the plane at buf + (r + 1) S, S = 16 J; rows 0 and h + 1 zero, one zero
// vector before and after). Input row oy0 + i - 1 (buffer row oy0 + i) is tap row kh = i - r of
// output row oy0 + r: the rows in increasing order give each output its taps in (kh, kw) order.
// wt[kh * 3 + kw]: the tap's weight in every lane (two channels: one per half).
template <int J, int R>
__attribute__((target("avx512f"))) inline void dw3_rows_block(const float* buf, size_t oy0,
                                                              const __m512* wt, __m512 acc[R][J]) {
  constexpr size_t S = 16 * J;
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int j = 0; j < J; ++j) acc[r][j] = _mm512_setzero_ps();
  }
#pragma GCC unroll 10
  for (int i = 0; i < R + 2; ++i) {
    const float* row = buf + (oy0 + static_cast<size_t>(i)) * S;
#pragma GCC unroll 2
    for (int j = 0; j < J; ++j) {
      const __m512 cur = _mm512_load_ps(row + 16 * j);
      const __m512 prev = _mm512_load_ps(row + 16 * j - 16);
      const __m512 next = _mm512_load_ps(row + 16 * j + 16);
      // Lane l: column l - 1 (kw = 0) and l + 1 (kw = 2) of the same row.
      // (The masked form: the plain one warns in GCC 12.)
      const __m512i ci = _mm512_castps_si512(cur);
      const __m512 left = _mm512_castsi512_ps(
          _mm512_mask_alignr_epi32(ci, 0xFFFF, ci, _mm512_castps_si512(prev), 15));
      const __m512 right = _mm512_castsi512_ps(
          _mm512_mask_alignr_epi32(ci, 0xFFFF, _mm512_castps_si512(next), ci, 1));
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const int kh = i - r;
        if (kh < 0 || kh > 2) continue;
        acc[r][j] = _mm512_add_ps(acc[r][j], _mm512_mul_ps(wt[3 * kh], left));
        acc[r][j] = _mm512_add_ps(acc[r][j], _mm512_mul_ps(wt[3 * kh + 1], cur));
        acc[r][j] = _mm512_add_ps(acc[r][j], _mm512_mul_ps(wt[3 * kh + 2], right));
      }
    }
  }
}

// Output vector j of row oy (planes w wide) + bias, the ReLU, then its lanes inside the plane
// stored (two planes, y1 not null: lanes 0 .. w - 1 to y0's row, 8 .. 8 + w - 1 to y1's).
__attribute__((target("avx512f"))) inline void dw3_store(size_t w, size_t oy, int j,
                                                          __m512 acc, __m512 bias, bool relu,
                                                          float* y0, float* y1) {
  if (y1) {
    const auto lo = static_cast<__mmask16>((1u << w) - 1);
    dw_store(y0 + oy * w, lo, acc, bias, relu);
    dw_store(y1 + oy * w - 8, static_cast<__mmask16>(lo << 8), acc, bias, relu);
  } else {
    const size_t c = 16 * static_cast<size_t>(j), n = std::min<size_t>(16, w - c);
    dw_store(y0 + oy * w + c, static_cast<__mmask16>((1u << n) - 1), acc, bias, relu);
  }
}

// Output rows oy .. oy + R - 1 of one plane (or pair of planes) of `rows_vectors` J, stored.
template <int J, int R>
__attribute__((target("avx512f"))) inline void dw3_rows_store(const TapShape& s,
                                                              const float* buf, size_t oy,
                                                              const __m512* wt, __m512 bias,
                                                              bool relu, float* y0, float* y1) {
  __m512 acc[R][J];
  dw3_rows_block<J, R>(buf, oy, wt, acc);
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < J; ++j) {
      dw3_store(s.w, oy + static_cast<size_t>(r), j, acc[r][j], bias, relu, y0, y1);
    }
  }
}

// The rows of one plane (or pair of planes) of `rows_vectors` J from the padded rows at buf:
// blocks of 7 rows of one vector (a 7, 14 or 28 row plane in whole blocks) or 4 of two (7 or 8
// accumulators, each input row's three shifts serving up to three output rows), then 4, 2, 1.
template <int J>
__attribute__((target("avx512f"))) void dw3_rows_plane(const TapShape& s, const float* buf,
                                                       const __m512* wt, __m512 bias, bool relu,
                                                       float* y0, float* y1) {
  constexpr int R = J == 1 ? 7 : 4;
  size_t oy = 0;
  for (; oy + R <= s.h; oy += R) dw3_rows_store<J, R>(s, buf, oy, wt, bias, relu, y0, y1);
  if (s.h - oy >= 4) {
    dw3_rows_store<J, 4>(s, buf, oy, wt, bias, relu, y0, y1);
    oy += 4;
  }
  if (s.h - oy >= 2) {
    dw3_rows_store<J, 2>(s, buf, oy, wt, bias, relu, y0, y1);
    oy += 2;
  }
  if (oy < s.h) dw3_rows_store<J, 1>(s, buf, oy, wt, bias, relu, y0, y1);
}

// Stride 2: output rows oy0 .. oy0 + R - 1 from the split rows of buf (input row r's even
// columns at buf + 32 (r + 1), its odd ones 16 floats further; rows -1 and h zero). Input row
// 2 oy0 - 1 + i is tap row kh = i - 2 r of output row oy0 + r: increasing i gives each output
// its taps in (kh, kw) order.
template <int R>
__attribute__((target("avx512f"))) inline void dw3s2_rows_block(const float* buf, size_t oy0,
                                                                const __m512* wt,
                                                                __m512 acc[R]) {
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const __m512i zero = _mm512_set1_epi32(0);
#pragma GCC unroll 16
  for (int i = 0; i < 2 * R + 1; ++i) {
    const float* row = buf + 32 * (2 * oy0 + static_cast<size_t>(i));
    const __m512 even = _mm512_load_ps(row);
    const __m512 odd = _mm512_load_ps(row + 16);
    // Lane l: odd column l - 1 (kw = 0), a zero in lane 0 (and lane 8: lane 7 is a zero lane).
    const __m512i oi = _mm512_castps_si512(odd);
    const __m512 left = _mm512_castsi512_ps(_mm512_mask_alignr_epi32(oi, 0xFFFF, oi, zero, 15));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const int kh = i - 2 * r;
      if (kh < 0 || kh > 2) continue;
      acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(wt[3 * kh], left));
      acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(wt[3 * kh + 1], even));
      acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(wt[3 * kh + 2], odd));
    }
  }
}

template <int R>
__attribute__((target("avx512f"))) inline void dw3s2_rows_store(const TapShape& s,
                                                                const float* buf, size_t oy,
                                                                const __m512* wt, __m512 bias,
                                                                bool relu, float* y0,
                                                                float* y1) {
  __m512 acc[R];
  dw3s2_rows_block<R>(buf, oy, wt, acc);
  for (int r = 0; r < R; ++r) {
    dw3_store(s.wo, oy + static_cast<size_t>(r), 0, acc[r], bias, relu, y0, y1);
  }
}

// The rows of one stride-2 output plane (or pair of planes) in blocks of 7, 4, 2 and 1.
__attribute__((target("avx512f"))) void dw3s2_rows_plane(const TapShape& s, const float* buf,
                                                         const __m512* wt, __m512 bias,
                                                         bool relu, float* y0, float* y1) {
  size_t oy = 0;
  for (; oy + 7 <= s.ho; oy += 7) dw3s2_rows_store<7>(s, buf, oy, wt, bias, relu, y0, y1);
  if (s.ho - oy >= 4) {
    dw3s2_rows_store<4>(s, buf, oy, wt, bias, relu, y0, y1);
    oy += 4;
  }
  if (s.ho - oy >= 2) {
    dw3s2_rows_store<2>(s, buf, oy, wt, bias, relu, y0, y1);
    oy += 2;
  }
  if (oy < s.ho) dw3s2_rows_store<1>(s, buf, oy, wt, bias, relu, y0, y1);
}

// Channels [0, channels) through the padded rows (DepthwisePlan::rows_vectors), two at a time
// where rows_pair (an odd last channel in the low half, its high half zero and not stored).
__attribute__((target("avx512f"))) void dw3_rows_planes(const DepthwisePlan& p, size_t channels,
                                                        const float* w, const float* bias,
                                                        bool relu, const float* x, float* y) {
  const TapShape& s = p.s;
  const size_t J = p.rows_stride2 ? 2 : p.rows_vectors, S = 16 * J, in = s.h * s.w;
  // A zero vector, the zero row, h rows, the zero row, a zero vector; 64-byte aligned.
  const size_t floats = 16 + (s.h + 2) * S + 16;
  thread_local std::vector<float> storage;
  if (storage.size() < floats + 16) storage.assign(floats + 16, 0.f);
  float* buf = storage.data() + (16 - (reinterpret_cast<uintptr_t>(storage.data()) / 4) % 16) % 16;
  float* rows = buf + 16;  // buffer row 0: the zero row above the plane
  // The zero rows and vectors stay zero: only rows 1 .. h are written.
  std::fill(buf, buf + 16 + S, 0.f);
  std::fill(rows + (s.h + 1) * S, rows + (s.h + 2) * S + 16, 0.f);
  const size_t step = p.rows_pair ? 2 : 1;
  // The lanes of a row's vectors inside the plane (pair: the low half's).
  const auto m0 = static_cast<__mmask16>(s.w >= 16 ? 0xFFFFu : (1u << s.w) - 1);
  const auto m1 = static_cast<__mmask16>(s.w > 16 ? (1u << (s.w - 16)) - 1 : 0);
  // Stride 2: a row's even columns (lanes 0 .. ne - 1, or 0-7 and 8-15 for two channels) and
  // its odd ones, from its two vectors (or one per channel).
  const size_t ne = (s.w + 1) / 2, no = s.w / 2;
  __m512i even_index = _mm512_set1_epi32(0), odd_index = even_index;
  __mmask16 even_lanes = 0, odd_lanes = 0;
  if (p.rows_stride2) {
    alignas(64) int32_t ei[16], oi[16];
    for (int l = 0; l < 16; ++l) {
      const int c = p.rows_pair ? (l < 8 ? 2 * l : 16 + 2 * (l - 8)) : 2 * l;
      ei[l] = c;
      oi[l] = c + 1;
      const size_t k = p.rows_pair ? static_cast<size_t>(l % 8) : static_cast<size_t>(l);
      even_lanes = static_cast<__mmask16>(even_lanes | (k < ne ? 1u << l : 0u));
      odd_lanes = static_cast<__mmask16>(odd_lanes | (k < no ? 1u << l : 0u));
    }
    even_index = _mm512_load_si512(ei);
    odd_index = _mm512_load_si512(oi);
  }
  for (size_t c = 0; c < channels; c += step) {
    const bool two = p.rows_pair && c + 1 < channels;
    const float* xr = x + c * in;
    float* dst = rows + S;
    if (p.rows_stride2) {
      // Two channels: the second one's row in the second vector (all zero when there is none:
      // lanes 8-15 then hold zeros and are not stored).
      const auto lo = static_cast<__mmask16>(s.w >= 16 ? 0xFFFFu : (1u << s.w) - 1);
      const auto hi = static_cast<__mmask16>(
          p.rows_pair ? (two ? lo : 0) : (s.w > 16 ? (1u << (s.w - 16)) - 1 : 0));
      const size_t second = p.rows_pair ? in : 16;
      for (size_t r = 0; r < s.h; ++r, xr += s.w, dst += S) {
        const __m512 a = _mm512_maskz_loadu_ps(lo, xr), b = _mm512_maskz_loadu_ps(hi, xr + second);
        _mm512_store_ps(dst, _mm512_maskz_permutex2var_ps(even_lanes, a, even_index, b));
        _mm512_store_ps(dst + 16, _mm512_maskz_permutex2var_ps(odd_lanes, a, odd_index, b));
      }
    } else if (p.rows_pair) {
      const auto hi = static_cast<__mmask16>(two ? m0 << 8 : 0);
      for (size_t r = 0; r < s.h; ++r, xr += s.w, dst += S) {
        const __m512 v = _mm512_mask_loadu_ps(_mm512_maskz_loadu_ps(m0, xr), hi, xr + in - 8);
        _mm512_store_ps(dst, v);
      }
    } else if (J == 1) {
      for (size_t r = 0; r < s.h; ++r, xr += s.w, dst += S) {
        _mm512_store_ps(dst, _mm512_maskz_loadu_ps(m0, xr));
      }
    } else {
      for (size_t r = 0; r < s.h; ++r, xr += s.w, dst += S) {
        _mm512_store_ps(dst, _mm512_loadu_ps(xr));
        _mm512_store_ps(dst + 16, _mm512_maskz_loadu_ps(m1, xr + 16));
      }
    }
    __m512 wt[9];
    for (size_t t = 0; t < 9; ++t) {
      wt[t] = _mm512_set1_ps(w[c * 9 + t]);
      if (two) wt[t] = _mm512_mask_mov_ps(wt[t], 0xFF00, _mm512_set1_ps(w[(c + 1) * 9 + t]));
    }
    __m512 bv = _mm512_set1_ps(bias[c]);
    if (two) bv = _mm512_mask_mov_ps(bv, 0xFF00, _mm512_set1_ps(bias[c + 1]));
    const size_t out = s.ho * s.wo;
    float* y0 = y + c * out;
    float* y1 = two ? y0 + out : nullptr;
    if (p.rows_stride2) {
      dw3s2_rows_plane(s, rows, wt, bv, relu, y0, y1);
    } else if (J == 1) {
      dw3_rows_plane<1>(s, rows, wt, bv, relu, y0, y1);
    } else {
      dw3_rows_plane<2>(s, rows, wt, bv, relu, y0, y1);
    }
  }
}

// Lanes lo .. hi - 1 of 16 (clamped to the vector).
inline __mmask16 lane_range(long lo, long hi) {
  lo = std::max<long>(lo, 0);
  hi = std::min<long>(hi, 16);
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << (hi - lo)) - 1u) << lo);
}

// R output rows from oy0, 16 outputs from column ox0, horizontal stride S (1 or 2): tap (kh, kw)
// of lane j reads input column S (ox0 + j) + kw - pw of row sh oy + kh - ph, 0 outside the plane.
// For S = 2 the two vectors from column 2 ox0 + kw - pw, their even lanes. col, mlo, mhi: per kw,
// the first column and the in-plane lanes of the two vectors.
constexpr size_t kDwMaxKw = 8;
template <int S, int R>
__attribute__((target("avx512f"))) void dw_rows(const TapShape& s, size_t oy0, size_t ox0,
                                                const long* col, const __mmask16* mlo,
                                                const __mmask16* mhi, const float* w,
                                                __m512 bias, bool relu, const float* x,
                                                const float* zero, float* y) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28,
                                         30);
  __m512 acc[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const long h = static_cast<long>(s.h);
  for (size_t kh = 0; kh < s.kh; ++kh) {
    // A row outside the plane reads a row of zeros (zero: at least s.w + 2 * kDwMaxKw + 32
    // floats, read from kDwMaxKw on): the same w * 0 as a masked-off load, without a branch.
    const float* row[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const long iy = static_cast<long>(s.sh * (oy0 + static_cast<size_t>(r)) + kh) -
                      static_cast<long>(s.ph);
      row[r] = iy >= 0 && iy < h ? x + static_cast<size_t>(iy) * s.w : zero + kDwMaxKw;
    }
    for (size_t kw = 0; kw < s.kw; ++kw) {
      const __m512 wv = _mm512_set1_ps(w[kh * s.kw + kw]);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const float* p = row[r] + col[kw];
        __m512 xv;
        if (S == 1) {
          xv = _mm512_maskz_loadu_ps(mlo[kw], p);
        } else {
          const __m512 lo = _mm512_maskz_loadu_ps(mlo[kw], p);
          const __m512 hi = _mm512_maskz_loadu_ps(mhi[kw], p + 16);
          xv = _mm512_permutex2var_ps(lo, even, hi);
        }
        acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(wv, xv));
      }
    }
  }
  const auto m = static_cast<__mmask16>(s.wo - ox0 >= 16 ? 0xFFFFu : (1u << (s.wo - ox0)) - 1);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) dw_store(y + (oy0 + static_cast<size_t>(r)) * s.wo + ox0, m, acc[r], bias, relu);
}

template <int S>
__attribute__((target("avx512f"))) void dw_rows_plane(const TapShape& s, const float* w,
                                                      float bias, bool relu, const float* x,
                                                      const float* zero, float* y) {
  const __m512 bv = _mm512_set1_ps(bias);
  for (size_t ox0 = 0; ox0 < s.wo; ox0 += 16) {
    long col[kDwMaxKw];
    __mmask16 mlo[kDwMaxKw], mhi[kDwMaxKw];
    const long wi = static_cast<long>(s.w);
    for (size_t kw = 0; kw < s.kw; ++kw) {
      col[kw] = static_cast<long>(S * ox0 + kw) - static_cast<long>(s.pw);
      mlo[kw] = lane_range(-col[kw], wi - col[kw]);
      mhi[kw] = lane_range(-col[kw] - 16, wi - col[kw] - 16);
    }
    size_t oy = 0;
    for (; oy + 4 <= s.ho; oy += 4) dw_rows<S, 4>(s, oy, ox0, col, mlo, mhi, w, bv, relu, x, zero, y);
    switch (s.ho - oy) {
      case 3: dw_rows<S, 3>(s, oy, ox0, col, mlo, mhi, w, bv, relu, x, zero, y); break;
      case 2: dw_rows<S, 2>(s, oy, ox0, col, mlo, mhi, w, bv, relu, x, zero, y); break;
      case 1: dw_rows<S, 1>(s, oy, ox0, col, mlo, mhi, w, bv, relu, x, zero, y); break;
      default: break;
    }
  }
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
    if (m % 16 == 0) {
      p.by_k.resize(m * k);
      for (size_t r = 0; r < m; ++r) {
        for (size_t kk = 0; kk < k; ++kk) p.by_k[kk * m + r] = a[r * lda + kk];
      }
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

namespace {

// The flat plans' masks (the depthwise planes, fp32_conv_masked): lane q % 16 of vector q / 16,
// tap t = kh * kw_count + kw, is set where output q = oy * wo + ox reads input
// (sh oy + kh - ph, sw ox + kw - pw) inside the plane.
std::vector<uint16_t> flat_masks(const TapShape& s) {
  const size_t taps = s.kh * s.kw, n = s.ho * s.wo;
  std::vector<uint16_t> masks(((n + 15) / 16) * taps, 0);
  for (size_t q = 0; q < n; ++q) {
    for (size_t kh = 0; kh < s.kh; ++kh) {
      const long iy = static_cast<long>(s.sh * (q / s.wo) + kh) - static_cast<long>(s.ph);
      if (iy < 0 || iy >= static_cast<long>(s.h)) continue;
      for (size_t kw = 0; kw < s.kw; ++kw) {
        const long ix = static_cast<long>(s.sw * (q % s.wo) + kw) - static_cast<long>(s.pw);
        if (ix < 0 || ix >= static_cast<long>(s.w)) continue;
        uint16_t& m = masks[(q / 16) * taps + kh * s.kw + kw];
        m = static_cast<uint16_t>(m | (1u << (q % 16)));
      }
    }
  }
  return masks;
}

}  // namespace

#ifdef LBFP_FP32_AVX512
namespace {
// The tiles' store of out's planes.
PlaneStore plane_store(const PlaneOut& out) {
  return {out.y, out.plane, out.bias, out.relu, out.map->valid.data(), out.map->start.data()};
}
}  // namespace
#endif

void fp32_conv_packed(const PackedA& a, const float* x, const int32_t* off, const PlaneOut& out) {
  const size_t n = out.map->n;
#ifdef LBFP_FP32_AVX512
  if (has_avx512() && !a.by_k.empty() && out.map->wq == out.map->w && n % 48 > 0 &&
      n % 48 <= 7) {
    // A plane of 48 t + 1 .. 7 outputs, none dropped (a 7 x 7 plane is 48 + 1): the 48-column
    // tiles, then the last few pixels with the output channels in the lanes, instead of a tile
    // of one vector that would compute 16 columns for them. Each output the same fma chain.
    const size_t n48 = n - n % 48;
    gemm_offsets_packed_avx512(a, n48, x, off, plane_store(out));
    uint32_t cols[7];
    for (size_t i = 0; i < n % 48; ++i) cols[i] = static_cast<uint32_t>(n48 + i);
    conv_channels_any(a, x, off, cols, n % 48, n48, out, nullptr);
    return;
  }
  if (has_avx512()) {
    gemm_offsets_packed_avx512(a, n, x, off, plane_store(out));
    return;
  }
#endif
  std::vector<float> sums(a.m * n);
  fp32_gemm_offsets_portable(a.m, n, a.k, a.a, a.lda, x, off, sums.data(), n);
  plane_from_sums(sums, a.m, out);
}

bool fp32_conv_masked_ok(const TapShape& s, size_t channels) {
#ifdef LBFP_FP32_AVX512
  return has_avx512() && s.sh == 1 && s.sw == 1 && s.wo == s.w && s.ho > 0 && s.w > 0 &&
         s.kh > 0 && s.kw > 0 && s.kh * s.kw <= UINT16_MAX &&
         (channels + 1) * s.h * s.w + s.ho * s.w + 16 < INT32_MAX;
#else
  (void)s, (void)channels;
  return false;
#endif
}

MaskedTaps fp32_masked_taps(const TapShape& s, size_t channels) {
  MaskedTaps t;
  t.n = s.ho * s.wo;
  t.taps = s.kh * s.kw;
  t.off.resize(channels * t.taps);
  t.tap.resize(channels * t.taps);
  for (size_t c = 0; c < channels; ++c) {
    for (size_t kh = 0; kh < s.kh; ++kh) {
      for (size_t kw = 0; kw < s.kw; ++kw) {
        const size_t k = (c * s.kh + kh) * s.kw + kw;
        t.off[k] = static_cast<int32_t>(
            static_cast<long>(c * s.h * s.w) +
            (static_cast<long>(kh) - static_cast<long>(s.ph)) * static_cast<long>(s.w) +
            static_cast<long>(kw) - static_cast<long>(s.pw));
        t.tap[k] = static_cast<uint16_t>(kh * s.kw + kw);
      }
    }
  }
  t.masks = flat_masks(s);
  return t;
}

void fp32_conv_masked(const PackedA& a, const float* x, const MaskedTaps& t,
                      const PlaneOut& out) {
#ifdef LBFP_FP32_AVX512
  const MaskedRows rows{x, t.off.data(), t.tap.data(), t.masks.data(), t.taps};
  const PlaneStore st = plane_store(out);
  for (size_t i = 0; i < a.m; i += kRows) {
    row_block_any(std::min(kRows, a.m - i), t.n, a.k, a.blocks.data() + i * a.k, rows,
                  st.rows(i));
  }
#else
  (void)a, (void)x, (void)t, (void)out;
#endif
}

void fp32_taps_plane(size_t taps, const float* w, const float* x, const int32_t* off,
                     const PlaneOut& out) {
  const size_t n = out.map->n;
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    taps_avx512(n, taps, w, x, off, plane_store(out));
    return;
  }
#endif
  std::vector<float> sums(n);
  fp32_taps_portable(n, taps, w, x, off, sums.data());
  plane_from_sums(sums, 1, out);
}

bool fp32_conv_channels_ok(const PackedA& a) { return !a.by_k.empty(); }

std::vector<uint32_t> fp32_kept_columns(const PlaneMap& map) {
  std::vector<uint32_t> cols;
  for (size_t q = 0; q < map.n; ++q) {
    if (q % map.wq < map.w) cols.push_back(static_cast<uint32_t>(q));
  }
  return cols;
}

bool fp32_conv_rows_ok(const PackedA& a, const TapShape& s) {
#ifdef LBFP_FP32_AVX512
  if (!has_avx512() || s.kw != 3 || s.kh == 0 || a.k % (s.kh * 3) != 0) return false;
  const size_t v = s.wo == 7 ? 4 : s.wo == 14 ? 2 : s.wo == 28 ? 1 : 0;
  if (v == 0 || a.m % (16 * v) != 0) return false;
  // Pixel 1's kw = 0 column and pixel wo - 2's kw = 2 column inside the input.
  return s.pw <= s.sw && (s.wo - 2) * s.sw + 2 < s.w + s.pw;
#else
  (void)a, (void)s;
  return false;
#endif
}

void fp32_conv_rows(const PackedA& a, const float* x, const int32_t* off, const PlaneOut& out,
                    const TapShape& s, size_t pitch, size_t step, bool skip) {
#ifdef LBFP_FP32_AVX512
  if (s.wo == 7) {
    if (step == 2) {
      conv_rows_pv<7, 4, 2>(a, x, off, out, s, pitch, skip);
    } else {
      conv_rows_pv<7, 4, 1>(a, x, off, out, s, pitch, skip);
    }
  } else if (s.wo == 14) {
    if (step == 2) {
      conv_rows_pv<14, 2, 2>(a, x, off, out, s, pitch, skip);
    } else {
      conv_rows_pv<14, 2, 1>(a, x, off, out, s, pitch, skip);
    }
  } else {
    conv_rows_pv<28, 1, 1>(a, x, off, out, s, pitch, skip);
  }
#else
  (void)a, (void)x, (void)off, (void)out, (void)s, (void)pitch, (void)step, (void)skip;
#endif
}

void fp32_conv_channels(const PackedA& a, const float* x, const int32_t* off,
                        const std::vector<uint32_t>& cols, const PlaneOut& out,
                        const TapShape* skip_rows) {
#ifdef LBFP_FP32_AVX512
  conv_channels_any(a, x, off, cols.data(), cols.size(), 0, out, skip_rows);
#else
  (void)a, (void)x, (void)off, (void)cols, (void)out, (void)skip_rows;
#endif
}

#ifdef LBFP_FP32_AVX512
namespace {

// Tap offset d = k - pad of a stride-2 axis as (phase, shift): d = 2 shift + phase.
std::pair<size_t, long> phase_shift(size_t k, size_t pad) {
  const long d = static_cast<long>(k) - static_cast<long>(pad);
  const long ph = ((d % 2) + 2) % 2;
  return {static_cast<size_t>(ph), (d - ph) / 2};
}

// Stride 2: the four phases of a plane into the buffer (from p.phase_base, rows wo floats
// apart): the even and odd lanes of 32 floats of an input row, one pass per row, each chunk's
// masks from the plan (p.fill).
__attribute__((target("avx512f"))) void dw_fill_phases(const DepthwisePlan& p, const float* x,
                                                       float* buf) {
  const TapShape& s = p.s;
  for (size_t iy = 0; iy < s.h; ++iy) {
    split_row_avx512(x + iy * s.w, p.fill.data(), p.fill.size(),
                     buf + p.phase_base[2 * (iy & 1)] + (iy >> 1) * s.wo,
                     buf + p.phase_base[2 * (iy & 1) + 1] + (iy >> 1) * s.wo);
  }
}

}  // namespace
#endif

DepthwisePlan fp32_depthwise_plan(const TapShape& s) {
  DepthwisePlan p;
  p.s = s;
#ifdef LBFP_FP32_AVX512
  if (!has_avx512() || s.ho == 0 || s.wo == 0 || s.kh == 0 || s.kw == 0) return p;
  const size_t taps = s.kh * s.kw, n = s.ho * s.wo;
  if (s.kh == 3 && s.kw == 3 && s.sh == 1 && s.sw == 1 && s.ph == 1 && s.pw == 1 &&
      s.ho == s.h && s.wo == s.w && s.w <= 31 && s.w != 16) {
    p.rows_vectors = s.w <= 16 ? 1 : 2;
    p.rows_pair = s.w <= 7;
    p.direct = true;
    return p;
  }
  if (s.kh == 3 && s.kw == 3 && s.sh == 2 && s.sw == 2 && s.ph == 1 && s.pw == 1 &&
      s.ho == (s.h - 1) / 2 + 1 && s.wo == (s.w - 1) / 2 + 1 && s.w <= 32) {
    p.rows_vectors = 1;
    p.rows_pair = s.w <= 14;
    p.rows_stride2 = true;
    p.direct = true;
    return p;
  }
  if (s.sh == 1 && s.sw == 1 && s.wo == s.w) {
    // Flat: output q = oy * w + ox, its tap (kh, kw) input q + (kh - ph) w + kw - pw.
    p.off.resize(taps);
    for (size_t kh = 0; kh < s.kh; ++kh) {
      for (size_t kw = 0; kw < s.kw; ++kw) {
        p.off[kh * s.kw + kw] = static_cast<int32_t>(
            (static_cast<long>(kh) - static_cast<long>(s.ph)) * static_cast<long>(s.w) +
            static_cast<long>(kw) - static_cast<long>(s.pw));
      }
    }
    p.masks = flat_masks(s);
    p.direct = s.h * s.w < static_cast<size_t>(INT32_MAX);
    return p;
  }
  if (s.sh == 2 && s.sw == 2 && s.kw <= s.pw + 2) {
    // Flat over the phases: tap (kh, kw) of output q = oy * wo + ox reads phase (py, px) at row
    // oy + sy, column ox + sx (kh - ph = 2 sy + py, kw - pw = 2 sx + px), so q + sy wo + sx
    // from the phase's start. sx <= 0 (kw <= pw + 2): a column read inside the plane is below
    // wo, so wo floats per phase row never make two reads meet.
    const size_t rows = (s.h + 1) / 2, vectors = (n + 15) / 16;
    const long wo = static_cast<long>(s.wo);
    std::vector<long> raw(taps);
    long lo = 0, hi = 0;
    for (size_t kh = 0; kh < s.kh; ++kh) {
      const auto [py, sy] = phase_shift(kh, s.ph);
      for (size_t kw = 0; kw < s.kw; ++kw) {
        const auto [px, sx] = phase_shift(kw, s.pw);
        const long r = static_cast<long>((2 * py + px) * rows * s.wo) + sy * wo + sx;
        raw[kh * s.kw + kw] = r;
        lo = std::min(lo, r);
        hi = std::max(hi, r);
      }
    }
    const size_t margin = static_cast<size_t>(-lo);  // no read before the buffer
    p.phase_floats = margin + std::max(static_cast<size_t>(hi) + 16 * vectors, 4 * rows * s.wo);
    if (p.phase_floats >= static_cast<size_t>(INT32_MAX)) return p;
    for (size_t i = 0; i < 4; ++i) p.phase_base[i] = margin + i * rows * s.wo;
    size_t cols[2];
    for (size_t px = 0; px < 2; ++px) cols[px] = std::min((s.w - px + 1) / 2, s.wo);
    // Chunk c: phase columns 16 c .., input columns 32 c ..; n0 / n1 even / odd columns kept.
    for (size_t c = 0; 16 * c < std::max(cols[0], cols[1]); ++c) {
      p.fill.push_back(split_masks(std::min<size_t>(16, cols[0] > 16 * c ? cols[0] - 16 * c : 0),
                                   std::min<size_t>(16, cols[1] > 16 * c ? cols[1] - 16 * c : 0)));
    }
    p.off.resize(taps);
    for (size_t t = 0; t < taps; ++t) {
      p.off[t] = static_cast<int32_t>(raw[t] + static_cast<long>(margin));
    }
    p.masks = flat_masks(s);
    p.phases = true;
    p.direct = true;
    return p;
  }
  p.direct = (s.sw == 1 || s.sw == 2) && s.kw <= kDwMaxKw;
#endif
  return p;
}

void fp32_depthwise_planes(const DepthwisePlan& p, size_t channels, const float* w,
                           const float* bias, bool relu, const float* x, float* y) {
#ifdef LBFP_FP32_AVX512
  const TapShape& s = p.s;
  const size_t in = s.h * s.w, out = s.ho * s.wo, taps = s.kh * s.kw;
  thread_local std::vector<float> zero;
  if (zero.size() < s.w + 2 * kDwMaxKw + 32) zero.assign(s.w + 2 * kDwMaxKw + 32, 0.f);
  if (p.rows_vectors) {
    dw3_rows_planes(p, channels, w, bias, relu, x, y);
    return;
  }
  thread_local std::vector<float> phases;
  if (phases.size() < p.phase_floats) phases.resize(p.phase_floats);
  for (size_t c = 0; c < channels; ++c) {
    const float* xc = x + c * in;
    float* yc = y + c * out;
    if (p.phases) {
      dw_fill_phases(p, xc, phases.data());
      dw_flat_plane(p, w + c * taps, bias[c], relu, phases.data(), yc);
    } else if (!p.masks.empty()) {
      dw_flat_plane(p, w + c * taps, bias[c], relu, xc, yc);
    } else if (s.sw == 1) {
      dw_rows_plane<1>(s, w + c * taps, bias[c], relu, xc, zero.data(), yc);
    } else {
      dw_rows_plane<2>(s, w + c * taps, bias[c], relu, xc, zero.data(), yc);
    }
  }
#else
  (void)p, (void)channels, (void)w, (void)bias, (void)relu, (void)x, (void)y;
#endif
}

void fp32_fill_phases(const PhaseFill& f, const float* x, float* buf) {
#ifdef LBFP_FP32_AVX512
  if ((f.sw == 1 || f.sw == 2) && has_avx512()) {
    fill_phases_avx512(f, x, buf);
    return;
  }
#endif
  // Column rx of phase px is padded column rx * sw + px, input column that - pw: the columns rx
  // in [first, end) are inside the input.
  for (size_t ch = 0; ch < f.c; ++ch) {
    size_t py = f.ph % f.sh, ry = f.ph / f.sh;  // of input row iy = 0
    for (size_t iy = 0; iy < f.h; ++iy) {
      const float* xr = x + (ch * f.h + iy) * f.w;
      float* row = buf + ch * f.channel + py * f.sw * f.plane + ry * f.wq;
      if (f.sw == 1) {
        std::copy(xr, xr + f.w, row + f.pw);
      } else {
        for (size_t px = 0; px < f.sw; ++px) {
          const size_t first = px >= f.pw ? 0 : (f.pw - px + f.sw - 1) / f.sw;
          const size_t end = std::min(f.wq, (f.w + f.pw - px + f.sw - 1) / f.sw);
          if (first < end) {
            fp32_gather(xr + first * f.sw + px - f.pw, end - first, f.sw,
                        row + px * f.plane + first);
          }
        }
      }
      if (++py == f.sh) {
        py = 0;
        ++ry;
      }
    }
  }
}

bool fp32_max_pool_ok(const PoolShape& s) {
#ifdef LBFP_FP32_AVX512
  return has_avx512() && (s.sw == 1 || s.sw == 2) && s.ho > 0 && s.wo > 0 && s.kh > 0 &&
         s.kw > 0 && (s.ho - 1) * s.sh + s.kh <= s.h && (s.wo - 1) * s.sw + s.kw <= s.w;
#else
  (void)s;
  return false;
#endif
}

void fp32_max_pool_planes(const PoolShape& s, size_t planes, const float* x, float* y) {
#ifdef LBFP_FP32_AVX512
  if (s.sw == 1) {
    max_pool_avx512<1>(s, planes, x, y);
  } else {
    max_pool_avx512<2>(s, planes, x, y);
  }
#else
  (void)s, (void)planes, (void)x, (void)y;
#endif
}

void fp32_add(const float* a, const float* b, size_t count, bool relu, float* y) {
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) {
    add_avx512(a, b, count, relu, y);
    return;
  }
#endif
  for (size_t i = 0; i < count; ++i) {
    const float v = a[i] + b[i];
    y[i] = relu && v < 0.f ? 0.f : v;
  }
}

bool fp32_any_not_finite(const float* v, size_t count) {
#ifdef LBFP_FP32_AVX512
  if (has_avx512()) return any_not_finite_avx512(v, count);
#endif
  // The exponent bits all ones, OR-ed without a branch per element.
  uint32_t not_finite = 0;
  for (size_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, v + i, sizeof(bits));
    not_finite |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
  }
  return not_finite != 0;
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
