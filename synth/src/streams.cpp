#include "lbfp_synth/streams.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>

#include "lbfp/arith.h"
#include "lbfp/calibration.h"

namespace lbfp::synth {
namespace {

Code quantize(const std::string& format, double x, int exponent) {
  if (format == "lbfp8") return encode(lbfp8(), x, exponent);
  if (format == "bfp8") return encode(bfp8(), x, exponent);
  throw std::invalid_argument("unknown format " + format);
}

void mark_reductions(std::vector<Op>& ops, int reduction) {
  for (size_t i = 0; i < ops.size(); ++i) {
    const size_t k = i % static_cast<size_t>(reduction);
    ops[i].valid = true;
    ops[i].first = k == 0;
    ops[i].last = k + 1 == static_cast<size_t>(reduction);
  }
}

}  // namespace

std::vector<Op> layer_stream(const std::string& format, size_t ops, uint64_t seed,
                             int reduction) {
  const size_t k_len = static_cast<size_t>(reduction);
  const size_t outputs = (ops + k_len - 1) / k_len;
  // A layer of `rows` input vectors and `cols` output channels, outputs = rows * cols.
  const size_t cols = std::min<size_t>(16, outputs);
  const size_t rows = (outputs + cols - 1) / cols;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> act(rows * k_len);
  std::vector<double> weight(cols * k_len);
  for (double& x : act) x = std::max(0.0, normal(rng));
  for (double& w : weight) w = normal(rng) / std::sqrt(static_cast<double>(k_len));

  double act_max = 0.0;
  for (double x : act) act_max = std::max(act_max, std::fabs(x));
  const int act_exp = max_exponent(act_max);
  std::vector<Code> act_codes(act.size());
  for (size_t i = 0; i < act.size(); ++i) act_codes[i] = quantize(format, act[i], act_exp);
  std::vector<Code> weight_codes(weight.size());
  for (size_t c = 0; c < cols; ++c) {
    double w_max = 0.0;
    for (size_t k = 0; k < k_len; ++k) w_max = std::max(w_max, std::fabs(weight[c * k_len + k]));
    const int w_exp = max_exponent(w_max);
    for (size_t k = 0; k < k_len; ++k) {
      weight_codes[c * k_len + k] = quantize(format, weight[c * k_len + k], w_exp);
    }
  }

  std::vector<Op> stream;
  stream.reserve(ops);
  for (size_t r = 0; r < rows && stream.size() < ops; ++r) {
    for (size_t c = 0; c < cols && stream.size() < ops; ++c) {
      for (size_t k = 0; k < k_len && stream.size() < ops; ++k) {
        Op op;
        op.a = act_codes[r * k_len + k];
        op.b = weight_codes[c * k_len + k];
        stream.push_back(op);
      }
    }
  }
  mark_reductions(stream, reduction);
  return stream;
}

std::vector<Op> uniform_stream(const std::string& format, size_t ops, uint64_t seed,
                               int reduction) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> lbfp_code(0, 255);
  std::uniform_int_distribution<int> bfp_mantissa(-127, 127);
  auto draw = [&]() -> Code {
    if (format == "lbfp8") return static_cast<Code>(lbfp_code(rng));
    if (format == "bfp8") return make_code(bfp8(), bfp_mantissa(rng));
    throw std::invalid_argument("unknown format " + format);
  };
  std::vector<Op> stream(ops);
  for (Op& op : stream) {
    op.a = draw();
    op.b = draw();
  }
  mark_reductions(stream, reduction);
  return stream;
}

std::vector<Op> exhaustive_stream() {
  std::vector<Op> stream;
  stream.reserve(65536);
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      Op op;
      op.a = static_cast<uint8_t>(a);
      op.b = static_cast<uint8_t>(b);
      stream.push_back(op);
    }
  }
  return stream;
}

}  // namespace lbfp::synth
