// FloatEncoder against the golden encode: every change point and its neighbours (both signs),
// a stride through all finite floats, and the special values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

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

// encode_all (16 at a time where the CPU has AVX-512: BFP by lbfp::encode's arithmetic in
// doubles; the others by gathers, one gather and permuted code tables for the 8-bit formats where
// it has VBMI, except at exponents whose buckets hold several change points such as -127) against
// operator() on the same values: change points and neighbours (for BFP the rounding ties), both
// signs, a stride, Inf among finite values (a block taken one by one), every offset into a block,
// and a NaN.
template <class Format>
void expect_encode_all_same(const Format& format) {
  for (int e : {-127, -3, 0, 7, 127}) {
    const FloatEncoder<Format> fast(format, e);
    std::vector<float> x;
    for (uint32_t p : fast.change_points()) {
      for (int64_t d = -3; d <= 3; ++d) {
        const int64_t b = static_cast<int64_t>(p) + d;
        if (b < 0 || b >= 0x7f800000) continue;
        x.push_back(from_bits(static_cast<uint32_t>(b)));
        x.push_back(from_bits(static_cast<uint32_t>(b) | 0x80000000u));
      }
    }
    for (uint64_t b = 0; b < 0x7f800000u; b += 104729) {
      x.push_back(from_bits(static_cast<uint32_t>(b) ^ (b & 0x100 ? 0x80000000u : 0u)));
    }
    x.push_back(std::numeric_limits<float>::infinity());
    x.push_back(-std::numeric_limits<float>::infinity());
    x.push_back(from_bits(0x7f7fffffu));
    for (size_t offset = 0; offset < 17; ++offset) {
      const size_t count = x.size() - offset;
      std::vector<Code> got(count + 1, 0xAA);
      fast.encode_all(x.data() + offset, got.data(), count);
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(got[i], fast(x[offset + i]))
            << format.name() << " E " << e << " x " << x[offset + i];
      }
      ASSERT_EQ(got[count], 0xAA) << "nothing written past the end";
    }
    std::vector<float> with_nan(40, 1.0f);
    with_nan[21] = std::numeric_limits<float>::quiet_NaN();
    std::vector<Code> out(40);
    EXPECT_THROW(fast.encode_all(with_nan.data(), out.data(), out.size()), std::domain_error);
  }
}

TEST(FloatEncoderTest, EncodeAllIsOneByOne) {
#if defined(__x86_64__)
  const bool vector_path = __builtin_cpu_supports("avx512f") != 0;
  const bool one_gather = vector_path && __builtin_cpu_supports("avx512bw") != 0 &&
                          __builtin_cpu_supports("avx512vbmi") != 0;
#else
  const bool vector_path = false, one_gather = false;
#endif
  if (!vector_path) {
    std::fprintf(stderr, "NOTE: no AVX-512 here: encode_all's vector paths were NOT RUN, only "
                         "its portable loop\n");
  } else if (!one_gather) {
    std::fprintf(stderr, "NOTE: no AVX-512 VBMI here: encode_all's one-gather path (the 8-bit "
                         "formats' permuted code tables) was NOT RUN, only the four-gather one\n");
  }
  expect_encode_all_same(lbfp8());
  expect_encode_all_same(bfp8());
  expect_encode_all_same(ScaledFormat(ElementKind::kE4M3, ScaleKind::kMxBlock));
  expect_encode_all_same(ScaledFormat(ElementKind::kInt8, ScaleKind::kTensor));
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
