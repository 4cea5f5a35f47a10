// The section 13 formats' matrix products (lbfp/scaled_gemm.h): the integer value of each code,
// its proof by exhaustion, the overflow bounds, the kernels and the in-order fallback.
//
// Why the kernels are exact. Every code c has an integer value v(c) with multiply(a, b) =
// v(a) v(b) for every pair of codes (INT8: the integer; FP8: +-M 2^(k-1), M the significand with
// its hidden bit, k the biased exponent, 1 for subnormals), checked against lbfp::multiply for
// all 65,536 pairs. The kernels hold v in one or two int64 planes, v = lo + hi 2^16 with
// |lo|, |hi| < 2^19 (INT8 and E4M3 need lo only, E5M2 both), so every plane product is below
// 2^38 and a sum of up to 2^23 steps (plane 1 adds two per step) stays inside int64 whatever
// its order. The spec's k-order saturating sum equals that plain sum when |initial| +
// sum_k |p_k| < 2^(A-1): no partial sum can then leave the A-bit range and no term is clamped.
// A call clears all its sums at once when |initial| + length * max |p| is below that, else each
// sum by the least of three bounds of sum_k |p_k| (|p| = |v(a)| |v(b)| exactly):
//   row bound      sum_k |v(a_ik)| bmax_k,   bmax_k = max_j |v(b_jk)|
//   column bound   sum_k amax_k |v(b_jk)|,   amax_k = max_i |v(a_ik)|
//   Cauchy-Schwarz sqrt(sum_k v(a_ik)^2) sqrt(sum_k v(b_jk)^2)
// in double with a relative margin of 1e-6 (each term exact, the sums' rounding below k 2^-53).
// A sum not cleared is redone in k order in 128 bits, and by lbfp::dot where a partial sum
// leaves the range (then saturation happens, and lbfp::dot counts it).
#include "lbfp/scaled_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "gemm_kernels.h"

namespace lbfp {
namespace {

constexpr int kPlaneShift = 16;
constexpr int64_t kPlaneLimit = int64_t{1} << 19;
constexpr size_t kMaxK = size_t{1} << 23;  // int64 planes: 2^23 steps of two terms below 2^38
constexpr double kMargin = 1.0 + 1e-6;

struct ScaledTables {
  bool valid[256] = {};
  bool fast = false;        // v factorises every product and fits the planes
  bool two_planes = false;  // some code needs the hi plane (E5M2)
  int64_t value[256] = {};  // v(c), |v| < 2^35
  int64_t lo[256] = {};
  int64_t hi[256] = {};
  double magnitude[256] = {};  // |v(c)|, exact in double
  double max_product = 0.0;    // max |p| over all valid pairs, exact
};

std::unique_ptr<ScaledTables> build_tables(const ScaledFormat& f) {
  auto t = std::make_unique<ScaledTables>();
  for (unsigned c = 0; c < 256; ++c) {
    try {
      check_code(f, c);
      t->valid[c] = true;
    } catch (const std::out_of_range&) {
    }
  }
  // Code 0x01 has the value 1 in every format (INT8 1; FP8 the least subnormal, M = 1, k = 1),
  // so multiply(c, 0x01) is v(c); the exhaustive check below is the proof either way.
  bool ok = t->valid[1] && t->valid[0];
  for (unsigned c = 0; c < 256 && ok; ++c) {
    if (!t->valid[c]) continue;
    const Int128 v = multiply(f, static_cast<Code>(c), Code{1});
    if (v >= (Int128{1} << 35) || v <= -(Int128{1} << 35)) {
      ok = false;
      break;
    }
    const auto v64 = static_cast<int64_t>(v);
    t->value[c] = v64;
    t->magnitude[c] = static_cast<double>(v64 < 0 ? -v64 : v64);
    if (v64 > -kPlaneLimit && v64 < kPlaneLimit) {
      t->lo[c] = v64;
    } else if (v64 % (int64_t{1} << kPlaneShift) == 0 &&
               v64 / (int64_t{1} << kPlaneShift) > -kPlaneLimit &&
               v64 / (int64_t{1} << kPlaneShift) < kPlaneLimit) {
      t->hi[c] = v64 / (int64_t{1} << kPlaneShift);
      t->two_planes = true;
    } else {
      ok = false;
    }
  }
  for (unsigned a = 0; a < 256 && ok; ++a) {
    if (!t->valid[a]) continue;
    for (unsigned b = 0; b < 256 && ok; ++b) {
      if (!t->valid[b]) continue;
      const Int128 p = multiply(f, static_cast<Code>(a), static_cast<Code>(b));
      ok = p == Int128{t->value[a]} * t->value[b] &&
           static_cast<double>(p < 0 ? -p : p) == t->magnitude[a] * t->magnitude[b];
      t->max_product = std::max(t->max_product, t->magnitude[a] * t->magnitude[b]);
    }
  }
  t->fast = ok;
  return t;
}

const ScaledTables& tables_for(const ScaledFormat& f) {
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int>, std::unique_ptr<ScaledTables>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[std::make_tuple(static_cast<int>(f.element()), static_cast<int>(f.scale_kind()),
                                     f.acc_bits())];
  if (!slot) slot = build_tables(f);
  return *slot;
}

bool available(KernelPath path, const ScaledFormat& f) {
  switch (path) {
    case KernelPath::kAuto:
    case KernelPath::kReference: return true;
    case KernelPath::kPortable: return tables_for(f).fast;
    case KernelPath::kAvx512: return tables_for(f).fast && detail::cpu_has_avx512();
    default: return false;
  }
}

// v(a) v(b) summed as plane sums: s0 + s1 2^16 + s2 2^32.
Int128 combine(int64_t s0, int64_t s1, int64_t s2) {
  // Products, not shifts: a left shift of a negative value is undefined in C++17.
  return Int128{s0} + Int128{s1} * (Int128{1} << kPlaneShift) +
         Int128{s2} * (Int128{1} << (2 * kPlaneShift));
}

// ---- portable kernel ------------------------------------------------------------------------

struct Layout {
  size_t length = 0;  // codes per block (K for block 0)
  size_t blocks = 1;
};

void sums_portable(const ScaledTables& t, const ScaledGemmProblem& p, const Layout& l,
                   const Int128* initial, Int128* acc, size_t ldc) {
  for (size_t i = 0; i < p.m; ++i) {
    const Code* a = p.a + i * p.lda;
    for (size_t j = 0; j < p.n; ++j) {
      const Code* b = p.b + j * p.ldb;
      for (size_t q = 0; q < l.blocks; ++q) {
        const size_t k0 = q * l.length;
        const size_t k1 = std::min(p.k, k0 + l.length);
        int64_t s0 = 0, s1 = 0, s2 = 0;
        if (t.two_planes) {
          for (size_t k = k0; k < k1; ++k) {
            s0 += t.lo[a[k]] * t.lo[b[k]];
            s1 += t.lo[a[k]] * t.hi[b[k]] + t.hi[a[k]] * t.lo[b[k]];
            s2 += t.hi[a[k]] * t.hi[b[k]];
          }
        } else {
          for (size_t k = k0; k < k1; ++k) s0 += t.lo[a[k]] * t.lo[b[k]];
        }
        acc[i * ldc + j * l.blocks + q] = initial[j] + combine(s0, s1, s2);
      }
    }
  }
}

// ---- AVX-512 kernel -------------------------------------------------------------------------
// Outer products: a tile of kMr rows of A times 16 outputs, B packed [k][16-column panel] as
// int64 lanes, each A value broadcast; vpmuldq multiplies the low 32 bits (|plane| < 2^19), vpaddq
// adds. Two planes give three sums per output (lo lo, lo hi + hi lo, hi hi).

#define LBFP_SCALED_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

constexpr size_t kNr = 16;

// vpmuldq. (GCC 12's _mm512_mul_epi32 passes an undefined vector through an all-ones mask and
// warns about it; the zero-masked form is the same instruction.)
LBFP_SCALED_AVX512 inline __m512i mul(__m512i a, __m512i b) {
  return _mm512_maskz_mul_epi32(static_cast<__mmask8>(0xff), a, b);
}

template <int kPlanes, size_t kMr>
LBFP_SCALED_AVX512 void tile_avx512(const int64_t* a_lo, const int64_t* a_hi, const int64_t* b_lo,
                                    const int64_t* b_hi, size_t k0, size_t k1, int64_t* out) {
  constexpr size_t kSums = kPlanes == 1 ? 1 : 3;
  __m512i acc[kSums][kMr][2];
  for (size_t s = 0; s < kSums; ++s) {
    for (size_t r = 0; r < kMr; ++r) {
      acc[s][r][0] = _mm512_set1_epi64(0);
      acc[s][r][1] = _mm512_set1_epi64(0);
    }
  }
  for (size_t k = k0; k < k1; ++k) {
    const __m512i bl0 = _mm512_loadu_si512(b_lo + k * kNr);
    const __m512i bl1 = _mm512_loadu_si512(b_lo + k * kNr + 8);
    if constexpr (kPlanes == 1) {
      for (size_t r = 0; r < kMr; ++r) {
        const __m512i al = _mm512_set1_epi64(a_lo[k * kMr + r]);
        acc[0][r][0] = _mm512_add_epi64(acc[0][r][0], mul(al, bl0));
        acc[0][r][1] = _mm512_add_epi64(acc[0][r][1], mul(al, bl1));
      }
    } else {
      const __m512i bh0 = _mm512_loadu_si512(b_hi + k * kNr);
      const __m512i bh1 = _mm512_loadu_si512(b_hi + k * kNr + 8);
      for (size_t r = 0; r < kMr; ++r) {
        const __m512i al = _mm512_set1_epi64(a_lo[k * kMr + r]);
        const __m512i ah = _mm512_set1_epi64(a_hi[k * kMr + r]);
        acc[0][r][0] = _mm512_add_epi64(acc[0][r][0], mul(al, bl0));
        acc[0][r][1] = _mm512_add_epi64(acc[0][r][1], mul(al, bl1));
        acc[1][r][0] = _mm512_add_epi64(
            acc[1][r][0], _mm512_add_epi64(mul(al, bh0), mul(ah, bl0)));
        acc[1][r][1] = _mm512_add_epi64(
            acc[1][r][1], _mm512_add_epi64(mul(al, bh1), mul(ah, bl1)));
        acc[2][r][0] = _mm512_add_epi64(acc[2][r][0], mul(ah, bh0));
        acc[2][r][1] = _mm512_add_epi64(acc[2][r][1], mul(ah, bh1));
      }
    }
  }
  for (size_t s = 0; s < kSums; ++s) {
    for (size_t r = 0; r < kMr; ++r) {
      _mm512_storeu_si512(out + (s * kMr + r) * kNr, acc[s][r][0]);
      _mm512_storeu_si512(out + (s * kMr + r) * kNr + 8, acc[s][r][1]);
    }
  }
}

template <int kPlanes, size_t kMr>
void sums_avx512(const ScaledTables& t, const ScaledGemmProblem& p, const Layout& l,
                 const Int128* initial, Int128* acc, size_t ldc) {
  const size_t panels = (p.n + kNr - 1) / kNr;
  // B in panels of 16 outputs: [panel][k][16], zero beyond N.
  std::vector<int64_t> b_lo(panels * p.k * kNr, 0);
  std::vector<int64_t> b_hi(kPlanes == 2 ? b_lo.size() : 0, 0);
  for (size_t j = 0; j < p.n; ++j) {
    const Code* b = p.b + j * p.ldb;
    int64_t* lo = b_lo.data() + (j / kNr) * p.k * kNr + j % kNr;
    for (size_t k = 0; k < p.k; ++k) lo[k * kNr] = t.lo[b[k]];
    if (kPlanes == 2) {
      int64_t* hi = b_hi.data() + (j / kNr) * p.k * kNr + j % kNr;
      for (size_t k = 0; k < p.k; ++k) hi[k * kNr] = t.hi[b[k]];
    }
  }
  std::vector<int64_t> a_lo(p.k * kMr);
  std::vector<int64_t> a_hi(kPlanes == 2 ? a_lo.size() : 0);
  constexpr size_t kSums = kPlanes == 1 ? 1 : 3;
  int64_t out[kSums * kMr * kNr];
  for (size_t i0 = 0; i0 < p.m; i0 += kMr) {
    const size_t rows = std::min(kMr, p.m - i0);
    for (size_t r = 0; r < kMr; ++r) {
      const Code* a = p.a + (i0 + std::min(r, rows - 1)) * p.lda;  // a short tile repeats a row
      for (size_t k = 0; k < p.k; ++k) {
        a_lo[k * kMr + r] = t.lo[a[k]];
        if (kPlanes == 2) a_hi[k * kMr + r] = t.hi[a[k]];
      }
    }
    for (size_t panel = 0; panel < panels; ++panel) {
      const size_t j0 = panel * kNr;
      const size_t cols = std::min(kNr, p.n - j0);
      const int64_t* bl = b_lo.data() + panel * p.k * kNr;
      const int64_t* bh = kPlanes == 2 ? b_hi.data() + panel * p.k * kNr : nullptr;
      for (size_t q = 0; q < l.blocks; ++q) {
        const size_t k0 = q * l.length;
        const size_t k1 = std::min(p.k, k0 + l.length);
        tile_avx512<kPlanes, kMr>(a_lo.data(), kPlanes == 2 ? a_hi.data() : nullptr, bl, bh, k0,
                                  k1, out);
        for (size_t r = 0; r < rows; ++r) {
          Int128* row = acc + (i0 + r) * ldc + j0 * l.blocks + q;
          for (size_t c = 0; c < cols; ++c) {
            const size_t at = r * kNr + c;
            const Int128 sum =
                kPlanes == 1 ? Int128{out[at]}
                             : combine(out[at], out[kMr * kNr + at], out[2 * kMr * kNr + at]);
            row[c * l.blocks] = initial[j0 + c] + sum;
          }
        }
      }
    }
  }
}

// ---- checks, bounds and the in-order fallback ------------------------------------------------

void check_problem(const ScaledFormat& f, const ScaledGemmProblem& p, size_t ldc, const void* acc,
                   const GemmOptions& options) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("scaled gemm: " + what); };
  if (options.threads < 1) fail("threads must be >= 1, got " + std::to_string(options.threads));
  if (f.is_mx() && (p.block == 0 || p.block > static_cast<size_t>(ScaledFormat::kMxBlockSize))) {
    fail(f.name() + " sums blocks of 1..32 codes, got block " + std::to_string(p.block));
  }
  if (p.block != 0 && p.initial != nullptr) fail("initial values with blocks");
  if (p.m == 0 || p.n == 0) return;
  if (acc == nullptr) fail("null output");
  if (ldc < p.n * scaled_gemm_blocks(p)) {
    fail("ldc " + std::to_string(ldc) + " < n * blocks " +
         std::to_string(p.n * scaled_gemm_blocks(p)));
  }
  if (p.k > 0) {
    if (p.a == nullptr || p.b == nullptr) fail("null A or B with k > 0");
    if (p.lda < p.k) fail("lda " + std::to_string(p.lda) + " < k " + std::to_string(p.k));
    if (p.ldb < p.k) fail("ldb " + std::to_string(p.ldb) + " < k " + std::to_string(p.k));
  }
  if (p.initial != nullptr) {
    const Int128 max = (Int128{1} << (f.acc_bits() - 1)) - 1;
    for (size_t j = 0; j < p.n; ++j) {
      if (p.initial[j] > max || p.initial[j] < -max - 1) {
        throw std::out_of_range("scaled gemm: initial value " + to_decimal(p.initial[j]) +
                                " of output " + std::to_string(j) + " outside the " +
                                std::to_string(f.acc_bits()) + "-bit range");
      }
    }
  }
}

void check_codes(const ScaledFormat& f, const ScaledTables& t, const Code* data, size_t rows,
                 size_t cols, size_t ld) {
  for (size_t i = 0; i < rows; ++i) {
    const Code* row = data + i * ld;
    bool all = true;
    for (size_t j = 0; j < cols; ++j) all = all && t.valid[row[j]];
    if (all) continue;
    for (size_t j = 0; j < cols; ++j) {
      if (!t.valid[row[j]]) check_code(f, row[j]);  // throws with the format's message
    }
  }
}

// The sums the bounds do not clear, as (i, j, q); empty when all are cleared.
std::vector<std::tuple<size_t, size_t, size_t>> uncleared_sums(const ScaledFormat& f,
                                                               const ScaledTables& t,
                                                               const ScaledGemmProblem& p,
                                                               const Layout& l,
                                                               const Int128* initial) {
  const double limit = std::ldexp(1.0, f.acc_bits() - 1);
  std::vector<double> start(p.n);
  double largest_start = 0.0;
  for (size_t j = 0; j < p.n; ++j) {
    start[j] = static_cast<double>(initial[j] < 0 ? -initial[j] : initial[j]);
    largest_start = std::max(largest_start, start[j]);
  }
  std::vector<std::tuple<size_t, size_t, size_t>> out;
  const auto longest = static_cast<double>(std::min(l.length, p.k));
  if ((largest_start + longest * t.max_product) * kMargin < limit) return out;

  std::vector<double> amax(p.k, 0.0);
  std::vector<double> bmax(p.k, 0.0);
  for (size_t i = 0; i < p.m; ++i) {
    for (size_t k = 0; k < p.k; ++k) amax[k] = std::max(amax[k], t.magnitude[p.a[i * p.lda + k]]);
  }
  for (size_t j = 0; j < p.n; ++j) {
    for (size_t k = 0; k < p.k; ++k) bmax[k] = std::max(bmax[k], t.magnitude[p.b[j * p.ldb + k]]);
  }
  // Per row (A) or output (B) and block: the linear bound against the other side's maxima and
  // the sum of squares.
  auto bounds = [&](const Code* data, size_t rows, size_t ld, const std::vector<double>& other,
                    std::vector<double>& linear, std::vector<double>& squares) {
    linear.assign(rows * l.blocks, 0.0);
    squares.assign(rows * l.blocks, 0.0);
    for (size_t r = 0; r < rows; ++r) {
      const Code* row = data + r * ld;
      for (size_t q = 0; q < l.blocks; ++q) {
        double lin = 0.0, sq = 0.0;
        for (size_t k = q * l.length; k < std::min(p.k, (q + 1) * l.length); ++k) {
          const double v = t.magnitude[row[k]];
          lin += v * other[k];
          sq += v * v;
        }
        linear[r * l.blocks + q] = lin;
        squares[r * l.blocks + q] = std::sqrt(sq);
      }
    }
  };
  std::vector<double> row_bound, row_norm, col_bound, col_norm;
  bounds(p.a, p.m, p.lda, bmax, row_bound, row_norm);
  bounds(p.b, p.n, p.ldb, amax, col_bound, col_norm);
  for (size_t i = 0; i < p.m; ++i) {
    for (size_t j = 0; j < p.n; ++j) {
      for (size_t q = 0; q < l.blocks; ++q) {
        const size_t ri = i * l.blocks + q, cj = j * l.blocks + q;
        const double bound =
            std::min({row_bound[ri], col_bound[cj], row_norm[ri] * col_norm[cj]});
        if (!((start[j] + bound) * kMargin < limit)) out.emplace_back(i, j, q);
      }
    }
  }
  return out;
}

}  // namespace

size_t scaled_gemm_blocks(const ScaledGemmProblem& p) {
  return p.block == 0 ? 1 : std::max<size_t>(1, (p.k + p.block - 1) / p.block);
}

bool kernel_path_available(KernelPath path, const ScaledFormat& format) {
  return available(path, format);
}

ScaledGemmStats gemm_accumulate(const ScaledFormat& f, const ScaledGemmProblem& p, Int128* acc,
                                size_t ldc, const GemmOptions& options) {
  check_problem(f, p, ldc, acc, options);
  ScaledGemmStats stats;
  if (options.path != KernelPath::kAuto && !available(options.path, f)) {
    throw std::invalid_argument("scaled gemm: kernel path " + to_string(options.path) +
                                " is not available for " + f.name() + " on this CPU");
  }
  const ScaledTables& t = tables_for(f);
  stats.path = options.path;
  if (stats.path == KernelPath::kAuto) {
    stats.path = available(KernelPath::kAvx512, f)    ? KernelPath::kAvx512
                 : available(KernelPath::kPortable, f) ? KernelPath::kPortable
                                                       : KernelPath::kReference;
  }
  if (p.k > kMaxK) stats.path = KernelPath::kReference;  // beyond the int64 planes' proof
  if (p.m == 0 || p.n == 0) return stats;
  Layout l;
  l.length = p.block == 0 ? std::max<size_t>(p.k, 1) : p.block;
  l.blocks = scaled_gemm_blocks(p);
  std::vector<Int128> initial(p.n, 0);
  if (p.initial != nullptr) std::copy(p.initial, p.initial + p.n, initial.begin());

  auto golden = [&](size_t i, size_t j, size_t q) {
    const size_t k0 = std::min(p.k, q * l.length);
    const size_t k1 = std::min(p.k, k0 + l.length);
    const WideDotResult r =
        dot(f, p.a + i * p.lda + k0, p.b + j * p.ldb + k0, k1 - k0, initial[j]);
    acc[i * ldc + j * l.blocks + q] = r.acc;
    stats.overflows += r.overflows;
  };
  if (stats.path == KernelPath::kReference) {
    for (size_t i = 0; i < p.m; ++i) {
      for (size_t j = 0; j < p.n; ++j) {
        for (size_t q = 0; q < l.blocks; ++q) golden(i, j, q);
      }
    }
    return stats;
  }
  check_codes(f, t, p.a, p.m, p.k, p.lda);
  check_codes(f, t, p.b, p.n, p.k, p.ldb);
  if (p.k == 0) {
    for (size_t i = 0; i < p.m; ++i) std::copy(initial.begin(), initial.end(), acc + i * ldc);
  } else if (stats.path == KernelPath::kAvx512) {
    if (t.two_planes) {
      sums_avx512<2, 2>(t, p, l, initial.data(), acc, ldc);
    } else {
      sums_avx512<1, 4>(t, p, l, initial.data(), acc, ldc);
    }
  } else {
    sums_portable(t, p, l, initial.data(), acc, ldc);
  }
  const Int128 hi = (Int128{1} << (f.acc_bits() - 1)) - 1;
  const Int128 lo = -hi - 1;
  for (const auto& [i, j, q] : uncleared_sums(f, t, p, l, initial.data())) {
    ++stats.sequential_sums;
    const size_t k0 = q * l.length;
    const size_t k1 = std::min(p.k, k0 + l.length);
    const Code* a = p.a + i * p.lda;
    const Code* b = p.b + j * p.ldb;
    Int128 s = initial[j];
    bool in_range = true;
    for (size_t k = k0; k < k1 && in_range; ++k) {
      s += Int128{t.value[a[k]]} * t.value[b[k]];
      in_range = s >= lo && s <= hi;
    }
    if (in_range) {
      acc[i * ldc + j * l.blocks + q] = s;
    } else {
      golden(i, j, q);
    }
  }
  return stats;
}

}  // namespace lbfp
