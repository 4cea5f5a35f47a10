// The LBFP number-format family and the 8-bit fixed-point (BFP) baseline of the spec
// (docs/spec.md). A format is a small value type; its irrational constants (the antilog
// LUT and the rounding boundaries) are computed exactly once and shared.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lbfp {

// One element code. Every supported format has W <= 8, so a code is one byte.
using Code = uint8_t;

inline constexpr int kMinExponent = -127;  // shared block exponent range of the spec
inline constexpr int kMaxExponent = 127;
inline constexpr int kMaxAccBits = 62;  // accumulators are held in int64_t with headroom

namespace detail {
[[noreturn]] void throw_exponent_out_of_range(int exponent);
}  // namespace detail
// Throws std::out_of_range naming the value when E is outside [-127, 127]. (Inline: the
// requantizer checks its output exponent once per element.)
inline void check_exponent(int exponent) {
  if (exponent < kMinExponent || exponent > kMaxExponent) {
    detail::throw_exponent_out_of_range(exponent);
  }
}
// Throws std::invalid_argument naming the value when A is outside [2, kMaxAccBits].
void check_acc_bits(int acc_bits);

// LBFP: sign bit + (W-1)-bit magnitude code m, x = (-1)^s 2^(E - 2^I + m / 2^F), I = W-1-F.
class LbfpFormat {
 public:
  static constexpr int kMaxFracBits = 6;

  // LBFP8: W = 8, F = 4, P = 8, A = 32.
  LbfpFormat() : LbfpFormat(8, 4, 8, 32) {}
  // Throws std::invalid_argument unless 2 <= W <= 8, 0 <= F <= W-2, 0 <= P <= 30,
  // 2 <= A <= 62.
  LbfpFormat(int width, int frac_bits, int lut_bits, int acc_bits);

  int width() const { return width_; }
  int frac_bits() const { return frac_bits_; }
  int int_bits() const { return width_ - 1 - frac_bits_; }
  int lut_bits() const { return lut_bits_; }
  int acc_bits() const { return acc_bits_; }

  int max_magnitude() const { return (1 << (width_ - 1)) - 1; }  // largest m
  int code_count() const { return 1 << width_; }
  Code sign_mask() const { return static_cast<Code>(1u << (width_ - 1)); }
  // 2^I: the offset between the block exponent and the log of the smallest binade.
  int exponent_offset() const { return 1 << int_bits(); }

  // LUT[f] = floor(2^P * 2^(f / 2^F) + 1/2), f in [0, 2^F).
  __attribute__((always_inline)) uint32_t lut(int f) const {
    return lut_[static_cast<size_t>(f)];
  }
  const std::vector<uint32_t>& lut_table() const { return lut_; }

  // floor(2^((2j+1) / 2^(F+1)) * 2^(A-1)), j in [0, 2^F): the requantizer's boundary constants.
  uint64_t requant_boundary(int j) const;
  // All 2^F of them, ascending.
  const std::vector<uint64_t>& requant_boundaries() const { return requant_boundaries_; }
  // How many of those boundaries lie below a magnitude of at most A bits that has been shifted
  // left so that its leading one is bit 63: the rounding step of requantization. The compare
  // is the same (the shift preserves order); a 256-bucket index on the 8 bits after the leading
  // one replaces the linear scan when no bucket holds two boundaries (always, unless A is tiny).
  int requant_rank(uint64_t normalized) const {
    if (rank_bucketed_) {
      const auto t = static_cast<size_t>((normalized >> 55) & 255);
      return rank_count_[t] + (normalized > rank_next_[t] ? 1 : 0);
    }
    int above = 0;
    for (uint64_t b : rank_boundaries_) above += normalized > b ? 1 : 0;
    return above;
  }

  // requant_rank's bucket index for vector code: whether it is used, and per bucket (256) the
  // count of boundaries below it and the next boundary.
  bool rank_bucketed() const { return rank_bucketed_; }
  const uint8_t* rank_counts() const { return rank_count_.data(); }
  const uint64_t* rank_next() const { return rank_next_.data(); }
  // The boundaries the ranks count (2^F of them, ascending): a bucket's next boundary is
  // rank_boundaries()[rank_counts()[t]], or none when the count is all of them.
  const std::vector<uint64_t>& rank_boundaries() const { return rank_boundaries_; }

  // Exponent of one accumulator LSB for operand blocks with exponents ea and eb:
  // Ea + Eb - 2 * 2^I - P.
  int product_scale(int ea, int eb) const { return ea + eb - 2 * exponent_offset() - lut_bits_; }

  // The largest product shift q = (2 * max_magnitude) >> F.
  int max_product_shift() const { return (2 * max_magnitude()) >> frac_bits_; }

  std::string name() const;  // "lbfp8" for the default, else "lbfp(W=..,F=..,P=..,A=..)"

  // floor(2^((2j+1) / 2^(F+1)) * 2^63), j in [0, 2^F): the same boundaries at 63 fraction bits,
  // enough to round any value with a mantissa of up to 64 bits exactly.
  const std::vector<uint64_t>& boundaries_q63() const { return boundaries_q63_; }

  bool operator==(const LbfpFormat& o) const {
    return width_ == o.width_ && frac_bits_ == o.frac_bits_ && lut_bits_ == o.lut_bits_ &&
           acc_bits_ == o.acc_bits_;
  }
  bool operator!=(const LbfpFormat& o) const { return !(*this == o); }

 private:
  int width_;
  int frac_bits_;
  int lut_bits_;
  int acc_bits_;
  std::vector<uint32_t> lut_;
  std::vector<uint64_t> boundaries_q63_;
  std::vector<uint64_t> requant_boundaries_;
  // requant_rank's index: the boundaries shifted to bit 63, and per bucket of the 8 bits after
  // the leading one the count of boundaries below it and the next boundary (~0 when none).
  std::vector<uint64_t> rank_boundaries_;
  bool rank_bucketed_ = false;
  std::vector<uint8_t> rank_count_;
  std::vector<uint64_t> rank_next_;
};

// BFP (block fixed point): x = n * 2^(E - (W-1)), n in [-(2^(W-1)-1), 2^(W-1)-1], two's
// complement code. BFP8 is W = 8, A = 32.
class BfpFormat {
 public:
  BfpFormat() : BfpFormat(8, 32) {}
  // Throws std::invalid_argument unless 2 <= W <= 8 and 2 <= A <= 62.
  BfpFormat(int width, int acc_bits);

  int width() const { return width_; }
  int acc_bits() const { return acc_bits_; }
  int max_mantissa() const { return (1 << (width_ - 1)) - 1; }
  int code_count() const { return 1 << width_; }
  // Exponent of one accumulator LSB: Ea + Eb - 2 (W-1).
  int product_scale(int ea, int eb) const { return ea + eb - 2 * (width_ - 1); }
  std::string name() const;

  bool operator==(const BfpFormat& o) const {
    return width_ == o.width_ && acc_bits_ == o.acc_bits_;
  }
  bool operator!=(const BfpFormat& o) const { return !(*this == o); }

 private:
  int width_;
  int acc_bits_;
};

inline const LbfpFormat& lbfp8() {
  static const LbfpFormat format;
  return format;
}
inline const BfpFormat& bfp8() {
  static const BfpFormat format;
  return format;
}

namespace detail {
// floor(2^63 * 2^(k / 128)) for k in [0, 128), each decided exactly with big integers. Every
// LBFP constant with F <= 6 is an entry of this table: the rounding boundaries 2^((2j+1)/2^(F+1))
// and the LUT points 2^(f/2^F) are k / 128 for k = (2j+1) * 2^(6-F) and k = 2f * 2^(6-F).
struct LogTables {
  static constexpr int kLog2Points = 7;
  static constexpr int kPoints = 1 << kLog2Points;
  uint64_t q63[kPoints];
};
const LogTables& log_tables();
LogTables exact_log_tables();  // the same, computed (for the test that checks log_tables())
}  // namespace detail

}  // namespace lbfp
