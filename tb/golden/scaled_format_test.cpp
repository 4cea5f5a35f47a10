// The industry formats of docs/spec.md section 13 (MXINT8, MXFP8, FP8, INT8) against
// computations written independently here: element values from the OFP8 field formulas, the
// nearest code by a scan of all 256 codes, products from the decoded doubles.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/scaled_format.h"

namespace lbfp {
namespace {

std::vector<ScaledFormat> all_formats() {
  return {ScaledFormat(ElementKind::kInt8, ScaleKind::kMxBlock),
          ScaledFormat(ElementKind::kE4M3, ScaleKind::kMxBlock),
          ScaledFormat(ElementKind::kE5M2, ScaleKind::kMxBlock),
          ScaledFormat(ElementKind::kE4M3, ScaleKind::kTensor),
          ScaledFormat(ElementKind::kE5M2, ScaleKind::kTensor),
          ScaledFormat(ElementKind::kInt8, ScaleKind::kTensor)};
}

// NaN for the codes that are not values.
double reference_value(const ScaledFormat& f, unsigned c) {
  const double sign = (c & 0x80u) != 0 ? -1.0 : 1.0;
  if (f.element() == ElementKind::kInt8) {
    const int n = c >= 128 ? static_cast<int>(c) - 256 : static_cast<int>(c);
    return f.is_mx() ? n / 64.0 : n;
  }
  const bool e4m3 = f.element() == ElementKind::kE4M3;
  const int mbits = e4m3 ? 3 : 2;
  const int bias = e4m3 ? 7 : 15;
  const unsigned e = (c & 0x7fu) >> mbits;
  const unsigned m = c & ((1u << mbits) - 1);
  if (e4m3 && e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
  if (!e4m3 && e == 31) return std::numeric_limits<double>::quiet_NaN();
  const double frac = m / static_cast<double>(1u << mbits);
  if (e == 0) return sign * frac * std::pow(2.0, 1 - bias);
  return sign * (1.0 + frac) * std::pow(2.0, static_cast<int>(e) - bias);
}

// The nearest code by a scan: ties to the code with an even last bit; 0x80 (negative zero, or
// INT8's -128) is never a result; saturation falls out of "nearest".
Code reference_encode(const ScaledFormat& f, double v) {
  int best = -1;
  double best_distance = 0.0;
  for (unsigned c = 0; c < 256; ++c) {
    const double value = reference_value(f, c);
    if (std::isnan(value) || c == 0x80u) continue;
    const double d = std::fabs(v - value);
    if (best < 0 || d < best_distance || (d == best_distance && (c & 1u) == 0)) {
      best = static_cast<int>(c);
      best_distance = d;
    }
  }
  return static_cast<Code>(best);
}

TEST(ScaledFormat, NamesAndParameters) {
  const auto formats = all_formats();
  const char* names[] = {"mxint8", "mxfp8-e4m3", "mxfp8-e5m2", "fp8-e4m3", "fp8-e5m2", "int8"};
  const int acc[] = {32, 42, 70, 42, 70, 32};
  const int lsb[] = {-12, -18, -32, -18, -32, 0};
  for (size_t i = 0; i < formats.size(); ++i) {
    EXPECT_EQ(formats[i].name(), names[i]);
    EXPECT_EQ(formats[i].acc_bits(), acc[i]);
    EXPECT_EQ(formats[i].product_lsb(), lsb[i]);
    EXPECT_EQ(formats[i].block_size(), formats[i].is_mx() ? 32 : 0);
  }
  EXPECT_EQ(ScaledFormat(ElementKind::kE4M3, ScaleKind::kMxBlock, 48).name(), "mxfp8-e4m3(A=48)");
  EXPECT_THROW(ScaledFormat(ElementKind::kE4M3, ScaleKind::kTensor, 1), std::invalid_argument);
  EXPECT_THROW(ScaledFormat(ElementKind::kE4M3, ScaleKind::kTensor, 127), std::invalid_argument);
  EXPECT_EQ(ScaledFormat(ElementKind::kE5M2, ScaleKind::kMxBlock).product_scale(3, -2), 1 - 32);
}

TEST(ScaledFormat, EveryCodeDecodesToItsFieldValueAndReencodes) {
  for (const ScaledFormat& f : all_formats()) {
    int values = 0;
    for (unsigned c = 0; c < 256; ++c) {
      const double want = reference_value(f, c);
      if (std::isnan(want)) {
        EXPECT_THROW(check_code(f, c), std::out_of_range) << f.name() << " " << c;
        EXPECT_THROW(element_value(f, static_cast<Code>(c)), std::out_of_range);
        EXPECT_THROW(multiply(f, static_cast<Code>(c), 0x01), std::out_of_range);
        continue;
      }
      ++values;
      const auto code = static_cast<Code>(c);
      EXPECT_EQ(element_value(f, code), want) << f.name() << " " << c;
      for (int e : {-127, -9, 0, 5, 127}) {
        EXPECT_EQ(decode(f, code, e), std::ldexp(want, e));
        // -0 (FP8) re-encodes as +0; -128 (INT8) saturates to -127; every other code is itself.
        const Code want_code = c == 0x80u ? (f.is_float() ? Code{0} : Code{0x81}) : code;
        EXPECT_EQ(encode(f, decode(f, code, e), e), want_code) << f.name() << " " << c;
      }
    }
    const int want_values = f.element() == ElementKind::kE4M3   ? 254
                            : f.element() == ElementKind::kE5M2 ? 248
                                                                : 256;
    EXPECT_EQ(values, want_values) << f.name();
  }
  EXPECT_THROW(check_code(all_formats()[0], 0x100), std::out_of_range);
}

TEST(ScaledFormat, LargestAndSmallestValues) {
  const ScaledFormat e4m3(ElementKind::kE4M3, ScaleKind::kTensor);
  const ScaledFormat e5m2(ElementKind::kE5M2, ScaleKind::kTensor);
  EXPECT_EQ(element_value(e4m3, 0x7e), 448.0);
  EXPECT_EQ(element_value(e4m3, 0x01), std::ldexp(1.0, -9));
  EXPECT_EQ(element_value(e4m3, 0x08), std::ldexp(1.0, -6));
  EXPECT_EQ(element_value(e5m2, 0x7b), 57344.0);
  EXPECT_EQ(element_value(e5m2, 0x01), std::ldexp(1.0, -16));
  EXPECT_EQ(element_value(e5m2, 0x04), std::ldexp(1.0, -14));
  EXPECT_EQ(element_value(ScaledFormat(ElementKind::kInt8, ScaleKind::kMxBlock), 0x80), -2.0);
  EXPECT_EQ(element_value(e4m3, 0x80), 0.0);
}

TEST(ScaledFormat, EveryOperandPairOfEachMultiplierIsTheExactProduct) {
  for (const ScaledFormat& f : all_formats()) {
    for (unsigned a = 0; a < 256; ++a) {
      const double va = reference_value(f, a);
      if (std::isnan(va)) continue;
      for (unsigned b = 0; b < 256; ++b) {
        const double vb = reference_value(f, b);
        if (std::isnan(vb)) continue;
        const Int128 p = multiply(f, static_cast<Code>(a), static_cast<Code>(b));
        // At most 8 significant bits: both sides are exact doubles.
        ASSERT_EQ(std::ldexp(static_cast<double>(p), f.product_lsb()), va * vb)
            << f.name() << " " << a << " " << b;
      }
    }
  }
}

TEST(ScaledFormat, LargestProducts) {
  EXPECT_EQ(to_decimal(multiply(ScaledFormat(ElementKind::kE5M2, ScaleKind::kMxBlock), 0x7b,
                                0xfb)),
            "-" + to_decimal(Int128{49} << 58));
  EXPECT_EQ(multiply(ScaledFormat(ElementKind::kE4M3, ScaleKind::kMxBlock), 0x7e, 0x7e),
            Int128{196} << 28);
  EXPECT_EQ(multiply(ScaledFormat(ElementKind::kInt8, ScaleKind::kTensor), 0x80, 0x80), 16384);
  EXPECT_EQ(to_decimal(-(Int128{1} << 100)), "-1267650600228229401496703205376");
  EXPECT_EQ(to_decimal(0), "0");
}

TEST(ScaledFormat, EncodeIsTheNearestCodeTiesToEvenSaturating) {
  std::mt19937_64 rng(21);
  for (const ScaledFormat& f : all_formats()) {
    // Every midpoint between neighbouring values, and a little either side of it.
    std::vector<double> values;
    for (unsigned c = 0; c < 256; ++c) {
      const double v = reference_value(f, c);
      if (!std::isnan(v) && v >= 0.0) values.push_back(v);
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    for (size_t i = 0; i + 1 < values.size(); ++i) {
      const double mid = (values[i] + values[i + 1]) / 2;
      for (double v : {mid, std::nextafter(mid, 0.0), std::nextafter(mid, 1e9)}) {
        ASSERT_EQ(encode(f, v, 0), reference_encode(f, v)) << f.name() << " " << v;
        ASSERT_EQ(encode(f, -v, 0), reference_encode(f, -v)) << f.name() << " " << -v;
      }
    }
    // Random dyadic values (differences exact in a double) over the whole range and beyond.
    std::uniform_int_distribution<int64_t> mant(0, (int64_t{1} << 20) - 1);
    std::uniform_int_distribution<int> expo(-40, 2);
    for (int i = 0; i < 20000; ++i) {
      const double v = std::ldexp(static_cast<double>(mant(rng)), expo(rng)) * (i % 2 ? -1 : 1);
      ASSERT_EQ(encode(f, v, 0), reference_encode(f, v)) << f.name() << " " << v;
      const int e = static_cast<int>(i % 7) - 3;
      ASSERT_EQ(encode(f, std::ldexp(v, e), e), reference_encode(f, v));
    }
    const double inf = std::numeric_limits<double>::infinity();
    EXPECT_EQ(element_value(f, encode(f, inf, 0)), f.max_element()) << f.name();
    EXPECT_EQ(element_value(f, encode(f, -inf, 0)), -f.max_element()) << f.name();
    EXPECT_EQ(element_value(f, encode(f, 1e300, -127)), f.max_element()) << f.name();
    EXPECT_EQ(encode(f, -0.0, 0), 0);
    EXPECT_EQ(encode(f, 1e-300, 127), 0);
    EXPECT_EQ(encode(f, std::numeric_limits<double>::denorm_min(), -127), 0);
    EXPECT_THROW(encode(f, std::nan(""), 0), std::domain_error);
    EXPECT_THROW(encode(f, 1.0, 128), std::out_of_range);
    EXPECT_THROW(quantize_element(f, std::nan("")), std::domain_error);
  }
}

TEST(ScaledFormat, SaturationBoundariesOfTheFloatFormats) {
  const ScaledFormat e4m3(ElementKind::kE4M3, ScaleKind::kMxBlock);
  const ScaledFormat e5m2(ElementKind::kE5M2, ScaleKind::kMxBlock);
  EXPECT_EQ(quantize_element(e4m3, 464.0), 0x7e);  // the tie above 448 stays at 448
  EXPECT_EQ(quantize_element(e4m3, 1e6), 0x7e);
  EXPECT_EQ(quantize_element(e4m3, -500.0), 0xfe);
  EXPECT_EQ(quantize_element(e5m2, 61440.0), 0x7b);
  EXPECT_EQ(quantize_element(e5m2, -65536.0), 0xfb);
  EXPECT_EQ(quantize_element(e4m3, std::ldexp(1.0, -10)), 0x00);        // half the least: even
  EXPECT_EQ(quantize_element(e4m3, std::ldexp(1.5, -10)), 0x01);
  EXPECT_EQ(quantize_element(e4m3, std::ldexp(1.0, -6) - std::ldexp(1.0, -11)), 0x08);
  EXPECT_EQ(quantize_element(ScaledFormat(ElementKind::kInt8, ScaleKind::kTensor), -127.5),
            0x81);
  EXPECT_EQ(quantize_element(ScaledFormat(ElementKind::kInt8, ScaleKind::kTensor), 2.5), 0x02);
  EXPECT_EQ(quantize_element(ScaledFormat(ElementKind::kInt8, ScaleKind::kMxBlock), 1.99), 0x7f);
}

TEST(ScaledFormat, MxSharedExponentIsFloorLog2AmaxMinusEmax) {
  const ScaledFormat e4m3(ElementKind::kE4M3, ScaleKind::kMxBlock);
  const ScaledFormat e5m2(ElementKind::kE5M2, ScaleKind::kMxBlock);
  const ScaledFormat mxint8(ElementKind::kInt8, ScaleKind::kMxBlock);
  const std::vector<float> block = {0.5f, -3.0f, 1.0f};  // amax 3: floor(log2) = 1
  EXPECT_EQ(mx_shared_exponent(e4m3, block.data(), block.size()), 1 - 8);
  EXPECT_EQ(mx_shared_exponent(e5m2, block.data(), block.size()), 1 - 15);
  EXPECT_EQ(mx_shared_exponent(mxint8, block.data(), block.size()), 1);
  const std::vector<float> zeros(32, 0.0f);
  EXPECT_EQ(mx_shared_exponent(e4m3, zeros.data(), zeros.size()), -8);
  const std::vector<float> tiny = {1e-45f};
  EXPECT_EQ(mx_shared_exponent(e4m3, tiny.data(), 1), -127);
  const std::vector<float> inf = {std::numeric_limits<float>::infinity()};
  EXPECT_EQ(mx_shared_exponent(e4m3, inf.data(), 1), 127);
  const std::vector<float> nan = {1.0f, std::nanf("")};
  EXPECT_THROW(mx_shared_exponent(e4m3, nan.data(), 2), std::domain_error);
  // The block's largest element lands in [2^emax, 2^(emax+1)) and saturates near the top.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1000.0f, 1000.0f);
  for (const ScaledFormat& f : {e4m3, e5m2, mxint8}) {
    for (int t = 0; t < 200; ++t) {
      std::vector<float> v(32);
      for (float& x : v) x = dist(rng);
      const int e = mx_shared_exponent(f, v.data(), v.size());
      float amax = 0.0f;
      for (float x : v) amax = std::max(amax, std::fabs(x));
      const double scaled = std::ldexp(static_cast<double>(amax), -e);
      EXPECT_GE(scaled, std::ldexp(1.0, f.emax_elem()));
      EXPECT_LT(scaled, std::ldexp(1.0, f.emax_elem() + 1));
      for (float x : v) {
        EXPECT_EQ(encode(f, x, e), reference_encode(f, std::ldexp(static_cast<double>(x), -e)));
      }
    }
  }
}

TEST(ScaledFormat, Fp32ScalesAsQuantizeLinear) {
  const ScaledFormat int8(ElementKind::kInt8, ScaleKind::kTensor);
  const ScaledFormat e4m3(ElementKind::kE4M3, ScaleKind::kTensor);
  EXPECT_EQ(tensor_scale(int8, 127.0f), 1.0f);
  EXPECT_EQ(tensor_scale(e4m3, 448.0f), 1.0f);
  EXPECT_EQ(tensor_scale(int8, 0.0f), 1.0f);
  EXPECT_EQ(tensor_scale(int8, 2.54f), 2.54f / 127.0f);
  EXPECT_THROW(tensor_scale(int8, -1.0f), std::domain_error);
  EXPECT_THROW(tensor_scale(int8, std::numeric_limits<float>::infinity()), std::domain_error);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  for (const ScaledFormat& f : {int8, e4m3}) {
    const float s = tensor_scale(f, 2.9f);
    for (int i = 0; i < 5000; ++i) {
      const float x = dist(rng);
      const float quotient = x / s;
      EXPECT_EQ(encode_scaled(f, x, s), reference_encode(f, static_cast<double>(quotient)));
    }
    EXPECT_EQ(decode_scaled(f, 0x01, s), element_value(f, 0x01) * static_cast<double>(s));
    EXPECT_THROW(encode_scaled(f, 1.0f, 0.0f), std::invalid_argument);
    EXPECT_THROW(encode_scaled(f, 1.0f, std::nanf("")), std::invalid_argument);
    EXPECT_THROW(encode_scaled(f, std::nanf(""), 1.0f), std::domain_error);
  }
}

TEST(ScaledFormat, WideAccumulatorMatchesTheInt64OneWhereBothExist) {
  std::mt19937_64 rng(5);
  for (int a : {2, 8, 20, 40, 62}) {
    Accumulator narrow(a);
    WideAccumulator wide(a);
    const int64_t span = int64_t{1} << std::min(a, 61);
    std::uniform_int_distribution<int64_t> dist(-span, span);
    for (int i = 0; i < 2000; ++i) {
      const int64_t t = dist(rng) / (i % 3 == 0 ? 1 : 8);
      narrow.add(t);
      wide.add(t);
      ASSERT_EQ(wide.value(), narrow.value()) << a;
      ASSERT_EQ(wide.overflow_count(), narrow.overflow_count()) << a;
    }
  }
  WideAccumulator big(126);
  big.add(Int128{1} << 124);
  big.add(Int128{1} << 124);  // 2^125 is one past the top
  EXPECT_EQ(big.value(), (Int128{1} << 125) - 1);
  EXPECT_EQ(big.overflow_count(), 1u);
  EXPECT_THROW(WideAccumulator(127), std::invalid_argument);
  EXPECT_THROW(WideAccumulator(8, 128), std::out_of_range);
}

TEST(ScaledFormat, OneMxBlockOfLargestProductsIsExactAtTheDefaultWidth) {
  for (const ScaledFormat& f : all_formats()) {
    Code top = 0;  // the largest magnitude code
    for (unsigned c = 0; c < 128; ++c) {
      if (!std::isnan(reference_value(f, c)) && reference_value(f, c) == f.max_element()) {
        top = static_cast<Code>(c);
      }
    }
    const Code neg_top = f.is_float() ? static_cast<Code>(top | 0x80) : Code{0x80};
    const std::vector<Code> a(32, neg_top);
    const WideDotResult r = dot(f, a, a);
    EXPECT_EQ(r.overflows, 0u) << f.name();
    EXPECT_EQ(r.acc, 32 * multiply(f, neg_top, neg_top)) << f.name();
    // The FP8 defaults are the least exact width: one bit less and the block saturates (INT8
    // keeps ONNX Runtime's int32, far above the 20 bits it needs).
    const int narrow_bits = f.is_float() ? f.acc_bits() - 1 : 20;
    const ScaledFormat narrow(f.element(), f.scale_kind(), narrow_bits);
    const WideDotResult n = dot(narrow, a, a);
    EXPECT_GT(n.overflows, 0u) << f.name();
    EXPECT_EQ(n.acc, (Int128{1} << (narrow_bits - 1)) - 1) << f.name();
    if (f.is_mx()) {
      const std::vector<Code> long_block(33, 0x01);
      EXPECT_THROW(dot(f, long_block, long_block), std::invalid_argument);
    } else {
      const std::vector<Code> long_row(100, 0x01);
      EXPECT_EQ(dot(f, long_row, long_row).acc, 100 * multiply(f, 0x01, 0x01));
    }
  }
  const ScaledFormat e4m3(ElementKind::kE4M3, ScaleKind::kTensor);
  const std::vector<Code> a = {0x38, 0xb8, 0x40};  // 1, -1, 2
  const std::vector<Code> b = {0x38, 0x38, 0x38};
  EXPECT_EQ(dot(e4m3, a, b, Int128{5}).acc, 5 + (Int128{2} << 18));
  EXPECT_THROW(dot(e4m3, a, std::vector<Code>{0x38}), std::invalid_argument);
}

TEST(ScaledFormat, RequantizeIsEncodeOfTheExactAccumulatorValue) {
  std::mt19937_64 rng(9);
  std::uniform_int_distribution<int64_t> accs(-(int64_t{1} << 30), int64_t{1} << 30);
  std::uniform_int_distribution<int> shifts(-45, 10);
  for (const ScaledFormat& f : all_formats()) {
    for (int i = 0; i < 20000; ++i) {
      const int64_t acc = accs(rng) >> (i % 25);
      const int scale = shifts(rng);
      const int out_exp = i % 5 - 2;
      const double v = std::ldexp(static_cast<double>(acc), scale - out_exp);
      const bool relu = i % 4 == 0;
      const Code want = relu && acc <= 0 ? Code{0} : reference_encode(f, v);
      ASSERT_EQ(requantize(f, acc, scale, out_exp, relu), want) << f.name() << " " << acc;
    }
    const Int128 top = (Int128{1} << (f.acc_bits() - 1)) - 1;
    EXPECT_EQ(element_value(f, requantize(f, top, 0, 0, false)), f.max_element());
    EXPECT_EQ(element_value(f, requantize(f, -top - 1, 0, 0, false)), -f.max_element());
    EXPECT_EQ(requantize(f, top, -400, 0, false), 0);
    EXPECT_THROW(requantize(f, top + 1, 0, 0, false), std::out_of_range);
    EXPECT_THROW(requantize(f, 1, 0, -128, false), std::out_of_range);
  }
}

TEST(ScaledFormat, Fp32RequantizationAsQLinearMatMul) {
  EXPECT_EQ(to_float(Int128{16777217}), 16777216.0f);  // tie to even
  EXPECT_EQ(to_float(Int128{16777219}), 16777220.0f);
  EXPECT_EQ(to_float((Int128{1} << 100) + (Int128{1} << 76)), std::ldexp(1.0f, 100));
  EXPECT_EQ(to_float((Int128{1} << 100) + (Int128{3} << 76)),
            std::ldexp(1.0f, 100) + std::ldexp(1.0f, 78));
  EXPECT_EQ(to_float(-(Int128{1} << 100) - (Int128{1} << 76) - 1),
            -(std::ldexp(1.0f, 100) + std::ldexp(1.0f, 77)));
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int64_t> accs(-(int64_t{1} << 40), int64_t{1} << 40);
  for (int i = 0; i < 10000; ++i) {
    const int64_t acc = accs(rng) >> (i % 30);
    ASSERT_EQ(to_float(acc), static_cast<float>(static_cast<double>(acc)));
  }
  const ScaledFormat int8(ElementKind::kInt8, ScaleKind::kTensor);
  const float sa = 0.0123f;
  const float sb = 0.0456f;
  const float so = 0.0789f;
  const double m = requant_multiplier(int8, sa, sb, so);
  EXPECT_EQ(m, static_cast<double>((sa * sb) / so));
  std::uniform_int_distribution<int64_t> small(-300000, 300000);
  for (int i = 0; i < 10000; ++i) {
    const int64_t acc = small(rng);
    const float y = static_cast<float>(acc) * ((sa * sb) / so);  // FP32 throughout
    const float clamped = std::max(-127.0f, std::min(127.0f, std::nearbyint(y)));
    const auto want = static_cast<Code>(static_cast<int>(clamped) & 0xff);
    ASSERT_EQ(requantize_scaled(int8, acc, m, false), want) << acc;
  }
  EXPECT_EQ(requantize_scaled(int8, -5, m, true), 0);
  const ScaledFormat e4m3(ElementKind::kE4M3, ScaleKind::kTensor);
  EXPECT_EQ(requant_multiplier(e4m3, 1.0f, 1.0f, 1.0f), std::ldexp(1.0, -18));
  EXPECT_EQ(requantize_scaled(e4m3, Int128{3} << 18, std::ldexp(1.0, -18), false), 0x44);  // 3
  EXPECT_THROW(requant_multiplier(e4m3, 0.0f, 1.0f, 1.0f), std::invalid_argument);
}

// The LBFP family members of docs/spec.md section 12: every code round-trips at several
// exponents, and the named defaults.
TEST(LbfpFamily, NamedMembersRoundTripEveryCode) {
  for (int w = 6; w <= 8; ++w) {
    for (int f = 3; f <= std::min(5, w - 2); ++f) {
      const LbfpFormat format(w, f, 8, 32);
      for (int c = 0; c < format.code_count(); ++c) {
        const auto code = static_cast<Code>(c);
        for (int e : {-100, 0, 100}) {
          const Code want = magnitude(format, code) == 0 ? Code{0} : code;
          ASSERT_EQ(encode(format, decode(format, code, e), e), want) << w << " " << f << " " << c;
        }
      }
    }
  }
}

}  // namespace
}  // namespace lbfp

namespace lbfp {
namespace {

// fp32(v * 2^e) in one rounding: against the double route where the double is exact (|v| below
// 2^53), through the subnormal range and the overflow to infinity.
TEST(ScaledFormat, ToFloatScaledRoundsOnce) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int64_t> values(-(int64_t{1} << 52), int64_t{1} << 52);
  for (int i = 0; i < 20000; ++i) {
    const int64_t v = values(rng) >> (i % 50);
    const int e = static_cast<int>(i % 400) - 240;  // results from below 2^-149 to beyond 2^128
    ASSERT_EQ(to_float_scaled(v, e), static_cast<float>(std::ldexp(static_cast<double>(v), e)))
        << v << " * 2^" << e;
  }
  EXPECT_EQ(to_float_scaled(3, -151), std::ldexp(1.0f, -149));  // 0.75 LSB: up to the smallest
  EXPECT_EQ(to_float_scaled(1, -150), 0.0f);                   // a tie: to even, zero
  EXPECT_EQ(to_float_scaled(-(Int128{1} << 120), 10), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(to_float_scaled((Int128{1} << 100) + (Int128{1} << 76), -100), 1.0f);  // tie, even
  EXPECT_EQ(to_float_scaled((Int128{1} << 100) + 1, -300), 0.0f);
}

// The short route of to_float and to_float_scaled (|v| < 2^53, -1000 <= e <= 900: one double
// product, one conversion) against their 128-bit rounding, which the same value takes when it is
// shifted left by 64 bits: the two must agree everywhere, subnormals and overflow included.
TEST(ScaledFormat, ToFloatShortRouteEqualsTheWideRounding) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int64_t> values(-(int64_t{1} << 53) + 1, (int64_t{1} << 53) - 1);
  for (int i = 0; i < 40000; ++i) {
    const int64_t v = values(rng) >> (i % 54);
    const int e = i % 3 == 0 ? static_cast<int>(i % 2001) - 1001 : static_cast<int>(i % 320) - 220;
    const Int128 wide = Int128{v} * (Int128{1} << 64);
    ASSERT_EQ(to_float_scaled(v, e), to_float_scaled(wide, e - 64)) << v << " * 2^" << e;
    ASSERT_EQ(to_float(v), std::ldexp(to_float(wide), -64)) << v;
  }
  for (int e : {-1001, -1000, -999, 899, 900, 901}) {
    for (int64_t v : {int64_t{1}, int64_t{-3}, (int64_t{1} << 53) - 1}) {
      ASSERT_EQ(to_float_scaled(v, e), to_float_scaled(Int128{v} * (Int128{1} << 64), e - 64));
    }
  }
  EXPECT_EQ(to_float((Int128{1} << 53) - 1), 9007199254740992.0f);  // the route's last value
  EXPECT_EQ(to_float(-(Int128{1} << 53) + 1), -9007199254740992.0f);
}

// mx_dot: each block's exact dot rounded to FP32 and added in block order from the bias.
TEST(ScaledFormat, MxDotSumsBlocksInFp32) {
  const ScaledFormat f(ElementKind::kE4M3, ScaleKind::kMxBlock);
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  const size_t n = 70;  // blocks of 32, 32 and 6
  std::vector<float> x(n), y(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = dist(rng) * (i < 32 ? 1e3f : 1e-3f);
    y[i] = dist(rng);
  }
  std::vector<Code> a(n), b(n);
  int ea[3], eb[3];
  for (size_t j = 0; j < 3; ++j) {
    const size_t first = 32 * j, len = std::min<size_t>(32, n - first);
    ea[j] = mx_shared_exponent(f, x.data() + first, len);
    eb[j] = mx_shared_exponent(f, y.data() + first, len);
    for (size_t i = first; i < first + len; ++i) {
      a[i] = encode(f, x[i], ea[j]);
      b[i] = encode(f, y[i], eb[j]);
    }
  }
  float want = 0.25f;
  for (size_t j = 0; j < 3; ++j) {
    const size_t first = 32 * j, len = std::min<size_t>(32, n - first);
    double block = 0;  // E4M3 block sums are below 2^41 units: exact in a double
    for (size_t i = first; i < first + len; ++i) {
      block += element_value(f, a[i]) * element_value(f, b[i]);
    }
    want += static_cast<float>(std::ldexp(block, ea[j] + eb[j]));
  }
  const MxDotResult got = mx_dot(f, a.data(), ea, b.data(), eb, n, 0.25f);
  EXPECT_EQ(got.value, want);
  EXPECT_EQ(got.overflows, 0u);
  EXPECT_THROW(mx_dot(ScaledFormat(ElementKind::kInt8, ScaleKind::kTensor), a.data(), ea, b.data(),
                      eb, n),
               std::invalid_argument);
}

// ONNX Runtime's int32 bias: round(fp32(bias / fp32(sa * sb))), ties to even; saturated to A bits.
TEST(ScaledFormat, BiasToAccumulatorScaled) {
  const ScaledFormat int8(ElementKind::kInt8, ScaleKind::kTensor);
  EXPECT_EQ(bias_to_accumulator_scaled(int8, 2.5f, 1.0f, 1.0f), 2);
  EXPECT_EQ(bias_to_accumulator_scaled(int8, 3.5f, 1.0f, 1.0f), 4);
  EXPECT_EQ(bias_to_accumulator_scaled(int8, -1.0f, 0.5f, 0.25f), -8);
  EXPECT_EQ(bias_to_accumulator_scaled(int8, 1e30f, 1e-10f, 1e-10f), (Int128{1} << 31) - 1);
  EXPECT_EQ(bias_to_accumulator_scaled(int8, -1.0f, 1e-30f, 1e-30f), -(Int128{1} << 31));
  EXPECT_EQ(bias_to_accumulator_scaled(int8, 0.0f, 1e-30f, 1e-30f), 0);  // 0 / 0 is 0
  const ScaledFormat e5m2(ElementKind::kE5M2, ScaleKind::kTensor);  // L = -32
  EXPECT_EQ(bias_to_accumulator_scaled(e5m2, 1.0f, 1.0f, 1.0f), Int128{1} << 32);
  EXPECT_THROW(bias_to_accumulator_scaled(int8, std::nanf(""), 1.0f, 1.0f), std::domain_error);
  EXPECT_EQ(dequantize_accumulator(3, requant_multiplier(int8, 0.5f, 0.25f, 1.0f)), 0.375f);
}

}  // namespace
}  // namespace lbfp
