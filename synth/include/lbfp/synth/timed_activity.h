// Timed, glitch-aware activity of a gate-level netlist (docs/hardware-cost.md, "Timed activity:
// glitches included"): an event-driven simulation of the mapped netlist (netlist.json) with the
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
// replaces only the changes scheduled at or after it), an upper bound that counts more glitches.
// All primary inputs change together at the start of each operation; each operation runs until
// no event is left.
//
// Flip-flops (liberty ff groups): asynchronous clear, then preset, then the rising value of the
// clocked_on expression samples next_state; the output follows after the clear, preset or
// clock-edge arc's delay. A clocked unit (input clk_i) is reset first as the Verilator harness
// does (one cycle with rst_ni low, not counted), then each operation is two phases, each run
// until no event is left: the inputs change with the falling clock edge, then the rising edge.
// No setup or hold checks. Latches and tri-state cells are refused with an error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lbfp/synth/flow.h"
#include "lbfp/synth/liberty.h"

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
  double max_settle_ns = 0.0;     // the latest last change of any operation (or clock phase)
  double mean_settle_ns = 0.0;    // mean over operations of the time of the last change
};

class TimedSimulator {
 public:
  // `library` must outlive the simulator (its delay tables are used in place).
  // Throws std::runtime_error naming the netlist and the cell for a netlist that cannot be
  // simulated: unknown cell, a latch or tri-state cell, a pin without a function or a
  // combinational cell without a timing arc from one of its inputs. Input ports other than
  // a_i, b_i, valid_i, first_i, last_i, clk_i and rst_ni stay 0 (as in the Verilator harness).
  TimedSimulator(const LibertyLibrary& library, const std::string& netlist_json,
                 const TimedOptions& options);
  ~TimedSimulator();
  TimedSimulator(const TimedSimulator&) = delete;
  TimedSimulator& operator=(const TimedSimulator&) = delete;

  // Plays the stream from the settled state of all-zero inputs (not counted; clocked units also
  // reset), as the Verilator harness does. With record_outputs, Activity::outputs holds per
  // operation a, b and the settled output ports (neg_o, mag_o, prod_o, acc_o, ovf_o, those
  // present), like run_activity().
  Activity run(const std::vector<Op>& stream, bool record_outputs);
  const TimedStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lbfp::synth
