#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

#include "golden.h"
#include "lbfp/arith.h"

namespace lbfp::cli {
namespace {

struct GoldenRun {
  int rc;
  std::string out;
  std::string err;
};

GoldenRun run(GoldenOptions options, const std::string& input) {
  std::istringstream in(input);
  std::ostringstream out;
  std::ostringstream err;
  const int rc = run_golden(options, in, out, err);
  return {rc, out.str(), err.str()};
}

std::string fmt_double(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g\n", v);
  return buf;
}

GoldenOptions op(const std::string& name) {
  GoldenOptions o;
  o.operation = name;
  return o;
}

TEST(GoldenCli, EncodeParsesPythonReprAndRoundsToFp32) {
  GoldenOptions o = op("encode");
  o.exponent = 1;
  const GoldenRun r = run(o, "1.0\n-0.5\ninf\n-inf\n-0.0\n0.0\n1e-300\n1e+300\n5e-324\n3.0000000000000004\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  std::ostringstream want;
  const double inputs[] = {1.0, -0.5, HUGE_VAL, -HUGE_VAL, -0.0, 0.0, 1e-300, 1e300, 5e-324,
                           3.0000000000000004};
  for (double x : inputs) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", encode(lbfp8(), static_cast<float>(x), 1));
    want << buf << "\n";
  }
  EXPECT_EQ(r.out, want.str());
  EXPECT_EQ(r.out.substr(0, 10), "0x70\n0xe0\n");  // by hand: levels 112 and 96
}

TEST(GoldenCli, EncodeAcceptsValuesBeyondDoubleRange) {
  GoldenOptions o = op("encode");
  o.exponent = 0;
  const GoldenRun r = run(o, "1e400\n-1e400\n1e-400\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "0x7f\n0xff\n0x00\n");
}

TEST(GoldenCli, MulDotRequant) {
  GoldenRun r = run(op("mul"), "0x10 0x10\n0x81 0x01\n0x80 0x7f\n0x7f 0x7f\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "1024\n-279\n0\n15400960\n");

  GoldenOptions d = op("dot");
  d.acc_bits = 25;
  r = run(d, "0x7f,0x7f,0xff 0x7f,0x7f,0x7f\n0x10 0x10\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out,
            std::to_string((int64_t{1} << 24) - 1 - (int64_t{470} << 15)) + " 1\n1024 0\n");

  GoldenOptions q = op("requant");
  q.scale = -24;
  q.exponent = 0;
  r = run(q, "16777216\n-16777216\n0\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "0x7f\n0xff\n0x00\n");
  q.relu = true;
  r = run(q, "-16777216\n");
  EXPECT_EQ(r.out, "0x00\n");
}

TEST(GoldenCli, BfpFormat) {
  GoldenOptions o = op("mul");
  o.format = "bfp8";
  const GoldenRun r = run(o, "0x7f 0x81\n0xff 0xff\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "-16129\n1\n");
}

TEST(GoldenCli, BadInputNamesTheLineAndWritesNothing) {
  struct Case {
    std::string operation;
    std::string input;
    std::string needle;
  };
  const Case cases[] = {
      {"encode", "1.0\nnan\n", "line 2"},
      {"encode", "1.0\n2.0\nabc\n", "line 3"},
      {"encode", "1.0\n\n", "line 2: empty line"},
      {"mul", "0x10 0x100\n", "0x100"},
      {"mul", "0x10\n", "line 1"},
      {"mul", "0xzz 0x01\n", "'0xzz'"},
      {"dot", "0x01,0x02 0x03\n", "different lengths"},
      {"dot", "0x01,,0x02 0x03,0x04,0x05\n", "line 1"},
      {"requant", "12x\n", "line 1"},
      {"requant", "4294967296\n", "does not fit in 32 bits"},
  };
  for (const Case& c : cases) {
    GoldenOptions o = op(c.operation);
    o.exponent = 0;
    o.scale = 0;
    const GoldenRun r = run(o, c.input);
    EXPECT_EQ(r.rc, kExitBadInput) << c.input;
    EXPECT_EQ(r.out, "") << c.input;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
  }
}

TEST(GoldenCli, BadOptionsAreRejectedBeforeReading) {
  GoldenOptions o = op("encode");
  o.exponent = 200;
  EXPECT_EQ(run(o, "1.0\n").rc, kExitBadInput);
  o = op("encode");
  EXPECT_NE(run(o, "1.0\n").err.find("--exp"), std::string::npos);
  o = op("mul");
  o.format = "lbfp9";
  EXPECT_EQ(run(o, "0x01 0x01\n").rc, kExitBadInput);
  o.format = "fp8";
  EXPECT_NE(run(o, "0x01 0x01\n").err.find("unknown format 'fp8'"), std::string::npos);
}

TEST(GoldenCli, FormatNames) {
  EXPECT_EQ(std::get<LbfpFormat>(parse_format("lbfp8", {}, {}, {})), lbfp8());
  EXPECT_EQ(std::get<BfpFormat>(parse_format("bfp8", {}, {}, {})), bfp8());
  EXPECT_EQ(std::get<LbfpFormat>(parse_format("lbfp6", {}, {}, 24)), LbfpFormat(6, 3, 8, 24));
  EXPECT_THROW(parse_format("lbfp", {}, {}, {}), std::invalid_argument);
  EXPECT_THROW(parse_format("bfp8", 2, {}, {}), std::invalid_argument);
}

TEST(GoldenCli, IndustryFormatNames) {
  EXPECT_EQ(std::get<ScaledFormat>(parse_golden_format("mxint8", {}, {}, {})),
            ScaledFormat(ElementKind::kInt8, ScaleKind::kMxBlock));
  EXPECT_EQ(std::get<ScaledFormat>(parse_golden_format("mxfp8-e4m3", {}, {}, {})),
            ScaledFormat(ElementKind::kE4M3, ScaleKind::kMxBlock));
  EXPECT_EQ(std::get<ScaledFormat>(parse_golden_format("mxfp8-e5m2", {}, {}, {})),
            ScaledFormat(ElementKind::kE5M2, ScaleKind::kMxBlock));
  EXPECT_EQ(std::get<ScaledFormat>(parse_golden_format("fp8-e4m3", {}, {}, 48)),
            ScaledFormat(ElementKind::kE4M3, ScaleKind::kTensor, 48));
  EXPECT_EQ(std::get<ScaledFormat>(parse_golden_format("fp8-e5m2", {}, {}, {})),
            ScaledFormat(ElementKind::kE5M2, ScaleKind::kTensor));
  EXPECT_EQ(std::get<ScaledFormat>(parse_golden_format("int8", {}, {}, {})),
            ScaledFormat(ElementKind::kInt8, ScaleKind::kTensor));
  EXPECT_EQ(std::get<LbfpFormat>(parse_golden_format("lbfp7", 4, {}, {})),
            LbfpFormat(7, 4, 8, 32));
  EXPECT_EQ(std::get<BfpFormat>(parse_golden_format("bfp8", {}, {}, {})), bfp8());
  EXPECT_THROW(parse_golden_format("int8", 3, {}, {}), std::invalid_argument);
  EXPECT_THROW(parse_golden_format("mxfp8-e4m3", {}, 8, {}), std::invalid_argument);
  EXPECT_THROW(parse_golden_format("mxint8", {}, {}, 0), std::invalid_argument);
  EXPECT_THROW(parse_golden_format("mxint8", {}, {}, 127), std::invalid_argument);
  EXPECT_THROW(parse_golden_format("MXINT8", {}, {}, {}), std::invalid_argument);
  EXPECT_THROW(parse_golden_format("mxfp8", {}, {}, {}), std::invalid_argument);
}

TEST(GoldenCli, IndustryFormatsThroughEveryOperation) {
  GoldenOptions o = op("encode");
  o.format = "fp8-e4m3";
  o.exponent = 0;
  GoldenRun r = run(o, "1.0\n448\n1e9\n-464\n0.0009765625\n");  // 2^-10: tie to 0
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "0x38\n0x7e\n0x7e\n0xfe\n0x00\n");
  o.format = "mxfp8-e5m2";
  o.exponent = -15;  // amax in [1, 2): E = 0 - 15
  r = run(o, "1.5\n-1.75\n");
  EXPECT_EQ(r.out, "0x7a\n0xfb\n") << r.err;  // 1.5 * 2^15 = 6 * 2^13; 1.75 * 2^15 = 57344
  o = op("decode");
  o.format = "mxint8";
  o.exponent = 1;
  r = run(o, "0x40\n0x80\n0xff\n");
  EXPECT_EQ(r.out, "2\n-4\n-0.03125\n") << r.err;
  o.format = "fp8-e5m2";
  o.exponent = 0;
  r = run(o, "0x7c\n");
  EXPECT_EQ(r.rc, kExitBadInput);
  EXPECT_NE(r.err.find("code 0x7c is E5M2 infinity"), std::string::npos) << r.err;
  o = op("mul");
  o.format = "mxfp8-e5m2";
  r = run(o, "0x7b 0x7b\n0x01 0x81\n");
  EXPECT_EQ(r.out, "14123288431433875456\n-1\n") << r.err;  // 49 << 58
  o.format = "fp8-e4m3";
  r = run(o, "0x7f 0x01\n");
  EXPECT_NE(r.err.find("E4M3 NaN"), std::string::npos) << r.err;
  o = op("dot");
  o.format = "mxfp8-e4m3";
  const std::string block = "0x7e,0x7e,0x7e,0x7e,0x7e,0x7e,0x7e,0x7e";
  const std::string row = block + "," + block + "," + block + "," + block;
  r = run(o, row + " " + row + "\n");
  EXPECT_EQ(r.out, "1683627180032 0\n") << r.err;  // 32 * 196 * 2^28
  o.acc_bits = 41;
  r = run(o, row + " " + row + "\n");
  EXPECT_EQ(r.out, "1099511627775 12\n") << r.err;  // steps 21..32 saturate
  r = run(o, row + ",0x01 " + row + ",0x01\n");
  EXPECT_NE(r.err.find("at most 32"), std::string::npos) << r.err;
  o = op("requant");
  o.format = "mxfp8-e5m2";
  o.scale = -32;
  o.exponent = 0;
  r = run(o, "14123288431433875456\n-590295810358705651711\n590295810358705651712\n");
  EXPECT_EQ(r.rc, kExitBadInput);  // 2^69 is one past the 70-bit range
  EXPECT_NE(r.err.find("line 3: accumulator value 590295810358705651712 does not fit in 70 bits"),
            std::string::npos)
      << r.err;
  r = run(o, "14123288431433875456\n-590295810358705651711\n4294967296\n");
  EXPECT_EQ(r.out, "0x7b\n0xfb\n0x3c\n") << r.err;  // saturated both ways; 2^32 * 2^-32 = 1
}

TEST(GoldenCli, Fp32ScaleAndMxScaleOperations) {
  GoldenOptions o = op("encode-fp32");
  o.format = "fp8-e4m3";
  o.fp32_scale = 0.5;
  GoldenRun r = run(o, "1.0\n2.9\n-500\n");
  EXPECT_EQ(r.out, "0x40\n0x4c\n0xfe\n") << r.err;  // 2; 5.8 -> 6 = 1.5 * 4; saturated
  o = op("decode-fp32");
  o.format = "int8";
  o.fp32_scale = 0.1;
  r = run(o, "0x7f\n");
  EXPECT_EQ(r.out, fmt_double(127.0 * static_cast<double>(0.1f))) << r.err;
  o = op("requant-fp32");
  o.format = "int8";
  o.scale_a = 0.0123;
  o.scale_b = 0.0456;
  o.scale_out = 0.0789;
  o.relu = true;
  r = run(o, "1000\n-5\n");
  EXPECT_EQ(r.out, "0x07\n0x00\n") << r.err;
  o = op("tensor-scale");
  o.format = "fp8-e4m3";
  r = run(o, "448\n0\n");
  EXPECT_EQ(r.out, "1\n1\n") << r.err;
  o = op("mx-scale");
  o.format = "mxfp8-e4m3";
  r = run(o, "0.5,-3,1\n0\n");
  EXPECT_EQ(r.out, "-7\n-8\n") << r.err;
  std::string values = "1";
  for (int i = 0; i < 32; ++i) values += ",1";
  r = run(o, values + "\n");
  EXPECT_NE(r.err.find("33 values: an MX block holds at most 32"), std::string::npos) << r.err;
  o.format = "fp8-e4m3";
  r = run(o, "1\n");
  EXPECT_NE(r.err.find("applies to mxint8, mxfp8-e4m3 and mxfp8-e5m2 only"), std::string::npos);
  o = op("encode-fp32");
  o.format = "int8";
  EXPECT_NE(run(o, "1\n").err.find("needs --fp32-scale"), std::string::npos);
  o.fp32_scale = 1e300;  // infinite as FP32
  EXPECT_NE(run(o, "1\n").err.find("is not a finite positive FP32 number"), std::string::npos);
  o.format = "mxint8";
  o.fp32_scale = 1.0;
  EXPECT_NE(run(o, "1\n").err.find("applies to fp8-e4m3, fp8-e5m2 and int8 only, not mxint8"),
            std::string::npos);
}

TEST(GoldenCli, ExamplePrintsTheLayer) {
  std::ostringstream out;
  run_golden_example(out);
  EXPECT_NE(out.str().find("LUT[f] = round(2^8 * 2^(f/16)): 256 267"), std::string::npos);
  EXPECT_NE(out.str().find("all outputs"), std::string::npos);
}

}  // namespace
}  // namespace lbfp::cli
