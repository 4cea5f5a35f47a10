// `lbfp sim`: an architecture simulation of a network on the SystemC model (lbfp/arch/simulate.h),
// for LBFP8 and the BFP8 baseline side by side, with cycles, traffic and energy per layer.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli_options.h"
#include "commands.h"
#include "golden.h"
#include "lbfp/host_memory.h"
#include "lbfp/arch/report.h"
#include "lbfp/arch/scalesim_report.h"
#include "output_file.h"
#include "sim_command.h"

namespace lbfp::cli {
namespace {

namespace fs = std::filesystem;

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  void update(const std::string& what, size_t done, size_t total) {
    if (!enabled_) return;
    const int width = 30;
    const int filled = total == 0 ? width : static_cast<int>(width * done / total);
    std::cerr << fmt::format("\r[{:<{}}] {:>4}/{:<4} {:<24}", std::string(static_cast<size_t>(filled), '#'),
                             width, done, total, what.substr(0, 24))
              << std::flush;
  }
  void done() {
    if (enabled_) std::cerr << "\r" << std::string(72, ' ') << "\r" << std::flush;
  }

 private:
  bool enabled_;
};

}  // namespace

int run_sim(const SimOptions& o, std::ostream& out, std::ostream& err) {
  arch::SimulationRequest request = o;
  request.max_host_bytes = host_memory_budget_bytes();
  request.warn = [&err](const std::string& w) { err << "lbfp sim: warning: " << w << "\n"; };
  Progress progress(o.progress && ::isatty(STDERR_FILENO) != 0);
  arch::SimReport report;
  try {
    report = arch::simulate(
        request, [&progress](const std::string& format, size_t done, size_t total) {
          progress.update(format, done, total);
        },
        [&o] {
          if (!o.out.empty()) make_output_folder(o.out);  // a bad --out fails before simulating
        });
  } catch (const arch::SimulationError& e) {
    progress.done();
    err << "lbfp sim: simulation failed: " << e.what() << "\n";
    return 1;
  } catch (const ConfigError& e) {
    err << "lbfp sim: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const std::invalid_argument& e) {
    err << "lbfp sim: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const std::runtime_error& e) {  // an on-demand RTL model that cannot be built
    progress.done();
    err << "lbfp sim: " << e.what() << "\n";
    return 1;
  }
  progress.done();
  report.command = command_line();
  const auto reports_started = std::chrono::steady_clock::now();
  // Where the time went, on stderr: the reports compared byte for byte stay free of it.
  auto print_time = [&] {
    if (o.quiet) return;
    const double reports =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - reports_started).count();
    err << fmt::format(
        "lbfp sim: time (wall): data {:.2f} s, simulation {:.2f} s, other setup {:.2f} s, "
        "reports {:.2f} s; the data's CPU time {:.2f} s\n",
        report.data_seconds, report.simulation_seconds,
        report.wall_seconds - report.data_seconds - report.simulation_seconds, reports,
        report.data_cpu_seconds);
  };

  if (!o.quiet) arch::print_report(out, report);
  if (o.out.empty()) {
    print_time();
    return 0;
  }
  try {
    std::vector<std::pair<std::string, std::string>> files = {
        {(fs::path(o.out) / "layers.csv").string(), arch::layers_csv(report)},
        {(fs::path(o.out) / "summary.json").string(), arch::summary_json(report)},
        {(fs::path(o.out) / "plot.svg").string(), arch::plot_svg(report)},
        {(fs::path(o.out) / "report.html").string(), arch::report_html(report)}};
    for (const auto& [name, svg] : arch::report_charts(report)) {
      files.emplace_back((fs::path(o.out) / "charts" / name).string(), svg);
    }
    make_output_folder((fs::path(o.out) / "charts").string());
    for (const auto& [name, csv] : arch::scalesim_reports(report)) {  // docs/scalesim.md
      const fs::path path = fs::path(o.out) / name;
      make_output_folder(path.parent_path().string());
      files.emplace_back(path.string(), csv);
    }
    write_files_atomically(files);
  } catch (const ConfigError& e) {
    err << "lbfp sim: " << e.what() << "\n";
    return kExitBadInput;
  }
  if (!o.quiet) out << "wrote " << o.out << "/report.html (open it first), layers.csv, summary.json, plot.svg, charts/\n";
  print_time();
  return 0;
}

void add_sim_command(CLI::App& app) {
  auto o = std::make_shared<SimOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sim",
      "Simulate a network on an accelerator (SystemC/TLM model): cycles, traffic and energy per "
      "layer. With no arguments: ResNet-18 on the LBFP8 16x16 preset, LBFP8 and BFP8.");
  cmd->add_option("--arch", o->arch,
                  "architecture YAML (configs/arch/*.yaml) or SCALE-Sim v2 .cfg "
                  "(docs/scalesim.md)");
  cmd->add_option("--workload", o->workload,
                  "SCALE-Sim topology CSV (sim/workloads/*.csv) or gemm:M,N,K");
  cmd->add_option("--format", o->format,
                  "lbfp8, bfp8, both (default), arch, or a format of spec section 13: mxint8, "
                  "mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2, int8 (docs/formats.md)");
  cmd->add_option("--mode", o->mode, "tile (default: whole tiles through the fast kernel) or "
                                     "cycle (the array stepped every clock)");
  cmd->add_option("--dataflow", o->dataflow,
                  "os, ws or is over the arch file's array.dataflow, or best: every layer in each "
                  "dataflow, the cheapest by --best-by chosen per layer");
  cmd->add_option("--best-by", o->best_by, "with --dataflow best: cycles (default) or energy");
  cmd->add_option("--array", o->array,
                  "cpp (default) or rtl (the Verilated array; a configuration that is not prebuilt "
                  "is verilated on first use into --rtl-cache)");
  cmd->add_option("--rtl-cache", o->rtl_cache,
                  "folder of the on-demand RTL models (default $XDG_CACHE_HOME/lbfp/rtl or "
                  "~/.cache/lbfp/rtl)");
  cmd->add_option("--trace", o->trace,
                  "write a waveform: with --array rtl an FST of the RTL, else a VCD of the "
                  "SystemC model (docs/cosim.md)");
  cmd->add_option("--trace-window", o->trace_window,
                  "with --array rtl: trace only RTL cycles FIRST:LAST (either may be left out)");
  cmd->add_option("--im2col", o->im2col,
                  "chip (default: the accelerator forms a convolution's windows from the input "
                  "feature map) or host (it gets the im2col'ed GEMM)");
  cmd->add_option("--energy", o->energy, "energy table YAML (default: the arch file's)");
  cmd->add_option("--seed", o->seed, "seed of the generated weights and activations")
      ->check(unsigned_integer());
  cmd->add_option("--out", o->out,
                  "folder for report.html, layers.csv, summary.json, plot.svg, charts/ and "
                  "SCALE-Sim's COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv, "
                  "DETAILED_ACCESS_REPORT.csv");
  cmd->add_option("--set", o->overrides, "override an arch key, e.g. --set array.rows=32 (key= removes it)");
  cmd->add_flag("--quiet", o->quiet, "print nothing on success");
  cmd->add_flag("!--no-progress", o->progress, "no progress bar");
  cmd->callback([o, cmd] {
    SimOptions opts = *o;
    if (cmd->count("--out") > 0 && opts.out.empty()) {
      std::cerr << "lbfp sim: --out: the folder name is empty\n";
      throw CLI::RuntimeError(kExitBadInput);
    }
    if (opts.arch.empty() && opts.workload.empty() && opts.out.empty()) opts.out = "lbfp-sim-out";
    const int rc = run_sim(opts, std::cout, std::cerr);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace lbfp::cli
