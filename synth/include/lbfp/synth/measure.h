// The measurement plan of `lbfp synth`: which units are synthesized, which operand streams each
// is played (the committed layer tile, a uniform stream, the model layers), with which activity
// model, and the report it makes (report.md, report.html with charts/, report.svg, energy.yaml). docs/hardware-cost.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "lbfp/synth/flow.h"
#include "lbfp/synth/layer_tile.h"
#include "lbfp/synth/liberty.h"
#include "lbfp/synth/model_layers.h"

namespace lbfp::synth {

// The options as `lbfp synth` names them; empty strings take the defaults of default_tools().
struct MeasureOptions {
  std::string liberty;
  std::string source_dir;
  std::string layer_tile;  // empty: the committed LeNet-5 fc1 tile
  std::string out = "synth-report";
  std::string work;
  size_t ops = 16384;
  uint64_t seed = 1;
  double voltage = 1.8;
  double frequency_mhz = 100.0;
  double slew_ns = 0.1;
  std::vector<std::string> kinds = {"mul", "mulheld", "mac", "pe"};
  std::vector<std::string> layer_kinds = {"mul", "mulheld"};  // also measured on model layers
  // The LBFP family points "W:F" of the lbfpmul unit (lbfp_family_unit), in this order.
  std::vector<std::string> lbfp_points = {"6:3", "6:4", "7:3", "7:4", "7:5", "8:3", "8:4", "8:5"};
  size_t calib_images = 1000;
  std::string layers = "sample";  // sample: 10 chosen layers; all: every Conv/Gemm layer
  size_t layer_ops = 0;           // ops per model-layer stream; 0: --ops (sample), 8192 (all)
  int jobs = 2;
  // zero-delay: Verilator counts; timed: event-driven with the liberty's delays (glitches
  // counted); both: zero-delay figures, with the timed ones beside them.
  std::string activity = "both";
  std::string timed_delays = "inertial";  // or transport: every pulse passes (an upper bound)
};

// Everything the user gave, read before the first tool runs (minutes of synthesis would
// otherwise end in an error about a typo).
struct MeasureInputs {
  Tools tools;
  LibertyLibrary library;
  LayerTile tile;
  std::string tile_path;
  std::vector<LayerOperands> model_layers;
  // Without --work: a fresh folder of this run's own under the temporary directory (so that two
  // runs at once never share netlists), removed after a successful run and kept after a failure
  // for the logs the error names.
  bool temporary_work_dir = false;
};

// Removes the run's own work folder (MeasureInputs::temporary_work_dir); no-op otherwise.
void remove_temporary_work_dir(const MeasureInputs& inputs);

// Reads and checks the liberty file, the layer tile and the model layers' streams. Throws
// lbfp::ConfigError (or the readers' errors) naming the file or option.
MeasureInputs read_measure_inputs(const MeasureOptions& options);

struct MeasureReport {
  std::string markdown;     // report.md
  std::string svg;          // report.svg
  std::string energy_yaml;  // energy.yaml
  std::string html;         // report.html
  std::vector<std::pair<std::string, std::string>> charts;  // charts/NAME.svg
};

// Synthesizes and measures every unit of options.kinds (progress lines on `log`). Throws
// std::runtime_error when a tool fails.
MeasureReport measure_units(const MeasureOptions& options, const MeasureInputs& inputs,
                            std::ostream& log);

// The `lbfp synth` command line that reproduces a run with these options (in report.md).
std::string reproduce_command(const MeasureOptions& options);

}  // namespace lbfp::synth
