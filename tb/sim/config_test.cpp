// The simulation inputs: architecture files and energy tables (model/arch), good and bad.
#include <gtest/gtest.h>

#include <string>

#include "lbfp/arch/config.h"
#include "lbfp/arch/energy.h"

namespace lbfp::cli {
namespace {

using arch::ArchSpec;
using arch::energy_actions;
using arch::EnergyTable;
using arch::load_arch;
using arch::load_energy;
using arch::parse_arch;
using arch::parse_energy;

const char* kGood = R"(name: test
array:
  rows: 8
  cols: 4
  pipe_stages: 2
  dataflow: output-stationary
format:
  type: lbfp
  width: 6
  frac_bits: 3
  lut_bits: 10
  acc_bits: 24
clock_mhz: 500
buffers:
  activation_kib: 8
  weight_kib: 16
  output_kib: 4
dram:
  size_mib: 64
  latency_cycles: 50
  bandwidth_bytes_per_cycle: 8.5
energy: ../energy/e.yaml
)";

ArchSpec parse(const std::string& text, std::vector<std::string> overrides = {}) {
  return parse_arch(text, "a.yaml", "configs/arch", overrides);
}

std::string error_of(const std::string& text, std::vector<std::string> overrides = {}) {
  try {
    parse(text, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(ArchConfig, ReadsEveryField) {
  const ArchSpec a = parse(kGood);
  EXPECT_EQ(a.name, "test");
  EXPECT_EQ(a.accel.array.rows, 8);
  EXPECT_EQ(a.accel.array.cols, 4);
  EXPECT_EQ(a.accel.array.pipe_stages, 2);
  EXPECT_EQ(std::get<LbfpFormat>(a.accel.format), LbfpFormat(6, 3, 10, 24));
  EXPECT_EQ(a.clock_mhz, 500.0);
  EXPECT_EQ(a.accel.dram.clock_period, sc_core::sc_time(2, sc_core::SC_NS));
  EXPECT_EQ(a.accel.buffers.activation_bytes, 8u * 1024);
  EXPECT_EQ(a.accel.buffers.weight_bytes, 16u * 1024);
  EXPECT_EQ(a.accel.dram.size_bytes, 64u << 20);
  EXPECT_EQ(a.accel.dram.latency_cycles, 50u);
  EXPECT_EQ(a.accel.dram.bytes_per_cycle, 8.5);
  EXPECT_EQ(a.energy_path, "configs/arch/../energy/e.yaml");
}

TEST(ArchConfig, OverridesApplyBeforeChecking) {
  const ArchSpec a = parse(kGood, {"array.rows=32", "format.type=bfp", "format.frac_bits=", "format.lut_bits=",
                                   "dram.latency_cycles=7"});
  EXPECT_EQ(a.accel.array.rows, 32);
  EXPECT_EQ(a.accel.dram.latency_cycles, 7u);
  EXPECT_EQ(std::get<BfpFormat>(a.accel.format), BfpFormat(6, 24));
  EXPECT_NE(error_of(kGood, {"array.rowz=3"}).find("array.rowz: unknown key"), std::string::npos);
  EXPECT_NE(error_of(kGood, {"array.rows"}).find("expected key=value"), std::string::npos);
  // A file that is one scalar (tb/fuzz/regressions/arch_config/set_on_scalar_document).
  EXPECT_NE(error_of("just text", {"array.rows=3"}).find("--set array.rows=3: the file's top "
                                                         "level is not a mapping"),
            std::string::npos);
}

TEST(ArchConfig, ErrorsNameFileLineAndKey) {
  struct Case {
    std::string from, to, needle;
  };
  const Case cases[] = {
      {"rows: 8", "rows: eight", "a.yaml:3: array.rows: expected an integer, got 'eight'"},
      {"rows: 8", "rows: 0", "a.yaml:3: array.rows: 0 is outside 1..4096"},
      {"cols: 4", "cols: -4", "a.yaml:4: array.cols: -4 is outside 1..4096"},
      {"cols: 4", "columns: 4", "a.yaml:4: array.columns: unknown key"},
      {"dataflow: output-stationary", "dataflow: row-stationary",
       "a.yaml:6: array.dataflow: 'row-stationary' is not output-stationary, weight-stationary "
       "or input-stationary (os, ws, is)"},
      {"dataflow: output-stationary", "dataflow: WS", "a.yaml:6: array.dataflow: 'WS' is not"},
      {"type: lbfp", "type: float", "format.type: 'float' is not lbfp or bfp"},
      {"frac_bits: 3", "frac_bits: 5", "F=5 must be in 0..W-2"},
      {"acc_bits: 24", "acc_bits: 64", "format.acc_bits: 64 is outside 2..62"},
      {"clock_mhz: 500", "clock_mhz: fast", "clock_mhz: expected a number, got 'fast'"},
      {"activation_kib: 8", "activation_kib: 0", "buffers.activation_kib: 0 is outside"},
      {"bandwidth_bytes_per_cycle: 8.5", "bandwidth_bytes_per_cycle: -1",
       "dram.bandwidth_bytes_per_cycle: -1 is outside"},
      {"name: test", "name: test\nextra: 1", "a.yaml:2: extra: unknown key"},
      {"  rows: 8\n", "  rows: [8, 9]\n", "array.rows: expected an integer"},
  };
  for (const Case& c : cases) {
    const std::string e = error_of(replace(kGood, c.from, c.to));
    EXPECT_NE(e.find(c.needle), std::string::npos) << c.to << " -> " << e;
  }
  EXPECT_NE(error_of("").find("the file is empty"), std::string::npos);
  EXPECT_NE(error_of("array: [1, 2").find("not valid YAML"), std::string::npos);
  EXPECT_NE(error_of("name: x\n").find("array: missing"), std::string::npos);
  EXPECT_THROW(load_arch("/nonexistent/arch.yaml", {}), ConfigError);
}

TEST(ArchConfig, DataflowNamesAndAliases) {
  using arch::Dataflow;
  EXPECT_EQ(parse(kGood).accel.array.dataflow, Dataflow::kOutputStationary);
  const std::pair<const char*, Dataflow> names[] = {
      {"output-stationary", Dataflow::kOutputStationary}, {"os", Dataflow::kOutputStationary},
      {"weight-stationary", Dataflow::kWeightStationary}, {"ws", Dataflow::kWeightStationary},
      {"input-stationary", Dataflow::kInputStationary},   {"is", Dataflow::kInputStationary}};
  for (const auto& [name, want] : names) {
    EXPECT_EQ(parse(replace(kGood, "dataflow: output-stationary", std::string("dataflow: ") + name))
                  .accel.array.dataflow,
              want)
        << name;
    EXPECT_EQ(parse(kGood, {std::string("array.dataflow=") + name}).accel.array.dataflow, want);
  }
  // Absent: output-stationary.
  EXPECT_EQ(parse(replace(kGood, "  dataflow: output-stationary\n", "")).accel.array.dataflow,
            Dataflow::kOutputStationary);
  const std::string e = error_of(kGood, {"array.dataflow=diagonal"});
  EXPECT_NE(e.find("array.dataflow: 'diagonal' is not output-stationary"), std::string::npos) << e;
}

TEST(ArchConfig, ShippedPresetsLoad) {
  for (const char* name : {"lbfp8_16x16", "lbfp8_32x32", "bfp8_16x16", "bfp8_32x32"}) {
    const ArchSpec a = load_arch(std::string(LBFP_SOURCE_DIR "/configs/arch/") + name + ".yaml", {});
    EXPECT_EQ(a.accel.array.rows, std::string(name).find("32") != std::string::npos ? 32 : 16);
    EXPECT_EQ(is_lbfp(a.accel.format), std::string(name).rfind("lbfp", 0) == 0);
    const EnergyTable e = load_energy(a.energy_path);
    for (const auto& action : energy_actions()) EXPECT_GE(e.at(action), 0.0) << action;
    EXPECT_FALSE(e.sources.at("dram_read_byte").empty());
  }
}

TEST(EnergyTable, SynthesisScalesTheDatapathFromTheBase) {
  const EnergyTable base = load_energy(LBFP_SOURCE_DIR "/configs/energy/horowitz45.yaml");
  const EnergyTable t = load_energy(LBFP_SOURCE_DIR "/configs/energy/horowitz45-synth.yaml");
  EXPECT_EQ(t.at("bfp_multiply"), base.at("bfp_multiply"));
  EXPECT_EQ(t.at("dram_read_byte"), base.at("dram_read_byte"));
  EXPECT_LT(t.at("lbfp_multiply"), t.at("bfp_multiply"));  // the measured ratio is below 1
  EXPECT_NE(t.sources.at("lbfp_multiply").find("osu018_synth.yaml"), std::string::npos);
}

TEST(EnergyTable, MissingAndBadFiguresAreErrors) {
  try {
    parse_energy("name: x\nenergy_pj:\n  bfp_multiply: 0.2\n", "e.yaml", "");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_energy("energy_pj:\n  bogus: 1\n", "e.yaml", ""), ConfigError);
  EXPECT_THROW(parse_energy("energy_pj:\n  bfp_multiply: -1\n", "e.yaml", ""), ConfigError);
}

}  // namespace
}  // namespace lbfp::cli
