// The energy model: a table of picojoules per action (configs/energy/*.yaml, optionally scaled
// by the project's synthesis results), and a layer's energy by component from its statistics.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/arch/array_timing.h"
#include "lbfp/config_error.h"

namespace lbfp::arch {

struct EnergyTable {
  std::string name;
  std::string path;  // the file it was read from
  std::string technology;
  // Energy per action, picojoules.
  std::map<std::string, double> pj;
  std::map<std::string, std::string> sources;
  // SRAM read energy per 64-bit word by capacity (KiB -> pJ), `sram_read_pj_per_64bit`; empty:
  // every buffer costs sram_read_byte / sram_write_byte.
  std::map<double, double> sram_curve;
  std::string sram_curve_source;
  // The datapaths of spec section 13's formats from the `synthesis:` file's int8, fp8_e4m3 and
  // fp8_e5m2 sections: "<section>_multiply" and "<section>_accumulate", picojoules, with their
  // sources. Kept apart from `pj` (which every report lists) until a run of such a format
  // takes them (simulate.h).
  std::map<std::string, double> format_pj;
  std::map<std::string, std::string> format_sources;
  double at(const std::string& action) const;  // throws ConfigError when absent
  // Energy per byte read from (or written to) an SRAM of `capacity_bytes`: the curve
  // interpolated linearly in log2(capacity) and held at its end points beyond them, per 64-bit
  // word / 8; a write costs what a read does times sram_write_byte / sram_read_byte.
  double sram_byte_pj(uint64_t capacity_bytes, bool write) const;
};

// The energy actions every table must define.
const std::vector<std::string>& energy_actions();
// The optional actions of the weight-/input-stationary array's PE (rtl/pe_ws.sv): its multiply
// and accumulate per MAC, "lbfp_multiply_ws", "lbfp_accumulate_ws", "bfp_multiply_ws",
// "bfp_accumulate_ws". A table with `synthesis:` derives them from the synthesized PEs; without
// them a stationary array is priced as the output-stationary one.
const std::vector<std::string>& stationary_energy_actions();

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

// The statistics' action counts priced by `table`, with the LBFP or the BFP datapath's figures
// (a weight- or input-stationary array's multiply and accumulate: the *_ws actions when the
// table has them). SRAM at the flat sram_read_byte / sram_write_byte.
EnergyBreakdown layer_energy(const LayerStats& s, bool lbfp, const EnergyTable& table,
                             Dataflow dataflow = Dataflow::kOutputStationary);
// SRAM per buffer (the operands' traffic), each at the energy of its own size.
EnergyBreakdown layer_energy(const LayerStats& s, bool lbfp, const EnergyTable& table,
                             const BufferConfig& buffers,
                             Dataflow dataflow = Dataflow::kOutputStationary);
// The same with the datapath named: "lbfp", "bfp", or a section 13 format's energy section
// ("int8", "fp8_e4m3", "fp8_e5m2"): its "<datapath>_multiply" and "<datapath>_accumulate".
// (Its own name: a string literal would convert to layer_energy's bool.)
EnergyBreakdown layer_energy_for(const LayerStats& s, const std::string& datapath,
                                 const EnergyTable& table, const BufferConfig& buffers,
                                 Dataflow dataflow = Dataflow::kOutputStationary);

}  // namespace lbfp::arch
