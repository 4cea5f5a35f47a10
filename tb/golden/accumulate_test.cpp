#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "lbfp/arith.h"

namespace lbfp {
namespace {

// The spec's sequential saturating sum, written out on the exact (unbounded) step sums.
DotResult reference_sum(const std::vector<long double>& terms, int acc_bits, int64_t initial) {
  const long double hi = std::ldexp(1.0L, acc_bits - 1) - 1;
  const long double lo = -std::ldexp(1.0L, acc_bits - 1);
  long double acc = initial;
  uint64_t overflows = 0;
  for (long double t : terms) {
    acc += t;
    if (acc > hi || acc < lo) {
      acc = acc > hi ? hi : lo;
      ++overflows;
    }
  }
  return {static_cast<int64_t>(acc), overflows};
}

long double product_value(const LbfpFormat& f, Code a, Code b) {
  const int ma = magnitude(f, a);
  const int mb = magnitude(f, b);
  if (ma == 0 || mb == 0) return 0;
  const int t = ma + mb;
  const long double v = std::ldexp(static_cast<long double>(f.lut(t & 15)), t >> 4);
  return is_negative(f, a) != is_negative(f, b) ? -v : v;
}

TEST(Accumulator, SaturatesAndCountsEachOverflowingStep) {
  Accumulator acc(8);  // [-128, 127]
  acc.add(100);
  acc.add(100);  // 200 -> 127
  EXPECT_EQ(acc.value(), 127);
  EXPECT_EQ(acc.overflow_count(), 1u);
  acc.add(-50);  // recovers from the clamped value, not from 200
  EXPECT_EQ(acc.value(), 77);
  acc.add(-300);
  EXPECT_EQ(acc.value(), -128);
  acc.add(-1);
  EXPECT_EQ(acc.value(), -128);
  EXPECT_EQ(acc.overflow_count(), 3u);
  acc.add(INT64_MAX);  // huge terms saturate without wrapping
  EXPECT_EQ(acc.value(), 127);
  acc.add(INT64_MIN);
  EXPECT_EQ(acc.value(), -128);
  EXPECT_EQ(acc.overflow_count(), 5u);
}

TEST(Accumulator, ExtremeLimitsAndErrors) {
  Accumulator acc(62, (int64_t{1} << 61) - 1);
  acc.add(1);
  EXPECT_EQ(acc.value(), (int64_t{1} << 61) - 1);
  EXPECT_EQ(acc.overflow_count(), 1u);
  EXPECT_THROW(Accumulator(63), std::invalid_argument);
  EXPECT_THROW(Accumulator(8, 128), std::out_of_range);
  EXPECT_THROW(Accumulator(8, -129), std::out_of_range);
}

TEST(Accumulator, ProductsBeyondTheAccumulatorStillSaturateExactly) {
  // A product just below 2^A must not be treated as saturating: -2^(A-1) + p fits.
  const LbfpFormat f(8, 4, 8, 24);  // products reach 470 << 15 > 2^23
  Accumulator acc(24, -(int64_t{1} << 23));
  const LbfpProduct p = multiply(f, 0x7f, 0x7f);  // 470 << 15 = 15400960 < 2^24
  acc.add(p);
  EXPECT_EQ(acc.value(), -(int64_t{1} << 23) + (int64_t{470} << 15));
  EXPECT_EQ(acc.overflow_count(), 0u);
  // F = 0: a 2^262 product saturates at once.
  const LbfpFormat wide(8, 0, 8, 32);
  Accumulator big(32);
  big.add(multiply(wide, 0x7f, 0xff));
  EXPECT_EQ(big.value(), -(int64_t{1} << 31));
  EXPECT_EQ(big.overflow_count(), 1u);
}

TEST(Accumulator, AccumulatorTermIsExactBelow2ToTheAAndClampedAbove) {
  const LbfpFormat f(8, 4, 8, 32);
  const LbfpProduct p = multiply(f, 0x7f, 0xff);  // -(470 << 15)
  EXPECT_EQ(accumulator_term(p, 32), -(int64_t{470} << 15));
  EXPECT_EQ(accumulator_term(p, 24), -(int64_t{470} << 15));  // 15400960 < 2^24: exact
  EXPECT_EQ(accumulator_term(p, 23), -(int64_t{1} << 23));    // >= 2^23: clamped to -2^23
  EXPECT_EQ(accumulator_term(multiply(f, 0x00, 0x7f), 8), 0);
  EXPECT_EQ(accumulator_term(multiply(LbfpFormat(8, 0, 8, 32), 0x7f, 0x7f), 62),
            int64_t{1} << 62);
  EXPECT_THROW(accumulator_term(p, 63), std::invalid_argument);
}

TEST(Dot, RandomVectorsMatchTheSequentialReference) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> code(0, 255);
  for (int acc_bits : {16, 20, 24, 32}) {
    const LbfpFormat f(8, 4, 8, acc_bits);
    for (int trial = 0; trial < 200; ++trial) {
      const size_t n = 1 + static_cast<size_t>(trial % 97);
      std::vector<Code> a(n);
      std::vector<Code> b(n);
      std::vector<long double> terms(n);
      for (size_t k = 0; k < n; ++k) {
        a[k] = static_cast<Code>(code(rng));
        b[k] = static_cast<Code>(code(rng));
        terms[k] = product_value(f, a[k], b[k]);
      }
      const int64_t init = trial % 3 == 0 ? int64_t{1} << (acc_bits - 2) : 0;
      const DotResult want = reference_sum(terms, acc_bits, init);
      ASSERT_EQ(dot(f, a, b, init), want) << "A=" << acc_bits << " trial " << trial;
    }
  }
}

TEST(Dot, OrderMattersOnlyWhenSaturating) {
  const LbfpFormat f(8, 4, 8, 25);
  const std::vector<Code> a = {0x7f, 0x7f, 0xff};
  const std::vector<Code> b = {0x7f, 0x7f, 0x7f};
  // p = 470 << 15 = 15400960 < 2^24, but p + p saturates at 2^24 - 1, and subtracting p then
  // lands well inside: the clamp is visible in the result.
  const DotResult r = dot(f, a, b);
  EXPECT_EQ(r.overflows, 1u);
  EXPECT_EQ(r.acc, (int64_t{1} << 24) - 1 - (int64_t{470} << 15));
  const DotResult reordered = dot(f, std::vector<Code>{0xff, 0x7f, 0x7f}, b);
  EXPECT_EQ(reordered.overflows, 0u);
  EXPECT_EQ(reordered.acc, int64_t{470} << 15);
  EXPECT_THROW(dot(f, a, std::vector<Code>{0x01}), std::invalid_argument);
}

TEST(Dot, BfpUsesIntegerProducts) {
  const BfpFormat f(8, 16);
  std::vector<Code> a;
  std::vector<Code> b;
  for (int i = 0; i < 4; ++i) {
    a.push_back(make_code(f, 127));
    b.push_back(make_code(f, 127));
  }
  const DotResult r = dot(f, a, b);  // 16129 * 4 saturates at 32767 after the 3rd step
  EXPECT_EQ(r.acc, 32767);
  EXPECT_EQ(r.overflows, 2u);
  EXPECT_EQ(dot(f, std::vector<Code>{make_code(f, -3)}, std::vector<Code>{make_code(f, 5)}, 4).acc,
            -11);
}

TEST(Bias, RoundsToNearestEvenInAccumulatorUnits) {
  // scale -2: one unit is 0.25.
  EXPECT_EQ(bias_to_accumulator(32, 1.0, -2), 4);
  EXPECT_EQ(bias_to_accumulator(32, 0.125, -2), 0);   // 0.5 unit -> even 0
  EXPECT_EQ(bias_to_accumulator(32, 0.375, -2), 2);   // 1.5 -> 2
  EXPECT_EQ(bias_to_accumulator(32, -0.375, -2), -2);
  EXPECT_EQ(bias_to_accumulator(32, 0.1, -2), 0);
  EXPECT_EQ(bias_to_accumulator(32, 1e12, -2), 2147483647);
  EXPECT_EQ(bias_to_accumulator(32, -1e12, -2), -2147483648LL);
  EXPECT_EQ(bias_to_accumulator(8, -128.0, 0), -128);
  EXPECT_EQ(bias_to_accumulator(8, -128.5, 0), -128);
  EXPECT_EQ(bias_to_accumulator(8, 127.5, 0), 127);
  EXPECT_EQ(bias_to_accumulator(32, 3.0, 1), 2);  // 1.5 units -> 2
  EXPECT_THROW(bias_to_accumulator(32, std::nan(""), 0), std::domain_error);
}

// Against the exact value: bias 2^-scale in long double (64-bit significand, 15-bit exponent:
// exact for every double and these scales), rounded to nearest even by nearbyintl, saturated.
// Biases of every binade (random bits), ties and near-ties at every scale, the scales beyond
// where a power of two is a normal double, results that underflow or overflow a double.
TEST(Bias, EqualsTheExactScaledValueRoundedAndSaturated) {
  auto expected = [](int acc_bits, double bias, int scale) {
    const long double x = std::nearbyintl(std::ldexp(static_cast<long double>(bias), -scale));
    const long double limit = std::ldexp(1.0L, acc_bits - 1);
    if (x >= limit) return (int64_t{1} << (acc_bits - 1)) - 1;
    if (x < -limit) return -((int64_t{1} << (acc_bits - 1)) - 1) - 1;
    return static_cast<int64_t>(x);
  };
  std::mt19937_64 rng(20261205);
  std::uniform_int_distribution<int> acc_dist(2, kMaxAccBits);
  std::uniform_int_distribution<int> scale_dist(-1100, 1100);
  std::uniform_int_distribution<int> near_scale(-70, 70);
  std::uniform_int_distribution<int64_t> units(-(int64_t{1} << 40), int64_t{1} << 40);
  size_t checked = 0;
  for (int i = 0; i < 400000; ++i) {
    const int acc_bits = acc_dist(rng);
    double bias = 0.0;
    int scale = 0;
    switch (i % 4) {
      case 0: {  // any finite or infinite double, any scale
        const uint64_t bits = rng();
        std::memcpy(&bias, &bits, sizeof bias);
        if (std::isnan(bias)) continue;
        scale = scale_dist(rng);
        break;
      }
      case 1: {  // a tie: (n + 1/2) units of 2^scale
        scale = near_scale(rng);
        bias = std::ldexp(static_cast<double>(units(rng)) + 0.5, scale);
        break;
      }
      case 2: {  // one ulp either side of a tie or of an integer
        scale = near_scale(rng);
        const double t = std::ldexp(static_cast<double>(units(rng)) + (i % 8 == 2 ? 0.5 : 0.0),
                                    scale);
        bias = std::nextafter(t, (i / 4) % 2 == 0 ? HUGE_VAL : -HUGE_VAL);
        break;
      }
      default: {  // near the saturation bounds and the 2^52 boundary of the rounding
        scale = near_scale(rng);
        const int top = (i / 4) % 2 == 0 ? acc_bits - 1 : 52;
        const double t = std::ldexp(std::ldexp(1.0, top) + static_cast<double>(i % 5) - 2.5,
                                    scale);
        bias = (i / 8) % 2 == 0 ? t : -t;
        break;
      }
    }
    ASSERT_EQ(bias_to_accumulator(acc_bits, bias, scale), expected(acc_bits, bias, scale))
        << "acc_bits " << acc_bits << " bias " << std::hexfloat << bias << " scale " << scale;
    ++checked;
  }
  EXPECT_GT(checked, 390000u);
  // Results below the smallest normal double, and the largest scales a power of two covers.
  EXPECT_EQ(bias_to_accumulator(32, 0x1p-1000, 100), 0);
  EXPECT_EQ(bias_to_accumulator(32, -0x1p-1074, 0), 0);
  EXPECT_EQ(bias_to_accumulator(32, 0x1p-1060, -1060), 1);
  EXPECT_EQ(bias_to_accumulator(32, 0x1.8p-1074, -1074), 2);  // 1.5 units -> 2
  EXPECT_EQ(bias_to_accumulator(32, 0x1p1000, 1022), 0);      // 2^-22
  EXPECT_EQ(bias_to_accumulator(32, 0x1p1000, -1023), 2147483647);
  EXPECT_EQ(bias_to_accumulator(32, 0x1p-1000, -1023), 1 << 23);
  EXPECT_EQ(bias_to_accumulator(32, 0x1.8p1023, 1023), 2);   // 1.5 units -> 2 (ldexp)
  EXPECT_EQ(bias_to_accumulator(32, 0x1.4p1023, 1022), 2);   // 2.5 units -> 2
  EXPECT_EQ(bias_to_accumulator(32, 0x1p-1074, -1100), 1 << 26);
  EXPECT_EQ(bias_to_accumulator(kMaxAccBits, HUGE_VAL, 5), (int64_t{1} << 61) - 1);
  EXPECT_EQ(bias_to_accumulator(kMaxAccBits, -HUGE_VAL, -5), -(int64_t{1} << 61));
}

}  // namespace
}  // namespace lbfp
