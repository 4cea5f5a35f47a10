// A simulation's results: per-layer statistics and energy for each number format, rendered as a
// table, layers.csv, summary.json and a plot (SVG).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/arch/config.h"
#include "lbfp/arch/energy.h"
#include "lbfp/workload/workload.h"

namespace lbfp::arch {

struct LayerResult {
  std::string name;
  std::string shape;
  uint64_t groups = 1;
  LayerStats stats;  // summed over the groups
  EnergyBreakdown energy;
};

struct FormatRun {
  std::string format;  // "lbfp8", "bfp8", ...
  bool lbfp = true;
  std::vector<LayerResult> layers;
  LayerStats total;
  EnergyBreakdown energy;
};

struct SimReport {
  ArchSpec arch;
  Workload workload;
  EnergyTable energy;
  std::string mode;   // "cycle" or "tile"
  std::string array;  // "cpp" or "rtl"
  std::string im2col = "chip";  // where convolutions are lowered: "chip" or "host"
  uint64_t seed = 0;
  std::string data_origin;
  std::vector<FormatRun> runs;
  double wall_seconds = 0;
};

void print_report(std::ostream& out, const SimReport& report);
std::string layers_csv(const SimReport& report);
std::string summary_json(const SimReport& report);
std::string plot_svg(const SimReport& report);

}  // namespace lbfp::arch
