// The LBFP and BFP arithmetic of docs/spec.md: encode, decode, multiply, accumulate,
// bias, requantize. This is the golden reference: every other part of the project (kernels,
// SystemC model, RTL testbenches, evaluator) calls these functions or is tested against them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "lbfp/format.h"

namespace lbfp {

// ---- codes ------------------------------------------------------------------------------------

// Throws std::out_of_range naming the code when it does not fit in W bits (or, for BFP, is the
// unused most negative pattern).
void check_code(const LbfpFormat& format, unsigned code);
void check_code(const BfpFormat& format, unsigned code);

inline int magnitude(const LbfpFormat& format, Code code) {
  return code & (format.sign_mask() - 1);
}
inline bool is_negative(const LbfpFormat& format, Code code) {
  return (code & format.sign_mask()) != 0 && magnitude(format, code) != 0;
}
inline Code make_code(const LbfpFormat& format, bool negative, int magnitude) {
  return magnitude == 0 ? Code{0}
                        : static_cast<Code>((negative ? format.sign_mask() : 0u) |
                                            static_cast<unsigned>(magnitude));
}

// BFP mantissa n of a two's-complement W-bit code, and back.
int mantissa(const BfpFormat& format, Code code);
Code make_code(const BfpFormat& format, int mantissa);

// ---- exact log-domain rounding ----------------------------------------------------------------

// round(2^F * log2(mantissa * 2^exp2)) for mantissa > 0, decided exactly by comparing the
// normalised mantissa with the format's boundary constants (never a floating-point log). Both
// encode (of an FP32/FP64 value) and requantize (of an accumulator) are this one function.
int64_t round_log2_scaled(const LbfpFormat& format, uint64_t mantissa, int exp2);

// ---- encode / decode --------------------------------------------------------------------------

// encode(x, E): the exact round-to-nearest in the log domain. Throws std::domain_error for NaN
// and std::out_of_range for E outside [-127, 127]. +-Inf and large values saturate to the top
// code, values below the smallest code's rounding boundary flush to the all-zero code.
// Any float is exactly a double, so this also is the FP32 encoder.
Code encode(const LbfpFormat& format, double x, int exponent);
// BFP: n = round-half-even(x * 2^((W-1) - E)), saturated to +-(2^(W-1) - 1).
Code encode(const BfpFormat& format, double x, int exponent);

// The real value of a code, to double precision (LBFP values are irrational: the result is the
// nearest double to within one ulp). BFP values are exact.
double decode(const LbfpFormat& format, Code code, int exponent);
double decode(const BfpFormat& format, Code code, int exponent);

// ---- multiplication ---------------------------------------------------------------------------

// An exact LBFP product in accumulator units: (-1)^negative * lut_value * 2^shift. lut_value == 0
// is the zero product. Shifts reach 2 * max_magnitude >> F (254 for W = 8, F = 0), so the value is
// kept in this form rather than in a machine integer.
struct LbfpProduct {
  bool negative = false;
  uint32_t lut_value = 0;
  int shift = 0;

  bool is_zero() const { return lut_value == 0; }
  // The exact value when |p| < 2^62, which holds for every format with F >= 3 (LBFP8 included).
  std::optional<int64_t> to_int64() const;
  std::string to_decimal() const;  // exact, any shift
};

// multiply, to_int64 and accumulator_term are inline (always, the sanitizer build's -O1 too):
// dot's loop keeps each product in registers (returned from a call, the struct went through the
// stack), and the kernels' tables take all 65,536 products of a format at the first product.
namespace detail {
[[noreturn]] void throw_code_width(unsigned code, int width);  // out of line, cold
inline int bit_length(uint64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(v); }
__attribute__((always_inline)) inline void check_lbfp_code(const LbfpFormat& format,
                                                           unsigned code) {
  if (code >= static_cast<unsigned>(format.code_count())) throw_code_width(code, format.width());
}
}  // namespace detail

inline std::optional<int64_t> LbfpProduct::to_int64() const {
  if (is_zero()) return int64_t{0};
  if (detail::bit_length(lut_value) + shift > 62) return std::nullopt;
  const int64_t magnitude_value = static_cast<int64_t>(lut_value) << shift;
  return negative ? -magnitude_value : magnitude_value;
}

// Sign XOR, zero detect, t = ma + mb, q = t >> F, f = t & (2^F - 1), p = LUT[f] << q.
__attribute__((always_inline)) inline LbfpProduct multiply(const LbfpFormat& format, Code a,
                                                           Code b) {
  detail::check_lbfp_code(format, a);
  detail::check_lbfp_code(format, b);
  const int ma = magnitude(format, a);
  const int mb = magnitude(format, b);
  LbfpProduct p;
  if (ma == 0 || mb == 0) return p;
  const int t = ma + mb;                                   // the code adder
  const int q = t >> format.frac_bits();                   // the shift
  const int f = t & ((1 << format.frac_bits()) - 1);       // the table index
  p.negative = ((a ^ b) & format.sign_mask()) != 0;        // sign XOR
  p.lut_value = format.lut(f);
  p.shift = q;
  return p;
}
// BFP: the exact integer product n_a * n_b.
int64_t multiply(const BfpFormat& format, Code a, Code b);

// ---- accumulation -----------------------------------------------------------------------------

// An A-bit two's-complement accumulator that adds terms in order; a step whose exact sum falls
// outside [-2^(A-1), 2^(A-1) - 1] is clamped to that limit and counted.
class Accumulator {
 public:
  // Throws std::invalid_argument for A outside [2, 62] and std::out_of_range for an initial value
  // outside the A-bit range.
  explicit Accumulator(int acc_bits, int64_t initial = 0);

  // Inline (always: the sanitizer build's -O1 too): the SystemC array model calls it once per
  // simulated MAC.
  __attribute__((always_inline)) void add(int64_t term) {
    // |value| <= 2^(A-1), so any |term| >= 2^A saturates whatever the value; clamping the term
    // to +-2^A first keeps the sum inside int64 without changing the outcome.
    const int64_t limit = (max_ + 1) * 2;
    const int64_t clamped = term > limit ? limit : (term < -limit ? -limit : term);
    const int64_t sum = value_ + clamped;
    if (sum > max_) {
      value_ = max_;
      ++overflows_;
    } else if (sum < min_) {
      value_ = min_;
      ++overflows_;
    } else {
      value_ = sum;
    }
  }
  void add(const LbfpProduct& product);

  int64_t value() const { return value_; }
  uint64_t overflow_count() const { return overflows_; }
  int64_t min_value() const { return min_; }
  int64_t max_value() const { return max_; }

 private:
  int64_t min_;
  int64_t max_;
  int64_t value_;
  uint64_t overflows_ = 0;
};

namespace detail {
// accumulator_term for an A already checked (an Accumulator's own).
__attribute__((always_inline)) inline int64_t term_for(const LbfpProduct& product,
                                                       int acc_bits) {
  if (product.is_zero()) return 0;
  int64_t magnitude_value = int64_t{1} << acc_bits;
  if (bit_length(product.lut_value) + product.shift <= acc_bits) {
    magnitude_value = static_cast<int64_t>(product.lut_value) << product.shift;
  }
  return product.negative ? -magnitude_value : magnitude_value;
}
}  // namespace detail

// A product as an accumulator term for an A-bit accumulator: exact when |p| < 2^A, else +-2^A,
// which saturates the accumulator exactly as the true product would (|acc| <= 2^(A-1)).
inline int64_t accumulator_term(const LbfpProduct& product, int acc_bits) {
  check_acc_bits(acc_bits);
  return detail::term_for(product, acc_bits);
}

struct DotResult {
  int64_t acc = 0;
  uint64_t overflows = 0;
  bool operator==(const DotResult& o) const { return acc == o.acc && overflows == o.overflows; }
};

// Sequential dot product sum_k a[k] * b[k], k = 0, 1, ..., starting from `initial` (a bias in
// accumulator units), in the format's A-bit saturating accumulator.
DotResult dot(const LbfpFormat& format, const Code* a, const Code* b, size_t n,
              int64_t initial = 0);
DotResult dot(const BfpFormat& format, const Code* a, const Code* b, size_t n,
              int64_t initial = 0);
template <class Format>
DotResult dot(const Format& format, const std::vector<Code>& a, const std::vector<Code>& b,
              int64_t initial = 0);

// 2^e for e in [-1022, 1023], the normal powers of two, from its bits (no library call). A product
// x * power_of_two(e) rounds as std::ldexp(x, e) does: both are the exact x 2^e rounded once.
inline double power_of_two(int e) {
  const uint64_t bits = static_cast<uint64_t>(1023 + e) << 52;
  double p = 0.0;
  std::memcpy(&p, &bits, sizeof p);
  return p;
}

// A real bias in accumulator units: round(bias / 2^scale), nearest with ties to even, saturated
// to the A-bit range. Throws std::domain_error for NaN.
int64_t bias_to_accumulator(int acc_bits, double bias, int scale);

// ---- requantization ---------------------------------------------------------------------------

// The output code for exponent out_exp of the accumulator value acc * 2^scale, exactly
// encode(acc * 2^scale, out_exp), computed in integers: leading one of |acc|, then comparison of
// the normalised magnitude with the boundary constants. relu zeroes acc <= 0 first. Throws
// std::out_of_range when acc is outside the A-bit range or out_exp outside [-127, 127].
Code requantize(const LbfpFormat& format, int64_t acc, int scale, int out_exp, bool relu);
// BFP: n = round-half-even(acc * 2^(scale - out_exp + W - 1)), saturated.
Code requantize(const BfpFormat& format, int64_t acc, int scale, int out_exp, bool relu);
// out[i] = requantize(format, acc[i], scales[i], out_exp, relu) for i < n: the same function,
// once per element, without a call per element (the tile-level array model's hot loop).
void requantize_row(const LbfpFormat& format, const int64_t* acc, const int* scales, size_t n,
                    int out_exp, bool relu, Code* out);
void requantize_row(const BfpFormat& format, const int64_t* acc, const int* scales, size_t n,
                    int out_exp, bool relu, Code* out);

}  // namespace lbfp
