// `lbfp sim` results: per-layer statistics and energy for each number format, printed as a
// table and written as layers.csv, summary.json and a plot (SVG).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "output_file.h"
#include "sim_config.h"
#include "lbfp/workload/workload.h"

namespace lbfp::cli {

// Energy of a layer by component, picojoules.
struct EnergyBreakdown {
  double multiply_pj = 0;
  double accumulate_pj = 0;
  double requantize_pj = 0;
  double sram_pj = 0;
  double dram_pj = 0;
  double leakage_pj = 0;
  double datapath_pj() const { return multiply_pj + accumulate_pj + requantize_pj; }
  double total_pj() const { return datapath_pj() + sram_pj + dram_pj + leakage_pj; }
  EnergyBreakdown& operator+=(const EnergyBreakdown& o);
};

EnergyBreakdown layer_energy(const arch::LayerStats& s, bool lbfp, const EnergyTable& table);

struct LayerResult {
  std::string name;
  std::string shape;
  uint64_t groups = 1;
  arch::LayerStats stats;  // summed over the groups
  EnergyBreakdown energy;
};

struct FormatRun {
  std::string format;  // "lbfp8", "bfp8", ...
  bool lbfp = true;
  std::vector<LayerResult> layers;
  arch::LayerStats total;
  EnergyBreakdown energy;
};

struct SimReport {
  ArchSpec arch;
  Workload workload;
  EnergyTable energy;
  std::string mode;   // "cycle" or "tile"
  std::string array;  // "cpp" or "rtl"
  uint64_t seed = 0;
  std::string data_origin;
  std::vector<FormatRun> runs;
  double wall_seconds = 0;
};

// Adds the groups' statistics into one layer's (cycles, bytes and counts add; utilization is
// recomputed for the array).
void accumulate_stats(arch::LayerStats& into, const arch::LayerStats& group);
void finish_stats(arch::LayerStats& s, const arch::ArrayGeometry& g);

void print_report(std::ostream& out, const SimReport& report);
std::string layers_csv(const SimReport& report);
std::string summary_json(const SimReport& report);
std::string plot_svg(const SimReport& report);

}  // namespace lbfp::cli
