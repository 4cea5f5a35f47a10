// `lbfp sim`, callable in-process (tests).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "lbfp/arch/simulate.h"

namespace lbfp::cli {

struct SimOptions : arch::SimulationRequest {
  std::string out;  // folder for layers.csv, summary.json and plot.svg; empty: none
  bool quiet = false;
  bool progress = true;
};

// Runs one simulation; 0, kExitBadInput (bad input, message on err) or 1 (simulation failed).
// Callable again in the same process (arch::simulate); not from two threads at once.
int run_sim(const SimOptions& options, std::ostream& out, std::ostream& err);

}  // namespace lbfp::cli
