// `lbfp golden`: the conformance interface to the golden reference. One case per input line,
// results on the output only when every line was valid (nothing half-written on bad input).
#pragma once

#include <iosfwd>
#include <optional>
#include <string>

#include "lbfp/number_format.h"

namespace lbfp::cli {

// "lbfp8", "bfp8", "lbfpW" / "bfpW" (W in 2..8). Unset options take the family defaults:
// F = W / 2, P = 8, A = 32. Throws std::invalid_argument with a message naming the value.
NumberFormat parse_format(const std::string& name, std::optional<int> frac_bits,
                          std::optional<int> lut_bits, std::optional<int> acc_bits);

struct GoldenOptions {
  std::string operation;  // encode, decode, mul, dot, requant
  std::string format = "lbfp8";
  std::optional<int> frac_bits;
  std::optional<int> lut_bits;
  std::optional<int> acc_bits;
  std::optional<int> exponent;  // encode, decode, requant (the output exponent)
  std::optional<int> scale;     // requant: exponent of the accumulator LSB
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
