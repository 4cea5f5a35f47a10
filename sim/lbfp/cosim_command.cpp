// `lbfp cosim`: runs the Verilated RTL of rtl/ against the golden reference on a chosen shape and
// seed (the runs of rtl/verilated's lbfp/rtl/cosim.h, as the testbenches run them) and prints
// cases, mismatches and cycles. A mismatch prints the inputs that reproduce it; any mismatch or
// cycle difference exits 1, an RTL model that cannot be built 1, bad arguments exit 2. An array
// configuration that is not prebuilt (--arch, --rows, --format, ...) is verilated on first use.
// --dataflow ws|is runs the weight-stationary array (rtl/systolic_array_ws.sv) instead.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli_options.h"
#include "commands.h"
#include "golden.h"  // kExitBadInput
#include "lbfp/arch/config.h"
#include "lbfp/config_error.h"
#include "lbfp/rtl/cosim.h"
#include "lbfp/rtl/ondemand.h"

namespace lbfp::cli {
namespace {

constexpr int kExitMismatch = 1;

// --arch: the array of an architecture file sets the configuration's rows, columns, pipeline
// depth, dataflow, format and A (flags given as well win).
void apply_arch(const std::string& path, bool dataflow_given, rtl::CosimRequest& r) {
  const arch::ArchSpec spec = arch::load_arch(path, {});
  const arch::AcceleratorConfig& a = spec.accel;
  if (!dataflow_given) r.dataflow = arch::dataflow_short_name(a.array.dataflow);
  if (!r.rows) r.rows = a.array.rows;
  if (!r.cols) r.cols = a.array.cols;
  if (!r.pipe_stages) r.pipe_stages = a.array.pipe_stages;
  if (!r.array_acc_bits) r.array_acc_bits = acc_bits(a.format);
  if (!r.format) r.format = is_lbfp(a.format) ? "lbfp8" : "bfp8";
  const NumberFormat rtl_format = is_lbfp(a.format) ? NumberFormat(LbfpFormat(8, 4, 8, acc_bits(a.format)))
                                                    : NumberFormat(BfpFormat(8, acc_bits(a.format)));
  if (format_name(rtl_format) != format_name(a.format)) {
    throw std::invalid_argument(path + ": the RTL array is LBFP8 (W=8, F=4, P=8) or BFP8 (W=8), "
                                "not " + format_name(a.format));
  }
}

int run_cosim(const std::string& what, rtl::CosimRequest request, const std::string& arch_path,
              bool dataflow_given, std::ostream& out, std::ostream& err) {
  try {
    if (!arch_path.empty()) apply_arch(arch_path, dataflow_given, request);
    const bool ok = rtl::run_cosim(what, request, [&](const rtl::CosimReport& report) {
      out << rtl::report_text(report);
    });
    out.flush();
    return ok ? 0 : kExitMismatch;
  } catch (const std::invalid_argument& e) {  // bad arguments, named in the message
    err << "lbfp cosim " << what << ": " << e.what() << "\n";
    return kExitBadInput;
  } catch (const ConfigError& e) {  // a bad --arch file
    err << "lbfp cosim " << what << ": " << e.what() << "\n";
    return kExitBadInput;
  } catch (const rtl::ModelBuildError& e) {
    err << "lbfp cosim " << what << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

void add_cosim_command(CLI::App& app) {
  auto options = std::make_shared<rtl::CosimRequest>();
  auto arch_path = std::make_shared<std::string>();
  auto dataflow_option = std::make_shared<CLI::Option*>(nullptr);
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
      {"int8-mul", "every INT8 / MXINT8 operand pair through the RTL baseline multiplier"},
      {"fp8-mul", "every FP8 E4M3 and E5M2 operand pair through the RTL FP8 multipliers"},
      {"fmt-mac", "the INT8, FP8 E4M3 and E5M2 MACs: every pair, random, boundary and "
                  "saturating reductions"},
      {"fmt-pe", "the INT8, FP8 E4M3 and E5M2 output-stationary PEs (plain and with the operand "
                 "hold): every pair, random reductions with biases, boundary and saturating ones"},
      {"requant", "the RTL requantizer on every boundary constant and random accumulators"},
      {"array", "a random GEMM through the systolic array, tile by tile, outputs and cycles"},
      {"all", "all of the above with their defaults (every verilated array)"},
  };
  for (const Spec& spec : specs) {
    CLI::App* cmd = cosim->add_subcommand(spec.name, spec.help);
    const std::string name = spec.name;
    if (name == "requant" || name == "array" || name == "fmt-mac" || name == "fmt-pe" ||
        name == "all") {
      cmd->add_option("--seed", options->seed, "random seed (default 1)")
          ->check(unsigned_integer());
    }
    if (name == "requant" || name == "fmt-mac" || name == "fmt-pe" || name == "all") {
      cmd->add_option("--cases", options->cases,
                      "random accumulators (requant) or MAC / PE operations (fmt-mac, fmt-pe); "
                      "default 100000")
          ->check(CLI::Range(0, 100000000));
    }
    if (name == "requant") {
      cmd->add_option("--acc-bits", options->acc_bits, "A: 32 (default) or 16");
    }
    if (name == "array") {
      cmd->add_option("--config", options->config,
                      "prebuilt array: lbfp8 (default, 4x4), bfp8 (4x4), lbfp8-a16 (3x2); the "
                      "options below change it (verilated on first use when not prebuilt)");
      *dataflow_option = cmd->add_option(
          "--dataflow", options->dataflow,
          "os (default, or the --arch file's array.dataflow: the output-stationary array), ws "
          "(weight-stationary) or is (input-stationary: the same array, operands swapped)");
      cmd->add_option("--arch", *arch_path,
                      "architecture YAML: its array's rows, columns, pipeline depth, dataflow, "
                      "format and A");
      cmd->add_option("--rows", options->rows, "R (1..64)")->check(CLI::Range(1, 1024));
      cmd->add_option("--cols", options->cols, "C (1..64)")->check(CLI::Range(1, 1024));
      cmd->add_option("--pipe-stages", options->pipe_stages, "pipeline stages in each PE (0..16)")
          ->check(CLI::Range(0, 1024));
      cmd->add_option("--array-acc-bits", options->array_acc_bits, "A of the array (16..62)")
          ->check(CLI::Range(1, 1024));
      cmd->add_option("--format", options->format, "lbfp8 or bfp8");
      cmd->add_option("--rtl-cache", options->rtl_cache,
                      "folder of the on-demand RTL models (default $XDG_CACHE_HOME/lbfp/rtl or "
                      "~/.cache/lbfp/rtl)");
      cmd->add_option("--trace", options->trace,
                      "write an FST waveform of the RTL (ports, PE registers, requantizers)");
      cmd->add_option("--trace-window", options->trace_window,
                      "trace only cycles FIRST:LAST (either may be left out)");
      cmd->add_option("--m", options->m, "rows of A and C (default 8)")->check(CLI::Range(1, 4096));
      cmd->add_option("--n", options->n, "columns of B and C (default 8)")
          ->check(CLI::Range(1, 4096));
      cmd->add_option("--k", options->k, "reduction length (default 64)")
          ->check(CLI::Range(1, 65536));
      cmd->add_option("--fill", options->fill, "random (default) or saturate");
    }
    cmd->callback([options, arch_path, dataflow_option, name] {
      const bool dataflow_given = *dataflow_option && (*dataflow_option)->count() > 0;
      const int rc = run_cosim(name, *options, *arch_path, dataflow_given, std::cout, std::cerr);
      if (rc != 0) throw CLI::RuntimeError(rc);
    });
  }
}

}  // namespace lbfp::cli
