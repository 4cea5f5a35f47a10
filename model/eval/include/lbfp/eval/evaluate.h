// The accuracy evaluation of `lbfp eval`: calibrate on training images, run the test images in
// FP32 and in each quantized configuration, compare top-1 (paired, with a confidence interval)
// and every layer's output (SQNR against FP32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lbfp/calibration.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/inference.h"
#include "lbfp/gemm.h"

namespace lbfp::eval {

struct EvalConfig {
  Arithmetic format = Arithmetic::kLbfp8;
  CalibrationMethod activations = CalibrationMethod::kKl;
  CalibrationMethod weights = CalibrationMethod::kMax;
  // Empirical bias correction on the calibration images (correct_biases in inference.h).
  bool bias_correction = false;
  // The LBFP family member when format is kLbfp8 (LBFP8, F = 4, by default).
  LbfpFormat lbfp = lbfp8();
  // "lbfp8 kl/max", "lbfp8 kl/max+bc" with bias correction, "lbfp7f3 kl/max" (format_name)
  std::string label() const;
};

struct EvalOptions {
  std::vector<EvalConfig> configs;  // the quantized runs (FP32 always runs)
  size_t calib_images = 1000;       // from the training split (calibration_images)
  // No seed: the images evenly spaced over the training split (the default); a seed: a seeded
  // sample without replacement, to measure how much the results depend on the sample.
  std::optional<uint64_t> calib_seed;
  // kChannel: per-channel activation exponents where every consumer is a depthwise conv. Per tensor
  // by default: on MobileNet per channel measured no better (docs/accuracy.md).
  ActivationGranularity granularity = ActivationGranularity::kTensor;
  size_t test_images = 0;           // 0: the whole test split
  size_t batch = 200;
  GemmOptions gemm;
  std::function<void(size_t done, size_t total)> progress;  // called after every batch
  // A saved exponents file (exponents_json, or lbfp.torch's save_exponents) whose exponents
  // replace the calibrated ones (apply_saved_exponents); `saved_exponents_source` names it.
  std::optional<nlohmann::json> saved_exponents;
  std::string saved_exponents_source;
};

struct LayerError {
  int tensor = -1;
  std::string name;
  std::string op;
  ActShape shape;
  int exponent = 0;
  bool calibrated = false;
  double signal = 0;  // sum x^2 over the test images (FP32)
  double noise = 0;   // sum (x - x_q)^2
  double sqnr_db() const;
};

// Top-1 of a quantized run paired with a reference on the same images: FP32, or (between two
// calibrations, paired_accuracy) another quantized run; "fp32" in the names is then that run.
struct PairedAccuracy {
  size_t total = 0;
  size_t correct = 0;
  size_t only_quantized_right = 0;  // b: the reference (FP32) wrong, this run right
  size_t only_fp32_right = 0;       // c: the reference (FP32) right, this run wrong
  double top1() const;
  // The difference this run - reference top-1 and its 95 % Wald interval for paired
  // proportions: d = (b - c) / n, var = ((b + c) / n - d^2) / n.
  double difference() const;
  double ci_half_width() const;
  // The exact two-sided McNemar p-value (binomial on the b + c discordant pairs).
  double mcnemar_p() const;
};

// The paired comparison of two runs from whether each got each image right (the same images, in
// the same order; std::invalid_argument when the lengths differ).
PairedAccuracy paired_accuracy(const std::vector<bool>& right,
                               const std::vector<bool>& reference_right);

// The training images to calibrate on (ascending indices into a split of `split_size` images):
// without a seed, `count` evenly spaced ones (i * (split_size / count)); with one, a sample of
// `count` without replacement drawn by mt19937_64(seed) (a partial Fisher-Yates shuffle with
// rejection sampling, so the same on every platform). All of them when count >= split_size.
std::vector<size_t> calibration_images(size_t split_size, size_t count,
                                       std::optional<uint64_t> seed = std::nullopt);

struct ConfigResult {
  EvalConfig config;
  QuantPlan plan;
  PairedAccuracy accuracy;        // against FP32
  std::vector<bool> right;        // by test image: top-1 correct
  std::vector<size_t> predicted;  // by test image: the top-1 class
  std::vector<LayerError> layers;
  uint64_t overflows = 0;
  double seconds = 0;  // wall time of its test pass: inference and the comparison with FP32
};

struct EvalReport {
  std::string model;
  std::string dataset;
  size_t calib_images = 0;
  std::optional<uint64_t> calib_seed;
  size_t fp32_correct = 0;
  std::vector<bool> fp32_right;  // by test image
  std::vector<size_t> fp32_predicted;  // by test image: FP32's top-1 class
  std::vector<size_t> labels;          // by test image
  size_t total = 0;
  std::vector<ConfigResult> results;
  // Wall time of the calibration (FP32 pass, histograms, plans, bias correction) and of the FP32
  // test pass; each configuration's is in its result.
  double calibrate_seconds = 0;
  double fp32_seconds = 0;
  double fp32_top1() const {
    return total ? static_cast<double>(fp32_correct) / static_cast<double>(total) : 0.0;
  }
};

// Images as the FP32 network sees them: pixel / 255 as float.
std::vector<float> to_float_input(const Dataset& data, size_t first, size_t count);
std::vector<uint8_t> pixel_batch(const Dataset& data, size_t first, size_t count);

// Argmax of each row (first maximum wins).
template <class T>
std::vector<size_t> top1(const std::vector<T>& logits, size_t classes);

// Throws ModelError when the model's input is not the data set's image shape (1 x rows x cols) or
// its output does not have 10 classes.
void check_model_fits(const Graph& graph, const Dataset& data);

// Throws what check_model_fits throws for either data set.
EvalReport evaluate(const Graph& graph, const Dataset& train, const Dataset& test,
                    const EvalOptions& options);

// The chosen exponents of one configuration: every tensor's and every layer's weight exponents
// (each layer also names its input and output tensors and gives their exponents).
nlohmann::json plan_to_json(const Graph& graph, const ConfigResult& result);

// Replaces `plan`'s exponents with those of the file's first configuration of the plan's format
// (false, and nothing changed, when the file has none; evaluate then refuses a file that has
// none of the run's formats):
// "activations" [{"tensor", "exponent", optional "per_channel"}] by tensor name; "weights"
// [{"layer", "per_output_channel", optional "input_exponent", "output_exponent", "bias"}] by
// node name (the weights are re-encoded). Tensors that MaxPool / Relu / Flatten pass on then
// take their input's exponent again; a layer's "input_exponent" must then agree with its input
// tensor's (unless that tensor is the graph input or an Add / pooling output, which it sets).
// What the file leaves out keeps the calibrated value. Throws lbfp::ConfigError naming `source`
// and the key for anything that does not fit the graph.
bool apply_saved_exponents(const Graph& graph, QuantPlan& plan, const nlohmann::json& saved,
                           const std::string& source);

}  // namespace lbfp::eval
