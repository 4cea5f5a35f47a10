// The model layers' operand streams of `lbfp synth`: each operand pair is the code the golden
// quantization gives that operand (the graph input: encode(pixel / 255) at the calibrated
// exponent; weights: encode at the channel's max exponent; later layers: the quantized
// inference's codes), at the position the output-stationary order says; and the all-layer
// summary is the operation-weighted combination of the rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/inference.h"
#include "lbfp/synth/flow.h"
#include "lbfp/synth/model_layers.h"
#include "lbfp/synth/report.h"

namespace lbfp::synth {
namespace {

constexpr size_t kCalibImages = 20;  // few, to keep the test fast; the exponents are read back
constexpr size_t kTestImages = 2;
// Conv and Gemm layers of the shipped models besides LeNet-5's five.
constexpr size_t kResnet10Layers = 12;
constexpr size_t kMobilenetLayers = 12;

std::string lenet5_path() {
  return (std::filesystem::path(default_tools().source_dir) / "sim" / "models" / "lenet5.onnx")
      .string();
}

// The plan `lbfp eval` makes from kCalibImages evenly spaced training images (one batch).
eval::QuantPlan lenet5_plan(const eval::Graph& g, eval::Arithmetic format) {
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

Code golden(eval::Arithmetic format, double x, int exponent) {
  return format == eval::Arithmetic::kLbfp8 ? encode(lbfp8(), x, exponent)
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
  for (const eval::Arithmetic format : {eval::Arithmetic::kLbfp8, eval::Arithmetic::kBfp8}) {
    const std::vector<Op>& s = format == eval::Arithmetic::kLbfp8 ? conv1.lbfp8 : conv1.bfp8;
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
  for (const eval::Arithmetic format : {eval::Arithmetic::kLbfp8, eval::Arithmetic::kBfp8}) {
    const std::vector<Op>& s = format == eval::Arithmetic::kLbfp8 ? fc1.lbfp8 : fc1.bfp8;
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
  rows[0] = {"a", "", "mul", 1000, 0.5, 16, 2.0, 5.0, 4.0, "", 0};
  rows[1] = {"b", "", "mul", 3000, 0.1, 30, 6.0, 10.0, 12.0, "", 0};
  rows[2] = {"c", "", "mac", 10, 0.0, 1, 100.0, 1.0, 0.0, "", 0};  // another kind: left out
  rows[3] = {"d", "", "mul", 1000, 0.2, 20, 4.0, 8.0, 8.0, "", 0};
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

// The MACs of a layer, computed from the ONNX tensors another way than model_layers.cpp does:
// the output tensor's elements times the weights per output channel (a Gemm's whole weight).
uint64_t macs_from_weights(const eval::Graph& g, const std::string& name) {
  for (const eval::Node& n : g.nodes) {
    if (n.name != name) continue;
    if (n.kind == eval::OpKind::kGemm) return n.weights.size();
    const uint64_t outputs = g.tensor_shapes[static_cast<size_t>(n.output)].elements();
    return outputs * (n.weights.size() / n.out_channels);
  }
  ADD_FAILURE() << "no node " << name;
  return 0;
}

TEST(SynthModelLayers, MacsAreTheLayersShapes) {
  ModelStreamOptions o;
  o.calib_images = kCalibImages;
  o.test_images = 1;
  o.ops = 64;
  const std::string dw = "/features/features.2/features.2.0/Conv";  // depthwise 3x3, 16
  const std::vector<LayerOperands> layers = model_layer_streams(
      default_tools().source_dir,
      {{"lenet5", "mnist", "/conv1/Conv", "conv1"},
       {"lenet5", "mnist", "/conv2/Conv", "conv2"},
       {"lenet5", "mnist", "/fc1/Gemm", "fc1"},
       {"mobilenet", "fashion-mnist", dw, "dw"}},
      o);
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[0].macs, 28u * 28 * 6 * 25);  // 5x5, pad 2, 1 -> 6 on 28 x 28
  EXPECT_EQ(layers[2].macs, 400u * 120);
  const eval::Graph lenet = eval::load_onnx(lenet5_path());
  EXPECT_EQ(layers[0].macs, macs_from_weights(lenet, "/conv1/Conv"));
  EXPECT_EQ(layers[1].macs, macs_from_weights(lenet, "/conv2/Conv"));
  EXPECT_EQ(layers[2].macs, macs_from_weights(lenet, "/fc1/Gemm"));
  const eval::Graph mobilenet = eval::load_onnx(
      (std::filesystem::path(default_tools().source_dir) / "sim" / "models" / "mobilenet.onnx")
          .string());
  EXPECT_EQ(layers[3].macs, macs_from_weights(mobilenet, dw));
  EXPECT_EQ(layers[3].reduction, 9u);  // one input channel per group
}

TEST(SynthModelLayers, AllLayersAreEveryConvAndGemmOfTheThreeModels) {
  const std::vector<ModelLayer> all = all_model_layers(default_tools().source_dir);
  std::map<std::string, size_t> per_model;
  for (const ModelLayer& l : all) ++per_model[l.model];
  EXPECT_EQ(per_model["lenet5"], 5u);
  EXPECT_EQ(per_model["resnet10"], kResnet10Layers);
  EXPECT_EQ(per_model["mobilenet"], kMobilenetLayers);
  EXPECT_EQ(all.size(), 5u + kResnet10Layers + kMobilenetLayers);
  EXPECT_EQ(all.front().node, "/conv1/Conv");
  EXPECT_EQ(all.front().label, "LeNet-5 conv1 (conv)");
  EXPECT_EQ(all.back().node, "/fc/Gemm");
  EXPECT_EQ(all.back().dataset, "fashion-mnist");
  const auto proj = std::find_if(all.begin(), all.end(), [](const ModelLayer& l) {
    return l.node == "/blocks/blocks.2/proj/proj.0/Conv";
  });
  ASSERT_NE(proj, all.end());
  EXPECT_EQ(proj->label, "ResNet-10 blocks.2/proj.0 (pw)");
}

TEST(SynthModelLayers, ModelEnergyIsTheMacWeightedCombinationOfItsRows) {
  std::vector<LayerEnergy> rows(6);
  rows[0] = {"tile", "", "mul", 1000, 0.5, 16, 9.0, 9.0, 9.0, "", 0};  // no MACs: no model
  rows[1] = {"a1", "", "mul", 8192, 0.5, 16, 2.0, 5.0, 4.0, "A", 1000};
  rows[2] = {"a2", "", "mul", 4096, 0.1, 30, 6.0, 10.0, 12.0, "A", 3000};
  rows[3] = {"b1", "", "mul", 8192, 0.2, 20, 4.0, 8.0, 0.0, "B", 500};  // no iso measured
  rows[4] = {"a1", "", "mac", 8192, 0.5, 16, 20.0, 25.0, 24.0, "A", 1000};
  rows[5] = {"a3", "", "mul", 64, 0.0, 1, 1.0, 1.0, 1.0, "A", 6000};
  const std::vector<ModelEnergy> m = summarize_models(rows, "mul");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].model, "A");
  EXPECT_EQ(m[0].layers, 3u);
  EXPECT_EQ(m[0].macs, 10000u);
  // The stream lengths do not matter, only the MACs: (1000 x 2 + 3000 x 6 + 6000 x 1) pJ.
  EXPECT_DOUBLE_EQ(m[0].lbfp8_nj, 26.0);
  EXPECT_DOUBLE_EQ(m[0].bfp8_nj, (5000.0 + 30000.0 + 6000.0) * 1e-3);
  EXPECT_DOUBLE_EQ(m[0].bfp8_iso_nj, (4000.0 + 36000.0 + 6000.0) * 1e-3);
  EXPECT_DOUBLE_EQ(m[0].ratio, 26000.0 / 41000.0);
  EXPECT_DOUBLE_EQ(m[0].ratio_iso, 26000.0 / 46000.0);
  EXPECT_DOUBLE_EQ(m[0].min_ratio, 0.4);
  EXPECT_DOUBLE_EQ(m[0].max_ratio, 1.0);
  EXPECT_EQ(m[1].model, "B");
  EXPECT_DOUBLE_EQ(m[1].lbfp8_nj, 2.0);
  EXPECT_DOUBLE_EQ(m[1].ratio, 0.5);
  EXPECT_DOUBLE_EQ(m[1].bfp8_iso_nj, 0.0);
  EXPECT_DOUBLE_EQ(m[1].ratio_iso, 0.0);
  const std::string md = model_table_markdown(rows);
  EXPECT_NE(md.find("| A | 3 | 10000 | 26.00 | 41.00 | **0.634x** | 46.00 | **0.565x** |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| B | 1 | 500 | 2.00 | 4.00 | **0.500x** | - | - |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("by model: MAC"), std::string::npos) << md;  // the MAC kind's own table
}

}  // namespace
}  // namespace lbfp::synth
