// The sum kernels of the GEMM (see gemm_kernels.h for the factorisation they rely on).
//
// The vector kernels are compiled for their instruction sets with function target attributes
// instead of per-file flags, so that no inline function of a shared header is ever emitted with
// AVX-512 instructions and picked by the linker for code that runs on any CPU. Each is called only
// after the run-time CPU check in cpu_has_avx2 / cpu_has_avx512.
//
// AVX2 blocking (GotoBLAS order): the k range is cut into slices; per slice, the B panel of the
// caller's column range is packed once, the A slice is packed into row blocks, and the
// micro-kernel runs over every (column panel, row block) pair, the panel's slice staying in L1/L2
// while all row blocks stream past it. The AVX-512 kernels take a whole call and schedule it over
// the threads themselves (see "AVX-512: whole calls" below).
#include "gemm_kernels.h"

#include "lbfp/x86_intrinsics.h"

#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
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
// A buffer grows by half again at least, without copying or zeroing its old contents (every
// kernel writes what it reads in its scratch).
struct Scratch {
  Scratch(size_t bytes, int slot) {
    struct Buffer {
      std::unique_ptr<unsigned char[]> data;
      size_t size = 0;
    };
    thread_local Buffer buffers[4];
    Buffer& buffer = buffers[slot];
    if (buffer.size < bytes + 64) {
      buffer.size = std::max(bytes + 64, buffer.size + buffer.size / 2);
      buffer.data.reset(new unsigned char[buffer.size]);  // default-initialised: not zeroed
    }
    auto address = reinterpret_cast<uintptr_t>(buffer.data.get());
    data = buffer.data.get() + ((64 - address % 64) % 64);
  }
  unsigned char* data;
};

}  // namespace

// ---- portable ----------------------------------------------------------------------------------

// Few columns, many rows (depthwise convolutions: one column, k = 9): the products of every A
// code with each B[k, j] are tabulated once per block (256 k n entries, built from the same
// per-code factors as the loop below), then each sum is k look-ups and wrapping adds.
namespace {
constexpr size_t kTableMaxCols = 4;
constexpr size_t kTableMinRows = 256;
constexpr size_t kTableMaxEntries = 1024 * 256;  // 1 MiB of products (k n <= 1024)

bool sums_by_table(const SumBlock& blk) {
  return blk.n <= kTableMaxCols && blk.m >= kTableMinRows && blk.k > 0 &&
         blk.k * blk.n * 256 <= kTableMaxEntries;
}

template <class Product>
void table_sums(const SumBlock& blk, Product product) {
  thread_local std::vector<uint32_t> table;
  const size_t kn = blk.k * blk.n;
  if (table.size() < kn * 256) table.resize(kn * 256);
  for (size_t k = 0; k < blk.k; ++k) {
    for (size_t j = 0; j < blk.n; ++j) {
      uint32_t* t = table.data() + (k * blk.n + j) * 256;
      const Code b = blk.b[k * blk.ldb + j];
      for (unsigned a = 0; a < 256; ++a) t[a] = product(static_cast<Code>(a), b);
    }
  }
  for (size_t j = 0; j < blk.n; ++j) {
    const uint32_t* tj = table.data() + j * 256;
    const size_t step = blk.n * 256;
    for (size_t i = 0; i < blk.m; ++i) {
      const Code* arow = blk.a + i * blk.lda;
      uint32_t s0 = 0;
      uint32_t s1 = 0;
      size_t k = 0;
      for (; k + 2 <= blk.k; k += 2) {
        s0 += tj[k * step + arow[k]];
        s1 += tj[(k + 1) * step + arow[k + 1]];
      }
      if (k < blk.k) s0 += tj[k * step + arow[k]];
      blk.c[i * blk.ldc + j] = static_cast<int32_t>(s0 + s1);
    }
  }
}
}  // namespace

void lbfp_sums_portable(const LbfpKernelTables& tables, const SumBlock& blk) {
  if (sums_by_table(blk)) {
    table_sums(blk, [&tables](Code a, Code b) {
      return static_cast<uint32_t>(tables.a_values[a][tables.b_index8[b] & 15] *
                                   tables.b_scale[b]);
    });
    return;
  }
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
  if (sums_by_table(blk)) {
    table_sums(blk, [&tables](Code a, Code b) {
      return static_cast<uint32_t>(tables.mantissa[a] * tables.mantissa[b]);
    });
    return;
  }
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

bool cpu_has_avx512_vbmi() {
  __builtin_cpu_init();
  return cpu_has_avx512() && __builtin_cpu_supports("avx512vbmi");
}

// AMX-INT8 needs the CPU's AMX-TILE and AMX-INT8 (CPUID leaf 7 EDX bits 24, 25), the OS's
// tile state in XCR0 (bits 17, 18) and, on Linux, the process's request for the tile data
// (arch_prctl ARCH_REQ_XCOMP_PERM, Linux 5.16 on), made once here for all its threads.
bool cpu_has_amx_int8() {
  static const bool usable = [] {
    if (!cpu_has_avx512()) return false;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    if ((edx & (1u << 24)) == 0 || (edx & (1u << 25)) == 0) return false;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || (ecx & (1u << 27)) == 0) return false;
    uint32_t xcr0_lo = 0, xcr0_hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;
#if defined(__linux__)
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
  }();
  return usable;
}

bool cpu_is_intel() {
  __builtin_cpu_init();
  return __builtin_cpu_is("intel");
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

// ---- AVX-512: whole calls -------------------------------------------------------------------
// LBFP: per k pair, the B panel holds 4 zmm of vpermw indices (fb_k, 16 + fb_k+1) and 4 zmm of
// (Yb_k, Yb_k+1) for 64 columns; per row and k pair, packed A holds the offset of its Ha pair table
// and the shift pair (qa_k, qa_k+1): vpermw picks Ha, vpsllvw forms Yb << qa, vpdpwssd adds both
// products (gemm_kernels.h).
// BFP: vpdpbusd multiplies 4 unsigned bytes of B (mantissa + 128) by 4 signed bytes of A
// (broadcast) per int32 lane: sum a (b + 128) = sum a b + 128 sum a; the epilogue removes
// 128 sum a per row (all mod 2^32).
//
// Work of one call: A is packed once (row chunks) and B once (64-column panels), each by
// whichever thread claims the piece; then the threads claim compute units (one panel x one row
// chunk), each waiting only for the pieces it reads. The unit keeps its int32 partial sums in a
// small scratch while k is sliced (the slice of the B panel stays in L1 across the row blocks)
// and the last slice writes int64 = initial[j] + sum straight to the output. Packing also adds
// up the Cauchy-Schwarz terms of every row of A and column of B for the caller's overflow proof.

namespace {
constexpr size_t kLbfpMr = 5;  // 20 accumulators + 8 B registers + 4 temporaries
constexpr size_t kLbfpNr = 64;
constexpr size_t kLbfpSlicePairs = 256;  // k = 512 per slice: a 64-column B slice of 128 KiB (L2)
constexpr size_t kBfpMr = 6;
constexpr size_t kBfpNr = 64;
constexpr size_t kBfpSliceQuads = 128;  // a 64-column B slice: 32 KiB
constexpr size_t kChunkRows = 128;      // rows of A per packing piece and per compute unit
// Below this many multiply-adds a call runs on the calling thread alone: waking a worker costs
// more than it saves (tens of microseconds when the cores are busy).
constexpr double kParallelMacs = 4e6;

#define LBFP_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define LBFP_VBMI_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))
// VBMI LBFP8 B panel, per k pair: 64 dwords of byte indices, then y variants 0-3 (64 dwords
// each); an A entry's y offset is y_offset + variant << variant_shift (bytes from the pair's
// start). A call of at most 32 columns (G = 1 or 2 groups of 16, the narrow kernels) packs its
// panel compactly: per k pair 16 G dwords of indices, then the 4 variants of 16 G dwords each,
// so that the pairs follow one another in memory (the wide layout's pair of 1,280 bytes, of
// which a narrow kernel reads 320 or 640, streamed from L3 at a data-dependent line per row).
struct VbmiLayout {
  size_t pair_words;    // uint32 per k pair
  size_t group_words;   // from one variant block (or the indices) to the next
  uint32_t y_offset;    // bytes from the pair's start to variant 0
  int variant_shift;    // log2 of the bytes from one variant to the next
};
constexpr VbmiLayout kVbmiWide = {5 * kLbfpNr, kLbfpNr, 4 * kLbfpNr, 8};
constexpr VbmiLayout vbmi_narrow(size_t groups) {  // 16 * groups columns
  return {5 * 16 * groups, 16 * groups, static_cast<uint32_t>(64 * groups),
          groups == 1 ? 6 : 7};
}
constexpr size_t kVbmiPairWords = kVbmiWide.pair_words;
static_assert(4u * kVbmiWide.group_words == 1u << kVbmiWide.variant_shift, "variant stride");
static_assert(4u * vbmi_narrow(1).group_words == 1u << vbmi_narrow(1).variant_shift, "G = 1");
static_assert(4u * vbmi_narrow(2).group_words == 1u << vbmi_narrow(2).variant_shift, "G = 2");
constexpr size_t kVbmiSlicePairs = 256;  // a 64-column slice of 320 KiB, all variants (L2)

// c += pairwise products (vpdpwssd / vpdpbusd), in place. Through asm: GCC 12 does not tie the
// intrinsics' accumulator to the output register and copies every accumulator around each one.
#define LBFP_DPWSSD(c, a, b) __asm__("vpdpwssd %2, %1, %0" : "+v"(c) : "v"(a), "v"(b))
#define LBFP_DPBUSD(c, a, b) __asm__("vpdpbusd %2, %1, %0" : "+v"(c) : "v"(a), "v"(b))
// The same with b in memory (a folded load: one fused uop less for the front end).
#define LBFP_DPWSSD_MEM(c, a, b) __asm__("vpdpwssd %2, %1, %0" : "+v"(c) : "v"(a), "m"(b))

struct LbfpPackedA {
  uint32_t table_offset;  // in int16 units: pair_h[a_table_k | a_table_k+1 << 5]
  int32_t shift_pair;     // (a_shift_k, a_shift_k+1) as two 16-bit counts
};

// Waits for a piece another thread is packing: spins briefly, then yields the core (the machine
// may have fewer free cores than threads).
void wait_for(const std::atomic<int>& flag) {
  for (int spin = 0; flag.load(std::memory_order_acquire) == 0; ++spin) {
    if (spin < 256) {
      __builtin_ia32_pause();
    } else {
      std::this_thread::yield();
    }
  }
}

// Work items [0, n) in one contiguous range per worker, worker w's from bound(w) to bound(w + 1)
// (bound(0) = 0, bound(workers) = n). A worker takes its own range from the front; once that is
// empty, it takes from the back of the others' ranges.
class WorkRanges {
 public:
  template <class Bound>
  WorkRanges(size_t workers, const Bound& bound) : workers_(workers), ranges_(new Range[workers]) {
    for (size_t w = 0; w < workers; ++w) {
      const uint64_t front = bound(w);
      const uint64_t back = bound(w + 1);
      ranges_[w].state.store(front | back << 32, std::memory_order_relaxed);
    }
  }
  // The next item for worker w, or false when none is left anywhere.
  bool next(size_t w, size_t* item) {
    if (take(ranges_[w].state, true, item)) return true;
    for (size_t d = 1; d < workers_; ++d) {
      if (take(ranges_[(w + d) % workers_].state, false, item)) return true;
    }
    return false;
  }

 private:
  struct alignas(64) Range {
    std::atomic<uint64_t> state;  // front | back << 32
  };
  static bool take(std::atomic<uint64_t>& state, bool from_front, size_t* item) {
    uint64_t s = state.load(std::memory_order_relaxed);
    while (true) {
      const uint64_t front = s & 0xffffffffu;
      const uint64_t back = s >> 32;
      if (front >= back) return false;
      const uint64_t next = from_front ? (front + 1) | back << 32 : front | (back - 1) << 32;
      if (state.compare_exchange_weak(s, next, std::memory_order_relaxed)) {
        *item = from_front ? front : back - 1;
        return true;
      }
    }
  }
  size_t workers_;
  std::unique_ptr<Range[]> ranges_;
};

// The schedule of one call: the `chunks` row chunks of A and the `panels` column panels of B are
// packed, then the panels * chunks compute units run; unit u is panel u / chunks with row chunk
// u % chunks, and waits for those two pieces. Both are split by worker with WorkRanges: worker w
// owns about the w-th share of the panels, the units over them and a share of the row chunks, so
// the thread that packs a B panel also reads it, and the same thread reads the same panels and
// writes the same output lines call after call; they stay in its caches (the cores of a virtual
// machine need not share a cache).
template <class PackA, class PackB, class Compute>
void run_by_panels(const GemmCall& call, size_t threads, const ParallelFor& parallel,
                   size_t chunks, size_t panels, const PackA& pack_a, const PackB& pack_b,
                   const Compute& compute) {
  const size_t units = panels * chunks;
  const double macs =
      static_cast<double>(call.m) * static_cast<double>(call.n) * static_cast<double>(call.k);
  const size_t workers = macs < kParallelMacs ? 1 : std::max<size_t>(1, std::min(threads, units));
  // Pieces in worker order: worker w's share of the row chunks, then its share of the panels.
  std::vector<size_t> order;
  order.reserve(chunks + panels);
  for (size_t w = 0; w < workers; ++w) {
    for (size_t c = chunks * w / workers; c < chunks * (w + 1) / workers; ++c) order.push_back(c);
    for (size_t p = panels * w / workers; p < panels * (w + 1) / workers; ++p) {
      order.push_back(chunks + p);
    }
  }
  WorkRanges piece_ranges(workers,
                          [&](size_t w) { return chunks * w / workers + panels * w / workers; });
  WorkRanges unit_ranges(workers, [&](size_t w) { return units * w / workers; });
  std::unique_ptr<std::atomic<int>[]> done(new std::atomic<int>[chunks + panels]);
  for (size_t p = 0; p < chunks + panels; ++p) done[p].store(0, std::memory_order_relaxed);
  auto body = [&](size_t w) {
    for (size_t i; piece_ranges.next(w, &i);) {
      const size_t piece = order[i];
      if (piece < chunks) {
        pack_a(piece);
      } else {
        pack_b(piece - chunks);
      }
      done[piece].store(1, std::memory_order_release);
    }
    for (size_t u; unit_ranges.next(w, &u);) {
      wait_for(done[u % chunks]);
      wait_for(done[chunks + u / chunks]);
      compute(u);
    }
  };
  if (workers == 1) {
    body(0);
  } else {
    parallel(workers, body);
  }
}

// Adds the int32 sums of a tile (row stride `tile_cols`) to the initial values into int64.
void finish_tile(const int32_t* tile, size_t tile_cols, size_t rows, size_t cols,
                 const uint32_t* row_corrections, const int64_t* initial, int64_t* out,
                 size_t ldo) {
  for (size_t i = 0; i < rows; ++i) {
    const uint32_t corr = row_corrections ? row_corrections[i] : 0u;
    for (size_t j = 0; j < cols; ++j) {
      const auto sum = static_cast<int32_t>(static_cast<uint32_t>(tile[i * tile_cols + j]) - corr);
      out[i * ldo + j] = initial[j] + sum;
    }
  }
}

// One compute unit of the AVX-512 kernels, the same for both formats: unit u is the column panel
// u / chunks and the row chunk u % chunks. Each row block's int32 sums run slice by slice through
// micro(kn, ib, k0, jp, partial, accumulate, direct_out); the last slice writes straight to the
// output when the tile is whole, else finish_tile adds the partial sums (less the per-row
// corrections, if any) to the initial values.
template <size_t Mr, size_t Nr, class Micro>
void compute_unit(const GemmCall& call, size_t u, size_t chunks, size_t chunk_blocks,
                  size_t blocks, size_t slice_len, size_t k_total,
                  const uint32_t* row_corrections, const Micro& micro) {
  const size_t jp = u / chunks;
  const size_t b0 = (u % chunks) * chunk_blocks;
  const size_t b1 = std::min(blocks, b0 + chunk_blocks);
  const size_t j0 = jp * Nr;
  const size_t cols = std::min(Nr, call.n - j0);
  const size_t slices = (k_total + slice_len - 1) / slice_len;
  Scratch scratch((b1 - b0) * Mr * Nr * sizeof(int32_t), 2);
  auto* partial = reinterpret_cast<int32_t*>(scratch.data);
  for (size_t s = 0; s < slices; ++s) {
    const size_t k0 = s * slice_len;
    const size_t kn = std::min(slice_len, k_total - k0);
    const bool last = s + 1 == slices;
    for (size_t ib = b0; ib < b1; ++ib) {
      const size_t i0 = ib * Mr;
      const size_t rows = std::min(Mr, call.m - i0);
      int32_t* c = partial + (ib - b0) * Mr * Nr;
      const bool direct = last && rows == Mr && cols == Nr;
      micro(kn, ib, k0, jp, c, s > 0, direct ? call.out + i0 * call.ldo + j0 : nullptr);
      if (last && !direct) {
        finish_tile(c, Nr, rows, cols, row_corrections ? row_corrections + i0 : nullptr,
                    call.initial + j0, call.out + i0 * call.ldo + j0, call.ldo);
      }
    }
  }
}

// int64 out[0..63] = init[0..63] + the 64 int32 sums in four registers (minus a correction).
// (The zero-masked forms: the plain ones trip GCC 12's -Wmaybe-uninitialized in its headers.)
LBFP_AVX512_TARGET inline void store_row64(__m512i s0, __m512i s1, __m512i s2, __m512i s3,
                                           const int64_t* init, int64_t* out) {
  const __m512i v[4] = {s0, s1, s2, s3};
  for (int q = 0; q < 4; ++q) {
    const __m512i lo =
        _mm512_maskz_cvtepi32_epi64(0xff, _mm512_maskz_extracti64x4_epi64(0xf, v[q], 0));
    const __m512i hi =
        _mm512_maskz_cvtepi32_epi64(0xff, _mm512_maskz_extracti64x4_epi64(0xf, v[q], 1));
    _mm512_storeu_si512(out + 16 * q, _mm512_add_epi64(lo, _mm512_loadu_si512(init + 16 * q)));
    _mm512_storeu_si512(out + 16 * q + 8,
                        _mm512_add_epi64(hi, _mm512_loadu_si512(init + 16 * q + 8)));
  }
}

// Written out with named accumulators: with arrays GCC keeps them on the stack.
#define LBFP_ACC4(r) __m512i c##r##0, c##r##1, c##r##2, c##r##3
#define LBFP_LOAD4(r)                                                                   \
  c##r##0 = load ? _mm512_load_si512(c + r * 64) : _mm512_setzero_si512();              \
  c##r##1 = load ? _mm512_load_si512(c + r * 64 + 16) : _mm512_setzero_si512();         \
  c##r##2 = load ? _mm512_load_si512(c + r * 64 + 32) : _mm512_setzero_si512();         \
  c##r##3 = load ? _mm512_load_si512(c + r * 64 + 48) : _mm512_setzero_si512()
#define LBFP_STORE4(r)                              \
  _mm512_store_si512(c + r * 64, c##r##0);           \
  _mm512_store_si512(c + r * 64 + 16, c##r##1);      \
  _mm512_store_si512(c + r * 64 + 32, c##r##2);      \
  _mm512_store_si512(c + r * 64 + 48, c##r##3)
#define LBFP_FINISH4(r)                                                                     \
  {                                                                                         \
    const __m512i corr = _mm512_set1_epi32(static_cast<int32_t>(corrections[r]));           \
    store_row64(_mm512_sub_epi32(c##r##0, corr), _mm512_sub_epi32(c##r##1, corr),           \
                _mm512_sub_epi32(c##r##2, corr), _mm512_sub_epi32(c##r##3, corr), init,     \
                out + r * ldo);                                                             \
  }
#define LBFP_ROW(r)                                                                           \
  {                                                                                           \
    const __m512i table = _mm512_load_si512(pair_h + ak[r].table_offset);                    \
    const __m512i qa = _mm512_set1_epi32(ak[r].shift_pair);                                   \
    LBFP_DPWSSD(c##r##0, _mm512_permutexvar_epi16(i0, table), _mm512_sllv_epi16(y0, qa));     \
    LBFP_DPWSSD(c##r##1, _mm512_permutexvar_epi16(i1, table), _mm512_sllv_epi16(y1, qa));     \
    LBFP_DPWSSD(c##r##2, _mm512_permutexvar_epi16(i2, table), _mm512_sllv_epi16(y2, qa));     \
    LBFP_DPWSSD(c##r##3, _mm512_permutexvar_epi16(i3, table), _mm512_sllv_epi16(y3, qa));     \
  }

// A 5 x 64 tile over `kpairs` k pairs. `c` (64-byte aligned, row stride 64) holds the partial
// sums: loaded first when `load`; the result goes back to `c`, or, when `out` is set, to int64
// out[r * ldo + j] = init[j] + sum - corrections[r].
LBFP_AVX512_TARGET void lbfp_micro_avx512(size_t kpairs, const LbfpPackedA* ap,
                                          const uint32_t* bp, const int16_t* pair_h, int32_t* c,
                                          bool load, int64_t* out, size_t ldo,
                                          const int64_t* init) {
  static_assert(kLbfpMr == 5 && kLbfpNr == 64, "the micro-kernel is written out for 5 x 64");
  LBFP_ACC4(0);
  LBFP_ACC4(1);
  LBFP_ACC4(2);
  LBFP_ACC4(3);
  LBFP_ACC4(4);
  LBFP_LOAD4(0);
  LBFP_LOAD4(1);
  LBFP_LOAD4(2);
  LBFP_LOAD4(3);
  LBFP_LOAD4(4);
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
    LBFP_ROW(4)
  }
  if (out != nullptr) {
    static constexpr uint32_t corrections[5] = {0, 0, 0, 0, 0};
    LBFP_FINISH4(0);
    LBFP_FINISH4(1);
    LBFP_FINISH4(2);
    LBFP_FINISH4(3);
    LBFP_FINISH4(4);
    return;
  }
  LBFP_STORE4(0);
  LBFP_STORE4(1);
  LBFP_STORE4(2);
  LBFP_STORE4(3);
  LBFP_STORE4(4);
}

// VBMI (Intel): no shift in the loop. Per row and k pair, the 64-byte table is the two codes'
// x16 rows from the L1-resident 8 KiB table; vpermb picks the int16 x of each lane with the
// byte indices of B, vpdpwssd multiplies by the y variant the row's entry names: two ALU uops
// per 32 MACs instead of four (vpermw and vpsllvw are two each on Golden Cove, vpermb and
// vpdpwssd one, and vpdpwssd issues on two ports). vpermb runs on port 5 only, so the table is
// assembled off it: a zero-extending 32-byte load, a zero-masked vbroadcasti64x4 load (both
// load-port only) and a vpor (port 0 or 5); vinserti64x4 was a fifth port-5 uop per 4 vpermb.
// The row's 64-byte table, and its y variant in the k pair's B data.
#define LBFP_VBMI_TABLE(r)                                                              \
  _mm512_or_si512(                                                                      \
      _mm512_zextsi256_si512(                                                           \
          _mm256_load_si256(reinterpret_cast<const __m256i*>(x16 + ak[r].x0))),         \
      _mm512_maskz_broadcast_i64x4(                                                     \
          0xf0, _mm256_load_si256(reinterpret_cast<const __m256i*>(x16 + ak[r].x1))))
#define LBFP_VBMI_Y(r) \
  reinterpret_cast<const __m512i*>(reinterpret_cast<const char*>(bk) + ak[r].y_offset)
#define LBFP_VBMI_ROW(r)                                                                  \
  {                                                                                       \
    const __m512i table = LBFP_VBMI_TABLE(r);                                             \
    const __m512i* y = LBFP_VBMI_Y(r);                                                    \
    LBFP_DPWSSD_MEM(c##r##0, _mm512_permutexvar_epi8(i0, table), y[0]);                   \
    LBFP_DPWSSD_MEM(c##r##1, _mm512_permutexvar_epi8(i1, table), y[1]);                   \
    LBFP_DPWSSD_MEM(c##r##2, _mm512_permutexvar_epi8(i2, table), y[2]);                   \
    LBFP_DPWSSD_MEM(c##r##3, _mm512_permutexvar_epi8(i3, table), y[3]);                   \
  }

// The VBMI kernel's view of an LbfpPackedA (the same 8 bytes; packing writes them as bytes):
// byte offsets of the two codes' x16 rows, and of the row's y variant in the k pair's B data.
// (16-bit fields: the kernel loads them without scalar ALU work.)
struct LbfpVbmiPackedA {
  uint16_t x0;
  uint16_t x1;
  int32_t y_offset;
};
static_assert(sizeof(LbfpVbmiPackedA) == sizeof(LbfpPackedA), "one packed A layout");

LBFP_VBMI_TARGET void lbfp_micro_vbmi(size_t kpairs, const LbfpPackedA* packed,
                                      const uint32_t* bp, const int16_t* x16_table, int32_t* c,
                                      bool load, int64_t* out, size_t ldo, const int64_t* init) {
  const char* x16 = reinterpret_cast<const char*>(x16_table);
  // The entries were stored as little-endian (x0 | x1 << 16, y_offset) words or bytes.
  const auto* ap = reinterpret_cast<const LbfpVbmiPackedA*>(static_cast<const void*>(packed));
  LBFP_ACC4(0);
  LBFP_ACC4(1);
  LBFP_ACC4(2);
  LBFP_ACC4(3);
  LBFP_ACC4(4);
  LBFP_LOAD4(0);
  LBFP_LOAD4(1);
  LBFP_LOAD4(2);
  LBFP_LOAD4(3);
  LBFP_LOAD4(4);
  for (size_t kk = 0; kk < kpairs; ++kk) {
    const uint32_t* bk = bp + kk * kVbmiPairWords;
    const __m512i i0 = _mm512_load_si512(bk);
    const __m512i i1 = _mm512_load_si512(bk + 16);
    const __m512i i2 = _mm512_load_si512(bk + 32);
    const __m512i i3 = _mm512_load_si512(bk + 48);
    const LbfpVbmiPackedA* ak = ap + kk * kLbfpMr;
    LBFP_VBMI_ROW(0)
    LBFP_VBMI_ROW(1)
    LBFP_VBMI_ROW(2)
    LBFP_VBMI_ROW(3)
    LBFP_VBMI_ROW(4)
  }
  if (out != nullptr) {
    static constexpr uint32_t corrections[5] = {0, 0, 0, 0, 0};
    LBFP_FINISH4(0);
    LBFP_FINISH4(1);
    LBFP_FINISH4(2);
    LBFP_FINISH4(3);
    LBFP_FINISH4(4);
    return;
  }
  LBFP_STORE4(0);
  LBFP_STORE4(1);
  LBFP_STORE4(2);
  LBFP_STORE4(3);
  LBFP_STORE4(4);
}

// Panels with at most 16 G valid columns (G = 1, 2: layers with 16 or 32 output channels): the
// same packing and 5-row tile, only the first G 16-column groups computed (per row and k pair
// the table, then G vpermb and G vpdpwssd). The panel is never stored directly (its columns are
// not all valid), so the sums always go back to `c`, whose other columns are never read.
// (Named accumulators: GCC keeps an array that inline asm updates in memory.)
#define LBFP_VBMI_NARROW_ROW(r)                                                   \
  {                                                                               \
    const __m512i table = LBFP_VBMI_TABLE(r);                                     \
    const __m512i* y = LBFP_VBMI_Y(r);                                            \
    LBFP_DPWSSD_MEM(c##r, _mm512_permutexvar_epi8(i0, table), y[0]);              \
    if (G == 2) LBFP_DPWSSD_MEM(d##r, _mm512_permutexvar_epi8(i1, table), y[1]);  \
  }
template <int G>
LBFP_VBMI_TARGET void lbfp_micro_vbmi_narrow(size_t kpairs, const LbfpPackedA* packed,
                                             const uint32_t* bp, size_t pair_words,
                                             const int16_t* x16_table, int32_t* c, bool load) {
  static_assert(G == 1 || G == 2, "one or two 16-column groups");
  const char* x16 = reinterpret_cast<const char*>(x16_table);
  const auto* ap = reinterpret_cast<const LbfpVbmiPackedA*>(static_cast<const void*>(packed));
  const __m512i zero = _mm512_setzero_si512();
  __m512i c0 = load ? _mm512_load_si512(c) : zero;
  __m512i c1 = load ? _mm512_load_si512(c + 64) : zero;
  __m512i c2 = load ? _mm512_load_si512(c + 128) : zero;
  __m512i c3 = load ? _mm512_load_si512(c + 192) : zero;
  __m512i c4 = load ? _mm512_load_si512(c + 256) : zero;
  __m512i d0 = zero, d1 = zero, d2 = zero, d3 = zero, d4 = zero;
  if (G == 2 && load) {
    d0 = _mm512_load_si512(c + 16);
    d1 = _mm512_load_si512(c + 80);
    d2 = _mm512_load_si512(c + 144);
    d3 = _mm512_load_si512(c + 208);
    d4 = _mm512_load_si512(c + 272);
  }
  for (size_t kk = 0; kk < kpairs; ++kk) {
    const uint32_t* bk = bp + kk * pair_words;
    const __m512i i0 = _mm512_load_si512(bk);
    const __m512i i1 = G == 2 ? _mm512_load_si512(bk + 16) : zero;
    const LbfpVbmiPackedA* ak = ap + kk * kLbfpMr;
    LBFP_VBMI_NARROW_ROW(0)
    LBFP_VBMI_NARROW_ROW(1)
    LBFP_VBMI_NARROW_ROW(2)
    LBFP_VBMI_NARROW_ROW(3)
    LBFP_VBMI_NARROW_ROW(4)
  }
  _mm512_store_si512(c, c0);
  _mm512_store_si512(c + 64, c1);
  _mm512_store_si512(c + 128, c2);
  _mm512_store_si512(c + 192, c3);
  _mm512_store_si512(c + 256, c4);
  if (G == 2) {
    _mm512_store_si512(c + 16, d0);
    _mm512_store_si512(c + 80, d1);
    _mm512_store_si512(c + 144, d2);
    _mm512_store_si512(c + 208, d3);
    _mm512_store_si512(c + 272, d4);
  }
}

// The sum of the n signed bytes at row, mod 2^32: vpsadbw adds the bytes biased by 128.
LBFP_AVX512_TARGET uint32_t signed_byte_sum(const Code* row, size_t n) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i zero = _mm512_setzero_si512();
  __m512i acc = zero;
  size_t k = 0;
  for (; k + 64 <= n; k += 64) {
    const __m512i x = _mm512_xor_si512(_mm512_loadu_si512(row + k), bias);
    acc = _mm512_add_epi64(acc, _mm512_sad_epu8(x, zero));
  }
  if (k < n) {
    const __mmask64 mask = (~uint64_t{0}) >> (64 - (n - k));
    const __m512i x = _mm512_maskz_mov_epi8(
        mask, _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, row + k), bias));
    acc = _mm512_add_epi64(acc, _mm512_sad_epu8(x, zero));
  }
  alignas(64) uint64_t lanes8[8];
  _mm512_store_si512(lanes8, acc);
  uint64_t biased = 0;
  for (uint64_t v : lanes8) biased += v;
  return static_cast<uint32_t>(biased - 128u * static_cast<uint64_t>(n));
}

// dst[c] = (r0[c] | r1[c] << 8 | r2[c] << 16 | r3[c] << 24) ^ flip for c < 64: bytes
// interleaved within 128-bit lanes by the unpacks, then the lanes put in column order (the
// zero-masked shuffles: GCC 12 warns inside the plain ones). flip 0x80808080 biases every
// signed byte by 128 (vpdpbusd's unsigned operand), 0 keeps the signed bytes (AMX).
LBFP_AVX512_TARGET inline void bfp_interleave4_regs(__m512i x0, __m512i x1, __m512i x2,
                                                    __m512i x3, uint32_t* dst, uint32_t flip) {
  const __m512i lo01 = _mm512_unpacklo_epi8(x0, x1);  // columns 0-7 of each lane, as words
  const __m512i hi01 = _mm512_unpackhi_epi8(x0, x1);  // columns 8-15
  const __m512i lo23 = _mm512_unpacklo_epi8(x2, x3);
  const __m512i hi23 = _mm512_unpackhi_epi8(x2, x3);
  // q[t], lane L: columns 16 L + 4 t .. 16 L + 4 t + 3 as dwords.
  const __m512i q0 = _mm512_unpacklo_epi16(lo01, lo23);
  const __m512i q1 = _mm512_unpackhi_epi16(lo01, lo23);
  const __m512i q2 = _mm512_unpacklo_epi16(hi01, hi23);
  const __m512i q3 = _mm512_unpackhi_epi16(hi01, hi23);
  const __mmask16 all = 0xffff;
  const __m512i a = _mm512_maskz_shuffle_i32x4(all, q0, q1, 0x44);  // q0.L0 q0.L1 q1.L0 q1.L1
  const __m512i b = _mm512_maskz_shuffle_i32x4(all, q0, q1, 0xee);  // q0.L2 q0.L3 q1.L2 q1.L3
  const __m512i c = _mm512_maskz_shuffle_i32x4(all, q2, q3, 0x44);
  const __m512i d = _mm512_maskz_shuffle_i32x4(all, q2, q3, 0xee);
  const __m512i bias = _mm512_set1_epi32(static_cast<int>(flip));
  const __m512i out[4] = {
      _mm512_maskz_shuffle_i32x4(all, a, c, 0x88), _mm512_maskz_shuffle_i32x4(all, a, c, 0xdd),
      _mm512_maskz_shuffle_i32x4(all, b, d, 0x88), _mm512_maskz_shuffle_i32x4(all, b, d, 0xdd)};
  for (int g = 0; g < 4; ++g) _mm512_storeu_si512(dst + 16 * g, _mm512_xor_si512(out[g], bias));
}
LBFP_AVX512_TARGET void bfp_interleave4_avx512(const Code* r0, const Code* r1, const Code* r2,
                                               const Code* r3, uint32_t* dst, uint32_t flip) {
  bfp_interleave4_regs(_mm512_loadu_si512(r0), _mm512_loadu_si512(r1), _mm512_loadu_si512(r2),
                       _mm512_loadu_si512(r3), dst, flip);
}
// The same for the first `cols` (< 64) codes of each row, the others read as code 0; a null row
// (past k) reads as 64 codes 0. For W = 8 codes, whose code 0 is the mantissa 0.
LBFP_AVX512_TARGET void bfp_interleave4_masked(const Code* const rows[4], size_t cols,
                                               uint32_t* dst, uint32_t flip) {
  const __mmask64 mask = cols >= 64 ? ~__mmask64{0} : (__mmask64{1} << cols) - 1;
  __m512i x[4];
  for (int s = 0; s < 4; ++s) {
    x[s] = rows[s] != nullptr ? _mm512_maskz_loadu_epi8(mask, rows[s]) : _mm512_setzero_si512();
  }
  bfp_interleave4_regs(x[0], x[1], x[2], x[3], dst, flip);
}

#define BFP_ROW(r)                                                  \
  {                                                                 \
    int32_t word;                                                   \
    std::memcpy(&word, a##r + kk * a_k_bytes, sizeof(word));        \
    const __m512i a = _mm512_set1_epi32(word);                      \
    LBFP_DPBUSD(c##r##0, b0, a);                                    \
    LBFP_DPBUSD(c##r##1, b1, a);                                    \
    LBFP_DPBUSD(c##r##2, b2, a);                                    \
    LBFP_DPBUSD(c##r##3, b3, a);                                    \
  }

// A 6 x 64 tile over `kquads` k quads, with `c`, `load` and `out` as above; `corrections[r]` is
// 128 sum_k a_rk (mod 2^32). The 4 signed bytes of row r, quad kk are at
// ap + r * a_row_bytes + kk * a_k_bytes: packed A (4, 4 kBfpMr) or, for W = 8 codes, the rows
// of A themselves (lda, 4), which saves packing them.
LBFP_AVX512_TARGET void bfp_micro_avx512(size_t kquads, const unsigned char* ap,
                                         size_t a_row_bytes, size_t a_k_bytes, const int32_t* bp,
                                         int32_t* c, bool load, int64_t* out, size_t ldo,
                                         const int64_t* init, const uint32_t* corrections) {
  static_assert(kBfpMr == 6 && kBfpNr == 64, "the micro-kernel is written out for 6 x 64");
  const unsigned char* a0 = ap;
  const unsigned char* a1 = a0 + a_row_bytes;
  const unsigned char* a2 = a1 + a_row_bytes;
  const unsigned char* a3 = a2 + a_row_bytes;
  const unsigned char* a4 = a3 + a_row_bytes;
  const unsigned char* a5 = a4 + a_row_bytes;
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
    BFP_ROW(0)
    BFP_ROW(1)
    BFP_ROW(2)
    BFP_ROW(3)
    BFP_ROW(4)
    BFP_ROW(5)
  }
  if (out != nullptr) {
    LBFP_FINISH4(0);
    LBFP_FINISH4(1);
    LBFP_FINISH4(2);
    LBFP_FINISH4(3);
    LBFP_FINISH4(4);
    LBFP_FINISH4(5);
    return;
  }
  LBFP_STORE4(0);
  LBFP_STORE4(1);
  LBFP_STORE4(2);
  LBFP_STORE4(3);
  LBFP_STORE4(4);
  LBFP_STORE4(5);
}

// Panels with at most 16 G valid columns (G = 1, 2): the same packing and 6-row tile, only the
// first G 16-column groups computed (per row and k quad one broadcast of A and G vpdpbusd). As
// for the LBFP8 narrow kernel, the sums always go back to `c` (row stride 64), whose other
// columns are never read. (Named accumulators: GCC keeps an array that inline asm updates in
// memory.)
#define BFP_NARROW_ROW(r)                                     \
  {                                                           \
    int32_t word;                                             \
    std::memcpy(&word, a##r + kk * a_k_bytes, sizeof(word));  \
    const __m512i a = _mm512_set1_epi32(word);                \
    LBFP_DPBUSD(c##r, b0, a);                                 \
    if (G == 2) LBFP_DPBUSD(d##r, b1, a);                     \
  }
template <int G>
LBFP_AVX512_TARGET void bfp_micro_narrow(size_t kquads, const unsigned char* ap,
                                         size_t a_row_bytes, size_t a_k_bytes, const int32_t* bp,
                                         int32_t* c, bool load) {
  static_assert(G == 1 || G == 2, "one or two 16-column groups");
  static_assert(kBfpMr == 6 && kBfpNr == 64, "the micro-kernel is written out for 6 x 64");
  const unsigned char* a0 = ap;
  const unsigned char* a1 = a0 + a_row_bytes;
  const unsigned char* a2 = a1 + a_row_bytes;
  const unsigned char* a3 = a2 + a_row_bytes;
  const unsigned char* a4 = a3 + a_row_bytes;
  const unsigned char* a5 = a4 + a_row_bytes;
  const __m512i zero = _mm512_setzero_si512();
  __m512i c0 = load ? _mm512_load_si512(c) : zero;
  __m512i c1 = load ? _mm512_load_si512(c + 64) : zero;
  __m512i c2 = load ? _mm512_load_si512(c + 128) : zero;
  __m512i c3 = load ? _mm512_load_si512(c + 192) : zero;
  __m512i c4 = load ? _mm512_load_si512(c + 256) : zero;
  __m512i c5 = load ? _mm512_load_si512(c + 320) : zero;
  __m512i d0 = zero, d1 = zero, d2 = zero, d3 = zero, d4 = zero, d5 = zero;
  if (G == 2 && load) {
    d0 = _mm512_load_si512(c + 16);
    d1 = _mm512_load_si512(c + 80);
    d2 = _mm512_load_si512(c + 144);
    d3 = _mm512_load_si512(c + 208);
    d4 = _mm512_load_si512(c + 272);
    d5 = _mm512_load_si512(c + 336);
  }
  for (size_t kk = 0; kk < kquads; ++kk) {
    const int32_t* bk = bp + kk * kBfpNr;
    const __m512i b0 = _mm512_load_si512(bk);
    const __m512i b1 = G == 2 ? _mm512_load_si512(bk + 16) : zero;
    BFP_NARROW_ROW(0)
    BFP_NARROW_ROW(1)
    BFP_NARROW_ROW(2)
    BFP_NARROW_ROW(3)
    BFP_NARROW_ROW(4)
    BFP_NARROW_ROW(5)
  }
  _mm512_store_si512(c, c0);
  _mm512_store_si512(c + 64, c1);
  _mm512_store_si512(c + 128, c2);
  _mm512_store_si512(c + 192, c3);
  _mm512_store_si512(c + 256, c4);
  _mm512_store_si512(c + 320, c5);
  if (G == 2) {
    _mm512_store_si512(c + 16, d0);
    _mm512_store_si512(c + 80, d1);
    _mm512_store_si512(c + 144, d2);
    _mm512_store_si512(c + 208, d3);
    _mm512_store_si512(c + 272, d4);
    _mm512_store_si512(c + 336, d5);
  }
}
#undef BFP_NARROW_ROW

uint32_t pack_pair(int lo, int hi) {
  return (static_cast<uint32_t>(lo) & 0xffffu) | (static_cast<uint32_t>(hi) << 16);
}

// ---- LBFP packing ----
// One row of A from k pair `kk0` on (scalar, through the tables); returns the sum of
// cs[code] over those codes (0 without cs). dst[kk * kLbfpMr] is the entry of pair kk.
// The entry of one k pair. Vbmi: (x16 byte offsets of both codes, y variant offset).
template <bool Vbmi>
LbfpPackedA lbfp_entry(const LbfpKernelTables& tables, Code a0, Code a1,
                       const VbmiLayout& layout) {
  if (Vbmi) {
    return {uint32_t{a0} * 32u | (uint32_t{a1} * 32u) << 16,
            static_cast<int32_t>(layout.y_offset +
                                 ((tables.e2[a0] + 2u * tables.e2[a1]) << layout.variant_shift))};
  }
  const unsigned pair = tables.a_table[a0] | (unsigned{tables.a_table[a1]} << 5);
  return {pair * 32u, static_cast<int32_t>(pack_pair(tables.a_shift[a0], tables.a_shift[a1]))};
}

// One row of A from k pair `kk0` on (scalar, through the tables); returns the sum of
// cs[code] over those codes (0 without cs). dst[kk * kLbfpMr] is the entry of pair kk.
template <bool Vbmi>
double lbfp_pack_a_row(const LbfpKernelTables& tables, const Code* arow, size_t k, size_t kk0,
                       LbfpPackedA* dst, const double* cs, const VbmiLayout& layout) {
  const size_t full = k / 2;
  const size_t kp_total = (k + 1) / 2;
  double sq0 = 0.0;
  double sq1 = 0.0;
  for (size_t kk = kk0; kk < full; ++kk) {
    const Code a0 = arow[2 * kk];
    const Code a1 = arow[2 * kk + 1];
    dst[kk * kLbfpMr] = lbfp_entry<Vbmi>(tables, a0, a1, layout);
    if (cs != nullptr) {
      sq0 += cs[a0];
      sq1 += cs[a1];
    }
  }
  if (full < kp_total && kk0 <= full) {  // odd k: the second code of the last pair is zero
    const Code a0 = arow[2 * full];
    dst[full * kLbfpMr] = lbfp_entry<Vbmi>(tables, a0, Code{0}, layout);
    if (!Vbmi) {
      dst[full * kLbfpMr].shift_pair = static_cast<int32_t>(pack_pair(tables.a_shift[a0], 16));
    }
    if (cs != nullptr) sq0 += cs[a0];
  }
  return sq0 + sq1;
}

// The code bit fields in 16 dword lanes (LbfpKernelTables::bit_fields).
LBFP_AVX512_TARGET inline __m512i lanes(int v) { return _mm512_set1_epi32(v); }
LBFP_AVX512_TARGET inline __m512i yb_of(__m512i c) {  // 0, or (-1)^s 2^q
  const __m512i q = _mm512_and_si512(_mm512_srli_epi32(c, 4), lanes(7));
  const __m512i p = _mm512_sllv_epi32(lanes(1), q);
  const __mmask16 neg = _mm512_test_epi32_mask(c, lanes(128));
  const __mmask16 nonzero = _mm512_test_epi32_mask(c, lanes(127));
  return _mm512_maskz_mov_epi32(nonzero,
                                _mm512_mask_sub_epi32(p, neg, _mm512_setzero_si512(), p));
}
LBFP_AVX512_TARGET inline __m512i table_of(__m512i c) {  // fa | sa << 4
  return _mm512_or_si512(_mm512_and_si512(c, lanes(15)),
                         _mm512_and_si512(_mm512_srli_epi32(c, 3), lanes(16)));
}
LBFP_AVX512_TARGET inline __m512i shift_of(__m512i c) {  // qa, or 16 for a zero magnitude
  return _mm512_mask_mov_epi32(_mm512_and_si512(_mm512_srli_epi32(c, 4), lanes(7)),
                               _mm512_testn_epi32_mask(c, lanes(127)), lanes(16));
}
LBFP_AVX512_TARGET inline __m512i e2_of(__m512i c) {  // 1 for magnitudes >= 96 (qa >= 6)
  return _mm512_and_si512(_mm512_and_si512(_mm512_srli_epi32(c, 5), _mm512_srli_epi32(c, 6)),
                          lanes(1));
}
// acc + cs[code] for the 8 codes in the low 8 bytes of `codes`.
LBFP_AVX512_TARGET inline __m512d add_cs8(__m512d acc, __m128i codes, const double* cs) {
  const __m256i idx = _mm256_cvtepu8_epi32(codes);
  return _mm512_add_pd(
      acc, _mm512_mask_i32gather_pd(_mm512_setzero_pd(), 0xff, idx, cs, 8));
}
// The int16 Cauchy-Schwarz terms of 32 magnitudes (words, 0..127): two 64-entry look-ups.
struct Cs16Tables {
  __m512i t0, t1, t2, t3;
};
LBFP_AVX512_TARGET inline Cs16Tables cs16_tables(const LbfpKernelTables& tables) {
  return {_mm512_load_si512(tables.cs16), _mm512_load_si512(tables.cs16 + 32),
          _mm512_load_si512(tables.cs16 + 64), _mm512_load_si512(tables.cs16 + 96)};
}
LBFP_AVX512_TARGET inline __m512i cs16_of(const Cs16Tables& t, __m512i magnitudes) {
  const __m512i low = _mm512_permutex2var_epi16(t.t0, magnitudes, t.t1);
  const __m512i high = _mm512_permutex2var_epi16(t.t2, magnitudes, t.t3);
  return _mm512_mask_blend_epi16(_mm512_test_epi16_mask(magnitudes, _mm512_set1_epi16(64)), low,
                                 high);
}
// Up to 2 x 32767 per lane and step: exact in int32 for k below 65536.
constexpr size_t kCs16MaxK = 65535;

LBFP_AVX512_TARGET inline void store_lane(void* dst, __m512i v, int lane) {
  __m128i x;
  switch (lane) {
    case 0: x = _mm512_maskz_extracti32x4_epi32(0xf, v, 0); break;
    case 1: x = _mm512_maskz_extracti32x4_epi32(0xf, v, 1); break;
    case 2: x = _mm512_maskz_extracti32x4_epi32(0xf, v, 2); break;
    default: x = _mm512_maskz_extracti32x4_epi32(0xf, v, 3); break;
  }
  _mm_storeu_si128(static_cast<__m128i*>(dst), x);
}

// A full block of 5 rows of A (all inside the matrix), 16 k pairs per step; a_sq[r] gets the
// row's sum of cs (when cs is set).
template <bool Vbmi>
LBFP_AVX512_TARGET void lbfp_pack_a_block_avx512(const LbfpKernelTables& tables, const Code* a,
                                                 size_t lda, size_t k, LbfpPackedA* dst,
                                                 const double* cs, double* a_sq,
                                                 const Code* next, const VbmiLayout& layout) {
  static_assert(kLbfpMr == 5, "packing is written out for 5 rows");
  const __m512i y_offset = lanes(static_cast<int>(layout.y_offset));
  const __m128i variant_shift = _mm_cvtsi32_si128(layout.variant_shift);
  const size_t vec = k / 2 / 16 * 16;
  __m512d sq[kLbfpMr];
  __m512i sq16[kLbfpMr];
  for (size_t r = 0; r < kLbfpMr; ++r) {
    sq[r] = _mm512_setzero_pd();
    sq16[r] = _mm512_setzero_si512();
  }
  const bool use16 = cs != nullptr && tables.cs16_usable && k <= kCs16MaxK;
  const Cs16Tables cs_t = cs16_tables(tables);
  const __m512i ones = _mm512_set1_epi16(1);
  // The last, partial step of 16 pairs in vectors too: codes past k load as the zero code, whose
  // entry is the odd k's (c, 0) and whose Cauchy-Schwarz term is 0 (checked; else the scalar
  // rest). Only the pairs below kp_total are stored.
  const size_t kp_total = (k + 1) / 2;
  const bool zero_terms = cs == nullptr || (use16 ? tables.cs16[0] == 0 : cs[0] == 0.0);
  const size_t vec_end = vec < kp_total && zero_terms ? kp_total : vec;
  for (size_t kk = 0; kk < vec_end; kk += 16) {
    const size_t pairs = std::min<size_t>(16, kp_total - kk);
    const bool partial = 2 * kk + 32 > k;
    const __mmask32 load_mask =
        partial ? static_cast<__mmask32>((uint64_t{1} << (k - 2 * kk)) - 1) : ~__mmask32{0};
    // Rows of a few hundred bytes are too short for the hardware prefetchers to follow: the
    // next block's rows (`next`, when there is one) are requested while this one is packed.
    if (next != nullptr && kk % 32 == 0) {
      for (size_t r = 0; r < kLbfpMr; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(next + r * lda + 2 * kk), _MM_HINT_T0);
      }
    }
    __m512i v[2 * kLbfpMr];  // per row: table offsets and shift pairs of 16 k pairs
    for (size_t r = 0; r < kLbfpMr; ++r) {
      const Code* src = a + r * lda + 2 * kk;
      const __m256i raw =
          partial ? _mm256_maskz_loadu_epi8(load_mask, src)
                  : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
      const __m512i w = _mm512_cvtepu16_epi32(raw);
      const __m512i a0 = _mm512_and_si512(w, lanes(255));
      const __m512i a1 = _mm512_srli_epi32(w, 8);
      if (Vbmi) {  // x16 offsets code * 32; y variant from the bits 5 and 6 of each magnitude
        v[2 * r] = _mm512_or_si512(_mm512_slli_epi32(a0, 5), _mm512_slli_epi32(a1, 21));
        v[2 * r + 1] = _mm512_add_epi32(
            y_offset,
            _mm512_sll_epi32(_mm512_add_epi32(e2_of(a0), _mm512_slli_epi32(e2_of(a1), 1)),
                             variant_shift));
      } else {
        v[2 * r] = _mm512_slli_epi32(
            _mm512_or_si512(table_of(a0), _mm512_slli_epi32(table_of(a1), 5)), 5);
        v[2 * r + 1] = _mm512_or_si512(shift_of(a0), _mm512_slli_epi32(shift_of(a1), 16));
      }
      if (use16) {
        const __m512i m = _mm512_and_si512(_mm512_cvtepu8_epi16(raw), _mm512_set1_epi16(127));
        LBFP_DPWSSD(sq16[r], cs16_of(cs_t, m), ones);
      } else if (cs != nullptr) {
        const __m128i lo = _mm256_castsi256_si128(raw);
        const __m128i hi = _mm256_extracti128_si256(raw, 1);
        sq[r] = add_cs8(add_cs8(sq[r], lo, cs), _mm_srli_si128(lo, 8), cs);
        sq[r] = add_cs8(add_cs8(sq[r], hi, cs), _mm_srli_si128(hi, 8), cs);
      }
    }
    // Rows 0-3: transpose (offset, shift) x 4 rows x 16 pairs into 16 runs of 4 entries.
    const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]);
    const __m512i t1 = _mm512_unpackhi_epi32(v[0], v[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]);
    const __m512i t3 = _mm512_unpackhi_epi32(v[2], v[3]);
    const __m512i t4 = _mm512_unpacklo_epi32(v[4], v[5]);
    const __m512i t5 = _mm512_unpackhi_epi32(v[4], v[5]);
    const __m512i t6 = _mm512_unpacklo_epi32(v[6], v[7]);
    const __m512i t7 = _mm512_unpackhi_epi32(v[6], v[7]);
    const __m512i u[8] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2),
                          _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3),
                          _mm512_unpacklo_epi64(t4, t6), _mm512_unpackhi_epi64(t4, t6),
                          _mm512_unpacklo_epi64(t5, t7), _mm512_unpackhi_epi64(t5, t7)};
    // Row 4: (offset, shift) of pairs 4 l, 4 l + 1 in lane l of e[0], 4 l + 2, 4 l + 3 of e[1].
    const __m512i e[2] = {_mm512_unpacklo_epi32(v[8], v[9]), _mm512_unpackhi_epi32(v[8], v[9])};
    alignas(64) uint64_t row4[16];
    for (int h = 0; h < 2; ++h) {
      for (int l = 0; l < 4; ++l) store_lane(row4 + 4 * l + 2 * h, e[h], l);
    }
    // Pair 4 l + d: rows 0-1 in lane l of u[d], rows 2-3 in lane l of u[4 + d].
    LbfpPackedA* out = dst + kk * kLbfpMr;
    for (int l = 0; l < 4; ++l) {
      for (int d = 0; d < 4; ++d) {
        if (static_cast<size_t>(4 * l + d) >= pairs) break;
        LbfpPackedA* entry = out + static_cast<size_t>(4 * l + d) * kLbfpMr;
        store_lane(entry, u[d], l);
        store_lane(entry + 2, u[4 + d], l);
        std::memcpy(entry + 4, &row4[4 * l + d], sizeof(LbfpPackedA));
      }
    }
  }
  // The scalar rest only where pairs are left (called for nothing, it cost about 1-2 % of a
  // 512^3 product on Sapphire Rapids).
  const bool rest_left = vec_end < kp_total;
  for (size_t r = 0; r < kLbfpMr; ++r) {
    const double rest =
        rest_left ? lbfp_pack_a_row<Vbmi>(tables, a + r * lda, k, vec, dst + r, cs, layout)
                  : 0.0;
    if (use16) {
      a_sq[r] = static_cast<double>(_mm512_reduce_add_epi32(sq16[r])) * tables.cs_unit + rest;
    } else if (cs != nullptr) {
      a_sq[r] = _mm512_reduce_add_pd(sq[r]) + rest;
    }
  }
}

constexpr size_t kPackAhead = 8;  // k pairs

// One 64-column panel of B (cols <= 64 valid), all k; b_sq[c] gets the column's sum of cs.
// With VBMI a panel of at most 32 columns goes to the narrow kernels, which read only its
// first one or two groups of 16 columns: the others are not written.
template <bool Vbmi>
LBFP_AVX512_TARGET void lbfp_pack_b_panel_avx512(const LbfpKernelTables& tables, const Code* b,
                                                 size_t ldb, size_t k, size_t cols,
                                                 uint32_t* dst, const double* cs, double* b_sq,
                                                 const VbmiLayout& layout) {
  const size_t kp_total = (k + 1) / 2;
  const size_t groups = Vbmi && cols <= 32 ? (cols + 15) / 16 : 4;
  __m512d sq[8];
  for (auto& x : sq) x = _mm512_setzero_pd();
  const bool use16 = cs != nullptr && tables.cs16_usable && k <= kCs16MaxK;
  const Cs16Tables cs_t = cs16_tables(tables);
  __m512i sq16[4];
  for (auto& x : sq16) x = _mm512_setzero_si512();
  const __m512i ones = _mm512_set1_epi16(1);
  __mmask16 masks[4];
  for (size_t g = 0; g < 4; ++g) {
    const size_t c0 = 16 * g;
    masks[g] = c0 >= cols ? __mmask16{0}
                          : (cols - c0 >= 16 ? __mmask16{0xffff}
                                             : static_cast<__mmask16>((1u << (cols - c0)) - 1));
  }
  for (size_t kk = 0; kk < kp_total; ++kk) {
    const Code* row0 = b + 2 * kk * ldb;
    const bool has_odd = 2 * kk + 1 < k;
    // A panel reads 64 bytes of each row of B, rows ldb apart: the rows a few pairs ahead are
    // requested now.
    if (2 * kk + 2 * kPackAhead + 1 < k) {
      _mm_prefetch(reinterpret_cast<const char*>(row0 + 2 * kPackAhead * ldb), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(row0 + (2 * kPackAhead + 1) * ldb),
                   _MM_HINT_T0);
    }
    uint32_t* d = dst + kk * (Vbmi ? layout.pair_words : 2 * kLbfpNr);
    for (size_t g = 0; g < groups; ++g) {
      // (Plain loads for whole groups: masked byte loads were the slowest step of packing on
      // Zen 5.)
      const bool whole = masks[g] == 0xffff;
      const __m128i raw0 = whole ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(row0 + 16 * g))
                                 : _mm_maskz_loadu_epi8(masks[g], row0 + 16 * g);
      const __m128i raw1 =
          !has_odd ? _mm_setzero_si128()
          : whole  ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(row0 + ldb + 16 * g))
                   : _mm_maskz_loadu_epi8(masks[g], row0 + ldb + 16 * g);
      const __m512i x0 = _mm512_cvtepu8_epi32(raw0);
      const __m512i x1 = _mm512_cvtepu8_epi32(raw1);
      const __m512i index = _mm512_or_si512(
          _mm512_and_si512(x0, lanes(15)),
          _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(x1, lanes(15)), 16),
                          lanes(16 << 16)));
      const __m512i y = _mm512_or_si512(_mm512_and_si512(yb_of(x0), lanes(0xffff)),
                                        _mm512_slli_epi32(yb_of(x1), 16));
      if (Vbmi) {
        // One dword lane per column, the k pair's codes as words: (b0, b1).
        const __m512i x01 = _mm512_or_si512(x0, _mm512_slli_epi32(x1, 16));
        // Byte indices (2 fb, 2 fb + 1, 32 + 2 fb', 33 + 2 fb'): 2 fb is even and below 32,
        // so the + 1 and + 32 are bits set by the OR.
        const __m512i f = _mm512_and_si512(x01, lanes(0x000f000f));
        _mm512_store_si512(d + 16 * g,
                           _mm512_ternarylogic_epi32(_mm512_slli_epi32(f, 1),
                                                     _mm512_slli_epi32(f, 9),
                                                     lanes(0x21200100), 0xfe));  // a | b | c
        // y = 0 or (-1)^s 2^q per word; the variants scale the k_0 word (variants 1, 3) and
        // the k_1 word (2, 3) by 4 (|y| <= 2^9: no word overflows).
        const __m512i q = _mm512_and_si512(_mm512_srli_epi16(x01, 4), _mm512_set1_epi16(7));
        const __m512i pw = _mm512_sllv_epi16(_mm512_set1_epi16(1), q);
        const __mmask32 neg = _mm512_test_epi16_mask(x01, _mm512_set1_epi16(128));
        const __mmask32 nonzero = _mm512_test_epi16_mask(x01, _mm512_set1_epi16(127));
        const __m512i y01 = _mm512_maskz_mov_epi16(
            nonzero, _mm512_mask_sub_epi16(pw, neg, _mm512_setzero_si512(), pw));
        const size_t gw = layout.group_words;
        _mm512_store_si512(d + gw + 16 * g, y01);
        _mm512_store_si512(d + 2 * gw + 16 * g, _mm512_mask_slli_epi16(y01, 0x55555555, y01, 2));
        _mm512_store_si512(d + 3 * gw + 16 * g, _mm512_mask_slli_epi16(y01, 0xaaaaaaaa, y01, 2));
        _mm512_store_si512(d + 4 * gw + 16 * g, _mm512_slli_epi16(y01, 2));
      } else {
        _mm512_store_si512(d + 16 * g, index);
        _mm512_store_si512(d + kLbfpNr + 16 * g, y);
      }
      if (use16) {  // words (row 0, row 1) of each column: one dword lane per column
        const __m512i m =
            _mm512_and_si512(_mm512_or_si512(x0, _mm512_slli_epi32(x1, 16)), lanes(0x007f007f));
        LBFP_DPWSSD(sq16[g], cs16_of(cs_t, m), ones);
      } else if (cs != nullptr) {
        sq[2 * g] = add_cs8(add_cs8(sq[2 * g], raw0, cs), raw1, cs);
        sq[2 * g + 1] = add_cs8(add_cs8(sq[2 * g + 1], _mm_srli_si128(raw0, 8), cs),
                                _mm_srli_si128(raw1, 8), cs);
      }
    }
  }
  if (use16) {
    alignas(64) int32_t all[kLbfpNr];
    for (size_t g = 0; g < 4; ++g) _mm512_store_si512(all + 16 * g, sq16[g]);
    for (size_t c = 0; c < cols; ++c) b_sq[c] = static_cast<double>(all[c]) * tables.cs_unit;
  } else if (cs != nullptr) {
    alignas(64) double all[kLbfpNr];
    for (size_t g = 0; g < 8; ++g) _mm512_store_pd(all + 8 * g, sq[g]);
    for (size_t c = 0; c < cols; ++c) b_sq[c] = all[c];
  }
}

// Shared scratch of one call, owned by the calling thread (the workers write into it).
struct CallBuffers {
  unsigned char* a;
  unsigned char* b;
  unsigned char* extra;
};
CallBuffers call_buffers(size_t a_bytes, size_t b_bytes, size_t extra_bytes) {
  return {Scratch(a_bytes, 0).data, Scratch(b_bytes, 1).data, Scratch(extra_bytes, 3).data};
}

// The Cauchy-Schwarz terms of the columns j0 .. j0 + cols - 1 of B (cols <= 64):
// b_sq[j] = sum_k cs[B[k, j]].
void column_squares(const GemmCall& call, const double* cs, size_t j0, size_t cols) {
  double sq[64] = {};
  for (size_t k = 0; k < call.k; ++k) {
    const Code* brow = call.b + k * call.ldb + j0;
    for (size_t c = 0; c < cols; ++c) sq[c] += cs[brow[c]];
  }
  for (size_t c = 0; c < cols; ++c) call.b_sq[j0 + c] = sq[c];
}

// One k quad row of a BFP B panel `width` columns wide, scalar (edges, W < 8):
// bytes[c * 4 + s] = mantissa(B[4 kk + s, j0 + c]) + bias, or the bias alone (a zero mantissa)
// past the last column or the last k.
void bfp_quad_row(const BfpKernelTables& tables, const GemmCall& call, size_t j0, size_t cols,
                  size_t width, size_t kk, uint8_t bias, uint8_t* bytes) {
  for (size_t s = 0; s < 4; ++s) {
    const size_t k = 4 * kk + s;
    const Code* brow = k < call.k ? call.b + k * call.ldb + j0 : nullptr;
    for (size_t c = 0; c < width; ++c) {
      bytes[c * 4 + s] = (brow != nullptr && c < cols)
                             ? static_cast<uint8_t>(tables.mantissa[brow[c]] + bias)
                             : bias;
    }
  }
}

}  // namespace

namespace {
template <bool Vbmi>
LBFP_AVX512_TARGET void lbfp_gemm_impl(const LbfpKernelTables& tables, const GemmCall& call,
                                       size_t threads, const ParallelFor& parallel) {
  const size_t kp_total = (call.k + 1) / 2;
  const size_t blocks = round_up(call.m, kLbfpMr) / kLbfpMr;
  const size_t panels = round_up(call.n, kLbfpNr) / kLbfpNr;
  // Row chunks: kChunkRows, or fewer so that every thread gets a few units.
  const size_t want_units = 4 * threads;
  size_t chunk_blocks = kChunkRows / kLbfpMr;
  while (chunk_blocks > 4 && panels * ((blocks + chunk_blocks - 1) / chunk_blocks) < want_units) {
    chunk_blocks /= 2;
  }
  const size_t chunks = (blocks + chunk_blocks - 1) / chunk_blocks;
  const size_t a_block = kp_total * kLbfpMr;    // LbfpPackedA per row block
  // A call of at most 32 columns in the compact narrow layout (VbmiLayout).
  const VbmiLayout layout = Vbmi && call.n <= 32 ? vbmi_narrow((call.n + 15) / 16) : kVbmiWide;
  const size_t pair_words = Vbmi ? layout.pair_words : 2 * kLbfpNr;
  const size_t b_panel = kp_total * pair_words;  // uint32 per panel
  const CallBuffers buf = call_buffers(blocks * a_block * sizeof(LbfpPackedA),
                                       panels * b_panel * sizeof(uint32_t), 0);
  auto* apack = reinterpret_cast<LbfpPackedA*>(buf.a);
  auto* bpack = reinterpret_cast<uint32_t*>(buf.b);
  const double* cs = call.cs_square;

  auto pack_a = [&](size_t chunk) {
    const size_t b0 = chunk * chunk_blocks;
    const size_t b1 = std::min(blocks, b0 + chunk_blocks);
    for (size_t ib = b0; ib < b1; ++ib) {
      const size_t i0 = ib * kLbfpMr;
      if (tables.bit_fields && i0 + kLbfpMr <= call.m) {
        const bool has_next = ib + 1 < b1 && i0 + 2 * kLbfpMr <= call.m;
        lbfp_pack_a_block_avx512<Vbmi>(
            tables, call.a + i0 * call.lda, call.lda, call.k, apack + ib * a_block, cs,
            call.a_sq + i0, has_next ? call.a + (i0 + kLbfpMr) * call.lda : nullptr, layout);
        continue;
      }
      if (tables.bit_fields && call.k >= 64) {
        // The last rows, fewer than a block: copied under rows of zero codes (whose entries
        // are those of the rows past M below) and packed as a block.
        thread_local std::vector<Code> rows;
        rows.assign(kLbfpMr * call.k, Code{0});
        const size_t valid = call.m - i0;
        for (size_t r = 0; r < valid; ++r) {
          std::copy(call.a + (i0 + r) * call.lda, call.a + (i0 + r) * call.lda + call.k,
                    rows.begin() + static_cast<std::ptrdiff_t>(r * call.k));
        }
        double sq[kLbfpMr];
        lbfp_pack_a_block_avx512<Vbmi>(tables, rows.data(), call.k, call.k,
                                       apack + ib * a_block, cs, sq, nullptr, layout);
        if (cs != nullptr) std::copy(sq, sq + valid, call.a_sq + i0);
        continue;
      }
      for (size_t r = 0; r < kLbfpMr; ++r) {
        const size_t i = i0 + r;
        LbfpPackedA* dst = apack + ib * a_block + r;
        if (i >= call.m) {
          for (size_t kk = 0; kk < kp_total; ++kk) {
            dst[kk * kLbfpMr] =
                Vbmi ? lbfp_entry<true>(tables, Code{0}, Code{0}, layout)
                     : LbfpPackedA{0u, static_cast<int32_t>(pack_pair(16, 16))};
          }
          continue;
        }
        const double sq =
            lbfp_pack_a_row<Vbmi>(tables, call.a + i * call.lda, call.k, 0, dst, cs, layout);
        if (cs != nullptr) call.a_sq[i] = sq;
      }
    }
  };
  auto pack_b = [&](size_t jp) {
    const size_t j0 = jp * kLbfpNr;
    const size_t cols = std::min(kLbfpNr, call.n - j0);
    if (Vbmi || tables.bit_fields) {  // (the VBMI tables require the bit fields)
      lbfp_pack_b_panel_avx512<Vbmi>(tables, call.b + j0, call.ldb, call.k, cols,
                                     bpack + jp * b_panel, cs, call.b_sq + j0, layout);
      return;
    }
    alignas(64) double sq[kLbfpNr] = {};
    for (size_t kk = 0; kk < kp_total; ++kk) {
      uint32_t* dst = bpack + jp * b_panel + kk * 2 * kLbfpNr;
      const Code* row0 = call.b + 2 * kk * call.ldb + j0;
      const bool has_odd = 2 * kk + 1 < call.k;
      for (size_t c = 0; c < cols; ++c) {
        const Code b0 = row0[c];
        const Code b1 = has_odd ? row0[call.ldb + c] : Code{0};
        dst[c] = pack_pair(tables.b_frac[b0], 16 + tables.b_frac[b1]);
        dst[kLbfpNr + c] = pack_pair(tables.b_sign_pow[b0], tables.b_sign_pow[b1]);
        if (cs != nullptr) sq[c] += cs[b0] + cs[b1];
      }
      for (size_t c = cols; c < kLbfpNr; ++c) {
        dst[c] = pack_pair(0, 16);
        dst[kLbfpNr + c] = 0;
      }
    }
    if (cs != nullptr) {
      for (size_t c = 0; c < cols; ++c) call.b_sq[j0 + c] = sq[c];
    }
  };
  const int16_t* pair_h = &tables.pair_h[0][0];
  auto compute = [&](size_t u) {
    compute_unit<kLbfpMr, kLbfpNr>(
        call, u, chunks, chunk_blocks, blocks, Vbmi ? kVbmiSlicePairs : kLbfpSlicePairs,
        kp_total, nullptr,
        [&](size_t kn, size_t ib, size_t k0, size_t jp, int32_t* c, bool accumulate,
            int64_t* direct) {
          const size_t cols = std::min(kLbfpNr, call.n - jp * kLbfpNr);
          if (Vbmi && direct == nullptr && cols <= 32) {
            const LbfpPackedA* a = apack + ib * a_block + k0 * kLbfpMr;
            const uint32_t* b = bpack + jp * b_panel + k0 * pair_words;
            if (cols <= 16) {
              lbfp_micro_vbmi_narrow<1>(kn, a, b, pair_words, &tables.x16[0][0], c, accumulate);
            } else {
              lbfp_micro_vbmi_narrow<2>(kn, a, b, pair_words, &tables.x16[0][0], c, accumulate);
            }
          } else if (Vbmi) {
            lbfp_micro_vbmi(kn, apack + ib * a_block + k0 * kLbfpMr,
                            bpack + jp * b_panel + k0 * pair_words, &tables.x16[0][0], c,
                            accumulate, direct, call.ldo, call.initial + jp * kLbfpNr);
          } else {
            lbfp_micro_avx512(kn, apack + ib * a_block + k0 * kLbfpMr,
                              bpack + jp * b_panel + k0 * pair_words, pair_h, c, accumulate,
                              direct, call.ldo, call.initial + jp * kLbfpNr);
          }
        });
  };
  run_by_panels(call, threads, parallel, chunks, panels, pack_a, pack_b, compute);
}
}  // namespace

void lbfp_gemm_avx512(const LbfpKernelTables& tables, const GemmCall& call, size_t threads,
                      const ParallelFor& parallel) {
  lbfp_gemm_impl<false>(tables, call, threads, parallel);
}

void lbfp_gemm_avx512_vbmi(const LbfpKernelTables& tables, const GemmCall& call,
                           size_t threads, const ParallelFor& parallel) {
  lbfp_gemm_impl<true>(tables, call, threads, parallel);
}

LBFP_AVX512_TARGET void bfp_gemm_avx512(const BfpKernelTables& tables, const GemmCall& call,
                                        size_t threads, const ParallelFor& parallel) {
  const size_t kq_total = (call.k + 3) / 4;
  const size_t blocks = round_up(call.m, kBfpMr) / kBfpMr;
  const size_t panels = round_up(call.n, kBfpNr) / kBfpNr;
  const size_t want_units = 4 * threads;
  size_t chunk_blocks = (kChunkRows + kBfpMr - 1) / kBfpMr;  // 22 blocks: 132 rows
  while (chunk_blocks > 4 && panels * ((blocks + chunk_blocks - 1) / chunk_blocks) < want_units) {
    chunk_blocks /= 2;
  }
  const size_t chunks = (blocks + chunk_blocks - 1) / chunk_blocks;
  const size_t a_block = kq_total * kBfpMr;  // int32 per row block
  const size_t b_panel = kq_total * kBfpNr;  // uint32 per panel
  const CallBuffers buf = call_buffers(blocks * a_block * sizeof(int32_t),
                                       panels * b_panel * sizeof(uint32_t),
                                       blocks * kBfpMr * sizeof(uint32_t));
  auto* apack = reinterpret_cast<int8_t*>(buf.a);
  auto* bpack = reinterpret_cast<uint32_t*>(buf.b);
  auto* corrections = reinterpret_cast<uint32_t*>(buf.extra);  // 128 sum_k a_ik per row
  const double* cs = call.cs_square;

  // W = 8 codes with k a multiple of 4: the micro-kernel reads whole row blocks of A in place
  // (the code byte is the mantissa), so only the last, partial block is packed.
  const bool a_in_place = tables.identity && call.k % 4 == 0;
  auto in_place = [&](size_t ib) { return a_in_place && (ib + 1) * kBfpMr <= call.m; };
  auto pack_a = [&](size_t chunk) {
    const size_t b0 = chunk * chunk_blocks;
    const size_t b1 = std::min(blocks, b0 + chunk_blocks);
    for (size_t ib = b0; ib < b1; ++ib) {
      for (size_t r = 0; r < kBfpMr; ++r) {
        const size_t i = ib * kBfpMr + r;
        int8_t* dst = apack + (ib * a_block + r) * 4;
        if (i >= call.m) {
          for (size_t kk = 0; kk < kq_total; ++kk) std::memset(dst + kk * kBfpMr * 4, 0, 4);
          corrections[i] = 0;
          continue;
        }
        const Code* arow = call.a + i * call.lda;
        const size_t full = call.k / 4;
        uint32_t sum = 0;  // mod 2^32, as the corrections
        if (tables.identity) {  // W = 8: the code byte is the mantissa
          if (!in_place(ib)) {
            for (size_t kk = 0; kk < full; ++kk) {
              std::memcpy(dst + kk * kBfpMr * 4, arow + 4 * kk, 4);
            }
          }
          sum = signed_byte_sum(arow, 4 * full);
        } else {
          for (size_t kk = 0; kk < full; ++kk) {
            int8_t* d = dst + kk * kBfpMr * 4;
            for (size_t s = 0; s < 4; ++s) {
              d[s] = tables.mantissa[arow[4 * kk + s]];
              sum += static_cast<uint32_t>(d[s]);
            }
          }
        }
        for (size_t kk = full; kk < kq_total; ++kk) {
          int8_t* d = dst + kk * kBfpMr * 4;
          for (size_t s = 0; s < 4; ++s) {
            const size_t k = 4 * kk + s;
            d[s] = k < call.k ? tables.mantissa[arow[k]] : int8_t{0};
            sum += static_cast<uint32_t>(d[s]);
          }
        }
        corrections[i] = sum * 128u;
        if (cs != nullptr) {
          double sq = 0.0;
          for (size_t k = 0; k < call.k; ++k) sq += cs[arow[k]];
          call.a_sq[i] = sq;
        }
      }
    }
  };
  auto pack_b = [&](size_t jp) {
    const size_t j0 = jp * kBfpNr;
    const size_t cols = std::min(kBfpNr, call.n - j0);
    for (size_t kk = 0; kk < kq_total; ++kk) {
      uint32_t* dst = bpack + jp * b_panel + kk * kBfpNr;
      if (4 * kk + 4 <= call.k && cols == kBfpNr) {
        const Code* r0 = call.b + 4 * kk * call.ldb + j0;
        const Code* r1 = r0 + call.ldb;
        const Code* r2 = r1 + call.ldb;
        const Code* r3 = r2 + call.ldb;
        if (tables.identity) {  // mantissa + 128 = code ^ 0x80
          bfp_interleave4_avx512(r0, r1, r2, r3, dst, 0x80808080u);
        } else {
          for (size_t c = 0; c < kBfpNr; ++c) {
            dst[c] = (uint32_t{uint8_t(tables.mantissa[r0[c]] + 128)}) |
                     (uint32_t{uint8_t(tables.mantissa[r1[c]] + 128)} << 8) |
                     (uint32_t{uint8_t(tables.mantissa[r2[c]] + 128)} << 16) |
                     (uint32_t{uint8_t(tables.mantissa[r3[c]] + 128)} << 24);
          }
        }
        continue;
      }
      if (tables.identity) {  // a narrow panel or the last, partial k quad
        const Code* rows[4];
        for (size_t s = 0; s < 4; ++s) {
          const size_t k = 4 * kk + s;
          rows[s] = k < call.k ? call.b + k * call.ldb + j0 : nullptr;
        }
        bfp_interleave4_masked(rows, cols, dst, 0x80808080u);
        continue;
      }
      bfp_quad_row(tables, call, j0, cols, kBfpNr, kk, 128, reinterpret_cast<uint8_t*>(dst));
    }
    if (cs != nullptr) column_squares(call, cs, j0, cols);
  };
  auto compute = [&](size_t u) {
    compute_unit<kBfpMr, kBfpNr>(
        call, u, chunks, chunk_blocks, blocks, kBfpSliceQuads, kq_total, corrections,
        [&](size_t kn, size_t ib, size_t k0, size_t jp, int32_t* c, bool accumulate,
            int64_t* direct) {
          const auto* bk = reinterpret_cast<const int32_t*>(bpack + jp * b_panel) + k0 * kBfpNr;
          // Row block ib of A: its rows in place (lda apart, 4 bytes per k quad) or packed.
          const bool rows_in_place = in_place(ib);
          const unsigned char* ak = rows_in_place
                                        ? call.a + ib * kBfpMr * call.lda + 4 * k0
                                        : reinterpret_cast<const unsigned char*>(apack) +
                                              4 * (ib * a_block + k0 * kBfpMr);
          const size_t row_bytes = rows_in_place ? call.lda : 4;
          const size_t k_bytes = rows_in_place ? 4 : 4 * kBfpMr;
          // A narrow panel: only its 16-column groups (never stored direct).
          const size_t cols = std::min(kBfpNr, call.n - jp * kBfpNr);
          if (cols <= 16) {
            bfp_micro_narrow<1>(kn, ak, row_bytes, k_bytes, bk, c, accumulate);
          } else if (cols <= 32) {
            bfp_micro_narrow<2>(kn, ak, row_bytes, k_bytes, bk, c, accumulate);
          } else {
            bfp_micro_avx512(kn, ak, row_bytes, k_bytes, bk, c, accumulate, direct, call.ldo,
                             call.initial + jp * kBfpNr, corrections + ib * kBfpMr);
          }
        });
  };
  run_by_panels(call, threads, parallel, chunks, panels, pack_a, pack_b, compute);
}

// ---- AMX-INT8: BFP -----------------------------------------------------------------------------
// tdpbssd: C (16 x 16 int32) += A (16 rows x 64 signed bytes) . B (16 k quads x 16 columns x 4
// signed bytes), 16,384 exact int8 x int8 products per instruction, added in int32 (kept only
// where the caller's overflow proof holds, as for the AVX-512 kernels). Eight tiles of 16 rows x
// 64 bytes: C 0-3 hold a 32 x 32 block of sums, A 4-5 its rows 0-15 and 16-31, B 6-7 its columns
// 0-15 and 16-31, for each 64 k. No bias: the operands are signed on both sides.
// B is packed once per 32-column panel: k quad rows of 32 columns x 4 bytes (128 bytes, k padded
// with zeros to a multiple of 64), so a B tile is 16 quad rows at a stride of 128 bytes and a
// panel fills every L1 set evenly (a 64-column panel read 32 columns at a time used half of
// them, and ran at a fifth of the speed). A rows are read in place (W = 8 codes, a whole 32-row
// block far enough from the end of A: past k, a row's tile loads read the next row's bytes,
// which B's zero rows cancel) or from a copy padded with zeros, packed per row chunk. k runs in
// slices of 512, so that a panel's slice (16 KiB) stays in L1 while the chunk's row blocks pass;
// the sums go through a small int32 scratch between slices (tile loads and stores). Measured on
// a Sapphire Rapids class core: tdpbssd alone 2.1 T multiply-adds/s, this loop with A from L2
// about 0.5 T (docs/performance.md). The schedule (pieces, units, Cauchy-Schwarz terms while
// packing) is the AVX-512 kernels'.
namespace {
constexpr size_t kAmxMr = 32;
constexpr size_t kAmxNr = 32;
constexpr size_t kAmxK = 64;                  // k per tile step
constexpr size_t kAmxQuadRow = 4 * kAmxNr;    // bytes of a packed B quad row
constexpr size_t kAmxSlice = 512;             // k per slice

#define LBFP_AMX_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,amx-tile,amx-int8")))

// The LDTILECFG operand: palette 1, every tile used as 16 rows of 64 bytes.
struct alignas(64) AmxTileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(AmxTileConfig) == 64, "LDTILECFG reads 64 bytes");

// The tiles belong to the thread between configure and release.
class AmxTiles {
 public:
  LBFP_AMX_TARGET AmxTiles() {
    AmxTileConfig config;
    for (int t = 0; t < 8; ++t) {
      config.colsb[t] = 64;
      config.rows[t] = 16;
    }
    // Not _tile_loadconfig: GCC 12's tells the compiler it reads only the first 8 bytes, so
    // the stores of the rows and widths were dropped as dead.
    __asm__ volatile("ldtilecfg %0" : : "m"(config));
  }
  LBFP_AMX_TARGET ~AmxTiles() { _tile_release(); }
  AmxTiles(const AmxTiles&) = delete;
  AmxTiles& operator=(const AmxTiles&) = delete;
};

// c (32 x 32 int32, row stride 32) = (c when load, else 0) + the sums over kn (a multiple of 64)
// of rows a (stride lda) and the panel's quad rows at b; columns 16-31 only when `wide` (a
// panel of at most 16 columns leaves them out: half the tile products).
LBFP_AMX_TARGET void bfp_amx_block(const Code* a, size_t lda, const uint8_t* b, size_t kn,
                                   bool load, bool wide, int32_t* c) {
  constexpr long kC = 4 * 32;
  if (load) {
    _tile_loadd(0, c, kC);
    _tile_loadd(1, c + 16, kC);
    _tile_loadd(2, c + 16 * 32, kC);
    _tile_loadd(3, c + 16 * 32 + 16, kC);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  const Code* a16 = a + 16 * lda;
  const auto stride = static_cast<long>(lda);
  if (wide) {
    for (size_t k0 = 0; k0 < kn; k0 += kAmxK) {
      const uint8_t* bk = b + (k0 / 4) * kAmxQuadRow;
      _tile_loadd(4, a + k0, stride);
      _tile_loadd(6, bk, kAmxQuadRow);
      _tile_dpbssd(0, 4, 6);
      _tile_loadd(7, bk + 64, kAmxQuadRow);
      _tile_dpbssd(1, 4, 7);
      _tile_loadd(5, a16 + k0, stride);
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    }
  } else {
    for (size_t k0 = 0; k0 < kn; k0 += kAmxK) {
      const uint8_t* bk = b + (k0 / 4) * kAmxQuadRow;
      _tile_loadd(4, a + k0, stride);
      _tile_loadd(6, bk, kAmxQuadRow);
      _tile_dpbssd(0, 4, 6);
      _tile_loadd(5, a16 + k0, stride);
      _tile_dpbssd(2, 5, 6);
    }
  }
  _tile_stored(0, c, kC);
  _tile_stored(1, c + 16, kC);
  _tile_stored(2, c + 16 * 32, kC);
  _tile_stored(3, c + 16 * 32 + 16, kC);
}

// out[i * ldo + j] = init[j] + c[i * 32 + j] (int32 sign-extended), i < rows, j < cols.
LBFP_AMX_TARGET void amx_finish(const int32_t* c, size_t rows, size_t cols, const int64_t* init,
                                int64_t* out, size_t ldo) {
  if (cols == 32) {
    const __m512i i0 = _mm512_loadu_si512(init);
    const __m512i i1 = _mm512_loadu_si512(init + 8);
    const __m512i i2 = _mm512_loadu_si512(init + 16);
    const __m512i i3 = _mm512_loadu_si512(init + 24);
    for (size_t i = 0; i < rows; ++i) {
      const int32_t* ci = c + i * 32;
      int64_t* o = out + i * ldo;
      _mm512_storeu_si512(o, _mm512_add_epi64(i0, _mm512_cvtepi32_epi64(
                                                      _mm256_load_si256(
                                                          reinterpret_cast<const __m256i*>(ci)))));
      _mm512_storeu_si512(o + 8, _mm512_add_epi64(i1, _mm512_cvtepi32_epi64(_mm256_load_si256(
                                                          reinterpret_cast<const __m256i*>(ci + 8)))));
      _mm512_storeu_si512(o + 16, _mm512_add_epi64(i2, _mm512_cvtepi32_epi64(_mm256_load_si256(
                                                           reinterpret_cast<const __m256i*>(ci + 16)))));
      _mm512_storeu_si512(o + 24, _mm512_add_epi64(i3, _mm512_cvtepi32_epi64(_mm256_load_si256(
                                                           reinterpret_cast<const __m256i*>(ci + 24)))));
    }
    return;
  }
  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < cols; j += 8) {
      const auto mask = static_cast<__mmask8>(cols - j >= 8 ? 0xff : (1u << (cols - j)) - 1);
      const __m512i sums = _mm512_maskz_cvtepi32_epi64(
          mask, _mm256_maskz_loadu_epi32(mask, c + i * 32 + j));
      _mm512_mask_storeu_epi64(out + i * ldo + j, mask,
                               _mm512_add_epi64(sums, _mm512_maskz_loadu_epi64(mask, init + j)));
    }
  }
}

// dst (32 dwords) = column c's bytes (r0[c], r1[c], r2[c], r3[c]) for c < 32, as
// bfp_interleave4_avx512 without the bias, on 32 columns.
LBFP_AMX_TARGET void bfp_interleave4_32(const Code* r0, const Code* r1, const Code* r2,
                                        const Code* r3, uint8_t* dst) {
  const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0));
  const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r1));
  const __m256i x2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r2));
  const __m256i x3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r3));
  const __m256i lo01 = _mm256_unpacklo_epi8(x0, x1);
  const __m256i hi01 = _mm256_unpackhi_epi8(x0, x1);
  const __m256i lo23 = _mm256_unpacklo_epi8(x2, x3);
  const __m256i hi23 = _mm256_unpackhi_epi8(x2, x3);
  // q[t], lane L: columns 16 L + 4 t .. 16 L + 4 t + 3 as dwords.
  const __m256i q0 = _mm256_unpacklo_epi16(lo01, lo23);
  const __m256i q1 = _mm256_unpackhi_epi16(lo01, lo23);
  const __m256i q2 = _mm256_unpacklo_epi16(hi01, hi23);
  const __m256i q3 = _mm256_unpackhi_epi16(hi01, hi23);
  auto* d = reinterpret_cast<__m256i*>(dst);
  _mm256_storeu_si256(d, _mm256_permute2x128_si256(q0, q1, 0x20));
  _mm256_storeu_si256(d + 1, _mm256_permute2x128_si256(q2, q3, 0x20));
  _mm256_storeu_si256(d + 2, _mm256_permute2x128_si256(q0, q1, 0x31));
  _mm256_storeu_si256(d + 3, _mm256_permute2x128_si256(q2, q3, 0x31));
}
}  // namespace

LBFP_AMX_TARGET void bfp_gemm_amx(const BfpKernelTables& tables, const GemmCall& call,
                                  size_t threads, const ParallelFor& parallel) {
  const size_t kp = round_up(std::max<size_t>(call.k, 1), kAmxK);
  const size_t blocks = round_up(call.m, kAmxMr) / kAmxMr;
  const size_t panels = round_up(call.n, kAmxNr) / kAmxNr;
  const size_t want_units = 4 * threads;
  size_t chunk_blocks = 4;  // 128 rows
  while (chunk_blocks > 1 && panels * ((blocks + chunk_blocks - 1) / chunk_blocks) < want_units) {
    chunk_blocks /= 2;
  }
  const size_t chunks = (blocks + chunk_blocks - 1) / chunk_blocks;
  const size_t a_block = kAmxMr * kp;             // bytes per packed row block
  const size_t b_panel = (kp / 4) * kAmxQuadRow;  // bytes per packed panel
  const CallBuffers buf = call_buffers(blocks * a_block, panels * b_panel, 0);
  Code* apack = buf.a;
  uint8_t* bpack = buf.b;
  const double* cs = call.cs_square;

  // In place, the tile loads of a block read kp - k bytes past the end of its last row (up to
  // 63): the zero rows of the packed B multiply them, so they add nothing, but they must lie
  // inside A, in the rows below. Blocks that the end of A leaves too close are packed.
  auto in_place = [&](size_t ib) {
    const size_t last = ib * kAmxMr + kAmxMr - 1;  // the block's last row
    return tables.identity && last < call.m &&
           kp - call.k <= (call.m - 1 - last) * call.lda;
  };
  auto pack_a = [&](size_t chunk) {
    const size_t b0 = chunk * chunk_blocks;
    const size_t b1 = std::min(blocks, b0 + chunk_blocks);
    for (size_t ib = b0; ib < b1; ++ib) {
      for (size_t r = 0; r < kAmxMr; ++r) {
        const size_t i = ib * kAmxMr + r;
        Code* dst = apack + ib * a_block + r * kp;
        if (i >= call.m) {
          if (!in_place(ib)) std::memset(dst, 0, kp);
          continue;
        }
        const Code* arow = call.a + i * call.lda;
        if (!in_place(ib)) {
          if (tables.identity) {  // W = 8: the code byte is the mantissa
            std::memcpy(dst, arow, call.k);
          } else {
            for (size_t k = 0; k < call.k; ++k) {
              dst[k] = static_cast<Code>(tables.mantissa[arow[k]]);
            }
          }
          std::memset(dst + call.k, 0, kp - call.k);
        }
        if (cs != nullptr) {
          double sq = 0.0;
          for (size_t k = 0; k < call.k; ++k) sq += cs[arow[k]];
          call.a_sq[i] = sq;
        }
      }
    }
  };
  auto pack_b = [&](size_t jp) {
    const size_t j0 = jp * kAmxNr;
    const size_t cols = std::min(kAmxNr, call.n - j0);
    for (size_t kk = 0; kk < kp / 4; ++kk) {
      uint8_t* dst = bpack + jp * b_panel + kk * kAmxQuadRow;
      if (4 * kk + 4 <= call.k && cols == kAmxNr && tables.identity) {
        const Code* r0 = call.b + 4 * kk * call.ldb + j0;
        bfp_interleave4_32(r0, r0 + call.ldb, r0 + 2 * call.ldb, r0 + 3 * call.ldb, dst);
        continue;
      }
      bfp_quad_row(tables, call, j0, cols, kAmxNr, kk, 0, dst);
    }
    if (cs != nullptr) column_squares(call, cs, j0, cols);
  };
  auto compute = [&](size_t u) {
    const size_t jp = u / chunks;
    const size_t b0 = (u % chunks) * chunk_blocks;
    const size_t b1 = std::min(blocks, b0 + chunk_blocks);
    const size_t j0 = jp * kAmxNr;
    const size_t cols = std::min(kAmxNr, call.n - j0);
    Scratch scratch(chunk_blocks * kAmxMr * kAmxNr * sizeof(int32_t), 2);
    auto* partial = reinterpret_cast<int32_t*>(scratch.data);
    const AmxTiles tiles;
    for (size_t k0 = 0; k0 < kp; k0 += kAmxSlice) {
      const size_t kn = std::min(kAmxSlice, kp - k0);
      const bool last = k0 + kn == kp;
      for (size_t ib = b0; ib < b1; ++ib) {
        const size_t i0 = ib * kAmxMr;
        const Code* a = in_place(ib) ? call.a + i0 * call.lda : apack + ib * a_block;
        const size_t lda = in_place(ib) ? call.lda : kp;
        int32_t* c = partial + (ib - b0) * kAmxMr * kAmxNr;
        bfp_amx_block(a + k0, lda, bpack + jp * b_panel + (k0 / 4) * kAmxQuadRow, kn, k0 > 0,
                      cols > 16, c);
        if (last) {
          amx_finish(c, std::min(kAmxMr, call.m - i0), cols, call.initial + j0,
                     call.out + i0 * call.ldo + j0, call.ldo);
        }
      }
    }
  };
  run_by_panels(call, threads, parallel, chunks, panels, pack_a, pack_b, compute);
}

}  // namespace lbfp::detail
