#include "lbfp/scaled_format.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace lbfp {
namespace {

__extension__ typedef unsigned __int128 Uint128;

int bit_length(Uint128 v) {
  int n = 0;
  while (v != 0) {
    v >>= 1;
    ++n;
  }
  return n;
}

std::string hex_code(unsigned code) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[code & 15]);
    code >>= 4;
  } while (code != 0 || s.size() < 2);
  return "0x" + s;
}

Uint128 magnitude_of(Int128 v) { return v < 0 ? -static_cast<Uint128>(v) : static_cast<Uint128>(v); }

// The FP8 layout: t mantissa bits, bias, the exponent field of the largest finite binade and
// the largest significand (2^t + m) in it.
struct FloatLayout {
  int mant_bits;
  int bias;
  int max_field;
  int max_significand;
};
FloatLayout layout(ElementKind kind) {
  if (kind == ElementKind::kE4M3) return {3, 7, 15, 14};  // 0x7e = 448
  return {2, 15, 30, 7};                                  // 0x7b = 57344
}

// round-half-even(mag * 2^k) where the caller has made sure the result is below 2^16.
uint32_t round_scaled(Uint128 mag, int k) {
  if (k >= 0) return static_cast<uint32_t>(mag << k);
  const int s = -k;
  const int len = bit_length(mag);
  if (s > len) return 0;  // below 1/2
  if (s == len) {         // in [1/2, 1)
    return mag > (Uint128{1} << (s - 1)) ? 1u : 0u;
  }
  const Uint128 q = mag >> s;
  const Uint128 rem = mag - (q << s);
  const Uint128 half = Uint128{1} << (s - 1);
  const bool up = rem > half || (rem == half && (q & 1) != 0);
  return static_cast<uint32_t>(q + (up ? 1 : 0));
}

// q(v) for v = (-1)^negative * mag * 2^exp2, exactly (section 13.2).
Code round_to_element(const ScaledFormat& format, bool negative, Uint128 mag, int exp2) {
  if (mag == 0) return 0;
  const int lead = bit_length(mag) - 1;  // floor(log2 v) = lead + exp2
  const int64_t j = int64_t{lead} + exp2;
  if (!format.is_float()) {
    const int grid = format.is_mx() ? -6 : 0;  // the element LSB
    uint32_t n = 127;
    if (j - grid < 8) n = std::min<uint32_t>(127, round_scaled(mag, exp2 - grid));
    if (n == 0) return 0;
    const int value = negative ? -static_cast<int>(n) : static_cast<int>(n);
    return static_cast<Code>(static_cast<unsigned>(value) & 0xffu);
  }
  const FloatLayout f = layout(format.element());
  const int emin = 1 - f.bias;                 // smallest normal binade
  const int emax = f.max_field - f.bias;       // largest binade
  const Code sign = negative ? Code{0x80} : Code{0};
  const Code top = static_cast<Code>(sign | (f.max_field << f.mant_bits) |
                                     (f.max_significand - (1 << f.mant_bits)));
  if (j > emax) return top;
  int binade = static_cast<int>(std::max<int64_t>(j, emin));
  uint32_t n = round_scaled(mag, exp2 - (binade - f.mant_bits));
  if (n == (2u << f.mant_bits)) {  // rounded up into the next binade
    ++binade;
    n >>= 1;
  }
  if (n == 0) return 0;
  if (binade > emax || (binade == emax && static_cast<int>(n) > f.max_significand)) return top;
  if (n < (1u << f.mant_bits)) return static_cast<Code>(sign | n);  // subnormal
  const int field = binade + f.bias;
  return static_cast<Code>(sign | (field << f.mant_bits) | (n - (1u << f.mant_bits)));
}

// The significand M and k of section 13.1 (value = M * 2^(k - b)), for a checked FP8 code.
void float_parts(const FloatLayout& f, Code code, uint32_t& significand, int& k) {
  const int field = (code >> f.mant_bits) & ((1 << (7 - f.mant_bits)) - 1);
  const uint32_t m = code & ((1u << f.mant_bits) - 1);
  significand = field == 0 ? m : (1u << f.mant_bits) + m;
  k = field == 0 ? 1 : field;
}

void check_acc_range(int acc_bits, Int128 acc) {
  const Int128 max = (Int128{1} << (acc_bits - 1)) - 1;
  if (acc < -max - 1 || acc > max) {
    throw std::out_of_range("accumulator value " + to_decimal(acc) + " does not fit in " +
                            std::to_string(acc_bits) + " bits");
  }
}

Code quantize_double(const ScaledFormat& format, double v) {
  if (std::isnan(v)) throw std::domain_error("cannot encode NaN");
  if (v == 0.0) return 0;
  const bool negative = std::signbit(v);
  if (std::isinf(v)) return round_to_element(format, negative, 1, 100000);  // saturates
  int e = 0;
  const double fraction = std::frexp(std::fabs(v), &e);
  const auto mant = static_cast<uint64_t>(std::ldexp(fraction, 53));
  return round_to_element(format, negative, mant, e - 53);
}

}  // namespace

std::string to_decimal(Int128 value) {
  Uint128 mag = magnitude_of(value);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(mag % 10)));
    mag /= 10;
  } while (mag != 0);
  return value < 0 ? "-" + digits : digits;
}

ScaledFormat::ScaledFormat(ElementKind element, ScaleKind scale, int acc_bits)
    : element_(element), scale_(scale), acc_bits_(acc_bits == 0 ? default_acc_bits(element)
                                                                : acc_bits) {
  if (acc_bits_ < 2 || acc_bits_ > kMaxAccBits) {
    throw std::invalid_argument("accumulator bits A=" + std::to_string(acc_bits_) +
                                " must be in 2.." + std::to_string(kMaxAccBits) + " for " +
                                ScaledFormat(element, scale, 0).name());
  }
}

int ScaledFormat::default_acc_bits(ElementKind element) {
  switch (element) {
    case ElementKind::kE4M3:
      return 42;
    case ElementKind::kE5M2:
      return 70;
    case ElementKind::kInt8:
      break;
  }
  return 32;
}

int ScaledFormat::product_lsb() const {
  switch (element_) {
    case ElementKind::kE4M3:
      return -18;
    case ElementKind::kE5M2:
      return -32;
    case ElementKind::kInt8:
      break;
  }
  return is_mx() ? -12 : 0;
}

int ScaledFormat::emax_elem() const {
  switch (element_) {
    case ElementKind::kE4M3:
      return 8;
    case ElementKind::kE5M2:
      return 15;
    case ElementKind::kInt8:
      break;
  }
  return 0;
}

double ScaledFormat::max_element() const {
  switch (element_) {
    case ElementKind::kE4M3:
      return 448.0;
    case ElementKind::kE5M2:
      return 57344.0;
    case ElementKind::kInt8:
      break;
  }
  return is_mx() ? 127.0 / 64.0 : 127.0;
}

std::optional<ScaledFormat> scaled_format_named(const std::string& name, int acc_bits) {
  for (const ElementKind element : {ElementKind::kInt8, ElementKind::kE4M3, ElementKind::kE5M2}) {
    for (const ScaleKind scale : {ScaleKind::kMxBlock, ScaleKind::kTensor}) {
      if (ScaledFormat(element, scale).name() == name) {
        return ScaledFormat(element, scale, acc_bits);
      }
    }
  }
  return std::nullopt;
}

std::string ScaledFormat::name() const {
  std::string n = is_mx() ? "mx" : "";
  switch (element_) {
    case ElementKind::kE4M3:
      n += "fp8-e4m3";
      break;
    case ElementKind::kE5M2:
      n += "fp8-e5m2";
      break;
    case ElementKind::kInt8:
      n += "int8";
      break;
  }
  if (acc_bits_ != default_acc_bits(element_)) n += "(A=" + std::to_string(acc_bits_) + ")";
  return n;
}

void check_code(const ScaledFormat& format, unsigned code) {
  if (code > 0xffu) throw std::out_of_range("code " + hex_code(code) + " does not fit in 8 bits");
  if (format.element() == ElementKind::kE4M3 && (code & 0x7fu) == 0x7fu) {
    throw std::out_of_range("code " + hex_code(code) + " is E4M3 NaN, not a value");
  }
  if (format.element() == ElementKind::kE5M2 && (code & 0x7cu) == 0x7cu) {
    throw std::out_of_range("code " + hex_code(code) + " is E5M2 " +
                            ((code & 3u) == 0 ? "infinity" : "NaN") + ", not a value");
  }
}

double element_value(const ScaledFormat& format, Code code) {
  check_code(format, code);
  if (!format.is_float()) {
    const int n = static_cast<int8_t>(code);
    return std::ldexp(static_cast<double>(n), format.is_mx() ? -6 : 0);
  }
  const FloatLayout f = layout(format.element());
  uint32_t significand = 0;
  int k = 0;
  float_parts(f, code, significand, k);
  if (significand == 0) return 0.0;
  const double v = std::ldexp(static_cast<double>(significand), k - f.bias - f.mant_bits);
  return (code & 0x80u) != 0 ? -v : v;
}

Code quantize_element(const ScaledFormat& format, double v) { return quantize_double(format, v); }

Code encode(const ScaledFormat& format, double x, int exponent) {
  check_exponent(exponent);
  if (std::isnan(x)) throw std::domain_error("cannot encode NaN");
  if (x == 0.0) return 0;
  if (std::isinf(x)) return quantize_double(format, x);
  int e = 0;
  const double fraction = std::frexp(std::fabs(x), &e);
  const auto mant = static_cast<uint64_t>(std::ldexp(fraction, 53));
  // Dividing by 2^E only moves the binary point: exact, whatever the double range.
  return round_to_element(format, std::signbit(x), mant, e - 53 - exponent);
}

double decode(const ScaledFormat& format, Code code, int exponent) {
  check_exponent(exponent);
  return std::ldexp(element_value(format, code), exponent);
}

namespace {
void check_fp32_scale(float scale) {
  if (!std::isfinite(scale) || !(scale > 0.0f)) {
    throw std::invalid_argument("scale " + std::to_string(scale) +
                                " must be finite and positive");
  }
}
}  // namespace

Code encode_scaled(const ScaledFormat& format, float x, float scale) {
  check_fp32_scale(scale);
  if (std::isnan(x)) throw std::domain_error("cannot encode NaN");
  const float quotient = x / scale;  // one FP32 rounding, as QuantizeLinear
  return quantize_double(format, static_cast<double>(quotient));
}

double decode_scaled(const ScaledFormat& format, Code code, float scale) {
  check_fp32_scale(scale);
  // At most 8 significant bits times 24: exact in a double.
  return element_value(format, code) * static_cast<double>(scale);
}

int mx_shared_exponent(const ScaledFormat& format, const float* values, size_t n) {
  float amax = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(values[i])) throw std::domain_error("NaN in an MX block");
    amax = std::max(amax, std::fabs(values[i]));
  }
  if (std::isinf(amax)) return kMaxExponent;
  int floor_log2 = 0;  // amax = 0: log2 of 1
  if (amax > 0.0f) {
    int e = 0;
    std::frexp(static_cast<double>(amax), &e);  // amax in [2^(e-1), 2^e)
    floor_log2 = e - 1;
  }
  return std::clamp(floor_log2 - format.emax_elem(), kMinExponent, kMaxExponent);
}

float tensor_scale(const ScaledFormat& format, float amax) {
  if (std::isnan(amax) || std::isinf(amax) || amax < 0.0f) {
    throw std::domain_error("amax " + std::to_string(amax) + " must be finite and non-negative");
  }
  if (amax == 0.0f) return 1.0f;
  const float s = amax / static_cast<float>(format.max_element());
  if (!(s > 0.0f)) {
    throw std::domain_error("amax " + std::to_string(amax) + " gives a zero FP32 scale");
  }
  return s;
}

Int128 multiply(const ScaledFormat& format, Code a, Code b) {
  check_code(format, a);
  check_code(format, b);
  if (!format.is_float()) {
    return Int128{static_cast<int8_t>(a)} * Int128{static_cast<int8_t>(b)};
  }
  const FloatLayout f = layout(format.element());
  uint32_t ma = 0;
  uint32_t mb = 0;
  int ka = 0;
  int kb = 0;
  float_parts(f, a, ma, ka);
  float_parts(f, b, mb, kb);
  const Int128 p = static_cast<Int128>(Uint128{ma * mb} << (ka + kb - 2));
  return ((a ^ b) & 0x80u) != 0 ? -p : p;
}

WideAccumulator::WideAccumulator(int acc_bits, Int128 initial) {
  if (acc_bits < 2 || acc_bits > ScaledFormat::kMaxAccBits) {
    throw std::invalid_argument("accumulator bits A=" + std::to_string(acc_bits) +
                                " must be in 2.." + std::to_string(ScaledFormat::kMaxAccBits));
  }
  max_ = (Int128{1} << (acc_bits - 1)) - 1;
  min_ = -max_ - 1;
  check_acc_range(acc_bits, initial);
  value_ = initial;
}

void WideAccumulator::add(Int128 term) {
  // As Accumulator::add: a term beyond +-2^A saturates whatever the value, so clamping it first
  // keeps the sum inside 128 bits (A <= 126) without changing the outcome.
  const Int128 limit = (max_ + 1) * 2;
  const Int128 clamped = term > limit ? limit : (term < -limit ? -limit : term);
  const Int128 sum = value_ + clamped;
  if (sum > max_) {
    value_ = max_;
    ++overflows_;
  } else if (sum < min_) {
    value_ = min_;
    ++overflows_;
  } else {
    value_ = sum;
  }
}

WideDotResult dot(const ScaledFormat& format, const Code* a, const Code* b, size_t n,
                  Int128 initial) {
  if (format.is_mx() && n > static_cast<size_t>(ScaledFormat::kMxBlockSize)) {
    throw std::invalid_argument(format.name() + " dot product of " + std::to_string(n) +
                                " elements: one MX block pair holds at most 32 (the sum across "
                                "blocks is not specified)");
  }
  WideAccumulator acc(format.acc_bits(), initial);
  for (size_t k = 0; k < n; ++k) acc.add(multiply(format, a[k], b[k]));
  return {acc.value(), acc.overflow_count()};
}

WideDotResult dot(const ScaledFormat& format, const std::vector<Code>& a,
                  const std::vector<Code>& b, Int128 initial) {
  if (a.size() != b.size()) {
    throw std::invalid_argument("dot: vectors of different lengths " + std::to_string(a.size()) +
                                " and " + std::to_string(b.size()));
  }
  return dot(format, a.data(), b.data(), a.size(), initial);
}

Code requantize(const ScaledFormat& format, Int128 acc, int scale, int out_exp, bool relu) {
  check_exponent(out_exp);
  check_acc_range(format.acc_bits(), acc);
  if (acc == 0 || (relu && acc < 0)) return 0;
  return round_to_element(format, acc < 0, magnitude_of(acc), scale - out_exp);
}

double requant_multiplier(const ScaledFormat& format, float sa, float sb, float so) {
  check_fp32_scale(sa);
  check_fp32_scale(sb);
  check_fp32_scale(so);
  const float product = sa * sb;
  const float quotient = product / so;
  return std::ldexp(static_cast<double>(quotient), format.product_lsb());
}

float to_float(Int128 v) {
  // Below 2^53 the double is exact and its conversion is the one rounding (the common case).
  if (v > -(Int128{1} << 53) && v < (Int128{1} << 53)) {
    return static_cast<float>(static_cast<double>(static_cast<int64_t>(v)));
  }
  Uint128 mag = magnitude_of(v);
  const int len = bit_length(mag);
  int exp2 = 0;
  if (len > 24) {  // keep 24 significant bits, nearest with ties to even
    const int s = len - 24;
    const Uint128 q = mag >> s;
    const Uint128 rem = mag - (q << s);
    const Uint128 half = Uint128{1} << (s - 1);
    mag = q + ((rem > half || (rem == half && (q & 1) != 0)) ? 1 : 0);
    exp2 = s;
  }
  // At most 2^24 times 2^102: an exact float (or the float overflow to infinity for 2^128).
  const float f = std::ldexp(static_cast<float>(static_cast<uint32_t>(mag)), exp2);
  return v < 0 ? -f : f;
}

Code requantize_scaled(const ScaledFormat& format, Int128 acc, double multiplier, bool relu) {
  check_acc_range(format.acc_bits(), acc);
  if (std::isnan(multiplier) || !(multiplier > 0.0)) {
    throw std::invalid_argument("requantization multiplier must be positive");
  }
  if (acc == 0 || (relu && acc < 0)) return 0;
  // fp32(acc) has 24 significant bits and M (an FP32 number times 2^L) 24: their product is
  // exact in a double, so the cast is the one FP32 rounding of the spec.
  const double product = static_cast<double>(to_float(acc)) * multiplier;
  return quantize_double(format, static_cast<double>(static_cast<float>(product)));
}

}  // namespace lbfp

namespace lbfp {
namespace {

int fast_bit_length(Uint128 v) {
  const auto hi = static_cast<uint64_t>(v >> 64);
  if (hi != 0) return 128 - __builtin_clzll(hi);
  const auto lo = static_cast<uint64_t>(v);
  return lo == 0 ? 0 : 64 - __builtin_clzll(lo);
}

}  // namespace

float to_float_scaled(Int128 v, int exp) {
  // |v| < 2^53 with -1000 <= exp <= 900: v 2^exp is an exact normal double (2^exp built from
  // its bits, no ldexp), and the conversion to float rounds it once, to nearest with ties to
  // even, subnormal results and the overflow to infinity included: the rule below, faster.
  if (v > -(Int128{1} << 53) && v < (Int128{1} << 53) && exp >= -1000 && exp <= 900) {
    const uint64_t bits = static_cast<uint64_t>(exp + 1023) << 52;
    double scale = 0.0;
    std::memcpy(&scale, &bits, sizeof scale);
    return static_cast<float>(static_cast<double>(static_cast<int64_t>(v)) * scale);
  }
  if (v == 0) return 0.0f;
  const Uint128 mag = magnitude_of(v);
  const int len = fast_bit_length(mag);
  // The LSB the float keeps: 24 significant bits, but never below the subnormal LSB 2^-149.
  const int lsb = std::max(len - 24 + exp, -149);
  const int shift = lsb - exp;  // low bits of |v| that are rounded away
  double result = 0.0;
  if (shift <= 0) {
    result = std::ldexp(static_cast<double>(static_cast<uint64_t>(mag)), exp);  // < 2^24: exact
  } else if (shift > 127) {
    result = 0.0;  // far below half the smallest subnormal
  } else {
    const Uint128 q = mag >> shift;
    const Uint128 rem = mag - (q << shift);
    const Uint128 half = Uint128{1} << (shift - 1);
    const Uint128 rounded = q + ((rem > half || (rem == half && (q & 1) != 0)) ? 1 : 0);
    // rounded <= 2^24: exact in a double, and so is the power of two.
    result = std::ldexp(static_cast<double>(static_cast<uint64_t>(rounded)), lsb);
  }
  // Exact unless beyond the largest float, where the cast gives the infinity.
  const float f = static_cast<float>(result);
  return v < 0 ? -f : f;
}

float mx_accumulate(const ScaledFormat& format, float sum, Int128 block_acc, int ea, int eb) {
  return sum + to_float_scaled(block_acc, format.product_scale(ea, eb));
}

MxDotResult mx_dot(const ScaledFormat& format, const Code* a, const int* a_exps, const Code* b,
                   const int* b_exps, size_t n, float initial) {
  if (!format.is_mx()) {
    throw std::invalid_argument(format.name() + " has no MX blocks");
  }
  MxDotResult r;
  r.value = initial;
  const auto block = static_cast<size_t>(ScaledFormat::kMxBlockSize);
  for (size_t first = 0, j = 0; first < n; first += block, ++j) {
    const size_t len = std::min(block, n - first);
    const WideDotResult d = dot(format, a + first, b + first, len);
    r.overflows += d.overflows;
    r.value = mx_accumulate(format, r.value, d.acc, a_exps[j], b_exps[j]);
  }
  return r;
}

Int128 bias_to_accumulator_scaled(const ScaledFormat& format, float bias, float sa, float sb) {
  if (std::isnan(bias)) throw std::domain_error("cannot quantize a NaN bias");
  if (bias == 0.0f) return 0;  // also where sa * sb underflows to 0 (0 / 0)
  const float scale = sa * sb;      // FP32, as ONNX Runtime's bias scale
  const float quotient = bias / scale;  // FP32
  const double units =
      std::nearbyint(std::ldexp(static_cast<double>(quotient), -format.product_lsb()));
  const double limit = std::ldexp(1.0, format.acc_bits() - 1);
  if (units >= limit) return static_cast<Int128>(limit) - 1;
  if (units < -limit) return -static_cast<Int128>(limit);
  return static_cast<Int128>(units);
}

float dequantize_accumulator(Int128 acc, double multiplier) {
  // As requantize_scaled: fp32(acc) times M is exact in a double; the cast is the one rounding.
  return static_cast<float>(static_cast<double>(to_float(acc)) * multiplier);
}

}  // namespace lbfp
