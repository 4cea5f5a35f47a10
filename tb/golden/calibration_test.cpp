#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/calibration.h"

namespace lbfp {
namespace {

TEST(MaxExponent, IsFloorLog2PlusOneExactly) {
  EXPECT_EQ(max_exponent(1.0), 1);  // 1 < 2^1
  EXPECT_EQ(max_exponent(std::nextafter(1.0, 0.0)), 0);
  EXPECT_EQ(max_exponent(0.75), 0);
  EXPECT_EQ(max_exponent(4.0), 3);
  EXPECT_EQ(max_exponent(-4.0), 3);
  EXPECT_EQ(max_exponent(std::nextafter(4.0, 0.0)), 2);
  EXPECT_EQ(max_exponent(1e300), 127);
  EXPECT_EQ(max_exponent(1e-300), -127);
  EXPECT_EQ(max_exponent(0.0), 0);
  EXPECT_EQ(max_exponent(std::numeric_limits<double>::infinity()), 127);
  EXPECT_THROW(max_exponent(std::nan("")), std::domain_error);
  for (int k = -120; k <= 120; ++k) {
    const double p = std::ldexp(1.0, k);
    ASSERT_EQ(max_exponent(p), k + 1);
    ASSERT_EQ(max_exponent(std::nextafter(p, 0.0)), k);
  }
}

TEST(Histogram, CountsGrowsExactlyAndReportsPercentiles) {
  Histogram h(8);
  h.add(std::vector<float>{0.0f, 1.0f, 2.0f, 3.0f, 4.0f, -8.0f});  // width 1, range 8
  EXPECT_EQ(h.bin_width(), 1.0);
  EXPECT_EQ(h.counts(), (std::vector<uint64_t>{1, 1, 1, 1, 1, 0, 0, 1}));
  h.add(std::vector<float>{15.5f});  // range doubles to 16: pairs merge
  EXPECT_EQ(h.bin_width(), 2.0);
  EXPECT_EQ(h.counts(), (std::vector<uint64_t>{2, 2, 1, 1, 0, 0, 0, 1}));
  EXPECT_EQ(h.total(), 7u);
  EXPECT_EQ(h.abs_max(), 15.5);
  EXPECT_EQ(h.percentile_value(50), 4.0);
  EXPECT_EQ(h.percentile_value(100), 15.5);
  EXPECT_THROW(h.add(std::vector<float>{std::nanf("")}), std::domain_error);
  EXPECT_THROW(h.percentile_value(0), std::invalid_argument);
  EXPECT_THROW(Histogram(0), std::invalid_argument);
}

std::vector<float> heavy_tailed_with_outliers(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> bulk(0.0f, 1.0f);
  std::vector<float> data(200000);
  for (float& v : data) v = bulk(rng);
  for (size_t i = 0; i < 20; ++i) data[i * 9973] = (i % 2 ? -1.0f : 1.0f) * 900.0f;  // outliers
  return data;
}

TEST(Calibration, KlChoosesASmallerExponentThanMaxOnHeavyTailedData) {
  const std::vector<float> data = heavy_tailed_with_outliers(3);
  const int by_max = calibrate(lbfp8(), CalibrationMethod::kMax, data).exponent;
  const CalibrationResult kl = calibrate(lbfp8(), CalibrationMethod::kKl, data);
  EXPECT_EQ(by_max, 10);  // 900 < 2^10
  EXPECT_LT(kl.exponent, by_max);
  // The bulk (|x| < ~5) must be representable: E - 8 well below 1, E above log2(4).
  EXPECT_GE(kl.exponent, 2);
  EXPECT_LE(kl.exponent, 6);
  ASSERT_FALSE(kl.scores.empty());
  EXPECT_EQ(kl.scores.front().first, kl.exponent);
  // Candidates from Emax down to where fewer than 128 of the 65536 bins would be kept.
  EXPECT_GE(kl.scores.size(), 8u);
  EXPECT_LE(kl.scores.size(), 17u);

  // What KL buys: with max's exponent the bulk of the data (|x| < 4) falls below the smallest
  // code and is flushed to zero; with KL's it is kept.
  auto flushed_fraction = [&](int e) {
    size_t flushed = 0;
    for (float v : data) flushed += encode(lbfp8(), v, e) == 0 && v != 0.0f ? 1 : 0;
    return static_cast<double>(flushed) / static_cast<double>(data.size());
  };
  EXPECT_GT(flushed_fraction(by_max), 0.9);
  EXPECT_LT(flushed_fraction(kl.exponent), 0.02);
}

TEST(Calibration, KlKeepsMaxWhenThereAreNoOutliers) {
  // Uniform data fills the range: clipping anything costs more than it gains.
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  std::vector<float> data(100000);
  for (float& v : data) v = u(rng);
  const int by_max = calibrate(lbfp8(), CalibrationMethod::kMax, data).exponent;
  const int by_kl = calibrate(lbfp8(), CalibrationMethod::kKl, data).exponent;
  EXPECT_EQ(by_max, 2);
  EXPECT_GE(by_kl, by_max - 1);
}

TEST(Calibration, BfpKlMsePercentile) {
  const std::vector<float> data = heavy_tailed_with_outliers(4);
  const int by_max = calibrate(bfp8(), CalibrationMethod::kMax, data).exponent;
  EXPECT_LT(calibrate(bfp8(), CalibrationMethod::kKl, data).exponent, by_max);
  // MSE weighs the outliers' clipping error (900^2 each) against the bulk's: it is the exponent
  // of least mean squared error over the data itself, to within the histogram's resolution.
  for (bool lbfp : {true, false}) {
    const int chosen = lbfp ? calibrate(lbfp8(), CalibrationMethod::kMse, data).exponent
                            : calibrate(bfp8(), CalibrationMethod::kMse, data).exponent;
    auto mse = [&](int e) {
      double s = 0.0;
      for (float v : data) {
        const double back = lbfp ? decode(lbfp8(), encode(lbfp8(), v, e), e)
                                 : decode(bfp8(), encode(bfp8(), v, e), e);
        s += (v - back) * (v - back);
      }
      return s;
    };
    for (int other = chosen - 3; other <= chosen + 3; ++other) {
      if (other != chosen && other <= by_max) {
        EXPECT_LE(mse(chosen), mse(other) * 1.01) << (lbfp ? "lbfp8" : "bfp8") << " E=" << other;
      }
    }
  }
  // 99.9 % of a standard normal lies below 3.3: E = 2.
  const int pct = calibrate(lbfp8(), CalibrationMethod::kPercentile, data, 99.9).exponent;
  EXPECT_EQ(pct, 2);
  EXPECT_EQ(parse_calibration_method("kl"), CalibrationMethod::kKl);
  EXPECT_THROW(parse_calibration_method("entropy"), std::invalid_argument);
}

TEST(Calibration, AllZeroDataGivesADefinedExponent) {
  const std::vector<float> zeros(100, 0.0f);
  EXPECT_EQ(calibrate(lbfp8(), CalibrationMethod::kKl, zeros).exponent, 0);
  EXPECT_EQ(calibrate(lbfp8(), CalibrationMethod::kMax, zeros).exponent, 0);
}

}  // namespace
}  // namespace lbfp
