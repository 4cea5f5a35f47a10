// The energy model: a table of picojoules per action (configs/energy/*.yaml, optionally scaled
// by the project's synthesis results), and a layer's energy by component from its statistics.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/config_error.h"

namespace lbfp::arch {

struct EnergyTable {
  std::string name;
  std::string path;  // the file it was read from
  std::string technology;
  // Energy per action, picojoules.
  std::map<std::string, double> pj;
  std::map<std::string, std::string> sources;
  double at(const std::string& action) const;  // throws ConfigError when absent
};

// The energy actions every table must define.
const std::vector<std::string>& energy_actions();

// Reads an energy table (with its `base:` and `synthesis:` files). Throws ConfigError.
EnergyTable load_energy(const std::string& path);
EnergyTable parse_energy(const std::string& text, const std::string& source,
                         const std::string& base_dir);

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

// The statistics' action counts priced by `table`, with the LBFP or the BFP datapath's figures.
EnergyBreakdown layer_energy(const LayerStats& s, bool lbfp, const EnergyTable& table);

}  // namespace lbfp::arch
