// One number format of either family: LBFP (the paper's) or the BFP fixed-point baseline, with
// the helpers that dispatch to it (the architecture model's arrays compute in one).
#pragma once

#include <string>
#include <variant>

#include "lbfp/arith.h"
#include "lbfp/format.h"

namespace lbfp {

using NumberFormat = std::variant<LbfpFormat, BfpFormat>;

inline bool is_lbfp(const NumberFormat& f) { return std::holds_alternative<LbfpFormat>(f); }
inline std::string format_name(const NumberFormat& f) {
  return std::visit([](const auto& x) { return x.name(); }, f);
}
inline int acc_bits(const NumberFormat& f) {
  return std::visit([](const auto& x) { return x.acc_bits(); }, f);
}
inline int code_bits(const NumberFormat& f) {
  return std::visit([](const auto& x) { return x.width(); }, f);
}
// Exponent of one accumulator LSB for operand blocks with exponents ea and eb.
inline int product_scale(const NumberFormat& f, int ea, int eb) {
  return std::visit([&](const auto& x) { return x.product_scale(ea, eb); }, f);
}
inline bool is_zero_code(const NumberFormat& f, Code c) {
  if (const auto* l = std::get_if<LbfpFormat>(&f)) return magnitude(*l, c) == 0;
  return c == 0;
}

}  // namespace lbfp
