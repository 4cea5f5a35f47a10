// The gate-level netlists of the two multipliers, as `lbfp synth` produces them, simulated by
// Verilator on all 65,536 operand pairs against the golden multiply, so that the reported area
// and energy belong to correct circuits. Also checks the liberty reader and the energy model on
// facts that do not depend on the flow.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp_synth/flow.h"
#include "lbfp_synth/liberty.h"
#include "lbfp_synth/power.h"
#include "lbfp_synth/streams.h"

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

// Each multiplier is synthesized and verilated once for the whole suite.
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
    b.synth = synthesize(tools, unit);
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

}  // namespace
}  // namespace lbfp::synth
