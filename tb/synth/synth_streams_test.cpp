// The operand streams of `lbfp synth`: the layer stream comes from the committed LeNet-5 fc1 tile,
// quantized the same way for both formats, in output-stationary order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/synth/array_stream.h"
#include "lbfp/scaled_format.h"
#include "lbfp/synth/flow.h"
#include "lbfp/synth/layer_tile.h"
#include "lbfp/synth/streams.h"

namespace lbfp::synth {
namespace {

LayerTile lenet5_tile() {
  return read_layer_tile(lenet5_fc1_tile_path(default_tools().source_dir));
}

TEST(SynthStreams, LayerStreamIsTheLeNet5TileInOutputStationaryOrder) {
  const LayerTile tile = lenet5_tile();
  ASSERT_EQ(tile.m, 6);
  ASSERT_EQ(tile.k, 400);
  ASSERT_EQ(tile.n, 10);
  const size_t products = 6u * 10u * 400u;
  const std::vector<Op> stream = layer_stream(tile, "lbfp8", products + 400);
  ASSERT_EQ(stream.size(), products + 400);

  double x_max = 0.0;
  for (float x : tile.x) x_max = std::max(x_max, std::fabs(double{x}));
  const int ex = max_exponent(x_max);
  // Output (image 1, channel 3), step k = 17: activation x[1][17], weight w[17][3].
  const size_t i = (1 * 10 + 3) * 400 + 17;
  EXPECT_EQ(stream[i].a, encode(lbfp8(), tile.x[1 * 400 + 17], ex));
  EXPECT_TRUE(stream[(1 * 10 + 3) * 400].first);
  EXPECT_TRUE(stream[(1 * 10 + 3) * 400 + 399].last);
  EXPECT_FALSE(stream[i].first || stream[i].last);
  // Past the tile the stream starts over.
  EXPECT_EQ(stream[products + 5].a, stream[5].a);
  EXPECT_EQ(stream[products + 5].b, stream[5].b);
  EXPECT_TRUE(stream[products].first);
}

// The operand hold of lbfp_pe / bfp_pe, by hand: the codes of the last valid non-zero product
// (0 before the first), the zero flag on every other operation, valid/first/last untouched.
TEST(SynthStreams, HeldOperandsKeepTheLastNonZeroProduct) {
  auto op = [](uint8_t a, uint8_t b, bool valid = true) {
    Op o;
    o.a = a;
    o.b = b;
    o.valid = valid;
    return o;
  };
  // LBFP8: 0x80 is a zero (sign only); BFP8: only 0x00 is.
  std::vector<Op> in = {op(0x00, 0x12), op(0x21, 0x33), op(0x80, 0x44), op(0x55, 0x00),
                        op(0x66, 0x77, false), op(0x80, 0x81), op(0x09, 0x0a)};
  in[1].first = true;
  in[6].last = true;
  const std::vector<Op> lbfp = held_operand_stream("lbfp8", in);
  const std::vector<std::vector<int>> want_lbfp = {
      {0x00, 0x00, 1}, {0x21, 0x33, 0}, {0x21, 0x33, 1}, {0x21, 0x33, 1},
      {0x21, 0x33, 1}, {0x21, 0x33, 1}, {0x09, 0x0a, 0}};
  ASSERT_EQ(lbfp.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(lbfp[i].a, want_lbfp[i][0]);
    EXPECT_EQ(lbfp[i].b, want_lbfp[i][1]);
    EXPECT_EQ(lbfp[i].zero, want_lbfp[i][2] != 0);
    EXPECT_EQ(lbfp[i].valid, in[i].valid);
    EXPECT_EQ(lbfp[i].first, in[i].first);
    EXPECT_EQ(lbfp[i].last, in[i].last);
  }
  const std::vector<Op> bfp = held_operand_stream("bfp8", in);
  const std::vector<std::vector<int>> want_bfp = {
      {0x00, 0x00, 1}, {0x21, 0x33, 0}, {0x80, 0x44, 0}, {0x80, 0x44, 1},
      {0x80, 0x44, 1}, {0x80, 0x81, 0}, {0x09, 0x0a, 0}};
  for (size_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(bfp[i].a, want_bfp[i][0]);
    EXPECT_EQ(bfp[i].b, want_bfp[i][1]);
    EXPECT_EQ(bfp[i].zero, want_bfp[i][2] != 0);
  }
}

TEST(SynthStreams, BothFormatsSeeTheSameZeros) {
  const LayerTile tile = lenet5_tile();
  const std::vector<Op> lbfp = layer_stream(tile, "lbfp8", 24000);
  const std::vector<Op> bfp = layer_stream(tile, "bfp8", 24000);
  // ReLU and max-pooling leave many exact zeros; LBFP8 flushes a few more tiny values.
  const double lbfp_zero = zero_operand_fraction("lbfp8", lbfp);
  const double bfp_zero = zero_operand_fraction("bfp8", bfp);
  EXPECT_GT(bfp_zero, 0.3);
  EXPECT_LT(lbfp_zero, 0.9);
  EXPECT_GE(lbfp_zero, bfp_zero - 0.02);
  EXPECT_LE(lbfp_zero, bfp_zero + 0.1);
}

// The section 13 formats' streams (`lbfp synth --units fmtmul`): the same tile through each
// format's golden encoder (FP32 scales), codes the encoders produce, the tile's zeros.
TEST(SynthStreams, ScaledFormatsQuantizeTheSameTile) {
  const LayerTile tile = lenet5_tile();
  const double bfp_zero = zero_operand_fraction("bfp8", layer_stream(tile, "bfp8", 24000));
  for (const char* format : {"int8", "fp8-e4m3", "fp8-e5m2"}) {
    SCOPED_TRACE(format);
    const ScaledFormat f(std::string(format) == "int8"       ? ElementKind::kInt8
                         : std::string(format) == "fp8-e4m3" ? ElementKind::kE4M3
                                                              : ElementKind::kE5M2,
                         ScaleKind::kTensor);
    const std::vector<Op> layer = layer_stream(tile, format, 24000);
    ASSERT_EQ(layer.size(), 24000u);
    const double zero = zero_operand_fraction(format, layer);
    // ReLU's exact zeros in every format; FP8's subnormals keep a few tiny values BFP8 flushes.
    EXPECT_GT(zero, 0.3);
    EXPECT_LE(zero, bfp_zero + 0.1);
    // Every code is a value of the format, and -128 never appears (the encoders saturate at 127).
    for (const std::vector<Op>& stream : {layer, uniform_stream(format, 20000, 3)}) {
      for (const Op& op : stream) {
        EXPECT_NO_THROW(check_code(f, op.a));
        EXPECT_NO_THROW(check_code(f, op.b));
        if (std::string(format) == "int8") {
          EXPECT_NE(op.a, 0x80);
          EXPECT_NE(op.b, 0x80);
        }
      }
    }
  }
  EXPECT_THROW(uniform_stream("fp8", 4, 1), std::invalid_argument);
}

// The MX streams (`--units fmtmac fmtpe`, formats mxint8, mxfp8-e4m3, mxfp8-e5m2): each block of
// 32 along K of an activation row and of a weight column has its own E8M0 exponent
// (mx_shared_exponent of the block's values) and each block is one reduction; the uniform stream
// draws the element type's codes in reductions of 32.
TEST(SynthStreams, MxStreamsScaleAndReduceEachBlockOfThirtyTwo) {
  const LayerTile tile = lenet5_tile();
  const size_t k_len = static_cast<size_t>(tile.k);
  const size_t n = static_cast<size_t>(tile.n);
  for (const char* format : {"mxint8", "mxfp8-e4m3", "mxfp8-e5m2"}) {
    SCOPED_TRACE(format);
    const std::string element = std::string(format) == "mxint8" ? "int8" : format + 2;
    const ScaledFormat f(element == "int8"       ? ElementKind::kInt8
                         : element == "fp8-e4m3" ? ElementKind::kE4M3
                                                 : ElementKind::kE5M2,
                         ScaleKind::kMxBlock);
    // Outputs (0, 0) and (0, 1), whole.
    const std::vector<Op> layer = layer_stream(tile, format, 2 * k_len);
    ASSERT_EQ(layer.size(), 2 * k_len);
    int blocks = 0;
    for (size_t i = 0; i < layer.size(); ++i) {
      const size_t c = i / k_len;
      const size_t k = i % k_len;
      const size_t k0 = k - k % 32;
      const size_t len = std::min<size_t>(32, k_len - k0);
      std::vector<float> w(len);
      for (size_t j = 0; j < len; ++j) w[j] = tile.w[(k0 + j) * n + c];
      const int ea = mx_shared_exponent(f, &tile.x[k0], len);
      const int eb = mx_shared_exponent(f, w.data(), len);
      ASSERT_EQ(layer[i].a, encode(f, tile.x[k], ea)) << "k " << k;
      ASSERT_EQ(layer[i].b, encode(f, tile.w[k * n + c], eb)) << "k " << k;
      EXPECT_EQ(layer[i].first, k % 32 == 0) << "k " << k;
      EXPECT_EQ(layer[i].last, k % 32 == 31 || k + 1 == k_len) << "k " << k;
      blocks += layer[i].first ? 1 : 0;
    }
    EXPECT_EQ(blocks, 2 * 13);  // K = 400: 12 blocks of 32 and one of 16 per output
    // A block scale gives the small values of a block more codes than one scale per tensor.
    EXPECT_LT(zero_operand_fraction(format, layer_stream(tile, format, 24000)),
              zero_operand_fraction(element, layer_stream(tile, element, 24000)) + 1e-12);
    const std::vector<Op> uniform = uniform_stream(format, 4096, 3);
    const std::vector<Op> same_codes = uniform_stream(element, 4096, 3, 32);
    for (size_t i = 0; i < uniform.size(); ++i) {
      ASSERT_EQ(uniform[i].a, same_codes[i].a);
      ASSERT_EQ(uniform[i].b, same_codes[i].b);
      ASSERT_EQ(uniform[i].first, i % 32 == 0);
      ASSERT_EQ(uniform[i].last, i % 32 == 31);
    }
  }
}

TEST(SynthStreams, ZeroOperandFractionCountsEitherSide) {
  std::vector<Op> ops(4);
  ops[0].a = 0x80;  // LBFP8 negative zero; BFP8's unused -128
  ops[0].b = 0x11;
  ops[1].a = 0x11;
  ops[1].b = 0x00;
  ops[2].a = 0x11;
  ops[2].b = 0x22;
  ops[3].a = 0x00;
  ops[3].b = 0x00;
  EXPECT_DOUBLE_EQ(zero_operand_fraction("lbfp8", ops), 0.75);
  EXPECT_DOUBLE_EQ(zero_operand_fraction("bfp8", ops), 0.5);
  EXPECT_DOUBLE_EQ(zero_operand_fraction("fp8-e4m3", ops), 0.75);  // FP8 0x80 is zero too
  EXPECT_DOUBLE_EQ(zero_operand_fraction("int8", ops), 0.5);
}

TEST(SynthStreams, MissingTileNamesTheFile) {
  try {
    read_layer_tile("/nonexistent/tile.txt");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tile.txt"), std::string::npos);
  }
}

// The array units' beats: the layer tile's GEMM in each dataflow's order, and output rows equal
// to the golden dot products (the weight-stationary folds' start values the earlier folds' sums).
TEST(SynthStreams, ArrayStreamsFollowTheProtocolAndTheGoldenSums) {
  const LayerTile tile = lenet5_tile();
  const QuantizedTile q = quantize_tile(tile, "lbfp8");
  for (const bool ws : {false, true}) {
    SCOPED_TRACE(ws ? "ws" : "os");
    const ArrayStream s = layer_array_stream(tile, "lbfp8", ws, 4, 4, 16384);
    EXPECT_EQ(s.m, 4);
    EXPECT_EQ(s.k, 400);
    EXPECT_EQ(s.n, 8);
    EXPECT_EQ(s.macs, 12800u);
    const auto count = [&](char channel) {
      return std::count_if(s.beats.begin(), s.beats.end(),
                           [&](const std::string& b) { return b[0] == channel; });
    };
    // OS: 2 column tiles, each 4 preload rows and 400 steps, 4 output rows. WS: 2 x 100 folds,
    // each 4 weight rows and 4 steps, one output row per step.
    EXPECT_EQ(count('i'), ws ? 0 : 8);
    EXPECT_EQ(count('w'), ws ? 800 : 0);
    EXPECT_EQ(count('s'), ws ? 800 : 800);
    ASSERT_EQ(s.expected.size(), ws ? 800u : 8u);
    // Output (row 1, column 6): OS row 1 of the second tile; WS step 1 of the last fold of the
    // second column tile.
    const ArrayRow& r = s.expected[ws ? 799 - 2 : 5];
    std::vector<Code> a(400), b(400);
    for (int k = 0; k < 400; ++k) {
      a[k] = q.a[static_cast<size_t>(1) * 400 + k];
      b[k] = q.b[static_cast<size_t>(k) * q.n + 6];
    }
    const DotResult d = dot(lbfp8(), a, b);
    EXPECT_EQ(r.acc[2], d.acc);
    EXPECT_EQ((r.ovf >> 2) & 1u, d.overflows > 0 ? 1u : 0u);
  }
  EXPECT_THROW(array_stream("lbfp8", false, 4, 4, 3, 4, 4, std::vector<Code>(12),
                            std::vector<Code>(16)),
               std::invalid_argument);
}

}  // namespace
}  // namespace lbfp::synth
