// SCALE-Sim v2's three per-layer reports (COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv,
// DETAILED_ACCESS_REPORT.csv) from a simulation's statistics, with SCALE-Sim's header spellings
// and row layout, so that scripts written for SCALE-Sim read `lbfp sim` runs. layers.csv and
// summary.json stay the full reports; docs/scalesim.md says what each column holds here.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lbfp/arch/report.h"

namespace lbfp::arch {

// SCALE-Sim's mapping efficiency (%) of a layer of `groups` GEMMs of m x n_per_group x k on an
// R x C array: the mean over its folds of the PEs a fold maps over R C. The spatial dimensions
// are (M, N) for output-stationary, (K, N) for weight-stationary, (K, M) for input-stationary.
double scalesim_mapping_efficiency(const std::string& dataflow, uint64_t m, uint64_t n_per_group,
                                   uint64_t k, int rows, int cols);

// Every SCALE-Sim report of a simulation as (path relative to the output folder, content): the
// first format's three files in the folder itself and, when the run has more than one format,
// each format's in a folder named after it ("lbfp8/COMPUTE_REPORT.csv").
std::vector<std::pair<std::string, std::string>> scalesim_reports(const SimReport& report);

// One row per layer of `run` (a run of `report`), LayerID from 0.
std::string scalesim_compute_report(const SimReport& report, const FormatRun& run);
std::string scalesim_bandwidth_report(const SimReport& report, const FormatRun& run);
std::string scalesim_detailed_access_report(const SimReport& report, const FormatRun& run);

}  // namespace lbfp::arch
