// The combinational units of rtl/ against the golden reference: every LBFP8, BFP8, INT8 and
// FP8 operand pair through the multipliers, and the requantizer on every boundary constant and
// at random.
#include <gtest/gtest.h>

#include "lbfp/rtl/cosim.h"

namespace lbfp::rtl {
namespace {

std::string describe(const CosimReport& report) {
  std::string text = report.name + ": " + std::to_string(report.mismatches) + " mismatches";
  for (const std::string& d : report.details) text += "\n  " + d;
  return text;
}

TEST(RtlMultiplier, LbfpExhaustiveMatchesGolden) {
  const CosimReport report = cosim_lbfp_mul();
  EXPECT_EQ(report.cases, 65536u);
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
}

TEST(RtlMultiplier, BfpExhaustiveMatchesGolden) {
  const CosimReport report = cosim_bfp_mul();
  EXPECT_EQ(report.cases, 65536u);
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
}

TEST(RtlMultiplier, Int8ExhaustiveMatchesGolden) {
  const CosimReport report = cosim_int8_mul();
  EXPECT_EQ(report.cases, 65536u);
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
}

TEST(RtlMultiplier, Fp8ExhaustiveMatchesGolden) {
  const CosimReport report = cosim_fp8_mul();
  EXPECT_EQ(report.cases, 2u * 65536u);
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
}

// The INT8 / MXINT8 (bfp_mac), FP8 E4M3 and E5M2 (fp8_mac) MACs after every cycle: every code
// pair's product as a one-term reduction, random reductions, and each accumulator driven exactly
// onto its limits, one LSB past them and back, and far past them.
TEST(RtlFormatMac, EveryPairRandomAndSaturatingMatchGolden) {
  const CosimReport report = cosim_fmt_mac(1, 20000);
  EXPECT_GT(report.cases, 3u * (65536u + 20000u));
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
  EXPECT_GT(report.saturated_outputs, 0u);  // the saturating streams did saturate
}

// The INT8 / MXINT8 (pe.sv, UseBfp = 1), FP8 E4M3 and E5M2 (pe_fp8.sv) output-stationary PEs,
// each textbook and with the operand hold, after every cycle: the MACs' stream with last_i and
// random start values (bias, sticky flag), forwarding, accumulator, flags and done_o.
TEST(RtlFormatPe, EveryPairRandomBiasedAndSaturatingMatchGolden) {
  const CosimReport report = cosim_fmt_pe(1, 20000);
  EXPECT_GT(report.cases, 6u * (65536u + 20000u));
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
  EXPECT_GT(report.saturated_outputs, 0u);  // the saturating streams did saturate
}

TEST(RtlRequant, Acc32BoundariesAndRandomMatchGolden) {
  const CosimReport report = cosim_requant(32, 1, 50000);
  EXPECT_GT(report.cases, 50000u);
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
}

TEST(RtlRequant, Acc16BoundariesAndRandomMatchGolden) {
  const CosimReport report = cosim_requant(16, 2, 50000);
  EXPECT_GT(report.cases, 50000u);
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
}

TEST(RtlRequant, RejectsAccumulatorWidthThatWasNotVerilated) {
  EXPECT_THROW(cosim_requant(24, 1, 1), std::invalid_argument);
}

}  // namespace
}  // namespace lbfp::rtl
