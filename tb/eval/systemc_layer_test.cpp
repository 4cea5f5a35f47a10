// The accuracy evaluator and the architecture model compute the same bits: LeNet-5's
// fully-connected layers, with the codes the LBFP8 (and BFP8) inference produced for real MNIST
// test images, run through the SystemC model (DRAM -> buffers -> array -> DRAM); every output code
// must equal the evaluator's. One process per test: SystemC elaborates once.
#include <gtest/gtest.h>

#include <systemc>

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/inference.h"

namespace lbfp::eval {
namespace {

void check_gemm_layers(Arithmetic nf, const lbfp::NumberFormat& format) {
  const Graph g = load_onnx(std::string(LBFP_MODELS_DIR) + "/lenet5.onnx");
  const Dataset train = load_dataset("mnist", Split::kTrain);
  ActivationStats stats(g);
  stats.add(run_fp32(g, to_float_input(train, 0, 64), 64));
  const QuantPlan plan = make_plan(g, nf, CalibrationMethod::kKl, CalibrationMethod::kMax, stats);
  const Dataset test = load_dataset("mnist", Split::kTest);
  const size_t batch = 24;
  const QuantizedResult q = run_quantized(g, plan, pixel_batch(test, 0, batch), batch);

  arch::AcceleratorConfig cfg;
  cfg.array = {16, 16, 1};
  cfg.format = format;
  cfg.mode = arch::SimMode::kCycle;
  cfg.dram.size_bytes = 1 << 22;
  arch::AcceleratorTop acc("acc", cfg);
  std::vector<int> outputs;  // tensor id of each simulated layer
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    if (n.kind != OpKind::kGemm || n.output == g.output) continue;  // the logits stay unrounded
    const size_t k = g.tensor_shapes[static_cast<size_t>(n.inputs[0])].elements();
    arch::GemmLayer l;
    l.name = n.name;
    l.m = batch;  // one row per image
    l.n = n.out_channels;
    l.k = k;
    l.a = q.codes[static_cast<size_t>(n.inputs[0])];
    l.a_exponent = plan.tensor_exponents[static_cast<size_t>(n.inputs[0])];
    // The plan holds B as K x N; the accelerator takes one row of K per output channel.
    const std::vector<Code>& b = plan.weight_codes[ni];
    l.w.resize(n.out_channels * k);
    for (size_t o = 0; o < n.out_channels; ++o) {
      for (size_t i = 0; i < k; ++i) l.w[o * k + i] = b[i * n.out_channels + o];
    }
    l.w_exponents = plan.weight_exponents[ni];
    l.bias = n.bias;
    l.out_exponent = plan.tensor_exponents[static_cast<size_t>(n.output)];
    l.relu = n.relu;
    acc.add_layer(std::move(l));
    outputs.push_back(n.output);
  }
  ASSERT_EQ(outputs.size(), 2u);  // fc1 and fc2
  sc_core::sc_start();
  ASSERT_TRUE(acc.finished()) << acc.error();
  for (size_t i = 0; i < outputs.size(); ++i) {
    EXPECT_EQ(acc.output(i), q.codes[static_cast<size_t>(outputs[i])]) << acc.stats()[i].name;
  }
}

TEST(SystemCLayers, Lbfp8LeNetFullyConnectedLayersMatchTheEvaluator) {
  check_gemm_layers(Arithmetic::kLbfp8, LbfpFormat());
}

TEST(SystemCLayers, Bfp8LeNetFullyConnectedLayersMatchTheEvaluator) {
  check_gemm_layers(Arithmetic::kBfp8, BfpFormat());
}

}  // namespace
}  // namespace lbfp::eval
