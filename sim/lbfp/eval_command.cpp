// `lbfp eval`: top-1 accuracy of an ONNX model on MNIST-style data in FP32, BFP8 and LBFP8 (bit
// exact through the golden kernels), with per-layer SQNR against FP32. docs/accuracy.md.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_error.h"
#include "cli_options.h"
#include "commands.h"
#include "golden.h"
#include "host_memory.h"
#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/idx.h"
#include "output_file.h"

namespace lbfp::cli {
namespace {

namespace fs = std::filesystem;

struct EvalCliOptions {
  std::string model;
  std::string data;
  std::string format = "all";
  std::string calib = "kl";
  std::string weight_calib = "max";
  std::string act_granularity = "tensor";
  std::string bias_correction = "off";
  size_t calib_images = 1000;
  std::optional<uint64_t> calib_seed;  // set when --calib-seed is given
  size_t test_images = 0;
  size_t batch = 200;
  int threads = 2;
  std::string exponents_out;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(',', start);
    out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}

CalibrationMethod parse_method(const std::string& name) {
  if (name == "kl") return CalibrationMethod::kKl;
  if (name == "kl-linear") return CalibrationMethod::kKlLinear;
  if (name == "max") return CalibrationMethod::kMax;
  throw std::invalid_argument("unknown calibration '" + name + "' (kl, kl-linear or max)");
}

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

std::string pct(double v) { return fmt::format("{:6.2f} %", 100.0 * v); }

// "diff [95 % CI]  b/c  p" of a paired comparison, against FP32 or between two calibrations.
std::string paired_text(const eval::PairedAccuracy& a) {
  const double d = 100 * a.difference(), h = 100 * a.ci_half_width();
  return fmt::format("{:>+12.2f} [{:+.2f}, {:+.2f}]  {:>9}  {:>7.3g}", d, d - h, d + h,
                     fmt::format("{}/{}", a.only_quantized_right, a.only_fp32_right),
                     a.mcnemar_p());
}

int bad_input(const std::exception& e) {
  std::cout.flush();
  std::cerr << "lbfp eval: " << e.what() << "\n";
  return kExitBadInput;
}

int run_eval(const EvalCliOptions& o) {
  std::vector<eval::EvalConfig> configs;
  const std::vector<std::string> formats =
      o.format == "all" ? std::vector<std::string>{"fp32", "bfp8", "lbfp8"} : split_list(o.format);
  const std::vector<std::string> calibs =
      o.calib == "all" ? std::vector<std::string>{"kl", "max"} : split_list(o.calib);
  const CalibrationMethod wmethod = parse_method(o.weight_calib);
  const eval::ActivationGranularity granularity =
      eval::parse_activation_granularity(o.act_granularity);
  std::vector<bool> corrections = {o.bias_correction == "on"};
  if (o.bias_correction == "both") corrections = {false, true};
  for (const auto& f : formats) {
    const eval::Arithmetic nf = eval::parse_arithmetic(f);
    if (nf == eval::Arithmetic::kFp32) continue;
    for (const auto& c : calibs) {
      for (bool bc : corrections) configs.push_back({nf, parse_method(c), wmethod, bc});
    }
  }
  if (!configs.empty() && o.calib_images == 0) {
    throw ConfigError("--calib-images 0: a quantized format needs at least one calibration image");
  }
  // Where the exponents go, checked before the evaluation rather than after it.
  const std::string exponents_path =
      o.exponents_out.empty() ? stem_of(o.model) + ".exponents.json" : o.exponents_out;
  if (!configs.empty()) {
    const fs::path parent = fs::path(exponents_path).parent_path();
    std::error_code ec;
    if (fs::is_directory(exponents_path, ec)) {
      throw ConfigError(exponents_path + ": is a folder; --exponents-out names a file");
    }
    if (!parent.empty() && !fs::is_directory(parent, ec)) {
      throw ConfigError(exponents_path + ": cannot write the exponents: " + parent.string() +
                        " is not a folder");
    }
  }

  const eval::Graph graph = eval::load_onnx(o.model);
  const eval::Dataset test = eval::load_dataset(o.data, eval::Split::kTest);
  const eval::Dataset train =
      configs.empty() ? eval::Dataset{} : eval::load_dataset(o.data, eval::Split::kTrain);
  if (test.size() == 0) {
    throw ConfigError(eval::dataset_dir(o.data) + ": the test split has no images");
  }
  eval::check_model_fits(graph, test);
  if (!configs.empty() && train.size() == 0) {
    throw ConfigError(eval::dataset_dir(o.data) + ": the training split has no images to "
                      "calibrate on");
  }
  // Every activation of a batch is held at once (FP32 values, codes, dequantized doubles):
  // refuse a batch that cannot fit before allocating it.
  long double values_per_image = 0;
  for (const eval::ActShape& s : graph.tensor_shapes) {
    values_per_image += static_cast<long double>(s.elements());
  }
  const long double batch_bytes = values_per_image * static_cast<long double>(o.batch) * 16;
  if (batch_bytes > static_cast<long double>(host_memory_budget_bytes())) {
    throw ConfigError(fmt::format(
        "{}: --batch {} needs about {:.1f} GiB for the activations ({:.0f} values per image), more "
        "than half of this machine's memory; use a smaller --batch",
        o.model, o.batch, static_cast<double>(batch_bytes) / (1 << 30),
        static_cast<double>(values_per_image)));
  }

  size_t convs = 0;
  for (const auto& n : graph.nodes) convs += n.kind == eval::OpKind::kConv;
  std::cout << fmt::format("model {}: {} layers ({} convolutions), input {}\n", o.model,
                           graph.nodes.size(), convs,
                           graph.tensor_shapes[static_cast<size_t>(graph.input)].str());
  std::cout << fmt::format("data {}: {} test images; calibration on {} training images{}\n",
                           eval::dataset_dir(o.data), test.size(),
                           configs.empty() ? size_t{0} : std::min(o.calib_images, train.size()),
                           configs.empty() ? ""
                           : o.calib_seed  ? fmt::format(", sampled with seed {}", *o.calib_seed)
                                           : ", evenly spaced");

  eval::EvalOptions options;
  options.configs = configs;
  options.calib_images = o.calib_images;
  options.calib_seed = o.calib_seed;
  options.granularity = granularity;
  options.test_images = o.test_images;
  options.batch = o.batch;
  options.gemm.threads = o.threads;
  if (::isatty(STDOUT_FILENO)) options.progress = print_progress;
  const eval::Dataset& calib_set = configs.empty() ? test : train;
  const eval::EvalReport report = eval::evaluate(graph, calib_set, test, options);

  // Exponents, per layer.
  nlohmann::json saved = nlohmann::json::array();
  for (const auto& r : report.results) {
    std::cout << fmt::format("\nexponents, {} (activations per tensor, or per channel min..max "
                             "where every consumer is a depthwise conv; weights per output "
                             "channel, min..max):\n",
                             r.config.label());
    std::cout << fmt::format("  {:<28} {:>5} {:>9}  {}\n", "layer", "E", "weight E", "op");
    std::cout << fmt::format("  {:<28} {:>5}\n", "(graph input)",
                             r.plan.tensor_exponents[static_cast<size_t>(graph.input)]);
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const auto& l = r.layers[i];
      const auto& w = r.plan.weight_exponents[i];
      std::string wtext;
      if (!w.empty()) {
        wtext = fmt::format("{}..{}", *std::min_element(w.begin(), w.end()),
                            *std::max_element(w.begin(), w.end()));
      }
      const auto& ce = r.plan.channel_exponents[static_cast<size_t>(l.tensor)];
      const std::string etext =
          ce.empty() ? std::to_string(l.exponent)
                     : fmt::format("{}..{}", *std::min_element(ce.begin(), ce.end()),
                                   *std::max_element(ce.begin(), ce.end()));
      std::cout << fmt::format("  {:<28} {:>5} {:>9}  {}{}\n", l.name, etext, wtext, l.op,
                               l.calibrated ? "" : " (input's exponent)");
      if (!ce.empty()) {
        std::string list;
        for (size_t c = 0; c < ce.size(); ++c) list += (c ? " " : "") + std::to_string(ce[c]);
        std::cout << "      per channel: " << list << "\n";
      }
    }
    saved.push_back(eval::plan_to_json(graph, r));
  }
  if (!report.results.empty()) {
    write_file_atomically(exponents_path, saved.dump(1) + "\n");
    std::cout << "exponents saved to " << exponents_path << "\n";
  }

  // Accuracy.
  std::cout << fmt::format("\ntop-1 on {} test images (difference to FP32: paired, 95 % Wald "
                           "interval for paired proportions; b/c = images only the quantized / "
                           "only FP32 gets right; p = exact McNemar)\n",
                           report.total);
  std::cout << fmt::format("  {:<18} {:>8}  {:>28}  {:>9}  {:>7}  {}\n", "format", "top-1",
                           "diff to fp32 [95 % CI] (pp)", "b/c", "p", "acc. overflows");
  std::cout << fmt::format("  {:<18} {:>8}\n", "fp32", pct(report.fp32_top1()));
  for (const auto& r : report.results) {
    std::cout << fmt::format("  {:<18} {:>8}  {}  {}\n", r.config.label(), pct(r.accuracy.top1()),
                             paired_text(r.accuracy), r.overflows);
  }
  // Two configurations of one format that differ in the activation calibration or in the bias
  // correction alone, on the same images: their own paired comparison, which their two
  // differences to FP32 do not give (their discordant images overlap).
  bool pairs_header = false;
  for (size_t i = 0; i < report.results.size(); ++i) {
    for (size_t j = i + 1; j < report.results.size(); ++j) {
      const auto& a = report.results[i].config;
      const auto& b = report.results[j].config;
      const bool other_calibration = a.activations != b.activations;
      const bool other_correction = a.bias_correction != b.bias_correction;
      if (a.format != b.format || a.weights != b.weights || other_calibration == other_correction) {
        continue;
      }
      if (!pairs_header) {
        std::cout << "\nbetween configurations of one format (paired as above; b/c = images only "
                     "the first / only the second gets right)\n";
        std::cout << fmt::format("  {:<37}  {:>28}  {:>9}  {:>7}\n", "first - second",
                                 "difference [95 % CI] (pp)", "b/c", "p");
        pairs_header = true;
      }
      std::cout << fmt::format("  {:<37}  {}\n", a.label() + " - " + b.label(),
                               paired_text(eval::paired_accuracy(report.results[i].right,
                                                                 report.results[j].right)));
    }
  }

  // Per-layer error.
  if (!report.results.empty()) {
    std::cout << "\nper-layer SQNR of each layer's output against FP32 (dB), test images:\n";
    std::string header = fmt::format("  {:<28} {:<24} {:>10}", "layer", "op", "shape");
    for (const auto& r : report.results) header += fmt::format(" {:>15}", r.config.label());
    std::cout << header << "\n";
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const auto& l0 = report.results[0].layers[i];
      std::string row = fmt::format("  {:<28} {:<24} {:>10}", l0.name, l0.op, l0.shape.str());
      for (const auto& r : report.results) {
        const double s = r.layers[i].sqnr_db();
        row += std::isinf(s) ? fmt::format(" {:>15}", "exact") : fmt::format(" {:>15.1f}", s);
      }
      std::cout << row << "\n";
    }
  }
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Top-1 accuracy of an ONNX model in FP32, BFP8 and LBFP8 (bit-exact), per-layer SQNR");
  cmd->add_option("--model", o->model, "ONNX file (e.g. sim/models/lenet5.onnx)")->required();
  cmd->add_option("--data", o->data, "mnist, fashion-mnist, or a folder of IDX files")->required();
  cmd->add_option("--format", o->format, "fp32, bfp8, lbfp8, a comma list, or all (default)");
  cmd->add_option("--calib", o->calib,
                  "activation calibration: kl (default; LBFP8 on the log grid), kl-linear (the "
                  "spec's linear histogram), max, a comma list, or all (kl,max)");
  cmd->add_option("--weight-calib", o->weight_calib,
                  "weight calibration: max (default), kl or kl-linear");
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
         "--calib-seed", [o](const uint64_t& seed) { o->calib_seed = seed; },
         "draw the calibration images as a seeded sample without replacement from the training "
         "split instead (default: evenly spaced)")
      ->check(unsigned_integer());
  cmd->add_option("--test-images", o->test_images, "first N test images (default: all)")
      ->check(unsigned_integer());
  cmd->add_option("--batch", o->batch, "images per batch (default 200)")
      ->check(unsigned_integer() & CLI::Range(1, 1000000));
  cmd->add_option("--threads", o->threads, "GEMM worker threads (default 2)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--exponents-out", o->exponents_out,
                  "where to save the chosen exponents (default MODEL.exponents.json)");
  cmd->callback([o] {
    int rc = 0;
    try {
      rc = run_eval(*o);
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
