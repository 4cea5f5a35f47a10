// Architecture files (configs/arch/*.yaml): the schema, its defaults and its limits (one table,
// limits.h, shared with AcceleratorConfig::validate), with file, line and key in every error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/config_error.h"

namespace lbfp::arch {

struct ArchSpec {
  std::string name;
  std::string path;  // "<embedded>/..." for the built-in default
  AcceleratorConfig accel;
  double clock_mhz = 1000.0;
  std::string energy_path;  // resolved against the arch file's folder
  // What a front end should print before running: the keys of a SCALE-Sim .cfg that were not
  // mapped (scalesim_config.h). Empty for a YAML file.
  std::vector<std::string> warnings;
};

// `array.dataflow`: output-stationary, weight-stationary, input-stationary or os, ws, is.
std::optional<Dataflow> parse_dataflow(const std::string& name);

// Reads an architecture file; `overrides` are "dotted.key=value" pairs (`--set`; "key=" removes
// the key) applied to the YAML before it is checked. Throws ConfigError. A SCALE-Sim v2 .cfg
// (scalesim_config.h) is mapped onto this schema first, its codes in `cfg_format` ("lbfp8" or
// "bfp8"); errors then name the .cfg line and key.
ArchSpec load_arch(const std::string& path, const std::vector<std::string>& overrides,
                   const std::string& cfg_format = "lbfp8");
ArchSpec parse_arch(const std::string& text, const std::string& source,
                    const std::string& base_dir, const std::vector<std::string>& overrides);

}  // namespace lbfp::arch
