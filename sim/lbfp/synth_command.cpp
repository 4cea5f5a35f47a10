// `lbfp synth`: area, transistor count and energy per operation of the LBFP8 and BFP8
// multipliers, MAC units and PEs on the OSU 0.18 um library (synth/, docs/hardware-cost.md).
// Writes report.md, report.svg and energy.yaml to --out. Exit 2 on bad input or a missing
// liberty file, 1 when a tool fails.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli_options.h"
#include "commands.h"
#include "golden.h"
#include "lbfp/synth/flow.h"
#include "lbfp/synth/layer_tile.h"
#include "lbfp/synth/liberty.h"
#include "lbfp/synth/model_layers.h"
#include "lbfp/synth/power.h"
#include "lbfp/synth/report.h"
#include "lbfp/synth/streams.h"
#include "lbfp/synth/timed_activity.h"
#include "output_file.h"

namespace lbfp::cli {
namespace {

constexpr int kExitToolFailed = 1;

struct SynthOptions {
  std::string liberty;
  std::string source_dir;
  std::string layer_tile;
  std::string out = "synth-report";
  std::string work;
  size_t ops = 16384;
  uint64_t seed = 1;
  double voltage = 1.8;
  double frequency_mhz = 100.0;
  double slew_ns = 0.1;
  std::vector<std::string> kinds = {"mul", "mulheld", "mac", "pe"};
  std::vector<std::string> layer_kinds = {"mul", "mulheld"};  // also measured on model layers
  size_t calib_images = 1000;
  std::string layers = "sample";  // sample: 10 chosen layers; all: every Conv/Gemm layer
  size_t layer_ops = 0;           // ops per model-layer stream; 0: --ops (sample), 8192 (all)
  int jobs = 2;
  // zero-delay: Verilator counts; timed: event-driven with the liberty's delays (glitches
  // counted); both: zero-delay figures, with the timed ones beside them.
  std::string activity = "both";
  std::string timed_delays = "inertial";  // or transport: every pulse passes (an upper bound)
};

bool wants_timed(const SynthOptions& o) { return o.activity != "zero-delay"; }
bool wants_zero_delay(const SynthOptions& o) { return o.activity != "timed"; }

// Everything the user gave, read before the first tool runs (minutes of synthesis would
// otherwise end in an error about a typo): a bad value is an error with exit status 2.
struct SynthInputs {
  synth::Tools tools;
  synth::LibertyLibrary library;
  synth::LayerTile tile;
  std::string tile_path;
  std::vector<synth::LayerOperands> model_layers;
};

// Operations per model-layer stream: --layer-ops, else --ops for the ten sampled layers and 8192
// for all 29 layers (three times the streams at half the length keeps the run near five minutes).
constexpr size_t kAllLayersOps = 8192;
size_t layer_stream_ops(const SynthOptions& o) {
  if (o.layer_ops > 0) return o.layer_ops;
  return o.layers == "all" ? std::min(o.ops, kAllLayersOps) : o.ops;
}

SynthInputs read_inputs(const SynthOptions& o) {
  namespace fs = std::filesystem;
  SynthInputs in;
  in.tools = synth::default_tools();
  if (!o.liberty.empty()) in.tools.liberty = o.liberty;
  if (!o.work.empty()) in.tools.work_dir = o.work;
  if (!o.source_dir.empty()) in.tools.source_dir = o.source_dir;
  in.tools.build_jobs = o.jobs;
  in.tile_path =
      o.layer_tile.empty() ? synth::lenet5_fc1_tile_path(in.tools.source_dir) : o.layer_tile;
  // Both readers take the whole file: a device or a pipe (/dev/zero) would never end.
  std::error_code ec;
  if (fs::exists(in.tile_path, ec) && !fs::is_regular_file(in.tile_path, ec)) {
    throw ConfigError(in.tile_path + ": not a regular file (--layer-tile)");
  }
  in.tile = synth::read_layer_tile(in.tile_path);
  if (fs::exists(in.tools.liberty, ec) && !fs::is_regular_file(in.tools.liberty, ec)) {
    throw ConfigError(in.tools.liberty + ": not a regular file (--liberty)");
  }
  if (!fs::exists(in.tools.liberty)) {
    throw ConfigError("liberty file " + in.tools.liberty +
                      " not found. Run scripts/setup.sh (it unpacks the OSU 0.18 um library of "
                      "the Debian package qflow-tech-osu018 to build/tech/osu018/), or pass "
                      "--liberty.");
  }
  in.library = synth::read_liberty(in.tools.liberty);
  // The model layers' streams: calibration and quantized inference take seconds, and a missing
  // data set is the user's to fix (scripts/setup.sh), so they come before the first tool runs.
  if (std::find(o.layer_kinds.begin(), o.layer_kinds.end(), "none") == o.layer_kinds.end()) {
    synth::ModelStreamOptions mo;
    mo.calib_images = o.calib_images;
    mo.ops = layer_stream_ops(o);
    try {
      const std::vector<synth::ModelLayer> layers =
          o.layers == "all" ? synth::all_model_layers(in.tools.source_dir)
                            : synth::default_model_layers();
      in.model_layers = synth::model_layer_streams(in.tools.source_dir, layers, mo);
    } catch (const std::exception& e) {
      throw ConfigError(std::string("model layer streams: ") + e.what() +
                        " (run scripts/setup.sh for the data sets, or pass --layer-units none)");
    }
  }
  // The output load of the power tables is an INVX1 input.
  if (in.library.cells.count("INVX1") == 0 || in.library.cell("INVX1").pin("A") == nullptr) {
    throw ConfigError(in.tools.liberty + ": no cell INVX1 with an input pin A");
  }
  make_output_folder(o.out);
  return in;
}

int run_synth(const SynthOptions& o) {
  namespace fs = std::filesystem;
  SynthInputs in;
  try {
    in = read_inputs(o);
  } catch (const std::exception& e) {
    std::cerr << "lbfp synth: " << e.what() << "\n";
    return kExitBadInput;
  }
  const synth::Tools& tools = in.tools;
  const synth::LibertyLibrary& library = in.library;
  const synth::LayerTile& tile = in.tile;
  const std::string& tile_path = in.tile_path;
  synth::EnergyOptions energy;
  energy.voltage = o.voltage;
  energy.frequency_mhz = o.frequency_mhz;
  energy.input_slew_ns = o.slew_ns;
  energy.output_load_pf = library.cell("INVX1").pin("A")->capacitance_pf;
  const std::string layer_source = fmt::format(
      "{} ({} x {} activations, {} x {} weights; {:.1f} % of the LBFP8 products have a zero "
      "operand)",
      o.layer_tile.empty() ? "LeNet-5 fc1 tile, data/lenet5_fc1_tile.txt" : tile_path,
      tile.m, tile.k, tile.k, tile.n,
      100.0 * synth::zero_operand_fraction("lbfp8", synth::layer_stream(tile, "lbfp8", o.ops)));

  // The committed tile's row first (its stream is the "layer" stream above), then the models'.
  const std::vector<synth::Op> tile_stream_lbfp = synth::layer_stream(tile, "lbfp8", o.ops);
  const std::vector<synth::Op> tile_stream_bfp = synth::layer_stream(tile, "bfp8", o.ops);
  std::vector<synth::LayerEnergy> layer_rows;
  std::vector<synth::LayerEnergy> timed_layer_rows;  // --activity both: the timed figures
  auto layer_row = [&](std::vector<synth::LayerEnergy>& rows, const std::string& kind,
                       size_t index) -> synth::LayerEnergy& {
    const size_t per_kind = in.model_layers.size() + 1;
    const auto pos = std::find(o.layer_kinds.begin(), o.layer_kinds.end(), kind);
    const size_t at = static_cast<size_t>(pos - o.layer_kinds.begin()) * per_kind + index;
    if (rows.size() <= at) rows.resize(at + 1);
    synth::LayerEnergy& r = rows[at];
    r.kind = kind;
    if (index == 0) {
      r.label = o.layer_tile.empty() ? "LeNet-5 fc1 tile (committed)" : "--layer-tile";
      r.source = fmt::format("{} ({} x {} x {}; max calibration over the tile)",
                             o.layer_tile.empty() ? "data/lenet5_fc1_tile.txt" : tile_path,
                             tile.m, tile.k, tile.n);
      r.ops = tile_stream_lbfp.size();
      r.zero_fraction = synth::zero_operand_fraction("lbfp8", tile_stream_lbfp);
      r.median_bfp_mantissa = synth::median_bfp_mantissa(tile_stream_bfp);
    } else {
      const synth::LayerOperands& l = in.model_layers[index - 1];
      r.label = l.layer.label;
      r.source = fmt::format(
          "{}, {} {}: {}, K = {}, {} MACs per image, {} outputs of test images 0..3",
          l.layer.model, l.layer.dataset, l.layer.node, l.shape, l.reduction, l.macs, l.outputs);
      r.ops = l.lbfp8.size();
      r.model = synth::model_display_name(l.layer.model);
      r.macs = l.macs;
      r.zero_fraction = synth::zero_operand_fraction("lbfp8", l.lbfp8);
      r.median_bfp_mantissa = synth::median_bfp_mantissa(l.bfp8);
    }
    return r;
  };
  auto record = [](synth::LayerEnergy& r, const synth::UnitCost& c, double pj) {
    if (c.format == "lbfp8") {
      r.lbfp8_pj = pj;
    } else {
      (c.variant.empty() ? r.bfp8_pj : r.bfp8_iso_pj) = pj;
    }
  };
  const bool layers_on = !in.model_layers.empty();

  std::vector<synth::UnitCost> costs;
  // One per unit folder: the plain BFP8 multiplier is the baseline of both mul and mulheld, on
  // the same streams, so it is synthesized, built and measured once.
  struct Measured {
    double per_op_pj = 0.0;
    double leakage_nw = 0.0;
    double toggles_per_op = 0.0;
    double max_settle_ns = 0.0;  // timed only: the stream's latest settling
  };
  struct Built {
    synth::SynthResult synth;
    std::string simulator;  // the zero-delay activity model ("" without zero-delay)
    std::unique_ptr<synth::TimedSimulator> timed;
    std::unique_ptr<synth::NetlistEnergy> energy;
    std::map<std::string, Measured> measured;  // by activity model and stream name
  };
  std::map<std::string, Built> built_units;
  for (const std::string& kind : o.kinds) {
    for (const synth::Unit& unit : synth::units()) {
      if (unit.kind != kind) continue;
      const std::string& format = unit.format;
      std::cerr << fmt::format("lbfp synth: {} ({}{})...\n", unit.top, format,
                               unit.variant.empty() ? "" : " " + unit.variant);
      const bool timed = wants_timed(o);
      Built& b = built_units[unit.name()];
      if (!b.energy) {
        b.synth = synth::synthesize(tools, unit);
        if (wants_zero_delay(o)) {
          b.simulator = synth::build_activity_model(tools, unit, b.synth, library);
        }
        if (timed) {
          synth::TimedOptions to;
          to.input_slew_ns = o.slew_ns;
          to.output_load_pf = energy.output_load_pf;
          to.transport = o.timed_delays == "transport";
          b.timed = std::make_unique<synth::TimedSimulator>(library, b.synth.netlist_json, to);
        }
        b.energy = std::make_unique<synth::NetlistEnergy>(library, b.synth.netlist_json, energy);
      }
      const synth::SynthResult& s = b.synth;
      // Energy per operation of one stream with the zero-delay or the timed activity.
      auto measure = [&](bool use_timed, const std::string& name,
                         const std::vector<synth::Op>& stream) -> const Measured& {
        const std::string key = (use_timed ? "timed/" : "zero-delay/") + name;
        auto it = b.measured.find(key);
        if (it != b.measured.end()) return it->second;
        const synth::Activity a =
            use_timed ? b.timed->run(stream, false)
                      : synth::run_activity(b.simulator, s.dir, name, stream, false);
        const synth::Energy e = b.energy->estimate(a);
        if (e.nets_missing > 0) {
          throw std::runtime_error(fmt::format("{}: {} driven nets have no toggle count",
                                               unit.name(), e.nets_missing));
        }
        uint64_t toggles = 0;
        for (const auto& [net, t] : a.nets) toggles += t.rises + t.falls;
        Measured m;
        m.per_op_pj = e.per_op_pj;
        m.leakage_nw = e.leakage_nw;
        m.toggles_per_op = static_cast<double>(toggles) / static_cast<double>(a.ops);
        if (use_timed) m.max_settle_ns = b.timed->stats().max_settle_ns;
        return b.measured.emplace(key, m).first->second;
      };
      synth::UnitCost c;
      c.kind = kind;
      c.format = format;
      c.top = unit.top;
      c.area_um2 = s.area_um2;
      c.transistors = s.transistors;
      c.cells = s.cell_count;
      c.variant = unit.variant;
      // A multiplier behind a PE's operand hold plays what that register passes it.
      std::vector<synth::Op> held;
      auto played = [&](const std::vector<synth::Op>& stream) -> const std::vector<synth::Op>& {
        if (!unit.held) return stream;
        held = synth::held_operand_stream(format, stream);
        return held;
      };
      for (const bool layer : {true, false}) {
        const std::vector<synth::Op> raw = layer ? synth::layer_stream(tile, format, o.ops)
                                                 : synth::uniform_stream(format, o.ops, o.seed);
        const std::vector<synth::Op>& stream = played(raw);
        const std::string name = layer ? "layer" : "uniform";
        // The main figures: zero-delay, or timed with --activity timed.
        const Measured& e = measure(!wants_zero_delay(o), name, stream);
        (layer ? c.layer_pj : c.uniform_pj) = e.per_op_pj;
        if (layer) c.layer_toggles = e.toggles_per_op;
        c.leakage_nw = e.leakage_nw;
        if (timed && wants_zero_delay(o)) {
          const Measured& t = measure(true, name, stream);
          (layer ? c.timed_layer_pj : c.timed_uniform_pj) = t.per_op_pj;
          if (layer) c.timed_layer_toggles = t.toggles_per_op;
        }
        if (layer && timed) c.timed_settle_ns = measure(true, name, stream).max_settle_ns;
      }
      const bool by_layer = layers_on && std::find(o.layer_kinds.begin(), o.layer_kinds.end(),
                                                   kind) != o.layer_kinds.end();
      if (by_layer) {
        const bool both = timed && wants_zero_delay(o);
        record(layer_row(layer_rows, kind, 0), c, c.layer_pj);
        if (both) record(layer_row(timed_layer_rows, kind, 0), c, c.timed_layer_pj);
        for (size_t i = 0; i < in.model_layers.size(); ++i) {
          const synth::LayerOperands& l = in.model_layers[i];
          const std::string name = fmt::format("model_layer_{}", i);
          const std::vector<synth::Op>& stream = played(format == "lbfp8" ? l.lbfp8 : l.bfp8);
          record(layer_row(layer_rows, kind, i + 1), c,
                 measure(!wants_zero_delay(o), name, stream).per_op_pj);
          if (both) {
            record(layer_row(timed_layer_rows, kind, i + 1), c,
                   measure(true, name, stream).per_op_pj);
          }
        }
      }
      costs.push_back(c);
    }
  }

  synth::ReportContext ctx;
  ctx.activity = o.activity;
  ctx.timed_delays = o.timed_delays;
  ctx.liberty = tools.liberty;
  ctx.energy = energy;
  ctx.ops = o.ops;
  ctx.seed = o.seed;
  ctx.command = fmt::format("lbfp synth --activity {}{} --ops {} --seed {} --voltage {} "
                            "--frequency-mhz {}{}",
                            o.activity,
                            o.timed_delays == "transport" ? " --timed-delays transport" : "",
                            o.ops, o.seed, o.voltage, o.frequency_mhz,
                            o.layers == "all" ? fmt::format(" --layers all --layer-ops {}",
                                                            layer_stream_ops(o))
                                              : std::string());
  ctx.layer_source = layer_source;
  for (std::vector<synth::LayerEnergy>* rows : {&layer_rows, &timed_layer_rows}) {
    rows->erase(std::remove_if(rows->begin(), rows->end(),
                               [](const synth::LayerEnergy& r) { return r.kind.empty(); }),
                rows->end());
  }
  std::string table = synth::report_markdown(costs, ctx);
  if (!layer_rows.empty()) {
    table += "\nModel layers: activations and weights quantized as `lbfp eval` quantizes them "
             "(KL activation exponents from " + std::to_string(o.calib_images) +
             " training images, max weight exponents per output channel, activation codes from "
             "the bit-exact quantized inference of test images 0..3); each stream is whole "
             "outputs of the output-stationary array in reduction order, " +
             std::to_string(layer_stream_ops(o)) + " operations per model layer.\n";
    const std::string label = o.activity == "timed" ? "timed" : "";
    if (o.layers == "all") table += synth::model_table_markdown(layer_rows, label);
    table += synth::layer_table_markdown(layer_rows, label);
    if (!timed_layer_rows.empty()) {
      table += "\nThe same streams with the timed (glitch-aware) activity:\n";
      if (o.layers == "all") table += synth::model_table_markdown(timed_layer_rows, "timed");
      table += synth::layer_table_markdown(timed_layer_rows, "timed");
    }
  }
  write_files_atomically({{(fs::path(o.out) / "report.md").string(), table},
                          {(fs::path(o.out) / "report.svg").string(), synth::report_svg(costs)},
                          {(fs::path(o.out) / "energy.yaml").string(), synth::energy_yaml(costs, ctx)}});
  std::cout << table << "\nWrote " << (fs::path(o.out) / "report.md").string() << ", report.svg, "
            << "energy.yaml\n";
  return 0;
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto options = std::make_shared<SynthOptions>();
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
  cmd->add_option("--out", options->out, "Folder for report.md, report.svg, energy.yaml")
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
                  "Units: mul, mulheld (the multiplier behind the PE's operand hold), mac, pe")
      ->capture_default_str()
      ->check(CLI::IsMember({"mul", "mulheld", "mac", "pe"}));
  cmd->add_option("--layer-units", options->layer_kinds,
                  "Units also measured on the model layers' streams (docs/hardware-cost.md): "
                  "mul, mulheld, mac, pe, or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"mul", "mulheld", "mac", "pe", "none"}));
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
