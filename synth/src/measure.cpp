#include "lbfp/synth/measure.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "lbfp/config_error.h"
#include "lbfp/synth/array_stream.h"
#include "lbfp/synth/power.h"
#include "lbfp/synth/report.h"
#include "lbfp/synth/streams.h"
#include "lbfp/synth/timed_activity.h"

namespace lbfp::synth {
namespace {

// The committed tile as the report names it (lenet5_fc1_tile_path of the source tree).
constexpr const char* kDefaultTileName = "data/lenet5_fc1_tile.txt";

bool wants_timed(const MeasureOptions& o) { return o.activity != "zero-delay"; }
bool wants_zero_delay(const MeasureOptions& o) { return o.activity != "timed"; }

// Operations per model-layer stream: --layer-ops, else --ops for the ten sampled layers and 8192
// for all 29 layers (three times the streams at half the length keeps the run near five minutes).
constexpr size_t kAllLayersOps = 8192;
size_t layer_stream_ops(const MeasureOptions& o) {
  if (o.layer_ops > 0) return o.layer_ops;
  return o.layers == "all" ? std::min(o.ops, kAllLayersOps) : o.ops;
}

// A word of a command line as a POSIX shell reads it back.
std::string shell_word(const std::string& s) {
  const bool plain = !s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                                                       "rstuvwxyz0123456789_./,:=+-") ==
                                       std::string::npos;
  if (plain) return s;
  std::string quoted = "'";
  for (char c : s) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string list_text(const std::vector<std::string>& values) {
  std::string text;
  for (const std::string& v : values) text += " " + shell_word(v);
  return text;
}

}  // namespace

std::string reproduce_command(const MeasureOptions& o) {
  const MeasureOptions d;
  // The options every report names, then each other option the run changed.
  std::string c = fmt::format("lbfp synth --activity {}{} --ops {} --seed {} --voltage {} "
                              "--frequency-mhz {}{}",
                              o.activity,
                              o.timed_delays == "transport" ? " --timed-delays transport" : "",
                              o.ops, o.seed, o.voltage, o.frequency_mhz,
                              o.layers == "all" ? fmt::format(" --layers all --layer-ops {}",
                                                              layer_stream_ops(o))
                                                : std::string());
  if (o.layers != "all" && o.layer_ops > 0) c += fmt::format(" --layer-ops {}", o.layer_ops);
  if (o.slew_ns != d.slew_ns) c += fmt::format(" --slew-ns {}", o.slew_ns);
  if (o.kinds != d.kinds) c += " --units" + list_text(o.kinds);
  if (o.layer_kinds != d.layer_kinds) c += " --layer-units" + list_text(o.layer_kinds);
  if (std::find(o.kinds.begin(), o.kinds.end(), "lbfpmul") != o.kinds.end() ||
      std::find(o.kinds.begin(), o.kinds.end(), "lbfpmac") != o.kinds.end()) {
    std::string points;
    for (const std::string& p : o.lbfp_points) points += (points.empty() ? "" : ",") + p;
    c += " --lbfp-points " + shell_word(points);
  }
  if (o.calib_images != d.calib_images) c += fmt::format(" --calib-images {}", o.calib_images);
  if (!o.layer_tile.empty()) c += " --layer-tile " + shell_word(o.layer_tile);
  if (!o.source_dir.empty()) c += " --source-dir " + shell_word(o.source_dir);
  if (!o.liberty.empty()) c += " --liberty " + shell_word(o.liberty);
  if (o.out != d.out) c += " --out " + shell_word(o.out);
  if (!o.work.empty()) c += " --work " + shell_word(o.work);
  if (o.jobs != d.jobs) c += fmt::format(" --jobs {}", o.jobs);
  return c;
}

MeasureInputs read_measure_inputs(const MeasureOptions& o) {
  namespace fs = std::filesystem;
  MeasureInputs in;
  in.tools = default_tools();
  if (!o.liberty.empty()) in.tools.liberty = o.liberty;
  if (!o.work.empty()) in.tools.work_dir = o.work;
  if (!o.source_dir.empty()) in.tools.source_dir = o.source_dir;
  in.tools.build_jobs = o.jobs;
  in.tile_path =
      o.layer_tile.empty() ? lenet5_fc1_tile_path(in.tools.source_dir) : o.layer_tile;
  // Both readers take the whole file: a device or a pipe (/dev/zero) would never end.
  std::error_code ec;
  if (fs::exists(in.tile_path, ec) && !fs::is_regular_file(in.tile_path, ec)) {
    throw ConfigError(in.tile_path + ": not a regular file (--layer-tile)");
  }
  in.tile = read_layer_tile(in.tile_path);
  for (const std::string& point : o.lbfp_points) {
    try {
      parse_lbfp_point(point);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string(e.what()) + " (--lbfp-points)");
    }
  }
  if (fs::exists(in.tools.liberty, ec) && !fs::is_regular_file(in.tools.liberty, ec)) {
    throw ConfigError(in.tools.liberty + ": not a regular file (--liberty)");
  }
  if (!fs::exists(in.tools.liberty)) {
    throw ConfigError("liberty file " + in.tools.liberty +
                      " not found. Run scripts/setup.sh (it unpacks the OSU 0.18 um library of "
                      "the Debian package qflow-tech-osu018 to build/tech/osu018/), or pass "
                      "--liberty.");
  }
  in.library = read_liberty(in.tools.liberty);
  // The output load of the power tables is an INVX1 input.
  if (in.library.cells.count("INVX1") == 0 || in.library.cell("INVX1").pin("A") == nullptr) {
    throw ConfigError(in.tools.liberty + ": no cell INVX1 with an input pin A");
  }
  // The model layers' streams: calibration and quantized inference take seconds, and a missing
  // data set is the user's to fix (scripts/setup.sh), so they come before the first tool runs.
  if (std::find(o.layer_kinds.begin(), o.layer_kinds.end(), "none") == o.layer_kinds.end()) {
    ModelStreamOptions mo;
    mo.calib_images = o.calib_images;
    mo.ops = layer_stream_ops(o);
    try {
      const std::vector<ModelLayer> layers =
          o.layers == "all" ? all_model_layers(in.tools.source_dir)
                            : default_model_layers();
      in.model_layers = model_layer_streams(in.tools.source_dir, layers, mo);
    } catch (const std::exception& e) {
      throw ConfigError(std::string("model layer streams: ") + e.what() +
                        " (run scripts/setup.sh for the data sets, or pass --layer-units none)");
    }
  }
  // Made last, once every input was accepted: a refused run leaves nothing behind.
  if (o.work.empty()) {
    std::string pattern = (fs::temp_directory_path() / "lbfp-synth-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw ConfigError("cannot create a work folder under " +
                        fs::temp_directory_path().string() + " (pass --work DIR)");
    }
    in.tools.work_dir = pattern;
    in.temporary_work_dir = true;
  }
  return in;
}

void remove_temporary_work_dir(const MeasureInputs& in) {
  if (!in.temporary_work_dir) return;
  std::error_code ec;
  std::filesystem::remove_all(in.tools.work_dir, ec);
}

MeasureReport measure_units(const MeasureOptions& o, const MeasureInputs& in, std::ostream& log) {
  const Tools& tools = in.tools;
  const LibertyLibrary& library = in.library;
  const LayerTile& tile = in.tile;
  const std::string& tile_path = in.tile_path;
  EnergyOptions energy;
  energy.voltage = o.voltage;
  energy.frequency_mhz = o.frequency_mhz;
  energy.input_slew_ns = o.slew_ns;
  energy.output_load_pf = library.cell("INVX1").pin("A")->capacitance_pf;
  const std::string layer_source = fmt::format(
      "{} ({} x {} activations, {} x {} weights; {:.1f} % of the LBFP8 products have a zero "
      "operand)",
      o.layer_tile.empty() ? fmt::format("LeNet-5 fc1 tile, {}", kDefaultTileName) : tile_path,
      tile.m, tile.k, tile.k, tile.n,
      100.0 * zero_operand_fraction("lbfp8", layer_stream(tile, "lbfp8", o.ops)));

  // The committed tile's row first (its stream is the "layer" stream above), then the models'.
  const std::vector<Op> tile_stream_lbfp = layer_stream(tile, "lbfp8", o.ops);
  const std::vector<Op> tile_stream_bfp = layer_stream(tile, "bfp8", o.ops);
  std::vector<LayerEnergy> layer_rows;
  std::vector<LayerEnergy> timed_layer_rows;  // --activity both: the timed figures
  auto layer_row = [&](std::vector<LayerEnergy>& rows, const std::string& kind,
                       size_t index) -> LayerEnergy& {
    const size_t per_kind = in.model_layers.size() + 1;
    const auto pos = std::find(o.layer_kinds.begin(), o.layer_kinds.end(), kind);
    const size_t at = static_cast<size_t>(pos - o.layer_kinds.begin()) * per_kind + index;
    if (rows.size() <= at) rows.resize(at + 1);
    LayerEnergy& r = rows[at];
    r.kind = kind;
    if (index == 0) {
      r.label = o.layer_tile.empty() ? "LeNet-5 fc1 tile (committed)" : "--layer-tile";
      r.source = fmt::format("{} ({} x {} x {}; max calibration over the tile)",
                             o.layer_tile.empty() ? kDefaultTileName : tile_path,
                             tile.m, tile.k, tile.n);
      r.ops = tile_stream_lbfp.size();
      r.zero_fraction = zero_operand_fraction("lbfp8", tile_stream_lbfp);
      r.median_bfp_mantissa = median_bfp_mantissa(tile_stream_bfp);
    } else {
      const LayerOperands& l = in.model_layers[index - 1];
      r.label = l.layer.label;
      r.source = fmt::format(
          "{}, {} {}: {}, K = {}, {} MACs per image, {} outputs of test images 0..3",
          l.layer.model, l.layer.dataset, l.layer.node, l.shape, l.reduction, l.macs, l.outputs);
      r.ops = l.lbfp8.size();
      r.model = model_display_name(l.layer.model);
      r.macs = l.macs;
      r.zero_fraction = zero_operand_fraction("lbfp8", l.lbfp8);
      r.median_bfp_mantissa = median_bfp_mantissa(l.bfp8);
    }
    return r;
  };
  auto record = [](LayerEnergy& r, const UnitCost& c, double pj) {
    if (c.format == "lbfp8") {
      r.lbfp8_pj = pj;
    } else {
      (c.variant.empty() ? r.bfp8_pj : r.bfp8_iso_pj) = pj;
    }
  };
  const bool layers_on = !in.model_layers.empty();

  std::vector<UnitCost> costs;
  // One per unit folder: the plain BFP8 multiplier is the baseline of both mul and mulheld, on
  // the same streams, so it is synthesized, built and measured once.
  struct Measured {
    double per_op_pj = 0.0;
    double leakage_nw = 0.0;
    double toggles_per_op = 0.0;
    double max_settle_ns = 0.0;  // timed only: the stream's latest settling
  };
  struct Built {
    SynthResult synth;
    std::string simulator;  // the zero-delay activity model ("" without zero-delay)
    std::unique_ptr<TimedSimulator> timed;
    std::unique_ptr<NetlistEnergy> energy;
    std::map<std::string, Measured> measured;  // by activity model and stream name
  };
  std::map<std::string, Built> built_units;
  for (const std::string& kind : o.kinds) {
    // The LBFP family's multipliers are made per point; every other kind is in units().
    std::vector<Unit> kind_units;
    if (kind == "lbfpmul" || kind == "lbfpmac") {
      for (const std::string& point : o.lbfp_points) {
        const auto [width, frac_bits] = parse_lbfp_point(point);
        kind_units.push_back(lbfp_family_unit(width, frac_bits, kind));
      }
    } else {
      for (const Unit& unit : units()) {
        if (unit.kind == kind) kind_units.push_back(unit);
      }
    }
    for (const Unit& unit : kind_units) {
      const std::string& format = unit.format;
      log << fmt::format("lbfp synth: {} ({}{})...\n", unit.top, format,
                               unit.variant.empty() ? "" : " " + unit.variant);
      const bool timed = wants_timed(o);
      Built& b = built_units[unit.name()];
      if (!b.energy) {
        b.synth = synthesize(tools, unit);
        if (wants_zero_delay(o) || is_array(unit)) {
          b.simulator = build_activity_model(tools, unit, b.synth, library);
        }
        if (timed && !is_array(unit)) {
          TimedOptions to;
          to.input_slew_ns = o.slew_ns;
          to.output_load_pf = energy.output_load_pf;
          to.transport = o.timed_delays == "transport";
          b.timed = std::make_unique<TimedSimulator>(library, b.synth.netlist_json, to);
        }
        b.energy = std::make_unique<NetlistEnergy>(library, b.synth.netlist_json, energy);
      }
      const SynthResult& s = b.synth;
      if (is_array(unit)) {
        // A whole array plays the GEMM of the layer tile (and of uniform codes) through its own
        // protocol, zero-delay only, every output row checked against the golden reference;
        // energy per MAC.
        if (b.simulator.empty()) b.simulator = build_activity_model(tools, unit, s, library);
        UnitCost c;
        c.kind = kind;
        c.format = format;
        c.top = unit.top;
        c.area_um2 = s.area_um2;
        c.transistors = s.transistors;
        c.cells = s.cell_count;
        c.variant = unit.variant;
        const bool ws = unit.kind == "arrayws";
        for (const bool layer : {true, false}) {
          const ArrayStream stream =
              layer ? layer_array_stream(tile, format, ws, kArrayRows, kArrayCols, o.ops)
                    : uniform_array_stream(tile, format, ws, kArrayRows, kArrayCols, o.ops,
                                           o.seed);
          const Activity a =
              run_array_activity(b.simulator, s.dir, layer ? "layer" : "uniform", stream);
          const Energy e = b.energy->estimate(a);
          if (e.nets_missing > 0) {
            throw std::runtime_error(fmt::format("{}: {} driven nets have no toggle count",
                                                 unit.name(), e.nets_missing));
          }
          uint64_t toggles = 0;
          for (const auto& [net, t] : a.nets) toggles += t.rises + t.falls;
          (layer ? c.layer_pj : c.uniform_pj) = e.per_op_pj;
          if (layer) c.layer_toggles = static_cast<double>(toggles) / static_cast<double>(a.ops);
          c.leakage_nw = e.leakage_nw;
        }
        costs.push_back(c);
        continue;
      }
      // Energy per operation of one stream with the zero-delay or the timed activity.
      auto measure = [&](bool use_timed, const std::string& name,
                         const std::vector<Op>& stream) -> const Measured& {
        // The format too: INT8's unit is the BFP8 multiplier's netlist, played other codes.
        const std::string key = (use_timed ? "timed/" : "zero-delay/") + format + "/" + name;
        auto it = b.measured.find(key);
        if (it != b.measured.end()) return it->second;
        const Activity a =
            use_timed ? b.timed->run(stream, false)
                      : run_activity(b.simulator, s.dir, name, stream, false);
        const Energy e = b.energy->estimate(a);
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
      UnitCost c;
      c.kind = kind;
      c.format = format;
      c.top = unit.top;
      c.area_um2 = s.area_um2;
      c.transistors = s.transistors;
      c.cells = s.cell_count;
      c.variant = unit.variant;
      // A multiplier behind a PE's operand hold plays what that register passes it.
      std::vector<Op> held;
      auto played = [&](const std::vector<Op>& stream) -> const std::vector<Op>& {
        if (!unit.held) return stream;
        held = held_operand_stream(format, stream);
        return held;
      };
      for (const bool layer : {true, false}) {
        const std::vector<Op> raw = layer ? layer_stream(tile, format, o.ops)
                                                 : uniform_stream(format, o.ops, o.seed);
        const std::vector<Op>& stream = played(raw);
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
          const LayerOperands& l = in.model_layers[i];
          const std::string name = fmt::format("model_layer_{}", i);
          const std::vector<Op>& stream = played(format == "lbfp8" ? l.lbfp8 : l.bfp8);
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

  ReportContext ctx;
  ctx.activity = o.activity;
  ctx.timed_delays = o.timed_delays;
  ctx.liberty = tools.liberty;
  ctx.energy = energy;
  ctx.ops = o.ops;
  ctx.seed = o.seed;
  ctx.command = reproduce_command(o);
  ctx.layer_source = layer_source;
  for (std::vector<LayerEnergy>* rows : {&layer_rows, &timed_layer_rows}) {
    rows->erase(std::remove_if(rows->begin(), rows->end(),
                               [](const LayerEnergy& r) { return r.kind.empty(); }),
                rows->end());
  }
  std::string table = report_markdown(costs, ctx);
  // The family points' layer streams: a narrow format flushes more of the tile to zero, which
  // a zero-isolating multiplier turns into energy; the fraction says how much.
  std::string family_zeros;
  for (const UnitCost& c : costs) {
    if (c.kind != "lbfpmul" && c.kind != "lbfpmac") continue;
    const std::string entry = fmt::format(
        "{} {:.1f} %", c.format,
        100.0 * zero_operand_fraction(c.format, layer_stream(tile, c.format, o.ops)));
    if (family_zeros.find(c.format + " ") == std::string::npos) {
      family_zeros += (family_zeros.empty() ? "" : ", ") + entry;
    }
  }
  if (!family_zeros.empty()) {
    table += "\nLBFP family points: the layer tile quantized by each point's own encoder "
             "(LbfpFormat(W, F, 8, 32)); products with a zero operand: " + family_zeros + ".\n";
  }
  if (!layer_rows.empty()) {
    ctx.layer_note =
        "Model layers: activations and weights quantized as `lbfp eval` quantizes them (KL "
        "activation exponents from " + std::to_string(o.calib_images) +
        " training images, max weight exponents per output channel, activation codes from the "
        "bit-exact quantized inference of test images 0..3); each stream is whole outputs of "
        "the output-stationary array in reduction order, " +
        std::to_string(layer_stream_ops(o)) + " operations per model layer.";
    table += "\n" + ctx.layer_note + "\n";
    const std::string label = o.activity == "timed" ? "timed" : "";
    if (o.layers == "all") table += model_table_markdown(layer_rows, label);
    table += layer_table_markdown(layer_rows, label);
    if (!timed_layer_rows.empty()) {
      table += "\nThe same streams with the timed (glitch-aware) activity:\n";
      if (o.layers == "all") table += model_table_markdown(timed_layer_rows, "timed");
      table += layer_table_markdown(timed_layer_rows, "timed");
    }
  }
  MeasureReport report;
  report.markdown = table;
  report.svg = report_svg(costs);
  report.energy_yaml = energy_yaml(costs, ctx);
  report.html = report_html(costs, layer_rows, timed_layer_rows, ctx, o.layers == "all");
  report.charts = report_charts(costs, layer_rows, timed_layer_rows);
  return report;
}

}  // namespace lbfp::synth
