// Dynamic energy of a gate-level netlist from its per-net toggle counts: each transition of a
// net costs 1/2 C V^2 on its load (the input pins it drives, plus a fixed load on output ports)
// and the driving cell's internal energy for that output transition (the liberty's rise_power /
// fall_power table at that load and a fixed input slew, averaged over the related pins), and each
// transition seen by an input pin with its own (passive) internal power costs that energy.
#pragma once

#include <memory>
#include <string>

#include "lbfp/synth/flow.h"
#include "lbfp/synth/liberty.h"

namespace lbfp::synth {

struct EnergyOptions {
  double voltage = 1.8;           // OSU 0.18 um nominal
  double input_slew_ns = 0.1;     // assumed transition time at every cell input
  double output_load_pf = -1.0;   // per output-port bit; < 0: the INVX1 input capacitance
  double frequency_mhz = 100.0;   // only to turn energy per operation into power
};

struct Energy {
  double switching_pj = 0.0;  // 1/2 C V^2 per transition, over the whole stream
  double internal_pj = 0.0;   // liberty internal energy, over the whole stream
  double per_op_pj = 0.0;
  double leakage_nw = 0.0;    // sum of cell_leakage_power, static
  int nets_priced = 0;        // nets with both a toggle count and a netlist entry
  int nets_missing = 0;       // driven nets that the simulation did not report
};

// One netlist read and resolved against the liberty once, then priced for any number of
// activities (`lbfp synth` prices a unit on a dozen streams or more). Throws std::runtime_error
// when the JSON netlist cannot be read or names unknown cells or pins.
class NetlistEnergy {
 public:
  NetlistEnergy(const LibertyLibrary& library, const std::string& netlist_json,
                const EnergyOptions& options);
  NetlistEnergy(NetlistEnergy&&) noexcept;
  NetlistEnergy& operator=(NetlistEnergy&&) noexcept;
  ~NetlistEnergy();

  Energy estimate(const Activity& activity) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// NetlistEnergy(library, netlist_json, options).estimate(activity), for a single stream.
Energy estimate_energy(const LibertyLibrary& library, const std::string& netlist_json,
                       const Activity& activity, const EnergyOptions& options);

}  // namespace lbfp::synth
