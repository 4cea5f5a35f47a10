// The saved exponents file of `lbfp eval --exponents` (apply_saved_exponents in
// model/eval/src/evaluate.cpp) against LeNet-5's graph. Any JSON must give a plan whose exponents
// all lie in [-127, 127] with weight codes and exponents of the graph's sizes, or a ConfigError
// naming the file; no other exception, crash, leak or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_check.h"
#include "lbfp/config_error.h"
#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/inference.h"

namespace {

using lbfp::eval::Graph;
using lbfp::eval::QuantPlan;
using lbfp::fuzz::fail;

const Graph& graph() {
  static const Graph g = lbfp::eval::load_onnx(LBFP_FUZZ_MODEL);
  return g;
}

// A plan of each format with every exponent calibrated (max, no calibration images: zeros).
const QuantPlan& base_plan(bool lbfp) {
  static const lbfp::eval::ActivationStats stats(graph(), false);
  static const QuantPlan plans[2] = {
      make_plan(graph(), lbfp::eval::Arithmetic::kBfp8, lbfp::CalibrationMethod::kMax,
                lbfp::CalibrationMethod::kMax, stats),
      make_plan(graph(), lbfp::eval::Arithmetic::kLbfp8, lbfp::CalibrationMethod::kMax,
                lbfp::CalibrationMethod::kMax, stats)};
  return plans[lbfp ? 1 : 0];
}

void check_plan(const Graph& g, const QuantPlan& plan, const QuantPlan& base) {
  for (int e : plan.tensor_exponents) {
    if (e < -127 || e > 127) fail("a tensor exponent outside [-127, 127]");
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (plan.weight_exponents[i].size() != base.weight_exponents[i].size() ||
        plan.weight_codes[i].size() != base.weight_codes[i].size()) {
      fail("layer '" + g.nodes[i].name + "': weight codes or exponents changed in number");
    }
    for (int e : plan.weight_exponents[i]) {
      if (e < -127 || e > 127) fail("a weight exponent outside [-127, 127]");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json saved =
      nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (saved.is_discarded()) return 0;  // not JSON: study.cpp reports the parser's error
  const std::string source = "fuzz.json";
  for (const bool lbfp : {false, true}) {
    QuantPlan plan = base_plan(lbfp);
    try {
      lbfp::eval::apply_saved_exponents(graph(), plan, saved, source);
      check_plan(graph(), plan, base_plan(lbfp));
    } catch (const lbfp::ConfigError& e) {
      lbfp::fuzz::check_names_source(e.what(), source);
    }
  }
  return 0;
}
