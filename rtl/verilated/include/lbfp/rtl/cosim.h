// Co-simulation of the Verilated RTL (rtl/) against the golden reference (model/lbfp). Each
// function drives one Verilated design, computes the expected result with the golden C++ API and
// returns a report; `lbfp cosim` (run_cosim) and the GoogleTest testbenches (tb/rtl) are two front
// ends of the same runs. Waveforms: see array_driver.h (DriverOptions, LBFP_RTL_FST).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lbfp/format.h"
#include "lbfp/rtl/array_driver.h"
#include "lbfp/rtl/ws_array_driver.h"

namespace lbfp::rtl {

struct CosimReport {
  std::string name;
  // Array runs: the GEMM that was run (shape, seed, exponents), printed before the result.
  std::string setup;
  uint64_t cases = 0;
  uint64_t mismatches = 0;
  // The first few mismatches, each naming the inputs that reproduce it.
  std::vector<std::string> details;
  // Array runs: measured cycles (first operand in to last result out, per tile, summed over the
  // tiles) and the closed-form lbfp::arch::array_tile_cycles for the same tiles.
  int64_t cycles = 0;
  int64_t expected_cycles = 0;
  uint64_t tiles = 0;
  uint64_t saturated_outputs = 0;  // outputs whose golden dot product saturated

  int64_t first_mismatch_cycle = -1;  // the driver's cycle of the first mismatching output
  // The first mismatch: the `lbfp cosim` command that reproduces it with a trace around it.
  std::string reproduce;

  bool ok() const { return mismatches == 0 && cycles == expected_cycles; }
  void add_mismatch(const std::string& detail);
};

inline constexpr size_t kMaxDetails = 10;

// The report as `lbfp cosim` prints it: the setup line, cases, mismatches, cycles, PASS or FAIL,
// then the first mismatches.
std::string report_text(const CosimReport& report);

// ---- the units (rtl/verilated/hdl/tb_units.sv) --------------------------------------------------

// Every one of the 65,536 LBFP8 code pairs through lbfp_mul + lbfp_shifter (lbfp_product):
// sign, LUT value, shift and signed product against lbfp::multiply.
CosimReport cosim_lbfp_mul();
// Every one of the 65,536 BFP8 code pairs through bfp_mul against lbfp::multiply; the unused code
// -128 (outside the BFP range, rejected by the golden model) is checked against the plain
// integer product.
CosimReport cosim_bfp_mul();
// Every one of the 65,536 INT8 code pairs, -128 included, through bfp_mul (the INT8 and MXINT8
// multiplier) against the ScaledFormat product of INT8 and of MXINT8.
CosimReport cosim_int8_mul();
// Every one of the 65,536 FP8 code pairs through fp8_mul (E4M3 and E5M2, also the MXFP8
// elements) against the ScaledFormat product; a pair the golden model rejects (NaN, infinity)
// must raise invalid_o.
CosimReport cosim_fp8_mul();
// The MACs of the section 13 formats (bfp_mac as the INT8 / MXINT8 MAC, A = 32; fp8_mac for
// E4M3, A = 42, and E5M2, A = 70) against the golden MAC, lbfp::multiply and WideAccumulator's
// saturating step in k order, after every clock cycle: accumulator, sticky overflow flag and
// (FP8) the sticky NaN / infinity flag. All three play one stream: every code pair as a one-term
// reduction, `random_ops` operations of random reductions with idle cycles and rare NaN codes,
// and for each format reductions that land exactly on the accumulator's limits, step one LSB
// past them and back, and run far past them.
CosimReport cosim_fmt_mac(uint64_t seed, int random_ops);
// The output-stationary PEs of the same formats (pe.sv with UseBfp = 1 as the INT8 / MXINT8 PE,
// A = 32; pe_fp8.sv for E4M3, A = 42, and E5M2, A = 70), each as the textbook PE and with the
// operand hold, on cosim_fmt_mac's stream with last_i marked and, for one random reduction in
// four, a random start value over the whole accumulator range (bias_i, sometimes with
// init_ovf_i): after every clock cycle, the forwarded operands and flags, and the accumulator,
// sticky overflow flag, (FP8) NaN / infinity flag and done_o against the golden PE (the golden
// MAC started from the bias), two cycles behind the operands.
CosimReport cosim_fmt_pe(uint64_t seed, int random_ops);
// lbfp_requant (LBFP8, A = 32 or 16) against lbfp::requantize: every boundary constant at every
// leading-one position (values just below, at and above it), the range limits, and
// `random_cases` random accumulators, exponent offsets and ReLU settings.
CosimReport cosim_requant(int acc_bits, uint64_t seed, int random_cases);

// ---- the array ----------------------------------------------------------------------------------

// C = A x B, A is m x k and B is k x n (row-major codes), with the exponents that set the
// requantization (LBFP only): scales[j] is the exponent of one accumulator LSB of column j
// (weights are blocked per output channel), out_exp the output block exponent.
struct Gemm {
  int m = 0;
  int n = 0;
  int k = 0;
  std::vector<Code> a;
  std::vector<Code> b;
  std::vector<int> scales;
  // Per output column, in accumulator units (lbfp::bias_to_accumulator); empty: no bias.
  std::vector<int64_t> bias;
  int out_exp = 0;
  bool relu = false;
};

enum class GemmFill {
  kRandom,    // uniform random codes (every LBFP code, every BFP code but -128)
  kSaturate,  // large magnitudes, a positive and b of one sign per column: the sums saturate
};

// A random GEMM for the array `kind`: codes from `fill`, operand exponents in [-8, 8], the output
// exponent chosen from the golden results as max calibration would (so that codes span the
// range), ReLU on for odd seeds, random biases for seeds divisible by 3.
Gemm make_gemm(ArrayKind kind, int m, int n, int k, uint64_t seed, GemmFill fill);
Gemm make_gemm(const ArrayConfig& config, int m, int n, int k, uint64_t seed, GemmFill fill);

// The output exponent max calibration would choose for the golden results of g (ignoring
// g.out_exp): E = floor(log2 max |C|) + 1, clamped to [-127, 127].
int output_exponent(const ArrayConfig& config, const Gemm& g);

// Runs the GEMM through the array tile by tile (R x C output tiles, the full K each, edges padded
// with zero codes) and compares every accumulator, overflow flag and (LBFP) requantized code with
// lbfp::dot and lbfp::requantize, and every tile's cycle count with array_tile_cycles.
CosimReport cosim_gemm(ArrayKind kind, const Gemm& gemm, const std::string& run_name);
// The same on any configuration (an on-demand one is built first), with a trace if asked for.
// Each mismatch names the output, its tile, row, column and the cycle it came out in.
CosimReport cosim_gemm(const ArrayConfig& config, const Gemm& gemm, const std::string& run_name,
                       const DriverOptions& options);

// The same GEMM through a weight-stationary array (input_stationary: the same array with the
// operands' roles swapped). Weight-stationary folds hold a K chunk (R rows) of B for C output
// columns and stream the M rows of A; input-stationary folds hold a K chunk of A for C output
// rows and stream the N columns of B. The folds of one K chunk run back to back; the next chunk
// starts from their sums and sticky flags (a K split through the partial sums). Every output is
// compared with the golden GEMM (accumulator, flag, LBFP code), padding columns with zero, and
// every fold's preload, first, last and end cycles with lbfp::arch::ArrayTimeline. `cases`
// counts the outputs of the last K chunk, padding columns included.
CosimReport cosim_gemm_ws(WsArrayKind kind, bool input_stationary, const Gemm& gemm,
                          const std::string& run_name, const DriverOptions& options);
// The same on any configuration (an on-demand one is built first).
CosimReport cosim_gemm_ws(const WsArrayConfig& config, bool input_stationary, const Gemm& gemm,
                          const std::string& run_name, const DriverOptions& options);
// The GEMM generator's view of a weight-stationary configuration (format, A).
ArrayConfig as_array_config(const WsArrayConfig& config);

// ---- the runs of `lbfp cosim` -------------------------------------------------------------------

struct CosimRequest {
  std::string config = "lbfp8";  // array: a test configuration's name
  // array: os (systolic_array), ws or is (systolic_array_ws).
  std::string dataflow = "os";
  // array: any of these given changes the configuration's; one that is not prebuilt is
  // verilated on demand into `rtl_cache`.
  std::optional<int> rows;
  std::optional<int> cols;
  std::optional<int> pipe_stages;
  std::optional<int> array_acc_bits;
  std::optional<std::string> format;  // lbfp8 or bfp8
  std::string rtl_cache;              // empty: default_rtl_cache()
  std::string trace;                  // array: an FST of the run; empty: none
  std::string trace_window;           // array: "FIRST:LAST" cycles; empty: the whole run
  int m = 8;
  int n = 8;
  int k = 64;
  uint64_t seed = 1;
  std::string fill = "random";  // array: random or saturate
  int acc_bits = 32;            // requant: 32 or 16
  int cases = 100000;           // requant, all: random accumulators
};

// Runs `what` (mul, bfp-mul, int8-mul, fp8-mul, fmt-mac, fmt-pe, requant, array, or all of them with
// their defaults on every test array) and hands each finished report to `on_report`, in order;
// returns whether all passed.
// Throws std::invalid_argument, naming the `lbfp cosim` option, on a bad request.
bool run_cosim(const std::string& what, const CosimRequest& request,
               const std::function<void(const CosimReport&)>& on_report);

}  // namespace lbfp::rtl
