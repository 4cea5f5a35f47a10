#include "lbfp/arch/sweep.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "lbfp/arch/config.h"
#include "lbfp/chart/chart.h"
#include "lbfp/chart/page.h"
#include "lbfp/arch/energy.h"
#include "lbfp/arch/input.h"
#include "lbfp/arch/simulate.h"
#include "lbfp/workload/workload.h"

extern char** environ;

namespace lbfp::arch {
namespace {

namespace fs = std::filesystem;

struct Axis {
  std::string key;
  std::vector<std::string> values;
};

Axis parse_axis(const std::string& spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
    throw ConfigError("--vary " + spec + ": expected key=v1,v2,... (e.g. array.rows=8,16,32)");
  }
  for (const char c : spec) {
    // A newline would split a line of jobs.txt and a row of sweep.csv.
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '"') {
      std::string shown = spec;
      for (char& d : shown) d = static_cast<unsigned char>(d) < 0x20 || d == 0x7f ? '?' : d;
      throw ConfigError("--vary " + shown + ": control characters and quotes are not allowed");
    }
  }
  Axis a;
  a.key = spec.substr(0, eq);
  std::stringstream ss(spec.substr(eq + 1));
  for (std::string v; std::getline(ss, v, ',');) {
    if (v.empty()) throw ConfigError("--vary " + spec + ": empty value");
    a.values.push_back(v);
  }
  return a;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_-./=:,+") == std::string::npos) {
    return s;
  }
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Point {
  std::map<std::string, std::string> values;  // axis key -> value
  std::vector<std::string> argv;
  std::string dir;
};

constexpr size_t kMaxPoints = 100000;

std::vector<Point> make_points(const SweepRequest& o, const std::vector<Axis>& axes,
                               const std::string& self) {
  // Counted before anything is built: ten axes of a hundred values are 10^20 points.
  long double count = 1;
  for (const Axis& a : axes) count *= static_cast<long double>(a.values.size());
  if (count > kMaxPoints) {
    throw ConfigError(fmt::format("the sweep has {:.0f} points, more than {}", count, kMaxPoints));
  }
  std::vector<Point> points(1);
  for (const Axis& a : axes) {
    std::vector<Point> next;
    for (const Point& p : points) {
      for (const std::string& v : a.values) {
        Point q = p;
        q.values[a.key] = v;
        next.push_back(q);
      }
    }
    points = std::move(next);
  }
  for (size_t i = 0; i < points.size(); ++i) {
    Point& p = points[i];
    p.dir = fs::absolute(fs::path(o.out) / "points" / fmt::format("{:04}", i)).string();
    p.argv = {self, "sim", "--quiet", "--no-progress", "--seed", std::to_string(o.seed),
              "--out", p.dir};
    if (!o.arch.empty()) p.argv.insert(p.argv.end(), {"--arch", fs::absolute(o.arch).string()});
    if (!o.workload.empty()) {
      const bool file = o.workload.rfind("gemm:", 0) != 0;
      p.argv.insert(p.argv.end(),
                    {"--workload", file ? fs::absolute(o.workload).string() : o.workload});
    }
    if (!o.mode.empty()) p.argv.insert(p.argv.end(), {"--mode", o.mode});
    std::string format = o.format;
    for (const auto& [key, value] : p.values) {
      if (key == "format") {
        format = value;
      } else {
        p.argv.insert(p.argv.end(), {"--set", key + "=" + value});
      }
    }
    p.argv.insert(p.argv.end(), {"--format", format});
  }
  return points;
}

// The exit status of a point that was given bad input (the `lbfp` front end's convention).
constexpr int kBadInputStatus = 2;

void spawn_and_wait_all(const std::vector<Point>& points, int jobs, SweepResult& result,
                        const SweepFailure& failed) {
  size_t next = 0;
  int running = 0;
  std::map<pid_t, size_t> pids;
  while (next < points.size() || running > 0) {
    while (running < jobs && next < points.size()) {
      const Point& p = points[next];
      std::vector<char*> args;
      for (const auto& a : p.argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      pid_t pid = 0;
      if (posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) {
        if (failed) failed(next, p.dir, false);
        ++result.failures;
      } else {
        pids[pid] = next;
        ++running;
      }
      ++next;
    }
    if (running == 0) continue;
    int status = 0;
    const pid_t done = waitpid(-1, &status, 0);
    if (done <= 0) break;
    --running;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      if (failed) failed(pids[done], points[pids[done]].dir, true);
      ++result.failures;
      if (WIFEXITED(status) && WEXITSTATUS(status) == kBadInputStatus) ++result.bad_input;
    }
  }
}

std::string point_text(const Point& p) {
  std::string text;
  for (const auto& [key, value] : p.values) text += (text.empty() ? "" : ", ") + key + "=" + value;
  return text;
}

// Reads what every point reads (architecture with its overrides, energy table, workload, format
// and mode) before any point runs, so that a bad value is one message and exit status 2 at once
// instead of a failed process per point.
void check_points(const SweepRequest& o, const std::vector<Point>& points) {
  check_mode_choice(o.mode);
  load_workload(o.workload.empty() ? kDefaultWorkload : o.workload, read_text_file);
  std::set<std::string> energies_read;
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    try {
      std::vector<std::string> overrides;
      std::string format = o.format;
      for (const auto& [key, value] : p.values) {
        if (key == "format") {
          format = value;
        } else {
          overrides.push_back(key + "=" + value);
        }
      }
      check_format_choice(format);
      const ArchSpec arch = load_arch(o.arch.empty() ? kDefaultArch : o.arch, overrides);
      if (arch.energy_path.empty()) {
        throw ConfigError(arch.path + ": no energy table: add 'energy: FILE'");
      }
      if (energies_read.insert(arch.energy_path).second) load_energy(arch.energy_path);
    } catch (const ConfigError& e) {
      throw ConfigError("point " + std::to_string(i) + " (" + point_text(p) + "): " + e.what());
    }
  }
}

// One row of sweep.csv: a point's result in one format.
struct Row {
  size_t point = 0;
  std::string format;
  double total_cycles = 0, time_ms = 0, utilization = 0, stall_cycles = 0;
  double dram_bytes_read = 0, dram_bytes_written = 0, dram_lower_bound_bytes = 0;
  double energy_total_pj = 0;
  double energy_per_mac_pj = 0, datapath_energy_per_mac_pj = 0;
};

std::vector<Row> read_rows(const std::vector<Point>& points) {
  std::vector<Row> rows;
  for (size_t i = 0; i < points.size(); ++i) {
    const fs::path summary = fs::path(points[i].dir) / "summary.json";
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_text_file(summary.string()));
    } catch (const std::exception& e) {
      throw ConfigError(summary.string() + ": cannot read the point's summary (" + e.what() + ")");
    }
    if (!j.is_object() || !j.contains("formats") || !j["formats"].is_object() ||
        j["formats"].empty()) {
      throw ConfigError(summary.string() + ": no 'formats' results (not an lbfp sim summary?)");
    }
    const nlohmann::json& formats = j["formats"];
    static const char* const kFields[] = {"total_cycles",     "time_ms",         "utilization",
                                          "stall_cycles",     "dram_bytes_read", "dram_bytes_written",
                                          "dram_lower_bound_bytes", "energy_per_mac_pj",
                                          "datapath_energy_per_mac_pj"};
    for (const auto& [format, f] : formats.items()) {
      bool ok = f.is_object() && f.contains("energy_pj") && f["energy_pj"].is_object() &&
                f["energy_pj"].contains("total") && f["energy_pj"]["total"].is_number();
      for (const char* field : kFields) ok = ok && f.contains(field) && f[field].is_number();
      if (!ok) {
        throw ConfigError(summary.string() + ": format '" + format +
                          "': a result field is missing or not a number");
      }
    }
    for (const auto& [format, f] : formats.items()) {
      Row r;
      r.point = i;
      r.format = format;
      r.total_cycles = f["total_cycles"].get<double>();
      r.time_ms = f["time_ms"].get<double>();
      r.utilization = f["utilization"].get<double>();
      r.stall_cycles = f["stall_cycles"].get<double>();
      r.dram_bytes_read = f["dram_bytes_read"].get<double>();
      r.dram_bytes_written = f["dram_bytes_written"].get<double>();
      r.dram_lower_bound_bytes = f["dram_lower_bound_bytes"].get<double>();
      r.energy_total_pj = f["energy_pj"]["total"].get<double>();
      r.energy_per_mac_pj = f["energy_per_mac_pj"].get<double>();
      r.datapath_energy_per_mac_pj = f["datapath_energy_per_mac_pj"].get<double>();
      rows.push_back(r);
    }
  }
  return rows;
}

// The numbers with the precision they carry (as layers.csv): counts as integers, energies to
// the femtojoule, ratios and per-MAC energies to six decimals, times to the nanosecond.
std::string collect(const std::vector<Point>& points, const std::vector<Axis>& axes,
                    const std::vector<Row>& rows) {
  std::ostringstream csv;
  csv << "point";
  for (const Axis& a : axes) {
    if (a.key != "format") csv << ',' << a.key;  // the format has a column of its own
  }
  csv << ",format,total_cycles,time_ms,utilization,stall_cycles,dram_bytes_read,"
         "dram_bytes_written,dram_lower_bound_bytes,energy_total_pj,energy_per_mac_pj,"
         "datapath_energy_per_mac_pj\n";
  for (const Row& r : rows) {
    csv << r.point;
    for (const Axis& a : axes) {
      if (a.key != "format") csv << ',' << points[r.point].values.at(a.key);
    }
    csv << fmt::format(",{},{:.0f},{:.6f},{:.6f},{:.0f},{:.0f},{:.0f},{:.0f},{:.3f},{:.6f},{:.6f}\n",
                       r.format, r.total_cycles, r.time_ms, r.utilization, r.stall_cycles,
                       r.dram_bytes_read, r.dram_bytes_written, r.dram_lower_bound_bytes,
                       r.energy_total_pj,
                       r.energy_per_mac_pj, r.datapath_energy_per_mac_pj);
  }
  return csv.str();
}

// A row's configuration: the varied values and the format ("array.rows=8, lbfp8").
std::string row_label(const Row& r, const std::vector<Point>& points, const std::string& skip) {
  std::string text;
  for (const auto& [key, value] : points[r.point].values) {
    if (key != "format" && key != skip) text += (text.empty() ? "" : ", ") + key + "=" + value;
  }
  if (skip != "format") text += (text.empty() ? "" : ", ") + r.format;
  return text;
}

std::vector<std::pair<std::string, std::string>> sweep_charts(const std::vector<Point>& points,
                                                              const std::vector<Axis>& axes,
                                                              const std::vector<Row>& rows) {
  struct Metric {
    const char* file;
    const char* name;
    const char* unit;
    double (*value)(const Row&);
  };
  static const Metric kMetrics[] = {
      {"cycles", "cycles", "", [](const Row& r) { return r.total_cycles; }},
      {"energy", "energy", "J", [](const Row& r) { return r.energy_total_pj * 1e-12; }},
      {"dram", "DRAM traffic", "B",
       [](const Row& r) { return r.dram_bytes_read + r.dram_bytes_written; }},
  };
  std::vector<std::pair<std::string, std::string>> charts;
  for (const Axis& a : axes) {
    for (const Metric& m : kMetrics) {
      chart::LineChart c;
      c.title = fmt::format("{} against {}", m.name, a.key);
      c.x_title = a.key;
      c.categories = a.values;
      c.y = {m.name, m.unit};
      // One line per configuration of everything else.
      std::map<std::string, size_t> line_of;
      for (const Row& r : rows) {
        const std::string label = row_label(r, points, a.key);
        auto [it, added] = line_of.emplace(label, c.lines.size());
        if (added) {
          c.lines.push_back({label.empty() ? m.name : label,
                             std::vector<double>(a.values.size(), std::nan("")), ""});
        }
        const std::string& v = a.key == "format" ? r.format : points[r.point].values.at(a.key);
        const auto pos = std::find(a.values.begin(), a.values.end(), v);
        if (pos != a.values.end()) {
          c.lines[it->second].values[static_cast<size_t>(pos - a.values.begin())] = m.value(r);
        }
      }
      std::string file = a.key + "-" + m.file + ".svg";
      for (char& ch : file) ch = std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' ? ch : '_';
      charts.emplace_back(file, chart::line_svg(c));
    }
  }
  chart::ScatterChart pareto;
  pareto.title = "energy against cycles; the Pareto front (fewest cycles for the energy) joined";
  pareto.x = {"cycles", ""};
  pareto.y = {"energy", "J"};
  pareto.highlight_name = "Pareto optimal (no point has both fewer cycles and less energy)";
  for (const Row& r : rows) {
    bool dominated = false;
    for (const Row& o : rows) {
      dominated = dominated || (o.total_cycles <= r.total_cycles &&
                                o.energy_total_pj <= r.energy_total_pj &&
                                (o.total_cycles < r.total_cycles || o.energy_total_pj < r.energy_total_pj));
    }
    pareto.points.push_back({r.total_cycles, r.energy_total_pj * 1e-12,
                             fmt::format("{}: {}", r.point, row_label(r, points, "")), !dominated});
  }
  charts.emplace_back("pareto.svg", chart::scatter_svg(pareto));
  return charts;
}

std::string sweep_html(const SweepRequest& o, const std::vector<Axis>& axes,
                       const std::string& csv,
                       const std::vector<std::pair<std::string, std::string>>& charts,
                       size_t points) {
  std::string varied;
  for (const Axis& a : axes) {
    std::string values;
    for (const auto& v : a.values) values += (values.empty() ? "" : ",") + v;
    varied += (varied.empty() ? "" : "; ") + a.key + "=" + values;
  }
  chart::Page page(
      "lbfp sweep: " + varied, o.command.empty() ? "(not recorded)" : o.command,
      {{"architecture", o.arch.empty() ? std::string(kDefaultArch) : o.arch},
       {"workload", o.workload.empty() ? std::string(kDefaultWorkload) : o.workload},
       {"format", o.format},
       {"mode", o.mode.empty() ? "tile" : o.mode},
       {"seed", std::to_string(o.seed)},
       {"varied", varied},
       {"points", std::to_string(points)}});
  page.section("Pareto front (pareto.svg)",
               "Which configurations are worth having: for each, is there another with both fewer "
               "cycles and less energy? The joined points have none.");
  for (const auto& [name, svg] : charts) {
    if (name == "pareto.svg") page.svg(svg);
  }
  for (const Axis& a : axes) {
    page.section("Against " + a.key,
                 "How do cycles, energy and DRAM traffic move as " + a.key +
                     " changes, with everything else held (one line per configuration of the rest)?");
    for (const auto& [name, svg] : charts) {
      if (name != "pareto.svg" && name.rfind(a.key, 0) == 0) page.svg(svg);
    }
  }
  page.section("Data (sweep.csv)", "Every number of sweep.csv.");
  page.table(chart::csv_table(csv));
  return page.html();
}

}  // namespace

SweepResult sweep(const SweepRequest& o, const SweepOutput& output, const SweepFailure& failed) {
  std::vector<Axis> axes;
  for (const auto& v : o.vary) {
    axes.push_back(parse_axis(v));
    for (size_t i = 0; i + 1 < axes.size(); ++i) {
      if (axes[i].key == axes.back().key) {
        throw ConfigError("--vary " + v + ": " + axes.back().key + " is varied twice");
      }
    }
  }
  if (axes.empty()) throw ConfigError("lbfp sweep needs at least one --vary key=v1,v2,...");
  const std::vector<Point> points = make_points(o, axes, o.simulator);
  if (!o.collect_only) check_points(o, points);
  output.make_folder((fs::path(o.out) / "points").string());

  SweepResult result;
  result.points = points.size();
  if (o.emit_jobs) {
    std::ostringstream jobs;
    for (const Point& p : points) {
      for (size_t i = 0; i < p.argv.size(); ++i) jobs << (i ? " " : "") << shell_quote(p.argv[i]);
      jobs << '\n';
    }
    const fs::path list = fs::absolute(fs::path(o.out) / "jobs.txt");
    std::ostringstream slurm;
    slurm << "#!/bin/bash\n"
          << "# One lbfp sim point per array task; then: lbfp sweep --collect with the same\n"
          << "# --vary options and --out " << shell_quote(o.out) << "\n"
          << "#SBATCH --array=0-" << points.size() - 1 << "\n"
          << "#SBATCH --cpus-per-task=1\n"
          << "set -euo pipefail\n"
          << "eval \"$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" " << shell_quote(list.string())
          << ")\"\n";
    result.jobs_path = list.string();
    result.slurm_path = (fs::path(o.out) / "slurm.sh").string();
    output.write_files({{result.jobs_path, jobs.str()}, {result.slurm_path, slurm.str()}});
    return result;
  }
  if (!o.collect_only) {
    const int jobs =
        o.jobs > 0 ? o.jobs : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    spawn_and_wait_all(points, jobs, result, failed);
    if (result.failures > 0) return result;
  }
  result.csv_path = (fs::path(o.out) / "sweep.csv").string();
  const std::vector<Row> rows = read_rows(points);
  const std::string csv = collect(points, axes, rows);
  const auto charts = sweep_charts(points, axes, rows);
  std::vector<std::pair<std::string, std::string>> files = {
      {result.csv_path, csv},
      {(fs::path(o.out) / "report.html").string(), sweep_html(o, axes, csv, charts, points.size())}};
  for (const auto& [name, svg] : charts) {
    files.emplace_back((fs::path(o.out) / "charts" / name).string(), svg);
  }
  output.make_folder((fs::path(o.out) / "charts").string());
  output.write_files(files);
  return result;
}

}  // namespace lbfp::arch
