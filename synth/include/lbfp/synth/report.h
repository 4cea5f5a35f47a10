// The `lbfp synth` report: a Markdown table, report.html with its SVG charts (lbfp/chart) and a
// YAML energy table, all from measured per-unit costs. Ratios are LBFP8 / BFP8 of the same kind of unit.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lbfp/synth/power.h"

namespace lbfp::synth {

// The paper's multiplier figures (APCCAS 2020 abstract): -45 % area, -53 % power.
inline constexpr double kPaperAreaRatio = 0.55;
inline constexpr double kPaperPowerRatio = 0.47;

struct UnitCost {
  std::string kind;    // mul, mac, pe
  std::string format;  // lbfp8, bfp8
  std::string top;
  double area_um2 = 0.0;
  int64_t transistors = 0;
  int64_t cells = 0;
  double layer_pj = 0.0;    // dynamic energy per operation, layer operands
  double uniform_pj = 0.0;  // dynamic energy per operation, uniform random operands
  double leakage_nw = 0.0;
  std::string variant;  // "" or "iso" (BFP8 with operand isolation), as in Unit
  // `lbfp synth --activity both`: the timed (glitch-aware) figures next to the zero-delay ones
  // above; 0 where not measured (sequential units, or one activity model only).
  double timed_layer_pj = 0.0;
  double timed_uniform_pj = 0.0;
  double layer_toggles = 0.0;        // zero-delay transitions per operation, layer stream
  double timed_layer_toggles = 0.0;  // timed transitions per operation (glitches included)
  double timed_settle_ns = 0.0;      // the latest settling time of any layer operation
};

struct CostRatio {
  std::string kind;
  double area = 0.0;
  double transistors = 0.0;
  double layer_energy = 0.0;
  double uniform_energy = 0.0;
};

// One ratio per kind that has both an lbfp8 entry and a bfp8 entry of the given variant ("" the
// plain multiplier, "iso" with operand isolation), in the order of first appearance.
std::vector<CostRatio> cost_ratios(const std::vector<UnitCost>& costs,
                                   const std::string& bfp_variant = "");

struct ReportContext {
  // "zero-delay" (Verilator), "timed" (event-driven with NLDM delays: the energies are timed),
  // or "both" (zero-delay energies, with the timed ones beside them for combinational units).
  std::string activity = "zero-delay";
  std::string timed_delays = "inertial";  // or "transport" (TimedOptions::transport)
  std::string liberty;
  EnergyOptions energy;
  size_t ops = 0;
  uint64_t seed = 0;
  std::string command;
  std::string layer_source;  // where the layer operands come from, one line
  std::string layer_note;    // how the model layers' streams were made (report.html), or empty
};

std::string report_markdown(const std::vector<UnitCost>& costs, const ReportContext& context);

// Zero-delay and timed energies side by side, per unit and as LBFP8 / BFP8 ratios, for the units
// with timed figures (empty when there are none).
std::string timed_table_markdown(const std::vector<UnitCost>& costs,
                                 const std::string& timed_delays = "inertial");

// Energy per operation of one unit kind on one layer's operand stream.
struct LayerEnergy {
  std::string label;               // "LeNet-5 conv1 (first)"
  std::string source;              // the layer's shape and where its codes come from
  std::string kind;                // mul, mac, pe
  size_t ops = 0;                  // operations in the stream
  double zero_fraction = 0.0;      // products with a zero LBFP8 operand
  double median_bfp_mantissa = 0;  // median |n| of the non-zero BFP8 operands
  double lbfp8_pj = 0.0;
  double bfp8_pj = 0.0;
  double bfp8_iso_pj = 0.0;        // 0: not measured
  std::string model;               // the model the layer belongs to ("" for the tile)
  uint64_t macs = 0;               // the layer's multiply-accumulates per image (0: not known)
};

// All layers of one kind together: energies weighted by each stream's operations (so the ratio
// is total LBFP8 energy over total BFP8 energy), and the range of the per-layer ratios.
struct LayerSummary {
  size_t layers = 0;
  size_t ops = 0;
  double lbfp8_pj = 0.0;
  double bfp8_pj = 0.0;
  double bfp8_iso_pj = 0.0;
  double ratio = 0.0;      // lbfp8_pj / bfp8_pj
  double ratio_iso = 0.0;  // lbfp8_pj / bfp8_iso_pj (0 when any layer lacks bfp8 iso)
  double min_ratio = 0.0;
  double max_ratio = 0.0;
  size_t layers_at_target = 0;  // ratio <= kPaperPowerRatio
};
LayerSummary summarize_layers(const std::vector<LayerEnergy>& rows, const std::string& kind);

// The multiplier (or MAC, PE) energy of one whole inference of a model: each of its layers'
// measured energy per operation times the layer's MACs per image, summed over its rows of one
// kind. Meaningful only when the rows hold every Conv and Gemm layer of the model
// (`lbfp synth --layers all`).
struct ModelEnergy {
  std::string model;
  size_t layers = 0;
  uint64_t macs = 0;          // per image
  double lbfp8_nj = 0.0;      // per inference
  double bfp8_nj = 0.0;
  double bfp8_iso_nj = 0.0;   // 0 when any layer lacks bfp8 iso
  double ratio = 0.0;         // lbfp8_nj / bfp8_nj
  double ratio_iso = 0.0;     // lbfp8_nj / bfp8_iso_nj
  double min_ratio = 0.0;     // range of the per-layer ratios
  double max_ratio = 0.0;
};
// One entry per model of `kind`'s rows with macs > 0, in order of first appearance.
std::vector<ModelEnergy> summarize_models(const std::vector<LayerEnergy>& rows,
                                          const std::string& kind);
// One table per unit kind: a row per model (MACs, nJ per inference, ratios).
// `activity` ("timed") labels the tables when they hold timed figures.
std::string model_table_markdown(const std::vector<LayerEnergy>& rows,
                                 const std::string& activity = "");

// One table per unit kind present in `rows` (in order of appearance): a row per layer, then the
// summary row.
std::string layer_table_markdown(const std::vector<LayerEnergy>& rows,
                                 const std::string& activity = "");
// The unit costs as one figure (report.svg): a panel per metric (area, transistors, energy/op,
// timed energy/op where measured), drawn by lbfp/chart.
std::string report_svg(const std::vector<UnitCost>& costs);
// Each chart of report.html on its own (file name, SVG): area.svg, transistors.svg, energy.svg,
// energy-timed.svg (with timed figures), layer-ratios.svg (with layer rows).
std::vector<std::pair<std::string, std::string>> report_charts(
    const std::vector<UnitCost>& costs, const std::vector<LayerEnergy>& layer_rows,
    const std::vector<LayerEnergy>& timed_layer_rows);
// report.html: a self-contained page (lbfp/chart/page.h) with the configuration and the command,
// the unit and ratio tables, the charts, and the per-layer energy ratios; `per_model` adds the
// energy of one inference per model (--layers all).
std::string report_html(const std::vector<UnitCost>& costs,
                        const std::vector<LayerEnergy>& layer_rows,
                        const std::vector<LayerEnergy>& timed_layer_rows,
                        const ReportContext& context, bool per_model);
// Energy per action in pJ for a future `lbfp sim`, each number with its source in a comment.
std::string energy_yaml(const std::vector<UnitCost>& costs, const ReportContext& context);

}  // namespace lbfp::synth
