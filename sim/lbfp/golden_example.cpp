// The README's main job for now: one small fully-connected layer through the golden arithmetic.
#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <vector>

#include "golden.h"
#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/tensor.h"

namespace lbfp::cli {

void run_golden_example(std::ostream& out) {
  const LbfpFormat& format = lbfp8();
  constexpr int kIn = 8;
  constexpr int kOut = 4;
  const std::vector<float> x = {0.82f, -1.37f, 0.05f, 2.91f, -0.44f, 0.0f, 1.18f, -0.73f};
  const std::vector<float> w = {
      0.12f,  -0.31f, 0.44f,  0.08f,  -0.27f, 0.19f,  -0.05f, 0.36f,   // out 0
      -0.62f, 0.21f,  0.03f,  -0.48f, 0.55f,  -0.11f, 0.29f,  0.07f,   // out 1
      0.015f, 0.022f, -0.01f, 0.031f, 0.004f, -0.02f, 0.012f, -0.027f,  // out 2 (small)
      1.75f,  -0.9f,  0.4f,   1.2f,   -2.2f,  0.6f,   -0.35f, 0.8f,     // out 3 (large)
  };
  const std::vector<float> bias = {0.1f, -0.25f, 0.02f, 0.5f};

  // FP32 reference with ReLU, to choose the output exponent and to compare against.
  std::vector<double> reference(kOut);
  for (int o = 0; o < kOut; ++o) {
    double s = bias[static_cast<size_t>(o)];
    for (int k = 0; k < kIn; ++k) {
      s += double{x[static_cast<size_t>(k)]} * double{w[static_cast<size_t>(o * kIn + k)]};
    }
    reference[static_cast<size_t>(o)] = std::max(0.0, s);
  }

  // Shared exponents: activations per tensor, weights per output channel (max calibration).
  const int ex = calibrate(format, CalibrationMethod::kMax, x).exponent;
  const BlockMap weight_blocks({kOut, kIn}, Blocking::per_channel(0));
  std::vector<int> ew;
  for (float amax : block_abs_max(w, weight_blocks)) ew.push_back(max_exponent(amax));
  const int eo = max_exponent(*std::max_element(reference.begin(), reference.end()));

  const LbfpTensor xq = quantize(format, x, {kIn}, Blocking::per_tensor(), {ex});
  const LbfpTensor wq = quantize(format, w, {kOut, kIn}, Blocking::per_channel(0), ew);

  fmt::print(out, "LBFP golden reference example: y = relu(W x + b), {} -> {} outputs\n", kIn,
             kOut);
  fmt::print(out, "format {}: W={} F={} I={} P={} A={}; value = (-1)^s 2^(E - {} + m/{})\n",
             format.name(), format.width(), format.frac_bits(), format.int_bits(),
             format.lut_bits(), format.acc_bits(), format.exponent_offset(),
             1 << format.frac_bits());
  fmt::print(out, "LUT[f] = round(2^{} * 2^(f/{})):", format.lut_bits(), 1 << format.frac_bits());
  for (uint32_t v : format.lut_table()) fmt::print(out, " {}", v);
  fmt::print(out, "\n\nactivations, E = {} (max calibration)\n", ex);
  fmt::print(out, "  {:>3} {:>10} {:>6} {:>12}\n", "k", "x", "code", "decoded");
  for (int k = 0; k < kIn; ++k) {
    const auto i = static_cast<size_t>(k);
    fmt::print(out, "  {:>3} {:>10.4f}   0x{:02x} {:>12.6f}\n", k, x[i], xq.codes[i],
               decode(format, xq.codes[i], ex));
  }

  fmt::print(out, "\noutput 0 step by step (weights E = {}; accumulator LSB = 2^{}):\n", ew[0],
             format.product_scale(ex, ew[0]));
  fmt::print(out, "  {:>3} {:>6} {:>6} {:>5} {:>3} {:>3} {:>5} {:>10} {:>12}\n", "k", "a", "w",
             "t", "q", "f", "LUT", "product", "acc");
  const int scale0 = format.product_scale(ex, ew[0]);
  Accumulator acc0(format.acc_bits(), bias_to_accumulator(format.acc_bits(), bias[0], scale0));
  fmt::print(out, "  {:>3} {:>6} {:>6} {:>5} {:>3} {:>3} {:>5} {:>10} {:>12}\n", "bias", "", "",
             "", "", "", "", "", acc0.value());
  for (int k = 0; k < kIn; ++k) {
    const Code a = xq.codes[static_cast<size_t>(k)];
    const Code b = wq.codes[static_cast<size_t>(k)];
    const LbfpProduct p = multiply(format, a, b);
    acc0.add(p);
    const int t = magnitude(format, a) + magnitude(format, b);
    const bool zero = p.is_zero();
    fmt::print(out, "  {:>3}   0x{:02x}   0x{:02x} {:>5} {:>3} {:>3} {:>5} {:>10} {:>12}\n", k, a,
               b, zero ? "-" : std::to_string(t), zero ? "-" : std::to_string(p.shift),
               zero ? "-" : std::to_string(t & ((1 << format.frac_bits()) - 1)), zero ? "-" : std::to_string(p.lut_value),
               p.to_decimal(), acc0.value());
  }

  fmt::print(out, "\nall outputs (output E = {}, ReLU):\n", eo);
  fmt::print(out, "  {:>3} {:>5} {:>12} {:>9} {:>6} {:>11} {:>11} {:>9}\n", "o", "E_w", "acc",
             "overflows", "code", "LBFP8", "FP32", "rel.err");
  for (int o = 0; o < kOut; ++o) {
    const auto oi = static_cast<size_t>(o);
    const int scale = format.product_scale(ex, ew[oi]);
    const int64_t init = bias_to_accumulator(format.acc_bits(), bias[oi], scale);
    const DotResult r =
        dot(format, xq.codes.data(), wq.codes.data() + o * kIn, static_cast<size_t>(kIn), init);
    const Code y = requantize(format, r.acc, scale, eo, /*relu=*/true);
    const double yv = decode(format, y, eo);
    const double ref = reference[oi];
    const double rel = ref == 0.0 ? std::fabs(yv) : std::fabs(yv - ref) / ref;
    fmt::print(out, "  {:>3} {:>5} {:>12} {:>9}   0x{:02x} {:>11.6f} {:>11.6f} {:>8.2f}%\n", o,
               ew[oi], r.acc, r.overflows, y, yv, ref, 100.0 * rel);
  }
  fmt::print(out,
             "\nOne LBFP8 step is a factor 2^(1/16) (4.4 %), so the nearest code is within 2.2 %"
             " of a value;\nthe remaining error comes from the quantized operands.\n");
}

}  // namespace lbfp::cli
