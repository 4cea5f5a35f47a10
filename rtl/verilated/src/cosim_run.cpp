#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

#include "lbfp/rtl/cosim.h"

namespace lbfp::rtl {

void CosimReport::add_mismatch(const std::string& detail) {
  ++mismatches;
  if (details.size() < kMaxDetails) details.push_back(detail);
}

std::string report_text(const CosimReport& report) {
  std::string text = report.setup.empty() ? "" : report.setup + "\n";
  text += fmt::format("{}: {} {}, {} mismatches", report.name, report.cases,
                      report.tiles > 0 ? "outputs (tile padding included)" : "cases",
                      report.mismatches);
  if (report.tiles > 0) {
    text += fmt::format(", {} saturated; {} tiles, {} cycles measured, {} by the formula ({})",
                        report.saturated_outputs, report.tiles, report.cycles,
                        report.expected_cycles,
                        report.cycles == report.expected_cycles ? "equal" : "DIFFERENT");
  }
  text += report.ok() ? "  PASS\n" : "  FAIL\n";
  for (const std::string& detail : report.details) text += "  mismatch: " + detail + "\n";
  if (!report.reproduce.empty()) {
    text += "  reproduce the first with a trace around it: " + report.reproduce + "\n";
  }
  if (report.mismatches > report.details.size()) {
    text += fmt::format("  ... and {} more\n", report.mismatches - report.details.size());
  }
  return text;
}

namespace {

// One random GEMM through a weight-stationary array (--dataflow ws or is): a prebuilt
// configuration by name, or any other built on demand.
CosimReport cosim_array_ws(const CosimRequest& r) {
  std::string names;
  for (const WsArrayConfig& c : ws_array_configs()) {
    names += fmt::format("{}{} ({}x{}, A={}, {} pipeline stage(s))", names.empty() ? "" : ", ",
                         c.name, c.rows, c.cols, c.acc_bits, c.pipe_stages);
  }
  const std::optional<WsArrayKind> kind = parse_ws_array_kind(r.config);
  if (!kind) {
    throw std::invalid_argument(fmt::format(
        "unknown --config '{}'; the verilated weight-stationary arrays are: {}", r.config, names));
  }
  WsArrayConfig ws = ws_array_config(*kind);
  if (r.format && *r.format != "lbfp8" && *r.format != "bfp8") {
    throw std::invalid_argument(fmt::format("--format {}: expected lbfp8 or bfp8", *r.format));
  }
  if (r.rows || r.cols || r.pipe_stages || r.array_acc_bits || r.format) {
    ws = ws_array_config_for(r.rows.value_or(ws.rows), r.cols.value_or(ws.cols),
                             r.pipe_stages.value_or(ws.pipe_stages),
                             r.array_acc_bits.value_or(ws.acc_bits),
                             r.format ? *r.format == "bfp8" : ws.bfp);
  }
  GemmFill fill = GemmFill::kRandom;
  if (r.fill == "saturate") {
    fill = GemmFill::kSaturate;
  } else if (r.fill != "random") {
    throw std::invalid_argument(fmt::format("unknown --fill '{}' (random or saturate)", r.fill));
  }
  DriverOptions options;
  options.trace_name =
      fmt::format("cosim_{}_{}_m{}n{}k{}_seed{}", r.dataflow, ws.name, r.m, r.n, r.k, r.seed);
  options.trace = r.trace;
  if (!r.trace_window.empty()) {
    options.trace_window = parse_trace_window(r.trace_window, "--trace-window");
  }
  options.rtl_cache = r.rtl_cache;
  const Gemm gemm = make_gemm(as_array_config(ws), r.m, r.n, r.k, r.seed, fill);
  CosimReport report =
      cosim_gemm_ws(ws, r.dataflow == "is", gemm, options.trace_name, options);
  report.setup = fmt::format(
      "array {} {}x{} {}, {} pipeline stage(s), A={}{}: GEMM m={} n={} k={} seed={} fill={} "
      "relu={} out_exp={}",
      ws.name, ws.rows, ws.cols,
      r.dataflow == "is" ? "input-stationary" : "weight-stationary", ws.pipe_stages,
      ws.acc_bits, ws.kind == WsArrayKind::kOnDemand ? " (built on demand)" : "", r.m, r.n, r.k,
      r.seed, r.fill, gemm.relu, gemm.out_exp);
  if (report.first_mismatch_cycle >= 0) {
    const int64_t cycle = report.first_mismatch_cycle;
    report.reproduce = fmt::format(
        "lbfp cosim array --dataflow {} --rows {} --cols {} --pipe-stages {} --array-acc-bits {} "
        "--format {} --m {} --n {} --k {} --seed {} --fill {}{} --trace mismatch.fst "
        "--trace-window {}:{}",
        r.dataflow, ws.rows, ws.cols, ws.pipe_stages, ws.acc_bits, ws.bfp ? "bfp8" : "lbfp8", r.m,
        r.n, r.k, r.seed, r.fill, r.rtl_cache.empty() ? "" : " --rtl-cache " + r.rtl_cache,
        std::max<int64_t>(0, cycle - 2 * (ws.rows + ws.cols) - 20), cycle + 4);
  }
  return report;
}

// One random GEMM through an array, as `lbfp cosim array` asks for it: a test configuration, or
// any other built on demand.
CosimReport cosim_array(const CosimRequest& r) {
  if (r.dataflow == "ws" || r.dataflow == "is") return cosim_array_ws(r);
  if (r.dataflow != "os") {
    throw std::invalid_argument(
        fmt::format("--dataflow {}: expected os, ws or is", r.dataflow));
  }
  std::string names;
  for (const ArrayConfig& c : array_configs()) {
    names += fmt::format("{}{} ({}x{}, A={}, {} pipeline stage(s))", names.empty() ? "" : ", ",
                         c.name, c.rows, c.cols, c.acc_bits, c.pipe_stages);
  }
  const std::optional<ArrayKind> kind = parse_array_kind(r.config);
  if (!kind) {
    throw std::invalid_argument(
        fmt::format("unknown --config '{}'; the verilated arrays are: {}", r.config, names));
  }
  ArrayConfig config = array_config(*kind);
  if (r.format && *r.format != "lbfp8" && *r.format != "bfp8") {
    throw std::invalid_argument(fmt::format("--format {}: expected lbfp8 or bfp8", *r.format));
  }
  if (r.rows || r.cols || r.pipe_stages || r.array_acc_bits || r.format) {
    config = array_config_for(r.rows.value_or(config.rows), r.cols.value_or(config.cols),
                              r.pipe_stages.value_or(config.pipe_stages),
                              r.array_acc_bits.value_or(config.acc_bits),
                              r.format ? *r.format == "bfp8" : config.bfp, !r.trace.empty());
  }
  GemmFill fill = GemmFill::kRandom;
  if (r.fill == "saturate") {
    fill = GemmFill::kSaturate;
  } else if (r.fill != "random") {
    throw std::invalid_argument(fmt::format("unknown --fill '{}' (random or saturate)", r.fill));
  }
  DriverOptions options;
  options.trace_name =
      fmt::format("cosim_{}_m{}n{}k{}_seed{}", config.name, r.m, r.n, r.k, r.seed);
  options.trace = r.trace;
  if (!r.trace_window.empty()) {
    options.trace_window = parse_trace_window(r.trace_window, "--trace-window");
  }
  options.rtl_cache = r.rtl_cache;
  const Gemm gemm = make_gemm(config, r.m, r.n, r.k, r.seed, fill);
  CosimReport report = cosim_gemm(config, gemm, options.trace_name, options);
  report.setup = fmt::format(
      "array {} {}x{}, {} pipeline stage(s), A={}{}: GEMM m={} n={} k={} seed={} fill={} relu={} "
      "out_exp={}",
      config.name, config.rows, config.cols, config.pipe_stages, config.acc_bits,
      config.kind == ArrayKind::kOnDemand ? " (built on demand)" : "", r.m, r.n, r.k, r.seed,
      r.fill, gemm.relu, gemm.out_exp);
  if (report.first_mismatch_cycle >= 0) {
    const int64_t cycle = report.first_mismatch_cycle;
    report.reproduce = fmt::format(
        "lbfp cosim array --rows {} --cols {} --pipe-stages {} --array-acc-bits {} --format {} "
        "--m {} --n {} --k {} --seed {} --fill {}{} --trace mismatch.fst --trace-window {}:{}",
        config.rows, config.cols, config.pipe_stages, config.acc_bits, config.bfp ? "bfp8" : "lbfp8",
        r.m, r.n, r.k, r.seed, r.fill,
        r.rtl_cache.empty() ? "" : " --rtl-cache " + r.rtl_cache,
        std::max<int64_t>(0, cycle - 2 * (config.rows + config.cols) - 20), cycle + 4);
  }
  return report;
}

}  // namespace

bool run_cosim(const std::string& what, const CosimRequest& request,
               const std::function<void(const CosimReport&)>& on_report) {
  bool ok = true;
  auto report = [&](const CosimReport& r) {
    ok = r.ok() && ok;
    on_report(r);
  };
  if (what == "mul" || what == "all") report(cosim_lbfp_mul());
  if (what == "bfp-mul" || what == "all") report(cosim_bfp_mul());
  if (what == "int8-mul" || what == "all") report(cosim_int8_mul());
  if (what == "fp8-mul" || what == "all") report(cosim_fp8_mul());
  if (what == "fmt-mac" || what == "all") report(cosim_fmt_mac(request.seed, request.cases));
  if (what == "fmt-pe" || what == "all") report(cosim_fmt_pe(request.seed, request.cases));
  if (what == "requant") {
    if (request.acc_bits != 32 && request.acc_bits != 16) {
      throw std::invalid_argument(fmt::format(
          "--acc-bits {}: the requantizer is verilated for A = 32 and A = 16", request.acc_bits));
    }
    report(cosim_requant(request.acc_bits, request.seed, request.cases));
  }
  if (what == "all") {
    report(cosim_requant(32, request.seed, request.cases));
    report(cosim_requant(16, request.seed, request.cases));
    for (const ArrayConfig& c : array_configs()) {
      CosimRequest array_request = request;
      array_request.config = c.name;
      array_request.dataflow = "os";
      array_request.rows.reset();
      array_request.cols.reset();
      report(cosim_array(array_request));
    }
    for (const char* dataflow : {"ws", "is"}) {
      for (const WsArrayConfig& c : ws_array_configs()) {
        CosimRequest array_request = request;
        array_request.config = c.name;
        array_request.dataflow = dataflow;
        array_request.rows.reset();
        array_request.cols.reset();
        array_request.pipe_stages.reset();
        array_request.array_acc_bits.reset();
        array_request.format.reset();
        report(cosim_array(array_request));
      }
    }
  }
  if (what == "array") report(cosim_array(request));
  return ok;
}

}  // namespace lbfp::rtl
