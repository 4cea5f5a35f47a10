#include "lbfp/float_encoder.h"

#include <cstring>

namespace lbfp {
namespace {

float from_bits(uint32_t bits) {
  float x = 0.0f;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

}  // namespace

template <class Format>
FloatEncoder<Format>::FloatEncoder(const Format& format, int exponent)
    : format_(format), exponent_(exponent) {
  constexpr uint32_t kLargest = 0x7f7fffffu;  // the largest finite float
  auto code_of = [&](uint32_t bits, bool negative) {
    const double x = static_cast<double>(from_bits(bits));
    return encode(format_, negative ? -x : x, exponent_);
  };
  // Levels: maximal runs of |x| bit patterns with one code; the next run starts at the least
  // pattern whose code differs (the golden code of |x| never decreases).
  // Level 0 is +-0 alone (lbfp::encode returns the zero code for it whatever tiny values give).
  for (uint32_t bits : {0u, 1u}) {
    change_.push_back(bits);
    positive_.push_back(code_of(bits, false));
    negative_.push_back(code_of(bits, true));
  }
  for (;;) {
    const Code current = code_of(change_.back(), false);
    if (code_of(kLargest, false) == current) break;
    uint32_t lo = change_.back(), hi = kLargest;  // code(lo) == current != code(hi)
    while (hi - lo > 1) {
      const uint32_t mid = lo + (hi - lo) / 2;
      if (code_of(mid, false) == current) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    change_.push_back(hi);
    positive_.push_back(code_of(hi, false));
    negative_.push_back(code_of(hi, true));
  }
  change_.push_back(0x7f800000u);  // sentinel: Inf and NaN never reach the scan
  const size_t buckets = (size_t{0x7f800000u} >> kBucketShift) + 1;
  start_.assign(buckets, 0);
  size_t level = 0;
  for (size_t b = 0; b < buckets; ++b) {
    const auto first = static_cast<uint32_t>(b << kBucketShift);
    while (level + 1 < change_.size() - 1 && change_[level + 1] <= first) ++level;
    start_[b] = static_cast<uint16_t>(level);
  }
}

template class FloatEncoder<LbfpFormat>;
template class FloatEncoder<BfpFormat>;
template class FloatEncoder<ScaledFormat>;

}  // namespace lbfp
