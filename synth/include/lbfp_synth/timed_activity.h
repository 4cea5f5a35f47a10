// Timed, glitch-aware activity of a combinational gate-level netlist (docs/hardware-cost.md,
// "Timed activity"): an event-driven simulation of the mapped netlist (netlist.json) with the
// liberty's cell functions and NLDM delays, counting every transition of every net, glitches
// included, in the same Activity form that estimate_energy() prices.
//
// Delay model: each arc's cell_rise / cell_fall (by the output's new value) at the net's load
// (the input capacitances of the pins it drives, plus the output-port load for an output bit,
// as in power.cpp; no wires) and at the transition time of the input net that caused the
// change. A net's transition time is the driver's rise_transition / fall_transition of its last
// change (primary inputs: the input slew). Tables are interpolated and clamped to their range.
// Inertial delays by default: a pending output change is cancelled when a re-evaluation before it
// fires gives back the current value, so a pulse shorter than the gate's delay does not pass.
// TimedOptions::transport passes every pulse instead (VHDL transport semantics: a new change
// replaces only the changes scheduled at or after it), an upper bound that counts more glitches. All primary inputs change together at the start
// of each operation; each operation runs until no event is left.
//
// Sequential netlists (flip-flops, latches, tri-state cells) are refused with an error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lbfp_synth/flow.h"
#include "lbfp_synth/liberty.h"

namespace lbfp::synth {

struct TimedOptions {
  double input_slew_ns = 0.1;    // transition time of the primary inputs
  double output_load_pf = -1.0;  // per output-port bit; < 0: the INVX1 input capacitance
  bool transport = false;        // transport instead of inertial delays
};

// Totals over the operations of the last run().
struct TimedStats {
  uint64_t events = 0;            // output changes that fired
  uint64_t filtered_pulses = 0;   // pending changes cancelled by the inertial delay (0 transport)
  double max_settle_ns = 0.0;     // the latest last change of any operation
  double mean_settle_ns = 0.0;    // mean over operations of the time of the last change
};

class TimedSimulator {
 public:
  // `library` must outlive the simulator (its delay tables are used in place).
  // Throws std::runtime_error naming the netlist and the cell for a netlist that cannot be
  // simulated: unknown cell, a flip-flop, latch or tri-state cell, a pin without a function or a
  // timing arc, an input port other than a_i, b_i, valid_i, first_i, last_i.
  TimedSimulator(const LibertyLibrary& library, const std::string& netlist_json,
                 const TimedOptions& options);
  ~TimedSimulator();
  TimedSimulator(const TimedSimulator&) = delete;
  TimedSimulator& operator=(const TimedSimulator&) = delete;

  // Plays the stream from the settled state of all-zero inputs (not counted), as the Verilator
  // harness does. With record_outputs, Activity::outputs holds per operation a, b and the
  // settled output ports (neg_o, mag_o, prod_o, acc_o, ovf_o, those present), like
  // run_activity().
  Activity run(const std::vector<Op>& stream, bool record_outputs);
  const TimedStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lbfp::synth
