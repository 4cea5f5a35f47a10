// The one driver of the systolic array's tile protocol (rtl/systolic_array.sv) over its Verilated
// configurations: set a tile's column parameters, stream its operands, collect its result rows
// and count its cycles. The co-simulation (cosim.h), the architecture model's RTL backend
// (`lbfp sim --array rtl`) and the testbenches all run the array through it. No Verilator type
// appears in this header.
//
// Any other configuration (rows, columns, LBFP8 or BFP8, A, pipeline depth) is verilated on
// demand into a per-user cache (ondemand.h) and loaded as a shared object; the driver talks to
// both kinds through one port interface.
//
// Waveforms: DriverOptions::trace writes an FST of the RTL (every signal: ports, PE registers,
// requantizers), for the whole run or a window of cycles. When the environment variable
// LBFP_RTL_FST names a directory, every driver without a trace file writes one there
// (<trace name>.fst).
#pragma once

#include <cstddef>
#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lbfp/format.h"

namespace lbfp::rtl {

// The verilated array configurations (each verilated once, rtl/verilated/models.cmake).
enum class ArrayKind {
  kLbfp8,        // 4x4 LBFP8, A = 32, 1 pipeline stage
  kBfp8,         // 4x4 BFP8, A = 32, 2 pipeline stages
  kLbfp8Narrow,  // 3x2 LBFP8, A = 16, no pipeline stage
  kLbfp8Preset,  // 16x16 LBFP8 of the shipped presets, built without tracing
  kOnDemand,     // any other configuration, verilated on first use (ondemand.h)
};

struct ArrayConfig {
  ArrayKind kind = ArrayKind::kOnDemand;
  std::string name;  // "lbfp8", "bfp8", "lbfp8-a16"; the preset and on-demand ones: the format
  int rows = 4;
  int cols = 4;
  int pipe_stages = 1;
  int acc_bits = 32;
  bool bfp = false;
  // The PEs hold their operands on zero products (systolic_array's HoldZeros; PipeStages >= 1).
  bool hold_zeros = true;
};

// A configuration of any shape: the prebuilt one when it is one (and `traced` is not asked of the
// untraced preset), else an on-demand one. Throws std::invalid_argument outside the limits the
// RTL supports (1..256 rows and columns, A in 8..62, 0..16 pipeline stages).
ArrayConfig array_config_for(int rows, int cols, int pipe_stages, int acc_bits, bool bfp,
                             bool traced = false);

ArrayConfig array_config(ArrayKind kind);
// The test configurations, which `lbfp cosim` and the testbenches run (not the preset).
std::vector<ArrayConfig> array_configs();
// Every verilated configuration: the test ones, then the preset.
std::vector<ArrayConfig> verilated_array_configs();
// A test configuration by name.
std::optional<ArrayKind> parse_array_kind(const std::string& name);

// One tile: the used rows x cols of the array (the rest is padded with zero codes) and K steps.
struct TileInput {
  int rows = 0;
  int cols = 0;
  int64_t k = 0;
  const Code* a = nullptr;  // a[r * lda + t]: row r of A, step t
  size_t lda = 0;
  const Code* b = nullptr;  // b[t * ldb + c]: step t, column c of B
  size_t ldb = 0;
  // Per used column (nullptr: all zero): the requantization offset scale - Eo, and the bias in
  // accumulator units, which the preload gives every row of the column as its start value.
  const int* exp_shift = nullptr;
  const int64_t* bias = nullptr;
  // K split: the start values instead of the bias, rows x cols (stride cols), and their sticky
  // overflow flags (nullptr: all clear).
  const int64_t* init_acc = nullptr;
  const uint8_t* init_ovf = nullptr;
  bool relu = false;
};

// The whole array's results, padding included: R x C, row-major.
struct TileOutput {
  std::vector<int64_t> acc;
  std::vector<uint8_t> overflow;
  std::vector<Code> codes;        // the requantizer's codes (the BFP8 array has none)
  std::vector<uint8_t> row_seen;  // 1 for each row the array put out
  std::vector<int64_t> row_cycle;  // per row: the driver's cycle (since reset) it came out in
  // The driver's cycle numbers (0 = the first cycle after reset): the tile was queued (handed
  // over) in `handed`, its first preload row and its first and last operand steps were taken in
  // `preload`, `first` and `last`, its last result row was on the outputs in `end`.
  int64_t handed = 0;
  int64_t preload = 0;
  int64_t first = 0;
  int64_t last = 0;
  int64_t end = 0;
  // Hand-over to last result row, both included (lbfp::arch::array_tile_cycles for a tile
  // handed to an idle array).
  int64_t cycles = 0;
  // Broken protocol: rows out of order or missing.
  std::vector<std::string> errors;
};

// Cycles [first, last] of a driver (rising clock edges since reset, from 0).
struct TraceWindow {
  int64_t first = 0;
  int64_t last = INT64_MAX;
  bool contains(int64_t cycle) const { return cycle >= first && cycle <= last; }
};
// "FIRST:LAST", "FIRST:" or ":LAST"; throws std::invalid_argument naming `option`.
TraceWindow parse_trace_window(const std::string& text, const std::string& option);

struct DriverOptions {
  std::string trace_name;  // the LBFP_RTL_FST file's name (see above)
  std::string trace;       // an FST file to write; empty: none
  TraceWindow trace_window;
  std::string rtl_cache;   // on-demand models: the cache folder; empty: default_rtl_cache()
  // On-demand models: a line per build step (the first use of a configuration); empty: stderr.
  std::function<void(const std::string&)> progress;
};

// Streams tiles through the array: each queued tile's preload rows and operand steps are
// presented as soon as the array takes them (in_ready_o, init_ready_o), after those of the
// tiles queued before it, so tiles overlap as the array allows.
class ArrayDriver {
 public:
  // Creates and resets the array; `trace_name` names its FST trace (see above).
  ArrayDriver(ArrayKind kind, const std::string& trace_name);
  // Any configuration; an on-demand one is built (or found in the cache) first. Throws
  // ModelBuildError (ondemand.h) when it cannot be built, std::invalid_argument when a trace is
  // asked of a model built without tracing.
  ArrayDriver(const ArrayConfig& config, const DriverOptions& options);
  ~ArrayDriver();
  ArrayDriver(const ArrayDriver&) = delete;
  ArrayDriver& operator=(const ArrayDriver&) = delete;

  const ArrayConfig& config() const;
  // Rising clock edges since reset.
  int64_t cycle() const;

  // Queues a tile from the current cycle on (its data is copied); returns its number, counting
  // from 0. Throws std::invalid_argument when the tile does not fit the array.
  uint64_t push_tile(const TileInput& tile);
  // One cycle: presents the queued inputs, takes the outputs, rising clock edge, then
  // `on_cycle` (optional).
  void clock(const std::function<void()>& on_cycle = nullptr);
  bool busy() const;  // a queued tile has not finished
  // Tiles whose last operand step was taken in the last clock(), in order.
  const std::vector<uint64_t>& released() const;
  // Tiles whose last result row came out (in order), taken from the driver.
  std::vector<std::pair<uint64_t, TileOutput>> take_finished();
  // Whether tile `id`'s first step has been taken, and in which cycle.
  bool first_taken(uint64_t id, int64_t* cycle) const;

  // One tile alone: clocks until the array is idle, queues the tile and clocks until it has
  // finished; `on_cycle` as for clock(). A tile that does not finish within a generous limit
  // is reported in out.errors.
  void run_tile(const TileInput& tile, TileOutput& out,
                const std::function<void()>& on_cycle = nullptr);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lbfp::rtl
