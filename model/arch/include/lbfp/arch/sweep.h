// A design-space sweep: every combination of the varied architecture keys (and formats) is one
// simulation in its own process (each has its own SystemC simulation); the points run in
// parallel on the local cores, or are written as a job list that GNU parallel or a Slurm job
// array runs unchanged; their summaries are collected into one CSV.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "lbfp/config_error.h"

namespace lbfp::arch {

struct SweepRequest {
  std::string simulator;  // the program run per point as `simulator sim ...` (the lbfp executable)
  std::string arch;       // empty: the embedded default
  std::string workload;   // empty: the embedded default
  std::string format = "both";
  std::string mode;
  uint64_t seed = 1;
  std::vector<std::string> vary;  // "key=v1,v2,...": an arch key or format
  std::string out = "lbfp-sweep-out";
  int jobs = 0;  // points run at once; 0: the number of cores
  bool emit_jobs = false;     // write jobs.txt and slurm.sh instead of running
  bool collect_only = false;  // only collect finished points into sweep.csv
  std::string command;        // the command line shown in report.html; may be empty
};

struct SweepResult {
  size_t points = 0;
  std::string jobs_path;   // with emit_jobs: jobs.txt and slurm.sh
  std::string slurm_path;
  std::string csv_path;    // when collected: sweep.csv, with report.html and charts/ beside it
  int failures = 0;        // points that could not start or did not exit with 0 (no CSV then)
  int bad_input = 0;       // of those, points that exited with status 2 (bad input)
};

// How a sweep writes: the caller's folder maker and all-or-nothing file writer (each throws
// ConfigError naming the path), so that a bad --out fails before any point runs.
struct SweepOutput {
  std::function<void(const std::string& dir)> make_folder;
  std::function<void(const std::vector<std::pair<std::string, std::string>>& files)> write_files;
};

// Called for each failed point as it fails: its index, its folder, and whether it started.
using SweepFailure = std::function<void(size_t point, const std::string& dir, bool started)>;

// Checks every point's inputs before any runs (bad ones throw ConfigError), then writes the job
// list, or runs the points and collects their summaries into sweep.csv and report.html (none
// when a point failed), or only collects.
SweepResult sweep(const SweepRequest& request, const SweepOutput& output,
                  const SweepFailure& failed = {});

}  // namespace lbfp::arch
