// The driver of the weight-stationary array's fold protocol (rtl/systolic_array_ws.sv) over its
// Verilated configurations (the prebuilt ones, and any other verilated on demand, ondemand.h), for
// both dataflows the module runs: weight-stationary (weights stationary, activations streamed) and
// input-stationary (activations stationary, weights streamed; the caller swaps the roles, see
// fold_for_gemm in cosim.h). Streaming: push folds, clock, take the finished ones; each fold's
// weight rows and steps are presented as soon as the array takes them, so folds overlap as the
// array allows, and the cycles every fold's weight preload, first and last steps and last output
// take are recorded for the checks against lbfp::arch::ArrayTimeline. No Verilator type appears in
// this header. Waveforms: as the output-stationary driver (DriverOptions, LBFP_RTL_FST).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lbfp/format.h"
#include "lbfp/rtl/array_driver.h"

namespace lbfp::rtl {

// The verilated weight-stationary configurations (rtl/verilated/models.cmake): the same shapes,
// formats, accumulators and pipeline depths as the output-stationary test arrays.
enum class WsArrayKind {
  kLbfp8,        // 4x4 LBFP8, A = 32, 1 pipeline stage
  kBfp8,         // 4x4 BFP8, A = 32, 2 pipeline stages
  kLbfp8Narrow,  // 3x2 LBFP8, A = 16, no pipeline stage (operands not held)
  kOnDemand,     // any other configuration, verilated on first use (ondemand.h)
};

struct WsArrayConfig {
  WsArrayKind kind = WsArrayKind::kLbfp8;
  // "lbfp8", "bfp8", "lbfp8-a16" (as the output-stationary ones); on-demand ones: the format
  std::string name;
  int rows = 4;
  int cols = 4;
  int pipe_stages = 1;
  int acc_bits = 32;
  bool bfp = false;
  bool hold_zeros = true;
};

WsArrayConfig ws_array_config(WsArrayKind kind);
// A configuration of any shape: the prebuilt one when it is one, else an on-demand one. Throws
// std::invalid_argument outside the limits of on-demand arrays (as array_config_for).
WsArrayConfig ws_array_config_for(int rows, int cols, int pipe_stages, int acc_bits, bool bfp);
// The prebuilt configurations.
std::vector<WsArrayConfig> ws_array_configs();
std::optional<WsArrayKind> parse_ws_array_kind(const std::string& name);

// One fold: `rows` x `cols` stationary codes (a K chunk by the output columns; the rest of the
// array is padded with zero codes) and `steps` streamed steps, each putting out one row of C
// values: out[m][c] = init[m][c] + sum_r a[m][r] * w[r][c] (golden accumulator, k = r order).
struct FoldInput {
  int rows = 0;
  int cols = 0;
  int64_t steps = 0;
  const Code* w = nullptr;  // w[r * ldw + c]
  size_t ldw = 0;
  const Code* a = nullptr;  // a[m * lda + r]: step m's code for row r
  size_t lda = 0;
  // Per step and used column (nullptr: 0 / clear): the start value (bias or resumed partial sum)
  // and its sticky flag, init_acc[m * ld_init + c].
  const int64_t* init_acc = nullptr;
  const uint8_t* init_ovf = nullptr;
  size_t ld_init = 0;
  // Requantization offset: exp_shift[c] (per used column, fixed per fold) + step_shift[m] (per
  // step); nullptr: 0.
  const int* exp_shift = nullptr;
  const int* step_shift = nullptr;
  bool relu = false;
};

// The whole array's output rows, padding columns included: steps x C, row-major.
struct FoldOutput {
  std::vector<int64_t> acc;
  std::vector<uint8_t> overflow;
  std::vector<Code> codes;          // the requantizer's codes (the BFP8 array has none)
  std::vector<int64_t> step_cycle;  // per step: the driver's cycle its row came out in
  // The driver's cycles (0 = the first after reset): the fold was queued in `handed`, its first
  // weight row and its first and last steps were taken in `preload`, `first` and `last`, its
  // last output row was on the outputs in `end`; cycles = end - handed + 1.
  int64_t handed = 0;
  int64_t preload = 0;
  int64_t first = 0;
  int64_t last = 0;
  int64_t end = 0;
  int64_t cycles = 0;
  std::vector<std::string> errors;  // broken protocol: rows missing, a wrong last flag
};

class WsArrayDriver {
 public:
  WsArrayDriver(WsArrayKind kind, const DriverOptions& options);
  // Any configuration; an on-demand one is built (or found in the cache) first. Throws
  // ModelBuildError (ondemand.h) when it cannot be built.
  WsArrayDriver(const WsArrayConfig& config, const DriverOptions& options);
  ~WsArrayDriver();
  WsArrayDriver(const WsArrayDriver&) = delete;
  WsArrayDriver& operator=(const WsArrayDriver&) = delete;

  const WsArrayConfig& config() const;
  int64_t cycle() const;  // rising clock edges since reset

  // Queues a fold from the current cycle on (its data is copied); returns its number, from 0.
  // Throws std::invalid_argument when it does not fit the array.
  uint64_t push_fold(const FoldInput& fold);
  // One cycle: presents the queued inputs, takes the outputs, rising clock edge.
  void clock();
  bool busy() const;  // a queued fold has not finished
  // Folds whose last step was taken in the last clock(), in order.
  const std::vector<uint64_t>& released() const;
  // Whether fold `id`'s first step has been taken, and in which cycle (asked of the newest
  // folds only: a finished fold answers with the first step of the last one to finish).
  bool first_taken(uint64_t id, int64_t* cycle) const;
  // Folds whose last output row came out (in order), taken from the driver.
  std::vector<std::pair<uint64_t, FoldOutput>> take_finished();
  // One fold alone: clocks until the array is idle, queues it and clocks until it has finished.
  void run_fold(const FoldInput& fold, FoldOutput& out);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lbfp::rtl
