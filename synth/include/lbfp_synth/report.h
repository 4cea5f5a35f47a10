// The `lbfp synth` report: a Markdown table, an SVG bar chart and a YAML energy table, all from
// measured per-unit costs. Ratios are LBFP8 / BFP8 of the same kind of unit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lbfp_synth/power.h"

namespace lbfp::synth {

// The paper's multiplier figures (APCCAS 2020 abstract): -45 % area, -53 % power.
inline constexpr double kPaperAreaRatio = 0.55;
inline constexpr double kPaperPowerRatio = 0.47;

struct UnitCost {
  std::string kind;    // mul, mac, pe
  std::string format;  // lbfp8, bfp8
  std::string top;
  double area_um2 = 0.0;
  int64_t transistors = 0;
  int64_t cells = 0;
  double layer_pj = 0.0;    // dynamic energy per operation, layer operands
  double uniform_pj = 0.0;  // dynamic energy per operation, uniform random operands
  double leakage_nw = 0.0;
  std::string variant;  // "" or "iso" (BFP8 with operand isolation), as in Unit
};

struct CostRatio {
  std::string kind;
  double area = 0.0;
  double transistors = 0.0;
  double layer_energy = 0.0;
  double uniform_energy = 0.0;
};

// One ratio per kind that has both an lbfp8 entry and a bfp8 entry of the given variant ("" the
// plain multiplier, "iso" with operand isolation), in the order of first appearance.
std::vector<CostRatio> cost_ratios(const std::vector<UnitCost>& costs,
                                   const std::string& bfp_variant = "");

struct ReportContext {
  std::string liberty;
  EnergyOptions energy;
  size_t ops = 0;
  uint64_t seed = 0;
  std::string command;
  std::string layer_source;  // where the layer operands come from, one line
};

std::string report_markdown(const std::vector<UnitCost>& costs, const ReportContext& context);
std::string report_svg(const std::vector<UnitCost>& costs);
// Energy per action in pJ for a future `lbfp sim`, each number with its source in a comment.
std::string energy_yaml(const std::vector<UnitCost>& costs, const ReportContext& context);

}  // namespace lbfp::synth
