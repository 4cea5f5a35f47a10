#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "exact_reference.h"
#include "lbfp/arith.h"
#include "lbfp/bigint.h"
#include "lbfp/format.h"

namespace lbfp {
namespace {

TEST(BigUint, MultipliesLikeMachineIntegers) {
  const uint64_t values[] = {0, 1, 2, 0xffffffffu, 0x100000000ull, 123456789ull, 0xdeadbeefull};
  for (uint64_t a : values) {
    for (uint64_t b : values) {
      if (a > 0xffffffffull && b > 0xffffffffull) continue;  // keep the product in 64 bits
      EXPECT_EQ(BigUint(a) * BigUint(b), BigUint(a * b)) << a << " * " << b;
      EXPECT_EQ((BigUint(a) * BigUint(b)).to_decimal(), std::to_string(a * b));
    }
  }
}

TEST(BigUint, ShiftsComparesAndPrints) {
  EXPECT_EQ(BigUint::power_of_two(100).to_decimal(), "1267650600228229401496703205376");
  EXPECT_EQ(BigUint(3).shifted_left(64).to_decimal(), "55340232221128654848");
  EXPECT_TRUE(BigUint::power_of_two(64) < BigUint::power_of_two(65));
  EXPECT_FALSE(BigUint::power_of_two(65) < BigUint::power_of_two(64));
  EXPECT_EQ(BigUint(10).squared_times(3).to_decimal(), "100000000");  // 10^8
  EXPECT_EQ(BigUint(0).to_decimal(), "0");
}

TEST(Format, LogTablesAreTheExactConstants) {
  // log_tables() is written out in the source; exact_log_tables() decides each entry with big
  // integers, as log_tables() did before.
  const detail::LogTables exact = detail::exact_log_tables();
  for (int k = 0; k < detail::LogTables::kPoints; ++k) {
    EXPECT_EQ(detail::log_tables().q63[k], exact.q63[k]) << "k = " << k;
  }
}

TEST(Format, Lbfp8LutIsTheSpecTable) {
  // docs/spec.md, section 5 ("Multiplication"), step 4.
  const std::vector<uint32_t> spec = {256, 267, 279, 292, 304, 318, 332, 347,
                                      362, 378, 395, 412, 431, 450, 470, 490};
  EXPECT_EQ(lbfp8().lut_table(), spec);
  EXPECT_EQ(lbfp8().int_bits(), 3);
  EXPECT_EQ(lbfp8().max_magnitude(), 127);
  EXPECT_EQ(lbfp8().name(), "lbfp8");
}

TEST(Format, EveryLutEntryOfTheFamilyIsExact) {
  for (int w = 2; w <= 8; ++w) {
    for (int f = 0; f <= w - 2; ++f) {
      for (int p : {0, 1, 4, 8, 12, 16, 30}) {
        const LbfpFormat format(w, f, p, 32);
        for (int i = 0; i < (1 << f); ++i) {
          ASSERT_EQ(format.lut(i), testing::exact_lut(f, p, i))
              << "W=" << w << " F=" << f << " P=" << p << " f=" << i;
        }
      }
    }
  }
}

TEST(Format, RequantBoundariesAreExact) {
  for (int f = 0; f <= 6; ++f) {
    for (int a : {2, 8, 16, 24, 32, 48, 62}) {
      const LbfpFormat format(f + 2, f, 8, a);
      for (int j = 0; j < (1 << f); ++j) {
        ASSERT_EQ(format.requant_boundary(j), testing::exact_requant_boundary(f, a, j))
            << "F=" << f << " A=" << a << " j=" << j;
      }
    }
  }
  // The first LBFP8 boundary, floor(2^(1/32) 2^31), by hand: 2^(1/32) = 1.0218971486541166...
  EXPECT_EQ(lbfp8().requant_boundary(0), 2194507416u);
}

TEST(Format, RequantRankCountsTheBoundariesBelowANormalisedMagnitude) {
  // The rank of every A-bit magnitude m << (64 - A) (leading one at bit 63) against a plain count
  // of the A-bit boundaries below m: at each boundary and its neighbours, at every bucket edge of
  // the index, and at random magnitudes.
  std::mt19937_64 rng(7);
  for (int f = 0; f <= 6; ++f) {
    for (int a : {2, 3, 5, 8, 9, 12, 16, 24, 32, 48, 62}) {
      const LbfpFormat format(f + 2, f, 8, a);
      const int shift = 64 - a;
      std::vector<uint64_t> mags;  // A-bit magnitudes in [2^(A-1), 2^A)
      const uint64_t lo = uint64_t{1} << (a - 1);
      const uint64_t hi = (uint64_t{1} << a) - 1;
      auto add = [&](uint64_t m) {
        if (m >= lo && m <= hi) mags.push_back(m);
      };
      for (int j = 0; j < (1 << f); ++j) {
        for (int d = -2; d <= 2; ++d) add(format.requant_boundary(j) + static_cast<uint64_t>(d));
      }
      for (uint64_t t = 0; t <= 256; ++t) {
        const uint64_t edge = ((uint64_t{1} << 63) + (t << 55)) >> shift;
        for (int d = -1; d <= 1; ++d) add(edge + static_cast<uint64_t>(d));
      }
      std::uniform_int_distribution<uint64_t> any(lo, hi);
      for (int i = 0; i < 2000; ++i) add(any(rng));
      for (uint64_t m : mags) {
        int below = 0;
        for (int j = 0; j < (1 << f); ++j) below += format.requant_boundary(j) < m ? 1 : 0;
        ASSERT_EQ(format.requant_rank(m << shift), below) << "F=" << f << " A=" << a << " m=" << m;
      }
    }
  }
}

TEST(Format, RejectsOutOfRangeParameters) {
  EXPECT_THROW(LbfpFormat(9, 4, 8, 32), std::invalid_argument);
  EXPECT_THROW(LbfpFormat(1, 0, 8, 32), std::invalid_argument);
  EXPECT_THROW(LbfpFormat(8, 7, 8, 32), std::invalid_argument);
  EXPECT_THROW(LbfpFormat(8, -1, 8, 32), std::invalid_argument);
  EXPECT_THROW(LbfpFormat(8, 4, 31, 32), std::invalid_argument);
  EXPECT_THROW(LbfpFormat(8, 4, 8, 63), std::invalid_argument);
  EXPECT_THROW(LbfpFormat(8, 4, 8, 1), std::invalid_argument);
  EXPECT_THROW(BfpFormat(9, 32), std::invalid_argument);
  EXPECT_THROW(BfpFormat(8, 0), std::invalid_argument);
  EXPECT_THROW(check_exponent(128), std::out_of_range);
  EXPECT_THROW(check_exponent(-128), std::out_of_range);
  EXPECT_NO_THROW(check_exponent(-127));
}

}  // namespace
}  // namespace lbfp
