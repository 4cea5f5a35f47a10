#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "lbfp/arith.h"

namespace lbfp {
namespace {

// The exact real product of two codes, in units of the accumulator LSB, is
// 2^(P + (ma + mb) / 2^F); the hardware keeps it to P fraction bits below its leading binade.
// Independent of the library: a long double power and a rounding to a multiple of 2^q.
long double exact_real_product(const LbfpFormat& format, int ma, int mb) {
  return std::exp2(static_cast<long double>(format.lut_bits()) +
                   static_cast<long double>(ma + mb) / (1 << format.frac_bits()));
}

void check_all_pairs(const LbfpFormat& format) {
  int checked = 0;
  for (int a = 0; a < format.code_count(); ++a) {
    for (int b = 0; b < format.code_count(); ++b) {
      const auto ca = static_cast<Code>(a);
      const auto cb = static_cast<Code>(b);
      const LbfpProduct p = multiply(format, ca, cb);
      const int ma = a & (format.sign_mask() - 1);
      const int mb = b & (format.sign_mask() - 1);
      if (ma == 0 || mb == 0) {
        ASSERT_TRUE(p.is_zero()) << std::hex << a << " " << b;
        ASSERT_EQ(p.to_decimal(), "0");
        continue;
      }
      const bool negative = ((a ^ b) & format.sign_mask()) != 0;
      const int q = (ma + mb) >> format.frac_bits();
      const long double r = exact_real_product(format, ma, mb);
      const long double scaled = std::ldexp(r, -q);  // in [2^P, 2^(P+1))
      const long double nearest = std::floor(scaled + 0.5L);
      // The test can only decide if the real value is clearly away from a rounding tie.
      ASSERT_GT(std::fabs(std::fabs(scaled - nearest) - 0.5L), 1e-9L)
          << "near tie at " << a << " " << b;
      ASSERT_FALSE(p.is_zero());
      ASSERT_EQ(p.negative, negative) << std::hex << a << " " << b;
      ASSERT_EQ(static_cast<long double>(p.lut_value), nearest)
          << format.name() << std::hex << " a=" << a << " b=" << b;
      ASSERT_EQ(p.shift, q);
      // The hardware product is within half a unit of its binade's last place of the real one.
      const long double hw = std::ldexp(static_cast<long double>(p.lut_value), p.shift);
      ASSERT_LE(std::fabs(hw - r), std::ldexp(0.5L, q));
      ++checked;
    }
  }
  const int nonzero_magnitudes = format.max_magnitude();
  EXPECT_EQ(checked, 4 * nonzero_magnitudes * nonzero_magnitudes);
}

TEST(Multiply, AllLbfp8PairsAgainstTheExactRealProduct) { check_all_pairs(lbfp8()); }

TEST(Multiply, AllPairsOfEveryFormatInTheFamily) {
  for (int w = 4; w <= 8; ++w) {
    for (int f = 0; f <= w - 2; ++f) {
      for (int p : {4, 8, 12}) {
        SCOPED_TRACE(testing::Message() << "W=" << w << " F=" << f << " P=" << p);
        check_all_pairs(LbfpFormat(w, f, p, 32));
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

TEST(Multiply, Lbfp8ProductsFitIn24BitsAndConvert) {
  const LbfpFormat& f = lbfp8();
  int64_t largest = 0;
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const auto v = multiply(f, static_cast<Code>(a), static_cast<Code>(b)).to_int64();
      ASSERT_TRUE(v.has_value());
      ASSERT_EQ(std::to_string(*v),
                multiply(f, static_cast<Code>(a), static_cast<Code>(b)).to_decimal());
      largest = std::max<int64_t>(largest, *v < 0 ? -*v : *v);
    }
  }
  EXPECT_LT(largest, int64_t{1} << 24);
  EXPECT_EQ(largest, int64_t{470} << 15);  // 0x7f * 0x7f: t = 254, q = 15, f = 14
}

TEST(Multiply, HandWorkedExamples) {
  const LbfpFormat& f = lbfp8();
  // 0x10 * 0x10: t = 32, q = 2, f = 0 -> 256 << 2.
  EXPECT_EQ(multiply(f, 0x10, 0x10).to_decimal(), "1024");
  // 0x81 (m = 1, negative) * 0x01: t = 2, q = 0, f = 2 -> -279.
  EXPECT_EQ(multiply(f, 0x81, 0x01).to_decimal(), "-279");
  // Negative zero (0x80) is zero.
  EXPECT_TRUE(multiply(f, 0x80, 0x7f).is_zero());
  // F = 0 products reach shifts far beyond 64 bits and stay exact.
  const LbfpFormat wide(8, 0, 8, 32);
  const LbfpProduct p = multiply(wide, 0x7f, 0x7f);  // 2^8 << 254 = 2^262 (Python: 2**262)
  EXPECT_EQ(p.shift, 254);
  EXPECT_FALSE(p.to_int64().has_value());
  EXPECT_EQ(p.to_decimal(),
            "7410693711188236507108543040556026102609279018600996098525285376506440296955904");
}

TEST(Multiply, BfpIsTheIntegerProductOfAllPairs) {
  const BfpFormat& f = bfp8();
  for (int a = -127; a <= 127; ++a) {
    for (int b = -127; b <= 127; ++b) {
      ASSERT_EQ(multiply(f, make_code(f, a), make_code(f, b)), a * b);
    }
  }
  EXPECT_THROW(multiply(f, 0x80, 0x01), std::out_of_range);  // -128 is not a BFP8 mantissa
}

TEST(Multiply, RejectsCodesWiderThanTheFormat) {
  const LbfpFormat narrow(4, 2, 8, 32);
  EXPECT_THROW(multiply(narrow, 0x10, 0x01), std::out_of_range);
  EXPECT_NO_THROW(multiply(narrow, 0x0f, 0x0f));
}

}  // namespace
}  // namespace lbfp
