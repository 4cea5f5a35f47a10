// FloatEncoder against the golden encode: every change point and its neighbours (both signs),
// a stride through all finite floats, and the special values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "lbfp/float_encoder.h"

namespace lbfp {
namespace {

float from_bits(uint32_t bits) {
  float x = 0.0f;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

template <class Format>
void expect_same_as_golden(const Format& format) {
  for (int e : {-127, -20, -3, 0, 2, 7, 40, 127}) {
    const FloatEncoder<Format> fast(format, e);
    auto check = [&](uint32_t bits) {
      for (uint32_t sign : {0u, 0x80000000u}) {
        const float x = from_bits(bits | sign);
        ASSERT_EQ(fast(x), encode(format, static_cast<double>(x), e))
            << format.name() << " E " << e << " x " << x << " bits " << (bits | sign);
      }
    };
    const auto& points = fast.change_points();
    ASSERT_GE(points.size(), 3u);
    for (uint32_t p : points) {
      for (int64_t d = -3; d <= 3; ++d) {
        const int64_t b = static_cast<int64_t>(p) + d;
        if (b >= 0 && b <= 0x7f800000) check(static_cast<uint32_t>(b));
      }
    }
    for (uint64_t b = 0; b < 0x7f800000u; b += 16411) check(static_cast<uint32_t>(b));
    check(0x7f7fffffu);
    EXPECT_THROW(fast(std::numeric_limits<float>::quiet_NaN()), std::domain_error);
  }
}

TEST(FloatEncoderTest, Lbfp8MatchesGoldenEncode) { expect_same_as_golden(lbfp8()); }
TEST(FloatEncoderTest, Bfp8MatchesGoldenEncode) { expect_same_as_golden(bfp8()); }
// The section 13 elements (E4M3 and E5M2 encode alike with either scale kind; INT8 does not).
TEST(FloatEncoderTest, MxInt8MatchesGoldenEncode) {
  expect_same_as_golden(ScaledFormat(ElementKind::kInt8, ScaleKind::kMxBlock));
}
TEST(FloatEncoderTest, Int8MatchesGoldenEncode) {
  expect_same_as_golden(ScaledFormat(ElementKind::kInt8, ScaleKind::kTensor));
}
TEST(FloatEncoderTest, E4m3MatchesGoldenEncode) {
  expect_same_as_golden(ScaledFormat(ElementKind::kE4M3, ScaleKind::kMxBlock));
}
TEST(FloatEncoderTest, E5m2MatchesGoldenEncode) {
  expect_same_as_golden(ScaledFormat(ElementKind::kE5M2, ScaleKind::kMxBlock));
}

}  // namespace
}  // namespace lbfp
