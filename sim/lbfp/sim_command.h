// `lbfp sim`, callable in-process (tests, `lbfp sweep`).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "lbfp/arch/number_format.h"

namespace lbfp::cli {

using arch::NumberFormat;

struct SimOptions {
  std::string arch;      // empty: the embedded default
  std::string workload;  // empty: the embedded default
  std::string format = "both";
  std::string mode;  // empty: tile (cycle with --array rtl)
  std::string array = "cpp";
  std::string energy;
  uint64_t seed = 1;
  std::string out;
  std::vector<std::string> overrides;
  bool quiet = false;
  bool progress = true;
};

// The --format and --mode values `lbfp sim` takes (lbfp8, bfp8, both, arch; tile, cycle, or
// empty for the default); throw ConfigError naming the option otherwise. `lbfp sweep` checks its
// points with them before running any.
void check_format_choice(const std::string& format);
void check_mode_choice(const std::string& mode);

// Runs one simulation; 0, kExitBadInput (bad input, message on err) or 1 (simulation failed).
// SystemC elaborates once per process: call it once.
int run_sim(const SimOptions& options, std::ostream& out, std::ostream& err);

}  // namespace lbfp::cli
