// encode and requantize of the golden reference (model/lbfp) on arbitrary bit patterns: any
// double or float, any accumulator, any exponent and scale, any LBFP / BFP format, and (on the
// bytes left over, so that older inputs keep their meaning) the industry formats of
// docs/spec.md section 13. LBFP results
// are checked against the independent big-integer reference of the tests
// (tb/golden/exact_reference.h); both families against invariants computed here: sign-symmetric,
// monotone in the input, saturating at the top code, decode-encode round trip, NaN and
// out-of-range arguments refused with the documented exceptions.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "exact_reference.h"
#include "fuzz_check.h"
#include "lbfp/arith.h"
#include "lbfp/scaled_format.h"

namespace {

using lbfp::BfpFormat;
using lbfp::Code;
using lbfp::LbfpFormat;
using lbfp::fuzz::fail;

std::string describe(const std::string& what, double x, int exponent) {
  char text[160];
  std::snprintf(text, sizeof text, "%s: x=%a E=%d", what.c_str(), x, exponent);
  return text;
}

// A code's place on the number line, as an integer: sign times magnitude (mantissa for BFP).
int rank(const LbfpFormat& f, Code c) {
  return lbfp::is_negative(f, c) ? -lbfp::magnitude(f, c) : lbfp::magnitude(f, c);
}
int rank(const BfpFormat& f, Code c) { return lbfp::mantissa(f, c); }
Code negated(const LbfpFormat& f, Code c) {
  return lbfp::make_code(f, !lbfp::is_negative(f, c), lbfp::magnitude(f, c));
}
Code negated(const BfpFormat& f, Code c) { return lbfp::make_code(f, -lbfp::mantissa(f, c)); }
int top_rank(const LbfpFormat& f) { return f.max_magnitude(); }
int top_rank(const BfpFormat& f) { return f.max_mantissa(); }

// The spec's encode, decided by the big-integer comparison (as in tb/golden/encode_test.cpp).
Code exact_encode(const LbfpFormat& f, double x, int exponent) {
  if (x == 0.0) return 0;
  if (std::isinf(x)) return lbfp::make_code(f, std::signbit(x), f.max_magnitude());
  uint64_t mantissa = 0;
  int e = 0;
  lbfp::testing::split_double(x, mantissa, e);
  const int m = lbfp::testing::exact_magnitude_code(f.width(), f.frac_bits(), mantissa, e, exponent);
  return lbfp::make_code(f, std::signbit(x), m);
}

// The spec's requantization (as in tb/golden/requantize_test.cpp).
Code exact_requant(const LbfpFormat& f, int64_t acc, int scale, int out_exp, bool relu) {
  if (acc == 0 || (relu && acc < 0)) return 0;
  const bool negative = acc < 0;
  const uint64_t mag = negative ? 0 - static_cast<uint64_t>(acc) : static_cast<uint64_t>(acc);
  const int m = lbfp::testing::exact_magnitude_code(f.width(), f.frac_bits(), mag, scale, out_exp);
  return lbfp::make_code(f, negative, m);
}

double consume_real(FuzzedDataProvider& in) {
  if (in.ConsumeBool()) {  // an FP32 bit pattern, as `lbfp eval` encodes
    const uint32_t bits = in.ConsumeIntegral<uint32_t>();
    float x = 0.0f;
    std::memcpy(&x, &bits, sizeof x);
    return x;
  }
  const uint64_t bits = in.ConsumeIntegral<uint64_t>();
  double x = 0.0;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

int consume_exponent(FuzzedDataProvider& in) {
  // Now and then outside [-127, 127], where encode / requantize must throw.
  return in.ConsumeIntegralInRange(0, 31) == 0 ? in.ConsumeIntegral<int>()
                                               : in.ConsumeIntegralInRange(-127, 127);
}

template <class Format>
void check_encode(const Format& f, FuzzedDataProvider& in) {
  const int exponent = consume_exponent(in);
  const double x = consume_real(in);
  const double y = consume_real(in);
  if (exponent < lbfp::kMinExponent || exponent > lbfp::kMaxExponent) {
    try {
      lbfp::encode(f, 1.0, exponent);
    } catch (const std::out_of_range&) {
      return;
    }
    fail(describe("encode accepted an exponent outside [-127, 127]", 1.0, exponent));
  }
  if (std::isnan(x)) {
    try {
      lbfp::encode(f, x, exponent);
    } catch (const std::domain_error&) {
      return;
    }
    fail(describe("encode accepted NaN", x, exponent));
  }
  const Code c = lbfp::encode(f, x, exponent);
  lbfp::check_code(f, c);  // throws (a crash here) when the code does not fit the format
  if constexpr (std::is_same_v<Format, LbfpFormat>) {
    if (c != exact_encode(f, x, exponent)) fail(describe("encode differs from the exact reference", x, exponent));
  }
  if (x == 0.0 && c != 0) fail(describe("zero is not the all-zero code", x, exponent));
  if (lbfp::encode(f, -x, exponent) != negated(f, c)) {
    fail(describe("encode is not sign-symmetric", x, exponent));
  }
  // Every value at or above 2^E is above the top code's rounding boundary.
  if (std::fabs(x) >= std::ldexp(1.0, exponent) && std::abs(rank(f, c)) != top_rank(f)) {
    fail(describe("encode does not saturate", x, exponent));
  }
  if (!std::isnan(y)) {
    const Code d = lbfp::encode(f, y, exponent);
    if ((x <= y && rank(f, c) > rank(f, d)) || (y <= x && rank(f, d) > rank(f, c))) {
      fail(describe("encode is not monotone", x, exponent) + describe(" and", y, exponent));
    }
  }
  // Round trip: a code's value encodes back to the code (its -0 to the all-zero code).
  const unsigned code = in.ConsumeIntegral<uint8_t>() & (static_cast<unsigned>(f.code_count()) - 1);
  try {
    lbfp::check_code(f, code);
  } catch (const std::out_of_range&) {
    return;  // the unused BFP pattern
  }
  const double value = lbfp::decode(f, static_cast<Code>(code), exponent);
  const Code canonical = rank(f, static_cast<Code>(code)) == 0 ? Code{0} : static_cast<Code>(code);
  if (lbfp::encode(f, value, exponent) != canonical) {
    fail(describe("decode-encode round trip of code " + std::to_string(code), value, exponent));
  }
}

template <class Format>
void check_requant(const Format& f, FuzzedDataProvider& in) {
  const int acc_bits = f.acc_bits();
  const int64_t acc_min = -(int64_t{1} << (acc_bits - 1));
  const int64_t acc_max = (int64_t{1} << (acc_bits - 1)) - 1;
  // Spread over magnitudes: the top bits of a random int64, shifted right some more.
  auto consume_acc = [&] {
    const int64_t raw = in.ConsumeIntegral<int64_t>();
    return (raw >> (64 - acc_bits)) >> in.ConsumeIntegralInRange(0, acc_bits - 1);
  };
  const int64_t acc = consume_acc();
  const int64_t other = consume_acc();
  const int scale = in.ConsumeIntegralInRange(0, 15) == 0 ? in.ConsumeIntegral<int>()
                                                          : in.ConsumeIntegralInRange(-300, 300);
  const int out_exp = consume_exponent(in);
  const bool relu = in.ConsumeBool();
  const int64_t wild = in.ConsumeIntegral<int64_t>();
  if (wild < acc_min || wild > acc_max) {
    bool refused = false;
    try {
      lbfp::requantize(f, wild, 0, 0, relu);
    } catch (const std::out_of_range&) {
      refused = true;
    }
    if (!refused) fail("requantize accepted an accumulator outside the A-bit range");
  }
  if (out_exp < lbfp::kMinExponent || out_exp > lbfp::kMaxExponent) {
    try {
      lbfp::requantize(f, acc, scale, out_exp, relu);
    } catch (const std::out_of_range&) {
      return;
    }
    fail("requantize accepted an exponent outside [-127, 127]: " + std::to_string(out_exp));
  }
  const std::string args = "acc=" + std::to_string(acc) + " scale=" + std::to_string(scale) +
                           " Eo=" + std::to_string(out_exp) + " relu=" + std::to_string(relu) +
                           " A=" + std::to_string(acc_bits);
  const Code c = lbfp::requantize(f, acc, scale, out_exp, relu);
  lbfp::check_code(f, c);
  if constexpr (std::is_same_v<Format, LbfpFormat>) {
    if (c != exact_requant(f, acc, scale, out_exp, relu)) {
      fail("requantize differs from the exact reference: " + args);
    }
  }
  if ((acc == 0 || (relu && acc < 0)) && c != 0) fail("zero or ReLU'd acc is not code 0: " + args);
  if (!relu && acc != acc_min && lbfp::requantize(f, -acc, scale, out_exp, false) != negated(f, c)) {
    fail("requantize is not sign-symmetric: " + args);
  }
  // |acc| * 2^scale >= 2^Eo lies above the top code.
  if (acc != 0 && !(relu && acc < 0) && scale >= out_exp && std::abs(rank(f, c)) != top_rank(f)) {
    fail("requantize does not saturate: " + args);
  }
  const Code d = lbfp::requantize(f, other, scale, out_exp, relu);
  if ((acc <= other && rank(f, c) > rank(f, d)) || (other <= acc && rank(f, d) > rank(f, c))) {
    fail("requantize is not monotone: " + args + " and acc=" + std::to_string(other));
  }
}

// The section 13 formats: valid codes, sign symmetry, monotony, round trip, saturation of what
// lies beyond the largest element, refusals; requantize is encode of the accumulator's value
// wherever that value is an exact double.
void check_scaled(FuzzedDataProvider& in) {
  using lbfp::ElementKind;
  using lbfp::Int128;
  using lbfp::ScaledFormat;
  using lbfp::ScaleKind;
  const int kind = in.ConsumeIntegralInRange(0, 5);
  const ElementKind element = kind % 3 == 0 ? ElementKind::kInt8
                              : kind % 3 == 1 ? ElementKind::kE4M3
                                              : ElementKind::kE5M2;
  const ScaledFormat f(element, kind < 3 ? ScaleKind::kMxBlock : ScaleKind::kTensor,
                       in.ConsumeIntegralInRange(2, ScaledFormat::kMaxAccBits));
  const auto value = [&](Code c) { return lbfp::element_value(f, c); };
  const auto negate = [&](Code c) -> Code {
    if (c == 0) return 0;
    return f.is_float() ? static_cast<Code>(c ^ 0x80) : static_cast<Code>(-static_cast<int8_t>(c));
  };
  const int exponent = in.ConsumeIntegralInRange(-127, 127);
  const double x = consume_real(in);
  const double y = consume_real(in);
  if (std::isnan(x)) {
    try {
      lbfp::encode(f, x, exponent);
    } catch (const std::domain_error&) {
      return;
    }
    fail(describe(f.name() + " encode accepted NaN", x, exponent));
  }
  const Code c = lbfp::encode(f, x, exponent);
  lbfp::check_code(f, c);
  if (lbfp::encode(f, -x, exponent) != negate(c)) {
    fail(describe(f.name() + " encode is not sign-symmetric", x, exponent));
  }
  if (std::fabs(x) >= std::ldexp(f.max_element(), exponent) && std::fabs(value(c)) != f.max_element()) {
    fail(describe(f.name() + " encode does not saturate", x, exponent));
  }
  if (!std::isnan(y)) {
    const Code d = lbfp::encode(f, y, exponent);
    if ((x <= y && value(c) > value(d)) || (y <= x && value(d) > value(c))) {
      fail(describe(f.name() + " encode is not monotone", x, exponent) + describe(" and", y, exponent));
    }
  }
  const auto code = static_cast<Code>(in.ConsumeIntegral<uint8_t>());
  try {
    lbfp::check_code(f, code);
    const Code back = lbfp::encode(f, lbfp::decode(f, code, exponent), exponent);
    const Code want = code == 0x80 ? (f.is_float() ? Code{0} : Code{0x81}) : code;
    if (back != want) fail(f.name() + " decode-encode round trip of code " + std::to_string(code));
  } catch (const std::out_of_range&) {
    // a NaN or infinity code: multiply must refuse it as well
    try {
      lbfp::multiply(f, code, 0);
    } catch (const std::out_of_range&) {
      return;
    }
    fail(f.name() + " multiply accepted code " + std::to_string(code));
  }
  // requantize of an accumulator made of two int64 halves, cut to A bits.
  const int a = f.acc_bits();
  const auto consume_acc = [&] {
    __extension__ typedef unsigned __int128 Uint128;
    const Uint128 high = in.ConsumeIntegral<uint64_t>();
    const auto raw = static_cast<Int128>((high << 64) | in.ConsumeIntegral<uint64_t>());
    return (raw >> (128 - a)) >> in.ConsumeIntegralInRange(0, a - 1);
  };
  const Int128 acc = consume_acc();
  const Int128 other = consume_acc();
  const int scale = in.ConsumeIntegralInRange(-300, 300);
  const int out_exp = in.ConsumeIntegralInRange(-127, 127);
  const bool relu = in.ConsumeBool();
  const std::string args = f.name() + " acc=" + lbfp::to_decimal(acc) + " scale=" +
                           std::to_string(scale) + " Eo=" + std::to_string(out_exp);
  const Code r = lbfp::requantize(f, acc, scale, out_exp, relu);
  lbfp::check_code(f, r);
  if ((acc == 0 || (relu && acc < 0)) && r != 0) fail("zero or ReLU'd acc is not code 0: " + args);
  const Int128 acc_min = -(Int128{1} << (a - 1));
  if (!relu && acc != acc_min && lbfp::requantize(f, -acc, scale, out_exp, false) != negate(r)) {
    fail("requantize is not sign-symmetric: " + args);
  }
  const Code o = lbfp::requantize(f, other, scale, out_exp, relu);
  if ((acc <= other && value(r) > value(o)) || (other <= acc && value(o) > value(r))) {
    fail("requantize is not monotone: " + args + " and acc=" + lbfp::to_decimal(other));
  }
  const Int128 bound = Int128{1} << 53;
  if (!relu && acc > -bound && acc < bound && scale - out_exp > -900 && scale - out_exp < 900) {
    const double v = std::ldexp(static_cast<double>(acc), scale - out_exp);  // exact
    if (r != lbfp::quantize_element(f, v)) fail("requantize differs from encode: " + args);
  }
  try {
    lbfp::requantize(f, acc_min - 1, 0, 0, false);
  } catch (const std::out_of_range&) {
    return;
  }
  fail("requantize accepted an accumulator outside the A-bit range: " + args);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const bool bfp = in.ConsumeIntegralInRange(0, 3) == 0;
  const bool requant = in.ConsumeBool();
  const int width = in.ConsumeIntegralInRange(2, 8);
  const int acc_bits = in.ConsumeIntegralInRange(2, lbfp::kMaxAccBits);
  if (bfp) {
    const BfpFormat f(width, acc_bits);
    requant ? check_requant(f, in) : check_encode(f, in);
  } else {
    const int frac_bits = in.ConsumeIntegralInRange(0, std::min(LbfpFormat::kMaxFracBits, width - 2));
    const int lut_bits = in.ConsumeIntegralInRange(0, 30);
    const LbfpFormat f(width, frac_bits, lut_bits, acc_bits);
    requant ? check_requant(f, in) : check_encode(f, in);
  }
  if (in.remaining_bytes() > 0) check_scaled(in);
  return 0;
}
