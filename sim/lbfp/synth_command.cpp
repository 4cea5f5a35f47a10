// `lbfp synth`: area, transistor count and energy per operation of the LBFP8 and BFP8
// multipliers, MAC units and PEs on the OSU 0.18 um library (the plan: synth/, measure.h;
// docs/hardware-cost.md). Writes report.html (with charts/), report.md, report.svg and
// energy.yaml to --out, and prints the report with the command line that reproduces the run.
// Exit 2 on bad input or a missing liberty file, 1 when a tool fails.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli_options.h"
#include "commands.h"
#include "golden.h"
#include "lbfp/synth/measure.h"
#include "output_file.h"

namespace lbfp::cli {
namespace {

constexpr int kExitToolFailed = 1;

int run_synth(const synth::MeasureOptions& o) {
  synth::MeasureInputs in;
  try {
    in = synth::read_measure_inputs(o);
    make_output_folder(o.out);
    // Before minutes of synthesis: a file in the place of charts/ is bad input.
    make_output_folder((std::filesystem::path(o.out) / "charts").string());
  } catch (const std::exception& e) {
    synth::remove_temporary_work_dir(in);  // a bad --out: the run's folder goes too
    std::cerr << "lbfp synth: " << e.what() << "\n";
    return kExitBadInput;
  }
  const synth::MeasureReport report = synth::measure_units(o, in, std::cerr);
  synth::remove_temporary_work_dir(in);
  const std::filesystem::path out(o.out);
  std::vector<std::pair<std::string, std::string>> files = {
      {(out / "report.html").string(), report.html},
      {(out / "report.md").string(), report.markdown},
      {(out / "report.svg").string(), report.svg},
      {(out / "energy.yaml").string(), report.energy_yaml}};
  for (const auto& [name, svg] : report.charts) {
    files.emplace_back((out / "charts" / name).string(), svg);
  }
  write_files_atomically(files);
  std::cout << report.markdown << "\nWrote " << (out / "report.html").string()
            << " (open it first), report.md, report.svg, energy.yaml, charts/\n";
  return 0;
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto options = std::make_shared<synth::MeasureOptions>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Area, transistor count and energy/op of the LBFP8 vs BFP8 multiplier, MAC and PE "
               "(Yosys onto OSU 0.18 um, Verilator activity)");
  cmd->add_option("--liberty", options->liberty,
                  "Liberty file (default: build/tech/osu018/osu018_stdcells.lib from "
                  "scripts/setup.sh)");
  cmd->add_option("--source-dir", options->source_dir,
                  "Repository whose rtl/ and synth/ are synthesized (default: this build's)");
  cmd->add_option("--layer-tile", options->layer_tile,
                  "Layer operands (default: data/lenet5_fc1_tile.txt, LeNet-5 fc1)");
  cmd->add_option("--out", options->out, "Folder for report.html, charts/, report.md, report.svg, energy.yaml")
      ->capture_default_str();
  cmd->add_option("--work", options->work, "Folder for netlists and simulations (default: a "
                                           "temporary folder)");
  cmd->add_option("--ops", options->ops, "Operations per operand stream")
      ->capture_default_str()
      ->check(unsigned_integer() & CLI::Range(64, 10000000));
  cmd->add_option("--seed", options->seed, "Seed of the uniform operand stream")
      ->capture_default_str()
      ->check(unsigned_integer());
  cmd->add_option("--voltage", options->voltage, "Supply voltage (V)")
      ->capture_default_str()
      ->check(finite_number() & CLI::Range(0.5, 5.0));
  cmd->add_option("--frequency-mhz", options->frequency_mhz, "Clock, for power = energy x f")
      ->capture_default_str()
      ->check(finite_number() & CLI::Range(1.0, 5000.0));
  cmd->add_option("--slew-ns", options->slew_ns, "Input transition time for the power tables")
      ->capture_default_str()
      ->check(finite_number() & CLI::Range(0.0, 5.0));
  cmd->add_option("--units", options->kinds,
                  "Units: mul, mulheld (the multiplier behind the PE's operand hold), mac, pe, "
                  "pews (the weight-stationary PE), array and arrayws (whole 4x4 output- and "
                  "weight-stationary arrays, energy per MAC), fmtmul, fmtmac and fmtpe (the INT8, "
                  "FP8 E4M3 and E5M2 multipliers, MACs and output-stationary PEs), lbfpmul and "
                  "lbfpmac (the LBFP multiplier and MAC at the --lbfp-points of the LBFP family); "
                  "the last eight not in the default list")
      ->capture_default_str()
      ->check(CLI::IsMember({"mul", "mulheld", "mac", "pe", "pews", "array", "arrayws", "fmtmul",
                             "fmtmac", "fmtpe", "lbfpmul", "lbfpmac"}));
  cmd->add_option("--lbfp-points", options->lbfp_points,
                  "LBFP family points W:F of the lbfpmul and lbfpmac units, comma-separated "
                  "(format lbfp{W}f{F} in the report; 3 <= W <= 8, 1 <= F <= min(6, W - 2), "
                  "P = 8, A = 32)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--layer-units", options->layer_kinds,
                  "Units also measured on the model layers' streams (docs/hardware-cost.md): "
                  "mul, mulheld, mac, pe, pews, or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"mul", "mulheld", "mac", "pe", "pews", "none"}));
  cmd->add_option("--calib-images", options->calib_images,
                  "Training images for the model layers' KL calibration (as lbfp eval)")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  cmd->add_option("--layers", options->layers,
                  "Model layers measured: sample (ten chosen layers) or all (every Conv and Gemm "
                  "layer of the three models, with the energy of one whole inference per model)")
      ->capture_default_str()
      ->check(CLI::IsMember({"sample", "all"}));
  cmd->add_option("--layer-ops", options->layer_ops,
                  "Operations per model-layer stream (default: --ops with --layers sample, "
                  "8192 with --layers all)")
      ->check(unsigned_integer() & CLI::Range(64, 10000000));
  cmd->add_option("--activity", options->activity,
                  "Switching activity: zero-delay (Verilator, settled values), timed "
                  "(event-driven with the liberty's NLDM delays, glitches counted) or both "
                  "(zero-delay figures, the timed ones beside them)")
      ->capture_default_str()
      ->check(CLI::IsMember({"zero-delay", "timed", "both"}));
  cmd->add_option("--timed-delays", options->timed_delays,
                  "Delays of the timed activity: inertial (a pulse shorter than a gate's delay "
                  "is filtered) or transport (every pulse passes, an upper bound)")
      ->capture_default_str()
      ->check(CLI::IsMember({"inertial", "transport"}));
  cmd->add_option("--jobs", options->jobs, "Parallel compile jobs for Verilator")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->callback([options]() {
    int status = 0;
    try {
      status = run_synth(*options);
    } catch (const std::exception& e) {
      std::cerr << "lbfp synth: error: " << e.what() << "\n";
      status = kExitToolFailed;
    }
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace lbfp::cli
