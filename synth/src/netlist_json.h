// Reading the mapped netlist that synth/flow.tcl writes as JSON (write_json), shared by the
// energy estimate (power.cpp) and the timed activity (timed_activity.cpp). Internal to lbfp_synth.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "lbfp/synth/liberty.h"

namespace lbfp::synth {

// The parsed file; throws std::runtime_error naming it when it cannot be read or parsed.
nlohmann::json read_netlist_json(const std::string& path);

// The module with the "top" attribute; throws naming `path` when there is none.
const nlohmann::json& netlist_top_module(const nlohmann::json& doc, const std::string& path);

// The load on each output-port bit: `requested_pf`, or an INVX1 input when it is negative.
double output_port_load_pf(const LibertyLibrary& library, double requested_pf);

}  // namespace lbfp::synth
