// The report and the energy table: every unit present, ratios computed from the numbers given.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lbfp_synth/report.h"

namespace lbfp::synth {
namespace {

std::vector<UnitCost> sample_costs() {
  // Round numbers chosen so that every ratio is known exactly.
  return {
      {"mul", "lbfp8", "lbfp_mul_unit", 5000.0, 1500, 150, 0.20, 0.40, 10.0},
      {"mul", "bfp8", "bfp_mul", 12500.0, 3000, 370, 0.80, 1.60, 20.0},
      {"mac", "lbfp8", "lbfp_mac", 24000.0, 6000, 500, 1.50, 2.00, 30.0},
      {"mac", "bfp8", "bfp_mac", 30000.0, 7500, 600, 2.00, 2.50, 40.0},
      {"pe", "lbfp8", "lbfp_pe", 32000.0, 6400, 700, 3.00, 3.00, 50.0},
      {"pe", "bfp8", "bfp_pe", 40000.0, 8000, 800, 4.00, 6.00, 60.0},
  };
}

TEST(SynthReport, RatiosComeFromTheMeasuredNumbers) {
  const std::vector<CostRatio> r = cost_ratios(sample_costs());
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].kind, "mul");
  EXPECT_DOUBLE_EQ(r[0].area, 0.4);
  EXPECT_DOUBLE_EQ(r[0].transistors, 0.5);
  EXPECT_DOUBLE_EQ(r[0].layer_energy, 0.25);
  EXPECT_DOUBLE_EQ(r[0].uniform_energy, 0.25);
  EXPECT_EQ(r[1].kind, "mac");
  EXPECT_DOUBLE_EQ(r[1].area, 0.8);
  EXPECT_DOUBLE_EQ(r[1].layer_energy, 0.75);
  EXPECT_EQ(r[2].kind, "pe");
  EXPECT_DOUBLE_EQ(r[2].area, 0.8);
  EXPECT_DOUBLE_EQ(r[2].uniform_energy, 0.5);
}

TEST(SynthReport, AKindWithoutItsBaselineHasNoRatio) {
  std::vector<UnitCost> costs = sample_costs();
  costs.erase(costs.begin() + 1);  // no bfp8 multiplier
  const std::vector<CostRatio> r = cost_ratios(costs);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].kind, "mac");
}

TEST(SynthReport, TableListsEveryUnitAndThePaper) {
  ReportContext ctx;
  ctx.liberty = "osu018_stdcells.lib";
  ctx.ops = 1024;
  ctx.energy.output_load_pf = 0.01;
  const std::string md = report_markdown(sample_costs(), ctx);
  for (const char* top : {"lbfp_mul_unit", "bfp_mul", "lbfp_mac", "bfp_mac", "lbfp_pe", "bfp_pe"}) {
    EXPECT_NE(md.find(std::string("| ") + top + " |"), std::string::npos) << top;
  }
  EXPECT_NE(md.find("| multiplier | 0.400x (-60.0 %) | 0.500x | 0.250x (-75.0 %) | 0.250x |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("area 0.55x (-45 %), power 0.47x (-53 %)"), std::string::npos);
  EXPECT_NE(md.find("| 5000 | 1500 | 0.2000 | 0.4000 |"), std::string::npos) << md;
}

TEST(SynthReport, SvgHasABarPerUnitAndMetric) {
  const std::string svg = report_svg(sample_costs());
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  size_t bars = 0;
  for (size_t pos = svg.find("<rect"); pos != std::string::npos; pos = svg.find("<rect", pos + 1)) {
    ++bars;
  }
  EXPECT_EQ(bars, 18u);  // 6 units x 3 metrics
  EXPECT_NE(svg.find("0.40x"), std::string::npos);  // multiplier area ratio
  EXPECT_NE(svg.find("0.25x"), std::string::npos);  // multiplier energy ratio
}

TEST(SynthReport, EnergyTableHasEveryActionWithItsSource) {
  ReportContext ctx;
  ctx.ops = 1024;
  const std::string yaml = energy_yaml(sample_costs(), ctx);
  EXPECT_NE(yaml.find("lbfp8:\n"), std::string::npos);
  EXPECT_NE(yaml.find("bfp8:\n"), std::string::npos);
  EXPECT_NE(yaml.find("  mul_pj: 0.20000   # lbfp_mul_unit netlist"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  pe_pj: 4.00000   # bfp_pe netlist"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  mac_area_um2: 30000   # stat -liberty of bfp_mac"), std::string::npos);
  EXPECT_NE(yaml.find("voltage_v: 1.80"), std::string::npos);
  // Every value line carries a comment naming its source.
  size_t start = 0;
  while (start < yaml.size()) {
    const size_t end = yaml.find('\n', start);
    const std::string line = yaml.substr(start, end - start);
    if (line.find("_pj:") != std::string::npos || line.find("_um2:") != std::string::npos) {
      EXPECT_NE(line.find('#'), std::string::npos) << line;
    }
    start = end + 1;
  }
}

}  // namespace
}  // namespace lbfp::synth
