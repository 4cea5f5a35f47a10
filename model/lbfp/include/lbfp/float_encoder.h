// encode() of FP32 values at one exponent, by table: the golden encode is monotone in x, so the
// code of |x| is found among the points where it changes (located once, by bisection over the
// float bit patterns with the golden encode itself) and the sign's code is the golden code of
// the negated change point. Bit-identical to lbfp::encode for every float (checked in
// tb/kernels on dense sweeps around every change point); NaN and +-Inf go to the golden encode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/scaled_format.h"

namespace lbfp {

template <class Format>
class FloatEncoder {
 public:
  FloatEncoder(const Format& format, int exponent);

  Code operator()(float x) const {
    uint32_t bits = 0;
    static_assert(sizeof bits == sizeof x, "IEEE single");
    __builtin_memcpy(&bits, &x, sizeof bits);
    const uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude >= 0x7f800000u) return encode(format_, static_cast<double>(x), exponent_);
    size_t level = start_[magnitude >> kBucketShift];
    // A bucket holds at most one change point of an 8-bit format (LBFP8's and BFP8's levels
    // are at least 2^16 patterns apart): one step without a branch, the loop for wider ones.
    level += magnitude >= change_[level + 1] ? 1 : 0;
    while (magnitude >= change_[level + 1]) ++level;
    return (bits >> 31) != 0 ? negative_[level] : positive_[level];
  }

  // out[i] = (*this)(x[i]) for i < count; 16 at a time by table gathers where the CPU has
  // AVX-512 (bit for bit the same; checked in tb/kernels).
  void encode_all(const float* x, Code* out, size_t count) const;

  int exponent() const { return exponent_; }
  // |x| bit patterns where the code changes (for the tests' sweeps), the Inf sentinel last.
  const std::vector<uint32_t>& change_points() const { return change_; }

 private:
  static constexpr int kBucketShift = 16;  // buckets of 1/128 binade
  Format format_;
  int exponent_;
  std::vector<uint32_t> change_;  // |x| bits where level L starts (change_[0] = 0), then a sentinel
  std::vector<Code> positive_;    // the code of each level, of +|x| and of -|x|
  std::vector<Code> negative_;
  std::vector<uint16_t> start_;   // per bucket: the level of its smallest |x|
  std::vector<uint32_t> codes_;   // per level: positive_ | negative_ << 8 (encode_all's gathers)
  // When no bucket holds two change points and the codes of levels step_first_ .. fill at most
  // 128 entries (the 8-bit formats): per bucket, its first level | the low 16 bits of the change
  // point inside it << 15 (65536 where none is), so that encode_all takes a level with one
  // gather and its codes from two 128-entry tables. Empty otherwise.
  std::vector<uint32_t> step_;
  size_t step_first_ = 0;  // 1 where level 0 (+-0 alone) has level 1's codes
};

extern template class FloatEncoder<LbfpFormat>;
extern template class FloatEncoder<BfpFormat>;
extern template class FloatEncoder<ScaledFormat>;  // a power-of-two scale 2^E (MX blocks)

}  // namespace lbfp
