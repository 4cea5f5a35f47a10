// `lbfp sim`: an architecture simulation of a network on the SystemC model, for LBFP8 and the
// BFP8 baseline side by side, with cycles, traffic and energy per layer.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <systemc>

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/arch/rtl_array.h"
#include "cli_options.h"
#include "commands.h"
#include "embedded.h"
#include "golden.h"
#include "host_memory.h"
#include "sim_command.h"
#include "sim_report.h"
#include "workload.h"

namespace lbfp::cli {
namespace {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, NumberFormat>> formats_for(const std::string& choice,
                                                              const NumberFormat& arch_format) {
  check_format_choice(choice);
  const int acc = arch::acc_bits(arch_format);
  const bool arch_lbfp = arch::is_lbfp(arch_format);
  const NumberFormat lbfp = arch_lbfp ? arch_format : NumberFormat(LbfpFormat(8, 4, 8, acc));
  const NumberFormat bfp = arch_lbfp ? NumberFormat(BfpFormat(8, acc)) : arch_format;
  if (choice == "arch") return {{arch::format_name(arch_format), arch_format}};
  if (choice == "lbfp8") return {{arch::format_name(lbfp), lbfp}};
  if (choice == "bfp8") return {{arch::format_name(bfp), bfp}};
  return {{arch::format_name(lbfp), lbfp}, {arch::format_name(bfp), bfp}};  // both
}

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

void check_format_choice(const std::string& format) {
  if (format != "lbfp8" && format != "bfp8" && format != "both" && format != "arch") {
    throw ConfigError("--format " + format + ": expected lbfp8, bfp8, both or arch");
  }
}

void check_mode_choice(const std::string& mode) {
  if (!mode.empty() && mode != "cycle" && mode != "tile") {
    throw ConfigError("--mode " + mode + ": expected cycle or tile");
  }
}

int run_sim(const SimOptions& o, std::ostream& out, std::ostream& err) {
  const auto started = std::chrono::steady_clock::now();
  SimReport report;
  std::vector<std::unique_ptr<arch::AcceleratorTop>> accelerators;
  std::vector<std::vector<size_t>> owners;  // per format: workload layer of each group
  try {
    report.arch = load_arch(o.arch.empty() ? kDefaultArch : o.arch, o.overrides);
    report.workload = load_workload(o.workload.empty() ? kDefaultWorkload : o.workload);
    if (o.workload.empty()) report.workload.source = "<embedded> ResNet-18 (sim/workloads/resnet18.csv)";
    const std::string energy_path = !o.energy.empty() ? o.energy : report.arch.energy_path;
    if (energy_path.empty()) {
      throw ConfigError(report.arch.path + ": no energy table: add 'energy: FILE' or pass --energy");
    }
    report.energy = load_energy(energy_path);
    report.seed = o.seed;
    report.array = o.array;
    if (o.array != "cpp" && o.array != "rtl") {
      throw ConfigError("--array " + o.array + ": expected cpp or rtl");
    }
    std::string mode = o.mode.empty() ? (o.array == "rtl" ? "cycle" : "tile") : o.mode;
    check_mode_choice(mode);
    if (o.array == "rtl" && mode != "cycle") {
      throw ConfigError("--array rtl runs cycle by cycle: use --mode cycle");
    }
    report.mode = mode;
    report.data_origin =
        report.workload.real_weights
            ? fmt::format("weights and biases from {}; activations seeded random (mt19937_64, "
                          "seed {}) ReLU(N(0,1)) per tensor; exponents by max calibration",
                          report.workload.source, o.seed)
            : fmt::format("seeded random (mt19937_64, seed {}): activations ReLU(N(0,1)) per "
                          "tensor, weights N(0, 2/fan_in) per output channel, exponents by max "
                          "calibration",
                          o.seed);

    const auto formats = formats_for(o.format, report.arch.accel.format);
    // Every layer's codes are made before the simulation starts, for each format.
    long double host_bytes = 0;
    for (const LayerSpec& spec : report.workload.layers) host_bytes += layer_data_bytes(spec);
    host_bytes *= static_cast<long double>(formats.size());
    if (host_bytes > static_cast<long double>(host_memory_budget_bytes())) {
      throw ConfigError(fmt::format(
          "{}: the workload's operands take {:.1f} GiB of memory for {} format(s), more than half "
          "of this machine's memory ({:.1f} GiB); refused before allocating",
          o.workload.empty() ? report.workload.source : "--workload " + o.workload,
          static_cast<double>(host_bytes) / (1 << 30), formats.size(),
          static_cast<double>(host_memory_budget_bytes()) / (1 << 29)));
    }
    for (const auto& [name, format] : formats) {
      arch::AcceleratorConfig cfg = report.arch.accel;
      cfg.format = format;
      cfg.mode = mode == "cycle" ? arch::SimMode::kCycle : arch::SimMode::kTile;
      std::unique_ptr<arch::ArrayBackend> backend;
      if (o.array == "rtl") backend = arch::make_rtl_array(cfg.array, format);
      auto acc = std::make_unique<arch::AcceleratorTop>(name.c_str(), cfg, std::move(backend));
      std::vector<size_t> owner;
      for (size_t li = 0; li < report.workload.layers.size(); ++li) {
        const LayerSpec& spec = report.workload.layers[li];
        for (auto& g : make_layer_data(spec, format, o.seed * 1000003u + li, cfg.dram.size_bytes)) {
          acc->add_layer(std::move(g));
          owner.push_back(li);
        }
      }
      FormatRun run;
      run.format = name;
      run.lbfp = arch::is_lbfp(format);
      report.runs.push_back(run);
      accelerators.push_back(std::move(acc));
      owners.push_back(std::move(owner));
    }
    // A bad --out fails now, not after the simulation.
    if (!o.out.empty()) make_output_folder(o.out);
  } catch (const ConfigError& e) {
    err << "lbfp sim: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const std::invalid_argument& e) {
    err << "lbfp sim: " << e.what() << "\n";
    return kExitBadInput;
  }

  Progress progress(o.progress && ::isatty(STDERR_FILENO) != 0);
  for (size_t f = 0; f < accelerators.size(); ++f) {
    const std::string name = report.runs[f].format;
    accelerators[f]->set_progress([&progress, name](size_t done, size_t total) {
      progress.update(name, done, total);
    });
  }
  sc_core::sc_start();
  progress.done();
  for (const auto& acc : accelerators) {
    if (!acc->finished()) {
      err << "lbfp sim: simulation failed: "
          << (acc->error().empty() ? "the model stopped early" : acc->error()) << "\n";
      return 1;
    }
  }

  for (size_t f = 0; f < accelerators.size(); ++f) {
    FormatRun& run = report.runs[f];
    run.layers.resize(report.workload.layers.size());
    for (size_t li = 0; li < report.workload.layers.size(); ++li) {
      const LayerSpec& spec = report.workload.layers[li];
      LayerResult& l = run.layers[li];
      l.name = spec.name;
      l.shape = spec.shape_text();
      l.groups = spec.group_count();
      l.stats.name = spec.name;
      l.stats.m = spec.gemm_m();
      l.stats.n = spec.gemm_n() * spec.group_count();
      l.stats.k = spec.gemm_k();
    }
    const auto& stats = accelerators[f]->stats();
    for (size_t i = 0; i < stats.size(); ++i) {
      accumulate_stats(run.layers[owners[f][i]].stats, stats[i]);
    }
    for (LayerResult& l : run.layers) {
      finish_stats(l.stats, report.arch.accel.array);
      l.energy = layer_energy(l.stats, run.lbfp, report.energy);
      accumulate_stats(run.total, l.stats);
      run.energy += l.energy;
    }
    finish_stats(run.total, report.arch.accel.array);
  }
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  if (!o.quiet) print_report(out, report);
  if (!o.out.empty()) {
    try {
      write_files_atomically({{(fs::path(o.out) / "layers.csv").string(), layers_csv(report)},
                              {(fs::path(o.out) / "summary.json").string(), summary_json(report)},
                              {(fs::path(o.out) / "plot.svg").string(), plot_svg(report)}});
      if (!o.quiet) out << "wrote " << o.out << "/layers.csv, summary.json, plot.svg\n";
    } catch (const ConfigError& e) {
      err << "lbfp sim: " << e.what() << "\n";
      return kExitBadInput;
    }
  }
  return 0;
}

void add_sim_command(CLI::App& app) {
  auto o = std::make_shared<SimOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sim",
      "Simulate a network on an accelerator (SystemC/TLM model): cycles, traffic and energy per "
      "layer. With no arguments: ResNet-18 on the LBFP8 16x16 preset, LBFP8 and BFP8.");
  cmd->add_option("--arch", o->arch, "architecture YAML (configs/arch/*.yaml)");
  cmd->add_option("--workload", o->workload,
                  "SCALE-Sim topology CSV (sim/workloads/*.csv) or gemm:M,N,K");
  cmd->add_option("--format", o->format, "lbfp8, bfp8, both (default) or arch");
  cmd->add_option("--mode", o->mode, "tile (default: whole tiles through the fast kernel) or "
                                     "cycle (the array stepped every clock)");
  cmd->add_option("--array", o->array, "cpp (default) or rtl (the Verilated array)");
  cmd->add_option("--energy", o->energy, "energy table YAML (default: the arch file's)");
  cmd->add_option("--seed", o->seed, "seed of the generated weights and activations")
      ->check(unsigned_integer());
  cmd->add_option("--out", o->out, "folder for layers.csv, summary.json and plot.svg");
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
