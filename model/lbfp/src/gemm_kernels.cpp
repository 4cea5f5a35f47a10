// The sum kernels of the GEMM (see gemm_kernels.h for the factorisation they rely on).
//
// The vector kernels are compiled for their instruction sets with function target attributes
// instead of per-file flags, so that no inline function of a shared header is ever emitted with
// AVX-512 instructions and picked by the linker for code that runs on any CPU. Each is called only
// after the run-time CPU check in cpu_has_avx2 / cpu_has_avx512.
//
// Blocking (GotoBLAS order): the k range is cut into slices of kKc; per slice, the B panel of
// the caller's column range is packed once (8 bytes per LBFP element, 1 byte per BFP element), the
// A slice is packed into row blocks of kMr, and the micro-kernel runs over every (column panel,
// row block) pair, the panel's slice staying in L1/L2 while all row blocks stream past it.
#include "gemm_kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace lbfp::detail {
namespace {

size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

// Adds (or stores, on the first k slice) a micro-tile computed into `tile` (kMr x kNr int32,
// row stride kNr) into C, clipped to the valid rows and columns. Wrapping adds in uint32.
void merge_tile(const int32_t* tile, size_t tile_cols, size_t rows, size_t cols, bool first,
                int32_t* c, size_t ldc) {
  for (size_t i = 0; i < rows; ++i) {
    int32_t* crow = c + i * ldc;
    const int32_t* trow = tile + i * tile_cols;
    if (first) {
      std::memcpy(crow, trow, cols * sizeof(int32_t));
    } else {
      for (size_t j = 0; j < cols; ++j) {
        crow[j] = static_cast<int32_t>(static_cast<uint32_t>(crow[j]) +
                                       static_cast<uint32_t>(trow[j]));
      }
    }
  }
}

// 64-byte aligned scratch, reused across calls on the same thread (a fresh allocation per call
// costs page faults comparable to a small GEMM). `slot` keeps the buffers of one call apart.
struct Scratch {
  Scratch(size_t bytes, int slot) {
    thread_local std::vector<unsigned char> buffers[4];
    auto& buffer = buffers[slot];
    if (buffer.size() < bytes + 64) buffer.resize(bytes + 64);
    auto address = reinterpret_cast<uintptr_t>(buffer.data());
    data = buffer.data() + ((64 - address % 64) % 64);
  }
  unsigned char* data;
};

}  // namespace

// ---- portable ----------------------------------------------------------------------------------

void lbfp_sums_portable(const LbfpKernelTables& tables, const SumBlock& blk) {
  std::vector<uint32_t> row(blk.n);
  for (size_t i = 0; i < blk.m; ++i) {
    std::fill(row.begin(), row.end(), 0u);
    for (size_t k = 0; k < blk.k; ++k) {
      const int32_t* values = tables.a_values[blk.a[i * blk.lda + k]];
      const Code* brow = blk.b + k * blk.ldb;
      for (size_t j = 0; j < blk.n; ++j) {
        const Code code = brow[j];
        const int32_t v = values[tables.b_index8[code] & 15];
        row[j] += static_cast<uint32_t>(v * tables.b_scale[code]);  // |v Y| < 2^24
      }
    }
    for (size_t j = 0; j < blk.n; ++j) blk.c[i * blk.ldc + j] = static_cast<int32_t>(row[j]);
  }
}

void bfp_sums_portable(const BfpKernelTables& tables, const SumBlock& blk) {
  std::vector<uint32_t> row(blk.n);
  for (size_t i = 0; i < blk.m; ++i) {
    std::fill(row.begin(), row.end(), 0u);
    for (size_t k = 0; k < blk.k; ++k) {
      const int32_t a = tables.mantissa[blk.a[i * blk.lda + k]];
      if (a == 0) continue;
      const Code* brow = blk.b + k * blk.ldb;
      for (size_t j = 0; j < blk.n; ++j) {
        row[j] += static_cast<uint32_t>(a * tables.mantissa[brow[j]]);
      }
    }
    for (size_t j = 0; j < blk.n; ++j) blk.c[i * blk.ldc + j] = static_cast<int32_t>(row[j]);
  }
}

// ---- CPU detection ------------------------------------------------------------------------------

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

// ---- AVX2 ---------------------------------------------------------------------------------------
// LBFP: int32 lanes. V_a[fb] comes from two vpermd (entries 0-7 and 8-15) and a blend on bit 3
// of fb (kept in the index's sign bit), times Y_b with vpmulld (|V Y| < 2^24), added.
// BFP: int16 pairs (k, k+1) through vpmaddwd (no saturation, unlike vpmaddubsw).

namespace {
constexpr size_t kAvx2Mr = 4;
constexpr size_t kAvx2Nr = 16;
constexpr size_t kAvx2LbfpKc = 128;
constexpr size_t kAvx2BfpKc = 256;  // k pairs: 128

__attribute__((target("avx2"))) void lbfp_micro_avx2(size_t kc, const uint8_t* ap,
                                                      const int32_t* bp,
                                                      const LbfpKernelTables& tables,
                                                      int32_t* tile) {
  __m256i acc[kAvx2Mr][2];
  for (auto& r : acc) r[0] = r[1] = _mm256_setzero_si256();
  for (size_t kk = 0; kk < kc; ++kk) {
    const int32_t* bk = bp + kk * 2 * kAvx2Nr;
    const __m256i idx0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bk));
    const __m256i idx1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bk + 8));
    const __m256i y0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bk + 16));
    const __m256i y1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bk + 24));
    for (size_t r = 0; r < kAvx2Mr; ++r) {
      const int32_t* values = tables.a_values[ap[kk * kAvx2Mr + r]];
      const __m256i lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(values));
      const __m256i hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(values + 8));
      const __m256 v0 = _mm256_blendv_ps(
          _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(lo, idx0)),
          _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(hi, idx0)), _mm256_castsi256_ps(idx0));
      const __m256 v1 = _mm256_blendv_ps(
          _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(lo, idx1)),
          _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(hi, idx1)), _mm256_castsi256_ps(idx1));
      acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_mullo_epi32(_mm256_castps_si256(v0), y0));
      acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_mullo_epi32(_mm256_castps_si256(v1), y1));
    }
  }
  for (size_t r = 0; r < kAvx2Mr; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * kAvx2Nr), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * kAvx2Nr + 8), acc[r][1]);
  }
}

__attribute__((target("avx2"))) void bfp_micro_avx2(size_t kpairs, const int32_t* ap,
                                                     const int32_t* bp, int32_t* tile) {
  __m256i acc[kAvx2Mr][2];
  for (auto& r : acc) r[0] = r[1] = _mm256_setzero_si256();
  for (size_t kk = 0; kk < kpairs; ++kk) {
    const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(bp + kk * kAvx2Nr));
    const __m256i b1 =
        _mm256_load_si256(reinterpret_cast<const __m256i*>(bp + kk * kAvx2Nr + 8));
    for (size_t r = 0; r < kAvx2Mr; ++r) {
      const __m256i a = _mm256_set1_epi32(ap[kk * kAvx2Mr + r]);
      acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(a, b0));
      acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(a, b1));
    }
  }
  for (size_t r = 0; r < kAvx2Mr; ++r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * kAvx2Nr), acc[r][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tile + r * kAvx2Nr + 8), acc[r][1]);
  }
}
}  // namespace

void lbfp_sums_avx2(const LbfpKernelTables& tables, const SumBlock& blk) {
  const size_t panels = round_up(blk.n, kAvx2Nr) / kAvx2Nr;
  const size_t blocks = round_up(blk.m, kAvx2Mr) / kAvx2Mr;
  Scratch bpack(kAvx2LbfpKc * panels * 2 * kAvx2Nr * sizeof(int32_t), 0);
  Scratch apack(kAvx2LbfpKc * blocks * kAvx2Mr, 1);
  alignas(64) int32_t tile[kAvx2Mr * kAvx2Nr];
  for (size_t p0 = 0; p0 < blk.k; p0 += kAvx2LbfpKc) {
    const size_t kc = std::min(kAvx2LbfpKc, blk.k - p0);
    auto* bp = reinterpret_cast<int32_t*>(bpack.data);
    for (size_t jp = 0; jp < panels; ++jp) {
      for (size_t kk = 0; kk < kc; ++kk) {
        int32_t* dst = bp + (jp * kc + kk) * 2 * kAvx2Nr;
        for (size_t c = 0; c < kAvx2Nr; ++c) {
          const size_t j = jp * kAvx2Nr + c;
          const Code code = j < blk.n ? blk.b[(p0 + kk) * blk.ldb + j] : Code{0};
          dst[c] = tables.b_index8[code];
          dst[kAvx2Nr + c] = tables.b_scale[code];
        }
      }
    }
    uint8_t* ap = apack.data;
    for (size_t ib = 0; ib < blocks; ++ib) {
      for (size_t kk = 0; kk < kc; ++kk) {
        for (size_t r = 0; r < kAvx2Mr; ++r) {
          const size_t i = ib * kAvx2Mr + r;
          ap[(ib * kc + kk) * kAvx2Mr + r] = i < blk.m ? blk.a[i * blk.lda + p0 + kk] : Code{0};
        }
      }
    }
    for (size_t jp = 0; jp < panels; ++jp) {
      for (size_t ib = 0; ib < blocks; ++ib) {
        lbfp_micro_avx2(kc, ap + ib * kc * kAvx2Mr, bp + jp * kc * 2 * kAvx2Nr, tables, tile);
        const size_t rows = std::min(kAvx2Mr, blk.m - ib * kAvx2Mr);
        const size_t cols = std::min(kAvx2Nr, blk.n - jp * kAvx2Nr);
        merge_tile(tile, kAvx2Nr, rows, cols, p0 == 0,
                   blk.c + ib * kAvx2Mr * blk.ldc + jp * kAvx2Nr, blk.ldc);
      }
    }
  }
}

void bfp_sums_avx2(const BfpKernelTables& tables, const SumBlock& blk) {
  const size_t panels = round_up(blk.n, kAvx2Nr) / kAvx2Nr;
  const size_t blocks = round_up(blk.m, kAvx2Mr) / kAvx2Mr;
  const size_t max_pairs = kAvx2BfpKc / 2;
  Scratch bpack(max_pairs * panels * kAvx2Nr * sizeof(int32_t), 0);
  Scratch apack(max_pairs * blocks * kAvx2Mr * sizeof(int32_t), 1);
  alignas(64) int32_t tile[kAvx2Mr * kAvx2Nr];
  auto pair = [](int lo, int hi) {
    return static_cast<int32_t>((static_cast<uint32_t>(hi) << 16) |
                                (static_cast<uint32_t>(lo) & 0xffffu));
  };
  for (size_t p0 = 0; p0 < blk.k; p0 += kAvx2BfpKc) {
    const size_t kc = std::min(kAvx2BfpKc, blk.k - p0);
    const size_t kp = (kc + 1) / 2;
    auto mant_b = [&](size_t kk, size_t j) -> int {
      return (kk < kc && j < blk.n) ? tables.mantissa[blk.b[(p0 + kk) * blk.ldb + j]] : 0;
    };
    auto mant_a = [&](size_t i, size_t kk) -> int {
      return (kk < kc && i < blk.m) ? tables.mantissa[blk.a[i * blk.lda + p0 + kk]] : 0;
    };
    auto* bp = reinterpret_cast<int32_t*>(bpack.data);
    for (size_t jp = 0; jp < panels; ++jp) {
      for (size_t kk = 0; kk < kp; ++kk) {
        for (size_t c = 0; c < kAvx2Nr; ++c) {
          const size_t j = jp * kAvx2Nr + c;
          bp[(jp * kp + kk) * kAvx2Nr + c] = pair(mant_b(2 * kk, j), mant_b(2 * kk + 1, j));
        }
      }
    }
    auto* ap = reinterpret_cast<int32_t*>(apack.data);
    for (size_t ib = 0; ib < blocks; ++ib) {
      for (size_t kk = 0; kk < kp; ++kk) {
        for (size_t r = 0; r < kAvx2Mr; ++r) {
          const size_t i = ib * kAvx2Mr + r;
          ap[(ib * kp + kk) * kAvx2Mr + r] = pair(mant_a(i, 2 * kk), mant_a(i, 2 * kk + 1));
        }
      }
    }
    for (size_t jp = 0; jp < panels; ++jp) {
      for (size_t ib = 0; ib < blocks; ++ib) {
        bfp_micro_avx2(kp, ap + ib * kp * kAvx2Mr, bp + jp * kp * kAvx2Nr, tile);
        const size_t rows = std::min(kAvx2Mr, blk.m - ib * kAvx2Mr);
        const size_t cols = std::min(kAvx2Nr, blk.n - jp * kAvx2Nr);
        merge_tile(tile, kAvx2Nr, rows, cols, p0 == 0,
                   blk.c + ib * kAvx2Mr * blk.ldc + jp * kAvx2Nr, blk.ldc);
      }
    }
  }
}

// ---- AVX-512 ------------------------------------------------------------------------------------
// LBFP: per k, the B panel holds 4 zmm of word-pair indices (2 fb, 2 fb + 1) and 4 zmm of word
// pairs (Y, 128 Y) for 64 columns; per row, one 64-byte table a_pairs[code] is loaded, vpermw
// picks (lo, hi) of V_a[fb] for 32 words = 16 columns, and vpdpwssd adds lo Y + hi 128 Y = V Y.
// BFP: vpdpbusd multiplies 4 unsigned bytes of B (mantissa + 128) by 4 signed bytes of A
// (broadcast) per int32 lane: sum a (b + 128) = sum a b + 128 sum a; the caller's row correction
// removes 128 sum a (all mod 2^32).

namespace {
constexpr size_t kLbfpMr = 4;
constexpr size_t kLbfpNr = 64;
constexpr size_t kLbfpKc = 64;
constexpr size_t kBfpMr = 6;
constexpr size_t kBfpNr = 64;
constexpr size_t kBfpKc = 512;  // k quads: 128

#define LBFP_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

// Per k pair: 4 zmm of vpermw indices (fb_k, 16 + fb_k+1) and 4 zmm of (Yb_k, Yb_k+1) for 64
// columns; per row and k pair: the offset of its H pair table and the (Ya_k, Ya_k+1) pair.
struct LbfpPackedA {
  uint32_t table_offset;  // in int16 units
  int32_t ya_pair;
};

// Written out with named accumulators: with arrays GCC keeps them on the stack.
#define LBFP_ACC4(r) __m512i c##r##0, c##r##1, c##r##2, c##r##3
#define LBFP_LOAD4(r)                                                                  \
  c##r##0 = accumulate ? _mm512_loadu_si512(out + r * ldo) : _mm512_setzero_si512();      \
  c##r##1 = accumulate ? _mm512_loadu_si512(out + r * ldo + 16) : _mm512_setzero_si512(); \
  c##r##2 = accumulate ? _mm512_loadu_si512(out + r * ldo + 32) : _mm512_setzero_si512(); \
  c##r##3 = accumulate ? _mm512_loadu_si512(out + r * ldo + 48) : _mm512_setzero_si512()
#define LBFP_STORE4(r)                             \
  _mm512_storeu_si512(out + r * ldo, c##r##0);      \
  _mm512_storeu_si512(out + r * ldo + 16, c##r##1); \
  _mm512_storeu_si512(out + r * ldo + 32, c##r##2); \
  _mm512_storeu_si512(out + r * ldo + 48, c##r##3)
#define LBFP_ROW(r)                                                                             \
  {                                                                                             \
    const __m512i table = _mm512_load_si512(pair_h + ak[r].table_offset);                      \
    const __m512i ya = _mm512_set1_epi32(ak[r].ya_pair);                                        \
    c##r##0 = _mm512_dpwssd_epi32(c##r##0, _mm512_permutexvar_epi16(i0, table),                \
                                  _mm512_mullo_epi16(ya, y0));                                  \
    c##r##1 = _mm512_dpwssd_epi32(c##r##1, _mm512_permutexvar_epi16(i1, table),                \
                                  _mm512_mullo_epi16(ya, y1));                                  \
    c##r##2 = _mm512_dpwssd_epi32(c##r##2, _mm512_permutexvar_epi16(i2, table),                \
                                  _mm512_mullo_epi16(ya, y2));                                  \
    c##r##3 = _mm512_dpwssd_epi32(c##r##3, _mm512_permutexvar_epi16(i3, table),                \
                                  _mm512_mullo_epi16(ya, y3));                                  \
  }

LBFP_AVX512_TARGET void lbfp_micro_avx512(size_t kpairs, const LbfpPackedA* ap,
                                          const uint32_t* bp, const int16_t* pair_h,
                                          int32_t* out, size_t ldo, bool accumulate) {
  static_assert(kLbfpMr == 4 && kLbfpNr == 64, "the micro-kernel is written out for 4 x 64");
  LBFP_ACC4(0);
  LBFP_ACC4(1);
  LBFP_ACC4(2);
  LBFP_ACC4(3);
  LBFP_LOAD4(0);
  LBFP_LOAD4(1);
  LBFP_LOAD4(2);
  LBFP_LOAD4(3);
  for (size_t kk = 0; kk < kpairs; ++kk) {
    const uint32_t* bk = bp + kk * 2 * kLbfpNr;
    const __m512i i0 = _mm512_load_si512(bk);
    const __m512i i1 = _mm512_load_si512(bk + 16);
    const __m512i i2 = _mm512_load_si512(bk + 32);
    const __m512i i3 = _mm512_load_si512(bk + 48);
    const __m512i y0 = _mm512_load_si512(bk + 64);
    const __m512i y1 = _mm512_load_si512(bk + 80);
    const __m512i y2 = _mm512_load_si512(bk + 96);
    const __m512i y3 = _mm512_load_si512(bk + 112);
    const LbfpPackedA* ak = ap + kk * kLbfpMr;
    LBFP_ROW(0)
    LBFP_ROW(1)
    LBFP_ROW(2)
    LBFP_ROW(3)
  }
  LBFP_STORE4(0);
  LBFP_STORE4(1);
  LBFP_STORE4(2);
  LBFP_STORE4(3);
}

#define BFP_ROW(r)                                          \
  {                                                         \
    const __m512i a = _mm512_set1_epi32(ak[r]);             \
    c##r##0 = _mm512_dpbusd_epi32(c##r##0, b0, a);          \
    c##r##1 = _mm512_dpbusd_epi32(c##r##1, b1, a);          \
    c##r##2 = _mm512_dpbusd_epi32(c##r##2, b2, a);          \
    c##r##3 = _mm512_dpbusd_epi32(c##r##3, b3, a);          \
  }

LBFP_AVX512_TARGET void bfp_micro_avx512(size_t kquads, const int32_t* ap, const int32_t* bp,
                                         int32_t* out, size_t ldo, bool accumulate) {
  static_assert(kBfpMr == 6 && kBfpNr == 64, "the micro-kernel is written out for 6 x 64");
  LBFP_ACC4(0);
  LBFP_ACC4(1);
  LBFP_ACC4(2);
  LBFP_ACC4(3);
  LBFP_ACC4(4);
  LBFP_ACC4(5);
  LBFP_LOAD4(0);
  LBFP_LOAD4(1);
  LBFP_LOAD4(2);
  LBFP_LOAD4(3);
  LBFP_LOAD4(4);
  LBFP_LOAD4(5);
  for (size_t kk = 0; kk < kquads; ++kk) {
    const int32_t* bk = bp + kk * kBfpNr;
    const __m512i b0 = _mm512_load_si512(bk);
    const __m512i b1 = _mm512_load_si512(bk + 16);
    const __m512i b2 = _mm512_load_si512(bk + 32);
    const __m512i b3 = _mm512_load_si512(bk + 48);
    const int32_t* ak = ap + kk * kBfpMr;
    BFP_ROW(0)
    BFP_ROW(1)
    BFP_ROW(2)
    BFP_ROW(3)
    BFP_ROW(4)
    BFP_ROW(5)
  }
  LBFP_STORE4(0);
  LBFP_STORE4(1);
  LBFP_STORE4(2);
  LBFP_STORE4(3);
  LBFP_STORE4(4);
  LBFP_STORE4(5);
}
}  // namespace

LBFP_AVX512_TARGET void lbfp_sums_avx512(const LbfpKernelTables& tables, const SumBlock& blk) {
  const size_t panels = round_up(blk.n, kLbfpNr) / kLbfpNr;
  const size_t blocks = round_up(blk.m, kLbfpMr) / kLbfpMr;
  const size_t max_pairs = kLbfpKc / 2;
  Scratch bpack(max_pairs * panels * 2 * kLbfpNr * sizeof(uint32_t), 0);
  Scratch apack(max_pairs * blocks * kLbfpMr * sizeof(LbfpPackedA), 1);
  Scratch tile_store(kLbfpMr * kLbfpNr * sizeof(int32_t), 2);
  auto* tile = reinterpret_cast<int32_t*>(tile_store.data);
  auto pack_pair = [](int lo, int hi) {
    return (static_cast<uint32_t>(lo) & 0xffffu) | (static_cast<uint32_t>(hi) << 16);
  };
  for (size_t p0 = 0; p0 < blk.k; p0 += kLbfpKc) {
    const size_t kc = std::min(kLbfpKc, blk.k - p0);
    const size_t kp = (kc + 1) / 2;
    auto* bp = reinterpret_cast<uint32_t*>(bpack.data);
    for (size_t jp = 0; jp < panels; ++jp) {
      const size_t j0 = jp * kLbfpNr;
      const size_t cols = std::min(kLbfpNr, blk.n - j0);
      for (size_t kk = 0; kk < kp; ++kk) {
        uint32_t* dst = bp + (jp * kp + kk) * 2 * kLbfpNr;
        const Code* row0 = blk.b + (p0 + 2 * kk) * blk.ldb + j0;
        const bool has_odd = 2 * kk + 1 < kc;
        const Code* row1 = has_odd ? row0 + blk.ldb : row0;
        for (size_t c = 0; c < cols; ++c) {
          const Code b0 = row0[c];
          const Code b1 = has_odd ? row1[c] : Code{0};
          dst[c] = pack_pair(tables.b_frac[b0], 16 + tables.b_frac[b1]);
          dst[kLbfpNr + c] = pack_pair(tables.b_sign_pow[b0], tables.b_sign_pow[b1]);
        }
        for (size_t c = cols; c < kLbfpNr; ++c) {
          dst[c] = pack_pair(0, 16);
          dst[kLbfpNr + c] = 0;
        }
      }
    }
    auto* ap = reinterpret_cast<LbfpPackedA*>(apack.data);
    for (size_t ib = 0; ib < blocks; ++ib) {
      for (size_t r = 0; r < kLbfpMr; ++r) {
        const size_t i = ib * kLbfpMr + r;
        LbfpPackedA* dst = ap + ib * kp * kLbfpMr + r;
        const Code* arow = blk.a + i * blk.lda + p0;
        for (size_t kk = 0; kk < kp; ++kk) {
          const Code a0 = i < blk.m ? arow[2 * kk] : Code{0};
          const Code a1 = (i < blk.m && 2 * kk + 1 < kc) ? arow[2 * kk + 1] : Code{0};
          const unsigned pair = tables.a_frac[a0] | (unsigned{tables.a_frac[a1]} << 4);
          dst[kk * kLbfpMr].table_offset = pair * 32u;
          dst[kk * kLbfpMr].ya_pair = static_cast<int32_t>(
              pack_pair(tables.a_sign_pow[a0], tables.a_sign_pow[a1]));
        }
      }
    }
    for (size_t jp = 0; jp < panels; ++jp) {
      for (size_t ib = 0; ib < blocks; ++ib) {
        const size_t rows = std::min(kLbfpMr, blk.m - ib * kLbfpMr);
        const size_t cols = std::min(kLbfpNr, blk.n - jp * kLbfpNr);
        int32_t* c = blk.c + ib * kLbfpMr * blk.ldc + jp * kLbfpNr;
        const LbfpPackedA* a_block = ap + ib * kp * kLbfpMr;
        const uint32_t* b_panel = bp + jp * kp * 2 * kLbfpNr;
        if (rows == kLbfpMr && cols == kLbfpNr) {
          lbfp_micro_avx512(kp, a_block, b_panel, &tables.pair_h[0][0], c, blk.ldc, p0 != 0);
        } else {
          lbfp_micro_avx512(kp, a_block, b_panel, &tables.pair_h[0][0], tile, kLbfpNr, false);
          merge_tile(tile, kLbfpNr, rows, cols, p0 == 0, c, blk.ldc);
        }
      }
    }
  }
}

LBFP_AVX512_TARGET void bfp_sums_avx512(const BfpKernelTables& tables, const SumBlock& blk) {
  const size_t panels = round_up(blk.n, kBfpNr) / kBfpNr;
  const size_t blocks = round_up(blk.m, kBfpMr) / kBfpMr;
  const size_t max_quads = kBfpKc / 4;
  Scratch bpack(max_quads * panels * kBfpNr * sizeof(int32_t), 0);
  Scratch apack(max_quads * blocks * kBfpMr * sizeof(int32_t), 1);
  Scratch tile_store(kBfpMr * kBfpNr * sizeof(int32_t), 2);
  auto* tile = reinterpret_cast<int32_t*>(tile_store.data);
  std::vector<uint32_t> row_sums(blk.m, 0u);
  for (size_t p0 = 0; p0 < blk.k; p0 += kBfpKc) {
    const size_t kc = std::min(kBfpKc, blk.k - p0);
    const size_t kq = (kc + 3) / 4;
    // B: per k quad and column, the 4 bytes mantissa + 128 (k fastest); zero padding = 128.
    auto* bp = bpack.data;
    for (size_t jp = 0; jp < panels; ++jp) {
      const size_t j0 = jp * kBfpNr;
      const size_t cols = std::min(kBfpNr, blk.n - j0);
      for (size_t kk = 0; kk < kq; ++kk) {
        auto* dst = reinterpret_cast<uint32_t*>(bp + (jp * kq + kk) * kBfpNr * 4);
        if (4 * kk + 4 <= kc && cols == kBfpNr) {
          const Code* r0 = blk.b + (p0 + 4 * kk) * blk.ldb + j0;
          const Code* r1 = r0 + blk.ldb;
          const Code* r2 = r1 + blk.ldb;
          const Code* r3 = r2 + blk.ldb;
          if (tables.identity) {  // mantissa + 128 = code ^ 0x80
            for (size_t c = 0; c < kBfpNr; ++c) {
              dst[c] = (uint32_t{r0[c]} | (uint32_t{r1[c]} << 8) | (uint32_t{r2[c]} << 16) |
                        (uint32_t{r3[c]} << 24)) ^
                       0x80808080u;
            }
            continue;
          }
          for (size_t c = 0; c < kBfpNr; ++c) {
            dst[c] = (uint32_t{uint8_t(tables.mantissa[r0[c]] + 128)}) |
                     (uint32_t{uint8_t(tables.mantissa[r1[c]] + 128)} << 8) |
                     (uint32_t{uint8_t(tables.mantissa[r2[c]] + 128)} << 16) |
                     (uint32_t{uint8_t(tables.mantissa[r3[c]] + 128)} << 24);
          }
          continue;
        }
        auto* bytes = reinterpret_cast<uint8_t*>(dst);
        for (size_t s = 0; s < 4; ++s) {
          const size_t k = 4 * kk + s;
          const Code* brow = blk.b + (p0 + k) * blk.ldb + j0;
          for (size_t c = 0; c < kBfpNr; ++c) {
            bytes[c * 4 + s] =
                (k < kc && c < cols) ? static_cast<uint8_t>(tables.mantissa[brow[c]] + 128) : 128;
          }
        }
      }
    }
    // A: per row block and k quad, the 4 signed mantissas of each row.
    auto* ap = reinterpret_cast<int8_t*>(apack.data);
    for (size_t ib = 0; ib < blocks; ++ib) {
      for (size_t r = 0; r < kBfpMr; ++r) {
        const size_t i = ib * kBfpMr + r;
        int8_t* dst = ap + ib * kq * kBfpMr * 4 + r * 4;
        if (i >= blk.m) {
          for (size_t kk = 0; kk < kq; ++kk) std::memset(dst + kk * kBfpMr * 4, 0, 4);
          continue;
        }
        const Code* arow = blk.a + i * blk.lda + p0;
        int32_t sum = 0;
        const size_t full = kc / 4;
        if (tables.identity) {
          for (size_t kk = 0; kk < full; ++kk) {
            uint32_t quad;
            std::memcpy(&quad, arow + 4 * kk, 4);
            std::memcpy(dst + kk * kBfpMr * 4, &quad, 4);
          }
          for (size_t k = 0; k < 4 * full; ++k) sum += static_cast<int8_t>(arow[k]);
        } else {
          for (size_t kk = 0; kk < full; ++kk) {
            int8_t* d = dst + kk * kBfpMr * 4;
            for (size_t s = 0; s < 4; ++s) {
              d[s] = tables.mantissa[arow[4 * kk + s]];
              sum += d[s];
            }
          }
        }
        for (size_t kk = full; kk < kq; ++kk) {
          int8_t* d = dst + kk * kBfpMr * 4;
          for (size_t s = 0; s < 4; ++s) {
            const size_t k = 4 * kk + s;
            d[s] = k < kc ? tables.mantissa[arow[k]] : int8_t{0};
            sum += d[s];
          }
        }
        row_sums[i] += static_cast<uint32_t>(sum);
      }
    }
    for (size_t jp = 0; jp < panels; ++jp) {
      for (size_t ib = 0; ib < blocks; ++ib) {
        const auto* a_block = reinterpret_cast<const int32_t*>(ap) + ib * kq * kBfpMr;
        const auto* b_panel = reinterpret_cast<const int32_t*>(bp) + jp * kq * kBfpNr;
        const size_t rows = std::min(kBfpMr, blk.m - ib * kBfpMr);
        const size_t cols = std::min(kBfpNr, blk.n - jp * kBfpNr);
        int32_t* c = blk.c + ib * kBfpMr * blk.ldc + jp * kBfpNr;
        if (rows == kBfpMr && cols == kBfpNr) {
          bfp_micro_avx512(kq, a_block, b_panel, c, blk.ldc, p0 != 0);
        } else {
          bfp_micro_avx512(kq, a_block, b_panel, tile, kBfpNr, false);
          merge_tile(tile, kBfpNr, rows, cols, p0 == 0, c, blk.ldc);
        }
      }
    }
  }
  // Remove the 128 sum_k a_ik that the unsigned offset of B added to every output of row i.
  for (size_t i = 0; i < blk.m; ++i) {
    const uint32_t correction = row_sums[i] * 128u;
    int32_t* crow = blk.c + i * blk.ldc;
    for (size_t j = 0; j < blk.n; ++j) {
      crow[j] = static_cast<int32_t>(static_cast<uint32_t>(crow[j]) - correction);
    }
  }
}

}  // namespace lbfp::detail
