// FP32 and bit-exact quantized (LBFP8, BFP8) inference of a Graph, and the calibration that picks
// every exponent of the quantized inference. docs/accuracy.md states the quantization of every
// tensor; in short:
//
//   tensor                         exponent                        how the codes are computed
//   graph input (pixel / 255)      per tensor, calibrated          encode (exact rounding)
//   Conv / Gemm weights            per output channel, max or KL   encode
//   Conv / Gemm output             per tensor, calibrated          the golden kernels of conv.h /
//                                                                  gemm.h: bias, A-bit accumulator,
//                                                                  fused ReLU, requantize
//   last layer (logits)            per output channel (Ea + Eb)    read from the accumulators:
//                                                                  acc * 2^product_scale, exact
//   MaxPool, Relu, Flatten         the input's                     on the codes: exact, because
//                                                                  encode is monotone
//   Add, AveragePool, Global...    per tensor, calibrated          decode the inputs to doubles,
//                                                                  add (and divide by the window
//                                                                  size), fused ReLU, encode
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lbfp/calibration.h"
#include "lbfp/eval/graph.h"
#include "lbfp/format.h"
#include "lbfp/gemm.h"

namespace lbfp::eval {

enum class NumberFormat { kFp32, kBfp8, kLbfp8 };
const char* to_string(NumberFormat format);
NumberFormat parse_number_format(const std::string& name);  // "fp32", "bfp8", "lbfp8"

// One tensor per graph tensor id, batch x elements (NCHW), float.
using Activations = std::vector<std::vector<float>>;

// FP32 reference inference of `batch` images (batch x C x H x W in `input`).
Activations run_fp32(const Graph& graph, const std::vector<float>& input, size_t batch);

// Every exponent and weight code of one quantized inference.
struct QuantPlan {
  NumberFormat format = NumberFormat::kLbfp8;
  CalibrationMethod activation_method = CalibrationMethod::kKl;
  CalibrationMethod weight_method = CalibrationMethod::kMax;
  std::vector<int> tensor_exponents;               // by tensor id
  std::vector<bool> tensor_calibrated;             // false: inherited from the input tensor
  std::vector<std::vector<int>> weight_exponents;  // by node index, one per output channel
  // By node index: Conv OIHW codes; Gemm K x N codes (the GEMM's B operand).
  std::vector<std::vector<Code>> weight_codes;
};

// Histograms of |x| of every tensor (by tensor id) over calibration images run in FP32: linear
// (65,536 bins) and logarithmic (LogHistogram), exact zeros left out of both.
class ActivationStats {
 public:
  explicit ActivationStats(const Graph& graph);
  void add(const Activations& activations);
  const Histogram& histogram(int tensor) const { return histograms_[static_cast<size_t>(tensor)]; }
  // The same values on the log grid (LBFP8's KL calibration).
  const LogHistogram& log_histogram(int tensor) const {
    return log_histograms_[static_cast<size_t>(tensor)];
  }

 private:
  std::vector<Histogram> histograms_;
  std::vector<LogHistogram> log_histograms_;
};

// Picks the exponents: activations per tensor by `activation_method` over `stats`; weights per
// output channel by `weight_method`. Tensors of MaxPool, Relu and Flatten keep their input's.
QuantPlan make_plan(const Graph& graph, NumberFormat format, CalibrationMethod activation_method,
                    CalibrationMethod weight_method, const ActivationStats& stats);

struct QuantizedResult {
  std::vector<std::vector<Code>> codes;  // by tensor id (the logits tensor: empty)
  std::vector<double> logits;            // batch x classes, real values of the last accumulators
  uint64_t overflows = 0;                // saturating accumulator steps
};

// Bit-exact quantized inference (BFP8 or LBFP8, as the plan says) of `batch` pixel images
// (batch x C x H x W bytes, the network's input being pixel / 255).
QuantizedResult run_quantized(const Graph& graph, const QuantPlan& plan,
                              const std::vector<uint8_t>& pixels, size_t batch,
                              const GemmOptions& options = {});

// The real values of a tensor's codes (its exponent from the plan).
std::vector<double> dequantize(const QuantPlan& plan, int tensor, const std::vector<Code>& codes);

}  // namespace lbfp::eval
