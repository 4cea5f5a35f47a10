// The systolic array against the golden GEMM (one lbfp::dot per output, then lbfp::requantize),
// and its cycle count against the closed-form latency lbfp::arch::array_tile_cycles.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/rtl/cosim.h"
#include "lbfp/synth/layer_tile.h"

namespace lbfp::rtl {
namespace {

struct Shape {
  ArrayKind kind;
  int m;
  int n;
  int k;
  GemmFill fill;
  uint64_t seed;
};

std::string shape_name(const Shape& s) {
  std::string kind = array_config(s.kind).name;
  for (char& ch : kind) {
    if (ch == '-') ch = '_';
  }
  return kind + "_m" + std::to_string(s.m) + "n" + std::to_string(s.n) + "k" +
         std::to_string(s.k) + (s.fill == GemmFill::kSaturate ? "_saturate" : "") + "_seed" +
         std::to_string(s.seed);
}

void PrintTo(const Shape& s, std::ostream* os) { *os << shape_name(s); }

std::string describe(const CosimReport& report) {
  std::string text = report.name + ": " + std::to_string(report.mismatches) + " mismatches, " +
                     std::to_string(report.cycles) + " cycles (formula " +
                     std::to_string(report.expected_cycles) + ")";
  for (const std::string& d : report.details) text += "\n  " + d;
  return text;
}

class RtlArrayGemm : public ::testing::TestWithParam<Shape> {};

TEST_P(RtlArrayGemm, MatchesGoldenAndLatencyFormula) {
  const Shape& s = GetParam();
  const Gemm gemm = make_gemm(s.kind, s.m, s.n, s.k, s.seed, s.fill);
  const CosimReport report = cosim_gemm(s.kind, gemm, shape_name(s));
  const ArrayConfig config = array_config(s.kind);
  const uint64_t tiles = static_cast<uint64_t>((s.m + config.rows - 1) / config.rows) *
                         static_cast<uint64_t>((s.n + config.cols - 1) / config.cols);
  EXPECT_EQ(report.tiles, tiles);
  EXPECT_EQ(report.cases, tiles * static_cast<uint64_t>(config.rows * config.cols));
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
  EXPECT_EQ(report.cycles, report.expected_cycles) << describe(report);
  if (s.fill == GemmFill::kSaturate || s.kind == ArrayKind::kLbfp8Narrow) {
    EXPECT_GT(report.saturated_outputs, 0u) << "the case was meant to saturate";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RtlArrayGemm,
    ::testing::Values(
        Shape{ArrayKind::kLbfp8, 1, 1, 1, GemmFill::kRandom, 1},
        Shape{ArrayKind::kLbfp8, 4, 4, 1, GemmFill::kRandom, 2},
        Shape{ArrayKind::kLbfp8, 4, 4, 2, GemmFill::kRandom, 3},
        Shape{ArrayKind::kLbfp8, 3, 5, 7, GemmFill::kRandom, 4},
        Shape{ArrayKind::kLbfp8, 8, 8, 64, GemmFill::kRandom, 5},
        Shape{ArrayKind::kLbfp8, 5, 9, 300, GemmFill::kRandom, 6},
        Shape{ArrayKind::kLbfp8, 4, 6, 400, GemmFill::kSaturate, 7},
        Shape{ArrayKind::kBfp8, 4, 4, 1, GemmFill::kRandom, 8},
        Shape{ArrayKind::kBfp8, 6, 7, 33, GemmFill::kRandom, 9},
        Shape{ArrayKind::kBfp8, 8, 4, 200, GemmFill::kRandom, 10},
        Shape{ArrayKind::kLbfp8Narrow, 3, 2, 1, GemmFill::kRandom, 11},
        Shape{ArrayKind::kLbfp8Narrow, 5, 3, 40, GemmFill::kRandom, 12},
        Shape{ArrayKind::kLbfp8Narrow, 3, 4, 257, GemmFill::kSaturate, 13}),
    [](const ::testing::TestParamInfo<Shape>& param_info) { return shape_name(param_info.param); });

// A real layer: fc1 of LeNet-5 (sim/models/lenet5.onnx, 400 -> 120) on the FP32 activations of
// MNIST test images, as data/make_lenet5_tile.py extracted them (6 images x 10 output
// channels: 2 x 3 tiles of the 4x4 array, K = 400). Quantized as the toolkit does it: activations
// per tensor and weights per output channel with max calibration, encoded by the golden
// lbfp::encode, the bias in accumulator units, ReLU, and the output exponent the next layer
// would use. The requantized outputs must also stay close to the FP32 layer. The tile's reader
// is shared with `lbfp synth`, which plays the same tile as its layer operand stream.
using synth::LayerTile;
using synth::read_layer_tile;

TEST(RtlArrayLayer, LeNet5Fc1TileMatchesGolden) {
  const LayerTile layer = read_layer_tile(std::string(LBFP_DATA_DIR) + "/lenet5_fc1_tile.txt");
  ASSERT_EQ(layer.k, 400);
  const ArrayConfig config = array_config(ArrayKind::kLbfp8);
  const LbfpFormat format(8, 4, 8, config.acc_bits);
  const int m = layer.m;
  const int n = layer.n;
  const int k = layer.k;

  float x_max = 0.0f;
  for (float v : layer.x) x_max = std::max(x_max, std::fabs(v));
  const int ex = max_exponent(x_max);
  Gemm gemm;
  gemm.m = m;
  gemm.n = n;
  gemm.k = k;
  gemm.relu = true;
  for (float v : layer.x) gemm.a.push_back(encode(format, v, ex));
  std::vector<int> ew(static_cast<size_t>(n));
  gemm.b.resize(static_cast<size_t>(k * n));
  for (int j = 0; j < n; ++j) {
    float w_max = 0.0f;
    for (int kk = 0; kk < k; ++kk) {
      w_max = std::max(w_max, std::fabs(layer.w[static_cast<size_t>(kk * n + j)]));
    }
    const int e = max_exponent(w_max);
    ew[static_cast<size_t>(j)] = e;
    const int scale = format.product_scale(ex, e);
    gemm.scales.push_back(scale);
    gemm.bias.push_back(bias_to_accumulator(format.acc_bits(), layer.bias[static_cast<size_t>(j)],
                                            scale));
    for (int kk = 0; kk < k; ++kk) {
      const size_t idx = static_cast<size_t>(kk * n + j);
      gemm.b[idx] = encode(format, layer.w[idx], e);
    }
  }
  gemm.out_exp = output_exponent(config, gemm);

  const CosimReport report = cosim_gemm(ArrayKind::kLbfp8, gemm, "lenet5_fc1_tile");
  EXPECT_EQ(report.tiles, 6u);
  EXPECT_EQ(report.cases, 6u * 16u);
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
  EXPECT_EQ(report.cycles, report.expected_cycles) << describe(report);

  // The quantized layer tracks the FP32 layer: relative error over the whole output tile.
  double err = 0.0;
  double ref = 0.0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double y = layer.bias[static_cast<size_t>(j)];
      std::vector<Code> row(gemm.a.begin() + i * k, gemm.a.begin() + (i + 1) * k);
      std::vector<Code> col;
      for (int kk = 0; kk < k; ++kk) {
        y += double{layer.x[static_cast<size_t>(i * k + kk)]} *
             layer.w[static_cast<size_t>(kk * n + j)];
        col.push_back(gemm.b[static_cast<size_t>(kk * n + j)]);
      }
      y = std::max(0.0, y);
      const DotResult acc = dot(format, row, col, gemm.bias[static_cast<size_t>(j)]);
      const Code code = requantize(format, acc.acc, gemm.scales[static_cast<size_t>(j)],
                                   gemm.out_exp, true);
      const double q = decode(format, code, gemm.out_exp);
      err += (q - y) * (q - y);
      ref += y * y;
    }
  }
  ASSERT_GT(ref, 0.0);
  EXPECT_LT(std::sqrt(err / ref), 0.1);
}

}  // namespace
}  // namespace lbfp::rtl
