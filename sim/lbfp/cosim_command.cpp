// `lbfp cosim`: runs the Verilated RTL of rtl/ against the golden reference on a chosen shape and
// seed (the same runs as the tb/rtl testbenches) and prints cases, mismatches and cycles. A
// mismatch prints the inputs that reproduce it; any mismatch or cycle difference exits 1, bad
// arguments exit 2.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "cli_options.h"
#include "commands.h"
#include "golden.h"
#include "harness.h"

namespace lbfp::cli {
namespace {

constexpr int kExitMismatch = 1;

struct CosimOptions {
  std::string config = "lbfp8";
  std::optional<int> rows;
  std::optional<int> cols;
  int m = 8;
  int n = 8;
  int k = 64;
  uint64_t seed = 1;
  std::string fill = "random";
  int acc_bits = 32;
  int cases = 100000;
};

// Prints one report; returns whether it passed.
bool print_report(const rtl::CosimReport& report, std::ostream& out) {
  out << fmt::format("{}: {} {}, {} mismatches", report.name, report.cases,
                     report.tiles > 0 ? "outputs (tile padding included)" : "cases",
                     report.mismatches);
  if (report.tiles > 0) {
    out << fmt::format(", {} saturated; {} tiles, {} cycles measured, {} by the formula ({})",
                       report.saturated_outputs, report.tiles, report.cycles,
                       report.expected_cycles,
                       report.cycles == report.expected_cycles ? "equal" : "DIFFERENT");
  }
  out << (report.ok() ? "  PASS\n" : "  FAIL\n");
  for (const std::string& detail : report.details) out << "  mismatch: " << detail << "\n";
  if (report.mismatches > report.details.size()) {
    out << fmt::format("  ... and {} more\n", report.mismatches - report.details.size());
  }
  return report.ok();
}

rtl::CosimReport run_array(const CosimOptions& o, std::ostream& out) {
  const std::optional<rtl::ArrayKind> kind = rtl::parse_array_kind(o.config);
  std::string names;
  for (const rtl::ArrayConfig& c : rtl::array_configs()) {
    names += fmt::format("{}{} ({}x{}, A={}, {} pipeline stage(s))", names.empty() ? "" : ", ",
                         c.name, c.rows, c.cols, c.acc_bits, c.pipe_stages);
  }
  if (!kind) {
    throw std::invalid_argument(fmt::format("unknown --config '{}'; the verilated arrays are: {}",
                                   o.config, names));
  }
  const rtl::ArrayConfig config = rtl::array_config(*kind);
  if ((o.rows && *o.rows != config.rows) || (o.cols && *o.cols != config.cols)) {
    throw std::invalid_argument(fmt::format(
        "the {} array was verilated as {}x{}; --rows/--cols must match (the verilated arrays "
        "are: {}). Larger GEMMs are tiled: use --m/--n.",
        config.name, config.rows, config.cols, names));
  }
  rtl::GemmFill fill = rtl::GemmFill::kRandom;
  if (o.fill == "saturate") {
    fill = rtl::GemmFill::kSaturate;
  } else if (o.fill != "random") {
    throw std::invalid_argument(fmt::format("unknown --fill '{}' (random or saturate)", o.fill));
  }
  const rtl::Gemm gemm = rtl::make_gemm(*kind, o.m, o.n, o.k, o.seed, fill);
  out << fmt::format("array {} {}x{}, {} pipeline stage(s), A={}: GEMM m={} n={} k={} seed={}"
                     " fill={} relu={} out_exp={}\n",
                     config.name, config.rows, config.cols, config.pipe_stages, config.acc_bits,
                     o.m, o.n, o.k, o.seed, o.fill, gemm.relu, gemm.out_exp);
  return rtl::cosim_gemm(*kind, gemm,
                         fmt::format("cosim_{}_m{}n{}k{}_seed{}", config.name, o.m, o.n, o.k,
                                     o.seed));
}

int run(const std::string& what, const CosimOptions& o, std::ostream& out, std::ostream& err) {
  try {
    bool ok = true;
    auto report = [&](const rtl::CosimReport& r) { ok = print_report(r, out) && ok; };
    if (what == "mul" || what == "all") report(rtl::cosim_lbfp_mul());
    if (what == "bfp-mul" || what == "all") report(rtl::cosim_bfp_mul());
    if (what == "requant") {
      if (o.acc_bits != 32 && o.acc_bits != 16) {
        throw std::invalid_argument(fmt::format(
            "--acc-bits {}: the requantizer is verilated for A = 32 and A = 16", o.acc_bits));
      }
      report(rtl::cosim_requant(o.acc_bits, o.seed, o.cases));
    }
    if (what == "all") {
      report(rtl::cosim_requant(32, o.seed, o.cases));
      report(rtl::cosim_requant(16, o.seed, o.cases));
      for (const rtl::ArrayConfig& c : rtl::array_configs()) {
        CosimOptions array_options = o;
        array_options.config = c.name;
        array_options.rows.reset();
        array_options.cols.reset();
        report(run_array(array_options, out));
      }
    }
    if (what == "array") report(run_array(o, out));
    out.flush();
    return ok ? 0 : kExitMismatch;
  } catch (const std::invalid_argument& e) {  // bad arguments, named in the message
    err << "lbfp cosim " << what << ": " << e.what() << "\n";
    return kExitBadInput;
  }
}

}  // namespace

void add_cosim_command(CLI::App& app) {
  auto options = std::make_shared<CosimOptions>();
  CLI::App* cosim = app.add_subcommand(
      "cosim", "Co-simulate the Verilated RTL against the golden reference");
  cosim->require_subcommand(1);

  struct Spec {
    const char* name;
    const char* help;
  };
  const Spec specs[] = {
      {"mul", "every LBFP8 operand pair through the RTL multiplier + shifter"},
      {"bfp-mul", "every BFP8 operand pair through the RTL baseline multiplier"},
      {"requant", "the RTL requantizer on every boundary constant and random accumulators"},
      {"array", "a random GEMM through the systolic array, tile by tile, outputs and cycles"},
      {"all", "all of the above with their defaults (every verilated array)"},
  };
  for (const Spec& spec : specs) {
    CLI::App* cmd = cosim->add_subcommand(spec.name, spec.help);
    const std::string name = spec.name;
    if (name == "requant" || name == "array" || name == "all") {
      cmd->add_option("--seed", options->seed, "random seed (default 1)")
          ->check(unsigned_integer());
    }
    if (name == "requant" || name == "all") {
      cmd->add_option("--cases", options->cases, "random accumulators (default 100000)")
          ->check(CLI::Range(0, 100000000));
    }
    if (name == "requant") {
      cmd->add_option("--acc-bits", options->acc_bits, "A: 32 (default) or 16");
    }
    if (name == "array") {
      cmd->add_option("--config", options->config,
                      "verilated array: lbfp8 (default, 4x4), bfp8 (4x4), lbfp8-a16 (3x2)");
      cmd->add_option("--rows", options->rows, "R; must be the verilated array's")
          ->check(CLI::Range(1, 1024));
      cmd->add_option("--cols", options->cols, "C; must be the verilated array's")
          ->check(CLI::Range(1, 1024));
      cmd->add_option("--m", options->m, "rows of A and C (default 8)")->check(CLI::Range(1, 4096));
      cmd->add_option("--n", options->n, "columns of B and C (default 8)")
          ->check(CLI::Range(1, 4096));
      cmd->add_option("--k", options->k, "reduction length (default 64)")
          ->check(CLI::Range(1, 65536));
      cmd->add_option("--fill", options->fill, "random (default) or saturate");
    }
    cmd->callback([options, name] {
      const int rc = run(name, *options, std::cout, std::cerr);
      if (rc != 0) throw CLI::RuntimeError(rc);
    });
  }
}

}  // namespace lbfp::cli
