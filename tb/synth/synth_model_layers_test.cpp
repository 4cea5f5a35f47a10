// The model layers' operand streams of `lbfp synth`: each operand pair is the code the golden
// quantization gives that operand (the graph input: encode(pixel / 255) at the calibrated
// exponent; weights: encode at the channel's max exponent; later layers: the quantized
// inference's codes), at the position the output-stationary order says; and the all-layer
// summary is the operation-weighted combination of the rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/inference.h"
#include "lbfp_synth/flow.h"
#include "lbfp_synth/model_layers.h"
#include "lbfp_synth/report.h"

namespace lbfp::synth {
namespace {

constexpr size_t kCalibImages = 20;  // few, to keep the test fast; the exponents are read back
constexpr size_t kTestImages = 2;

std::string lenet5_path() {
  return (std::filesystem::path(default_tools().source_dir) / "sim" / "models" / "lenet5.onnx")
      .string();
}

// The plan `lbfp eval` makes from kCalibImages evenly spaced training images (one batch).
eval::QuantPlan lenet5_plan(const eval::Graph& g, eval::NumberFormat format) {
  const eval::Dataset train = eval::load_dataset("mnist", eval::Split::kTrain);
  const size_t stride = train.size() / kCalibImages;
  const size_t px = train.rows * train.cols;
  std::vector<float> input(kCalibImages * px);
  for (size_t i = 0; i < kCalibImages; ++i) {
    for (size_t j = 0; j < px; ++j) {
      input[i * px + j] = static_cast<float>(train.image(i * stride)[j]) / 255.0f;
    }
  }
  eval::ActivationStats stats(g);
  stats.add(eval::run_fp32(g, input, kCalibImages));
  return eval::make_plan(g, format, CalibrationMethod::kKl, CalibrationMethod::kMax, stats);
}

Code golden(eval::NumberFormat format, double x, int exponent) {
  return format == eval::NumberFormat::kLbfp8 ? encode(lbfp8(), x, exponent)
                                              : encode(bfp8(), x, exponent);
}

// The weight exponent of output channel o by max calibration over its `count` weights.
int channel_exponent(const std::vector<float>& w, size_t o, size_t count) {
  double amax = 0.0;
  for (size_t i = 0; i < count; ++i) amax = std::max(amax, std::fabs(double{w[o * count + i]}));
  return max_exponent(amax);
}

std::vector<LayerOperands> lenet5_streams(size_t ops) {
  ModelStreamOptions o;
  o.calib_images = kCalibImages;
  o.test_images = kTestImages;
  o.ops = ops;
  return model_layer_streams(default_tools().source_dir,
                             {{"lenet5", "mnist", "/conv1/Conv", "conv1"},
                              {"lenet5", "mnist", "/fc1/Gemm", "fc1"}},
                             o);
}

TEST(SynthModelLayers, Conv1CodesAreTheGoldenCodesOfPixelsAndWeights) {
  const size_t ops = 40 * 25 + 7;  // 40 whole outputs of K = 25 and 7 products of the 41st
  const std::vector<LayerOperands> layers = lenet5_streams(ops);
  ASSERT_EQ(layers.size(), 2u);
  const LayerOperands& conv1 = layers[0];
  EXPECT_EQ(conv1.reduction, 25u);
  EXPECT_EQ(conv1.outputs, 41u);
  const eval::Graph g = eval::load_onnx(lenet5_path());
  const auto node = std::find_if(g.nodes.begin(), g.nodes.end(),
                                 [](const eval::Node& n) { return n.name == "/conv1/Conv"; });
  ASSERT_NE(node, g.nodes.end());
  ASSERT_EQ(node->kernel_h, 5u);
  ASSERT_EQ(node->pad_h, 2u);  // 28 x 28 in, 28 x 28 out
  const eval::Dataset test = eval::load_dataset("mnist", eval::Split::kTest);
  for (const eval::NumberFormat format : {eval::NumberFormat::kLbfp8, eval::NumberFormat::kBfp8}) {
    const std::vector<Op>& s = format == eval::NumberFormat::kLbfp8 ? conv1.lbfp8 : conv1.bfp8;
    ASSERT_EQ(s.size(), ops);
    const int e_in = lenet5_plan(g, format).tensor_exponents[static_cast<size_t>(g.input)];
    size_t zeros_from_padding = 0;
    for (size_t i = 0; i < ops; ++i) {
      const size_t t = i / 25, k = i % 25;
      const size_t o = t % 6, image = (t / 6) % kTestImages, pos = (t * 7919) % 784;
      const long iy = static_cast<long>(pos / 28 + k / 5) - 2;
      const long ix = static_cast<long>(pos % 28 + k % 5) - 2;
      const bool inside = iy >= 0 && ix >= 0 && iy < 28 && ix < 28;
      const Code a =
          inside ? golden(format, static_cast<float>(test.image(image)[iy * 28 + ix]) / 255.0f,
                          e_in)
                 : Code{0};
      zeros_from_padding += inside ? 0 : 1;
      const Code b = golden(format, node->weights[o * 25 + k],
                            channel_exponent(node->weights, o, 25));
      ASSERT_EQ(s[i].a, a) << "op " << i << " (output " << t << ", k " << k << ")";
      ASSERT_EQ(s[i].b, b) << "op " << i;
      ASSERT_EQ(s[i].first, k == 0) << "op " << i;
      ASSERT_EQ(s[i].last, k == 24) << "op " << i;
    }
    EXPECT_GT(zeros_from_padding, 0u);  // some sampled outputs sit at the border
  }
}

TEST(SynthModelLayers, Fc1CodesAreTheQuantizedInferencesInputsAndTheGemmWeights) {
  const std::vector<LayerOperands> layers = lenet5_streams(3 * 400);
  const LayerOperands& fc1 = layers[1];
  EXPECT_EQ(fc1.reduction, 400u);
  const eval::Graph g = eval::load_onnx(lenet5_path());
  size_t index = 0;
  while (g.nodes[index].name != "/fc1/Gemm") ++index;
  const eval::Node& node = g.nodes[index];
  const eval::Dataset test = eval::load_dataset("mnist", eval::Split::kTest);
  for (const eval::NumberFormat format : {eval::NumberFormat::kLbfp8, eval::NumberFormat::kBfp8}) {
    const std::vector<Op>& s = format == eval::NumberFormat::kLbfp8 ? fc1.lbfp8 : fc1.bfp8;
    const eval::QuantPlan plan = lenet5_plan(g, format);
    const eval::QuantizedResult q =
        eval::run_quantized(g, plan, eval::pixel_batch(test, 0, kTestImages), kTestImages);
    const std::vector<Code>& x = q.codes[static_cast<size_t>(node.inputs[0])];
    for (size_t i = 0; i < s.size(); ++i) {
      const size_t o = i / 400, k = i % 400;  // outputs 0, 1, 2: channels 0..2 of image 0
      ASSERT_EQ(s[i].a, x[k]) << "op " << i;
      ASSERT_EQ(s[i].b, golden(format, node.weights[o * 400 + k],
                               channel_exponent(node.weights, o, 400)))
          << "op " << i;
    }
  }
}

TEST(SynthModelLayers, MissingNodeIsAnError) {
  ModelStreamOptions o;
  o.calib_images = 1;
  o.test_images = 1;
  o.ops = 64;
  EXPECT_THROW(model_layer_streams(default_tools().source_dir,
                                   {{"lenet5", "mnist", "/nope/Conv", "nope"}}, o),
               std::runtime_error);
}

TEST(SynthModelLayers, MedianBfpMantissaSkipsZeros) {
  std::vector<Op> s(3);
  s[0].a = make_code(bfp8(), -3);
  s[0].b = make_code(bfp8(), 0);
  s[1].a = make_code(bfp8(), 10);
  s[1].b = make_code(bfp8(), -20);
  s[2].a = make_code(bfp8(), 0);
  s[2].b = make_code(bfp8(), 7);
  EXPECT_DOUBLE_EQ(median_bfp_mantissa(s), 8.5);  // 3 7 | 10 20
  s[2].b = make_code(bfp8(), 0);
  EXPECT_DOUBLE_EQ(median_bfp_mantissa(s), 10.0);  // 3 10 20
  EXPECT_DOUBLE_EQ(median_bfp_mantissa({}), 0.0);
}

TEST(SynthModelLayers, SummaryIsTheOperationWeightedCombination) {
  std::vector<LayerEnergy> rows(4);
  rows[0] = {"a", "", "mul", 1000, 0.5, 16, 2.0, 5.0, 4.0};
  rows[1] = {"b", "", "mul", 3000, 0.1, 30, 6.0, 10.0, 12.0};
  rows[2] = {"c", "", "mac", 10, 0.0, 1, 100.0, 1.0, 0.0};  // another kind: left out
  rows[3] = {"d", "", "mul", 1000, 0.2, 20, 4.0, 8.0, 8.0};
  const LayerSummary s = summarize_layers(rows, "mul");
  EXPECT_EQ(s.layers, 3u);
  EXPECT_EQ(s.ops, 5000u);
  // (1000 x 2 + 3000 x 6 + 1000 x 4) / 5000 = 4.8; BFP8 (5000 + 30000 + 8000) / 5000 = 8.6.
  EXPECT_DOUBLE_EQ(s.lbfp8_pj, 4.8);
  EXPECT_DOUBLE_EQ(s.bfp8_pj, 8.6);
  EXPECT_DOUBLE_EQ(s.bfp8_iso_pj, (4000.0 + 36000.0 + 8000.0) / 5000.0);
  EXPECT_DOUBLE_EQ(s.ratio, 24000.0 / 43000.0);  // total energy over total energy
  EXPECT_DOUBLE_EQ(s.ratio_iso, 24000.0 / 48000.0);
  EXPECT_DOUBLE_EQ(s.min_ratio, 0.4);
  EXPECT_DOUBLE_EQ(s.max_ratio, 0.6);
  EXPECT_EQ(s.layers_at_target, 1u);  // 0.4 <= 0.47
  const std::string md = layer_table_markdown(rows);
  EXPECT_NE(md.find("| a | 1000 | 50.0 % | 16 | 2.0000 | 5.0000 | 0.400x | 4.0000 | 0.500x |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("**all 3 layers** (operation-weighted) | 5000 | | | 4.8000 | 8.6000 | **0.558x**"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("multiplier"), std::string::npos);
  EXPECT_NE(md.find("| c | 10 |"), std::string::npos);  // the MAC table
}

}  // namespace
}  // namespace lbfp::synth
