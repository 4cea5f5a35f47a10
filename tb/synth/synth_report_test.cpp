// The report and the energy table: every unit present, ratios computed from the numbers given.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lbfp/synth/measure.h"
#include "lbfp/synth/report.h"

namespace lbfp::synth {
namespace {

std::vector<UnitCost> sample_costs() {
  // Round numbers chosen so that every ratio is known exactly.
  return {
      {"mul", "lbfp8", "lbfp_mul_unit", 5000.0, 1500, 150, 0.20, 0.40, 10.0, ""},
      {"mul", "bfp8", "bfp_mul", 12500.0, 3000, 370, 0.80, 1.60, 20.0, ""},
      {"mac", "lbfp8", "lbfp_mac", 24000.0, 6000, 500, 1.50, 2.00, 30.0, ""},
      {"mac", "bfp8", "bfp_mac", 30000.0, 7500, 600, 2.00, 2.50, 40.0, ""},
      {"pe", "lbfp8", "lbfp_pe", 32000.0, 6400, 700, 3.00, 3.00, 50.0, ""},
      {"pe", "bfp8", "bfp_pe", 40000.0, 8000, 800, 4.00, 6.00, 60.0, ""},
  };
}

// sample_costs() plus the BFP8 units with operand isolation.
std::vector<UnitCost> sample_costs_with_isolation() {
  std::vector<UnitCost> costs = sample_costs();
  costs.push_back({"mul", "bfp8", "bfp_mul", 12800.0, 3300, 400, 0.50, 1.70, 21.0, "iso"});
  costs.push_back({"mac", "bfp8", "bfp_mac", 30400.0, 7700, 630, 1.875, 2.60, 41.0, "iso"});
  costs.push_back({"pe", "bfp8", "bfp_pe", 40400.0, 8200, 830, 3.75, 6.10, 61.0, "iso"});
  return costs;
}

TEST(SynthReport, ReproduceLineNamesEveryOptionTheRunChanged) {
  MeasureOptions o;
  EXPECT_EQ(reproduce_command(o),
            "lbfp synth --activity both --ops 16384 --seed 1 --voltage 1.8 --frequency-mhz 100");
  o.kinds = {"mul", "pe"};
  o.layer_kinds = {"none"};
  o.calib_images = 50;
  o.layer_ops = 512;
  o.slew_ns = 0.2;
  o.layer_tile = "my tile.txt";
  o.source_dir = "/src";
  o.liberty = "cells.lib";
  o.out = "r";
  EXPECT_EQ(reproduce_command(o),
            "lbfp synth --activity both --ops 16384 --seed 1 --voltage 1.8 --frequency-mhz 100 "
            "--layer-ops 512 --slew-ns 0.2 --units mul pe --layer-units none --calib-images 50 "
            "--layer-tile 'my tile.txt' --source-dir /src --liberty cells.lib --out r");
  o.layers = "all";
  o.layer_ops = 0;
  EXPECT_NE(reproduce_command(o).find("--layers all --layer-ops 8192"), std::string::npos);
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

TEST(SynthReport, RatiosAgainstEitherBaseline) {
  const std::vector<UnitCost> costs = sample_costs_with_isolation();
  const std::vector<CostRatio> plain = cost_ratios(costs);
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_DOUBLE_EQ(plain[0].layer_energy, 0.25);  // unchanged by the extra units
  const std::vector<CostRatio> iso = cost_ratios(costs, "iso");
  ASSERT_EQ(iso.size(), 3u);
  EXPECT_DOUBLE_EQ(iso[0].area, 5000.0 / 12800.0);
  EXPECT_DOUBLE_EQ(iso[0].layer_energy, 0.4);
  EXPECT_DOUBLE_EQ(iso[1].layer_energy, 0.8);
  EXPECT_DOUBLE_EQ(iso[2].layer_energy, 0.8);
  EXPECT_TRUE(cost_ratios(sample_costs(), "iso").empty());
}

TEST(SynthReport, TableShowsBothBaselines) {
  ReportContext ctx;
  ctx.ops = 1024;
  ctx.layer_source = "lenet5_fc1_tile.txt";
  const std::string md = report_markdown(sample_costs_with_isolation(), ctx);
  EXPECT_NE(md.find("Layer operands: lenet5_fc1_tile.txt"), std::string::npos) << md;
  EXPECT_NE(md.find("| mul | bfp8 iso | bfp_mul | 400 | 12800 |"), std::string::npos) << md;
  const size_t iso_table = md.find("## LBFP8 / BFP8 with operand isolation");
  ASSERT_NE(iso_table, std::string::npos) << md;
  EXPECT_NE(md.find("| multiplier | 0.391x (-60.9 %) | 0.455x | 0.400x (-60.0 %) | 0.235x |",
                    iso_table),
            std::string::npos)
      << md;
  const std::string svg = report_svg(sample_costs_with_isolation());
  EXPECT_NE(svg.find("iso 0.40x"), std::string::npos);  // multiplier energy, isolated baseline
  const std::string yaml = energy_yaml(sample_costs_with_isolation(), ctx);
  const size_t section = yaml.find("bfp8_iso:\n");
  ASSERT_NE(section, std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  mul_pj: 0.50000   # bfp_mul netlist", section), std::string::npos);
  // The plain BFP8 section, which lbfp sim reads, keeps the plain multiplier.
  EXPECT_LT(yaml.find("  mul_pj: 0.80000   # bfp_mul netlist"), section);
}

TEST(SynthReport, AKindWithoutItsBaselineHasNoRatio) {
  std::vector<UnitCost> costs = sample_costs();
  costs.erase(costs.begin() + 1);  // no bfp8 multiplier
  const std::vector<CostRatio> r = cost_ratios(costs);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].kind, "mac");
}

// `--units mul fmtmul`: the LBFP8 multiplier against each section 13 format's; `--units fmtmul`
// alone has no LBFP8 / BFP8 pair, so no ratio table.
TEST(SynthReport, FormatMultipliersAreComparedWithTheLbfpMultiplier) {
  ReportContext ctx;
  const std::vector<UnitCost> formats = {
      {"fmtmul", "int8", "bfp_mul", 12500.0, 3000, 370, 0.80, 1.60, 20.0, ""},
      {"fmtmul", "fp8-e4m3", "fp8e4m3_mul", 10000.0, 3000, 300, 0.50, 0.80, 20.0, ""}};
  const std::string alone = report_markdown(formats, ctx);
  EXPECT_NE(alone.find("| fmtmul | fp8-e4m3 | fp8e4m3_mul | 300 | 10000 |"), std::string::npos)
      << alone;
  EXPECT_EQ(alone.find("LBFP8 / BFP8"), std::string::npos) << alone;
  EXPECT_EQ(alone.find("section 13 formats' multipliers"), std::string::npos) << alone;
  std::vector<UnitCost> with_mul = sample_costs();
  with_mul.insert(with_mul.end(), formats.begin(), formats.end());
  const std::string md = report_markdown(with_mul, ctx);
  EXPECT_NE(md.find("| int8 | 0.400x | 0.500x | 0.250x | 0.250x |"), std::string::npos) << md;
  EXPECT_NE(md.find("| fp8-e4m3 | 0.500x | 0.500x | 0.400x | 0.500x |"), std::string::npos) << md;
}

// `--units mac fmtmac`: the LBFP8 MAC against each section 13 format's; the energy table gets a
// section per format with the same keys as LBFP8's (mul_pj from fmtmul, mac_pj from fmtmac), and
// none without them.
TEST(SynthReport, FormatMacsAreComparedWithTheLbfpMacAndTabled) {
  ReportContext ctx;
  ctx.ops = 1024;
  std::vector<UnitCost> costs = sample_costs();
  costs.push_back({"fmtmul", "fp8-e5m2", "fp8e5m2_mul", 10000.0, 3000, 300, 0.50, 0.80, 20.0, ""});
  costs.push_back({"fmtmac", "int8", "bfp_mac", 30000.0, 7500, 600, 2.50, 2.50, 40.0, ""});
  costs.push_back({"fmtmac", "fp8-e5m2", "fp8e5m2_mac", 48000.0, 12000, 900, 3.00, 8.00, 80.0,
                   ""});
  const std::string md = report_markdown(costs, ctx);
  const size_t section = md.find("## LBFP8 MAC / the section 13 formats' MACs");
  ASSERT_NE(section, std::string::npos) << md;
  // lbfp_mac: 24000 um^2, 6000 transistors, 1.50 / 2.00 pJ.
  EXPECT_NE(md.find("| int8 | 0.800x | 0.800x | 0.600x | 0.800x |", section), std::string::npos)
      << md;
  EXPECT_NE(md.find("| fp8-e5m2 | 0.500x | 0.500x | 0.500x | 0.250x |", section),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| fmtmac | fp8-e5m2 | fp8e5m2_mac | 900 | 48000 |"), std::string::npos) << md;

  const std::string yaml = energy_yaml(costs, ctx);
  EXPECT_NE(yaml.find("int8:\n  mac_pj: 2.50000   # bfp_mac netlist"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("fp8_e5m2:\n  mul_pj: 0.50000   # fp8e5m2_mul netlist"), std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("  mac_pj: 3.00000   # fp8e5m2_mac netlist, layer stream; uniform "
                      "operands 8.00000 pJ"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("  mac_area_um2: 48000   # stat -liberty of fp8e5m2_mac"), std::string::npos)
      << yaml;
  EXPECT_EQ(yaml.find("fp8_e4m3:"), std::string::npos) << yaml;  // no unit of that format
  // Without the format units, the table is as before: no format section, no comment.
  const std::string plain = energy_yaml(sample_costs(), ctx);
  EXPECT_EQ(plain.find("int8"), std::string::npos) << plain;
}

// `--units pe fmtpe`: the LBFP8 PE against each section 13 format's PE, the hold and MX ones
// named as such; in the energy table pe_pj, pe_hold_pj (the "iso" PE) and pe_mx_pj / mac_mx_pj
// (the MX stream) in the element type's section.
TEST(SynthReport, FormatPesAreComparedWithTheLbfpPeAndTabled) {
  ReportContext ctx;
  ctx.ops = 1024;
  std::vector<UnitCost> costs = sample_costs();
  costs.push_back({"fmtmac", "mxint8", "bfp_mac", 30000.0, 7500, 600, 1.25, 2.50, 40.0, ""});
  costs.push_back({"fmtpe", "fp8-e4m3", "fp8e4m3_pe", 40000.0, 8000, 800, 6.00, 6.00, 70.0, ""});
  costs.push_back(
      {"fmtpe", "fp8-e4m3", "fp8e4m3_pe", 64000.0, 12800, 1000, 1.50, 3.00, 75.0, "iso"});
  costs.push_back(
      {"fmtpe", "mxfp8-e4m3", "fp8e4m3_pe", 40000.0, 8000, 800, 7.50, 6.00, 70.0, ""});
  const std::string md = report_markdown(costs, ctx);
  const size_t section = md.find("## LBFP8 PE / the section 13 formats' PEs");
  ASSERT_NE(section, std::string::npos) << md;
  // lbfp_pe: 32000 um^2, 6400 transistors, 3.00 / 3.00 pJ.
  EXPECT_NE(md.find("| fp8-e4m3 | 0.800x | 0.800x | 0.500x | 0.500x |", section),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| fp8-e4m3 iso | 0.500x | 0.500x | 2.000x | 1.000x |", section),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| mxfp8-e4m3 | 0.800x | 0.800x | 0.400x | 0.500x |", section),
            std::string::npos)
      << md;
  const std::string yaml = energy_yaml(costs, ctx);
  EXPECT_NE(yaml.find("int8:\n  mac_mx_pj: 1.25000   # bfp_mac netlist"), std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("fp8_e4m3:\n  pe_pj: 6.00000   # fp8e4m3_pe netlist"), std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("  pe_hold_pj: 1.50000   # fp8e4m3_pe netlist"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  pe_mx_pj: 7.50000   # fp8e4m3_pe netlist"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  pe_hold_area_um2: 64000   # stat -liberty of fp8e4m3_pe"),
            std::string::npos)
      << yaml;
  EXPECT_EQ(yaml.find("mxfp8"), std::string::npos) << yaml;  // no section of its own
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

// Bars of lbfp/chart carry a tooltip: one "</title></rect>" each.
size_t count_bars(const std::string& svg) {
  size_t bars = 0;
  for (size_t pos = svg.find("</title></rect>"); pos != std::string::npos;
       pos = svg.find("</title></rect>", pos + 1)) {
    ++bars;
  }
  return bars;
}

TEST(SynthReport, SvgHasABarPerUnitAndMetric) {
  const std::string svg = report_svg(sample_costs());
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(count_bars(svg), 18u);  // 6 units x 3 metrics
  EXPECT_NE(svg.find("mul: 0.40x"), std::string::npos);  // multiplier area ratio
  EXPECT_NE(svg.find("mul: 0.25x"), std::string::npos);  // multiplier energy ratio
  // The panels are the charts written on their own, nested.
  const auto charts = report_charts(sample_costs(), {}, {});
  ASSERT_EQ(charts.size(), 3u);
  EXPECT_EQ(charts[0].first, "area.svg");
  EXPECT_EQ(charts[2].first, "energy.svg");
  for (const auto& [name, chart] : charts) {
    EXPECT_NE(svg.find(chart.substr(5)), std::string::npos) << name;
    EXPECT_EQ(count_bars(chart), 6u) << name;
  }
}

std::vector<LayerEnergy> sample_layers() {
  std::vector<LayerEnergy> rows;
  const char* labels[] = {"LeNet-5 fc1 (tile)", "LeNet-5 conv1 (first)", "MobileNet dw3"};
  const double lbfp[] = {0.20, 0.30, 0.45};
  for (const char* kind : {"mul", "mulheld"}) {
    for (int i = 0; i < 3; ++i) {
      LayerEnergy r;
      r.label = labels[i];
      r.kind = kind;
      r.source = "stream " + std::to_string(i);
      r.ops = 1024;
      r.zero_fraction = 0.25 * i;
      r.lbfp8_pj = lbfp[i];
      r.bfp8_pj = 0.80;
      r.bfp8_iso_pj = i == 1 ? 0.0 : 0.60;  // not measured for the second stream
      r.model = i == 0 ? "" : "LeNet-5";
      r.macs = i == 0 ? 0 : 1000;
      rows.push_back(r);
    }
  }
  return rows;
}

TEST(SynthReport, LayerRatiosChartHasAPointPerLayerStream) {
  const auto charts = report_charts(sample_costs_with_isolation(), sample_layers(), {});
  ASSERT_EQ(charts.back().first, "layer-ratios.svg");
  const std::string& svg = charts.back().second;
  for (const char* series : {"mul / BFP8", "mul / BFP8 iso", "mulheld / BFP8"}) {
    EXPECT_NE(svg.find(series), std::string::npos) << series;
  }
  EXPECT_NE(svg.find("MobileNet dw3"), std::string::npos);
  // 0.45 / 0.80 = 0.5625 at the third layer; 0.20 / 0.60 against the isolated baseline.
  EXPECT_NE(svg.find("0.5625"), std::string::npos) << svg;
  EXPECT_NE(svg.find("0.3333"), std::string::npos) << svg;
  EXPECT_NE(svg.find("0.47x"), std::string::npos);  // the paper's ratio, dashed
  EXPECT_EQ(svg.find("translate("), std::string::npos);  // the labels fit: nothing shifted

  // Many layers (rotated labels) and a long first one: the chart is shifted right and widened
  // by what the first label would stand out on the left.
  std::vector<LayerEnergy> many;
  for (int i = 0; i < 10; ++i) {
    LayerEnergy r = sample_layers()[0];
    r.label = i == 0 ? "LeNet-5 fc1 tile (committed)" : "layer " + std::to_string(i);
    many.push_back(r);
  }
  const std::string shifted = report_charts(sample_costs(), many, {}).back().second;
  const size_t shift = shifted.find("<g transform=\"translate(");
  ASSERT_NE(shift, std::string::npos) << shifted;
  EXPECT_NE(shifted.find("</g>\n</svg>"), std::string::npos);
}

TEST(SynthReport, HtmlPageHoldsTheConfigurationTheTablesAndTheCharts) {
  ReportContext ctx;
  ctx.activity = "both";
  ctx.liberty = "osu018_stdcells.lib";
  ctx.ops = 1024;
  ctx.command = "lbfp synth --activity both --ops 1024";
  ctx.layer_source = "lenet5_fc1_tile.txt";
  ctx.layer_note = "Model layers: KL activation exponents from 50 training images.";
  std::vector<UnitCost> costs = sample_costs_with_isolation();
  costs[0].timed_layer_pj = 0.35;
  costs[1].timed_layer_pj = 1.05;
  std::vector<LayerEnergy> timed = sample_layers();
  for (LayerEnergy& r : timed) r.lbfp8_pj *= 1.5;
  const std::string html = report_html(costs, sample_layers(), timed, ctx, true);
  EXPECT_EQ(html, report_html(costs, sample_layers(), timed, ctx, true));  // deterministic
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("lbfp synth --activity both --ops 1024"), std::string::npos);
  EXPECT_NE(html.find("osu018_stdcells.lib"), std::string::npos);
  for (const char* panel :
       {"Units (report.md)", "LBFP8 / BFP8", "energy-timed.svg", "Timed (glitch-aware) activity",
        "Energy ratios per layer stream (layer-ratios.svg)", "Energy of one inference by model"}) {
    EXPECT_NE(html.find(panel), std::string::npos) << panel;
  }
  EXPECT_NE(html.find("<td>bfp8 iso</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>0.391x (-60.9 %)</td>"), std::string::npos);  // iso area ratio
  EXPECT_NE(html.find("<td class=\"num\">0.375x</td>"), std::string::npos);  // layer ratio
  // Every chart of charts/ is in the page.
  for (const auto& [name, svg] : report_charts(costs, sample_layers(), timed)) {
    EXPECT_NE(html.find(svg.substr(0, svg.find("</text>"))), std::string::npos) << name;
  }
  EXPECT_NE(html.find("<p>Model layers: KL activation exponents from 50 training images.</p>"),
            std::string::npos);
  // The operation-weighted summary row and the timed ratios, as report.md has them.
  EXPECT_NE(html.find("all 3 layers (operation-weighted)"), std::string::npos);
  EXPECT_NE(html.find("per-layer ratios 0.250x .. 0.562x; 2 of 3 at or below 0.47x"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">1.750x</td>"), std::string::npos);  // 0.35 / 0.20
  // Without layer rows: no layer panels.
  const std::string units_only = report_html(costs, {}, {}, ctx, false);
  EXPECT_EQ(units_only.find("layer-ratios.svg"), std::string::npos);
  EXPECT_EQ(units_only.find("by model"), std::string::npos);
}

#ifdef LBFP_SYNTH_CHECK_REPORT
// The page and its charts on disk, read by tb/report/check_report.py (python3's XML parser):
// well-formed XHTML and SVG, self-contained, with the expected panels.
TEST(SynthReport, HtmlPageParsesAsXhtml) {
  if (std::system("python3 -c 'import xml.etree.ElementTree' > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "NOT RUN: python3 is missing (scripts/setup.sh installs it)";
  }
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(LBFP_SYNTH_TEST_WORK_DIR) / "report_html";
  fs::remove_all(dir);
  fs::create_directories(dir / "charts");
  ReportContext ctx;
  ctx.ops = 1024;
  ctx.command = "lbfp synth --ops 1024 --out 'a <dir>'";
  const std::vector<UnitCost> costs = sample_costs_with_isolation();
  std::ofstream(dir / "report.html") << report_html(costs, sample_layers(), {}, ctx, true);
  for (const auto& [name, svg] : report_charts(costs, sample_layers(), {})) {
    std::ofstream(dir / "charts" / name) << svg;
  }
  std::ofstream(dir / "report.svg") << report_svg(costs);
  const std::string check = std::string("python3 '") + LBFP_SYNTH_CHECK_REPORT + "' '" +
                            (dir / "report.html").string() +
                            "' --name 'lbfp synth --ops 1024' --name 'Units (report.md)' "
                            "--name 'layer-ratios.svg' --name 'MobileNet dw3' "
                            "--name 'Energy of one inference by model'";
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
  // report.svg (nested panels) is well-formed too.
  const std::string svg_check =
      std::string("python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' '") +
      (dir / "report.svg").string() + "'";
  EXPECT_EQ(std::system(svg_check.c_str()), 0) << svg_check;
}
#endif

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

// --activity both: the timed figures beside the zero-delay ones, for the units that have them.
TEST(SynthReport, TimedFiguresStandBesideTheZeroDelayOnes) {
  std::vector<UnitCost> costs = sample_costs_with_isolation();
  for (UnitCost& c : costs) {
    if (c.kind != "mul") continue;
    c.timed_layer_pj = 2.0 * c.layer_pj;
    c.timed_uniform_pj = 1.5 * c.uniform_pj;
    c.layer_toggles = 10.0;
    c.timed_layer_toggles = 14.5;
    c.timed_settle_ns = 2.25;
  }
  costs[1].timed_layer_pj = 1.0;  // plain bfp8: 0.80 pJ zero-delay, 1.00 pJ timed
  ReportContext ctx;
  ctx.activity = "both";
  ctx.ops = 1024;
  const std::string md = report_markdown(costs, ctx);
  EXPECT_NE(md.find("from zero-delay toggle counts"), std::string::npos) << md;
  const size_t section = md.find("## Timed (glitch-aware) activity");
  ASSERT_NE(section, std::string::npos) << md;
  EXPECT_NE(md.find("| mul | lbfp8 | 0.2000 | 0.4000 | 2.000x | 10.0 | 14.5 | 4.5 | 0.4000 | "
                    "0.6000 | 2.25 |",
                    section),
            std::string::npos)
      << md;
  // Ratios: zero-delay 0.20 / 0.80 and timed 0.40 / 1.00 against plain; 0.40 / 1.00 (iso).
  EXPECT_NE(md.find("| multiplier | bfp8 | 0.250x | **0.400x** | 0.250x | 0.250x |", section),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| multiplier | bfp8 iso | 0.400x | **0.400x** |", section),
            std::string::npos)
      << md;
  // The MAC and PE have no timed figures: no rows.
  EXPECT_EQ(md.find("| mac | lbfp8 |", section), std::string::npos) << md;
  EXPECT_EQ(timed_table_markdown(sample_costs()), "");
  const std::string yaml = energy_yaml(costs, ctx);
  EXPECT_NE(yaml.find("activity: zero-delay"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  mul_pj: 0.20000   # lbfp_mul_unit netlist, layer stream; uniform "
                      "operands 0.40000 pJ; timed (glitches included): layer 0.40000 pJ, "
                      "uniform 0.60000 pJ"),
            std::string::npos)
      << yaml;
  ctx.activity = "timed";
  EXPECT_NE(report_markdown(sample_costs(), ctx).find("from timed (glitch-aware"),
            std::string::npos);
  EXPECT_NE(energy_yaml(sample_costs(), ctx).find("activity: timed"), std::string::npos);
  // The chart gets a fourth panel with the multipliers' timed energies (3 bars, no MAC or PE).
  const std::string svg = report_svg(costs);
  EXPECT_NE(svg.find("energy/op, timed"), std::string::npos);
  EXPECT_EQ(count_bars(svg), 9u * 3u + 3u);
  // Layer tables labelled with their activity.
  LayerEnergy row;
  row.kind = "mul";
  row.label = "l";
  row.ops = 10;
  row.lbfp8_pj = 1.0;
  row.bfp8_pj = 2.0;
  EXPECT_NE(layer_table_markdown({row}, "timed").find("by layer: multiplier (timed activity)"),
            std::string::npos);
}

}  // namespace
}  // namespace lbfp::synth
