// `lbfp sim` inputs: YAML architecture files and energy tables (configs/), with file, line and
// key in every error.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "cli_error.h"

namespace lbfp::cli {

struct EnergyTable {
  std::string name;
  std::string path;        // the file it was read from
  std::string technology;
  // Energy per action, picojoules.
  std::map<std::string, double> pj;
  std::map<std::string, std::string> sources;
  double at(const std::string& action) const;
};

struct ArchSpec {
  std::string name;
  std::string path;  // "<embedded>" for the built-in default
  arch::AcceleratorConfig accel;
  double clock_mhz = 1000.0;
  std::string energy_path;  // resolved against the arch file's folder
};

// Reads an architecture file; `overrides` are "dotted.key=value" pairs (`--set`) applied to the
// YAML before it is checked. Throws ConfigError.
ArchSpec load_arch(const std::string& path, const std::vector<std::string>& overrides);
ArchSpec parse_arch(const std::string& text, const std::string& source,
                    const std::string& base_dir, const std::vector<std::string>& overrides);

// Reads an energy table (with its `base:` and `synthesis:` files). Throws ConfigError.
EnergyTable load_energy(const std::string& path);
EnergyTable parse_energy(const std::string& text, const std::string& source,
                         const std::string& base_dir);

// The energy actions every table must define.
const std::vector<std::string>& energy_actions();

// Reads a whole file; throws ConfigError naming it when it cannot.
std::string read_text_file(const std::string& path);

}  // namespace lbfp::cli
