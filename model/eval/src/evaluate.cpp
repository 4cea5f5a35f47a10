#include "lbfp/eval/evaluate.h"

#include <map>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cmath>
#include <exception>
#include <limits>
#include <random>
#include <stdexcept>
#include <thread>

#include "lbfp/config_error.h"
#include "lbfp/eval/scaled_inference.h"
#include "parallel.h"

namespace lbfp::eval {

std::string EvalConfig::label() const {
  // MX chooses its scales from the values (no calibration to name).
  if (is_scaled(format) && scaled_format(format).is_mx()) {
    return std::string(to_string(format)) + " ocp";
  }
  return format_name(format, lbfp) + " " + to_string(activations) + "/" + to_string(weights) +
         (bias_correction ? "+bc" : "");
}

double LayerError::sqnr_db() const {
  if (noise == 0) return std::numeric_limits<double>::infinity();
  if (signal == 0) return -std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / noise);
}

double PairedAccuracy::top1() const {
  return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
}

double PairedAccuracy::difference() const {
  if (!total) return 0;
  return (static_cast<double>(only_quantized_right) - static_cast<double>(only_fp32_right)) /
         static_cast<double>(total);
}

double PairedAccuracy::ci_half_width() const {
  if (!total) return 0;
  const double n = static_cast<double>(total);
  const double d = difference();
  const double discordant = static_cast<double>(only_quantized_right + only_fp32_right) / n;
  return 1.959963984540054 * std::sqrt(std::max(0.0, discordant - d * d) / n);
}

double PairedAccuracy::mcnemar_p() const {
  const size_t n = only_quantized_right + only_fp32_right;
  if (n == 0) return 1.0;
  const size_t k = std::min(only_quantized_right, only_fp32_right);
  // 2 * P(X <= k), X ~ Binomial(n, 1/2), summed in logs.
  double p = 0;
  for (size_t i = 0; i <= k; ++i) {
    p += std::exp(std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(i) + 1) -
                  std::lgamma(static_cast<double>(n - i) + 1) - static_cast<double>(n) * std::log(2.0));
  }
  return std::min(1.0, 2 * p);
}

PairedAccuracy paired_accuracy(const std::vector<bool>& right,
                               const std::vector<bool>& reference_right) {
  if (right.size() != reference_right.size()) {
    throw std::invalid_argument("paired_accuracy: " + std::to_string(right.size()) + " against " +
                                std::to_string(reference_right.size()) + " images");
  }
  PairedAccuracy a;
  a.total = right.size();
  for (size_t i = 0; i < right.size(); ++i) {
    a.correct += right[i];
    a.only_quantized_right += right[i] && !reference_right[i];
    a.only_fp32_right += !right[i] && reference_right[i];
  }
  return a;
}

std::vector<size_t> calibration_images(size_t split_size, size_t count,
                                       std::optional<uint64_t> seed) {
  count = std::min(count, split_size);
  std::vector<size_t> ids(count);
  if (count == 0) return ids;
  if (count == split_size || !seed) {
    const size_t stride = split_size / count;
    for (size_t i = 0; i < count; ++i) ids[i] = i * stride;
    return ids;
  }
  // std::uniform_int_distribution and std::shuffle differ between standard libraries; the
  // engine's output does not, so the draw below it is written out.
  std::mt19937_64 rng(*seed);
  auto below = [&rng](uint64_t n) {  // uniform in [0, n): reject the 2^64 mod n lowest outputs
    const uint64_t reject = (0 - n) % n;
    uint64_t x = rng();
    while (x < reject) x = rng();
    return x % n;
  };
  std::vector<size_t> all(split_size);
  for (size_t i = 0; i < split_size; ++i) all[i] = i;
  for (size_t i = 0; i < count; ++i) {
    std::swap(all[i], all[i + below(split_size - i)]);
  }
  std::copy(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(count), ids.begin());
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<float> to_float_input(const Dataset& data, size_t first, size_t count) {
  const size_t px = data.rows * data.cols;
  std::vector<float> out(count * px);
  for (size_t i = 0; i < count * px; ++i) {
    out[i] = static_cast<float>(data.pixels[first * px + i]) / 255.0f;
  }
  return out;
}

std::vector<uint8_t> pixel_batch(const Dataset& data, size_t first, size_t count) {
  const size_t px = data.rows * data.cols;
  return {data.pixels.begin() + static_cast<std::ptrdiff_t>(first * px),
          data.pixels.begin() + static_cast<std::ptrdiff_t>((first + count) * px)};
}

template <class T>
std::vector<size_t> top1(const std::vector<T>& logits, size_t classes) {
  std::vector<size_t> out(logits.size() / classes);
  for (size_t i = 0; i < out.size(); ++i) {
    const auto* row = logits.data() + i * classes;
    out[i] = static_cast<size_t>(std::max_element(row, row + classes) - row);
  }
  return out;
}
template std::vector<size_t> top1(const std::vector<float>&, size_t);
template std::vector<size_t> top1(const std::vector<double>&, size_t);

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Finite weights can still overflow float on the way (1e30 x 1e30): then FP32, the reference
// every quantized result is compared with, is inf or NaN, and its accuracy and every SQNR would be
// garbage printed as numbers. Named instead: the layer and the image.
// `images`: the index in the split of each image of the batch.
// The error of an FP32 value that is not finite: `images` maps the batch's image to its id.
void check_finite(const Graph& g, const NotFinite& f, const char* split,
                  const std::vector<size_t>& images) {
  if (f.tensor < 0) return;
  const int p = g.producer(f.tensor);
  const std::string layer =
      p < 0 ? "the input" : "layer '" + g.nodes[static_cast<size_t>(p)].name + "'";
  throw ModelError(g.name + ": the FP32 output of " + layer + " is " +
                   (f.nan ? "NaN" : "infinite") + " for " + split + " image " +
                   std::to_string(images[f.image]) +
                   " (the weights overflow float); no accuracy can be measured");
}

}  // namespace

void check_model_fits(const Graph& g, const Dataset& data) {
  const ActShape& in = g.tensor_shapes[static_cast<size_t>(g.input)];
  if (in.c != 1 || in.h != data.rows || in.w != data.cols) {
    throw ModelError(g.name + ": input " + in.str() + " does not fit the " +
                     std::to_string(data.rows) + "x" + std::to_string(data.cols) + " images of " +
                     data.name);
  }
  const size_t classes = g.tensor_shapes[static_cast<size_t>(g.output)].elements();
  if (classes != 10) {
    throw ModelError(g.name + ": output has " + std::to_string(classes) + " values, 10 expected");
  }
}

EvalReport evaluate(const Graph& g, const Dataset& train, const Dataset& test,
                    const EvalOptions& options) {
  check_model_fits(g, train);
  check_model_fits(g, test);
  const size_t classes = g.tensor_shapes[static_cast<size_t>(g.output)].elements();
  EvalReport report;
  report.model = g.name;
  report.dataset = test.name;
  const size_t batch = std::max<size_t>(1, options.batch);

  // Calibration: training images (calibration_images), FP32 activations into histograms.
  const std::vector<size_t> calib =
      calibration_images(train.size(), options.calib_images, options.calib_seed);
  const size_t ncal = calib.size();
  report.calib_images = ncal;
  report.calib_seed = options.calib_seed;
  const auto calibration_start = std::chrono::steady_clock::now();
  // The FP32 passes split each batch's images over the GEMM threads (the same values for any count).
  const auto fp32_threads = static_cast<size_t>(std::max(1, options.gemm.threads));
  ActivationStats stats(g, options.granularity == ActivationGranularity::kChannel);
  const size_t px = train.rows * train.cols;
  std::vector<uint8_t> calib_pixels;  // for the bias correction
  if (!options.configs.empty() && ncal > 0) {
    calib_pixels.reserve(ncal * px);
    Activations fp;  // reused by every batch
    for (size_t id : calib) calib_pixels.insert(calib_pixels.end(), train.image(id), train.image(id) + px);
    for (size_t first = 0; first < ncal; first += batch) {
      const size_t count = std::min(batch, ncal - first);
      const std::vector<size_t> ids(calib.begin() + static_cast<std::ptrdiff_t>(first),
                                    calib.begin() + static_cast<std::ptrdiff_t>(first + count));
      std::vector<float> input(count * px);
      for (size_t i = 0; i < count * px; ++i) {
        input[i] = static_cast<float>(calib_pixels[first * px + i]) / 255.0f;
      }
      run_fp32_into(g, input, count, fp, fp32_threads);
      check_finite(g, find_not_finite(fp, count), "training", ids);
      stats.add(fp, fp32_threads);
    }
  }
  bool applied_saved = false;
  for (const EvalConfig& c : options.configs) {
    ConfigResult r;
    r.config = c;
    r.plan = make_plan(g, c.format, c.activations, c.weights, stats, options.granularity,
                       c.lbfp);
    if (options.saved_exponents) {
      applied_saved |= apply_saved_exponents(g, r.plan, *options.saved_exponents,
                                             options.saved_exponents_source);
    }
    if (c.bias_correction && ncal > 0) {
      correct_biases(g, r.plan, calib_pixels, ncal, batch, options.gemm);
    }
    for (const Node& n : g.nodes) {
      LayerError e;
      e.tensor = n.output;
      e.name = n.name;
      e.op = to_string(n.kind);
      if (n.relu) e.op += "+Relu";
      if (n.folded_batch_norm) e.op += " (BN folded)";
      e.shape = g.tensor_shapes[static_cast<size_t>(n.output)];
      e.exponent = r.plan.tensor_exponents[static_cast<size_t>(n.output)];
      e.calibrated = r.plan.tensor_calibrated[static_cast<size_t>(n.output)];
      r.layers.push_back(e);
    }
    report.results.push_back(std::move(r));
  }
  if (options.saved_exponents && !options.configs.empty() && !applied_saved) {
    throw ConfigError(options.saved_exponents_source +
                      ": no configuration of a format this run evaluates");
  }
  report.calibrate_seconds = seconds_since(calibration_start);

  const size_t total = options.test_images ? std::min(options.test_images, test.size()) : test.size();
  report.total = total;
  // The quantized passes: with more than one thread, each batch's images are cut into as many
  // runs of consecutive images as there are threads, and the threads take the (configuration,
  // run) parts in turn, with single-threaded kernels (no image's values depend on the others in
  // its batch). Then each configuration's parts are taken in image order, the configurations side
  // by side: overflows, predictions and the error sums (each still one chain in element order),
  // so every result is the same as one pass over the batch.
  const auto threads = static_cast<size_t>(std::max(1, options.gemm.threads));
  GemmOptions config_gemm = options.gemm;
  if (threads > 1) config_gemm.threads = 1;
  const size_t configs = report.results.size();
  Activations fp;  // the FP32 activations of the batch, reused by every batch
  std::vector<float> fp_output;  // without configurations: the FP32 output of the batch
  Fp32Scratch fp_scratch;
  // Each (configuration, run)'s codes and convolution buffers, reused by every batch.
  std::vector<QuantizedResult> kept(configs * threads);
  std::vector<QuantScratch> scratch(configs * threads);
  std::vector<double> part_seconds(configs * threads);
  for (size_t first = 0; first < total; first += batch) {
    const size_t count = std::min(batch, total - first);
    const auto fp32_start = std::chrono::steady_clock::now();
    std::vector<size_t> ids(count);
    for (size_t i = 0; i < count; ++i) ids[i] = first + i;
    if (configs == 0) {
      // Only the predictions are wanted: the pass keeps no other activation of the batch.
      check_finite(g, run_fp32_output_into(g, to_float_input(test, first, count), count,
                                           fp_output, fp_scratch, fp32_threads),
                   "test", ids);
    } else {
      run_fp32_into(g, to_float_input(test, first, count), count, fp, fp32_threads);
      check_finite(g, find_not_finite(fp, count), "test", ids);
    }
    const auto fp_pred = top1(configs == 0 ? fp_output : fp[static_cast<size_t>(g.output)],
                              classes);
    for (size_t i = 0; i < count; ++i) {
      const bool right = fp_pred[i] == test.labels[first + i];
      report.fp32_right.push_back(right);
      report.fp32_predicted.push_back(fp_pred[i]);
      report.labels.push_back(test.labels[first + i]);
      report.fp32_correct += right;
    }
    report.fp32_seconds += seconds_since(fp32_start);
    const size_t runs = std::min(threads, count);
    auto run_begin = [&](size_t j) { return count * j / runs; };
    auto run_part = [&](size_t part) {
      const size_t index = part / runs, j = part % runs;
      const auto start = std::chrono::steady_clock::now();
      const size_t begin = run_begin(j), n = run_begin(j + 1) - begin;
      run_quantized_into(g, report.results[index].plan, pixel_batch(test, first + begin, n), n,
                         config_gemm, kept[part], scratch[part]);
      part_seconds[part] = seconds_since(start);
    };
    auto merge = [&](size_t index) {
      ConfigResult& r = report.results[index];
      const auto start = std::chrono::steady_clock::now();
      for (size_t j = 0; j < runs; ++j) {
        const QuantizedResult& q = kept[index * runs + j];
        r.seconds += part_seconds[index * runs + j];
        const size_t begin = run_begin(j);
        r.overflows += q.overflows;
        const auto q_pred = top1(q.logits, classes);
        for (size_t i = 0; i < q_pred.size(); ++i) {
          r.right.push_back(q_pred[i] == test.labels[first + begin + i]);
        }
        r.predicted.insert(r.predicted.end(), q_pred.begin(), q_pred.end());
        // The layers with codes: their sums side by side (each in element order).
        std::vector<ErrorTerm> terms;
        for (auto& e : r.layers) {
          if (e.tensor == g.output || !q.values.empty()) continue;
          const auto t = static_cast<size_t>(e.tensor);
          terms.push_back({e.tensor, &q.codes[t], &fp[t], e.signal, e.noise,
                           begin * (fp[t].size() / count)});
        }
        if (!terms.empty()) add_squared_errors(g, r.plan, terms);
        size_t term = 0;
        for (auto& e : r.layers) {
          const auto& x = fp[static_cast<size_t>(e.tensor)];
          if (e.tensor != g.output && q.values.empty()) {
            e.signal = terms[term].signal;
            e.noise = terms[term].noise;
            ++term;
            continue;
          }
          const std::vector<double>& xq =
              e.tensor == g.output ? q.logits : q.values[static_cast<size_t>(e.tensor)];
          const float* xs = x.data() + begin * (x.size() / count);
          for (size_t i = 0; i < xq.size(); ++i) {
            const double v = xs[i];
            e.signal += v * v;
            e.noise += (v - xq[i]) * (v - xq[i]);
          }
        }
      }
      r.seconds += seconds_since(start);
    };
    detail::parallel_tasks(configs * runs, threads, run_part);
    detail::parallel_tasks(configs, threads, merge);
    if (options.progress) options.progress(first + count, total);
  }
  for (auto& r : report.results) r.accuracy = paired_accuracy(r.right, report.fp32_right);
  return report;
}

nlohmann::json plan_to_json(const Graph& g, const ConfigResult& r) {
  nlohmann::json j;
  j["model"] = g.name;
  j["format"] = format_name(r.config.format, r.config.lbfp);
  j["activation_calibration"] = to_string(r.config.activations);
  j["weight_calibration"] = to_string(r.config.weights);
  j["activation_granularity"] = to_string(r.plan.granularity);
  j["activations"] = nlohmann::json::array();
  for (size_t t = 0; t < g.tensor_names.size(); ++t) {
    nlohmann::json a = {{"tensor", g.tensor_names[t]},
                        {"shape", g.tensor_shapes[t].str()},
                        {"exponent", r.plan.tensor_exponents[t]},
                        {"calibrated", static_cast<bool>(r.plan.tensor_calibrated[t])}};
    // "exponent" is then the largest of them.
    if (!r.plan.channel_exponents[t].empty()) a["per_channel"] = r.plan.channel_exponents[t];
    j["activations"].push_back(std::move(a));
  }
  if (r.plan.bias_corrected) j["bias_correction"] = true;
  j["weights"] = nlohmann::json::array();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (r.plan.weight_exponents[i].empty()) continue;
    const Node& n = g.nodes[i];
    nlohmann::json w = {
        {"layer", n.name},
        {"per_output_channel", r.plan.weight_exponents[i]},
        {"input", g.tensor_names[static_cast<size_t>(n.inputs[0])]},
        {"input_exponent", r.plan.tensor_exponents[static_cast<size_t>(n.inputs[0])]},
        {"output", g.tensor_names[static_cast<size_t>(n.output)]},
        {"output_exponent", r.plan.tensor_exponents[static_cast<size_t>(n.output)]}};
    // The corrected biases, so that the quantized network can be rebuilt from this file.
    if (r.plan.bias_corrected) w["bias"] = plan_bias(g, r.plan, i);
    j["weights"].push_back(std::move(w));
  }
  return j;
}

bool apply_saved_exponents(const Graph& g, QuantPlan& plan, const nlohmann::json& saved,
                           const std::string& source) {
  const std::string format = format_name(plan.format, plan.lbfp);
  auto fail = [&](const std::string& what) { throw ConfigError(source + ": " + what); };
  const nlohmann::json* config = nullptr;
  auto has_format = [&](const nlohmann::json& c) {
    return c.is_object() && c.contains("format") && c["format"] == format;
  };
  if (has_format(saved)) config = &saved;
  if (saved.is_array()) {
    for (const auto& c : saved) {
      if (has_format(c)) {
        config = &c;
        break;
      }
    }
  }
  if (config == nullptr) {
    if (!saved.is_array() && !saved.is_object()) fail("not a JSON array of configurations");
    return false;
  }
  std::map<std::string, size_t> tensors;
  for (size_t t = 0; t < g.tensor_names.size(); ++t) tensors[g.tensor_names[t]] = t;
  std::map<std::string, size_t> nodes;
  for (size_t i = 0; i < g.nodes.size(); ++i) nodes[g.nodes[i].name] = i;
  auto exponent = [&](const nlohmann::json& v, const std::string& key) {
    const bool in_range = v.is_number_unsigned()
                              ? v.get<uint64_t>() <= static_cast<uint64_t>(kMaxExponent)
                              : v.is_number_integer() && v.get<int64_t>() >= kMinExponent &&
                                    v.get<int64_t>() <= kMaxExponent;
    if (!in_range) {
      fail(key + " = " + v.dump() + " is not an integer in [-127, 127]");
    }
    return v.get<int>();
  };
  auto passes_on = [&](const Node& n) {
    return n.kind == OpKind::kMaxPool || n.kind == OpKind::kRelu || n.kind == OpKind::kFlatten;
  };
  // The node writing each tensor (-1: the graph input).
  std::vector<long> producer(g.tensor_names.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    producer[static_cast<size_t>(g.nodes[i].output)] = static_cast<long>(i);
  }
  try {
    for (const auto& a : config->value("activations", nlohmann::json::array())) {
      const std::string name = a.at("tensor").get<std::string>();
      const auto it = tensors.find(name);
      if (it == tensors.end()) fail("activations: unknown tensor '" + name + "'");
      plan.tensor_exponents[it->second] = exponent(a.at("exponent"), name + ".exponent");
      plan.tensor_calibrated[it->second] = a.value("calibrated", true);
      if (a.contains("per_channel")) {
        if (plan.channel_exponents[it->second].empty()) {
          fail("activations: " + name + " cannot carry per-channel exponents in this run "
               "(--act-granularity channel, read only by depthwise convolutions)");
        }
        std::vector<int> exps;
        for (const auto& e : a["per_channel"]) exps.push_back(exponent(e, name + ".per_channel"));
        if (exps.size() != plan.channel_exponents[it->second].size()) {
          fail("activations: " + name + " has " + std::to_string(exps.size()) +
               " per_channel exponents for " +
               std::to_string(plan.channel_exponents[it->second].size()) + " channels");
        }
        plan.channel_exponents[it->second] = std::move(exps);
      }
    }
    const nlohmann::json weights = config->value("weights", nlohmann::json::array());
    std::vector<std::pair<size_t, int>> inputs;  // node, its saved input exponent
    for (const auto& w : weights) {
      const std::string name = w.at("layer").get<std::string>();
      const auto it = nodes.find(name);
      if (it == nodes.end()) fail("weights: unknown layer '" + name + "'");
      const Node& n = g.nodes[it->second];
      std::vector<int> exps;
      for (const auto& e : w.at("per_output_channel")) {
        exps.push_back(exponent(e, name + ".per_output_channel"));
      }
      try {
        set_weight_exponents(g, plan, it->second, std::move(exps));
      } catch (const std::invalid_argument& e) {
        fail(std::string("weights: ") + e.what());
      }
      if (w.contains("output_exponent")) {
        plan.tensor_exponents[static_cast<size_t>(n.output)] =
            exponent(w["output_exponent"], name + ".output_exponent");
      }
      if (w.contains("input_exponent")) {
        const int e = exponent(w["input_exponent"], name + ".input_exponent");
        inputs.emplace_back(it->second, e);
        const long p = producer[static_cast<size_t>(n.inputs[0])];
        const bool sets = p < 0 || (!passes_on(g.nodes[static_cast<size_t>(p)]) &&
                                    g.nodes[static_cast<size_t>(p)].kind != OpKind::kConv &&
                                    g.nodes[static_cast<size_t>(p)].kind != OpKind::kGemm);
        if (sets) plan.tensor_exponents[static_cast<size_t>(n.inputs[0])] = e;
      }
      if (w.contains("bias")) {
        std::vector<float> bias;
        for (const auto& b : w["bias"]) {
          // A float: finite, no larger than the largest float (a cast would be undefined).
          const double v = b.get<double>();
          if (!std::isfinite(v) || std::fabs(v) > std::numeric_limits<float>::max()) {
            fail("weights: " + name + ".bias = " + b.dump() + " is not a finite float");
          }
          bias.push_back(static_cast<float>(v));
        }
        if (bias.size() != n.out_channels) {
          fail("weights: " + name + " has " + std::to_string(bias.size()) + " biases for " +
               std::to_string(n.out_channels) + " output channels");
        }
        plan.biases.resize(g.nodes.size());
        plan.biases[it->second] = bias;
        plan.bias_corrected = true;
      }
    }
    for (const Node& n : g.nodes) {
      if (passes_on(n)) {
        plan.tensor_exponents[static_cast<size_t>(n.output)] =
            plan.tensor_exponents[static_cast<size_t>(n.inputs[0])];
      }
    }
    for (const auto& [node, e] : inputs) {
      const Node& n = g.nodes[node];
      const int have = plan.tensor_exponents[static_cast<size_t>(n.inputs[0])];
      if (have != e) {
        fail("weights: " + n.name + ".input_exponent = " + std::to_string(e) + " but its input " +
             g.tensor_names[static_cast<size_t>(n.inputs[0])] + " has exponent " +
             std::to_string(have) + " (the layer writing it)");
      }
    }
  } catch (const nlohmann::json::exception& e) {
    fail(e.what());
  }
  return true;
}

}  // namespace lbfp::eval
