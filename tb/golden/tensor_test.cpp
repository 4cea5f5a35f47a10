#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "lbfp/tensor.h"

namespace lbfp {
namespace {

TEST(BlockMap, PerTensorPerChannelAndGroups) {
  const BlockMap whole({2, 3, 4}, Blocking::per_tensor());
  EXPECT_EQ(whole.block_count(), 1u);
  EXPECT_EQ(whole.block_of(23), 0u);

  const BlockMap channels({2, 3, 4}, Blocking::per_channel(1));
  EXPECT_EQ(channels.block_count(), 3u);
  for (size_t i = 0; i < 24; ++i) EXPECT_EQ(channels.block_of(i), (i / 4) % 3) << i;

  const BlockMap rows({4, 5}, Blocking::per_channel(0));  // weights [out, in]
  EXPECT_EQ(rows.block_count(), 4u);
  EXPECT_EQ(rows.block_of(7), 1u);

  // Groups of 2 along the last axis of a [3, 5] tensor: 3 groups per row, the last one short.
  const BlockMap groups({3, 5}, Blocking::groups(1, 2));
  EXPECT_EQ(groups.block_count(), 9u);
  const size_t want[15] = {0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6, 7, 7, 8};
  for (size_t i = 0; i < 15; ++i) EXPECT_EQ(groups.block_of(i), want[i]) << i;

  // Groups along a leading axis: [4, 2] with groups of 2 along axis 0.
  const BlockMap column_groups({4, 2}, Blocking::groups(0, 2));
  EXPECT_EQ(column_groups.block_count(), 4u);
  const size_t want2[8] = {0, 1, 0, 1, 2, 3, 2, 3};
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(column_groups.block_of(i), want2[i]) << i;
}

TEST(BlockMap, RejectsBadShapesAndBlockings) {
  EXPECT_THROW(BlockMap({2, 0}, Blocking::per_tensor()), std::invalid_argument);
  EXPECT_THROW(BlockMap({2, -3}, Blocking::per_tensor()), std::invalid_argument);
  EXPECT_THROW(BlockMap({2, 3}, Blocking::per_channel(2)), std::invalid_argument);
  EXPECT_THROW(BlockMap({2, 3}, Blocking::per_channel(-1)), std::invalid_argument);
  EXPECT_THROW(BlockMap({2, 3}, Blocking::groups(1, 0)), std::invalid_argument);
  EXPECT_THROW(BlockMap({int64_t{1} << 40, int64_t{1} << 40}, Blocking::per_tensor()),
               std::invalid_argument);
}

TEST(Quantize, EachBlockUsesItsOwnExponent) {
  const LbfpFormat& f = lbfp8();
  const std::vector<float> w = {0.5f, -0.25f, 8.0f, 3.0f};  // [2, 2]: rows are channels
  const LbfpTensor q = quantize(f, w, {2, 2}, Blocking::per_channel(0), {0, 4});
  EXPECT_EQ(q.codes[0], encode(f, 0.5, 0));
  EXPECT_EQ(q.codes[1], encode(f, -0.25, 0));
  EXPECT_EQ(q.codes[2], encode(f, 8.0, 4));
  EXPECT_EQ(q.codes[3], encode(f, 3.0, 4));
  EXPECT_EQ(q.exponent_of(3), 4);
  const std::vector<double> back = q.dequantize();
  EXPECT_EQ(back[0], 0.5);
  EXPECT_NEAR(back[3], 3.0, 3.0 * 0.023);  // within half a step of 2^(1/16)
  const BfpTensor b = quantize(bfp8(), w, {2, 2}, Blocking::per_tensor(), {4});
  EXPECT_EQ(b.dequantize()[2], 8.0);
}

TEST(Quantize, ReportsBadInputByElement) {
  const LbfpFormat& f = lbfp8();
  const std::vector<float> bad = {1.0f, std::nanf(""), 2.0f};
  try {
    quantize(f, bad, {3}, Blocking::per_tensor(), {2});
    FAIL() << "NaN accepted";
  } catch (const std::domain_error& e) {
    EXPECT_NE(std::string(e.what()).find("element 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(quantize(f, {1.0f, 2.0f}, {3}, Blocking::per_tensor(), {2}),
               std::invalid_argument);
  EXPECT_THROW(quantize(f, {1.0f, 2.0f}, {2}, Blocking::per_channel(0), {2}),
               std::invalid_argument);
  EXPECT_THROW(quantize(f, {1.0f}, {1}, Blocking::per_tensor(), {200}), std::out_of_range);
}

TEST(Quantize, BlockAbsMax) {
  const std::vector<float> w = {0.5f, -4.0f, 1.0f, 2.0f, -3.0f, 0.0f};
  const auto amax = block_abs_max(w, BlockMap({3, 2}, Blocking::per_channel(0)));
  EXPECT_EQ(amax, (std::vector<float>{4.0f, 2.0f, 3.0f}));
}

}  // namespace
}  // namespace lbfp
