// A simulation's results: per-layer statistics and energy for each number format, rendered as a
// table, layers.csv, summary.json, charts (SVG, lbfp/chart) and report.html, the page that shows
// them all with the run's configuration.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
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
  Dataflow dataflow = Dataflow::kOutputStationary;  // the array's dataflow for this layer
};

// --dataflow best: one fixed dataflow's whole run, for what the per-layer choice saves.
struct DataflowRun {
  Dataflow dataflow = Dataflow::kOutputStationary;
  LayerStats total;
  EnergyBreakdown energy;
  size_t layers_chosen = 0;  // layers of the best run that took this dataflow
  std::vector<uint64_t> layer_cycles;  // per layer in this dataflow: total_cycles
  std::vector<double> layer_energy_pj;  // and total energy
};

struct FormatRun {
  std::string format;  // "lbfp8", "bfp8", ...
  bool lbfp = true;
  // The energy table's datapath of a format of spec section 13 ("int8", "fp8_e4m3",
  // "fp8_e5m2"); empty: lbfp or bfp by `lbfp`.
  std::string datapath;
  std::vector<LayerResult> layers;
  LayerStats total;
  EnergyBreakdown energy;
  std::vector<DataflowRun> fixed;  // --dataflow best: each dataflow on its own
};

struct SimReport {
  ArchSpec arch;
  Workload workload;
  EnergyTable energy;
  std::string mode;   // "cycle" or "tile"
  std::string array;  // "cpp" or "rtl"
  std::string im2col = "chip";  // where convolutions are lowered: "chip" or "host"
  // --dataflow as given ("" when the arch file's; "best": chosen per layer by best_by); a fixed
  // choice is in arch.accel.array.dataflow.
  std::string dataflow;
  std::string best_by;
  uint64_t seed = 0;
  std::string data_origin;
  std::vector<FormatRun> runs;
  double wall_seconds = 0;
  // Wall time the simulation waited for the workload data (generation, encoding, calibration,
  // made on other threads while it runs) and the simulation's own, both inside wall_seconds
  // (lbfp sim prints them on stderr; no report file holds them).
  double data_seconds = 0;
  double simulation_seconds = 0;
  // CPU time the threads that made the workload data took (all of it, the part beside the
  // simulation too; 0 where the platform has no per-thread CPU clock): what the data cost the
  // machine, where data_seconds is only what the simulation waited for it.
  double data_cpu_seconds = 0;
  std::string command;  // the command line that reproduced this run (report.html); may be empty
};

void print_report(std::ostream& out, const SimReport& report);
std::string layers_csv(const SimReport& report);
std::string summary_json(const SimReport& report);
// The per-layer energy by component, each format side by side (plot.svg).
std::string plot_svg(const SimReport& report);

// Every chart of report.html on its own, as (file name, SVG): energy.svg, ratios.svg (two
// formats), cycles.svg, utilization.svg, dram.svg.
std::vector<std::pair<std::string, std::string>> report_charts(const SimReport& report);

// One self-contained XHTML page: configuration, command, charts, totals and layers.csv's data.
std::string report_html(const SimReport& report);

}  // namespace lbfp::arch
