#include "lbfp/eval/study.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <cmath>
#include <stdexcept>

#include "lbfp/chart/chart.h"
#include "lbfp/chart/page.h"
#include "lbfp/config_error.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/scaled_inference.h"

namespace lbfp::eval {
namespace {

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
  if (name == "mse") return CalibrationMethod::kMse;
  if (name == "percentile") return CalibrationMethod::kPercentile;  // 99.99 % of |x|
  throw std::invalid_argument("unknown calibration '" + name +
                              "' (kl, kl-linear, max, mse or percentile)");
}

std::string pct(double v) { return fmt::format("{:6.2f} %", 100.0 * v); }

// "diff [95 % CI]  b/c  p" of a paired comparison, against FP32 or between two calibrations.
std::string paired_text(const PairedAccuracy& a) {
  const double d = 100 * a.difference(), h = 100 * a.ci_half_width();
  return fmt::format("{:>+12.2f} [{:+.2f}, {:+.2f}]  {:>9}  {:>7.3g}", d, d - h, d + h,
                     fmt::format("{}/{}", a.only_quantized_right, a.only_fp32_right),
                     a.mcnemar_p());
}

// The section 13 formats (scaled_inference.h): MX runs once (its scales come from the values);
// FP8 and INT8 once per activation calibration they know (max, percentile), the others skipped
// unless none is left. No bias correction; weights by max.
void add_scaled_configs(Arithmetic nf, const std::vector<std::string>& calibs,
                        CalibrationMethod wmethod, const std::string& bias_correction,
                        std::vector<EvalConfig>& configs) {
  const std::string name = to_string(nf);
  if (bias_correction == "on") {
    throw ConfigError("--bias-correction on: applies to bfp8 and lbfp8, not " + name);
  }
  if (wmethod != CalibrationMethod::kMax) {
    throw ConfigError("--weight-calib " + to_string(wmethod) + ": " + name +
                      " calibrates weights by max");
  }
  if (scaled_format(nf).is_mx()) {
    configs.push_back({nf, CalibrationMethod::kMax, wmethod, false});
    return;
  }
  size_t added = 0;
  for (const auto& c : calibs) {
    const CalibrationMethod m = parse_method(c);
    if (m != CalibrationMethod::kMax && m != CalibrationMethod::kPercentile) continue;
    configs.push_back({nf, m, wmethod, false});
    ++added;
  }
  if (added == 0) {
    std::string list;
    for (const auto& c : calibs) list += (list.empty() ? "" : ",") + c;
    throw ConfigError("--calib " + list + ": " + name +
                      " calibrates activations by max or percentile (--calib max,percentile)");
  }
}

}  // namespace

std::vector<EvalConfig> study_configs(const StudyOptions& o) {
  std::vector<EvalConfig> configs;
  const std::vector<std::string> formats =
      o.formats == "all" ? std::vector<std::string>{"fp32", "bfp8", "lbfp8"}
                         : split_list(o.formats);
  const std::vector<std::string> calibs =
      o.calib == "all" ? std::vector<std::string>{"kl", "max"} : split_list(o.calib);
  const CalibrationMethod wmethod = parse_method(o.weight_calib);
  std::vector<bool> corrections = {o.bias_correction == "on"};
  if (o.bias_correction == "both") corrections = {false, true};
  for (const auto& c : calibs) parse_method(c);  // every name checked, whichever format runs
  for (const auto& f : formats) {
    const NamedFormat named = parse_named_format(f, o.frac_bits);
    const Arithmetic nf = named.format;
    if (nf == Arithmetic::kFp32) continue;
    if (is_scaled(nf)) {
      add_scaled_configs(nf, calibs, wmethod, o.bias_correction, configs);
      continue;
    }
    for (const auto& c : calibs) {
      for (bool bc : corrections) {
        configs.push_back({nf, parse_method(c), wmethod, bc, named.lbfp});
      }
    }
  }
  if (o.frac_bits &&
      std::none_of(formats.begin(), formats.end(), [](const std::string& f) {
        return f.rfind("lbfp", 0) == 0 && f.find('f', 4) == std::string::npos;
      })) {
    throw ConfigError("--frac-bits " + std::to_string(*o.frac_bits) +
                      ": applies to the LBFP names lbfpW only (--format " + o.formats + ")");
  }
  if (!configs.empty() && o.calib_images == 0) {
    throw ConfigError("--calib-images 0: a quantized format needs at least one calibration image");
  }
  return configs;
}

Study run_study(const StudyOptions& o, const std::vector<EvalConfig>& configs, std::ostream& out) {
  // The saved exponents file is read before anything is printed or loaded.
  std::optional<nlohmann::json> saved_exponents;
  if (!o.exponents.empty()) {
    std::ifstream in(o.exponents, std::ios::binary);
    if (!in) throw ConfigError("--exponents " + o.exponents + ": cannot be read");
    try {
      saved_exponents = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw ConfigError("--exponents " + o.exponents + ": " + e.what());
    }
  }
  const ActivationGranularity granularity = parse_activation_granularity(o.act_granularity);
  Study study;
  const auto load_start = std::chrono::steady_clock::now();
  study.graph = load_onnx(o.model);
  const Graph& graph = study.graph;
  const Dataset test = load_dataset(o.data, Split::kTest);
  const Dataset train = configs.empty() ? Dataset{} : load_dataset(o.data, Split::kTrain);
  if (test.size() == 0) {
    throw ConfigError(dataset_dir(o.data) + ": the test split has no images");
  }
  check_model_fits(graph, test);
  if (!configs.empty() && train.size() == 0) {
    throw ConfigError(dataset_dir(o.data) + ": the training split has no images to "
                      "calibrate on");
  }
  // Every activation of a batch is held at once (FP32 values, codes, dequantized doubles):
  // refuse a batch that cannot fit before allocating it.
  long double values_per_image = 0;
  for (const ActShape& s : graph.tensor_shapes) {
    values_per_image += static_cast<long double>(s.elements());
  }
  const long double batch_bytes = values_per_image * static_cast<long double>(o.batch) * 16;
  if (batch_bytes > static_cast<long double>(o.memory_budget_bytes)) {
    throw ConfigError(fmt::format(
        "{}: --batch {} needs about {:.1f} GiB for the activations ({:.0f} values per image), more "
        "than half of this machine's memory; use a smaller --batch",
        o.model, o.batch, static_cast<double>(batch_bytes) / (1 << 30),
        static_cast<double>(values_per_image)));
  }

  study.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  size_t convs = 0;
  for (const auto& n : graph.nodes) convs += n.kind == OpKind::kConv;
  out << fmt::format("model {}: {} layers ({} convolutions), input {}\n", o.model,
                     graph.nodes.size(), convs,
                     graph.tensor_shapes[static_cast<size_t>(graph.input)].str());
  out << fmt::format("data {}: {} test images; calibration on {} training images{}\n",
                     dataset_dir(o.data), test.size(),
                     configs.empty() ? size_t{0} : std::min(o.calib_images, train.size()),
                     configs.empty() ? ""
                     : o.calib_seed  ? fmt::format(", sampled with seed {}", *o.calib_seed)
                                     : ", evenly spaced");

  EvalOptions options;
  options.configs = configs;
  options.calib_images = o.calib_images;
  options.calib_seed = o.calib_seed;
  options.granularity = granularity;
  options.test_images = o.test_images;
  options.batch = o.batch;
  options.gemm.threads = o.threads;
  options.progress = o.progress;
  if (saved_exponents) {
    options.saved_exponents = std::move(saved_exponents);
    options.saved_exponents_source = o.exponents;
  }
  const Dataset& calib_set = configs.empty() ? test : train;
  study.report = evaluate(graph, calib_set, test, options);
  return study;
}

namespace {

// The section 13 formats: FP32 scales (FP8, INT8) or the weights' E8M0 block exponents (MX).
void print_scales(const Graph& graph, const ConfigResult& r, std::ostream& out) {
  const bool mx = scaled_format(r.config.format).is_mx();
  out << fmt::format("\nscales, {} ({}):\n", r.config.label(),
                     mx ? "E8M0 per block of 32, activations' chosen from the values as they are "
                          "read; weights' E min..max"
                        : "FP32 per tensor; weights' per tensor or per output channel, min..max");
  out << fmt::format("  {:<28} {:>13} {:>27}  {}\n", "layer", mx ? "" : "scale",
                     mx ? "weight E" : "weight scale", "op");
  if (!mx) {
    out << fmt::format("  {:<28} {:>13.6g}\n", "(graph input)",
                       r.plan.tensor_scales[static_cast<size_t>(graph.input)]);
  }
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const auto& l = r.layers[i];
    std::string wtext;
    std::string stext;
    if (mx) {
      const auto& w = r.plan.weight_exponents[i];
      if (!w.empty()) {
        wtext = fmt::format("{}..{}", *std::min_element(w.begin(), w.end()),
                            *std::max_element(w.begin(), w.end()));
      }
    } else {
      stext = fmt::format("{:.6g}", r.plan.tensor_scales[static_cast<size_t>(l.tensor)]);
      const auto& w = r.plan.weight_scales[i];
      if (!w.empty()) {
        wtext = fmt::format("{:.6g}..{:.6g}", *std::min_element(w.begin(), w.end()),
                            *std::max_element(w.begin(), w.end()));
      }
    }
    out << fmt::format("  {:<28} {:>13} {:>27}  {}{}\n", l.name, stext, wtext, l.op,
                       mx || l.calibrated ? "" : " (input's scale)");
  }
}

}  // namespace

void print_exponents(const Study& study, std::ostream& out) {
  const Graph& graph = study.graph;
  for (const auto& r : study.report.results) {
    if (is_scaled(r.config.format)) {
      print_scales(graph, r, out);
      continue;
    }
    out << fmt::format("\nexponents, {} (activations per tensor, or per channel min..max "
                       "where every consumer is a depthwise conv; weights per output "
                       "channel, min..max):\n",
                       r.config.label());
    out << fmt::format("  {:<28} {:>5} {:>9}  {}\n", "layer", "E", "weight E", "op");
    out << fmt::format("  {:<28} {:>5}\n", "(graph input)",
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
      out << fmt::format("  {:<28} {:>5} {:>9}  {}{}\n", l.name, etext, wtext, l.op,
                         l.calibrated ? "" : " (input's exponent)");
      if (!ce.empty()) {
        std::string list;
        for (size_t c = 0; c < ce.size(); ++c) list += (c ? " " : "") + std::to_string(ce[c]);
        out << "      per channel: " << list << "\n";
      }
    }
  }
}

std::string exponents_json(const Study& study) {
  nlohmann::json saved = nlohmann::json::array();
  for (const auto& r : study.report.results) {
    // The section 13 formats have scales, not exponents, and are not read back.
    if (!is_scaled(r.config.format)) saved.push_back(plan_to_json(study.graph, r));
  }
  return saved.dump(1) + "\n";
}

std::string predictions_csv(const Study& study) {
  const EvalReport& report = study.report;
  std::string csv = "image,label,fp32";
  for (const auto& r : report.results) csv += "," + r.config.label();
  csv += "\n";
  for (size_t i = 0; i < report.labels.size(); ++i) {
    csv += fmt::format("{},{},{}", i, report.labels[i], report.fp32_predicted[i]);
    for (const auto& r : report.results) csv += fmt::format(",{}", r.predicted[i]);
    csv += "\n";
  }
  return csv;
}

void print_accuracy(const Study& study, std::ostream& out) {
  const Graph& graph = study.graph;
  const EvalReport& report = study.report;
  out << fmt::format("\ntop-1 on {} test images (difference to FP32: paired, 95 % Wald "
                     "interval for paired proportions; b/c = images only the quantized / "
                     "only FP32 gets right; p = exact McNemar)\n",
                     report.total);
  out << fmt::format("  {:<18} {:>8}  {:>28}  {:>9}  {:>7}  {}\n", "format", "top-1",
                     "diff to fp32 [95 % CI] (pp)", "b/c", "p", "acc. overflows");
  out << fmt::format("  {:<18} {:>8}\n", "fp32", pct(report.fp32_top1()));
  for (const auto& r : report.results) {
    out << fmt::format("  {:<18} {:>8}  {}  {}\n", r.config.label(), pct(r.accuracy.top1()),
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
      if (a.format != b.format || a.lbfp != b.lbfp || a.weights != b.weights ||
          other_calibration == other_correction) {
        continue;
      }
      if (!pairs_header) {
        out << "\nbetween configurations of one format (paired as above; b/c = images only "
               "the first / only the second gets right)\n";
        out << fmt::format("  {:<37}  {:>28}  {:>9}  {:>7}\n", "first - second",
                           "difference [95 % CI] (pp)", "b/c", "p");
        pairs_header = true;
      }
      out << fmt::format("  {:<37}  {}\n", a.label() + " - " + b.label(),
                         paired_text(paired_accuracy(report.results[i].right,
                                                     report.results[j].right)));
    }
  }

  // Per-layer error.
  if (!report.results.empty()) {
    out << "\nper-layer SQNR of each layer's output against FP32 (dB), test images:\n";
    std::string header = fmt::format("  {:<28} {:<24} {:>10}", "layer", "op", "shape");
    for (const auto& r : report.results) header += fmt::format(" {:>15}", r.config.label());
    out << header << "\n";
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const auto& l0 = report.results[0].layers[i];
      std::string row = fmt::format("  {:<28} {:<24} {:>10}", l0.name, l0.op, l0.shape.str());
      for (const auto& r : report.results) {
        const double s = r.layers[i].sqnr_db();
        row += std::isinf(s) ? fmt::format(" {:>15}", "exact") : fmt::format(" {:>15.1f}", s);
      }
      out << row << "\n";
    }
  }
}

namespace {

// The section 13 formats show their FP32 scales (FP8, INT8) or "per block" (MX activations).
std::string scale_text(const ConfigResult& r, int tensor) {
  if (scaled_format(r.config.format).is_mx()) return "per block";
  return fmt::format("s {:.6g}", r.plan.tensor_scales[static_cast<size_t>(tensor)]);
}

std::string exponent_text(const ConfigResult& r, size_t i) {
  const auto& l = r.layers[i];
  if (is_scaled(r.config.format)) return scale_text(r, l.tensor);
  const auto& ce = r.plan.channel_exponents[static_cast<size_t>(l.tensor)];
  return ce.empty() ? std::to_string(l.exponent)
                    : fmt::format("{}..{}", *std::min_element(ce.begin(), ce.end()),
                                  *std::max_element(ce.begin(), ce.end()));
}

std::string weight_text(const ConfigResult& r, size_t i) {
  if (is_scaled(r.config.format) && !scaled_format(r.config.format).is_mx()) {
    const auto& ws = r.plan.weight_scales[i];
    return ws.empty() ? std::string()
                      : fmt::format("s {:.6g}..{:.6g}", *std::min_element(ws.begin(), ws.end()),
                                    *std::max_element(ws.begin(), ws.end()));
  }
  const auto& w = r.plan.weight_exponents[i];
  return w.empty() ? std::string()
                   : fmt::format("{}..{}", *std::min_element(w.begin(), w.end()),
                                 *std::max_element(w.begin(), w.end()));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> report_charts(const Study& study) {
  const EvalReport& report = study.report;
  std::vector<std::pair<std::string, std::string>> charts;
  chart::LineChart top1;
  top1.title = fmt::format("top-1 difference to FP32 on {} test images, paired 95 % interval",
                           report.total);
  top1.y = {"difference to FP32 (percentage points)", ""};
  top1.reference = 0.0;
  chart::Line diff{"difference to FP32", {}, "", false, {}, {}};
  for (const auto& r : report.results) {
    top1.categories.push_back(r.config.label());
    const double d = 100.0 * r.accuracy.difference();
    const double h = 100.0 * r.accuracy.ci_half_width();
    diff.values.push_back(d);
    diff.low.push_back(d - h);
    diff.high.push_back(d + h);
  }
  top1.lines.push_back(diff);
  charts.emplace_back("top1.svg", chart::line_svg(top1));
  if (!report.results.empty()) {
    chart::LineChart sqnr;
    sqnr.title = "per-layer SQNR of each layer's output against FP32 (exact: not drawn)";
    sqnr.y = {"SQNR", "dB"};
    for (const auto& l : report.results[0].layers) sqnr.categories.push_back(l.name);
    for (const auto& r : report.results) {
      chart::Line line{r.config.label(), {}, "", true, {}, {}};
      for (const auto& l : r.layers) {
        const double v = l.sqnr_db();
        line.values.push_back(std::isfinite(v) ? v : std::nan(""));
      }
      sqnr.lines.push_back(line);
    }
    charts.emplace_back("sqnr.svg", chart::line_svg(sqnr));
  }
  return charts;
}

std::string report_html(const Study& study, const StudyOptions& o, const std::string& command) {
  const Graph& graph = study.graph;
  const EvalReport& report = study.report;
  chart::Page page(
      "lbfp eval: " + o.model, command.empty() ? "(not recorded)" : command,
      {{"model", fmt::format("{}: {} layers, input {}", o.model, graph.nodes.size(),
                             graph.tensor_shapes[static_cast<size_t>(graph.input)].str())},
       {"data", o.data},
       {"test images", std::to_string(report.total)},
       {"calibration", fmt::format("activations {}, weights {}, {} granularity, bias correction {}, "
                                   "{} images{}",
                                   o.calib, o.weight_calib, o.act_granularity, o.bias_correction,
                                   o.calib_images,
                                   o.calib_seed ? fmt::format(" sampled with seed {}", *o.calib_seed)
                                                : std::string(", evenly spaced"))},
       {"formats", o.formats}});
  const auto charts = report_charts(study);
  page.section("Top-1 (top1.svg)",
               "Does quantization cost accuracy? Each configuration's top-1 and its paired "
               "difference to FP32 with the 95 % Wald interval; b/c are the images only the "
               "quantized / only FP32 gets right, p the exact McNemar test.");
  chart::Table top;
  top.header = {"format", "top-1 (%)", "difference to FP32 (pp)", "95 % interval (pp)", "b", "c",
                "p", "accumulator overflows"};
  top.rows.push_back({"fp32", fmt::format("{:.2f}", 100.0 * report.fp32_top1()), "", "", "", "",
                      "", ""});
  for (const auto& r : report.results) {
    const auto& a = r.accuracy;
    const double d = 100.0 * a.difference();
    const double h = 100.0 * a.ci_half_width();
    top.rows.push_back({r.config.label(), fmt::format("{:.2f}", 100.0 * a.top1()),
                        fmt::format("{:+.2f}", d), fmt::format("[{:+.2f}, {:+.2f}]", d - h, d + h),
                        std::to_string(a.only_quantized_right), std::to_string(a.only_fp32_right),
                        fmt::format("{:.3g}", a.mcnemar_p()), std::to_string(r.overflows)});
  }
  page.table(top);
  for (const auto& [name, svg] : charts) {
    if (name == "top1.svg") page.svg(svg);
  }
  if (!report.results.empty()) {
    page.section("Per-layer SQNR (sqnr.svg)",
                 "Where does the quantization error come from: the signal-to-quantization-noise "
                 "ratio of each layer's output against FP32, higher is better.");
    for (const auto& [name, svg] : charts) {
      if (name == "sqnr.svg") page.svg(svg);
    }
    chart::Table sq;
    sq.header = {"layer", "op", "shape"};
    for (const auto& r : report.results) sq.header.push_back(r.config.label() + " (dB)");
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const auto& l0 = report.results[0].layers[i];
      std::vector<std::string> row{l0.name, l0.op, l0.shape.str()};
      for (const auto& r : report.results) {
        const double v = r.layers[i].sqnr_db();
        row.push_back(std::isinf(v) ? "exact" : fmt::format("{:.1f}", v));
      }
      sq.rows.push_back(row);
    }
    page.table(sq);
    page.section("Chosen exponents",
                 "Which power-of-two scale did calibration choose per layer: the activation "
                 "exponent E (per channel min..max where used) and the weights' per-channel range.");
    chart::Table ex;
    ex.header = {"layer", "op"};
    for (const auto& r : report.results) {
      ex.header.push_back(r.config.label() + " E");
      ex.header.push_back(r.config.label() + " weight E");
    }
    std::vector<std::string> input_row{"(graph input)", ""};
    for (const auto& r : report.results) {
      input_row.push_back(
          is_scaled(r.config.format)
              ? scale_text(r, graph.input)
              : std::to_string(r.plan.tensor_exponents[static_cast<size_t>(graph.input)]));
      input_row.push_back("");
    }
    ex.rows.push_back(input_row);
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const auto& l0 = report.results[0].layers[i];
      std::vector<std::string> row{l0.name, l0.op + (l0.calibrated ? "" : " (input's exponent)")};
      for (const auto& r : report.results) {
        row.push_back(exponent_text(r, i));
        row.push_back(weight_text(r, i));
      }
      ex.rows.push_back(row);
    }
    page.table(ex);
  }
  return page.html();
}

void print_times(const Study& study, std::ostream& out) {
  const EvalReport& report = study.report;
  std::string parts;
  for (const auto& r : report.results) {
    parts += fmt::format(", {} {:.2f} s", r.config.label(), r.seconds);
  }
  out << fmt::format("time (wall): load {:.2f} s, calibrate {:.2f} s, fp32 {:.2f} s{}\n",
                     study.load_seconds, report.calibrate_seconds, report.fp32_seconds, parts);
}

}  // namespace lbfp::eval
