// `lbfp sweep`: a design-space sweep (lbfp/arch/sweep.h). Each point is one `lbfp sim` call in
// its own process; points run in parallel on the local cores, or are written as a job list that
// GNU parallel or a Slurm job array runs unchanged, then collected into one CSV.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "cli_options.h"
#include "commands.h"
#include "golden.h"
#include "lbfp/arch/sweep.h"
#include "output_file.h"

namespace lbfp::cli {
namespace {

namespace fs = std::filesystem;

int run_sweep(arch::SweepRequest request, std::ostream& out, std::ostream& err) {
  try {
    std::error_code ec;
    request.simulator = fs::read_symlink("/proc/self/exe", ec).string();
    if (ec) throw ConfigError("cannot find the lbfp executable (/proc/self/exe)");
    request.command = command_line();
    const arch::SweepOutput output{make_output_folder, write_files_atomically};
    const arch::SweepResult r =
        arch::sweep(request, output, [&err](size_t point, const std::string& dir, bool started) {
          if (started) {
            err << "lbfp sweep: point " << point << " failed (" << dir << ")\n";
          } else {
            err << "lbfp sweep: cannot start point " << point << "\n";
          }
        });
    if (!r.jobs_path.empty()) {
      out << fmt::format("wrote {} points to {} (GNU parallel: parallel < {}; Slurm: sbatch {})\n",
                         r.points, r.jobs_path, r.jobs_path, r.slurm_path);
    } else if (r.failures > 0) {
      err << "lbfp sweep: " << r.failures << " of " << r.points
          << " points failed; no sweep.csv written\n";
      return r.bad_input > 0 ? kExitBadInput : 1;
    } else {
      out << fmt::format("{} points -> {}\n", r.points, r.csv_path);
    }
  } catch (const ConfigError& e) {
    err << "lbfp sweep: " << e.what() << "\n";
    return kExitBadInput;
  }
  return 0;
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto o = std::make_shared<arch::SweepRequest>();
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "Design-space sweep: every combination of the --vary values is one `lbfp sim` run; runs "
      "them on the local cores (or writes a job list) and collects one CSV");
  cmd->add_option("--arch", o->arch, "architecture YAML (default: the embedded preset)");
  cmd->add_option("--workload", o->workload, "topology CSV or gemm:M,N,K (default: ResNet-18)");
  cmd->add_option("--format", o->format,
                  "lbfp8, bfp8, both (default), arch, or a format of spec section 13: mxint8, "
                  "mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2, int8 (docs/formats.md)");
  cmd->add_option("--mode", o->mode, "tile (default) or cycle");
  cmd->add_option("--seed", o->seed, "seed of the generated data (the same for every point)")
      ->check(unsigned_integer());
  cmd->add_option("--vary", o->vary,
                  "key=v1,v2,...: an arch key (array.rows, dram.bandwidth_bytes_per_cycle, ...) "
                  "or format; repeat for more axes")
      ->required();
  cmd->add_option("--out", o->out, "folder for points/, sweep.csv (default lbfp-sweep-out)");
  cmd->add_option("--jobs", o->jobs, "points run at once (default: the number of cores)")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--emit-jobs", o->emit_jobs,
                "write jobs.txt (one lbfp sim per line) and slurm.sh instead of running");
  cmd->add_flag("--collect", o->collect_only, "only collect finished points into sweep.csv");
  cmd->callback([o] {
    const int rc = run_sweep(*o, std::cout, std::cerr);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace lbfp::cli
