// `lbfp golden`: the conformance interface to the golden reference. One case per input line,
// results on the output only when every line was valid (nothing half-written on bad input).
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <variant>

#include "lbfp/number_format.h"
#include "lbfp/scaled_format.h"

namespace lbfp::cli {

// "lbfp8", "bfp8", "lbfpW" / "bfpW" (W in 2..8). Unset options take the family defaults:
// F = W / 2, P = 8, A = 32. Throws std::invalid_argument with a message naming the value.
NumberFormat parse_format(const std::string& name, std::optional<int> frac_bits,
                          std::optional<int> lut_bits, std::optional<int> acc_bits);

// Every format `lbfp golden` speaks: the LBFP family, BFP, and the industry formats of
// docs/spec.md section 13 (whose accumulators reach 126 bits, hence their own alternative).
using GoldenFormat = std::variant<LbfpFormat, BfpFormat, ScaledFormat>;

// parse_format's names plus mxint8, mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2 and int8 (A from
// acc_bits, default per spec section 13.5; F and P do not apply to them).
GoldenFormat parse_golden_format(const std::string& name, std::optional<int> frac_bits,
                                 std::optional<int> lut_bits, std::optional<int> acc_bits);

struct GoldenOptions {
  // encode, decode, mul, dot, requant; for the section 13 formats also encode-fp32, decode-fp32,
  // requant-fp32, tensor-scale (FP8 / INT8) and mx-scale (MX).
  std::string operation;
  std::string format = "lbfp8";
  std::optional<int> frac_bits;
  std::optional<int> lut_bits;
  std::optional<int> acc_bits;
  std::optional<int> exponent;  // encode, decode, requant (the output exponent)
  std::optional<int> scale;     // requant: exponent of the accumulator LSB
  std::optional<double> fp32_scale;  // encode-fp32, decode-fp32: the FP32 scale s
  std::optional<double> scale_a;     // requant-fp32: sa, sb, so (each rounded to FP32)
  std::optional<double> scale_b;
  std::optional<double> scale_out;
  bool relu = false;
};

inline constexpr int kExitBadInput = 2;

// Runs one operation over every line of `in`. Returns 0, or kExitBadInput after writing one
// message naming the line to `err` (and nothing to `out`).
int run_golden(const GoldenOptions& options, std::istream& in, std::ostream& out,
               std::ostream& err);

// The built-in example of the golden arithmetic: a small fully-connected layer quantized,
// multiplied, accumulated and requantized, printed step by step.
void run_golden_example(std::ostream& out);

}  // namespace lbfp::cli
