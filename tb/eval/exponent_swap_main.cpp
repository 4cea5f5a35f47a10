// Which activation exponent makes two calibrations' top-1 differ? The bit-exact quantized
// inference (run_quantized, as `lbfp eval` runs it) with the plan of calibration A, one tensor's
// exponent at a time taken from the plan of calibration B, over the whole test split; each run
// paired image by image with the pure A run and the pure B run (paired_accuracy). The weights are
// the same in both plans (max per output channel, as `lbfp eval` picks them by default).
//
//   lbfp_eval_exponent_swap MODEL.onnx DATA [--format lbfp8|bfp8] [--a kl] [--b max]
//                           [--direction a|b|both|cumulative] [--threads N] [--batch N]
//
// --direction a: A's plan with one tensor from B (one run per tensor whose exponent differs);
// b: B's plan with one tensor from A; both (the default): first all of the one, then the other;
// cumulative: A's plan with the first 1, 2, ... of the differing tensors (in graph order) from B.
// Calibration as `lbfp eval`'s default: 1000 training images evenly spaced (calibration_images).
// docs/accuracy.md, "Against the targets", has the MobileNet result.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/calibration.h"
#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/inference.h"

namespace lbfp::eval {
namespace {

struct Options {
  std::string model;
  std::string data;
  Arithmetic format = Arithmetic::kLbfp8;
  CalibrationMethod a = CalibrationMethod::kKl;
  CalibrationMethod b = CalibrationMethod::kMax;
  std::string direction = "both";
  int threads = 2;
  size_t batch = 200;
};

Options parse(int argc, char** argv) {
  if (argc < 3) {
    throw std::invalid_argument(
        "usage: lbfp_eval_exponent_swap MODEL.onnx DATA [--format lbfp8|bfp8] [--a kl] [--b max] "
        "[--direction a|b|both|cumulative] [--threads N] [--batch N]");
  }
  Options o;
  o.model = argv[1];
  o.data = argv[2];
  for (int i = 3; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--format") {
      o.format = parse_arithmetic(value);
    } else if (flag == "--a") {
      o.a = parse_calibration_method(value);
    } else if (flag == "--b") {
      o.b = parse_calibration_method(value);
    } else if (flag == "--direction") {
      if (value != "a" && value != "b" && value != "both" && value != "cumulative") {
        throw std::invalid_argument("--direction a, b, both or cumulative");
      }
      o.direction = value;
    } else if (flag == "--threads") {
      o.threads = std::max(1, std::stoi(value));
    } else if (flag == "--batch") {
      o.batch = std::max<size_t>(1, std::stoul(value));
    } else {
      throw std::invalid_argument("unknown option " + flag);
    }
  }
  if (o.format == Arithmetic::kFp32) throw std::invalid_argument("--format lbfp8 or bfp8");
  return o;
}

// `base` with tensor `t`'s exponent set to `exponent`, and the tensors that inherit an exponent
// (MaxPool, Relu, Flatten outputs: make_plan's rule) following it.
QuantPlan with_exponent(const Graph& g, QuantPlan plan, size_t t, int exponent) {
  plan.tensor_exponents[t] = exponent;
  for (const Node& n : g.nodes) {
    if (n.kind == OpKind::kMaxPool || n.kind == OpKind::kRelu || n.kind == OpKind::kFlatten) {
      plan.tensor_exponents[static_cast<size_t>(n.output)] =
          plan.tensor_exponents[static_cast<size_t>(n.inputs[0])];
    }
  }
  return plan;
}

std::vector<bool> run_test_split(const Graph& g, const QuantPlan& plan, const Dataset& test,
                                 const Options& o, uint64_t& overflows) {
  const size_t classes = g.tensor_shapes[static_cast<size_t>(g.output)].elements();
  GemmOptions gemm;
  gemm.threads = o.threads;
  std::vector<bool> right;
  right.reserve(test.size());
  for (size_t first = 0; first < test.size(); first += o.batch) {
    const size_t count = std::min(o.batch, test.size() - first);
    const QuantizedResult q = run_quantized(g, plan, pixel_batch(test, first, count), count, gemm);
    overflows += q.overflows;
    const std::vector<size_t> pred = top1(q.logits, classes);
    for (size_t i = 0; i < count; ++i) right.push_back(pred[i] == test.labels[first + i]);
  }
  return right;
}

std::string paired(const std::vector<bool>& right, const std::vector<bool>& reference) {
  const PairedAccuracy p = paired_accuracy(right, reference);
  char text[128];
  std::snprintf(text, sizeof text, "%+.2f [%+.2f, %+.2f] (%zu/%zu) p %.2g", 100 * p.difference(),
                100 * (p.difference() - p.ci_half_width()),
                100 * (p.difference() + p.ci_half_width()), p.only_quantized_right,
                p.only_fp32_right, p.mcnemar_p());
  return text;
}

int main_impl(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const Graph g = load_onnx(o.model);
  const Dataset train = load_dataset(o.data, Split::kTrain);
  const Dataset test = load_dataset(o.data, Split::kTest);
  check_model_fits(g, train);
  check_model_fits(g, test);

  ActivationStats stats(g, false);
  const std::vector<size_t> ids = calibration_images(train.size(), 1000);
  const size_t px = train.rows * train.cols;
  for (size_t first = 0; first < ids.size(); first += o.batch) {
    const size_t count = std::min(o.batch, ids.size() - first);
    std::vector<float> input(count * px);
    for (size_t i = 0; i < count; ++i) {
      const uint8_t* image = train.image(ids[first + i]);
      for (size_t j = 0; j < px; ++j) input[i * px + j] = static_cast<float>(image[j]) / 255.0f;
    }
    stats.add(run_fp32(g, input, count));
  }
  const QuantPlan plan_a = make_plan(g, o.format, o.a, CalibrationMethod::kMax, stats);
  const QuantPlan plan_b = make_plan(g, o.format, o.b, CalibrationMethod::kMax, stats);
  const std::string name_a = to_string(o.a), name_b = to_string(o.b);

  // The calibrated tensors whose exponents differ (the logits' does not count: they are read
  // from the accumulators, never requantized).
  std::vector<size_t> differ;
  for (size_t t = 0; t < g.tensor_names.size(); ++t) {
    if (!plan_a.tensor_calibrated[t] || static_cast<int>(t) == g.output) continue;
    if (plan_a.tensor_exponents[t] != plan_b.tensor_exponents[t]) differ.push_back(t);
  }
  std::printf("%s, %s, %zu test images; %s against %s: %zu tensors differ\n", g.name.c_str(),
              to_string(o.format), test.size(), name_a.c_str(), name_b.c_str(), differ.size());
  for (size_t t : differ) {
    std::printf("  %-48s E %s %d, %s %d\n", g.tensor_names[t].c_str(), name_a.c_str(),
                plan_a.tensor_exponents[t], name_b.c_str(), plan_b.tensor_exponents[t]);
  }
  std::fflush(stdout);

  std::vector<bool> right_a, right_b;
  auto report = [&](const std::string& label, const QuantPlan& plan, std::vector<bool>* keep) {
    const auto start = std::chrono::steady_clock::now();
    uint64_t overflows = 0;
    const std::vector<bool> right = run_test_split(g, plan, test, o, overflows);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    size_t correct = 0;
    for (bool r : right) correct += r;
    std::printf("%-60s %.2f %%", label.c_str(), 100.0 * static_cast<double>(correct) /
                                                   static_cast<double>(right.size()));
    if (!right_a.empty()) std::printf("  vs %s %s", name_a.c_str(), paired(right, right_a).c_str());
    if (!right_b.empty()) std::printf("  vs %s %s", name_b.c_str(), paired(right, right_b).c_str());
    std::printf("  overflows %llu  %.0f s\n", static_cast<unsigned long long>(overflows), seconds);
    std::fflush(stdout);
    if (keep) *keep = right;
  };
  report(name_a, plan_a, &right_a);
  report(name_b, plan_b, &right_b);
  if (o.direction == "cumulative") {
    QuantPlan plan = plan_a;
    for (size_t i = 0; i + 1 < differ.size(); ++i) {
      const size_t t = differ[i];
      plan = with_exponent(g, plan, t, plan_b.tensor_exponents[t]);
      report(name_a + ", up to " + g.tensor_names[t] + " from " + name_b, plan, nullptr);
    }
    return 0;
  }
  if (o.direction == "a" || o.direction == "both") {
    for (size_t t : differ) {
      report(name_a + ", " + g.tensor_names[t] + " from " + name_b,
             with_exponent(g, plan_a, t, plan_b.tensor_exponents[t]), nullptr);
    }
  }
  if (o.direction == "b" || o.direction == "both") {
    for (size_t t : differ) {
      report(name_b + ", " + g.tensor_names[t] + " from " + name_a,
             with_exponent(g, plan_b, t, plan_a.tensor_exponents[t]), nullptr);
    }
  }
  return 0;
}

}  // namespace
}  // namespace lbfp::eval

int main(int argc, char** argv) {
  try {
    return lbfp::eval::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "lbfp_eval_exponent_swap: " << e.what() << "\n";
    return 1;
  }
}
