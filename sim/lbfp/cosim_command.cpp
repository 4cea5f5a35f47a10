// `lbfp cosim`: runs the Verilated RTL of rtl/ against the golden reference on a chosen shape and
// seed (the runs of rtl/verilated's lbfp/rtl/cosim.h, as the testbenches run them) and prints
// cases, mismatches and cycles. A mismatch prints the inputs that reproduce it; any mismatch or
// cycle difference exits 1, bad arguments exit 2.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli_options.h"
#include "commands.h"
#include "golden.h"  // kExitBadInput
#include "lbfp/rtl/cosim.h"

namespace lbfp::cli {
namespace {

constexpr int kExitMismatch = 1;

int run_cosim(const std::string& what, const rtl::CosimRequest& request, std::ostream& out,
              std::ostream& err) {
  try {
    const bool ok = rtl::run_cosim(what, request, [&](const rtl::CosimReport& report) {
      out << rtl::report_text(report);
    });
    out.flush();
    return ok ? 0 : kExitMismatch;
  } catch (const std::invalid_argument& e) {  // bad arguments, named in the message
    err << "lbfp cosim " << what << ": " << e.what() << "\n";
    return kExitBadInput;
  }
}

}  // namespace

void add_cosim_command(CLI::App& app) {
  auto options = std::make_shared<rtl::CosimRequest>();
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
      const int rc = run_cosim(name, *options, std::cout, std::cerr);
      if (rc != 0) throw CLI::RuntimeError(rc);
    });
  }
}

}  // namespace lbfp::cli
