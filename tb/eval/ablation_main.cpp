// Where does a quantized network lose its top-1? An ablation study with fake quantization: the
// FP32 inference, with chosen weights replaced by the values of their codes and chosen tensors
// rounded to their codes' values (encode then decode, the plan's exponents) before the next layer
// reads them. Every tensor and weight that stays FP32 in a run shows what its quantization costs.
// The fake-quantized network differs from the bit-exact one (run "exact") only by the LUT's
// rounding of each product (P = 8 bits), the bias rounded to accumulator units and the FP32 sums.
//
//   lbfp_eval_ablation MODEL.onnx DATA FORMAT CALIB [RUN [OUT]]
//
// FORMAT lbfp8 or bfp8, CALIB kl or max; without RUN it lists the runs; with RUN (an index) it
// runs that one over the whole test split and prints its top-1 and paired difference to FP32,
// writing one 0/1 per test image to OUT (default RUN.txt) to pair the runs afterwards.
// Calibration as `lbfp eval`: 1000 training images evenly spaced (calibration_images).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/inference.h"

namespace lbfp::eval {
namespace {

// encode then decode with a fixed exponent, by binary search over the code boundaries (checked
// against lbfp::encode on every value of the first batch).
class FakeQuantizer {
 public:
  template <class Format>
  FakeQuantizer(const Format& f, int exponent) {
    const int codes = f.code_count();
    std::vector<std::pair<double, Code>> positive;
    for (int c = 0; c < codes; ++c) {
      const auto code = static_cast<Code>(c);
      try {
        check_code(f, code);
      } catch (const std::out_of_range&) {
        continue;
      }
      const double v = decode(f, code, exponent);
      if (v > 0) positive.push_back({v, code});
    }
    std::sort(positive.begin(), positive.end());
    for (size_t i = 0; i < positive.size(); ++i) values_.push_back(positive[i].first);
    // Boundary i between value i-1 (or 0) and value i: found exactly with encode, by bisection.
    for (size_t i = 0; i < values_.size(); ++i) {
      double lo = i == 0 ? 0.0 : values_[i - 1], hi = values_[i];
      for (int it = 0; it < 80; ++it) {
        const double mid = 0.5 * (lo + hi);
        const double got = decode(f, encode(f, mid, exponent), exponent);
        (got >= values_[i] ? hi : lo) = mid;
      }
      bounds_.push_back(hi);  // the smallest double found that rounds to value i
    }
  }
  float operator()(float x) const {
    const double a = std::fabs(static_cast<double>(x));
    const size_t k = static_cast<size_t>(std::upper_bound(bounds_.begin(), bounds_.end(), a) -
                                         bounds_.begin());
    if (k == 0) return 0.0f;
    const double v = values_[k - 1];
    return static_cast<float>(x < 0 ? -v : v);
  }

 private:
  std::vector<double> values_;
  std::vector<double> bounds_;
};

struct Run {
  std::string name;
  std::set<size_t> fp32_weights;  // node indices whose weights stay FP32
  std::set<int> fp32_tensors;     // tensor ids that are not rounded
  bool exact = false;             // the bit-exact quantized inference instead
  bool fp32 = false;              // nothing quantized
  // The input image rounded to BFP8 codes with E = 0 (steps of 1/128, the top 127/128) instead:
  // an 8-bit linear first-layer input, which the spec does not have (measured as a direction).
  bool bfp8_input = false;
};

std::vector<Run> make_runs(const Graph& g) {
  std::vector<size_t> linear, depthwise, pointwise;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.kind != OpKind::kConv && n.kind != OpKind::kGemm) continue;
    linear.push_back(i);
    if (n.kind == OpKind::kConv && n.groups > 1) depthwise.push_back(i);
    if (n.kind == OpKind::kConv && n.groups == 1 && n.kernel_h == 1 && n.kernel_w == 1) {
      pointwise.push_back(i);
    }
  }
  std::set<int> all_tensors;
  for (size_t t = 0; t < g.tensor_names.size(); ++t) all_tensors.insert(static_cast<int>(t));
  std::set<size_t> all_weights(linear.begin(), linear.end());
  auto outputs = [&](const std::vector<size_t>& nodes) {
    std::set<int> s;
    for (size_t i : nodes) s.insert(g.nodes[i].output);
    return s;
  };
  std::vector<Run> runs;
  runs.push_back({"exact (bit-exact golden inference)", {}, {}, true, false});
  runs.push_back({"fp32", {}, {}, false, true});
  runs.push_back({"fake: everything quantized", {}, {}, false, false});
  runs.push_back({"fake: weights only", {}, all_tensors, false, false});
  runs.push_back({"fake: activations only", all_weights, {}, false, false});
  runs.push_back({"fake: all but the input image", {}, {g.input}, false, false});
  if (!depthwise.empty()) {
    runs.push_back({"fake: all but depthwise weights",
                    std::set<size_t>(depthwise.begin(), depthwise.end()), {}, false, false});
    runs.push_back({"fake: all but depthwise outputs", {}, outputs(depthwise), false, false});
    runs.push_back({"fake: all but pointwise weights",
                    std::set<size_t>(pointwise.begin(), pointwise.end()), {}, false, false});
    runs.push_back({"fake: all but pointwise outputs", {}, outputs(pointwise), false, false});
  }
  for (size_t i : linear) {
    runs.push_back({"fake: all but the weights of " + g.nodes[i].name, {i}, {}, false, false});
  }
  for (size_t i : linear) {
    if (g.nodes[i].output == g.output) continue;  // the logits are never rounded
    runs.push_back({"fake: all but the output of " + g.nodes[i].name, {}, {g.nodes[i].output},
                    false, false});
  }
  {
    Run r{"fake: all quantized, the input image in BFP8 (E = 0)", {}, {}, false, false};
    r.bfp8_input = true;
    runs.push_back(r);
  }
  return runs;
}

template <class Format>
std::vector<bool> run_one(const Format& f, const Graph& g, const QuantPlan& plan, const Run& run,
                          const Dataset& test) {
  const size_t classes = 10, batch = 500;
  Graph gq = g;
  if (!run.fp32 && !run.exact) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      Node& n = gq.nodes[i];
      if (plan.weight_exponents[i].empty() || run.fp32_weights.count(i)) continue;
      const size_t per = n.weights.size() / n.out_channels;
      for (size_t k = 0; k < n.weights.size(); ++k) {
        const int e = plan.weight_exponents[i][k / per];
        n.weights[k] = static_cast<float>(decode(f, encode(f, n.weights[k], e), e));
      }
    }
  }
  std::vector<FakeQuantizer> quantizers;
  for (size_t t = 0; t < g.tensor_names.size(); ++t) {
    quantizers.emplace_back(f, plan.tensor_exponents[t]);
  }
  bool checked = false;
  const FakeQuantizer bfp8_input(bfp8(), 0);
  Fp32Hook hook = [&](int tensor, std::vector<float>& values) {
    if (run.fp32 || tensor == g.output || run.fp32_tensors.count(tensor)) return;
    if (run.bfp8_input && tensor == g.input) {
      for (float& v : values) v = bfp8_input(v);
      return;
    }
    const FakeQuantizer& q = quantizers[static_cast<size_t>(tensor)];
    const int e = plan.tensor_exponents[static_cast<size_t>(tensor)];
    for (float& v : values) {
      const float r = q(v);
      if (!checked && static_cast<double>(r) != static_cast<double>(static_cast<float>(
                                                      decode(f, encode(f, v, e), e)))) {
        std::cerr << "fake quantizer disagrees with encode at " << v << "\n";
        std::exit(1);
      }
      v = r;
    }
  };
  std::vector<bool> right;
  for (size_t first = 0; first < test.size(); first += batch) {
    const size_t count = std::min(batch, test.size() - first);
    std::vector<size_t> pred;
    if (run.exact) {
      const QuantizedResult q = run_quantized(g, plan, pixel_batch(test, first, count), count);
      pred = top1(q.logits, classes);
    } else {
      const Activations a = run_fp32(gq, to_float_input(test, first, count), count, nullptr, hook);
      pred = top1(a[static_cast<size_t>(g.output)], classes);
    }
    checked = true;
    for (size_t i = 0; i < count; ++i) right.push_back(pred[i] == test.labels[first + i]);
  }
  return right;
}

int main_impl(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: lbfp_eval_ablation MODEL.onnx DATA lbfp8|bfp8 kl|max [RUN [OUT]]\n";
    return 2;
  }
  const Graph g = load_onnx(argv[1]);
  const Arithmetic format = parse_arithmetic(argv[3]);
  const std::string calib = argv[4];
  const CalibrationMethod method = calib == "max" ? CalibrationMethod::kMax : CalibrationMethod::kKl;
  const std::vector<Run> runs = make_runs(g);
  if (argc == 5) {
    for (size_t i = 0; i < runs.size(); ++i) std::cout << i << "\t" << runs[i].name << "\n";
    return 0;
  }
  const size_t index = std::stoul(argv[5]);
  const std::string out = argc > 6 ? argv[6] : std::string(argv[5]) + ".txt";
  const Dataset train = load_dataset(argv[2], Split::kTrain);
  const Dataset test = load_dataset(argv[2], Split::kTest);
  ActivationStats stats(g, false);
  const std::vector<size_t> ids = calibration_images(train.size(), 1000);
  const size_t px = train.rows * train.cols;
  for (size_t first = 0; first < ids.size(); first += 200) {
    const size_t count = std::min<size_t>(200, ids.size() - first);
    std::vector<float> input(count * px);
    for (size_t i = 0; i < count; ++i) {
      for (size_t j = 0; j < px; ++j) {
        input[i * px + j] = static_cast<float>(train.image(ids[first + i])[j]) / 255.0f;
      }
    }
    stats.add(run_fp32(g, input, count));
  }
  const QuantPlan plan = make_plan(g, format, method, CalibrationMethod::kMax, stats);
  const Run& run = runs.at(index);
  const std::vector<bool> right = format == Arithmetic::kLbfp8
                                      ? run_one(lbfp8(), g, plan, run, test)
                                      : run_one(bfp8(), g, plan, run, test);
  Run fp32_run;
  fp32_run.fp32 = true;
  const std::vector<bool> fp32_right = run_one(lbfp8(), g, plan, fp32_run, test);
  const PairedAccuracy a = paired_accuracy(right, fp32_right);
  std::printf("%zu\t%s\t%.2f %%\t%+.2f pp [%+.2f, %+.2f]\t%zu/%zu\tp %.3g\n", index,
              run.name.c_str(), 100 * a.top1(), 100 * a.difference(),
              100 * (a.difference() - a.ci_half_width()), 100 * (a.difference() + a.ci_half_width()),
              a.only_quantized_right, a.only_fp32_right, a.mcnemar_p());
  std::ofstream file(out);
  for (bool r : right) file << (r ? '1' : '0');
  file << "\n";
  return 0;
}

}  // namespace
}  // namespace lbfp::eval

int main(int argc, char** argv) {
  try {
    return lbfp::eval::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "lbfp_eval_ablation: " << e.what() << "\n";
    return 1;
  }
}
