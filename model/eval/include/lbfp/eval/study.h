// What `lbfp eval` runs, as one library call: the configurations its options name, the model and
// data loaded and checked, the evaluation (evaluate.h), and the report text (exponents per layer,
// top-1 with paired comparisons, per-layer SQNR). docs/accuracy.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/graph.h"

namespace lbfp::eval {

// The options as `lbfp eval` names them.
struct StudyOptions {
  std::string model;             // ONNX file
  std::string data;              // mnist, fashion-mnist or a folder of IDX files
  // fp32, bfp8, lbfp8, a section 13 format (mxint8, ..., int8), a comma list, or all (the first
  // three)
  std::string formats = "all";
  // F of the LBFP family names "lbfpW" in `formats` (parse_named_format); unset: W / 2, the
  // default of `lbfp golden`. "lbfp8" with F = 4 is LBFP8.
  std::optional<int> frac_bits;
  std::string calib = "kl";      // activation calibration: kl, kl-linear, max, a comma list, all
  std::string weight_calib = "max";
  std::string act_granularity = "tensor";  // or channel
  std::string bias_correction = "off";     // on, off or both
  size_t calib_images = 1000;
  std::optional<uint64_t> calib_seed;
  size_t test_images = 0;  // 0: all
  size_t batch = 200;
  int threads = 2;
  // A batch whose activations would need more host memory is refused before it is allocated.
  uint64_t memory_budget_bytes = UINT64_MAX;
  // A saved exponents file (the JSON this study writes, or lbfp.torch's) whose exponents replace
  // the calibrated ones in every quantized configuration of its formats; empty for none.
  std::string exponents;
  std::function<void(size_t done, size_t total)> progress;  // after every batch, or empty
};

// The quantized configurations the options name (FP32 always runs). Throws
// std::invalid_argument for an unknown name and lbfp::ConfigError for --calib-images 0 with a
// quantized configuration.
std::vector<EvalConfig> study_configs(const StudyOptions& options);

struct Study {
  Graph graph;
  EvalReport report;
  double load_seconds = 0;  // wall time of loading the model and the data
};

// Loads the model and the data, checks that they fit each other and the memory budget (ModelError,
// IdxError, lbfp::ConfigError), writes the model and data lines to `out`, and evaluates `configs`.
Study run_study(const StudyOptions& options, const std::vector<EvalConfig>& configs,
                std::ostream& out);

// The chosen exponents per layer of every configuration, as text and as the saved JSON.
void print_exponents(const Study& study, std::ostream& out);
std::string exponents_json(const Study& study);
// One row per test image: "image,label,fp32,<configuration label>..." with each run's top-1 class.
std::string predictions_csv(const Study& study);

// Top-1 of every configuration against FP32, the paired comparisons between configurations of one
// format, and every layer's SQNR against FP32.
void print_accuracy(const Study& study, std::ostream& out);

// The charts of report.html on their own, as (file name, SVG): top1.svg (each configuration's
// difference to FP32 with its paired 95 % interval) and sqnr.svg (per-layer SQNR).
std::vector<std::pair<std::string, std::string>> report_charts(const Study& study);

// One self-contained XHTML page (lbfp/chart): the options and `command`, top-1 with the paired
// intervals, per-layer SQNR and the chosen exponents.
std::string report_html(const Study& study, const StudyOptions& options,
                        const std::string& command);
// Where the time went (wall seconds; `lbfp eval` writes it to stderr): load, calibrate, the FP32
// test pass, each configuration's test pass (configurations that ran side by side each count
// their own wall time).
void print_times(const Study& study, std::ostream& out);

}  // namespace lbfp::eval
