#include "lbfp/arch/scalesim_report.h"

#include <fmt/format.h>

#include <cctype>
#include <sstream>
#include <stdexcept>

namespace lbfp::arch {
namespace {

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// A float as Python's str() writes it (the shortest text that reads back, "100.0" not "100").
std::string py_float(double v) {
  std::string text = fmt::format("{}", v);
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

// num / den as SCALE-Sim writes it; 0 over 0 cycles.
std::string ratio(double num, double den) { return py_float(den > 0 ? num / den : 0.0); }

// The dataflow the array of `r` runs (summary.json's arch.dataflow).
// Cycles are counted from the layer's start (its first DMA request), as layers.csv's
// total_cycles; the model does not time-stamp each operand's accesses, so every operand's
// window is the layer's: cycle 0 to total_cycles - 1 (docs/scalesim.md).
uint64_t stop_cycle(const LayerStats& s) { return s.total_cycles == 0 ? 0 : s.total_cycles - 1; }

}  // namespace

double scalesim_mapping_efficiency(const std::string& dataflow, uint64_t m, uint64_t n_per_group,
                                   uint64_t k, int rows, int cols) {
  uint64_t sr = m, sc = n_per_group;
  if (dataflow == "weight-stationary") {
    sr = k;
  } else if (dataflow == "input-stationary") {
    sr = k;
    sc = m;
  } else if (dataflow != "output-stationary") {
    throw std::invalid_argument("unknown dataflow '" + dataflow + "'");
  }
  if (sr == 0 || sc == 0 || rows <= 0 || cols <= 0) return 0.0;
  const auto r = static_cast<uint64_t>(rows), c = static_cast<uint64_t>(cols);
  // Every fold maps min(R, rest) x min(C, rest): the mean over the folds is Sr Sc over all of them.
  return 100.0 * (static_cast<double>(sr) * static_cast<double>(sc)) /
         (static_cast<double>(ceil_div(sr, r) * r) * static_cast<double>(ceil_div(sc, c) * c));
}

std::vector<std::pair<std::string, std::string>> scalesim_reports(const SimReport& r) {
  std::vector<std::pair<std::string, std::string>> files;
  const auto add = [&](const std::string& folder, const FormatRun& run) {
    files.emplace_back(folder + "COMPUTE_REPORT.csv", scalesim_compute_report(r, run));
    files.emplace_back(folder + "BANDWIDTH_REPORT.csv", scalesim_bandwidth_report(r, run));
    files.emplace_back(folder + "DETAILED_ACCESS_REPORT.csv",
                       scalesim_detailed_access_report(r, run));
  };
  if (!r.runs.empty()) add("", r.runs.front());
  if (r.runs.size() > 1) {
    for (const FormatRun& run : r.runs) {
      // "lbfp(W=6,F=3,P=8,A=32)" -> "lbfp_W_6_F_3_P_8_A_32"
      std::string folder;
      for (const char c : run.format) {
        folder += std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' ? c : '_';
      }
      while (!folder.empty() && folder.back() == '_') folder.pop_back();
      add(folder + "/", run);
    }
  }
  return files;
}

std::string scalesim_compute_report(const SimReport& r, const FormatRun& run) {
  const auto& g = r.arch.accel.array;
  const double pes = static_cast<double>(g.rows) * static_cast<double>(g.cols);
  std::ostringstream s;
  s << "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, "
       "Compute Util %,\n";
  for (size_t i = 0; i < run.layers.size(); ++i) {
    const LayerResult& l = run.layers[i];
    const LayerStats& t = l.stats;
    const uint64_t n_per_group = l.groups == 0 ? t.n : t.n / l.groups;
    s << i << ", " << t.total_cycles << ", " << t.stall_cycles << ", "
      << ratio(100.0 * static_cast<double>(t.macs), pes * static_cast<double>(t.total_cycles))
      << ", "
      << py_float(scalesim_mapping_efficiency(dataflow_name(l.dataflow), t.m, n_per_group, t.k, g.rows,
                                              g.cols))
      << ", "
      << ratio(100.0 * static_cast<double>(t.macs), pes * static_cast<double>(t.compute_cycles))
      << ",\n";
  }
  return s.str();
}

std::string scalesim_bandwidth_report(const SimReport& /*r*/, const FormatRun& run) {
  std::ostringstream s;
  s << "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, "
       "Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,\n";
  for (size_t i = 0; i < run.layers.size(); ++i) {
    const LayerStats& t = run.layers[i].stats;
    const auto cycles = static_cast<double>(t.total_cycles);
    const auto d = [](uint64_t v) { return static_cast<double>(v); };
    s << i << ", " << ratio(d(t.ifmap.sram_read), cycles) << ", "
      << ratio(d(t.filter.sram_read), cycles) << ", " << ratio(d(t.ofmap.sram_write), cycles)
      << ", " << ratio(d(t.ifmap.dram_read), cycles) << ", "
      << ratio(d(t.filter.dram_read), cycles) << ", " << ratio(d(t.ofmap.dram_write), cycles)
      << ",\n";
  }
  return s.str();
}

std::string scalesim_detailed_access_report(const SimReport& /*r*/, const FormatRun& run) {
  std::ostringstream s;
  s << "LayerID, "
       "SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, "
       "SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, "
       "SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, "
       "DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, "
       "DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, "
       "DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,\n";
  for (size_t i = 0; i < run.layers.size(); ++i) {
    const LayerStats& t = run.layers[i].stats;
    const uint64_t stop = stop_cycle(t);
    s << i;
    for (const uint64_t words : {t.ifmap.sram_read, t.filter.sram_read, t.ofmap.sram_write,
                                 t.ifmap.dram_read, t.filter.dram_read, t.ofmap.dram_write}) {
      s << ", 0, " << stop << ", " << words;
    }
    s << ",\n";
  }
  return s.str();
}

}  // namespace lbfp::arch
