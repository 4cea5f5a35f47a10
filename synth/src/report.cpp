#include "lbfp/synth/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <tuple>
#include <utility>

#include "lbfp/chart/chart.h"
#include "lbfp/chart/page.h"

namespace lbfp::synth {
namespace {

std::string kind_name(const std::string& kind) {
  if (kind == "mul") return "multiplier";
  if (kind == "mulheld") return "multiplier, operands held (as the PE drives it)";
  if (kind == "mac") return "MAC (multiplier + accumulator)";
  if (kind == "pe") return "PE";
  if (kind == "pews") return "weight-stationary PE";
  if (kind == "array") return "4x4 output-stationary array, per MAC";
  if (kind == "arrayws") return "4x4 weight-stationary array, per MAC";
  if (kind == "fmtmul") return "multiplier of an industry 8-bit format";
  if (kind == "fmtmac") return "MAC of an industry 8-bit format";
  if (kind == "fmtpe") return "PE of an industry 8-bit format";
  if (kind == "lbfpmul") return "LBFP multiplier at a point of the LBFP family";
  if (kind == "lbfpmac") return "LBFP MAC at a point of the LBFP family";
  return kind;
}

const UnitCost* find(const std::vector<UnitCost>& costs, const std::string& kind,
                     const std::string& format, const std::string& variant = "") {
  for (const UnitCost& c : costs) {
    if (c.kind == kind && c.format == format && c.variant == variant) return &c;
  }
  return nullptr;
}

// "bfp8", or "bfp8 iso" for a variant.
std::string format_name(const UnitCost& c) {
  return c.variant.empty() ? c.format : c.format + " " + c.variant;
}

std::string ratio_table(const std::vector<CostRatio>& ratios) {
  std::string t =
      "| unit | area | transistors | energy/op, layer | energy/op, uniform | paper (multiplier) |\n"
      "|---|---:|---:|---:|---:|---|\n";
  for (const CostRatio& r : ratios) {
    const std::string paper =
        r.kind == "mul" || r.kind == "mulheld"
            ? fmt::format("area {:.2f}x (-45 %), power {:.2f}x (-53 %)",
                          kPaperAreaRatio, kPaperPowerRatio)
            : "not reported";
    t += fmt::format("| {} | {:.3f}x ({:+.1f} %) | {:.3f}x | {:.3f}x ({:+.1f} %) | {:.3f}x | {} |\n",
                     kind_name(r.kind), r.area, (r.area - 1.0) * 100.0, r.transistors,
                     r.layer_energy, (r.layer_energy - 1.0) * 100.0, r.uniform_energy, paper);
  }
  return t;
}

double safe_ratio(double a, double b) { return b > 0.0 ? a / b : 0.0; }

}  // namespace

std::vector<CostRatio> cost_ratios(const std::vector<UnitCost>& costs,
                                   const std::string& bfp_variant) {
  std::vector<CostRatio> out;
  for (const UnitCost& c : costs) {
    if (std::any_of(out.begin(), out.end(), [&](const CostRatio& r) { return r.kind == c.kind; })) {
      continue;
    }
    const UnitCost* l = find(costs, c.kind, "lbfp8");
    const UnitCost* b = find(costs, c.kind, "bfp8", bfp_variant);
    if (!l || !b) continue;
    CostRatio r;
    r.kind = c.kind;
    r.area = safe_ratio(l->area_um2, b->area_um2);
    r.transistors =
        safe_ratio(static_cast<double>(l->transistors), static_cast<double>(b->transistors));
    r.layer_energy = safe_ratio(l->layer_pj, b->layer_pj);
    r.uniform_energy = safe_ratio(l->uniform_pj, b->uniform_pj);
    out.push_back(r);
  }
  return out;
}

std::string report_markdown(const std::vector<UnitCost>& costs, const ReportContext& ctx) {
  std::ostringstream o;
  o << "# LBFP8 vs BFP8 hardware cost (OSU 0.18 um, Yosys 0.23)\n\n";
  const bool timed = ctx.activity == "timed";
  o << fmt::format(
      "Liberty: {}. Dynamic energy at {:.2f} V from {} toggle counts over {} operations "
      "per stream (seed {}), input slew {:.2f} ns, {:.4f} pF on each output port; power at "
      "{:.0f} MHz.\n\n",
      ctx.liberty, ctx.energy.voltage,
      timed ? "timed (glitch-aware: event-driven, NLDM delays, " + ctx.timed_delays + ")"
            : std::string("zero-delay"),
      ctx.ops,
      ctx.seed, ctx.energy.input_slew_ns, ctx.energy.output_load_pf, ctx.energy.frequency_mhz);
  if (!ctx.layer_source.empty()) o << "Layer operands: " << ctx.layer_source << "\n\n";
  o << "LBFP8 multipliers and MACs isolate zero operands (lbfp_mul), the LBFP8 PE holds its "
       "operands on zero products (lbfp_pe HoldZeros = 1); \"bfp8\" is the plain 8x8 multiplier "
       "and the PE with it, \"bfp8 iso\" the same with LBFP8's zero handling (bfp_mul "
       "IsolateZeros = 1; bfp_pe HoldZeros = 1).\n\n";
  o << "| unit | format | top | cells | area (um^2) | transistors (cmos) | energy/op, layer (pJ) "
       "| energy/op, uniform (pJ) | power, layer (mW) | leakage (nW) |\n";
  o << "|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const UnitCost& c : costs) {
    o << fmt::format("| {} | {} | {} | {} | {:.0f} | {} | {:.4f} | {:.4f} | {:.4f} | {:.1f} |\n",
                     c.kind, format_name(c), c.top, c.cells, c.area_um2, c.transistors, c.layer_pj,
                     c.uniform_pj, c.layer_pj * ctx.energy.frequency_mhz * 1e-3, c.leakage_nw);
  }
  const std::vector<CostRatio> plain = cost_ratios(costs);
  if (!plain.empty()) o << "\n## LBFP8 / BFP8 (plain multiplier)\n\n" << ratio_table(plain);
  const std::vector<CostRatio> iso = cost_ratios(costs, "iso");
  if (!iso.empty()) {
    o << "\n## LBFP8 / BFP8 with operand isolation\n\n" << ratio_table(iso);
  }
  // `--units mul fmtmul` and `--units mac fmtmac`: the LBFP8 multiplier and MAC against each
  // section 13 format's.
  for (const auto& [lbfp_kind, kind, title] :
       {std::make_tuple("mul", "fmtmul", "multiplier / the section 13 formats' multipliers"),
        std::make_tuple("mac", "fmtmac", "MAC / the section 13 formats' MACs"),
        std::make_tuple("pe", "fmtpe", "PE / the section 13 formats' PEs")}) {
    const UnitCost* lbfp = find(costs, lbfp_kind, "lbfp8");
    std::string formats;
    for (const UnitCost& c : costs) {
      if (c.kind != kind || !lbfp) continue;
      formats += fmt::format("| {} | {:.3f}x | {:.3f}x | {:.3f}x | {:.3f}x |\n", format_name(c),
                             safe_ratio(lbfp->area_um2, c.area_um2),
                             safe_ratio(static_cast<double>(lbfp->transistors),
                                        static_cast<double>(c.transistors)),
                             safe_ratio(lbfp->layer_pj, c.layer_pj),
                             safe_ratio(lbfp->uniform_pj, c.uniform_pj));
    }
    if (!formats.empty()) {
      o << "\n## LBFP8 " << title << "\n\n"
        << "| format | area | transistors | energy/op, layer | energy/op, uniform |\n"
           "|---|---:|---:|---:|---:|\n"
        << formats;
    }
  }
  o << timed_table_markdown(costs, ctx.timed_delays);
  if (!ctx.command.empty()) o << "\nReproduce: `" << ctx.command << "`\n";
  return o.str();
}

std::string timed_table_markdown(const std::vector<UnitCost>& costs,
                                 const std::string& timed_delays) {
  const auto has_timed = [](const UnitCost& c) { return c.timed_layer_pj > 0.0; };
  if (std::none_of(costs.begin(), costs.end(), has_timed)) return "";
  std::ostringstream o;
  o << "\n## Timed (glitch-aware) activity\n\n"
       "Event-driven simulation of the same netlists: cell functions and NLDM delays from the "
       "liberty (cell_rise / cell_fall at the net's load and the input net's transition time, "
       "rise_transition / fall_transition for the output's), "
    << (timed_delays == "transport" ? "transport delays (every pulse passes)"
                                    : "inertial delays (a pulse shorter than a gate's delay is "
                                      "filtered)")
    << ", no wires, all inputs changing together at the start of each operation (sequential "
       "units: with the falling clock edge, then the rising edge; flip-flops switch after their "
       "clock-to-Q arc). Same pricing as the zero-delay figures.\n\n";
  o << "| unit | format | energy/op, layer, zero-delay (pJ) | energy/op, layer, timed (pJ) | "
       "timed / zero-delay | toggles/op, zero-delay | toggles/op, timed | glitch toggles/op | "
       "energy/op, uniform, zero-delay (pJ) | energy/op, uniform, timed (pJ) | latest settling "
       "(ns; per clock phase for MAC and PE) |\n";
  o << "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const UnitCost& c : costs) {
    if (!has_timed(c)) continue;
    o << fmt::format(
        "| {} | {} | {:.4f} | {:.4f} | {:.3f}x | {:.1f} | {:.1f} | {:.1f} | {:.4f} | {:.4f} | "
        "{:.2f} |\n",
        c.kind, format_name(c), c.layer_pj, c.timed_layer_pj, safe_ratio(c.timed_layer_pj,
                                                                          c.layer_pj),
        c.layer_toggles, c.timed_layer_toggles, c.timed_layer_toggles - c.layer_toggles,
        c.uniform_pj, c.timed_uniform_pj, c.timed_settle_ns);
  }
  std::string ratios;  // only with an LBFP8 and a BFP8 unit of one kind (not with fmtmul alone)
  std::vector<std::string> kinds;
  for (const UnitCost& c : costs) {
    if (has_timed(c) && std::find(kinds.begin(), kinds.end(), c.kind) == kinds.end()) {
      kinds.push_back(c.kind);
    }
  }
  for (const std::string& kind : kinds) {
    const UnitCost* l = find(costs, kind, "lbfp8");
    for (const char* variant : {"", "iso"}) {
      const UnitCost* b = find(costs, kind, "bfp8", variant);
      if (!l || !b || !has_timed(*l) || !has_timed(*b)) continue;
      ratios += fmt::format("| {} | {} | {:.3f}x | **{:.3f}x** | {:.3f}x | {:.3f}x |\n",
                            kind_name(kind), format_name(*b), safe_ratio(l->layer_pj, b->layer_pj),
                            safe_ratio(l->timed_layer_pj, b->timed_layer_pj),
                            safe_ratio(l->uniform_pj, b->uniform_pj),
                            safe_ratio(l->timed_uniform_pj, b->timed_uniform_pj));
    }
  }
  if (!ratios.empty()) {
    o << "\n| LBFP8 / BFP8 | baseline | energy/op, layer, zero-delay | energy/op, layer, timed | "
         "energy/op, uniform, zero-delay | energy/op, uniform, timed |\n"
         "|---|---|---:|---:|---:|---:|\n"
      << ratios;
  }
  return o.str();
}

LayerSummary summarize_layers(const std::vector<LayerEnergy>& rows, const std::string& kind) {
  LayerSummary s;
  double lbfp = 0.0, bfp = 0.0, iso = 0.0;
  bool all_iso = true;
  for (const LayerEnergy& r : rows) {
    if (r.kind != kind) continue;
    const double ops = static_cast<double>(r.ops);
    const double ratio = safe_ratio(r.lbfp8_pj, r.bfp8_pj);
    s.min_ratio = s.layers == 0 ? ratio : std::min(s.min_ratio, ratio);
    s.max_ratio = s.layers == 0 ? ratio : std::max(s.max_ratio, ratio);
    if (ratio <= kPaperPowerRatio) ++s.layers_at_target;
    ++s.layers;
    s.ops += r.ops;
    lbfp += ops * r.lbfp8_pj;
    bfp += ops * r.bfp8_pj;
    iso += ops * r.bfp8_iso_pj;
    all_iso = all_iso && r.bfp8_iso_pj > 0.0;
  }
  if (s.ops == 0) return s;
  const double total = static_cast<double>(s.ops);
  s.lbfp8_pj = lbfp / total;
  s.bfp8_pj = bfp / total;
  s.bfp8_iso_pj = all_iso ? iso / total : 0.0;
  s.ratio = safe_ratio(s.lbfp8_pj, s.bfp8_pj);
  s.ratio_iso = all_iso ? safe_ratio(s.lbfp8_pj, s.bfp8_iso_pj) : 0.0;
  return s;
}

std::vector<ModelEnergy> summarize_models(const std::vector<LayerEnergy>& rows,
                                          const std::string& kind) {
  std::vector<ModelEnergy> out;
  std::vector<bool> all_iso;
  for (const LayerEnergy& r : rows) {
    if (r.kind != kind || r.macs == 0) continue;
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const ModelEnergy& m) { return m.model == r.model; });
    if (it == out.end()) {
      out.push_back(ModelEnergy{});
      out.back().model = r.model;
      all_iso.push_back(true);
      it = out.end() - 1;
    }
    const size_t i = static_cast<size_t>(it - out.begin());
    ModelEnergy& m = *it;
    const double ratio = safe_ratio(r.lbfp8_pj, r.bfp8_pj);
    m.min_ratio = m.layers == 0 ? ratio : std::min(m.min_ratio, ratio);
    m.max_ratio = m.layers == 0 ? ratio : std::max(m.max_ratio, ratio);
    ++m.layers;
    m.macs += r.macs;
    const double macs = static_cast<double>(r.macs);
    m.lbfp8_nj += macs * r.lbfp8_pj * 1e-3;
    m.bfp8_nj += macs * r.bfp8_pj * 1e-3;
    m.bfp8_iso_nj += macs * r.bfp8_iso_pj * 1e-3;
    all_iso[i] = all_iso[i] && r.bfp8_iso_pj > 0.0;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    ModelEnergy& m = out[i];
    if (!all_iso[i]) m.bfp8_iso_nj = 0.0;
    m.ratio = safe_ratio(m.lbfp8_nj, m.bfp8_nj);
    m.ratio_iso = safe_ratio(m.lbfp8_nj, m.bfp8_iso_nj);
  }
  return out;
}

std::string model_table_markdown(const std::vector<LayerEnergy>& rows,
                                 const std::string& activity) {
  std::vector<std::string> kinds;
  for (const LayerEnergy& r : rows) {
    if (r.macs > 0 && std::find(kinds.begin(), kinds.end(), r.kind) == kinds.end()) {
      kinds.push_back(r.kind);
    }
  }
  std::ostringstream o;
  for (const std::string& kind : kinds) {
    o << "\n## Energy of one inference by model: " << kind_name(kind)
      << (activity.empty() ? "" : " (" + activity + " activity)") << "\n\n"
      << "Each layer's energy per operation times its MACs per image, summed over every Conv "
         "and Gemm layer of the model.\n\n";
    o << "| model | layers | MACs per image | LBFP8 (nJ/inference) | BFP8 (nJ/inference) | "
         "LBFP8 / BFP8 | BFP8 iso (nJ/inference) | LBFP8 / BFP8 iso | per-layer ratios |\n";
    o << "|---|---:|---:|---:|---:|---:|---:|---:|---|\n";
    for (const ModelEnergy& m : summarize_models(rows, kind)) {
      const bool iso = m.bfp8_iso_nj > 0.0;
      o << fmt::format("| {} | {} | {} | {:.2f} | {:.2f} | **{:.3f}x** | {} | {} | {:.3f}x .. "
                       "{:.3f}x |\n",
                       m.model, m.layers, m.macs, m.lbfp8_nj, m.bfp8_nj, m.ratio,
                       iso ? fmt::format("{:.2f}", m.bfp8_iso_nj) : "-",
                       iso ? fmt::format("**{:.3f}x**", m.ratio_iso) : "-", m.min_ratio,
                       m.max_ratio);
    }
  }
  return o.str();
}

std::string layer_table_markdown(const std::vector<LayerEnergy>& rows,
                                 const std::string& activity) {
  std::vector<std::string> kinds;
  for (const LayerEnergy& r : rows) {
    if (std::find(kinds.begin(), kinds.end(), r.kind) == kinds.end()) kinds.push_back(r.kind);
  }
  std::ostringstream o;
  for (const std::string& kind : kinds) {
    o << "\n## Energy per operation by layer: " << kind_name(kind)
      << (activity.empty() ? "" : " (" + activity + " activity)") << "\n\n";
    o << "| layer | ops | zero products | median abs BFP8 mantissa | LBFP8 (pJ/op) | BFP8 (pJ/op) "
         "| LBFP8 / BFP8 | BFP8 iso (pJ/op) | LBFP8 / BFP8 iso | stream |\n";
    o << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
    for (const LayerEnergy& r : rows) {
      if (r.kind != kind) continue;
      const bool iso = r.bfp8_iso_pj > 0.0;
      o << fmt::format("| {} | {} | {:.1f} % | {:g} | {:.4f} | {:.4f} | {:.3f}x | {} | {} | {} |\n",
                       r.label, r.ops, 100.0 * r.zero_fraction, r.median_bfp_mantissa, r.lbfp8_pj,
                       r.bfp8_pj, safe_ratio(r.lbfp8_pj, r.bfp8_pj),
                       iso ? fmt::format("{:.4f}", r.bfp8_iso_pj) : "-",
                       iso ? fmt::format("{:.3f}x", safe_ratio(r.lbfp8_pj, r.bfp8_iso_pj)) : "-",
                       r.source);
    }
    const LayerSummary s = summarize_layers(rows, kind);
    o << fmt::format("| **all {} layers** (operation-weighted) | {} | | | {:.4f} | {:.4f} | "
                     "**{:.3f}x** | {} | {} | per-layer ratios {:.3f}x .. {:.3f}x; "
                     "{} of {} at or below {:.2f}x |\n",
                     s.layers, s.ops, s.lbfp8_pj, s.bfp8_pj, s.ratio,
                     s.ratio_iso > 0.0 ? fmt::format("{:.4f}", s.bfp8_iso_pj) : "-",
                     s.ratio_iso > 0.0 ? fmt::format("{:.3f}x", s.ratio_iso) : "-", s.min_ratio,
                     s.max_ratio, s.layers_at_target, s.layers, kPaperPowerRatio);
  }
  return o.str();
}

namespace {

// One measured quantity of a unit, drawn as a chart of its own.
struct Metric {
  const char* file;
  const char* title;
  chart::Axis axis;
  double (*value)(const UnitCost&);
};

std::vector<Metric> metrics(const std::vector<UnitCost>& costs) {
  std::vector<Metric> m = {
      {"area.svg", "Area", {"area (µm²)", ""}, [](const UnitCost& c) { return c.area_um2; }},
      {"transistors.svg", "Transistors", {"transistors (CMOS)", ""},
       [](const UnitCost& c) { return static_cast<double>(c.transistors); }},
      {"energy.svg", "Energy per operation, layer operands", {"energy/op", "J"},
       [](const UnitCost& c) { return c.layer_pj * 1e-12; }},
  };
  // --activity both: the timed (glitch-aware) energies as well, where measured.
  if (std::any_of(costs.begin(), costs.end(),
                  [](const UnitCost& c) { return c.timed_layer_pj > 0.0; })) {
    m.push_back({"energy-timed.svg", "Energy per operation, layer operands, timed",
                 {"energy/op, timed", "J"},
                 [](const UnitCost& c) { return c.timed_layer_pj * 1e-12; }});
  }
  return m;
}

// A group of bars per kind of unit (LBFP8, BFP8, BFP8 with operand isolation where measured),
// its label carrying the ratios LBFP8 / BFP8 (and / BFP8 iso).
chart::BarChart metric_chart(const std::vector<UnitCost>& costs, const Metric& metric) {
  std::vector<std::string> kinds;
  for (const UnitCost& c : costs) {
    if (std::find(kinds.begin(), kinds.end(), c.kind) == kinds.end()) kinds.push_back(c.kind);
  }
  const bool any_iso = std::any_of(costs.begin(), costs.end(),
                                   [](const UnitCost& c) { return c.variant == "iso"; });
  chart::BarChart chart;
  chart.title = std::string(metric.title) + ": LBFP8 / BFP8 under each unit";
  chart.y = metric.axis;
  chart::Bar lbfp{"LBFP8", {{"LBFP8", {}, "#3366cc"}}};
  chart::Bar bfp{"BFP8", {{"BFP8", {}, "#999999"}}};
  chart::Bar iso{"BFP8 with operand isolation", {{"BFP8 iso", {}, "#cccccc"}}};
  const auto value = [&](const UnitCost* c) {
    return c && metric.value(*c) > 0.0 ? metric.value(*c) : std::nan("");
  };
  for (const std::string& kind : kinds) {
    const UnitCost* l = find(costs, kind, "lbfp8");
    const UnitCost* b = find(costs, kind, "bfp8");
    const UnitCost* bi = find(costs, kind, "bfp8", "iso");
    std::string label = kind;
    const double vl = value(l), vb = value(b), vi = value(bi);
    if (std::isfinite(vl) && std::isfinite(vb)) label += fmt::format(": {:.2f}x", vl / vb);
    if (std::isfinite(vl) && std::isfinite(vi)) label += fmt::format(", iso {:.2f}x", vl / vi);
    chart.categories.push_back(label);
    lbfp.segments[0].values.push_back(vl);
    bfp.segments[0].values.push_back(vb);
    iso.segments[0].values.push_back(vi);
  }
  chart.bars = {lbfp, bfp};
  if (any_iso) chart.bars.push_back(iso);
  return chart;
}

// Layer labels in order of first appearance.
std::vector<std::string> layer_labels(const std::vector<LayerEnergy>& rows) {
  std::vector<std::string> labels;
  for (const LayerEnergy& r : rows) {
    if (std::find(labels.begin(), labels.end(), r.label) == labels.end()) {
      labels.push_back(r.label);
    }
  }
  return labels;
}

// LBFP8 / BFP8 energy per operation for every layer stream: a series per unit kind and baseline
// (and activity, with timed rows).
chart::LineChart layer_ratio_chart(const std::vector<LayerEnergy>& rows,
                                   const std::vector<LayerEnergy>& timed_rows) {
  chart::LineChart chart;
  chart.title = fmt::format(
      "LBFP8 / BFP8 energy per operation by layer stream (dashed: the paper's {:.2f}x)",
      kPaperPowerRatio);
  chart.x_title = "layer stream";
  std::vector<LayerEnergy> all = rows;
  all.insert(all.end(), timed_rows.begin(), timed_rows.end());
  chart.categories = layer_labels(all);
  chart.y = {"LBFP8 / BFP8", ""};
  chart.reference = kPaperPowerRatio;
  const auto series = [&](const std::vector<LayerEnergy>& from, const std::string& suffix) {
    std::vector<std::string> kinds;
    for (const LayerEnergy& r : from) {
      if (std::find(kinds.begin(), kinds.end(), r.kind) == kinds.end()) kinds.push_back(r.kind);
    }
    for (const std::string& kind : kinds) {
      for (const bool against_iso : {false, true}) {
        chart::Line line{kind + (against_iso ? " / BFP8 iso" : " / BFP8") + suffix, {}, ""};
        line.connect = false;
        bool any = false;
        for (const std::string& label : chart.categories) {
          double v = std::nan("");
          for (const LayerEnergy& r : from) {
            if (r.kind != kind || r.label != label) continue;
            const double base = against_iso ? r.bfp8_iso_pj : r.bfp8_pj;
            if (base > 0.0) v = r.lbfp8_pj / base;
          }
          any = any || std::isfinite(v);
          line.values.push_back(v);
        }
        if (any) chart.lines.push_back(line);
      }
    }
  };
  series(rows, "");
  series(timed_rows, ", timed");
  return chart;
}

std::string fixed(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }

chart::Table units_table(const std::vector<UnitCost>& costs, const ReportContext& ctx) {
  chart::Table t;
  t.header = {"unit", "format", "top", "cells", "area (µm²)", "transistors (CMOS)",
              "energy/op, layer (pJ)", "energy/op, uniform (pJ)", "power, layer (mW)",
              "leakage (nW)"};
  for (const UnitCost& c : costs) {
    t.rows.push_back({c.kind, format_name(c), c.top, std::to_string(c.cells),
                      fixed(c.area_um2, 0), std::to_string(c.transistors), fixed(c.layer_pj, 4),
                      fixed(c.uniform_pj, 4),
                      fixed(c.layer_pj * ctx.energy.frequency_mhz * 1e-3, 4),
                      fixed(c.leakage_nw, 1)});
  }
  return t;
}

chart::Table ratios_table(const std::vector<UnitCost>& costs) {
  chart::Table t;
  t.header = {"unit", "baseline", "area", "transistors", "energy/op, layer",
              "energy/op, uniform"};
  for (const char* variant : {"", "iso"}) {
    for (const CostRatio& r : cost_ratios(costs, variant)) {
      // As report.md: the area and layer-energy ratios with their change in per cent.
      const auto change = [](double ratio) {
        return fmt::format("{:.3f}x ({:+.1f} %)", ratio, (ratio - 1.0) * 100.0);
      };
      t.rows.push_back({kind_name(r.kind), *variant ? "BFP8 iso" : "BFP8", change(r.area),
                        fixed(r.transistors, 3) + "x", change(r.layer_energy),
                        fixed(r.uniform_energy, 3) + "x"});
    }
  }
  return t;
}

chart::Table timed_table(const std::vector<UnitCost>& costs) {
  chart::Table t;
  t.header = {"unit", "format", "energy/op, layer, zero-delay (pJ)",
              "energy/op, layer, timed (pJ)", "timed / zero-delay", "toggles/op, zero-delay",
              "toggles/op, timed", "glitch toggles/op", "energy/op, uniform, zero-delay (pJ)",
              "energy/op, uniform, timed (pJ)", "latest settling (ns)"};
  for (const UnitCost& c : costs) {
    if (c.timed_layer_pj <= 0.0) continue;
    t.rows.push_back({c.kind, format_name(c), fixed(c.layer_pj, 4), fixed(c.timed_layer_pj, 4),
                      fixed(safe_ratio(c.timed_layer_pj, c.layer_pj), 3) + "x",
                      fixed(c.layer_toggles, 1), fixed(c.timed_layer_toggles, 1),
                      fixed(c.timed_layer_toggles - c.layer_toggles, 1), fixed(c.uniform_pj, 4),
                      fixed(c.timed_uniform_pj, 4), fixed(c.timed_settle_ns, 2)});
  }
  return t;
}

// LBFP8 / BFP8 with and without glitches, per kind with timed figures and baseline.
chart::Table timed_ratio_table(const std::vector<UnitCost>& costs) {
  chart::Table t;
  t.header = {"LBFP8 / BFP8", "baseline", "energy/op, layer, zero-delay",
              "energy/op, layer, timed", "energy/op, uniform, zero-delay",
              "energy/op, uniform, timed"};
  std::vector<std::string> kinds;
  for (const UnitCost& c : costs) {
    if (c.timed_layer_pj > 0.0 && std::find(kinds.begin(), kinds.end(), c.kind) == kinds.end()) {
      kinds.push_back(c.kind);
    }
  }
  for (const std::string& kind : kinds) {
    const UnitCost* l = find(costs, kind, "lbfp8");
    for (const char* variant : {"", "iso"}) {
      const UnitCost* b = find(costs, kind, "bfp8", variant);
      if (!l || !b || l->timed_layer_pj <= 0.0 || b->timed_layer_pj <= 0.0) continue;
      t.rows.push_back({kind_name(kind), format_name(*b),
                        fixed(safe_ratio(l->layer_pj, b->layer_pj), 3) + "x",
                        fixed(safe_ratio(l->timed_layer_pj, b->timed_layer_pj), 3) + "x",
                        fixed(safe_ratio(l->uniform_pj, b->uniform_pj), 3) + "x",
                        fixed(safe_ratio(l->timed_uniform_pj, b->timed_uniform_pj), 3) + "x"});
    }
  }
  return t;
}

chart::Table layer_table(const std::vector<LayerEnergy>& rows, const std::string& activity) {
  chart::Table t;
  t.header = {"unit", "activity", "layer", "ops", "zero products",
              "median abs BFP8 mantissa", "LBFP8 (pJ/op)", "BFP8 (pJ/op)", "LBFP8 / BFP8",
              "BFP8 iso (pJ/op)", "LBFP8 / BFP8 iso", "stream"};
  std::vector<std::string> kinds;
  for (const LayerEnergy& r : rows) {
    if (std::find(kinds.begin(), kinds.end(), r.kind) == kinds.end()) kinds.push_back(r.kind);
  }
  for (const std::string& kind : kinds) {
    for (const LayerEnergy& r : rows) {
      if (r.kind != kind) continue;
      const bool iso = r.bfp8_iso_pj > 0.0;
      t.rows.push_back({r.kind, activity, r.label, std::to_string(r.ops),
                        fixed(100.0 * r.zero_fraction, 1) + " %",
                        fmt::format("{:g}", r.median_bfp_mantissa), fixed(r.lbfp8_pj, 4),
                        fixed(r.bfp8_pj, 4), fixed(safe_ratio(r.lbfp8_pj, r.bfp8_pj), 3) + "x",
                        iso ? fixed(r.bfp8_iso_pj, 4) : "-",
                        iso ? fixed(safe_ratio(r.lbfp8_pj, r.bfp8_iso_pj), 3) + "x" : "-",
                        r.source});
    }
    // The operation-weighted summary, as report.md's last row.
    const LayerSummary s = summarize_layers(rows, kind);
    t.rows.push_back(
        {kind, activity, fmt::format("all {} layers (operation-weighted)", s.layers),
         std::to_string(s.ops), "", "", fixed(s.lbfp8_pj, 4), fixed(s.bfp8_pj, 4),
         fixed(s.ratio, 3) + "x", s.ratio_iso > 0.0 ? fixed(s.bfp8_iso_pj, 4) : "-",
         s.ratio_iso > 0.0 ? fixed(s.ratio_iso, 3) + "x" : "-",
         fmt::format("per-layer ratios {:.3f}x .. {:.3f}x; {} of {} at or below {:.2f}x",
                     s.min_ratio, s.max_ratio, s.layers_at_target, s.layers,
                     kPaperPowerRatio)});
  }
  return t;
}

chart::Table model_table(const std::vector<LayerEnergy>& rows, const std::string& activity) {
  chart::Table t;
  t.header = {"unit", "activity", "model", "layers", "MACs per image", "LBFP8 (nJ/inference)",
              "BFP8 (nJ/inference)", "LBFP8 / BFP8", "BFP8 iso (nJ/inference)",
              "LBFP8 / BFP8 iso", "per-layer ratios"};
  std::vector<std::string> kinds;
  for (const LayerEnergy& r : rows) {
    if (r.macs > 0 && std::find(kinds.begin(), kinds.end(), r.kind) == kinds.end()) {
      kinds.push_back(r.kind);
    }
  }
  for (const std::string& kind : kinds) {
    for (const ModelEnergy& m : summarize_models(rows, kind)) {
      const bool iso = m.bfp8_iso_nj > 0.0;
      t.rows.push_back({kind, activity, m.model, std::to_string(m.layers),
                        std::to_string(m.macs), fixed(m.lbfp8_nj, 2), fixed(m.bfp8_nj, 2),
                        fixed(m.ratio, 3) + "x", iso ? fixed(m.bfp8_iso_nj, 2) : "-",
                        iso ? fixed(m.ratio_iso, 3) + "x" : "-",
                        fixed(m.min_ratio, 3) + "x .. " + fixed(m.max_ratio, 3) + "x"});
    }
  }
  return t;
}

}  // namespace

std::string report_svg(const std::vector<UnitCost>& costs) {
  std::vector<std::string> panels;
  for (const Metric& m : metrics(costs)) panels.push_back(chart::bar_svg(metric_chart(costs, m)));
  return chart::combine_svg(
      fmt::format("LBFP8 vs BFP8 and BFP8 with operand isolation, OSU 0.18 um; ratios LBFP8 / "
                  "BFP8 under each unit; paper (multiplier): area {:.2f}x, power {:.2f}x",
                  kPaperAreaRatio, kPaperPowerRatio),
      panels);
}

std::vector<std::pair<std::string, std::string>> report_charts(
    const std::vector<UnitCost>& costs, const std::vector<LayerEnergy>& layer_rows,
    const std::vector<LayerEnergy>& timed_layer_rows) {
  std::vector<std::pair<std::string, std::string>> charts;
  for (const Metric& m : metrics(costs)) {
    charts.emplace_back(m.file, chart::bar_svg(metric_chart(costs, m)));
  }
  if (!layer_rows.empty() || !timed_layer_rows.empty()) {
    charts.emplace_back("layer-ratios.svg",
                        chart::line_svg(layer_ratio_chart(layer_rows, timed_layer_rows)));
  }
  return charts;
}

std::string report_html(const std::vector<UnitCost>& costs,
                        const std::vector<LayerEnergy>& layer_rows,
                        const std::vector<LayerEnergy>& timed_layer_rows,
                        const ReportContext& ctx, bool per_model) {
  std::string layer_activity = ctx.activity == "timed" ? "timed" : "zero-delay";
  chart::Page page(
      "lbfp synth: LBFP8 vs BFP8 hardware cost (OSU 0.18 um, Yosys 0.23)",
      ctx.command.empty() ? "(not recorded)" : ctx.command,
      {{"liberty", ctx.liberty},
       {"activity", ctx.activity == "zero-delay" ? "zero-delay (Verilator)"
                                                 : ctx.activity + " (timed: event-driven, NLDM "
                                                                  "delays, " +
                                                       ctx.timed_delays + ")"},
       {"operations per stream", std::to_string(ctx.ops)},
       {"seed of the uniform stream", std::to_string(ctx.seed)},
       {"supply", fmt::format("{:.2f} V, power at {:.0f} MHz", ctx.energy.voltage,
                              ctx.energy.frequency_mhz)},
       {"input slew, output load", fmt::format("{:.2f} ns, {:.4f} pF", ctx.energy.input_slew_ns,
                                               ctx.energy.output_load_pf)},
       {"layer operands", ctx.layer_source.empty() ? "-" : ctx.layer_source}});
  const auto charts = report_charts(costs, layer_rows, timed_layer_rows);
  const auto svg = [&charts](const std::string& name) {
    for (const auto& [n, s] : charts) {
      if (n == name) return s;
    }
    return std::string();
  };
  page.section("Units (report.md)",
               "What does each unit cost: cells, area, transistors, energy per operation on the "
               "layer's operands and on uniform random ones, power and leakage?");
  page.table(units_table(costs, ctx));
  page.section("LBFP8 / BFP8",
               fmt::format("By how much does LBFP8 undercut BFP8, against the plain BFP8 units "
                           "and against BFP8 with operand isolation? (The paper's multiplier: "
                           "area {:.2f}x, power {:.2f}x.)",
                           kPaperAreaRatio, kPaperPowerRatio));
  page.table(ratios_table(costs));
  std::string files;
  for (const Metric& m : metrics(costs)) files += (files.empty() ? "" : ", ") + std::string(m.file);
  page.section("Cost per unit (" + files + "; together report.svg)",
               "The same numbers drawn: each unit's LBFP8, BFP8 and BFP8-with-isolation bars, the "
               "ratios under the unit's name.");
  for (const Metric& m : metrics(costs)) page.svg(svg(m.file));
  if (std::any_of(costs.begin(), costs.end(),
                  [](const UnitCost& c) { return c.timed_layer_pj > 0.0; })) {
    page.section("Timed (glitch-aware) activity",
                 "How much do glitches add to each combinational unit's energy?");
    page.table(timed_table(costs));
    page.table(timed_ratio_table(costs));
  }
  if (!layer_rows.empty() || !timed_layer_rows.empty()) {
    page.section("Energy ratios per layer stream (layer-ratios.svg)",
                 "Does LBFP8's advantage hold on every layer's operands, or only on some? Each "
                 "point is one layer stream's LBFP8 / BFP8 energy per operation.");
    if (!ctx.layer_note.empty()) page.paragraph(ctx.layer_note);
    page.svg(svg("layer-ratios.svg"));
    chart::Table t = layer_table(layer_rows, layer_activity);
    const chart::Table timed = layer_table(timed_layer_rows, "timed");
    t.rows.insert(t.rows.end(), timed.rows.begin(), timed.rows.end());
    page.table(t);
    if (per_model) {
      page.section("Energy of one inference by model",
                   "What do the multipliers of a whole inference cost: each layer's energy per "
                   "operation times its MACs per image, summed over the model?");
      chart::Table m = model_table(layer_rows, layer_activity);
      const chart::Table mt = model_table(timed_layer_rows, "timed");
      m.rows.insert(m.rows.end(), mt.rows.begin(), mt.rows.end());
      page.table(m);
    }
  }
  return page.html();
}

std::string energy_yaml(const std::vector<UnitCost>& costs, const ReportContext& ctx) {
  std::ostringstream y;
  if (ctx.activity == "timed") {
    y << "# Energy per action for the LBFP8 and BFP8 datapaths, measured by `lbfp synth`\n"
         "# (docs/hardware-cost.md): Yosys 0.23 onto the OSU 0.18 um cells, timed toggle counts\n"
         "# (glitches included) from an event-driven simulation of the gate-level netlists with\n"
         "# the liberty's NLDM delays (inertial), priced with the liberty's internal-power tables\n"
         "# and pin capacitances. Dynamic energy only; no wires.\n";
  } else {
    y << "# Energy per action for the LBFP8 and BFP8 datapaths, measured by `lbfp synth`\n"
         "# (docs/hardware-cost.md): Yosys 0.23 onto the OSU 0.18 um cells, zero-delay toggle\n"
         "# counts from Verilator runs of the gate-level netlists, priced with the liberty's\n"
         "# internal-power tables and pin capacitances. Dynamic energy only; no wires, no glitches.\n";
  }
  if (ctx.activity == "timed") {
    y << "activity: timed      # glitches included\n";
  } else {
    y << "activity: zero-delay" << (ctx.activity == "both" ? "  # timed figures in the comments" : "")
      << "\n";
  }
  y << "technology: osu018\n";
  y << fmt::format("voltage_v: {:.2f}      # liberty nom_voltage\n", ctx.energy.voltage);
  y << fmt::format("frequency_mhz: {:.0f}  # only for power = energy x frequency\n",
                   ctx.energy.frequency_mhz);
  y << fmt::format("operations_per_stream: {}\n", ctx.ops);
  y << "operands: layer      # the layer stream; uniform figures in comments\n";
  if (!ctx.layer_source.empty()) y << "# layer: " << ctx.layer_source << "\n";
  y << "# lbfp8: zero operands isolated (lbfp_mul; the PE holds its operands on zero products,\n"
       "# lbfp_pe HoldZeros = 1); bfp8: the plain 8x8 multiplier and the PE with it; bfp8_iso: the\n"
       "# same with LBFP8's zero handling (bfp_mul IsolateZeros = 1, bfp_pe HoldZeros = 1).\n";
  // `--units fmtmul fmtmac`: the section 13 formats' multipliers and MACs, each format's own
  // section with the same keys (mul_pj, mac_pj, ...).
  const bool formats = std::any_of(costs.begin(), costs.end(), [](const UnitCost& c) {
    return c.kind == "fmtmul" || c.kind == "fmtmac" || c.kind == "fmtpe";
  });
  if (formats) {
    y << "# int8, fp8_e4m3, fp8_e5m2: the multipliers (fmtmul), MACs (fmtmac) and PEs (fmtpe) of\n"
         "# the spec's section 13 formats, as mul_*, mac_* and pe_* (pe_hold_*: the PE with\n"
         "# LBFP8's operand hold); MXINT8 and MXFP8 use the same units (their E8M0 scale is\n"
         "# outside), mac_mx_* and pe_mx_* on the MX stream (a scale per block of 32, one\n"
         "# reduction per block). INT8's are bfp_mul, bfp_mac and bfp_pe, played INT8 codes.\n";
  }
  struct Section {
    const char* name;
    const char* format;
    const char* variant;
  };
  for (const Section& section :
       {Section{"lbfp8", "lbfp8", ""}, Section{"bfp8", "bfp8", ""},
        Section{"bfp8_iso", "bfp8", "iso"}, Section{"int8", "int8", ""},
        Section{"fp8_e4m3", "fp8-e4m3", ""}, Section{"fp8_e5m2", "fp8-e5m2", ""}}) {
    // The section 13 formats' variants (fmtpe "iso") and MX streams (mxint8, ...) are keys of
    // the element type's own section.
    const std::string sf(section.format);
    const bool fmt_section = sf != "lbfp8" && sf != "bfp8";
    const auto in_section = [&](const UnitCost& c) {
      if (fmt_section) return c.format == sf || c.format == (sf == "int8" ? "mxint8" : "mx" + sf);
      return c.format == sf && c.variant == section.variant;
    };
    if (std::none_of(costs.begin(), costs.end(), in_section)) continue;
    y << section.name << ":\n";
    // fmtmul, fmtmac, fmtpe: the format's mul, mac and pe; pe_hold for fmtpe's "iso" variant,
    // mac_mx and pe_mx on the MX stream.
    const auto key = [](const UnitCost& c) {
      if (c.kind.rfind("fmt", 0) != 0) return c.kind;
      return c.kind.substr(3) + (c.variant == "iso" ? "_hold" : "") +
             (c.format.rfind("mx", 0) == 0 ? "_mx" : "");
    };
    for (const UnitCost& c : costs) {
      if (!in_section(c)) continue;
      y << fmt::format(
          "  {}_pj: {:.5f}   # {} netlist, layer stream; uniform operands {:.5f} pJ{}\n", key(c),
          c.layer_pj, c.top, c.uniform_pj,
          c.timed_layer_pj > 0.0
              ? fmt::format("; timed (glitches included): layer {:.5f} pJ, uniform {:.5f} pJ",
                            c.timed_layer_pj, c.timed_uniform_pj)
              : std::string());
    }
    for (const UnitCost& c : costs) {
      if (!in_section(c)) continue;
      y << fmt::format("  {}_area_um2: {:.0f}   # stat -liberty of {}\n", key(c), c.area_um2,
                       c.top);
    }
    for (const UnitCost& c : costs) {
      if (!in_section(c)) continue;
      y << fmt::format("  {}_leakage_nw: {:.2f}   # sum of cell_leakage_power of {}\n", key(c),
                       c.leakage_nw, c.top);
    }
  }
  return y.str();
}

}  // namespace lbfp::synth
