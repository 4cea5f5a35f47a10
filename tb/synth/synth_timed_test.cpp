// The timed (glitch-aware) activity simulation on hand-written netlists whose glitches are known
// from the liberty's own delays, the liberty timing reader and the boolean-function evaluator.
// The exhaustive checks on the synthesized multipliers are in synth_netlist_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lbfp/synth/flow.h"
#include "lbfp/synth/liberty.h"
#include "lbfp/synth/power.h"
#include "lbfp/synth/timed_activity.h"

namespace lbfp::synth {
namespace {

namespace fs = std::filesystem;

const std::string kLiberty = default_tools().liberty;

#define REQUIRE_LIBERTY()                                                       \
  if (!fs::exists(kLiberty)) {                                                  \
    GTEST_SKIP() << "no liberty at " << kLiberty << ": run scripts/setup.sh";   \
  }

const LibertyLibrary& library() {
  static const LibertyLibrary lib = read_liberty(kLiberty);
  return lib;
}

std::string write_file(const std::string& name, const std::string& text) {
  const fs::path dir = fs::path(LBFP_SYNTH_TEST_WORK_DIR) / "timed";
  fs::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

// One cell of a hand-written Yosys JSON netlist: "INVX1", {{"A", 2}, {"Y", 3}}.
struct TestCell {
  std::string type;
  std::vector<std::pair<std::string, int>> pins;
};

// A top module with input a_i (bit 2), output prod_o (bit `out`), the cells u0, u1, ... and a
// name "n<bit>" for every other net.
std::string netlist_json(const std::vector<TestCell>& cells, int out, int max_bit) {
  std::string j = "{\"modules\": {\"t\": {\"attributes\": {\"top\": 1}, \"ports\": {"
                  "\"a_i\": {\"direction\": \"input\", \"bits\": [2]}, "
                  "\"prod_o\": {\"direction\": \"output\", \"bits\": [" +
                  std::to_string(out) + "]}}, \"cells\": {";
  for (size_t i = 0; i < cells.size(); ++i) {
    j += (i ? ", " : "") + std::string("\"u") + std::to_string(i) + "\": {\"type\": \"" +
         cells[i].type + "\", \"connections\": {";
    for (size_t p = 0; p < cells[i].pins.size(); ++p) {
      j += (p ? ", \"" : "\"") + cells[i].pins[p].first + "\": [" +
           std::to_string(cells[i].pins[p].second) + "]";
    }
    j += "}}";
  }
  j += "}, \"netnames\": {\"a_i\": {\"bits\": [2]}, \"prod_o\": {\"bits\": [" +
       std::to_string(out) + "]}";
  for (int b = 3; b <= max_bit; ++b) {
    if (b != out) j += ", \"n" + std::to_string(b) + "\": {\"bits\": [" + std::to_string(b) + "]}";
  }
  return j + "}}}}";
}

// a_i toggling every operation: 0 -> 1 -> 0 ...
std::vector<Op> toggling(int ops) {
  std::vector<Op> s(static_cast<size_t>(ops));
  for (size_t i = 0; i < s.size(); ++i) s[i].a = static_cast<uint8_t>((i + 1) % 2);
  return s;
}

const LibertyTiming& arc(const std::string& cell, const std::string& from) {
  for (const LibertyPin& p : library().cell(cell).pins) {
    for (const LibertyTiming& t : p.timing) {
      if (t.related_pins.front() == from) return t;
    }
  }
  throw std::runtime_error("no arc");
}

TEST(LibertyFunction, TruthTablesFollowLibertyPrecedence) {
  const std::vector<std::string> ab = {"A", "B"};
  EXPECT_EQ(liberty_function_truth_table("(A B)", ab), (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_EQ(liberty_function_truth_table("A*B", ab), (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_EQ(liberty_function_truth_table("A&B", ab), (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_EQ(liberty_function_truth_table("A+B", ab), (std::vector<uint8_t>{0, 1, 1, 1}));
  EXPECT_EQ(liberty_function_truth_table("A|B", ab), (std::vector<uint8_t>{0, 1, 1, 1}));
  EXPECT_EQ(liberty_function_truth_table("(A^B)", ab), (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_EQ(liberty_function_truth_table("!(A^B)", ab), (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(liberty_function_truth_table("A'", {"A"}), (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(liberty_function_truth_table("(A B)'", ab), (std::vector<uint8_t>{1, 1, 1, 0}));
  EXPECT_EQ(liberty_function_truth_table("1", {}), (std::vector<uint8_t>{1}));
  // NOT binds tightest, then XOR, then AND, then OR: A + B C = A + (B C); A B ^ C = A (B ^ C).
  const std::vector<std::string> abc = {"A", "B", "C"};
  const std::vector<uint8_t> or_of_and = liberty_function_truth_table("A + B C", abc);
  const std::vector<uint8_t> and_of_xor = liberty_function_truth_table("A B ^ C", abc);
  for (uint32_t m = 0; m < 8; ++m) {
    const bool a = m & 1, b = m & 2, c = m & 4;
    EXPECT_EQ(or_of_and[m], a || (b && c)) << m;
    EXPECT_EQ(and_of_xor[m], a && (b != c)) << m;
  }
  // The OSU inverting multiplexer and the full adder's carry and sum.
  const std::vector<uint8_t> mux =
      liberty_function_truth_table("(!((S A) + (!S B)))", {"A", "B", "S"});
  const std::vector<uint8_t> carry = liberty_function_truth_table("(((A B)+(B C))+(C A))", abc);
  const std::vector<uint8_t> sum = liberty_function_truth_table("((A^B)^C)", abc);
  for (uint32_t m = 0; m < 8; ++m) {
    const bool a = m & 1, b = m & 2, c = m & 4;
    EXPECT_EQ(mux[m], !(c ? a : b)) << m;
    EXPECT_EQ(carry[m], (a + b + c) >= 2) << m;
    EXPECT_EQ(sum[m], (a + b + c) % 2) << m;
  }
  EXPECT_THROW(liberty_function_truth_table("(A B", ab), std::runtime_error);
  EXPECT_THROW(liberty_function_truth_table("(A Q)", ab), std::runtime_error);
  EXPECT_THROW(liberty_function_truth_table("A + ", ab), std::runtime_error);
}

TEST(LibertyTiming, ReadsTheArcsOfTheOsuCells) {
  REQUIRE_LIBERTY();
  const LibertyPin* y = library().cell("AND2X1").pin("Y");
  ASSERT_NE(y, nullptr);
  ASSERT_EQ(y->timing.size(), 2u);
  const LibertyTiming& a = y->timing[0];
  EXPECT_EQ(a.related_pins, std::vector<std::string>{"A"});
  EXPECT_EQ(a.timing_sense, "positive_unate");
  ASSERT_TRUE(a.cell_rise && a.cell_fall && a.rise_transition && a.fall_transition);
  // delay_template_5x5: variable_1 the output load, variable_2 the input transition.
  EXPECT_EQ(a.cell_rise->variable_1, "total_output_net_capacitance");
  EXPECT_EQ(a.cell_rise->variable_2, "input_net_transition");
  EXPECT_EQ(a.cell_rise->index_1.front(), 0.005);
  EXPECT_EQ(a.cell_rise->index_2.front(), 0.06);
  // At an index point the lookup returns the table entry: the first value of the table.
  EXPECT_DOUBLE_EQ(a.cell_rise->lookup_load_slew(0.005, 0.06), a.cell_rise->values[0][0]);
  EXPECT_DOUBLE_EQ(a.cell_rise->lookup_load_slew(0.15, 0.06), a.cell_rise->values[4][0]);
  EXPECT_DOUBLE_EQ(a.cell_rise->lookup_load_slew(0.005, 1.2), a.cell_rise->values[0][4]);
  // Delay grows with the load and with the input transition.
  EXPECT_GT(a.cell_rise->lookup_load_slew(0.1, 0.1), a.cell_rise->lookup_load_slew(0.01, 0.1));
  EXPECT_GT(a.cell_rise->lookup_load_slew(0.01, 1.0), a.cell_rise->lookup_load_slew(0.01, 0.1));
  EXPECT_NE(a.source.find("osu018_stdcells.lib:"), std::string::npos) << a.source;
  EXPECT_EQ(library().cell("XOR2X1").pin("Y")->timing[1].timing_sense, "non_unate");
  // A flip-flop's clock-to-Q arc is a rising_edge arc.
  EXPECT_EQ(library().cell("DFFPOSX1").pin("Q")->timing.at(0).timing_type, "rising_edge");
}

TEST(LibertyTiming, ErrorsNameTheFileAndLine) {
  const std::string path = write_file("bad.lib",
                                      "library(bad) {\n"
                                      "  lu_table_template(t) {\n"
                                      "    variable_1 : total_output_net_capacitance;\n"
                                      "  }\n"
                                      "  cell(X) {\n"
                                      "    pin(Y) {\n"
                                      "      direction : output;\n"
                                      "      function : \"A\";\n"
                                      "      timing() {\n"
                                      "        timing_sense : positive_unate;\n"
                                      "      }\n"
                                      "    }\n"
                                      "  }\n"
                                      "}\n");
  try {
    read_liberty(path);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.lib:9: timing() of pin Y of cell X has no "
                                         "related_pin"),
              std::string::npos)
        << e.what();
  }
  const std::string table = write_file("bad_table.lib",
                                       "library(bad) {\n"
                                       "  cell(X) {\n"
                                       "    pin(Y) {\n"
                                       "      direction : output;\n"
                                       "      timing() {\n"
                                       "        related_pin : \"A\";\n"
                                       "        cell_rise(t) {\n"
                                       "          values (\"0.1, x\");\n"
                                       "        }\n"
                                       "      }\n"
                                       "    }\n"
                                       "  }\n"
                                       "}\n");
  try {
    read_liberty(table);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad_table.lib:7: not a number"), std::string::npos)
        << e.what();
  }
}

// a_i drives an XOR directly and through four inverters: the XOR sees the same value on both
// inputs once settled, but for the chain's delay (about 0.22 ns, longer than the XOR's own
// 0.10-0.12 ns) its inputs differ, so every change of a_i puts a full pulse on its output: two
// transitions where zero-delay counting sees none.
TEST(TimedActivity, ReconvergentPathMakesOnePulsePerInputChange) {
  REQUIRE_LIBERTY();
  const std::vector<TestCell> cells = {
      {"INVX1", {{"A", 2}, {"Y", 3}}}, {"INVX1", {{"A", 3}, {"Y", 4}}},
      {"INVX1", {{"A", 4}, {"Y", 5}}}, {"INVX1", {{"A", 5}, {"Y", 6}}},
      {"XOR2X1", {{"A", 2}, {"B", 6}, {"Y", 7}}}};
  const std::string path = write_file("pulse.json", netlist_json(cells, 7, 7));
  // The liberty's delays at a 0.1 ns input slew say the pulse is wider than the XOR's delay.
  const double inv_load = library().cell("INVX1").pin("A")->capacitance_pf;
  const double chain_ns = 4 * arc("INVX1", "A").cell_fall->lookup_load_slew(inv_load, 0.1);
  const double xor_ns =
      arc("XOR2X1", "A").cell_rise->lookup_load_slew(inv_load, 0.1);  // output port: INVX1 load
  ASSERT_GT(chain_ns, 1.5 * xor_ns);

  TimedSimulator sim(library(), path, TimedOptions{});
  const int ops = 8;
  const Activity a = sim.run(toggling(ops), true);
  EXPECT_EQ(a.ops, 8u);
  // The output: a rise and a fall per input change; every operation settles back to 0.
  EXPECT_EQ(a.nets.at("prod_o").rises, 8u);
  EXPECT_EQ(a.nets.at("prod_o").falls, 8u);
  for (const auto& row : a.outputs) EXPECT_EQ(row.back(), 0u);
  // The chain's nets change once per input change, as in zero-delay counting.
  EXPECT_EQ(a.nets.at("a_i").rises + a.nets.at("a_i").falls, 8u);
  for (const char* n : {"n3", "n4", "n5", "n6"}) {
    EXPECT_EQ(a.nets.at(n).rises + a.nets.at(n).falls, 8u) << n;
  }
  EXPECT_EQ(sim.stats().filtered_pulses, 0u);
  EXPECT_GT(sim.stats().max_settle_ns, chain_ns);
  // Priced like any other activity: the pulse costs the output net's energy twice per change.
  const Energy e = estimate_energy(library(), path, a, EnergyOptions{});
  EXPECT_EQ(e.nets_missing, 0);
  EXPECT_GT(e.per_op_pj, 0.0);
}

// The same XOR with only two inverters on one side, and its output loaded with eight INVX8
// inputs: its delay (about 0.3 ns) is now longer than the 0.11 ns pulse between its inputs, so
// the inertial delay cancels the pending change and the output never moves (a transport delay
// would let the pulse through).
TEST(TimedActivity, PulseShorterThanTheGateDelayIsFiltered) {
  REQUIRE_LIBERTY();
  std::vector<TestCell> cells = {{"INVX1", {{"A", 2}, {"Y", 3}}},
                                 {"INVX1", {{"A", 3}, {"Y", 4}}},
                                 {"XOR2X1", {{"A", 2}, {"B", 4}, {"Y", 5}}}};
  for (int i = 0; i < 8; ++i) cells.push_back({"INVX8", {{"A", 5}, {"Y", 6 + i}}});
  const std::string path = write_file("filtered.json", netlist_json(cells, 5, 13));
  const double inv_load = library().cell("INVX1").pin("A")->capacitance_pf;
  const double xor_load = inv_load + 8 * library().cell("INVX8").pin("A")->capacitance_pf;
  const double chain_ns = arc("INVX1", "A").cell_fall->lookup_load_slew(inv_load, 0.1) +
                          arc("INVX1", "A").cell_rise->lookup_load_slew(
                              library().cell("XOR2X1").pin("B")->capacitance_pf, 0.1);
  const double xor_ns = std::min(arc("XOR2X1", "A").cell_rise->lookup_load_slew(xor_load, 0.1),
                                 arc("XOR2X1", "A").cell_fall->lookup_load_slew(xor_load, 0.1));
  ASSERT_LT(1.5 * chain_ns, xor_ns);

  TimedSimulator sim(library(), path, TimedOptions{});
  const Activity a = sim.run(toggling(8), false);
  EXPECT_EQ(a.nets.at("prod_o").rises + a.nets.at("prod_o").falls, 0u);
  for (int i = 0; i < 8; ++i) {
    const std::string n = "n" + std::to_string(6 + i);
    EXPECT_EQ(a.nets.at(n).rises + a.nets.at(n).falls, 0u) << n;
  }
  EXPECT_EQ(sim.stats().filtered_pulses, 8u);  // one cancelled change per input change

  // Transport delays pass the pulse: a rise and a fall per input change, on the XOR's output and
  // on each inverter it drives; the settled values are the same.
  TimedOptions transport;
  transport.transport = true;
  TimedSimulator passing(library(), path, transport);
  const Activity t = passing.run(toggling(8), true);
  EXPECT_EQ(t.nets.at("prod_o").rises, 8u);
  EXPECT_EQ(t.nets.at("prod_o").falls, 8u);
  EXPECT_EQ(t.nets.at("n6").rises + t.nets.at("n6").falls, 16u);
  for (const auto& row : t.outputs) EXPECT_EQ(row.back(), 0u);
  EXPECT_EQ(passing.stats().filtered_pulses, 0u);
}

// A DFFSR between a_i[0] and the output: the output follows D only at the clock's rising edge,
// after the liberty's clock-to-Q delay; the reset cycle is not counted.
TEST(TimedActivity, FlipFlopFollowsDAtTheRisingEdge) {
  REQUIRE_LIBERTY();
  const std::string path = write_file(
      "dff.json",
      "{\"modules\": {\"t\": {\"attributes\": {\"top\": 1}, \"ports\": {"
      "\"a_i\": {\"direction\": \"input\", \"bits\": [2]}, "
      "\"clk_i\": {\"direction\": \"input\", \"bits\": [3]}, "
      "\"rst_ni\": {\"direction\": \"input\", \"bits\": [4]}, "
      "\"prod_o\": {\"direction\": \"output\", \"bits\": [5]}}, \"cells\": {"
      "\"q\": {\"type\": \"DFFSR\", \"connections\": {\"D\": [2], \"CLK\": [3], "
      "\"R\": [4], \"S\": [\"1\"], \"Q\": [5]}}}, \"netnames\": {"
      "\"a_i\": {\"bits\": [2]}, \"clk_i\": {\"bits\": [3]}, \"rst_ni\": {\"bits\": [4]}, "
      "\"prod_o\": {\"bits\": [5]}}}}}");
  TimedSimulator sim(library(), path, TimedOptions{});
  const Activity a = sim.run(toggling(8), true);
  ASSERT_EQ(a.outputs.size(), 8u);
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    EXPECT_EQ(a.outputs[i].back(), (i + 1) % 2) << i;  // Q = the D of this operation's edge
  }
  EXPECT_EQ(a.nets.at("prod_o").rises, 4u);
  EXPECT_EQ(a.nets.at("prod_o").falls, 4u);
  // The clock starts low after the reset cycle: 8 rising edges, 7 falling ones.
  EXPECT_EQ(a.nets.at("clk_i").rises, 8u);
  EXPECT_EQ(a.nets.at("clk_i").falls, 7u);
  EXPECT_EQ(a.nets.at("rst_ni").rises + a.nets.at("rst_ni").falls, 0u);
  const LibertyTiming* clock_to_q = nullptr;
  for (const LibertyTiming& t : library().cell("DFFSR").pin("Q")->timing) {
    if (t.timing_type == "rising_edge") clock_to_q = &t;
  }
  ASSERT_NE(clock_to_q, nullptr);
  const double load = library().cell("INVX1").pin("A")->capacitance_pf;
  EXPECT_NEAR(sim.stats().max_settle_ns,
              std::max(clock_to_q->cell_rise->lookup_load_slew(load, 0.1),
                       clock_to_q->cell_fall->lookup_load_slew(load, 0.1)),
              1e-12);
}

TEST(TimedActivity, RefusesLatchesAndUnknownCells) {
  REQUIRE_LIBERTY();
  const std::string latch =
      write_file("latch.json", netlist_json({{"LATCH", {{"D", 2}, {"CLK", 2}, {"Q", 3}}}}, 3, 3));
  try {
    TimedSimulator sim(library(), latch, TimedOptions{});
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("latch or tri-state"), std::string::npos) << e.what();
  }
  const std::string unknown =
      write_file("unknown.json", netlist_json({{"NOSUCHCELL", {{"A", 2}, {"Y", 3}}}}, 3, 3));
  EXPECT_THROW(TimedSimulator(library(), unknown, TimedOptions{}), std::runtime_error);
}

}  // namespace
}  // namespace lbfp::synth
