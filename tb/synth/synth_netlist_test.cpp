// The gate-level netlists of the two multipliers, as `lbfp synth` produces them, simulated by
// Verilator on all 65,536 operand pairs against the golden multiply, so that the reported area
// and energy belong to correct circuits. Also checks the liberty reader and the energy model on
// facts that do not depend on the flow.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/synth/array_stream.h"
#include "lbfp/scaled_format.h"
#include "lbfp/synth/flow.h"
#include "lbfp/synth/layer_tile.h"
#include "lbfp/synth/liberty.h"
#include "lbfp/synth/power.h"
#include "lbfp/synth/streams.h"
#include "lbfp/synth/timed_activity.h"

namespace lbfp::synth {
namespace {

Tools test_tools() {
  Tools t = default_tools();
  t.work_dir = LBFP_SYNTH_TEST_WORK_DIR;
  return t;
}

#define REQUIRE_LIBERTY()                                                              \
  if (!std::filesystem::exists(test_tools().liberty)) {                                \
    GTEST_SKIP() << "no liberty at " << test_tools().liberty << ": run scripts/setup.sh"; \
  }

TEST(Liberty, ReadsTheOsuCells) {
  REQUIRE_LIBERTY();
  const LibertyLibrary lib = read_liberty(test_tools().liberty);
  EXPECT_DOUBLE_EQ(lib.nominal_voltage, 1.8);
  const LibertyCell& and2 = lib.cell("AND2X1");
  EXPECT_DOUBLE_EQ(and2.area, 32.0);
  ASSERT_NE(and2.pin("A"), nullptr);
  EXPECT_DOUBLE_EQ(and2.pin("A")->capacitance_pf, 0.0129077);
  EXPECT_EQ(and2.pin("Y")->function, "(A B)");
  EXPECT_EQ(and2.pin("Y")->internal_power.size(), 2u);
  // The first entry of AND2X1's rise_power table for related pin A, at its own index point.
  EXPECT_NEAR(and2.pin("Y")->internal_power[0].rise->lookup(0.005, 0.06), 0.012351, 1e-9);
  ASSERT_TRUE(lib.cell("DFFSR").ff.has_value());
  EXPECT_EQ(lib.cell("DFFSR").ff->clear, "(!R)");
  EXPECT_TRUE(lib.cell("LATCH").is_latch_or_tristate);
}

TEST(Liberty, FunctionsBecomeVerilog) {
  EXPECT_EQ(liberty_function_to_verilog("(!((A B)+C))"), "(~((A & B) | C))");
  EXPECT_EQ(liberty_function_to_verilog("(!((S A) + (!S B)))"), "(~((S & A) | (~S & B)))");
  EXPECT_EQ(liberty_function_to_verilog("((A^B)^C)"), "((A ^ B) ^ C)");
}

// `lbfp synth` builds each unit folder once (the plain BFP8 multiplier is the baseline of two
// kinds and the INT8 multiplier, the BFP8 MAC the INT8 MAC): two units may share a folder name only if they are the same
// circuit played the same way; the format may differ (BFP8 and INT8 codes: the measurements are
// kept per format).
TEST(SynthUnits, UnitsSharingAFolderAreTheSameUnit) {
  int shared = 0;
  for (const Unit& a : units()) {
    for (const Unit& b : units()) {
      if (&a == &b || a.name() != b.name()) continue;
      ++shared;
      EXPECT_EQ(a.top, b.top) << a.name();
      // BFP8, INT8 and MXINT8 codes on bfp_*; FP8 and MXFP8 on fp8*.
      const auto element = [](const std::string& f) {
        if (f == "bfp8" || f == "mxint8") return std::string("int8");
        return f.rfind("mx", 0) == 0 ? f.substr(2) : f;
      };
      EXPECT_EQ(element(a.format), element(b.format)) << a.name();
      EXPECT_EQ(a.parameters, b.parameters) << a.name();
      EXPECT_EQ(a.held, b.held) << a.name();
      EXPECT_EQ(a.sequential, b.sequential) << a.name();
    }
  }
  EXPECT_EQ(shared, 28) << "bfp_mul of mul, mulheld and fmtmul (INT8), bfp_mac of mac and fmtmac "
                           "(INT8, MXINT8), bfp_pe of pe and fmtpe (INT8, MXINT8), its iso twin "
                           "of pe and fmtpe (INT8), the FP8 MACs and PEs of FP8 and MXFP8, seen "
                           "from every side";
}

// Each unit is synthesized, and each multiplier verilated, once for the whole suite.
const SynthResult& synthesized(const Unit& unit) {
  static std::map<std::string, SynthResult> cache;
  auto it = cache.find(unit.name());
  if (it == cache.end()) it = cache.emplace(unit.name(), synthesize(test_tools(), unit)).first;
  return it->second;
}
struct Built {
  SynthResult synth;
  std::string simulator;
};
const Built& built(const Unit& unit) {
  static std::map<std::string, Built> cache;
  auto it = cache.find(unit.name());
  if (it == cache.end()) {
    const Tools tools = test_tools();
    const LibertyLibrary lib = read_liberty(tools.liberty);
    Built b;
    b.synth = synthesized(unit);
    b.simulator = build_activity_model(tools, unit, b.synth, lib);
    it = cache.emplace(unit.name(), std::move(b)).first;
  }
  return it->second;
}

Activity exhaustive_run(const Unit& unit, SynthResult& synth) {
  const Built& b = built(unit);
  synth = b.synth;
  return run_activity(b.simulator, b.synth.dir, "exhaustive", exhaustive_stream(), true);
}

// Every unit `lbfp synth` measures goes through the real flow (synth/flow.tcl): a top whose
// parameter override makes Yosys rename it (a fill literal on a parameterized port did) fails here
// rather than in the middle of a long run.
TEST(SynthUnits, EveryUnitSynthesizes) {
  REQUIRE_LIBERTY();
  for (const Unit& u : units()) {
    // The 4x4 arrays take minutes each; SynthArray checks the same tops at 2x2.
    if (is_array(u)) continue;
    // SynthFormats.UnitsSynthesize (label long); the INT8 MAC is bfp_mac, synthesized here.
    if (u.kind == "fmtmul" || u.kind == "fmtmac" || u.kind == "fmtpe") continue;
    SCOPED_TRACE(u.name());
    const SynthResult& r = synthesized(u);
    EXPECT_GT(r.area_um2, 0.0);
    EXPECT_GT(r.cell_count, 0);
  }
}

TEST(SynthNetlist, LbfpMultiplierMatchesGoldenOnAllPairs) {
  REQUIRE_LIBERTY();
  SynthResult synth;
  const Activity a = exhaustive_run(unit("mul", "lbfp8"), synth);
  EXPECT_GT(synth.area_um2, 0.0);
  ASSERT_EQ(a.outputs.size(), 65536u);
  int mismatches = 0;
  for (const std::vector<uint64_t>& row : a.outputs) {
    ASSERT_EQ(row.size(), 4u);  // a, b, neg_o, mag_o
    const Code ca = static_cast<Code>(row[0]);
    const Code cb = static_cast<Code>(row[1]);
    const LbfpProduct p = multiply(lbfp8(), ca, cb);
    const uint64_t mag = p.is_zero() ? 0 : uint64_t{p.lut_value} << p.shift;
    if (row[2] != (p.negative ? 1u : 0u) || row[3] != mag) {
      if (++mismatches <= 10) {
        ADD_FAILURE() << "a=0x" << std::hex << row[0] << " b=0x" << row[1] << ": netlist neg="
                      << row[2] << " mag=0x" << row[3] << ", golden neg=" << p.negative
                      << " mag=0x" << mag;
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(SynthNetlist, BfpMultiplierMatchesGoldenOnAllPairs) {
  REQUIRE_LIBERTY();
  SynthResult synth;
  const Activity a = exhaustive_run(unit("mul", "bfp8"), synth);
  ASSERT_EQ(a.outputs.size(), 65536u);
  int mismatches = 0;
  for (const std::vector<uint64_t>& row : a.outputs) {
    ASSERT_EQ(row.size(), 3u);  // a, b, prod_o
    const Code ca = static_cast<Code>(row[0]);
    const Code cb = static_cast<Code>(row[1]);
    // -128 (0x80) is no BFP8 code; the 8x8 signed multiplier still multiplies it.
    const int64_t expected =
        (ca == 0x80 || cb == 0x80)
            ? int64_t{static_cast<int8_t>(ca)} * int64_t{static_cast<int8_t>(cb)}
            : multiply(bfp8(), ca, cb);
    const uint64_t expected_bits = static_cast<uint64_t>(expected) & 0xffffu;
    if (row[2] != expected_bits) {
      if (++mismatches <= 10) {
        ADD_FAILURE() << "a=0x" << std::hex << row[0] << " b=0x" << row[1] << ": netlist 0x"
                      << row[2] << ", golden 0x" << expected_bits;
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(SynthNetlist, IsolatedBfpMultiplierMatchesGoldenOnAllPairs) {
  REQUIRE_LIBERTY();
  SynthResult synth;
  const Activity a = exhaustive_run(unit("mul", "bfp8", "iso"), synth);
  ASSERT_EQ(a.outputs.size(), 65536u);
  // Operand isolation adds gates, never removes the multiplier.
  EXPECT_GT(synth.area_um2, built(unit("mul", "bfp8")).synth.area_um2);
  int mismatches = 0;
  for (const std::vector<uint64_t>& row : a.outputs) {
    ASSERT_EQ(row.size(), 3u);  // a, b, prod_o
    const int64_t expected = int64_t{static_cast<int8_t>(row[0])} * static_cast<int8_t>(row[1]);
    if (row[2] != (static_cast<uint64_t>(expected) & 0xffffu)) {
      if (++mismatches <= 10) {
        ADD_FAILURE() << "a=0x" << std::hex << row[0] << " b=0x" << row[1] << ": netlist 0x"
                      << row[2] << ", expected 0x" << (static_cast<uint64_t>(expected) & 0xffffu);
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

// The FP8 multipliers' netlists (rtl/fp8_mul.sv) on all 65,536 operand pairs against the golden
// ScaledFormat product; a pair the golden model rejects (NaN, infinity) has no product to check.
// (INT8's multiplier is bfp_mul's netlist, checked above on every pair, -128 included.)
TEST(SynthFormats, UnitsSynthesize) {
  REQUIRE_LIBERTY();
  for (const Unit& u : units()) {
    if (u.kind != "fmtmul" && u.kind != "fmtmac" && u.kind != "fmtpe") continue;
    SCOPED_TRACE(u.name());
    const SynthResult& r = synthesized(u);
    EXPECT_GT(r.area_um2, 0.0);
    EXPECT_GT(r.cell_count, 0);
  }
}

TEST(SynthFormats, Fp8MultipliersMatchGoldenOnAllPairs) {
  REQUIRE_LIBERTY();
  __extension__ typedef unsigned __int128 UInt128;
  for (const ElementKind element : {ElementKind::kE4M3, ElementKind::kE5M2}) {
    const bool e4m3 = element == ElementKind::kE4M3;
    const ScaledFormat format(element, ScaleKind::kTensor);
    const int bits = e4m3 ? 37 : 65;
    SynthResult synth;
    const Activity a = exhaustive_run(unit("fmtmul", e4m3 ? "fp8-e4m3" : "fp8-e5m2"), synth);
    ASSERT_EQ(a.outputs.size(), 65536u);
    int mismatches = 0;
    int checked = 0;
    for (const std::vector<uint64_t>& row : a.outputs) {
      // a, b, then prod_o: one column, or (65 bits) three 32-bit words, least significant first.
      ASSERT_EQ(row.size(), e4m3 ? 3u : 5u);
      UInt128 got = 0;
      for (size_t w = row.size() - 1; w >= 2; --w) got = (got << (e4m3 ? 0 : 32)) | row[w];
      Int128 golden = 0;
      try {
        golden = multiply(format, static_cast<Code>(row[0]), static_cast<Code>(row[1]));
      } catch (const std::out_of_range&) {
        continue;
      }
      ++checked;
      const UInt128 mask = (static_cast<UInt128>(1) << bits) - 1;
      if ((got & mask) != (static_cast<UInt128>(golden) & mask) && ++mismatches <= 10) {
        ADD_FAILURE() << format.name() << " a=0x" << std::hex << row[0] << " b=0x" << row[1]
                      << ": netlist " << to_decimal(static_cast<Int128>(got)) << ", golden "
                      << to_decimal(golden);
      }
    }
    EXPECT_EQ(checked, e4m3 ? 254 * 254 : 248 * 248);
    EXPECT_EQ(mismatches, 0);
  }
}

// The MACs' netlists (`--units fmtmac`: bfp_mac as INT8's, fp8e4m3_mac, fp8e5m2_mac) against the
// golden MAC, multiply and WideAccumulator's saturating step in k order, after every operation:
// every value code pair as a one-term reduction, the layer tile's and the uniform stream as
// `lbfp synth` plays them, and reductions of the largest positive, then negative product far past
// both limits of the accumulator.
TEST(SynthFormats, MacsMatchGoldenOnPairsStreamsAndSaturation) {
  REQUIRE_LIBERTY();
  __extension__ typedef unsigned __int128 UInt128;
  const LayerTile tile = read_layer_tile(lenet5_fc1_tile_path(test_tools().source_dir));
  for (const char* name : {"int8", "fp8-e4m3", "fp8-e5m2"}) {
    SCOPED_TRACE(name);
    const ElementKind element = std::string(name) == "int8"       ? ElementKind::kInt8
                                : std::string(name) == "fp8-e4m3" ? ElementKind::kE4M3
                                                                  : ElementKind::kE5M2;
    const ScaledFormat format(element, ScaleKind::kTensor);
    const int bits = format.acc_bits();
    const auto valid = [&](const Op& op) {
      try {
        multiply(format, op.a, op.b);
        return true;
      } catch (const std::out_of_range&) {
        return false;
      }
    };
    std::vector<Op> stream;
    for (Op op : exhaustive_stream()) {
      if (!valid(op)) continue;
      op.first = true;
      stream.push_back(op);
    }
    const size_t pairs = stream.size();
    for (const std::vector<Op>& s : {layer_stream(tile, name, 4096), uniform_stream(name, 4096, 3)}) {
      stream.insert(stream.end(), s.begin(), s.end());
    }
    // The largest product (INT8: (-128)^2; FP8: the largest magnitude squared), then its negative.
    const Op big = element == ElementKind::kInt8 ? Op{0x80, 0x80}
                   : element == ElementKind::kE4M3 ? Op{0x7e, 0x7e}
                                                   : Op{0x7b, 0x7b};
    const Int128 big_product = multiply(format, big.a, big.b);
    const size_t run = static_cast<size_t>(((static_cast<Int128>(1) << (bits - 1)) / big_product) +
                                           8);
    // Down: INT8 -128 * 127; FP8 the same magnitude with the sign bit flipped.
    const Op down = element == ElementKind::kInt8 ? Op{0x80, 0x7f}
                                                  : Op{big.a, static_cast<uint8_t>(big.b ^ 0x80)};
    for (size_t k = 0; k < 3 * run; ++k) {
      Op op = k < run ? big : down;
      op.first = k == 0;
      stream.push_back(op);
    }
    const Built& b = built(unit("fmtmac", name));
    const Activity a = run_activity(b.simulator, b.synth.dir, "golden_check", stream, true);
    ASSERT_EQ(a.outputs.size(), stream.size());
    WideAccumulator acc(bits);
    int mismatches = 0;
    uint64_t saturated = 0;
    for (size_t i = 0; i < stream.size(); ++i) {
      const Op& op = stream[i];
      if (op.first) acc = WideAccumulator(bits);
      acc.add(multiply(format, op.a, op.b));
      // a, b, acc_o (one column, or three 32-bit words for A = 70), ovf_o.
      const std::vector<uint64_t>& row = a.outputs[i];
      ASSERT_EQ(row.size(), bits > 64 ? 6u : 4u);
      UInt128 got = 0;
      for (size_t w = row.size() - 2; w >= 2; --w) got = (got << (bits > 64 ? 32 : 0)) | row[w];
      const UInt128 mask = (static_cast<UInt128>(1) << bits) - 1;
      const bool ovf = acc.overflow_count() > 0;
      saturated += ovf ? 1 : 0;
      if (((got & mask) != (static_cast<UInt128>(acc.value()) & mask) ||
           row.back() != (ovf ? 1u : 0u)) &&
          ++mismatches <= 10) {
        ADD_FAILURE() << "operation " << i << " a=0x" << std::hex << unsigned{op.a} << " b=0x"
                      << unsigned{op.b} << std::dec << ": netlist "
                      << to_decimal(static_cast<Int128>(got & mask)) << " ovf " << row.back()
                      << ", golden " << to_decimal(acc.value()) << " ovf " << ovf;
      }
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(pairs, element == ElementKind::kInt8   ? 65536u
                     : element == ElementKind::kE4M3 ? 254u * 254u
                                                     : 248u * 248u);
    EXPECT_GT(saturated, run);  // the saturating reductions did saturate
  }
}

// The PEs' netlists (`--units fmtpe`: bfp_pe as INT8's, fp8e4m3_pe, fp8e5m2_pe, each textbook and
// with the operand hold) against the golden PE, multiply and WideAccumulator's saturating step in
// k order from a zero bias: every value code pair as a one-term reduction, the layer tile's and
// the uniform stream as `lbfp synth` plays them, and reductions of the largest positive, then
// negative product far past both limits of the accumulator; after every clock cycle, the
// accumulator and its flag two cycles behind the operands (PipeStages = 1).
TEST(SynthFormats, PesMatchGoldenOnPairsStreamsAndSaturation) {
  REQUIRE_LIBERTY();
  __extension__ typedef unsigned __int128 UInt128;
  const LayerTile tile = read_layer_tile(lenet5_fc1_tile_path(test_tools().source_dir));
  for (const char* variant : {"", "iso"}) {
    for (const char* name : {"int8", "fp8-e4m3", "fp8-e5m2"}) {
      SCOPED_TRACE(std::string(name) + " " + variant);
      const ElementKind element = std::string(name) == "int8"       ? ElementKind::kInt8
                                  : std::string(name) == "fp8-e4m3" ? ElementKind::kE4M3
                                                                    : ElementKind::kE5M2;
      const ScaledFormat format(element, ScaleKind::kTensor);
      const int bits = format.acc_bits();
      const auto valid = [&](const Op& op) {
        try {
          multiply(format, op.a, op.b);
          return true;
        } catch (const std::out_of_range&) {
          return false;
        }
      };
      std::vector<Op> stream;
      for (Op op : exhaustive_stream()) {
        if (!valid(op)) continue;
        op.first = true;
        op.last = true;
        stream.push_back(op);
      }
      const size_t pairs = stream.size();
      for (const std::vector<Op>& s :
           {layer_stream(tile, name, 4096), uniform_stream(name, 4096, 3)}) {
        stream.insert(stream.end(), s.begin(), s.end());
      }
      const Op big = element == ElementKind::kInt8   ? Op{0x80, 0x80}
                     : element == ElementKind::kE4M3 ? Op{0x7e, 0x7e}
                                                     : Op{0x7b, 0x7b};
      const Int128 big_product = multiply(format, big.a, big.b);
      const size_t run =
          static_cast<size_t>(((static_cast<Int128>(1) << (bits - 1)) / big_product) + 8);
      const Op down = element == ElementKind::kInt8
                          ? Op{0x80, 0x7f}
                          : Op{big.a, static_cast<uint8_t>(big.b ^ 0x80)};
      for (size_t k = 0; k < 3 * run; ++k) {
        Op op = k < run ? big : down;
        op.first = k == 0;
        op.last = k + 1 == 3 * run;
        stream.push_back(op);
      }
      Op idle;  // lets the last product through
      idle.valid = false;
      stream.push_back(idle);
      const Built& b = built(unit("fmtpe", name, variant));
      const Activity a = run_activity(b.simulator, b.synth.dir, "golden_check", stream, true);
      ASSERT_EQ(a.outputs.size(), stream.size());
      WideAccumulator acc(bits);
      int mismatches = 0;
      uint64_t saturated = 0;
      for (size_t i = 0; i < stream.size(); ++i) {
        // After clock edge i the accumulator holds operation i - 1.
        if (i > 0 && stream[i - 1].valid) {
          const Op& op = stream[i - 1];
          if (op.first) acc = WideAccumulator(bits);
          acc.add(multiply(format, op.a, op.b));
        }
        // a, b, acc_o (one column, or three 32-bit words for A = 70), ovf_o.
        const std::vector<uint64_t>& row = a.outputs[i];
        ASSERT_EQ(row.size(), bits > 64 ? 6u : 4u);
        UInt128 got = 0;
        for (size_t w = row.size() - 2; w >= 2; --w) got = (got << (bits > 64 ? 32 : 0)) | row[w];
        const UInt128 mask = (static_cast<UInt128>(1) << bits) - 1;
        const bool ovf = acc.overflow_count() > 0;
        saturated += ovf ? 1 : 0;
        if (((got & mask) != (static_cast<UInt128>(acc.value()) & mask) ||
             row.back() != (ovf ? 1u : 0u)) &&
            ++mismatches <= 10) {
          ADD_FAILURE() << "cycle " << i << ": netlist "
                        << to_decimal(static_cast<Int128>(got & mask)) << " ovf " << row.back()
                        << ", golden " << to_decimal(acc.value()) << " ovf " << ovf;
        }
      }
      EXPECT_EQ(mismatches, 0);
      EXPECT_EQ(pairs, element == ElementKind::kInt8   ? 65536u
                       : element == ElementKind::kE4M3 ? 254u * 254u
                                                       : 248u * 248u);
      EXPECT_GT(saturated, run);  // the saturating reductions did saturate
    }
  }
}

// Operand isolation in lbfp_mul: with one operand zero, the other operand's changes must not
// reach the code adder, the LUT or the shifter. Only the zero detect and the isolation gates
// see them, a small fraction of what the same changes cost against a non-zero operand.
TEST(SynthNetlist, ZeroOperandKeepsTheLbfpMultiplierQuiet) {
  REQUIRE_LIBERTY();
  const LibertyLibrary lib = read_liberty(test_tools().liberty);
  const Built& b = built(unit("mul", "lbfp8"));
  const std::vector<Op> uniform = uniform_stream("lbfp8", 4096, 7);
  std::vector<Op> against_zero = uniform;
  std::vector<Op> against_one = uniform;
  for (size_t i = 0; i < uniform.size(); ++i) {
    against_zero[i].a = static_cast<uint8_t>((i % 2) ? 0x80 : 0x00);  // +0 and -0 alternating
    against_one[i].a = 0x35;
  }
  const auto energy_pj = [&](const char* name, const std::vector<Op>& stream) {
    const Activity a = run_activity(b.simulator, b.synth.dir, name, stream, false);
    return estimate_energy(lib, b.synth.netlist_json, a, EnergyOptions{}).per_op_pj;
  };
  const double zero_pj = energy_pj("against_zero", against_zero);
  const double nonzero_pj = energy_pj("against_nonzero", against_one);
  EXPECT_GT(zero_pj, 0.0);  // the zero detect and the isolation gates still switch
  EXPECT_LT(zero_pj, 0.25 * nonzero_pj) << zero_pj << " pJ against " << nonzero_pj << " pJ";
}

// The expected outputs of a multiplier for one operand pair, in the harness's order: LBFP8
// neg_o, mag_o; BFP8 prod_o (16-bit two's complement; -128 multiplies as the int8 it is).
std::vector<uint64_t> golden_outputs(const Unit& unit, uint64_t a, uint64_t b) {
  const Code ca = static_cast<Code>(a);
  const Code cb = static_cast<Code>(b);
  if (unit.format == "lbfp8") {
    const LbfpProduct p = multiply(lbfp8(), ca, cb);
    return {p.negative ? 1u : 0u, p.is_zero() ? 0 : uint64_t{p.lut_value} << p.shift};
  }
  const int64_t expected =
      (ca == 0x80 || cb == 0x80 || !unit.variant.empty())
          ? int64_t{static_cast<int8_t>(ca)} * int64_t{static_cast<int8_t>(cb)}
          : multiply(bfp8(), ca, cb);
  return {static_cast<uint64_t>(expected) & 0xffffu};
}

// The timed (glitch-aware) simulation of each multiplier's netlist on all 65,536 operand pairs:
// its settled outputs are the golden products, and on every net it counts the zero-delay
// (Verilator) transitions plus glitches, which come in pairs (a rise and a fall): per net,
// timed - zero-delay >= 0 and even, the same excess on rises and falls.
void expect_timed_matches(const Unit& unit,
                          const std::vector<Op>& stream = exhaustive_stream()) {
  const Built& b = built(unit);
  const Activity zero_delay =
      run_activity(b.simulator, b.synth.dir, "exhaustive_zd", stream, false);
  const LibertyLibrary lib = read_liberty(test_tools().liberty);  // outlives the simulator
  TimedSimulator sim(lib, b.synth.netlist_json, TimedOptions{});
  const Activity timed = sim.run(stream, true);
  ASSERT_EQ(timed.ops, 65536u);
  ASSERT_EQ(timed.outputs.size(), 65536u);
  int mismatches = 0;
  for (const std::vector<uint64_t>& row : timed.outputs) {
    const std::vector<uint64_t> expected = golden_outputs(unit, row[0], row[1]);
    const std::vector<uint64_t> got(row.begin() + 2, row.end());
    if (got != expected && ++mismatches <= 10) {
      ADD_FAILURE() << unit.name() << " a=0x" << std::hex << row[0] << " b=0x" << row[1]
                    << ": timed netlist 0x" << got.back() << ", golden 0x" << expected.back();
    }
  }
  EXPECT_EQ(mismatches, 0);

  uint64_t glitch_toggles = 0;
  size_t compared = 0;
  for (const auto& [net, zd] : zero_delay.nets) {
    auto it = timed.nets.find(net);
    if (it == timed.nets.end()) {
      ADD_FAILURE() << unit.name() << ": net " << net << " has no timed count";
      continue;
    }
    ++compared;
    const NetToggles& t = it->second;
    EXPECT_GE(t.rises, zd.rises) << unit.name() << " " << net;
    EXPECT_GE(t.falls, zd.falls) << unit.name() << " " << net;
    EXPECT_EQ(t.rises - zd.rises, t.falls - zd.falls) << unit.name() << " " << net;
    glitch_toggles += (t.rises + t.falls) - (zd.rises + zd.falls);
  }
  for (const auto& [net, t] : timed.nets) {
    EXPECT_TRUE(zero_delay.nets.count(net)) << unit.name() << ": timed net " << net
                                            << " unknown to the zero-delay run";
  }
  EXPECT_GT(compared, 150u);
  // An array multiplier glitches: the comparison is not vacuous.
  EXPECT_GT(glitch_toggles, 65536u) << unit.name();
  // The unit settles well inside the 10 ns cycle of the 100 MHz the report assumes.
  EXPECT_LT(sim.stats().max_settle_ns, 10.0);

  // Transport delays (every pulse passes) settle to the same outputs and count at least as many
  // transitions on every net, again in rise-fall pairs (the LBFP8 multiplier only: it is the
  // quickest, and the semantics do not depend on the netlist).
  if (unit.format != "lbfp8") return;
  TimedOptions transport;
  transport.transport = true;
  TimedSimulator upper(lib, b.synth.netlist_json, transport);
  const Activity all = upper.run(stream, true);
  EXPECT_EQ(all.outputs, timed.outputs);
  for (const auto& [net, t] : timed.nets) {
    const NetToggles& u = all.nets.at(net);
    EXPECT_GE(u.rises + u.falls, t.rises + t.falls) << net;
    EXPECT_EQ(u.rises - zero_delay.nets.at(net).rises, u.falls - zero_delay.nets.at(net).falls)
        << net;
  }
}

TEST(SynthNetlist, TimedLbfpMultiplierMatchesGoldenAndZeroDelayCounts) {
  REQUIRE_LIBERTY();
  expect_timed_matches(unit("mul", "lbfp8"));
}

TEST(SynthNetlist, TimedBfpMultipliersMatchGoldenAndZeroDelayCounts) {
  REQUIRE_LIBERTY();
  expect_timed_matches(unit("mul", "bfp8"));
  expect_timed_matches(unit("mul", "bfp8", "iso"));
}

// The multipliers behind the PE's operand hold (lbfp_mul_held_unit, bfp_mul_held_unit) on all
// 65,536 pairs: with the zero flag as the golden product says, they give the golden product;
// with the flag raised, 0 whatever the codes (the held codes of a zero product are any earlier
// non-zero pair). The timed simulation settles to the same products.
TEST(SynthNetlist, HeldOperandMultipliersMatchGoldenOnAllPairs) {
  REQUIRE_LIBERTY();
  for (const Unit* held : {&unit("mulheld", "lbfp8"), &unit("mulheld", "bfp8", "iso")}) {
    SCOPED_TRACE(held->name());
    ASSERT_TRUE(held->held);
    const Built& b = built(*held);
    std::vector<Op> flagged = exhaustive_stream();
    std::vector<Op> raised = flagged;
    for (Op& op : flagged) op.zero = zero_product(held->format, op);
    for (Op& op : raised) op.zero = true;
    const Activity a = run_activity(b.simulator, b.synth.dir, "flagged", flagged, true);
    const Activity z = run_activity(b.simulator, b.synth.dir, "raised", raised, true);
    ASSERT_EQ(a.outputs.size(), 65536u);
    ASSERT_EQ(z.outputs.size(), 65536u);
    int mismatches = 0;
    for (size_t i = 0; i < a.outputs.size(); ++i) {
      const std::vector<uint64_t>& row = a.outputs[i];
      const std::vector<uint64_t> want = golden_outputs(*held, row[0], row[1]);
      const std::vector<uint64_t> got(row.begin() + 2, row.end());
      const std::vector<uint64_t> got_raised(z.outputs[i].begin() + 2, z.outputs[i].end());
      const bool ok = got == want &&
                      std::all_of(got_raised.begin(), got_raised.end(),
                                  [](uint64_t v) { return v == 0; });
      if (!ok && ++mismatches <= 10) {
        ADD_FAILURE() << "a=0x" << std::hex << row[0] << " b=0x" << row[1] << ": netlist "
                      << got.back() << " (flag raised: " << got_raised.back() << "), golden "
                      << want.back();
      }
    }
    EXPECT_EQ(mismatches, 0);
    expect_timed_matches(*held, flagged);
  }
}

// The timed simulation of the LBFP8 MAC (flip-flops, clock, reset) against the Verilator run of
// the same stream: the same accumulator outputs after every operation, and on every net the
// Verilator count plus glitch pairs.
TEST(SynthNetlist, TimedMacMatchesTheVerilatorRun) {
  REQUIRE_LIBERTY();
  const Unit& mac = unit("mac", "lbfp8");
  const Built& b = built(mac);
  const std::vector<Op> stream = uniform_stream("lbfp8", 4096, 11, 16);
  const Activity zero_delay = run_activity(b.simulator, b.synth.dir, "timed_check", stream, true);
  const LibertyLibrary lib = read_liberty(test_tools().liberty);
  TimedSimulator sim(lib, b.synth.netlist_json, TimedOptions{});
  const Activity timed = sim.run(stream, true);
  ASSERT_EQ(timed.outputs.size(), zero_delay.outputs.size());
  int mismatches = 0;
  for (size_t i = 0; i < timed.outputs.size(); ++i) {
    if (timed.outputs[i] != zero_delay.outputs[i] && ++mismatches <= 10) {
      ADD_FAILURE() << "operation " << i << ": timed acc 0x" << std::hex
                    << timed.outputs[i].at(2) << ", Verilator 0x" << zero_delay.outputs[i].at(2);
    }
  }
  EXPECT_EQ(mismatches, 0);
  uint64_t glitch_toggles = 0;
  for (const auto& [net, zd] : zero_delay.nets) {
    auto it = timed.nets.find(net);
    if (it == timed.nets.end()) {
      ADD_FAILURE() << "net " << net << " has no timed count";
      continue;
    }
    const NetToggles& t = it->second;
    EXPECT_GE(t.rises, zd.rises) << net;
    EXPECT_EQ(t.rises - zd.rises, t.falls - zd.falls) << net;
    glitch_toggles += (t.rises + t.falls) - (zd.rises + zd.falls);
  }
  EXPECT_EQ(timed.nets.size(), zero_delay.nets.size());
  EXPECT_GT(glitch_toggles, stream.size());
  // Each clock phase settles within the half cycle at 100 MHz.
  EXPECT_LT(sim.stats().max_settle_ns, 5.0);
}

TEST(SynthNetlist, EnergyIsZeroWithoutToggles) {
  REQUIRE_LIBERTY();
  const Tools tools = test_tools();
  const LibertyLibrary lib = read_liberty(tools.liberty);
  const SynthResult& synth = built(unit("mul", "lbfp8")).synth;
  const std::string& sim = built(unit("mul", "lbfp8")).simulator;
  // The same pair over and over: nothing switches after the first value.
  std::vector<Op> still(256);
  for (Op& op : still) {
    op.a = 0x35;
    op.b = 0xa2;
  }
  const Activity quiet = run_activity(sim, synth.dir, "still", still, false);
  const Energy e = estimate_energy(lib, synth.netlist_json, quiet, EnergyOptions{});
  EXPECT_EQ(e.nets_missing, 0);
  EXPECT_GT(e.nets_priced, 100);
  // The first dump after reset (inputs 0, 0) to (0x35, 0xa2) is the only change.
  const double first_change_pj = e.per_op_pj * 256.0;
  std::vector<Op> two(still.begin(), still.begin() + 2);
  const Activity once = run_activity(sim, synth.dir, "once", two, false);
  const Energy e1 = estimate_energy(lib, synth.netlist_json, once, EnergyOptions{});
  EXPECT_NEAR(e1.per_op_pj * 2.0, first_change_pj, 1e-9);
  EXPECT_GT(first_change_pj, 0.0);
  // Energy grows with V^2 for the switching part: doubling the voltage at least doubles it.
  EnergyOptions high;
  high.voltage = 3.6;
  EXPECT_GT(estimate_energy(lib, synth.netlist_json, once, high).switching_pj,
            3.99 * e1.switching_pj);
}

// The array units' tops (rtl/systolic_array.sv, rtl/systolic_array_ws.sv), as `lbfp synth
// --units array arrayws` synthesizes them but 2 x 2 (the 4 x 4 ones take minutes each), played the
// layer tile's GEMM and a uniform one through their protocol: every output row of the gate-level
// netlist equals the golden reference's (run_array_activity throws on the first difference).
TEST(SynthArray, GateLevelArraysMatchGolden) {
  REQUIRE_LIBERTY();
  const Tools tools = test_tools();
  const LibertyLibrary lib = read_liberty(tools.liberty);
  const LayerTile tile = read_layer_tile(lenet5_fc1_tile_path(tools.source_dir));
  for (const char* kind : {"array", "arrayws"}) {
    for (const char* format : {"lbfp8", "bfp8"}) {
      Unit u = unit(kind, format);
      u.parameters["NumRows"] = 2;
      u.parameters["NumCols"] = 2;
      u.folder += "_2x2";
      SCOPED_TRACE(u.name());
      const SynthResult s = synthesize(tools, u);
      EXPECT_GT(s.area_um2, 0.0);
      const std::string sim = build_activity_model(tools, u, s, lib);
      const bool ws = std::string(kind) == "arrayws";
      const ArrayStream layer = layer_array_stream(tile, format, ws, 2, 2, 4800);
      EXPECT_EQ(layer.macs, 6u * 400u * 2u);
      const Activity a = run_array_activity(sim, s.dir, "layer", layer);
      EXPECT_EQ(a.ops, layer.macs);
      EXPECT_GT(estimate_energy(lib, s.netlist_json, a, EnergyOptions{}).per_op_pj, 0.0);
      // Random codes: large sums, flags and the requantizer's whole range.
      run_array_activity(sim, s.dir, "uniform",
                         uniform_array_stream(tile, format, ws, 2, 2, 4800, 7));
    }
  }
}

}  // namespace
}  // namespace lbfp::synth
