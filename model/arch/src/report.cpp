#include "lbfp/arch/report.h"

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace lbfp::arch {

namespace {

double ms_at(uint64_t cycles, double clock_mhz) {
  return static_cast<double>(cycles) / (clock_mhz * 1e3);
}
double per_mac(double pj, uint64_t macs) { return macs == 0 ? 0.0 : pj / static_cast<double>(macs); }
double pct(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

void print_report(std::ostream& out, const SimReport& r) {
  const auto& g = r.arch.accel.array;
  fmt::print(out, "lbfp sim: {} ({}x{} output-stationary, {} MHz) on {} [{} layers]\n",
             r.arch.name, g.rows, g.cols, r.arch.clock_mhz, r.workload.name,
             r.workload.layers.size());
  fmt::print(out, "  arch {}; workload {}; {} mode, {} array, im2col on {}; data: {}\n",
             r.arch.path, r.workload.source, r.mode, r.array, r.im2col, r.data_origin);
  fmt::print(out, "  energy table {} ({}), picojoules per action\n\n", r.energy.path,
             r.energy.technology);
  for (const FormatRun& run : r.runs) {
    fmt::print(out, "{}\n", run.format);
    fmt::print(out, "  {:<22} {:>28} {:>6} {:>12} {:>6} {:>6} {:>10} {:>11} {:>8}\n", "layer",
               "shape", "tiles", "cycles", "util%", "stall%", "DRAM KiB", "energy uJ",
               "pJ/MAC");
    for (const LayerResult& l : run.layers) {
      const auto& s = l.stats;
      fmt::print(out, "  {:<22} {:>28} {:>6} {:>12} {:>6.1f} {:>6.1f} {:>10.1f} {:>11.3f} {:>8.3f}\n",
                 l.name.substr(0, 22), l.shape.substr(0, 28), s.tiles, s.total_cycles,
                 100.0 * s.utilization, pct(s.stall_cycles, s.total_cycles),
                 static_cast<double>(s.dram_bytes_read + s.dram_bytes_written) / 1024.0,
                 l.energy.total_pj() * 1e-6, per_mac(l.energy.total_pj(), s.macs));
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
               {"dataflow", "output-stationary"},
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
  for (const auto& [k, v] : r.energy.pj) {
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

std::string plot_svg(const SimReport& r) {
  // Two panels of grouped bars: cycles and energy per layer, one colour per format.
  const size_t layers = r.workload.layers.size();
  const double bar_group = std::max(12.0, std::min(60.0, 900.0 / static_cast<double>(std::max<size_t>(1, layers))));
  const double left = 80, top = 40, panel_h = 220, gap = 110;
  const double width = left + bar_group * static_cast<double>(layers) + 40;
  const double height = top + 2 * panel_h + gap + 120;
  const char* colors[] = {"#3b6fb6", "#e08a2c", "#5aa05a"};
  std::ostringstream s;
  s << fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n",
      width, height);
  s << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s << fmt::format("<text x=\"{}\" y=\"20\" font-size=\"14\">{} on {}: cycles and energy per layer</text>\n",
                   left, r.arch.name, r.workload.name);
  for (int panel = 0; panel < 2; ++panel) {
    const double y0 = top + panel * (panel_h + gap);
    double vmax = 0;
    for (const FormatRun& run : r.runs) {
      for (const LayerResult& l : run.layers) {
        vmax = std::max(vmax, panel == 0 ? static_cast<double>(l.stats.total_cycles)
                                         : l.energy.total_pj() * 1e-6);
      }
    }
    if (vmax <= 0) vmax = 1;
    s << fmt::format("<text x=\"10\" y=\"{:.0f}\">{}</text>\n", y0 + 12,
                     panel == 0 ? "cycles" : "energy (uJ)");
    s << fmt::format("<line x1=\"{}\" y1=\"{:.0f}\" x2=\"{:.0f}\" y2=\"{:.0f}\" stroke=\"black\"/>\n",
                     left, y0 + panel_h, width - 30, y0 + panel_h);
    for (int tick = 0; tick <= 4; ++tick) {
      const double v = vmax * tick / 4.0;
      const double y = y0 + panel_h - panel_h * tick / 4.0;
      s << fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:.3g}</text>\n", left - 4,
                       y + 4, v);
      s << fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{:.0f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n",
                       left, y, width - 30, y);
    }
    const double bar_w = bar_group * 0.8 / static_cast<double>(std::max<size_t>(1, r.runs.size()));
    for (size_t f = 0; f < r.runs.size(); ++f) {
      for (size_t i = 0; i < r.runs[f].layers.size(); ++i) {
        const LayerResult& l = r.runs[f].layers[i];
        const double v = panel == 0 ? static_cast<double>(l.stats.total_cycles) : l.energy.total_pj() * 1e-6;
        const double h = panel_h * v / vmax;
        const double x = left + bar_group * static_cast<double>(i) + bar_group * 0.1 + bar_w * static_cast<double>(f);
        s << fmt::format(
            "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{} {}: {:.4g}</title></rect>\n",
            x, y0 + panel_h - h, bar_w, h, colors[f % 3], r.runs[f].format, l.name, v);
      }
    }
  }
  const double label_y = top + 2 * panel_h + gap + 8;
  for (size_t i = 0; i < layers; ++i) {
    const double x = left + bar_group * (static_cast<double>(i) + 0.5);
    s << fmt::format(
        "<text x=\"{:.1f}\" y=\"{:.1f}\" transform=\"rotate(60 {:.1f} {:.1f})\">{}</text>\n", x,
        label_y, x, label_y, r.workload.layers[i].name);
  }
  for (size_t f = 0; f < r.runs.size(); ++f) {
    const double x = width - 160;
    const double y = 12 + 14 * static_cast<double>(f);
    s << fmt::format("<rect x=\"{:.0f}\" y=\"{:.0f}\" width=\"10\" height=\"10\" fill=\"{}\"/>"
                     "<text x=\"{:.0f}\" y=\"{:.0f}\">{}</text>\n",
                     x, y, colors[f % 3], x + 14, y + 9, r.runs[f].format);
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace lbfp::arch
