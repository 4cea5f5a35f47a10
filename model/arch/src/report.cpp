#include "lbfp/arch/report.h"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "lbfp/chart/chart.h"
#include "lbfp/chart/page.h"

namespace lbfp::arch {

namespace {

double ms_at(uint64_t cycles, double clock_mhz) {
  return static_cast<double>(cycles) / (clock_mhz * 1e3);
}
double per_mac(double pj, uint64_t macs) { return macs == 0 ? 0.0 : pj / static_cast<double>(macs); }
double pct(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

// The array's dataflow as the run used it.
std::string dataflow_text(const SimReport& r) {
  if (r.dataflow == "best") return "best dataflow per layer by " + r.best_by;
  return dataflow_name(r.arch.accel.array.dataflow);
}

double saved_fraction(double chosen, double fixed) {
  return fixed == 0 ? 0.0 : (fixed - chosen) / fixed;
}

}  // namespace

void print_report(std::ostream& out, const SimReport& r) {
  const auto& g = r.arch.accel.array;
  const bool best = r.dataflow == "best";
  fmt::print(out, "lbfp sim: {} ({}x{} {}, {} MHz) on {} [{} layers]\n",
             r.arch.name, g.rows, g.cols, dataflow_text(r), r.arch.clock_mhz, r.workload.name,
             r.workload.layers.size());
  fmt::print(out, "  arch {}; workload {}; {} mode, {} array, im2col on {}; data: {}\n",
             r.arch.path, r.workload.source, r.mode, r.array, r.im2col, r.data_origin);
  fmt::print(out, "  energy table {} ({}), picojoules per action\n\n", r.energy.path,
             r.energy.technology);
  for (const FormatRun& run : r.runs) {
    fmt::print(out, "{}\n", run.format);
    fmt::print(out, "  {:<22} {:>28} {:>6} {:>12} {:>6} {:>6} {:>10} {:>11} {:>8}{}\n", "layer",
               "shape", "tiles", "cycles", "util%", "stall%", "DRAM KiB", "energy uJ", "pJ/MAC",
               best ? "  dataflow" : "");
    for (const LayerResult& l : run.layers) {
      const auto& s = l.stats;
      fmt::print(out, "  {:<22} {:>28} {:>6} {:>12} {:>6.1f} {:>6.1f} {:>10.1f} {:>11.3f} {:>8.3f}",
                 l.name.substr(0, 22), l.shape.substr(0, 28), s.tiles, s.total_cycles,
                 100.0 * s.utilization, pct(s.stall_cycles, s.total_cycles),
                 static_cast<double>(s.dram_bytes_read + s.dram_bytes_written) / 1024.0,
                 l.energy.total_pj() * 1e-6, per_mac(l.energy.total_pj(), s.macs));
      fmt::print(out, best ? "  {}\n" : "\n", dataflow_short_name(l.dataflow));
    }
    const auto& t = run.total;
    const auto& e = run.energy;
    fmt::print(out, "  total: {} cycles = {:.3f} ms at {} MHz; {} MACs ({:.1f} % with a zero operand); "
               "utilization {:.1f} %; stalls {:.1f} %\n",
               t.total_cycles, ms_at(t.total_cycles, r.arch.clock_mhz), r.arch.clock_mhz, t.macs,
               pct(t.zero_macs, t.macs), 100.0 * t.utilization, pct(t.stall_cycles, t.total_cycles));
    fmt::print(out, "  DRAM {:.2f} MiB read, {:.2f} MiB written; SRAM {:.2f} MiB read, {:.2f} MiB written; "
               "{} outputs saturated\n",
               static_cast<double>(t.dram_bytes_read) / 1048576.0,
               static_cast<double>(t.dram_bytes_written) / 1048576.0,
               static_cast<double>(t.sram_bytes_read) / 1048576.0,
               static_cast<double>(t.sram_bytes_written) / 1048576.0, t.outputs_saturated);
    const uint64_t dram = t.dram_bytes_read + t.dram_bytes_written;
    fmt::print(out, "  DRAM lower bound (every input, weight and output once) {:.2f} MiB: traffic "
               "is {:.3f}x of it; DRAM MiB read/written by operand: ifmap {:.2f}/{:.2f}, filter "
               "{:.2f}/{:.2f}, ofmap {:.2f}/{:.2f}, psum {:.2f}/{:.2f}\n",
               static_cast<double>(t.dram_lower_bound) / 1048576.0,
               t.dram_lower_bound == 0 ? 0.0
                                       : static_cast<double>(dram) /
                                             static_cast<double>(t.dram_lower_bound),
               static_cast<double>(t.ifmap.dram_read) / 1048576.0,
               static_cast<double>(t.ifmap.dram_write) / 1048576.0,
               static_cast<double>(t.filter.dram_read) / 1048576.0,
               static_cast<double>(t.filter.dram_write) / 1048576.0,
               static_cast<double>(t.ofmap.dram_read) / 1048576.0,
               static_cast<double>(t.ofmap.dram_write) / 1048576.0,
               static_cast<double>(t.psum.dram_read) / 1048576.0,
               static_cast<double>(t.psum.dram_write) / 1048576.0);
    fmt::print(out, "  energy {:.3f} uJ: multipliers {:.3f}, accumulators {:.3f}, requantizers {:.3f}, "
               "SRAM {:.3f}, DRAM {:.3f}, leakage {:.3f} uJ; {:.3f} pJ/MAC ({:.3f} pJ/MAC datapath)\n\n",
               e.total_pj() * 1e-6, e.multiply_pj * 1e-6, e.accumulate_pj * 1e-6,
               e.requantize_pj * 1e-6, e.sram_pj * 1e-6, e.dram_pj * 1e-6, e.leakage_pj * 1e-6,
               per_mac(e.total_pj(), t.macs), per_mac(e.datapath_pj(), t.macs));
    for (const DataflowRun& f : run.fixed) {
      // The per-layer choice against one dataflow throughout.
      fmt::print(out, "  {} throughout: {} cycles, {:.3f} uJ; the choice saves {:.1f} % of the "
                 "cycles and {:.1f} % of the energy (chosen for {} of {} layers)\n",
                 dataflow_name(f.dataflow), f.total.total_cycles, f.energy.total_pj() * 1e-6,
                 100.0 * saved_fraction(static_cast<double>(t.total_cycles),
                                        static_cast<double>(f.total.total_cycles)),
                 100.0 * saved_fraction(e.total_pj(), f.energy.total_pj()), f.layers_chosen,
                 run.layers.size());
    }
    if (!run.fixed.empty()) fmt::print(out, "\n");
  }
  if (r.runs.size() == 2) {
    const FormatRun& a = r.runs[0];
    const FormatRun& b = r.runs[1];
    auto ratio = [](double x, double y) { return y == 0 ? 0.0 : x / y; };
    fmt::print(out, "{} / {}: cycles {:.3f}x, DRAM traffic {:.3f}x, energy {:.3f}x "
               "(datapath {:.3f}x, multipliers {:.3f}x)\n",
               a.format, b.format,
               ratio(static_cast<double>(a.total.total_cycles), static_cast<double>(b.total.total_cycles)),
               ratio(static_cast<double>(a.total.dram_bytes_read + a.total.dram_bytes_written),
                     static_cast<double>(b.total.dram_bytes_read + b.total.dram_bytes_written)),
               ratio(a.energy.total_pj(), b.energy.total_pj()),
               ratio(a.energy.datapath_pj(), b.energy.datapath_pj()),
               ratio(a.energy.multiply_pj, b.energy.multiply_pj));
  }
  fmt::print(out, "simulated in {:.2f} s\n", r.wall_seconds);
}

std::string layers_csv(const SimReport& r) {
  std::ostringstream s;
  s << "format,layer,shape,groups,m,n,k,tiles,total_cycles,compute_cycles,stall_cycles,"
       "utilization,macs,zero_macs,outputs_saturated,dram_bytes_read,dram_bytes_written,"
       "sram_bytes_read,sram_bytes_written,multiplies,shifts,accumulates,requantizations,"
       "energy_multiply_pj,energy_accumulate_pj,energy_requantize_pj,energy_sram_pj,"
       "energy_dram_pj,energy_leakage_pj,energy_total_pj,loop_order,k_chunks,"
       "dram_lower_bound_bytes";
  for (const char* op : {"ifmap", "filter", "ofmap", "psum"}) {
    for (const char* what : {"dram_read", "dram_write", "sram_read", "sram_write"}) {
      s << ',' << op << '_' << what << "_bytes";
    }
  }
  s << ",fill_drain_cycles,stall_ifmap_cycles,stall_filter_cycles,stall_output_cycles,"
       "writeback_cycles";
  const bool dataflow_column = !r.dataflow.empty();  // --dataflow given: each layer's
  if (dataflow_column) s << ",dataflow";
  s << '\n';
  for (const FormatRun& run : r.runs) {
    for (const LayerResult& l : run.layers) {
      const auto& t = l.stats;
      const auto& e = l.energy;
      s << run.format << ',' << '"' << l.name << '"' << ',' << '"' << l.shape << '"' << ','
        << l.groups << ',' << t.m << ',' << t.n << ',' << t.k << ',' << t.tiles << ','
        << t.total_cycles << ',' << t.compute_cycles << ',' << t.stall_cycles << ','
        << fmt::format("{:.6f}", t.utilization) << ',' << t.macs << ',' << t.zero_macs << ','
        << t.outputs_saturated << ',' << t.dram_bytes_read << ',' << t.dram_bytes_written << ','
        << t.sram_bytes_read << ',' << t.sram_bytes_written << ',' << t.multiplies << ','
        << t.shifts << ',' << t.accumulates << ',' << t.requantizations << ','
        << fmt::format("{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f}", e.multiply_pj,
                       e.accumulate_pj, e.requantize_pj, e.sram_pj, e.dram_pj, e.leakage_pj,
                       e.total_pj())
        << ',' << t.loop_order << ',' << t.k_chunks << ',' << t.dram_lower_bound;
      for (const OperandTraffic* o : {&t.ifmap, &t.filter, &t.ofmap, &t.psum}) {
        s << ',' << o->dram_read << ',' << o->dram_write << ',' << o->sram_read << ','
          << o->sram_write;
      }
      s << ',' << t.fill_drain_cycles << ',' << t.stall_ifmap_cycles << ','
        << t.stall_filter_cycles << ',' << t.stall_output_cycles << ',' << t.writeback_cycles;
      if (dataflow_column) s << ',' << dataflow_name(l.dataflow);
      s << '\n';
    }
  }
  return s.str();
}

namespace {

nlohmann::json operands(const LayerStats& t) {
  nlohmann::json j;
  const std::pair<const char*, const OperandTraffic*> ops[] = {
      {"ifmap", &t.ifmap}, {"filter", &t.filter}, {"ofmap", &t.ofmap}, {"psum", &t.psum}};
  for (const auto& [name, o] : ops) {
    j[name] = {{"dram_read_bytes", o->dram_read},
               {"dram_write_bytes", o->dram_write},
               {"sram_read_bytes", o->sram_read},
               {"sram_write_bytes", o->sram_write}};
  }
  return j;
}

}  // namespace

std::string summary_json(const SimReport& r) {
  using nlohmann::json;
  const auto& g = r.arch.accel.array;
  json j;
  j["arch"] = {{"name", r.arch.name},
               {"file", r.arch.path},
               {"rows", g.rows},
               {"cols", g.cols},
               {"pipe_stages", g.pipe_stages},
               {"dataflow", r.dataflow == "best" ? std::string("best")
                                                 : std::string(dataflow_name(g.dataflow))},
               {"clock_mhz", r.arch.clock_mhz},
               {"activation_buffer_bytes", r.arch.accel.buffers.activation_bytes},
               {"weight_buffer_bytes", r.arch.accel.buffers.weight_bytes},
               {"output_buffer_bytes", r.arch.accel.buffers.output_bytes},
               {"psum_buffer_bytes", r.arch.accel.buffers.psum_bytes},
               {"dram_latency_cycles", r.arch.accel.dram.latency_cycles},
               {"dram_bytes_per_cycle", r.arch.accel.dram.bytes_per_cycle}};
  j["workload"] = {{"name", r.workload.name},
                   {"source", r.workload.source},
                   {"layers", r.workload.layers.size()}};
  j["simulation"] = {{"mode", r.mode}, {"array", r.array}, {"im2col", r.im2col}, {"seed", r.seed},
                     {"data", r.data_origin}};
  json energy = {{"file", r.energy.path}, {"name", r.energy.name},
                 {"technology", r.energy.technology}, {"units", "pJ"}};
  // The stationary PE's actions only where a weight- or input-stationary array ran (an
  // output-stationary run's summary lists what priced it).
  const bool stationary = r.dataflow == "best" || g.dataflow != Dataflow::kOutputStationary;
  const auto& ws_actions = stationary_energy_actions();
  for (const auto& [k, v] : r.energy.pj) {
    if (!stationary && std::find(ws_actions.begin(), ws_actions.end(), k) != ws_actions.end()) {
      continue;
    }
    energy["per_action_pj"][k] = v;
    const auto src = r.energy.sources.find(k);
    energy["sources"][k] = src == r.energy.sources.end() ? r.energy.path : src->second;
  }
  for (const auto& [kib, pj] : r.energy.sram_curve) {
    energy["sram_read_pj_per_64bit"][fmt::format("{:g}", kib)] = pj;
  }
  if (!r.energy.sram_curve.empty()) energy["sram_read_source"] = r.energy.sram_curve_source;
  j["energy_table"] = energy;
  for (const FormatRun& run : r.runs) {
    const auto& t = run.total;
    const auto& e = run.energy;
    j["formats"][run.format] = {
        {"total_cycles", t.total_cycles},
        {"time_ms", ms_at(t.total_cycles, r.arch.clock_mhz)},
        {"compute_cycles", t.compute_cycles},
        {"stall_cycles", t.stall_cycles},
        {"fill_drain_cycles", t.fill_drain_cycles},
        {"stall_ifmap_cycles", t.stall_ifmap_cycles},
        {"stall_filter_cycles", t.stall_filter_cycles},
        {"stall_output_cycles", t.stall_output_cycles},
        {"writeback_cycles", t.writeback_cycles},
        {"utilization", t.utilization},
        {"macs", t.macs},
        {"zero_macs", t.zero_macs},
        {"outputs_saturated", t.outputs_saturated},
        {"dram_bytes_read", t.dram_bytes_read},
        {"dram_bytes_written", t.dram_bytes_written},
        {"sram_bytes_read", t.sram_bytes_read},
        {"sram_bytes_written", t.sram_bytes_written},
        {"dram_lower_bound_bytes", t.dram_lower_bound},
        {"dram_over_lower_bound",
         t.dram_lower_bound == 0 ? 0.0
                                 : static_cast<double>(t.dram_bytes_read + t.dram_bytes_written) /
                                       static_cast<double>(t.dram_lower_bound)},
        {"operands", operands(t)},
        {"energy_pj",
         {{"multiply", e.multiply_pj},
          {"accumulate", e.accumulate_pj},
          {"requantize", e.requantize_pj},
          {"sram", e.sram_pj},
          {"dram", e.dram_pj},
          {"leakage", e.leakage_pj},
          {"total", e.total_pj()}}},
        {"energy_per_mac_pj", per_mac(e.total_pj(), t.macs)},
        {"datapath_energy_per_mac_pj", per_mac(e.datapath_pj(), t.macs)}};
    if (!run.fixed.empty()) {
      // --dataflow best: each layer's choice and what it saves against each fixed dataflow.
      json choice = {{"by", r.best_by}};
      for (size_t li = 0; li < run.layers.size(); ++li) {
        const LayerResult& l = run.layers[li];
        json layer = {{"layer", l.name}, {"dataflow", dataflow_name(l.dataflow)}};
        for (const DataflowRun& f : run.fixed) {
          layer["total_cycles"][dataflow_name(f.dataflow)] = f.layer_cycles.at(li);
          layer["energy_pj"][dataflow_name(f.dataflow)] = f.layer_energy_pj.at(li);
        }
        choice["layers"].push_back(layer);
      }
      for (const DataflowRun& f : run.fixed) {
        const double cycles = static_cast<double>(f.total.total_cycles);
        choice["versus"][dataflow_name(f.dataflow)] = {
            {"total_cycles", f.total.total_cycles},
            {"energy_pj", f.energy.total_pj()},
            {"dram_bytes", f.total.dram_bytes_read + f.total.dram_bytes_written},
            {"layers_chosen", f.layers_chosen},
            {"cycles_saved", static_cast<int64_t>(f.total.total_cycles) -
                                 static_cast<int64_t>(t.total_cycles)},
            {"cycles_saved_fraction",
             saved_fraction(static_cast<double>(t.total_cycles), cycles)},
            {"energy_saved_pj", f.energy.total_pj() - e.total_pj()},
            {"energy_saved_fraction", saved_fraction(e.total_pj(), f.energy.total_pj())}};
      }
      j["formats"][run.format]["dataflow_choice"] = choice;
    }
  }
  if (r.runs.size() == 2) {
    const FormatRun& a = r.runs[0];
    const FormatRun& b = r.runs[1];
    auto ratio = [](double x, double y) { return y == 0 ? 0.0 : x / y; };
    j["ratios"] = {
        {"of", a.format + " / " + b.format},
        {"cycles", ratio(static_cast<double>(a.total.total_cycles),
                         static_cast<double>(b.total.total_cycles))},
        {"energy", ratio(a.energy.total_pj(), b.energy.total_pj())},
        {"datapath_energy", ratio(a.energy.datapath_pj(), b.energy.datapath_pj())},
        {"multiplier_energy", ratio(a.energy.multiply_pj, b.energy.multiply_pj)}};
  }
  return j.dump(2) + "\n";
}

namespace {

constexpr double kJoulePerPicojoule = 1e-12;

std::vector<std::string> layer_names(const SimReport& r) {
  std::vector<std::string> names;
  if (!r.runs.empty()) {
    for (const LayerResult& l : r.runs[0].layers) names.push_back(l.name);
  }
  return names;
}

// One value per layer of a run.
template <typename F>
std::vector<double> per_layer(const FormatRun& run, F value) {
  std::vector<double> v;
  for (const LayerResult& l : run.layers) v.push_back(value(l));
  return v;
}

double ratio_of(double x, double y) { return y == 0 ? std::nan("") : x / y; }

chart::BarChart energy_chart(const SimReport& r) {
  chart::BarChart c;
  c.title = fmt::format("{} on {}: energy per layer by component", r.arch.name, r.workload.name);
  c.categories = layer_names(r);
  c.y = {"energy", "J"};
  for (const FormatRun& run : r.runs) {
    auto part = [&run](const char* name, double EnergyBreakdown::*field) {
      return chart::Segment{name, per_layer(run, [field](const LayerResult& l) {
                              return l.energy.*field * kJoulePerPicojoule;
                            }), ""};
    };
    c.bars.push_back({run.format,
                      {part("multipliers", &EnergyBreakdown::multiply_pj),
                       part("accumulators", &EnergyBreakdown::accumulate_pj),
                       part("requantizers", &EnergyBreakdown::requantize_pj),
                       part("SRAM", &EnergyBreakdown::sram_pj),
                       part("DRAM", &EnergyBreakdown::dram_pj),
                       part("leakage", &EnergyBreakdown::leakage_pj)}});
  }
  return c;
}

chart::LineChart ratio_chart(const SimReport& r) {
  const FormatRun& a = r.runs[0];
  const FormatRun& b = r.runs[1];
  chart::LineChart c;
  c.title = fmt::format("{} / {} per layer (below 1: {} is better)", a.format, b.format, a.format);
  c.categories = layer_names(r);
  c.y = {"ratio", "", false};
  c.reference = 1.0;
  auto line = [&](const char* name, auto value) {
    chart::Line l{name, {}, ""};
    for (size_t i = 0; i < a.layers.size() && i < b.layers.size(); ++i) {
      l.values.push_back(ratio_of(value(a.layers[i]), value(b.layers[i])));
    }
    c.lines.push_back(l);
  };
  line("cycles", [](const LayerResult& l) { return static_cast<double>(l.stats.total_cycles); });
  line("datapath energy", [](const LayerResult& l) { return l.energy.datapath_pj(); });
  line("total energy", [](const LayerResult& l) { return l.energy.total_pj(); });
  line("DRAM traffic", [](const LayerResult& l) {
    return static_cast<double>(l.stats.dram_bytes_read + l.stats.dram_bytes_written);
  });
  return c;
}

chart::BarChart cycles_chart(const SimReport& r) {
  chart::BarChart c;
  c.title = "Cycles per layer by cause: the array computing, filling and draining, idle for "
            "operands or output space, and the last write-back";
  c.categories = layer_names(r);
  c.y = {"cycles", ""};
  auto part = [](const FormatRun& run, const char* name, auto value, const char* color) {
    return chart::Segment{name, per_layer(run, [value](const LayerResult& l) {
                            return static_cast<double>(value(l.stats));
                          }), color};
  };
  for (const FormatRun& run : r.runs) {
    c.bars.push_back(
        {run.format,
         {part(run, "operand steps",
               [](const LayerStats& s) { return s.compute_cycles - s.fill_drain_cycles; },
               "#3b6fb6"),
          part(run, "fill/drain", [](const LayerStats& s) { return s.fill_drain_cycles; },
               "#9fbce3"),
          part(run, "stall: input load", [](const LayerStats& s) { return s.stall_ifmap_cycles; },
               "#c8423c"),
          part(run, "stall: weight load",
               [](const LayerStats& s) { return s.stall_filter_cycles; }, "#e08a2c"),
          part(run, "stall: output write-back",
               [](const LayerStats& s) { return s.stall_output_cycles; }, "#8a63b8"),
          part(run, "last write-back", [](const LayerStats& s) { return s.writeback_cycles; },
               "#bbbbbb")}});
  }
  return c;
}

chart::LineChart utilization_chart(const SimReport& r) {
  chart::LineChart c;
  c.title = "Utilization and stalls per layer";
  c.categories = layer_names(r);
  c.y = {"share of the layer's cycles", "%"};
  for (const FormatRun& run : r.runs) {
    c.lines.push_back({run.format + " utilization",
                       per_layer(run, [](const LayerResult& l) { return 100.0 * l.stats.utilization; }),
                       ""});
    c.lines.push_back({run.format + " stalls", per_layer(run, [](const LayerResult& l) {
                         return pct(l.stats.stall_cycles, l.stats.total_cycles);
                       }), ""});
  }
  return c;
}

chart::BarChart dram_chart(const SimReport& r) {
  chart::BarChart c;
  c.title = "DRAM traffic per layer";
  c.categories = layer_names(r);
  c.y = {"DRAM traffic", "B"};
  for (const FormatRun& run : r.runs) {
    c.bars.push_back(
        {run.format,
         {{"read", per_layer(run, [](const LayerResult& l) { return static_cast<double>(l.stats.dram_bytes_read); }), "#5aa05a"},
          {"written", per_layer(run, [](const LayerResult& l) { return static_cast<double>(l.stats.dram_bytes_written); }), "#8a63b8"}}});
  }
  return c;
}

// DRAM bytes per operand, one stacked bar per format, beside the layer's lower bound (every
// input, weight and output crossing DRAM once).
chart::BarChart dram_operand_chart(const SimReport& r) {
  chart::BarChart c;
  c.title = "DRAM traffic per layer by operand, against the lower bound";
  c.categories = layer_names(r);
  c.y = {"DRAM traffic", "B"};
  auto part = [](const FormatRun& run, const char* name, auto value, const char* color) {
    return chart::Segment{name, per_layer(run, [value](const LayerResult& l) {
                            return static_cast<double>(value(l.stats));
                          }), color};
  };
  for (const FormatRun& run : r.runs) {
    c.bars.push_back(
        {run.format,
         {part(run, "ifmap read", [](const LayerStats& s) { return s.ifmap.dram_read; },
               "#5aa05a"),
          part(run, "filter read", [](const LayerStats& s) { return s.filter.dram_read; },
               "#3b6fb6"),
          part(run, "ofmap written", [](const LayerStats& s) { return s.ofmap.dram_write; },
               "#8a63b8"),
          part(run, "psum read", [](const LayerStats& s) { return s.psum.dram_read; },
               "#d16fb0"),
          part(run, "psum written", [](const LayerStats& s) { return s.psum.dram_write; },
               "#e08a2c")}});
  }
  if (!r.runs.empty()) {
    c.bars.push_back({"lower bound",
                      {part(r.runs[0], "lower bound",
                            [](const LayerStats& s) { return s.dram_lower_bound; }, "#444444")}});
  }
  return c;
}

// Per layer: each operand's DRAM bytes and the traffic over the lower bound.
chart::Table dram_operand_table(const SimReport& r) {
  chart::Table t;
  t.header = {"format", "layer", "ifmap read", "filter read", "ofmap written", "psum read",
              "psum written", "lower bound", "traffic / lower bound"};
  for (const FormatRun& run : r.runs) {
    for (const LayerResult& l : run.layers) {
      const auto& s = l.stats;
      const uint64_t traffic = s.dram_bytes_read + s.dram_bytes_written;
      t.rows.push_back({run.format, l.name, std::to_string(s.ifmap.dram_read),
                        std::to_string(s.filter.dram_read), std::to_string(s.ofmap.dram_write),
                        std::to_string(s.psum.dram_read), std::to_string(s.psum.dram_write),
                        std::to_string(s.dram_lower_bound),
                        s.dram_lower_bound == 0
                            ? "-"
                            : fmt::format("{:.3f}", static_cast<double>(traffic) /
                                                        static_cast<double>(s.dram_lower_bound))});
    }
  }
  return t;
}

std::string mib(uint64_t bytes) { return fmt::format("{:.3f}", static_cast<double>(bytes) / 1048576.0); }

chart::Table totals_table(const SimReport& r) {
  chart::Table t;
  t.header = {"quantity"};
  for (const FormatRun& run : r.runs) t.header.push_back(run.format);
  if (r.runs.size() == 2) t.header.push_back(r.runs[0].format + " / " + r.runs[1].format);
  auto row = [&](const std::string& name, auto value, auto text) {
    std::vector<std::string> cells{name};
    for (const FormatRun& run : r.runs) cells.push_back(text(value(run)));
    if (r.runs.size() == 2) {
      const double q = ratio_of(static_cast<double>(value(r.runs[0])), static_cast<double>(value(r.runs[1])));
      cells.push_back(std::isfinite(q) ? fmt::format("{:.4f}", q) : "-");
    }
    t.rows.push_back(cells);
  };
  auto integer = [](uint64_t v) { return std::to_string(v); };
  auto uj = [](double pj) { return fmt::format("{:.3f}", pj * 1e-6); };
  auto fixed3 = [](double v) { return fmt::format("{:.3f}", v); };
  row("cycles", [](const FormatRun& f) { return f.total.total_cycles; }, integer);
  row("time (ms)", [&](const FormatRun& f) { return ms_at(f.total.total_cycles, r.arch.clock_mhz); },
      [](double v) { return fmt::format("{:.6f}", v); });
  row("compute cycles", [](const FormatRun& f) { return f.total.compute_cycles; }, integer);
  row("stall cycles", [](const FormatRun& f) { return f.total.stall_cycles; }, integer);
  row("utilization (%)", [](const FormatRun& f) { return 100.0 * f.total.utilization; },
      [](double v) { return fmt::format("{:.2f}", v); });
  row("MACs", [](const FormatRun& f) { return f.total.macs; }, integer);
  row("MACs with a zero operand", [](const FormatRun& f) { return f.total.zero_macs; }, integer);
  row("outputs saturated", [](const FormatRun& f) { return f.total.outputs_saturated; }, integer);
  row("DRAM read (MiB)", [](const FormatRun& f) { return f.total.dram_bytes_read; }, mib);
  row("DRAM written (MiB)", [](const FormatRun& f) { return f.total.dram_bytes_written; }, mib);
  row("SRAM read (MiB)", [](const FormatRun& f) { return f.total.sram_bytes_read; }, mib);
  row("SRAM written (MiB)", [](const FormatRun& f) { return f.total.sram_bytes_written; }, mib);
  row("energy, multipliers (µJ)", [](const FormatRun& f) { return f.energy.multiply_pj; }, uj);
  row("energy, accumulators (µJ)", [](const FormatRun& f) { return f.energy.accumulate_pj; }, uj);
  row("energy, requantizers (µJ)", [](const FormatRun& f) { return f.energy.requantize_pj; }, uj);
  row("energy, SRAM (µJ)", [](const FormatRun& f) { return f.energy.sram_pj; }, uj);
  row("energy, DRAM (µJ)", [](const FormatRun& f) { return f.energy.dram_pj; }, uj);
  row("energy, leakage (µJ)", [](const FormatRun& f) { return f.energy.leakage_pj; }, uj);
  row("energy, datapath (µJ)", [](const FormatRun& f) { return f.energy.datapath_pj(); }, uj);
  row("energy, total (µJ)", [](const FormatRun& f) { return f.energy.total_pj(); }, uj);
  row("energy per MAC (pJ)", [](const FormatRun& f) { return per_mac(f.energy.total_pj(), f.total.macs); }, fixed3);
  row("datapath energy per MAC (pJ)",
      [](const FormatRun& f) { return per_mac(f.energy.datapath_pj(), f.total.macs); }, fixed3);
  return t;
}

}  // namespace

std::string plot_svg(const SimReport& r) { return chart::bar_svg(energy_chart(r)); }

std::vector<std::pair<std::string, std::string>> report_charts(const SimReport& r) {
  std::vector<std::pair<std::string, std::string>> charts;
  charts.emplace_back("energy.svg", chart::bar_svg(energy_chart(r)));
  if (r.runs.size() == 2) charts.emplace_back("ratios.svg", chart::line_svg(ratio_chart(r)));
  charts.emplace_back("cycles.svg", chart::bar_svg(cycles_chart(r)));
  charts.emplace_back("utilization.svg", chart::line_svg(utilization_chart(r)));
  charts.emplace_back("dram.svg", chart::bar_svg(dram_chart(r)));
  charts.emplace_back("dram-operands.svg", chart::bar_svg(dram_operand_chart(r)));
  return charts;
}

std::string report_html(const SimReport& r) {
  const auto& g = r.arch.accel.array;
  const auto& b = r.arch.accel.buffers;
  std::string formats;
  for (const FormatRun& run : r.runs) formats += (formats.empty() ? "" : ", ") + run.format;
  chart::Page page(
      fmt::format("lbfp sim: {} on {}", r.arch.name, r.workload.name),
      r.command.empty() ? "(not recorded)" : r.command,
      {{"architecture", fmt::format("{} ({})", r.arch.name, r.arch.path)},
       {"array", fmt::format("{}x{} {}, {} pipeline stages, {} MHz", g.rows, g.cols,
                             dataflow_text(r), g.pipe_stages, r.arch.clock_mhz)},
       {"buffers (bytes)", fmt::format("activations {}, weights {}, outputs {}", b.activation_bytes,
                                       b.weight_bytes, b.output_bytes)},
       {"DRAM", fmt::format("latency {} cycles, {} bytes per cycle", r.arch.accel.dram.latency_cycles,
                            r.arch.accel.dram.bytes_per_cycle)},
       {"workload", fmt::format("{} ({}), {} layers", r.workload.name, r.workload.source,
                                r.workload.layers.size())},
       {"energy table", fmt::format("{} ({})", r.energy.path, r.energy.technology)},
       {"formats", formats},
       {"simulation", fmt::format("{} mode, {} array, seed {}", r.mode, r.array, r.seed)},
       {"data", r.data_origin}});
  const auto charts = report_charts(r);
  auto svg = [&charts](const std::string& name) {
    for (const auto& [n, s] : charts) {
      if (n == name) return s;
    }
    return std::string();
  };
  page.section("Totals", "What does the whole network cost in each format, and by how much do "
                         "they differ?");
  page.table(totals_table(r));
  page.section("Energy per layer by component (energy.svg)",
               "Where does the energy go, layer by layer: the datapath (multipliers, "
               "accumulators, requantizers), on-chip SRAM, DRAM, or leakage?");
  page.svg(svg("energy.svg"));
  if (r.runs.size() == 2) {
    page.section("Per-layer ratios (ratios.svg)",
                 fmt::format("Where does {} gain or lose against {}: cycles, datapath energy, "
                             "total energy and DRAM traffic as ratios, 1 meaning equal.",
                             r.runs[0].format, r.runs[1].format));
    page.svg(svg("ratios.svg"));
  }
  page.section("Cycles per layer by cause (cycles.svg)",
               "Which layers take the time, and why: the array taking operand steps, filling "
               "and draining its pipeline, idle while the DMA loads input data or weights, idle "
               "because the output buffer waits for its write-back, or the layer's last outputs "
               "going to DRAM after the array is done? The parts add up to the layer's cycles.");
  page.svg(svg("cycles.svg"));
  page.section("Utilization and stalls (utilization.svg)",
               "How busy is the array in each layer (useful MACs over what the array could do), "
               "and what share of the layer's cycles are stalls?");
  page.svg(svg("utilization.svg"));
  page.section("DRAM traffic per layer (dram.svg)",
               "How many bytes does each layer move to and from DRAM?");
  page.svg(svg("dram.svg"));
  page.section("DRAM traffic by operand against the lower bound (dram-operands.svg)",
               "Which operand's traffic does the tiling repeat: the input feature map, the "
               "weights, the outputs or partial sums, next to the layer's lower bound (every "
               "input, weight and output crossing DRAM once)?");
  page.svg(svg("dram-operands.svg"));
  page.table(dram_operand_table(r));
  page.section("Per-layer data (layers.csv)", "Every number of layers.csv.");
  page.details("layers.csv, one row per format and layer", chart::csv_table(layers_csv(r)));
  return page.html();
}

}  // namespace lbfp::arch
