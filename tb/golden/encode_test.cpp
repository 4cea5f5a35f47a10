#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>

#include "exact_reference.h"
#include "lbfp/arith.h"

namespace lbfp {
namespace {

// The spec's encode, decided by the independent big-integer comparison.
Code exact_encode(const LbfpFormat& format, float x, int exponent) {
  if (x == 0.0f) return 0;
  if (std::isinf(x)) return make_code(format, std::signbit(x), format.max_magnitude());
  uint64_t M = 0;
  int e = 0;
  testing::split_double(x, M, e);
  const int m = testing::exact_magnitude_code(format.width(), format.frac_bits(), M, e, exponent);
  return make_code(format, std::signbit(x), m);
}

const int kExponents[] = {-127, -126, -100, -31, -8, -1, 0, 1, 8, 31, 100, 126, 127};

TEST(Encode, EveryCodesValueRoundTripsForEveryExponent) {
  const LbfpFormat& f = lbfp8();
  for (int e = kMinExponent; e <= kMaxExponent; ++e) {
    for (int c = 0; c < 256; ++c) {
      const auto code = static_cast<Code>(c);
      const auto x = static_cast<float>(decode(f, code, e));
      const Code canonical = magnitude(f, code) == 0 ? Code{0} : code;  // 0x80 encodes as 0x00
      ASSERT_EQ(encode(f, x, e), canonical) << "code " << c << " E " << e << " x " << x;
    }
  }
}

TEST(Encode, DenseSweepsAroundEveryBoundaryAgreeWithTheExactComparison) {
  // For each boundary B_j = 2^(E - 8 + (2j+1)/32) the nearest FP32 values below and above it
  // must encode to j and j + 1 (saturated, flushed), as the big-integer comparison decides.
  const LbfpFormat& f = lbfp8();
  for (int e : kExponents) {
    for (int j = 0; j < 128; ++j) {
      const long double boundary =
          std::exp2(static_cast<long double>(e - 8) + static_cast<long double>(2 * j + 1) / 32);
      const auto centre = static_cast<float>(boundary);
      float below = centre;
      float above = centre;
      for (int step = 0; step < 8; ++step) {
        below = std::nextafter(below, 0.0f);
        above = std::nextafter(above, std::numeric_limits<float>::infinity());
      }
      bool saw_low = false;
      bool saw_high = false;
      for (float x = below; x <= above; x = std::nextafter(x, above + above)) {
        const Code expected = exact_encode(f, x, e);
        ASSERT_EQ(encode(f, x, e), expected) << "x=" << x << " E=" << e << " j=" << j;
        ASSERT_EQ(encode(f, -x, e), exact_encode(f, -x, e)) << "x=" << -x;
        const int m = magnitude(f, expected);
        saw_low |= m == j;
        saw_high |= m == std::min(j + 1, 127);
      }
      // The sweep really straddles the boundary.
      ASSERT_TRUE(saw_low && saw_high) << "E=" << e << " j=" << j;
    }
  }
}

TEST(Encode, RandomFloatsOfEveryFormatAgreeWithTheExactComparison) {
  std::mt19937 rng(20201214);
  std::uniform_int_distribution<uint32_t> bits;
  for (int w = 4; w <= 8; ++w) {
    for (int fb = 0; fb <= w - 2; ++fb) {
      const LbfpFormat format(w, fb, 8, 32);
      const int span = 1 << format.int_bits();
      std::uniform_int_distribution<int> exps(-20, 20);
      for (int i = 0; i < 1500; ++i) {
        const int e = exps(rng);
        // Values around the format's range, with random FP32 mantissas.
        const float mant = std::ldexp(static_cast<float>(bits(rng) >> 8), -24) + 0.5f;
        std::uniform_int_distribution<int> shifts(e - span - 3, e + 2);
        float x = std::ldexp(mant, shifts(rng));
        if (bits(rng) & 1) x = -x;
        ASSERT_EQ(encode(format, x, e), exact_encode(format, x, e))
            << format.name() << " x=" << x << " E=" << e;
      }
    }
  }
}

TEST(Encode, SpecialValues) {
  const LbfpFormat& f = lbfp8();
  EXPECT_EQ(encode(f, 0.0, 0), 0x00);
  EXPECT_EQ(encode(f, -0.0, 0), 0x00);  // every zero result is the all-zero code
  EXPECT_EQ(encode(f, std::numeric_limits<double>::infinity(), 0), 0x7f);
  EXPECT_EQ(encode(f, -std::numeric_limits<double>::infinity(), 0), 0xff);
  EXPECT_EQ(encode(f, 1e30, 0), 0x7f);
  EXPECT_EQ(encode(f, -1e-30, 0), 0x00);  // flushed negative values are +0 too
  EXPECT_EQ(encode(f, std::numeric_limits<float>::denorm_min(), -127), 0x00);
  EXPECT_THROW(encode(f, std::nan(""), 0), std::domain_error);
  EXPECT_THROW(encode(f, 1.0, 128), std::out_of_range);
  EXPECT_THROW(encode(f, 1.0, -128), std::out_of_range);
  // By hand: 1.0 with E = 1 is 2^(1 - 8 + m/16) with m = 112.
  EXPECT_EQ(encode(f, 1.0, 1), 0x70);
  EXPECT_EQ(encode(f, -0.5, 0), 0xf0);
  // The largest value, 2^(E - 1/16); values up to 2^E saturate to it.
  EXPECT_EQ(encode(f, 1.999, 1), 0x7f);
}

TEST(Decode, IsTheSpecValue) {
  const LbfpFormat& f = lbfp8();
  for (int e : kExponents) {
    for (int m = 1; m < 128; ++m) {
      const long double want = std::exp2(static_cast<long double>(e - 8) + m / 16.0L);
      const double got = decode(f, static_cast<Code>(m), e);
      ASSERT_NEAR(static_cast<double>(got / want), 1.0, 1e-15) << "m=" << m << " E=" << e;
      ASSERT_EQ(decode(f, static_cast<Code>(m | 0x80), e), -got);
    }
    EXPECT_EQ(decode(f, 0x00, e), 0.0);
    EXPECT_EQ(decode(f, 0x80, e), 0.0);
  }
}

TEST(EncodeBfp, RoundsHalfToEvenAndSaturates) {
  const BfpFormat& f = bfp8();
  // x = n 2^(E-7): with E = 7, x is n itself.
  EXPECT_EQ(mantissa(f, encode(f, 2.5, 7)), 2);
  EXPECT_EQ(mantissa(f, encode(f, 3.5, 7)), 4);
  EXPECT_EQ(mantissa(f, encode(f, -2.5, 7)), -2);
  EXPECT_EQ(mantissa(f, encode(f, 2.5000001, 7)), 3);
  EXPECT_EQ(mantissa(f, encode(f, 127.4, 7)), 127);
  EXPECT_EQ(mantissa(f, encode(f, 1000.0, 7)), 127);
  EXPECT_EQ(mantissa(f, encode(f, -1000.0, 7)), -127);
  EXPECT_EQ(mantissa(f, encode(f, -std::numeric_limits<double>::infinity(), 7)), -127);
  EXPECT_EQ(encode(f, -0.0, 7), 0x00);
  EXPECT_EQ(encode(f, -0.4, 7), 0x00);
  EXPECT_THROW(encode(f, std::nan(""), 0), std::domain_error);
  // E shifts the grid: 0.75 with E = 0 is n = 96 (0.75 * 2^7).
  EXPECT_EQ(mantissa(f, encode(f, 0.75, 0)), 96);
}

TEST(EncodeBfp, EveryMantissaRoundTripsAndMidpointsGoToEven) {
  const BfpFormat& f = bfp8();
  for (int e : kExponents) {
    for (int n = -127; n <= 127; ++n) {
      const double x = decode(f, make_code(f, n), e);
      ASSERT_EQ(x, std::ldexp(static_cast<double>(n), e - 7));
      ASSERT_EQ(mantissa(f, encode(f, x, e)), n);
      if (n < 127) {
        const double mid = std::ldexp(n + 0.5, e - 7);
        const int even = (n % 2 == 0) ? n : n + 1;
        ASSERT_EQ(mantissa(f, encode(f, mid, e)), even) << "n=" << n << " E=" << e;
      }
    }
  }
}

}  // namespace
}  // namespace lbfp
