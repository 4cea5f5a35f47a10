// `lbfp eval`: top-1 accuracy of an ONNX model on MNIST-style data in FP32, BFP8, LBFP8 (and the
// rest of the LBFP family, lbfpWfF) and the industry formats of spec section 13 (bit exact
// through the golden reference), with per-layer SQNR against FP32 (model/eval, study.h).
// docs/accuracy.md, docs/formats.md. The chosen exponents go to --out (default lbfp-eval-out/).
#include <CLI/CLI.hpp>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_error.h"
#include "cli_options.h"
#include "commands.h"
#include "golden.h"
#include "lbfp/host_memory.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/study.h"
#include "output_file.h"

namespace lbfp::cli {
namespace {

namespace fs = std::filesystem;

struct EvalCliOptions {
  eval::StudyOptions study;
  std::string out = "lbfp-eval-out";
  std::string exponents_out;
};

std::string stem_of(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  const size_t dot = base.rfind(".onnx");
  return dot == std::string::npos ? base : base.substr(0, dot);
}

void print_progress(size_t done, size_t total) {
  constexpr int kWidth = 40;
  const int filled = static_cast<int>(static_cast<double>(kWidth) * static_cast<double>(done) /
                                      static_cast<double>(total));
  std::cout << '\r' << '[' << std::string(static_cast<size_t>(filled), '#')
            << std::string(static_cast<size_t>(kWidth - filled), '.') << "] " << done << '/'
            << total << " test images" << std::flush;
  if (done == total) std::cout << '\r' << std::string(kWidth + 32, ' ') << '\r' << std::flush;
}

int bad_input(const std::exception& e) {
  std::cout.flush();
  std::cerr << "lbfp eval: " << e.what() << "\n";
  return kExitBadInput;
}

// Where the exponents go: --exponents-out, else MODEL.exponents.json in --out. Checked before
// the evaluation rather than after it; --out is created only when the file is written.
std::string exponents_path(const EvalCliOptions& o) {
  std::error_code ec;
  if (o.exponents_out.empty()) {
    if (o.out.empty()) throw ConfigError("the output folder name is empty");
    // What make_output_folder would refuse, found without creating anything yet.
    fs::path existing = o.out;
    while (!existing.empty() && !fs::exists(existing, ec)) existing = existing.parent_path();
    if (!existing.empty() && !fs::is_directory(existing, ec)) {
      throw ConfigError(o.out + ": cannot create the output folder (" +
                        (existing == fs::path(o.out) ? "a file of that name exists"
                                                     : "Not a directory") + ")");
    }
    return (fs::path(o.out) / (stem_of(o.study.model) + ".exponents.json")).string();
  }
  const std::string& path = o.exponents_out;
  const fs::path parent = fs::path(path).parent_path();
  if (fs::is_directory(path, ec)) {
    throw ConfigError(path + ": is a folder; --exponents-out names a file");
  }
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    throw ConfigError(path + ": cannot write the exponents: " + parent.string() +
                      " is not a folder");
  }
  return path;
}

int run_eval(EvalCliOptions o) {
#if defined(__GLIBC__)
  // Every batch allocates and frees the same large buffers (activations, codes, im2col): keep
  // them in the heap instead of handing them back to the kernel, which costs a page fault and a
  // zeroed page per 4 KiB the next batch touches.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  const std::vector<eval::EvalConfig> configs = eval::study_configs(o.study);
  const std::string exponents = configs.empty() ? std::string() : exponents_path(o);
  o.study.memory_budget_bytes = host_memory_budget_bytes();
  if (::isatty(STDOUT_FILENO)) o.study.progress = print_progress;
  const eval::Study study = eval::run_study(o.study, configs, std::cout);
  eval::print_exponents(study, std::cout);
  if (!study.report.results.empty()) {
    if (o.exponents_out.empty()) make_output_folder(o.out);
    write_file_atomically(exponents, eval::exponents_json(study));
    std::cout << "exponents saved to " << exponents << "\n";
  }
  eval::print_accuracy(study, std::cout);
  if (!study.report.results.empty() && o.exponents_out.empty()) {
    // report.html and its charts beside the exponents in --out.
    std::vector<std::pair<std::string, std::string>> files = {
        {(fs::path(o.out) / "report.html").string(), eval::report_html(study, o.study, command_line())},
        {(fs::path(o.out) / "predictions.csv").string(), eval::predictions_csv(study)}};
    for (const auto& [name, svg] : eval::report_charts(study)) {
      files.emplace_back((fs::path(o.out) / "charts" / name).string(), svg);
    }
    make_output_folder((fs::path(o.out) / "charts").string());
    write_files_atomically(files);
  }
  eval::print_times(study, std::cerr);  // stderr: stdout stays the same from run to run
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto options = std::make_shared<EvalCliOptions>();
  eval::StudyOptions* o = &options->study;
  CLI::App* cmd = app.add_subcommand(
      "eval", "Top-1 accuracy of an ONNX model in FP32, BFP8, LBFP8, MX, FP8 and INT8 (bit-exact), "
              "per-layer SQNR");
  cmd->add_option("--model", o->model, "ONNX file (e.g. sim/models/lenet5.onnx)")->required();
  cmd->add_option("--data", o->data, "mnist, fashion-mnist, or a folder of IDX files")->required();
  cmd->add_option("--format", o->formats,
                  "fp32, bfp8, lbfp8, mxint8, mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2, int8, "
                  "the LBFP family (spec section 12) as lbfpW (F = W/2 or --frac-bits) or "
                  "lbfpWfF (e.g. lbfp7f3; W in 2..8, F in 0..W-2), a comma list, or all "
                  "(default: fp32, bfp8, lbfp8; docs/formats.md)");
  cmd->add_option_function<int>(
         "--frac-bits", [options](const int& f) { options->study.frac_bits = f; },
         "F, fraction bits of the log magnitude, for the lbfpW names of --format (default W/2, "
         "as lbfp golden; lbfp8 with F = 4 is LBFP8)")
      ->check(unsigned_integer());
  cmd->add_option("--calib", o->calib,
                  "activation calibration: kl (default; LBFP8 on the log grid), kl-linear (the "
                  "spec's linear histogram), max, mse (least squared error), percentile (99.99 % "
                  "of |x|), a comma list, or all (kl,max)");
  cmd->add_option("--weight-calib", o->weight_calib,
                  "weight calibration: max (default), kl, kl-linear, mse or percentile");
  cmd->add_option("--act-granularity", o->act_granularity,
                  "activation exponents: tensor (default) or channel (one per channel for the "
                  "tensors read only by depthwise convolutions, per tensor elsewhere)")
      ->check(CLI::IsMember({"tensor", "channel"}));
  cmd->add_option("--bias-correction", o->bias_correction,
                  "empirical bias correction on the calibration images: off (default), on, or "
                  "both (every configuration without and with it)")
      ->check(CLI::IsMember({"off", "on", "both"}));
  cmd->add_option("--calib-images", o->calib_images,
                  "training images for calibration, evenly spaced (default 1000)")
      ->check(unsigned_integer());
  cmd->add_option_function<uint64_t>(
         "--calib-seed", [options](const uint64_t& seed) { options->study.calib_seed = seed; },
         "draw the calibration images as a seeded sample without replacement from the training "
         "split instead (default: evenly spaced)")
      ->check(unsigned_integer());
  cmd->add_option("--test-images", o->test_images, "first N test images (default: all)")
      ->check(unsigned_integer());
  cmd->add_option("--batch", o->batch, "images per batch (default 200)")
      ->check(unsigned_integer() & CLI::Range(1, 1000000));
  cmd->add_option("--threads", o->threads,
                  "worker threads: the FP32 pass and every quantized configuration split each "
                  "batch's images (default 2; the same results for any count)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--out", options->out,
                  "folder for MODEL.exponents.json (the chosen exponents), report.html, "
                  "predictions.csv (each test image's top-1 class per run) and charts/ "
                  "(default lbfp-eval-out, created when missing)");
  cmd->add_option("--exponents", o->exponents,
                  "read the exponents from this file (the MODEL.exponents.json eval writes, or "
                  "lbfp.torch's save_exponents) instead of calibrating them");
  cmd->add_option("--exponents-out", options->exponents_out,
                  "save the chosen exponents to this file instead (overrides --out)");
  cmd->callback([options] {
    int rc = 0;
    try {
      rc = run_eval(*options);
    } catch (const eval::ModelError& e) {
      rc = bad_input(e);
    } catch (const eval::IdxError& e) {
      rc = bad_input(e);
    } catch (const ConfigError& e) {
      rc = bad_input(e);
    } catch (const std::invalid_argument& e) {
      rc = bad_input(e);
    }
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace lbfp::cli
