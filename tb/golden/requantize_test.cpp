#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "exact_reference.h"
#include "lbfp/arith.h"

namespace lbfp {
namespace {

// The spec's requantization, decided by the independent big-integer comparison on acc * 2^scale.
Code exact_requant(const LbfpFormat& f, int64_t acc, int scale, int out_exp, bool relu) {
  if (acc == 0 || (relu && acc < 0)) return 0;
  const bool negative = acc < 0;
  const uint64_t mag = negative ? static_cast<uint64_t>(-acc) : static_cast<uint64_t>(acc);
  const int m = testing::exact_magnitude_code(f.width(), f.frac_bits(), mag, scale, out_exp);
  return make_code(f, negative, m);
}

TEST(Requantize, EqualsEncodeOfTheExactValueWhenItIsAnFp32) {
  const LbfpFormat& f = lbfp8();
  std::mt19937 rng(11);
  std::uniform_int_distribution<int64_t> acc_dist(-(int64_t{1} << 24), int64_t{1} << 24);
  std::uniform_int_distribution<int> scale_dist(-40, 10);
  std::uniform_int_distribution<int> exp_dist(-20, 20);
  for (int i = 0; i < 200000; ++i) {
    const int64_t acc = acc_dist(rng);
    const int scale = scale_dist(rng);
    const int eo = exp_dist(rng);
    const auto x = static_cast<float>(std::ldexp(static_cast<double>(acc), scale));  // exact
    ASSERT_EQ(requantize(f, acc, scale, eo, false), encode(f, x, eo))
        << "acc=" << acc << " scale=" << scale << " Eo=" << eo;
  }
}

TEST(Requantize, BoundaryAccumulatorsAgreeWithTheExactComparison) {
  // Accumulators right at the integer boundary constants, and their neighbours, at every
  // normalising shift of a 32-bit accumulator.
  const LbfpFormat& f = lbfp8();
  for (int j = 0; j < 16; ++j) {
    const uint64_t k = f.requant_boundary(j);  // in [2^31, 2^32)
    for (int shift = 0; shift < 31; ++shift) {
      for (int64_t delta = -2; delta <= 2; ++delta) {
        const int64_t acc = static_cast<int64_t>(k >> shift) + delta;
        if (acc <= 0 || acc > (int64_t{1} << 31) - 1) continue;
        for (int eo : {-3, 0, 5}) {
          for (int scale : {-31, -20, 0}) {
            ASSERT_EQ(requantize(f, acc, scale, eo, false), exact_requant(f, acc, scale, eo, false))
                << "acc=" << acc << " scale=" << scale << " Eo=" << eo;
            ASSERT_EQ(requantize(f, -acc, scale, eo, false),
                      exact_requant(f, -acc, scale, eo, false));
          }
        }
      }
    }
  }
}

TEST(Requantize, WideAccumulatorsOfEveryFormatAgreeWithTheExactComparison) {
  std::mt19937_64 rng(99);
  for (int w = 4; w <= 8; ++w) {
    for (int fb = 0; fb <= w - 2; ++fb) {
      for (int a : {16, 32, 48, 62}) {
        const LbfpFormat f(w, fb, 8, a);
        const int64_t max = (int64_t{1} << (a - 1)) - 1;
        std::uniform_int_distribution<int64_t> acc_dist(-max - 1, max);
        std::uniform_int_distribution<int> bits(0, a - 1);
        for (int i = 0; i < 300; ++i) {
          int64_t acc = acc_dist(rng) >> bits(rng);  // spread over magnitudes
          if (i == 0) acc = -max - 1;
          if (i == 1) acc = max;
          const int scale = -a + (i % 7) - 3;
          const int eo = (i % 5) - 2;
          const bool relu = i % 4 == 0;
          ASSERT_EQ(requantize(f, acc, scale, eo, relu), exact_requant(f, acc, scale, eo, relu))
              << f.name() << " acc=" << acc << " scale=" << scale << " Eo=" << eo;
        }
      }
    }
  }
}

TEST(Requantize, RowEqualsTheExactComparisonElementByElement) {
  // requantize_row against the big-integer reference, per element scales, both formats, and its
  // errors: an accumulator outside A bits and an output exponent outside [-127, 127].
  std::mt19937_64 rng(5);
  const LbfpFormat narrow(6, 3, 7, 20);
  for (int round = 0; round < 40; ++round) {
    const bool relu = round % 3 == 0;
    const int eo = round % 11 - 5;
    for (const LbfpFormat* f : {&lbfp8(), &narrow}) {
      const int64_t max = (int64_t{1} << (f->acc_bits() - 1)) - 1;
      std::uniform_int_distribution<int64_t> acc_dist(-max - 1, max);
      std::vector<int64_t> acc(37);
      std::vector<int> scales(acc.size());
      for (size_t i = 0; i < acc.size(); ++i) {
        acc[i] = acc_dist(rng) >> (i % 23);
        scales[i] = -f->acc_bits() + static_cast<int>(i % 9);
      }
      std::vector<Code> out(acc.size());
      requantize_row(*f, acc.data(), scales.data(), acc.size(), eo, relu, out.data());
      for (size_t i = 0; i < acc.size(); ++i) {
        ASSERT_EQ(out[i], exact_requant(*f, acc[i], scales[i], eo, relu))
            << f->name() << " acc=" << acc[i] << " scale=" << scales[i] << " Eo=" << eo;
      }
    }
    std::vector<int64_t> acc = {0, 1, -1, 127 << 10, -(int64_t{1} << 31), (int64_t{1} << 31) - 1};
    std::vector<int> scales(acc.size(), -8 - round);
    std::vector<Code> out(acc.size());
    requantize_row(bfp8(), acc.data(), scales.data(), acc.size(), eo, relu, out.data());
    for (size_t i = 0; i < acc.size(); ++i) {
      ASSERT_EQ(out[i], requantize(bfp8(), acc[i], scales[i], eo, relu)) << "acc=" << acc[i];
    }
  }
  std::vector<int64_t> bad = {1, int64_t{1} << 31};
  std::vector<int> scales = {0, 0};
  std::vector<Code> out(2);
  EXPECT_THROW(requantize_row(lbfp8(), bad.data(), scales.data(), 2, 0, false, out.data()),
               std::out_of_range);
  EXPECT_THROW(requantize_row(lbfp8(), bad.data(), scales.data(), 1, 128, false, out.data()),
               std::out_of_range);
}

TEST(Requantize, RowsOfEveryFormatAgreeWithTheExactComparison) {
  // requantize_row's vector steps (eight outputs at a time where the CPU has AVX-512 VBMI) and
  // its scalar tail, for every W, F and several A: rows of 203 accumulators spread over all
  // magnitudes, zeros, both extremes, per-element scales, with and without ReLU.
  std::mt19937_64 rng(1234);
  for (int w = 2; w <= 8; ++w) {
    for (int fb = 0; fb <= w - 2; ++fb) {
      for (int a : {12, 32, 62}) {
        const LbfpFormat f(w, fb, 8, a);
        const int64_t max = (int64_t{1} << (a - 1)) - 1;
        std::uniform_int_distribution<int64_t> acc_dist(-max - 1, max);
        std::vector<int64_t> acc(203);
        std::vector<int> scales(acc.size());
        for (size_t i = 0; i < acc.size(); ++i) {
          acc[i] = acc_dist(rng) >> (rng() % a);
          if (i % 17 == 0) acc[i] = 0;
          scales[i] = -a + static_cast<int>(rng() % 13) - 4;
        }
        acc[5] = -max - 1;
        acc[6] = max;
        acc[7] = 1;
        acc[8] = -1;
        for (int eo : {-9, 3}) {
          for (bool relu : {false, true}) {
            std::vector<Code> out(acc.size(), 0xAA);
            requantize_row(f, acc.data(), scales.data(), acc.size(), eo, relu, out.data());
            for (size_t i = 0; i < acc.size(); ++i) {
              ASSERT_EQ(out[i], exact_requant(f, acc[i], scales[i], eo, relu))
                  << f.name() << " acc=" << acc[i] << " scale=" << scales[i] << " Eo=" << eo
                  << " relu=" << relu << " element " << i;
            }
          }
        }
      }
    }
  }
}

TEST(Requantize, RowEqualsTheSingleRequantizeOnEveryShift) {
  // The row path's selects against requantize: zeros, signs, ReLU, every shift from far below
  // (all rounds to zero) to far above (all saturates), accumulators at every magnitude.
  std::mt19937_64 rng(11);
  std::vector<int64_t> acc;
  for (int bits = 0; bits <= 31; ++bits) {
    const int64_t top = (int64_t{1} << bits) - 1;
    for (int64_t v : {top, top + 1, -top, -top - 1, top / 2 + 1}) {
      if (v <= (int64_t{1} << 31) - 1 && v >= -(int64_t{1} << 31)) acc.push_back(v);
    }
    for (int r = 0; r < 8; ++r) {
      const int64_t v = static_cast<int64_t>(rng() >> (64 - std::max(bits, 1)));
      acc.push_back(r % 2 ? v : -v);
    }
  }
  std::vector<Code> out(acc.size());
  for (int scale = -100; scale <= 100; scale += 3) {
    const std::vector<int> scales(acc.size(), scale);
    for (int eo : {-127, -20, -3, 0, 5, 30, 127}) {
      for (bool relu : {false, true}) {
        requantize_row(lbfp8(), acc.data(), scales.data(), acc.size(), eo, relu, out.data());
        for (size_t i = 0; i < acc.size(); ++i) {
          ASSERT_EQ(out[i], requantize(lbfp8(), acc[i], scale, eo, relu))
              << "lbfp8 acc=" << acc[i] << " scale=" << scale << " Eo=" << eo;
        }
        requantize_row(bfp8(), acc.data(), scales.data(), acc.size(), eo, relu, out.data());
        for (size_t i = 0; i < acc.size(); ++i) {
          ASSERT_EQ(out[i], requantize(bfp8(), acc[i], scale, eo, relu))
              << "bfp8 acc=" << acc[i] << " scale=" << scale << " Eo=" << eo;
        }
      }
    }
  }
}

TEST(Requantize, ReluSaturationAndErrors) {
  const LbfpFormat& f = lbfp8();
  EXPECT_EQ(requantize(f, -1000, 0, 10, true), 0x00);
  EXPECT_EQ(requantize(f, 0, 0, 10, true), 0x00);
  EXPECT_EQ(requantize(f, -1000, 0, 10, false), encode(f, -1000.0, 10));
  EXPECT_EQ(requantize(f, (int64_t{1} << 31) - 1, 0, -10, false), 0x7f);
  EXPECT_EQ(requantize(f, -(int64_t{1} << 31), 0, -10, false), 0xff);
  EXPECT_EQ(requantize(f, 1, -40, 10, false), 0x00);  // flushed
  EXPECT_THROW(requantize(f, int64_t{1} << 31, 0, 0, false), std::out_of_range);
  EXPECT_THROW(requantize(f, 1, 0, 128, false), std::out_of_range);
}

TEST(RequantizeBfp, RoundsHalfToEvenFromTheExactValue) {
  const BfpFormat& f = bfp8();
  std::mt19937 rng(5);
  std::uniform_int_distribution<int64_t> acc_dist(-(int64_t{1} << 20), int64_t{1} << 20);
  std::uniform_int_distribution<int> scale_dist(-30, 5);
  std::uniform_int_distribution<int> exp_dist(-10, 10);
  for (int i = 0; i < 100000; ++i) {
    const int64_t acc = acc_dist(rng);
    const int scale = scale_dist(rng);
    const int eo = exp_dist(rng);
    // acc * 2^scale is exact in a double; BFP encode of it is the independent path.
    const double x = std::ldexp(static_cast<double>(acc), scale);
    ASSERT_EQ(requantize(f, acc, scale, eo, false), encode(f, x, eo))
        << "acc=" << acc << " scale=" << scale << " Eo=" << eo;
    ASSERT_EQ(requantize(f, acc, scale, eo, true), encode(f, std::max(0.0, x), eo));
  }
  EXPECT_EQ(mantissa(f, requantize(f, 5, -1, 7, false)), 2);  // 2.5 -> 2
  EXPECT_EQ(mantissa(f, requantize(f, 7, -1, 7, false)), 4);  // 3.5 -> 4
  EXPECT_EQ(mantissa(f, requantize(f, -7, -1, 7, false)), -4);
  EXPECT_EQ(mantissa(f, requantize(f, 1 << 20, 10, 7, false)), 127);
  EXPECT_EQ(mantissa(f, requantize(f, -(1 << 20), 10, 7, false)), -127);
}

}  // namespace
}  // namespace lbfp
