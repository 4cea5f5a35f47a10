// The LBFP family points of `lbfp synth --units lbfpmul --lbfp-points W:F,...`: the names, the
// units, the streams (each point's own encoder), and (SynthFamily, label synth) each point's
// gate-level multiplier against the golden multiply of LbfpFormat(W, F, 8, 32) on every one of
// its 2^W x 2^W operand pairs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/synth/flow.h"
#include "lbfp/synth/layer_tile.h"
#include "lbfp/synth/liberty.h"
#include "lbfp/synth/measure.h"
#include "lbfp/synth/streams.h"

namespace lbfp::synth {
namespace {

TEST(SynthFamilyPoints, NamesAndFormats) {
  EXPECT_EQ(lbfp_family_name(7, 3), "lbfp7f3");
  const auto f = lbfp_family_format("lbfp7f3");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(*f, LbfpFormat(7, 3, 8, 32));
  EXPECT_EQ(*lbfp_family_format("lbfp8f4"), lbfp8());
  // Only the family's names: LBFP8 and the other formats keep their own streams.
  for (const char* other : {"lbfp8", "bfp8", "int8", "lbfp7f6", "lbfp9f3", "lbfp7f", "lbfp7f3x",
                            "LBFP7F3", "lbfp1f0"}) {
    EXPECT_FALSE(lbfp_family_format(other).has_value()) << other;
  }
}

TEST(SynthFamilyPoints, UnitsAreTheMulTopWithParameters) {
  const Unit u = lbfp_family_unit(7, 3);
  EXPECT_EQ(u.kind, "lbfpmul");
  EXPECT_EQ(u.format, "lbfp7f3");
  EXPECT_EQ(u.top, unit("mul", "lbfp8").top);
  EXPECT_EQ(u.name(), "lbfp_mul_unit_lbfp7f3");
  EXPECT_EQ(u.parameters, (std::map<std::string, int>{{"DataWidth", 7}, {"FracBits", 3}}));
  const Unit mac = lbfp_family_unit(7, 3, "lbfpmac");
  EXPECT_EQ(mac.top, unit("mac", "lbfp8").top);
  EXPECT_EQ(mac.name(), "lbfp_mac_lbfp7f3");
  EXPECT_TRUE(mac.sequential);
  EXPECT_THROW(lbfp_family_unit(7, 3, "pe"), std::invalid_argument);
  EXPECT_FALSE(u.sequential || u.held);
  // The LBFP8 mul unit is synthesized without overrides, so its netlist stays as it was.
  EXPECT_TRUE(unit("mul", "lbfp8").parameters.empty());
  EXPECT_EQ(parse_lbfp_point("6:4"), std::make_pair(6, 4));
  for (const char* bad : {"6:5", "9:3", "2:0", "8:7", "8:0", "7", "7:3:1", "a:b", " 7:3", "7:3 ",
                          "007:3", ""}) {
    EXPECT_THROW(parse_lbfp_point(bad), std::invalid_argument) << bad;
  }
}

TEST(SynthFamilyPoints, StreamsUseThePointsEncoder) {
  const LayerTile tile = read_layer_tile(lenet5_fc1_tile_path(default_tools().source_dir));
  const LbfpFormat f(7, 3, 8, 32);
  const std::vector<Op> stream = layer_stream(tile, "lbfp7f3", 4000);
  double x_max = 0.0;
  for (float x : tile.x) x_max = std::max(x_max, std::fabs(double{x}));
  // Output (image 0, channel 2), step k = 17: activation x[0][17], weight w[17][2].
  const size_t i = 2 * 400 + 17;
  EXPECT_EQ(stream[i].a, encode(f, tile.x[17], max_exponent(x_max)));
  double w_max = 0.0;
  for (int k = 0; k < tile.k; ++k) {
    w_max = std::max(w_max, std::fabs(double{tile.w[static_cast<size_t>(k * tile.n + 2)]}));
  }
  EXPECT_EQ(stream[i].b, encode(f, tile.w[static_cast<size_t>(17 * tile.n + 2)],
                                max_exponent(w_max)));
  int zeros = 0;
  for (const Op& op : stream) {
    EXPECT_LT(op.a, 128);
    EXPECT_LT(op.b, 128);
    zeros += zero_product("lbfp7f3", op) ? 1 : 0;
    // A 7-bit code's magnitude is its low 6 bits: 0x40 is -0.
    EXPECT_EQ(zero_product("lbfp7f3", op), (op.a & 63) == 0 || (op.b & 63) == 0);
  }
  EXPECT_GT(zeros, 0);
  // Uniform: every 6-bit code, nothing wider.
  const std::vector<Op> uniform = uniform_stream("lbfp6f3", 20000, 1);
  std::vector<int> seen(64, 0);
  for (const Op& op : uniform) {
    ASSERT_LT(op.a, 64);
    ASSERT_LT(op.b, 64);
    ++seen[op.a];
  }
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n > 0; }));
  EXPECT_EQ(exhaustive_stream(6).size(), 4096u);
  EXPECT_EQ(exhaustive_stream(6).back().a, 63);
}

TEST(SynthFamilyPoints, ReproduceCommandNamesThePoints) {
  MeasureOptions o;
  EXPECT_EQ(reproduce_command(o).find("--lbfp-points"), std::string::npos);
  o.kinds = {"lbfpmul"};
  o.lbfp_points = {"6:3", "7:4"};
  EXPECT_NE(reproduce_command(o).find(" --units lbfpmul --lbfp-points 6:3,7:4"),
            std::string::npos)
      << reproduce_command(o);
}

#define REQUIRE_FAMILY_LIBERTY(tools)                                                  \
  Tools tools = default_tools();                                                       \
  tools.work_dir = LBFP_SYNTH_TEST_WORK_DIR;                                           \
  if (!std::filesystem::exists(tools.liberty)) {                                       \
    GTEST_SKIP() << "no liberty at " << tools.liberty << ": run scripts/setup.sh";     \
  }

// Gate level: each point's netlist, as `lbfp synth` makes it, on every operand pair.
void check_multipliers(const Tools& tools, const std::vector<std::pair<int, int>>& points) {
  const LibertyLibrary lib = read_liberty(tools.liberty);
  for (const auto& [width, frac_bits] : points) {
    const Unit u = lbfp_family_unit(width, frac_bits);
    SCOPED_TRACE(u.name());
    const LbfpFormat format(width, frac_bits, 8, 32);
    const SynthResult s = synthesize(tools, u);
    EXPECT_GT(s.area_um2, 0.0);
    const std::string simulator = build_activity_model(tools, u, s, lib);
    const Activity a =
        run_activity(simulator, s.dir, "exhaustive", exhaustive_stream(width), true);
    ASSERT_EQ(a.outputs.size(), size_t{1} << (2 * width));
    int mismatches = 0;
    for (const std::vector<uint64_t>& row : a.outputs) {
      ASSERT_EQ(row.size(), 4u);  // a, b, neg_o, mag_o (at most 9 + 31 bits)
      const LbfpProduct p = multiply(format, static_cast<Code>(row[0]), static_cast<Code>(row[1]));
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
}

// Label synth (synth_flow_family): the narrowest point, the widest F and the widest product.
TEST(SynthFamily, MultipliersMatchGoldenOnAllPairs) {
  REQUIRE_FAMILY_LIBERTY(tools);
  check_multipliers(tools, {{6, 3}, {7, 5}, {8, 3}});
}

// Label long (synth_flow_family_long): the other points of the committed run.
TEST(SynthFamilyLong, MorePointsMatchGoldenOnAllPairs) {
  REQUIRE_FAMILY_LIBERTY(tools);
  check_multipliers(tools, {{6, 4}, {7, 3}, {7, 4}, {8, 5}});
}

// The family's MACs (lbfp_mac, A = 32): every operand pair as a one-term reduction, the layer
// tile's and the uniform stream as `lbfp synth` plays them, and a reduction of the largest
// product, then of its negative, against the golden multiply and saturating Accumulator.
// Label long (synth_flow_family_long).
TEST(SynthFamilyLong, MacsMatchGoldenOnPairsAndStreams) {
  REQUIRE_FAMILY_LIBERTY(tools);
  const LibertyLibrary lib = read_liberty(tools.liberty);
  const LayerTile tile = read_layer_tile(lenet5_fc1_tile_path(tools.source_dir));
  for (const auto& [width, frac_bits] : std::vector<std::pair<int, int>>{{6, 3}, {8, 3}}) {
    const Unit u = lbfp_family_unit(width, frac_bits, "lbfpmac");
    SCOPED_TRACE(u.name());
    const LbfpFormat format(width, frac_bits, 8, 32);
    std::vector<Op> stream;
    for (Op op : exhaustive_stream(width)) {
      op.first = true;
      stream.push_back(op);
    }
    for (const std::vector<Op>& s :
         {layer_stream(tile, u.format, 2048), uniform_stream(u.format, 2048, 3)}) {
      stream.insert(stream.end(), s.begin(), s.end());
    }
    const uint8_t max_code = static_cast<uint8_t>(format.max_magnitude());
    for (int k = 0; k < 3000; ++k) {
      Op op;
      op.a = max_code;
      op.b = static_cast<uint8_t>(k < 1000 ? max_code : max_code | format.sign_mask());
      op.first = k == 0;
      stream.push_back(op);
    }
    const SynthResult s = synthesize(tools, u);
    const std::string simulator = build_activity_model(tools, u, s, lib);
    const Activity a = run_activity(simulator, s.dir, "golden_check", stream, true);
    ASSERT_EQ(a.outputs.size(), stream.size());
    Accumulator acc(32);
    int mismatches = 0;
    for (size_t i = 0; i < stream.size(); ++i) {
      const Op& op = stream[i];
      if (op.first) acc = Accumulator(32);
      acc.add(accumulator_term(multiply(format, op.a, op.b), 32));
      const std::vector<uint64_t>& row = a.outputs[i];  // a, b, acc_o, ovf_o
      ASSERT_EQ(row.size(), 4u);
      const uint64_t want = static_cast<uint64_t>(acc.value()) & 0xffffffffu;
      // ovf_o: this reduction has saturated.
      if ((row[2] != want || row[3] != (acc.overflow_count() > 0 ? 1u : 0u)) &&
          ++mismatches <= 10) {
        ADD_FAILURE() << "operation " << i << " a=0x" << std::hex << unsigned{op.a} << " b=0x"
                      << unsigned{op.b} << ": netlist 0x" << row[2] << " ovf " << row[3]
                      << ", golden 0x" << want << " ovf " << acc.overflow_count();
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

}  // namespace
}  // namespace lbfp::synth
