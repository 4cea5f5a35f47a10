#include "lbfp/arith.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "lbfp/bigint.h"
#include "lbfp/x86_intrinsics.h"

namespace lbfp {
namespace {

using detail::bit_length;

// At least two digits, and all of them: an out-of-range 0x1ff must not read as 0xff.
std::string hex_code(unsigned code) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[code & 15]);
    code >>= 4;
  } while (code != 0 || s.size() < 2);
  return "0x" + s;
}

void check_acc_range(int acc_bits, int64_t acc) {
  const int64_t max = (int64_t{1} << (acc_bits - 1)) - 1;
  if (acc < -max - 1 || acc > max) {
    throw std::out_of_range("accumulator value " + std::to_string(acc) + " does not fit in " +
                            std::to_string(acc_bits) + " bits");
  }
}

Code saturated_lbfp_code(const LbfpFormat& format, bool negative, int64_t level) {
  if (level <= 0) return 0;
  if (level > format.max_magnitude()) level = format.max_magnitude();
  return make_code(format, negative, static_cast<int>(level));
}

// A whole number of binades in log levels: binades * 2^F. A multiplication, since a left shift of
// a negative value is undefined behaviour in C++17 (UBSan, tb/fuzz/fuzz_arith.cpp).
int64_t binades_to_levels(const LbfpFormat& format, int64_t binades) {
  return binades * (int64_t{1} << format.frac_bits());
}

// The log level l = 2^F * log2|x| - 2^F * (E - 2^I) relative to block exponent E, as an integer
// offset: code magnitude = round(l) = round(2^F log2|x|) - offset.
int64_t level_offset(const LbfpFormat& format, int exponent) {
  return binades_to_levels(format, int64_t{exponent} - format.exponent_offset());
}

}  // namespace

// The messages, out of line: the checks stay small enough to inline into multiply and dot.
namespace detail {
[[noreturn]] __attribute__((noinline, cold)) void throw_code_width(unsigned code, int width) {
  throw std::out_of_range("code " + hex_code(code) + " does not fit in " + std::to_string(width) +
                          " bits");
}
}  // namespace detail

namespace {
using detail::check_lbfp_code;
using detail::throw_code_width;
[[noreturn]] __attribute__((noinline, cold)) void throw_bfp_most_negative(unsigned code) {
  throw std::out_of_range("code " + hex_code(code) + " is -2^(W-1), outside the BFP range " +
                          "[-(2^(W-1)-1), 2^(W-1)-1]");
}

__attribute__((always_inline)) inline void check_bfp_code(const BfpFormat& format,
                                                          unsigned code) {
  if (code >= static_cast<unsigned>(format.code_count())) throw_code_width(code, format.width());
  if (code == (1u << (format.width() - 1))) throw_bfp_most_negative(code);
}
}  // namespace

void check_code(const LbfpFormat& format, unsigned code) { check_lbfp_code(format, code); }

void check_code(const BfpFormat& format, unsigned code) { check_bfp_code(format, code); }

namespace {
__attribute__((always_inline)) inline int bfp_mantissa(const BfpFormat& format, Code code) {
  check_bfp_code(format, code);
  const int w = format.width();
  const int value = code;
  return (value & (1 << (w - 1))) != 0 ? value - (1 << w) : value;
}
}  // namespace

int mantissa(const BfpFormat& format, Code code) { return bfp_mantissa(format, code); }

Code make_code(const BfpFormat& format, int mantissa_value) {
  if (mantissa_value < -format.max_mantissa() || mantissa_value > format.max_mantissa()) {
    throw std::out_of_range("BFP mantissa " + std::to_string(mantissa_value) + " is outside +-" +
                            std::to_string(format.max_mantissa()));
  }
  return static_cast<Code>(static_cast<unsigned>(mantissa_value) &
                           ((1u << format.width()) - 1));
}

int64_t round_log2_scaled(const LbfpFormat& format, uint64_t mantissa_value, int exp2) {
  if (mantissa_value == 0) throw std::invalid_argument("round_log2_scaled: zero mantissa");
  // v = r * 2^k with r in [1, 2): r in Q1.63 is exact for a mantissa of at most 64 bits, and the
  // boundaries floor(2^((2j+1)/2^(F+1)) 2^63) are irrational multiples, so r_q63 > floor(b)
  // exactly when r > b. The rounded level is 2^F k plus the count of boundaries below r.
  const int lead = bit_length(mantissa_value) - 1;
  const uint64_t r_q63 = mantissa_value << (63 - lead);
  const auto& bounds = format.boundaries_q63();
  const auto below = std::lower_bound(bounds.begin(), bounds.end(), r_q63) - bounds.begin();
  return binades_to_levels(format, int64_t{lead} + exp2) + below;
}

Code encode(const LbfpFormat& format, double x, int exponent) {
  check_exponent(exponent);
  if (std::isnan(x)) throw std::domain_error("cannot encode NaN");
  if (x == 0.0) return 0;
  const bool negative = std::signbit(x);
  if (std::isinf(x)) return make_code(format, negative, format.max_magnitude());
  int e = 0;
  const double fraction = std::frexp(std::fabs(x), &e);  // |x| = fraction * 2^e, [0.5, 1)
  const auto mant = static_cast<uint64_t>(std::ldexp(fraction, 53));
  const int64_t level = round_log2_scaled(format, mant, e - 53) - level_offset(format, exponent);
  return saturated_lbfp_code(format, negative, level);
}

Code encode(const BfpFormat& format, double x, int exponent) {
  check_exponent(exponent);
  if (std::isnan(x)) throw std::domain_error("cannot encode NaN");
  const double max = format.max_mantissa();
  // Scaling by a power of two is exact; nearbyint rounds half to even in the default mode.
  const double n = std::nearbyint(std::ldexp(x, format.width() - 1 - exponent));
  const double clamped = std::min(max, std::max(-max, n));
  return make_code(format, static_cast<int>(clamped));
}

double decode(const LbfpFormat& format, Code code, int exponent) {
  check_code(format, code);
  check_exponent(exponent);
  const int m = magnitude(format, code);
  if (m == 0) return 0.0;
  const int frac_bits = format.frac_bits();
  const int64_t level = m + level_offset(format, exponent);  // log2|x| * 2^F
  const int64_t binade = level >> frac_bits;                  // floor
  const int frac = static_cast<int>(level & ((1 << frac_bits) - 1));
  const int stride = 1 << (detail::LogTables::kLog2Points - frac_bits);
  const uint64_t point = detail::log_tables().q63[frac * stride];
  const double value = std::ldexp(static_cast<double>(point), static_cast<int>(binade) - 63);
  return is_negative(format, code) ? -value : value;
}

double decode(const BfpFormat& format, Code code, int exponent) {
  check_exponent(exponent);
  return std::ldexp(static_cast<double>(mantissa(format, code)), exponent - (format.width() - 1));
}

std::string LbfpProduct::to_decimal() const {
  if (is_zero()) return "0";
  return (negative ? "-" : "") + BigUint(lut_value).shifted_left(shift).to_decimal();
}

int64_t multiply(const BfpFormat& format, Code a, Code b) {
  return int64_t{bfp_mantissa(format, a)} * bfp_mantissa(format, b);
}

Accumulator::Accumulator(int acc_bits, int64_t initial) {
  check_acc_bits(acc_bits);
  max_ = (int64_t{1} << (acc_bits - 1)) - 1;
  min_ = -max_ - 1;
  check_acc_range(acc_bits, initial);
  value_ = initial;
}

namespace {
using detail::term_for;

// Accumulator::add(product) for an accumulator of A = acc_bits.
__attribute__((always_inline)) inline void add_product(Accumulator& acc, const LbfpProduct& p,
                                                       int acc_bits) {
  if (!p.is_zero()) acc.add(term_for(p, acc_bits));
}
}  // namespace

void Accumulator::add(const LbfpProduct& product) {
  add_product(*this, product, bit_length(static_cast<uint64_t>(max_)) + 1);
}

DotResult dot(const LbfpFormat& format, const Code* a, const Code* b, size_t n,
              int64_t initial) {
  Accumulator acc(format.acc_bits(), initial);
  // acc.add(multiply(format, a[k], b[k])) with both calls inline.
  const int acc_bits = format.acc_bits();
  for (size_t k = 0; k < n; ++k) add_product(acc, multiply(format, a[k], b[k]), acc_bits);
  return {acc.value(), acc.overflow_count()};
}

DotResult dot(const BfpFormat& format, const Code* a, const Code* b, size_t n, int64_t initial) {
  Accumulator acc(format.acc_bits(), initial);
  for (size_t k = 0; k < n; ++k) {
    acc.add(int64_t{bfp_mantissa(format, a[k])} * bfp_mantissa(format, b[k]));
  }
  return {acc.value(), acc.overflow_count()};
}

template <class Format>
DotResult dot(const Format& format, const std::vector<Code>& a, const std::vector<Code>& b,
              int64_t initial) {
  if (a.size() != b.size()) {
    throw std::invalid_argument("dot: vectors of different lengths " + std::to_string(a.size()) +
                                " and " + std::to_string(b.size()));
  }
  return dot(format, a.data(), b.data(), a.size(), initial);
}
template DotResult dot(const LbfpFormat&, const std::vector<Code>&, const std::vector<Code>&,
                       int64_t);
template DotResult dot(const BfpFormat&, const std::vector<Code>&, const std::vector<Code>&,
                       int64_t);

int64_t bias_to_accumulator(int acc_bits, double bias, int scale) {
  check_acc_bits(acc_bits);
  if (std::isnan(bias)) throw std::domain_error("bias is NaN");
  const int64_t max = (int64_t{1} << (acc_bits - 1)) - 1;
  const auto limit = static_cast<double>(uint64_t{1} << (acc_bits - 1));  // exact
  // bias 2^-scale rounded once (exact unless it leaves the double range), through a product
  // where 2^-scale is a normal double (no library call: a GEMM converts a bias per column).
  const double scaled = scale >= -1023 && scale <= 1022 ? bias * power_of_two(-scale)
                                                        : std::ldexp(bias, -scale);
  // Nearest with ties to even (the default rounding mode), as nearbyint: below 2^52 in
  // magnitude the sum with 2^52 of the same sign has a unit in its last place of 1, so the
  // addition rounds to the integer and the subtraction is exact; above, every double is one.
  double rounded = scaled;
  if (std::fabs(scaled) < 0x1p52) {
    const double big = std::copysign(0x1p52, scaled);
    rounded = (scaled + big) - big;
  }
  if (rounded >= limit) return max;
  if (rounded < -limit) return -max - 1;
  return static_cast<int64_t>(rounded);
}

namespace {

// The requantizers with out_exp already checked: one body for the single and the row entry.
inline Code requantize_checked(const LbfpFormat& format, int64_t acc, int scale, int out_exp,
                               bool relu) {
  check_acc_range(format.acc_bits(), acc);
  if (acc == 0 || (relu && acc < 0)) return 0;
  const bool negative = acc < 0;
  const uint64_t mag = negative ? static_cast<uint64_t>(-acc) : static_cast<uint64_t>(acc);
  // Leading one, then the magnitude normalised to [2^(A-1), 2^A) against the A-bit constants
  // floor(2^((2j+1)/2^(F+1)) 2^(A-1)); |acc| <= 2^(A-1), so the normalising shift is >= 0.
  // (requant_rank compares mag << (63 - lead), the same value shifted by another 64 - A bits.)
  const int lead = bit_length(mag) - 1;
  const int64_t above = format.requant_rank(mag << (63 - lead));
  const int64_t level = binades_to_levels(format, int64_t{lead} + scale) + above -
                        level_offset(format, out_exp);
  return saturated_lbfp_code(format, negative, level);
}

inline Code requantize_checked(const BfpFormat& format, int64_t acc, int scale, int out_exp,
                               bool relu) {
  check_acc_range(format.acc_bits(), acc);
  if (relu && acc < 0) acc = 0;
  const int64_t max = format.max_mantissa();
  // n = round-half-even(acc * 2^shift), shift = scale - Eo + (W - 1).
  const int64_t shift = int64_t{scale} - out_exp + (format.width() - 1);
  int64_t n = 0;
  if (acc == 0) {
    n = 0;
  } else if (shift >= 0) {
    const uint64_t mag = acc < 0 ? static_cast<uint64_t>(-acc) : static_cast<uint64_t>(acc);
    const bool saturates = shift >= 62 || bit_length(mag) + shift > 62 ||
                           static_cast<int64_t>(mag << shift) > max;
    n = saturates ? (acc < 0 ? -max : max) : acc * (int64_t{1} << shift);
  } else if (shift <= -63) {
    n = 0;  // |acc| < 2^62, so |acc| * 2^shift < 1/2
  } else {
    const int s = static_cast<int>(-shift);
    const int64_t floor_q = acc >> s;  // arithmetic shift: floor division by 2^s
    const int64_t rem = acc - floor_q * (int64_t{1} << s);
    const int64_t half = int64_t{1} << (s - 1);
    n = floor_q + ((rem > half || (rem == half && (floor_q & 1) != 0)) ? 1 : 0);
  }
  n = std::min(max, std::max(-max, n));
  return make_code(format, static_cast<int>(n));
}

}  // namespace

template <class Format>
Code requantize_one(const Format& format, int64_t acc, int scale, int out_exp, bool relu) {
  check_exponent(out_exp);
  return requantize_checked(format, acc, scale, out_exp, relu);
}

template <class Format>
void requantize_n(const Format& format, const int64_t* acc, const int* scales, size_t n,
                  int out_exp, bool relu, Code* out) {
  check_exponent(out_exp);
  for (size_t i = 0; i < n; ++i) out[i] = requantize_checked(format, acc[i], scales[i], out_exp, relu);
}

Code requantize(const LbfpFormat& format, int64_t acc, int scale, int out_exp, bool relu) {
  return requantize_one(format, acc, scale, out_exp, relu);
}
Code requantize(const BfpFormat& format, int64_t acc, int scale, int out_exp, bool relu) {
  return requantize_one(format, acc, scale, out_exp, relu);
}
namespace {
// The row requantizers' argument checks, once per row: the output exponent, then every
// accumulator within A bits (one pass without a branch per element; the element's own check,
// which names it, only when one is out of range).
#if defined(__x86_64__)
// Whether every acc[i] is in [lo, hi], eight at a time (int64 compares need AVX-512 or SSE4.2;
// the library's baseline is SSE2).
__attribute__((target("avx512f"))) bool in_range_avx512(const int64_t* acc, size_t n, int64_t lo,
                                                        int64_t hi) {
  const __m512i vlo = _mm512_set1_epi64(lo);
  const __m512i vhi = _mm512_set1_epi64(hi);
  unsigned bad = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512i a = _mm512_loadu_si512(acc + i);
    bad |= static_cast<unsigned>(_mm512_cmplt_epi64_mask(a, vlo)) |
           static_cast<unsigned>(_mm512_cmpgt_epi64_mask(a, vhi));
  }
  if (i < n) {
    const auto lanes = static_cast<__mmask8>((1u << (n - i)) - 1);
    const __m512i a = _mm512_maskz_loadu_epi64(lanes, acc + i);
    bad |= static_cast<unsigned>(_mm512_mask_cmplt_epi64_mask(lanes, a, vlo)) |
           static_cast<unsigned>(_mm512_mask_cmpgt_epi64_mask(lanes, a, vhi));
  }
  return bad == 0;
}
#endif

void check_row(int acc_bits, const int64_t* acc, size_t n, int out_exp) {
  check_exponent(out_exp);
  const int64_t hi = (int64_t{1} << (acc_bits - 1)) - 1;
  const int64_t lo = -hi - 1;
  bool in_range = true;
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") != 0;
  if (avx512) {
    in_range = in_range_avx512(acc, n, lo, hi);
  } else
#endif
  {
    for (size_t i = 0; i < n; ++i) in_range &= acc[i] >= lo && acc[i] <= hi;
  }
  if (!in_range) {
    for (size_t i = 0; i < n; ++i) check_acc_range(acc_bits, acc[i]);
  }
}
}  // namespace

#if defined(__x86_64__)
namespace {
// The LBFP row loop below, eight outputs per step in AVX-512 int64 lanes: vplzcntq for the
// leading one, vpsllvq to normalise, the bucket's count of boundaries below by two vpermi2b
// look-ups (buckets 0-127 and 128-255), the bucket's next boundary by a gather, then the level
// and the code with masks; the last step masked. Returns n (it writes every output).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512cd,avx512vbmi"))) size_t lbfp_requantize_avx512(
    const LbfpFormat& format, const int64_t* acc, const int* scales, size_t n, int64_t offset,
    bool relu, Code* out) {
  const uint8_t* counts = format.rank_counts();
  const auto* next = reinterpret_cast<const long long*>(format.rank_next());
  // Up to 16 boundaries (F <= 4) sit in two registers: the bucket's next boundary is then the
  // one its count indexes (a permute, where a count of 16 has none), not a gather.
  const std::vector<uint64_t>& boundaries = format.rank_boundaries();
  const bool in_registers = boundaries.size() <= 16;
  alignas(64) uint64_t table[16];
  for (size_t j = 0; j < 16; ++j) table[j] = j < boundaries.size() ? boundaries[j] : ~uint64_t{0};
  const __m512i bounds0 = _mm512_load_si512(table);
  const __m512i bounds1 = _mm512_load_si512(table + 8);
  const __m512i sixteen = _mm512_set1_epi64(16);
  const __m512i counts0 = _mm512_loadu_si512(counts);
  const __m512i counts1 = _mm512_loadu_si512(counts + 64);
  const __m512i counts2 = _mm512_loadu_si512(counts + 128);
  const __m512i counts3 = _mm512_loadu_si512(counts + 192);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i byte = _mm512_set1_epi64(255);
  const __m512i bit63 = _mm512_set1_epi64(63);
  const __m512i top = _mm512_set1_epi64(format.max_magnitude());
  const __m512i sign = _mm512_set1_epi64(format.sign_mask());
  const __m512i base = _mm512_set1_epi64(-offset);
  const __m128i frac = _mm_cvtsi32_si128(format.frac_bits());
  for (size_t i = 0; i < n; i += 8) {
    // The last step's missing lanes load as zero accumulators and are not stored.
    const __mmask8 lanes = n - i >= 8 ? __mmask8{0xff} : static_cast<__mmask8>((1u << (n - i)) - 1);
    const __m512i a = _mm512_maskz_loadu_epi64(lanes, acc + i);
    const __mmask8 negative = _mm512_cmplt_epi64_mask(a, zero);
    const __m512i mag = _mm512_abs_epi64(a);
    const __m512i lz = _mm512_lzcnt_epi64(_mm512_or_si512(mag, one));
    const __m512i normalized = _mm512_sllv_epi64(mag, lz);
    const __m512i t = _mm512_and_si512(_mm512_srli_epi64(normalized, 55), byte);
    const __m512i low = _mm512_permutex2var_epi8(counts0, t, counts1);
    const __m512i high = _mm512_permutex2var_epi8(counts2, t, counts3);
    const __mmask8 upper = _mm512_test_epi64_mask(t, _mm512_set1_epi64(128));
    __m512i above = _mm512_and_si512(_mm512_mask_blend_epi64(upper, low, high), byte);
    if (in_registers) {
      const __m512i bound = _mm512_permutex2var_epi64(bounds0, above, bounds1);
      const __mmask8 has_next = _mm512_cmplt_epu64_mask(above, sixteen);
      above = _mm512_mask_add_epi64(
          above, has_next & _mm512_cmpgt_epu64_mask(normalized, bound), above, one);
    } else {
      const __m512i bound = _mm512_i64gather_epi64(t, next, 8);
      above =
          _mm512_mask_add_epi64(above, _mm512_cmpgt_epu64_mask(normalized, bound), above, one);
    }
    const __m512i scale = _mm512_cvtepi32_epi64(_mm256_maskz_loadu_epi32(lanes, scales + i));
    const __m512i lead = _mm512_sub_epi64(bit63, lz);
    __m512i level = _mm512_sll_epi64(_mm512_add_epi64(lead, scale), frac);
    level = _mm512_min_epi64(_mm512_add_epi64(_mm512_add_epi64(level, above), base), top);
    __mmask8 keep = _mm512_test_epi64_mask(mag, mag) & _mm512_cmpgt_epi64_mask(level, zero);
    if (relu) keep &= static_cast<__mmask8>(~negative);
    const __m512i code = _mm512_maskz_mov_epi64(
        keep, _mm512_mask_or_epi64(level, negative, level, sign));
    _mm_mask_storeu_epi8(out + i, lanes, _mm512_cvtepi64_epi8(code));
  }
  return n;
}
}  // namespace
#endif

// The same steps as requantize_checked without a branch on the data (signs, zeros and ReLU are
// as unpredictable as the data; each mispredicted branch cost more than the rest of an element):
// the range check first, over the whole row, then per element the leading one, the bucketed
// rank, the level and the code, selected with conditional moves. A zero accumulator gives
// level <= 0 through its mask, like a negative one under ReLU.
void requantize_row(const LbfpFormat& format, const int64_t* acc, const int* scales, size_t n,
                    int out_exp, bool relu, Code* out) {
  check_row(format.acc_bits(), acc, n, out_exp);
  const int64_t offset = level_offset(format, out_exp);
  const int64_t top = format.max_magnitude();
  const int frac = format.frac_bits();
  const auto sign = static_cast<unsigned>(format.sign_mask());
  size_t start = 0;
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                             __builtin_cpu_supports("avx512vl") &&
                             __builtin_cpu_supports("avx512cd") &&
                             __builtin_cpu_supports("avx512vbmi");
  if (avx512 && format.rank_bucketed()) {
    start = lbfp_requantize_avx512(format, acc, scales, n, offset, relu, out);
  }
#endif
  // Codes go to a local block first: a store through `out` (bytes, which may alias anything)
  // would make the compiler reload the format's rank tables for every element.
  constexpr size_t kBlock = 256;
  Code block[kBlock];
  for (size_t i0 = start; i0 < n; i0 += kBlock) {
    const size_t count = std::min(kBlock, n - i0);
    for (size_t j = 0; j < count; ++j) {
      const int64_t a = acc[i0 + j];
      const bool negative = a < 0;
      const uint64_t mag =
          negative ? uint64_t{0} - static_cast<uint64_t>(a) : static_cast<uint64_t>(a);
      const int lead = 63 - __builtin_clzll(mag | 1);
      const int64_t above = format.requant_rank(mag << (63 - lead));
      // (lead + scale) * 2^F as a multiplication: the sum may be negative (binades_to_levels).
      int64_t level = (int64_t{lead} + scales[i0 + j]) * (int64_t{1} << frac) + above - offset;
      level = std::min(level, top);
      // Bitwise, not || and ?: (which GCC turns back into branches): the code, or 0 for a zero
      // accumulator, a negative one under ReLU, or a level that rounds to zero.
      const unsigned keep = static_cast<unsigned>(mag != 0) &
                            ~(static_cast<unsigned>(relu) & static_cast<unsigned>(negative)) &
                            static_cast<unsigned>(level > 0);
      const unsigned code = ((static_cast<unsigned>(negative) * sign) |
                             static_cast<unsigned>(level)) & (0u - keep);
      block[j] = static_cast<Code>(code);
    }
    std::memcpy(out + i0, block, count);
  }
}
#if defined(__x86_64__)
namespace {
// The BFP loop below, eight outputs per step in AVX-512 int64 lanes (vpsravq, vpandq, compares,
// vpminsq / vpmaxsq, vpmovqb), for the steps whose eight shifts are all in [-62, -1]; returns
// how many leading outputs it wrote (a step it cannot take stops it).
__attribute__((target("avx512f"))) size_t bfp_requantize_avx512(
    const int64_t* acc, const int* scales, size_t n, int64_t shift0, bool relu, int64_t top,
    int64_t low_bits, Code* out) {
  const __m512i one = _mm512_set1_epi64(1);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i hi = _mm512_set1_epi64(top);
  const __m512i lo = _mm512_set1_epi64(-top);
  const __m512i bits = _mm512_set1_epi64(low_bits);
  const __m512i base = _mm512_set1_epi64(shift0);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m512i shift = _mm512_add_epi64(
        _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales + i))),
        base);
    const __mmask8 ok = _mm512_cmplt_epi64_mask(shift, zero) &
                        _mm512_cmpgt_epi64_mask(shift, _mm512_set1_epi64(-63));
    if (ok != 0xff) break;
    __m512i a = _mm512_loadu_si512(acc + i);
    if (relu) a = _mm512_max_epi64(a, zero);
    const __m512i s = _mm512_sub_epi64(zero, shift);
    const __m512i floor_q = _mm512_srav_epi64(a, s);
    const __m512i rem = _mm512_and_si512(a, _mm512_sub_epi64(_mm512_sllv_epi64(one, s), one));
    const __m512i half = _mm512_sllv_epi64(one, _mm512_sub_epi64(s, one));
    const __mmask8 odd = _mm512_test_epi64_mask(floor_q, one);
    const __mmask8 up = _mm512_cmpgt_epi64_mask(rem, half) |
                        (_mm512_cmpeq_epi64_mask(rem, half) & odd);
    __m512i q = _mm512_mask_add_epi64(floor_q, up, floor_q, one);
    q = _mm512_min_epi64(hi, _mm512_max_epi64(lo, q));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i),
                     _mm512_cvtepi64_epi8(_mm512_and_si512(q, bits)));
  }
  return i;
}
}  // namespace
#endif

// BFP rows as requantize_checked, with the range check over the whole row first and, where the
// shift is negative (the usual case: the accumulator holds more bits than the output), the
// round-half-even division without a branch on the data: floor by an arithmetic shift, the
// remainder as the low bits (two's complement), the rounding increment as a comparison. Other
// shifts go through requantize_checked. The code is the clamped mantissa's low W bits.
void requantize_row(const BfpFormat& format, const int64_t* acc, const int* scales, size_t n,
                    int out_exp, bool relu, Code* out) {
  check_row(format.acc_bits(), acc, n, out_exp);
  const int64_t top = format.max_mantissa();
  const int64_t low_bits = (int64_t{1} << format.width()) - 1;
  const int64_t shift0 = int64_t{format.width() - 1} - out_exp;
  size_t i = 0;
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") != 0;
  if (avx512) i = bfp_requantize_avx512(acc, scales, n, shift0, relu, top, low_bits, out);
#endif
  for (; i < n; ++i) {
    const int64_t shift = scales[i] + shift0;
    if (shift >= 0 || shift <= -63) {
      out[i] = requantize_checked(format, acc[i], scales[i], out_exp, relu);
      continue;
    }
    const int64_t a = relu ? std::max<int64_t>(acc[i], 0) : acc[i];
    const int s = static_cast<int>(-shift);
    const int64_t floor_q = a >> s;  // arithmetic shift: floor division by 2^s
    const int64_t rem = a & ((int64_t{1} << s) - 1);
    const int64_t half = int64_t{1} << (s - 1);
    const int64_t up = static_cast<int64_t>((rem > half) | ((rem == half) & ((floor_q & 1) != 0)));
    const int64_t q = std::min(top, std::max(-top, floor_q + up));
    out[i] = static_cast<Code>(q & low_bits);
  }
}

}  // namespace lbfp
