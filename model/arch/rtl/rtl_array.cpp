// The Verilated arrays as ArrayBackends: thin adapters over the drivers of their protocols
// (rtl/verilated: the output-stationary array's tiles, lbfp/rtl/array_driver.h; the weight-/
// input-stationary array's folds, lbfp/rtl/ws_array_driver.h), clocked by the calling SystemC
// thread.
#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <systemc>

#include "lbfp/arch/rtl_array.h"
#include "lbfp/arith.h"
#include "lbfp/rtl/array_driver.h"
#include "lbfp/rtl/ws_array_driver.h"

namespace lbfp::arch {
namespace {

constexpr int kExpShiftBits = 12;  // systolic_array's and systolic_array_ws's ExpWidth

// Throws unless a requantization offset fits the RTL's signed ExpWidth-bit fields.
void check_shift(int shift, const char* what) {
  if (shift < -(1 << (kExpShiftBits - 1)) || shift >= (1 << (kExpShiftBits - 1))) {
    throw std::invalid_argument(std::string(what) + " " + std::to_string(shift) +
                                " does not fit the RTL's 12-bit field");
  }
}

NumberFormat config_format(const rtl::ArrayConfig& c) {
  if (c.bfp) return BfpFormat(8, c.acc_bits);
  return LbfpFormat(8, 4, 8, c.acc_bits);
}

NumberFormat config_format(const rtl::WsArrayConfig& c) {
  if (c.bfp) return BfpFormat(8, c.acc_bits);
  return LbfpFormat(8, 4, 8, c.acc_bits);
}

// "lbfp8-ws-4x4", "lbfp8-a16-is-3x2", ...
RtlArrayConfig stationary_config(const rtl::WsArrayConfig& c, Dataflow d) {
  return {{c.rows, c.cols, c.pipe_stages, d},
          config_format(c),
          std::string(c.name) + "-" + dataflow_short_name(d) + "-" + std::to_string(c.rows) + "x" +
              std::to_string(c.cols)};
}

// The name the model gives a verilated configuration: "lbfp8-4x4", "lbfp8-a16-3x2", ...
std::string config_name(const rtl::ArrayConfig& c) {
  return std::string(c.name) + "-" + std::to_string(c.rows) + "x" + std::to_string(c.cols);
}

// A tile handed to an RTL array, with the golden reference's results (lbfp::dot,
// lbfp::requantize), computed at hand-over while the operands are still there: rows x cols.
struct GoldenTile {
  int rows = 0;
  int cols = 0;
  bool requantize = true;
  bool relu = false;
  int out_exponent = 0;
  std::vector<int> scales;  // per column
  std::vector<int64_t> want_acc;
  std::vector<uint8_t> want_ovf;
  std::vector<Code> want_code;
};

// The array's outputs of tile `t` into `result` (rows x cols): `lane(r, c)` is output (r, c)'s
// index in the driver's vectors. The RTL keeps an overflow flag per output, no step count; the
// BFP8 array has no requantizer, so its codes come from the golden reference on the host, as a
// host-side requantizer would make them.
template <class Output, class Lane>
void collect_outputs(const GoldenTile& t, const NumberFormat& format, const Output& out,
                     TileResult& result, Lane lane) {
  const auto n = static_cast<size_t>(t.rows) * static_cast<size_t>(t.cols);
  result.rows = t.rows;
  result.cols = t.cols;
  result.acc.assign(n, 0);
  result.overflow.assign(n, 0);
  result.overflow_steps.assign(n, 0);
  result.codes.assign(n, 0);
  for (int r = 0; r < t.rows; ++r) {
    for (int c = 0; c < t.cols; ++c) {
      const auto i = static_cast<size_t>(r * t.cols + c);
      const size_t o = lane(r, c);
      result.acc[i] = out.acc[o];
      result.overflow[i] = out.overflow[o];
      result.overflow_steps[i] = out.overflow[o];
      if (!t.requantize) continue;
      result.codes[i] = is_lbfp(format)
                            ? out.codes[o]
                            : requantize(std::get<BfpFormat>(format), result.acc[i],
                                         t.scales[static_cast<size_t>(c)], t.out_exponent, t.relu);
    }
  }
}

// The tile's expected outputs: each output starts from its resumed partial sum (init_acc) or
// its column's bias, its flag is the resumed flag or any saturating step of this chunk.
void expect_golden(const NumberFormat& format, const TileJob& job,
                   const std::vector<int64_t>& bias, GoldenTile& tile) {
  const auto n = static_cast<size_t>(job.rows) * static_cast<size_t>(job.cols);
  tile.want_acc.assign(n, 0);
  tile.want_ovf.assign(n, 0);
  tile.want_code.assign(n, 0);
  std::vector<Code> row(static_cast<size_t>(job.k));
  std::vector<Code> col(static_cast<size_t>(job.k));
  for (int r = 0; r < job.rows; ++r) {
    for (int c = 0; c < job.cols; ++c) {
      for (int64_t t = 0; t < job.k; ++t) {
        row[static_cast<size_t>(t)] = job.a[static_cast<size_t>(r) * job.lda + t];
        col[static_cast<size_t>(t)] = job.b[static_cast<size_t>(t) * job.ldb + c];
      }
      const auto i = static_cast<size_t>(r * job.cols + c);
      const int64_t init =
          job.init_acc != nullptr ? job.init_acc[i] : bias[static_cast<size_t>(c)];
      const DotResult want = std::visit(
          [&](const auto& f) { return dot(f, row.data(), col.data(), row.size(), init); },
          format);
      const bool resumed_ovf = job.init_acc != nullptr && job.init_overflow != nullptr &&
                               job.init_overflow[i] != 0;
      tile.want_acc[i] = want.acc;
      tile.want_ovf[i] = want.overflows > 0 || resumed_ovf ? 1 : 0;
      if (!job.requantize) continue;
      tile.want_code[i] = std::visit(
          [&](const auto& f) {
            return requantize(f, want.acc, tile.scales[static_cast<size_t>(c)], job.out_exponent,
                              job.relu);
          },
          format);
    }
  }
}

// A delivered tile against its golden results; throws at the first difference with the RTL
// cycle the output came out in (`cycle_of(r, c)`, -1: unknown, then `now`) and, when known, the
// command that reproduces it with a trace from the tile's hand-over (its preload and steps may
// overlap earlier tiles) to that cycle.
void check_golden(const GoldenTile& t, const TileResult& result, const std::string& array,
                  int acc, const std::function<int64_t(int, int)>& cycle_of, int64_t handed,
                  int64_t now, const std::string& reproduce) {
  for (int r = 0; r < t.rows; ++r) {
    for (int c = 0; c < t.cols; ++c) {
      const auto i = static_cast<size_t>(r * t.cols + c);
      const bool code_ok = !t.requantize || result.codes[i] == t.want_code[i];
      if (result.acc[i] == t.want_acc[i] && result.overflow[i] == t.want_ovf[i] && code_ok) {
        continue;
      }
      const int64_t out_cycle = cycle_of(r, c);
      const int64_t cycle = out_cycle >= 0 ? out_cycle : now;
      std::string what = "the RTL array " + array + " (A=" + std::to_string(acc) +
                         ") differs from the golden reference at row " + std::to_string(r) +
                         ", column " + std::to_string(c) + " of the tile, RTL cycle " +
                         std::to_string(cycle) + ": rtl {acc=" + std::to_string(result.acc[i]) +
                         " ovf=" + std::to_string(result.overflow[i]) + " code=" +
                         std::to_string(result.codes[i]) + "} golden {acc=" +
                         std::to_string(t.want_acc[i]) + " ovf=" + std::to_string(t.want_ovf[i]) +
                         " code=" + std::to_string(t.want_code[i]) + "}";
      if (!reproduce.empty()) {
        const int64_t first = std::max<int64_t>(0, std::min(handed, cycle) - 4);
        what += "\nreproduce it with a trace around that cycle: " + reproduce +
                " --trace mismatch.fst --trace-window " + std::to_string(first) + ":" +
                std::to_string(cycle + 4);
      }
      throw std::runtime_error(what);
    }
  }
}

class RtlArray : public sc_core::sc_module, public ArrayBackend {
 public:
  RtlArray(sc_core::sc_module_name name, const rtl::ArrayConfig& rtl_config,
           const RtlArrayConfig& config, const rtl::DriverOptions& driver_options,
           std::string reproduce)
      : sc_module(name),
        config_(config),
        driver_(rtl_config, driver_options),
        reproduce_(std::move(reproduce)) {}

  std::string name() const override { return "rtl " + config_.name; }
  const ArrayGeometry& geometry() const override { return config_.geometry; }
  bool counts_overflow_steps() const override { return false; }
  ArrayActivity activity() const override { return activity_; }
  bool busy() const override { return driver_.busy(); }

  int64_t run_tile(const TileJob& job, const Tick& tick) override {
    const ArrayGeometry& g = config_.geometry;
    if (job.rows < 1 || job.rows > g.rows || job.cols < 1 || job.cols > g.cols || job.k < 1) {
      throw std::invalid_argument("tile does not fit the RTL array " + config_.name);
    }
    if (job.init_acc != nullptr && job.bias != nullptr) {
      throw std::invalid_argument("a tile resumes partial sums or starts from a bias, not both");
    }
    // The requantizer takes scale - Eo per column as a 12-bit two's-complement offset; the
    // bias is preloaded into each column's accumulators, in accumulator units.
    GoldenTile tile;
    tile.rows = job.rows;
    tile.cols = job.cols;
    tile.requantize = job.requantize;
    tile.relu = job.relu;
    tile.out_exponent = job.out_exponent;
    std::vector<int> exp_shift(static_cast<size_t>(job.cols), 0);
    std::vector<int64_t> bias(static_cast<size_t>(job.cols), 0);
    for (int c = 0; c < job.cols; ++c) {
      const int scale = product_scale(config_.format, job.a_exponent, job.b_exponents[c]);
      tile.scales.push_back(scale);
      const int shift = scale - job.out_exponent;
      if (shift < -(1 << (kExpShiftBits - 1)) || shift >= (1 << (kExpShiftBits - 1))) {
        throw std::invalid_argument("requantization offset " + std::to_string(shift) +
                                    " does not fit the RTL's 12-bit field");
      }
      exp_shift[static_cast<size_t>(c)] = shift;
      if (job.bias != nullptr) {
        bias[static_cast<size_t>(c)] =
            bias_to_accumulator(acc_bits(config_.format), job.bias[c], scale);
      }
    }
    rtl::TileInput input;
    input.rows = job.rows;
    input.cols = job.cols;
    input.k = job.k;
    input.a = job.a;
    input.lda = job.lda;
    input.b = job.b;
    input.ldb = job.ldb;
    input.exp_shift = exp_shift.data();
    input.bias = bias.data();
    input.init_acc = job.init_acc;
    input.init_ovf = job.init_overflow;
    input.relu = job.relu;
    const uint64_t id = driver_.push_tile(input);
    tiles_.push_back(std::move(tile));

    expect_golden(config_.format, job, bias, tiles_.back());
    const ArrayActivity a = tile_activity(zero_mask_, job);
    activity_.macs += a.macs;
    activity_.zero_macs += a.zero_macs;
    activity_.requantizations += a.requantizations;

    // Clocked until the next tile's preload may start: max(p, 1) cycles after this one's first
    // step (array_preload_gap).
    int64_t cycles = 0;
    int64_t first = 0;
    const int64_t guard = driver_.cycle() + 2 * array_tile_cycles(g, job.k) + 1000;
    while (!driver_.first_taken(id, &first) ||
           driver_.cycle() < first + array_preload_gap(g)) {
      if (driver_.cycle() > guard) {
        throw std::runtime_error("RTL array " + config_.name + " never took a tile");
      }
      cycles += step(tick);
    }
    return cycles;
  }

  int64_t step(const Tick& tick) override {
    if (!driver_.busy()) return 0;
    driver_.clock([&tick] { tick(1); });
    for (uint64_t id : driver_.released()) released(id);
    for (auto& [id, out] : driver_.take_finished()) deliver(id, out);
    return 1;
  }

 private:
  void deliver(uint64_t id, const rtl::TileOutput& out) {
    if (!out.errors.empty()) {
      throw std::runtime_error("RTL array " + config_.name + ": " + out.errors.front());
    }
    if (tiles_.empty() || id != first_tile_) {
      throw std::runtime_error("RTL array " + config_.name + ": a tile finished out of order");
    }
    const GoldenTile t = std::move(tiles_.front());
    tiles_.pop_front();
    ++first_tile_;
    const auto array_cols = static_cast<size_t>(config_.geometry.cols);
    collect_outputs(t, config_.format, out, result_, [array_cols](int r, int c) {
      return static_cast<size_t>(r) * array_cols + static_cast<size_t>(c);
    });
    check_golden(
        t, result_, config_.name, acc_bits(config_.format),
        [&out](int r, int) {
          return static_cast<size_t>(r) < out.row_cycle.size()
                     ? out.row_cycle[static_cast<size_t>(r)]
                     : int64_t{-1};
        },
        out.handed, driver_.cycle(), reproduce_);
    finished(id, result_);
  }

  RtlArrayConfig config_;
  rtl::ArrayDriver driver_;
  std::string reproduce_;
  std::deque<GoldenTile> tiles_;  // handed over, not finished
  uint64_t first_tile_ = 0;  // the number of tiles_.front()
  TileResult result_;
  ArrayActivity activity_;
  Code zero_mask_ = zero_code_mask(config_.format);
};

// The weight-stationary array (rtl/systolic_array_ws.sv) as a weight- or input-stationary
// backend: each tile is one fold. Weight-stationary: the fold holds the tile's B (k x cols) and
// streams its rows of A, output row m per step. Input-stationary: the same array with the
// operands' roles swapped: it holds A^T (k x rows) and streams the columns of B, output column
// n per step, whose requantization offset scale - Eo is split into a column part (scale - Eb[n]
// - Eo, the same for every column) and a step part (Eb[n]).
class RtlStationaryArray : public sc_core::sc_module, public ArrayBackend {
 public:
  RtlStationaryArray(sc_core::sc_module_name name, const rtl::WsArrayConfig& array,
                     const RtlArrayConfig& config, const rtl::DriverOptions& driver_options,
                     std::string reproduce)
      : sc_module(name),
        config_(config),
        driver_(array, driver_options),
        reproduce_(std::move(reproduce)) {}

  std::string name() const override { return "rtl " + config_.name; }
  const ArrayGeometry& geometry() const override { return config_.geometry; }
  bool counts_overflow_steps() const override { return false; }
  ArrayActivity activity() const override { return activity_; }
  bool busy() const override { return driver_.busy(); }

  int64_t run_tile(const TileJob& job, const Tick& tick) override {
    const ArrayGeometry& g = config_.geometry;
    const bool ws = g.dataflow == Dataflow::kWeightStationary;
    const int lanes = ws ? job.cols : job.rows;  // the array columns the fold uses
    const int64_t steps = ws ? job.rows : job.cols;
    if (job.rows < 1 || job.cols < 1 || job.k < 1 || job.k > g.rows || lanes > g.cols) {
      throw std::invalid_argument("tile does not fit the " +
                                  std::string(dataflow_name(g.dataflow)) + " RTL array " +
                                  config_.name);
    }
    if (job.init_acc != nullptr && job.bias != nullptr) {
      throw std::invalid_argument("a tile resumes partial sums or starts from a bias, not both");
    }
    GoldenTile tile;
    tile.rows = job.rows;
    tile.cols = job.cols;
    tile.requantize = job.requantize;
    tile.relu = job.relu;
    tile.out_exponent = job.out_exponent;
    std::vector<int64_t> bias(static_cast<size_t>(job.cols), 0);
    for (int n = 0; n < job.cols; ++n) {
      const int scale = product_scale(config_.format, job.a_exponent, job.b_exponents[n]);
      tile.scales.push_back(scale);
      check_shift(scale - job.out_exponent, "requantization offset");
      if (job.bias != nullptr) {
        bias[static_cast<size_t>(n)] =
            bias_to_accumulator(acc_bits(config_.format), job.bias[n], scale);
      }
    }
    // The fold: stationary codes w[r][c], streamed codes a[s][r], start values per step and
    // lane, the offsets. Output (m, n) is lane c, step s: (s, c) weight-, (c, s) input-stationary.
    const auto k = static_cast<size_t>(job.k);
    const auto nl = static_cast<size_t>(lanes);
    const auto ns = static_cast<size_t>(steps);
    const auto out_index = [&](size_t s, size_t c) {
      return ws ? s * static_cast<size_t>(job.cols) + c : c * static_cast<size_t>(job.cols) + s;
    };
    std::vector<Code> w(k * nl), a(ns * k);
    for (size_t r = 0; r < k; ++r) {
      for (size_t c = 0; c < nl; ++c) {
        w[r * nl + c] = ws ? job.b[r * job.ldb + c] : job.a[c * job.lda + r];
      }
      for (size_t t = 0; t < ns; ++t) {
        a[t * k + r] = ws ? job.a[t * job.lda + r] : job.b[r * job.ldb + t];
      }
    }
    std::vector<int64_t> init(ns * nl);
    std::vector<uint8_t> init_ovf(ns * nl, 0);
    for (size_t t = 0; t < ns; ++t) {
      for (size_t c = 0; c < nl; ++c) {
        const size_t o = out_index(t, c);
        const size_t n = ws ? c : t;
        init[t * nl + c] = job.init_acc != nullptr ? job.init_acc[o] : bias[n];
        if (job.init_acc != nullptr && job.init_overflow != nullptr) {
          init_ovf[t * nl + c] = job.init_overflow[o] != 0 ? 1 : 0;
        }
      }
    }
    std::vector<int> exp_shift(nl), step_shift(ns, 0);
    const int base = product_scale(config_.format, job.a_exponent, 0);  // scale - Eb[n]
    for (size_t c = 0; c < nl; ++c) {
      exp_shift[c] = ws ? tile.scales[c] - job.out_exponent : base - job.out_exponent;
      check_shift(exp_shift[c], "requantization offset (column part)");
    }
    if (!ws) {
      for (size_t t = 0; t < ns; ++t) {
        step_shift[t] = tile.scales[t] - base;
        check_shift(step_shift[t], "requantization offset (step part)");
      }
    }
    rtl::FoldInput fold;
    fold.rows = static_cast<int>(job.k);
    fold.cols = lanes;
    fold.steps = steps;
    fold.w = w.data();
    fold.ldw = nl;
    fold.a = a.data();
    fold.lda = k;
    fold.init_acc = init.data();
    fold.init_ovf = init_ovf.data();
    fold.ld_init = nl;
    fold.exp_shift = exp_shift.data();
    fold.step_shift = step_shift.data();
    fold.relu = job.relu;
    const uint64_t id = driver_.push_fold(fold);
    tiles_.push_back(std::move(tile));
    expect_golden(config_.format, job, bias, tiles_.back());
    const ArrayActivity act = tile_activity(zero_mask_, job);
    activity_.macs += act.macs;
    activity_.zero_macs += act.zero_macs;
    activity_.requantizations += act.requantizations;

    // Clocked until the next fold's weight rows may load: one cycle after this fold's first
    // step (ArrayTimeline's next_handover). The steps of the folds before it come first.
    longest_ = std::max(longest_, steps);
    int64_t cycles = 0;
    int64_t first = 0;
    const int64_t guard = driver_.cycle() + 2 * array_tile_cycles(g, longest_) + 1000;
    while (!driver_.first_taken(id, &first) || driver_.cycle() < first + array_preload_gap(g)) {
      if (driver_.cycle() > guard) {
        throw std::runtime_error("RTL array " + config_.name + " never took a fold");
      }
      cycles += step(tick);
    }
    return cycles;
  }

  int64_t step(const Tick& tick) override {
    if (!driver_.busy()) return 0;
    driver_.clock();
    tick(1);
    for (uint64_t id : driver_.released()) released(id);
    for (auto& [id, out] : driver_.take_finished()) deliver(id, out);
    return 1;
  }

 private:
  void deliver(uint64_t id, const rtl::FoldOutput& out) {
    if (!out.errors.empty()) {
      throw std::runtime_error("RTL array " + config_.name + ": " + out.errors.front());
    }
    if (tiles_.empty() || id != first_tile_) {
      throw std::runtime_error("RTL array " + config_.name + ": a fold finished out of order");
    }
    const GoldenTile t = std::move(tiles_.front());
    tiles_.pop_front();
    ++first_tile_;
    const bool ws = config_.geometry.dataflow == Dataflow::kWeightStationary;
    const auto array_cols = static_cast<size_t>(config_.geometry.cols);
    // Output (m, n) leaves with step m in lane n (weight-stationary) or step n in lane m.
    collect_outputs(t, config_.format, out, result_, [array_cols, ws](int m, int c) {
      const auto step = static_cast<size_t>(ws ? m : c);
      const auto lane = static_cast<size_t>(ws ? c : m);
      return step * array_cols + lane;
    });
    check_golden(
        t, result_, config_.name, acc_bits(config_.format),
        [&out, ws](int m, int c) {
          const auto step = static_cast<size_t>(ws ? m : c);
          return step < out.step_cycle.size() ? out.step_cycle[step] : int64_t{-1};
        },
        out.handed, driver_.cycle(), reproduce_);
    finished(id, result_);
  }

  RtlArrayConfig config_;
  rtl::WsArrayDriver driver_;
  std::string reproduce_;
  std::deque<GoldenTile> tiles_;  // handed over, not finished
  uint64_t first_tile_ = 0;       // the number of tiles_.front()
  int64_t longest_ = 1;           // the most steps of a fold so far
  TileResult result_;
  ArrayActivity activity_;
  Code zero_mask_ = zero_code_mask(config_.format);
};

bool same_format(const NumberFormat& a, const NumberFormat& b) {
  if (a.index() != b.index()) return false;
  if (is_lbfp(a)) return std::get<LbfpFormat>(a) == std::get<LbfpFormat>(b);
  return std::get<BfpFormat>(a) == std::get<BfpFormat>(b);
}

}  // namespace

std::vector<RtlArrayConfig> rtl_array_configs() {
  std::vector<RtlArrayConfig> configs;
  for (const rtl::ArrayConfig& c : rtl::verilated_array_configs()) {
    configs.push_back({{c.rows, c.cols, c.pipe_stages}, config_format(c), config_name(c)});
  }
  for (const rtl::WsArrayConfig& c : rtl::ws_array_configs()) {
    for (Dataflow d : {Dataflow::kWeightStationary, Dataflow::kInputStationary}) {
      configs.push_back(stationary_config(c, d));
    }
  }
  return configs;
}

std::unique_ptr<ArrayBackend> make_rtl_array(const ArrayGeometry& geometry,
                                             const NumberFormat& format,
                                             const RtlArrayOptions& options) {
  const int acc = acc_bits(format);
  const bool bfp = !is_lbfp(format);
  if (!same_format(format, bfp ? NumberFormat(BfpFormat(8, acc))
                               : NumberFormat(LbfpFormat(8, 4, 8, acc)))) {
    throw std::invalid_argument("the RTL array is LBFP8 (W=8, F=4, P=8) or BFP8 (W=8), not " +
                                format_name(format));
  }
  rtl::DriverOptions driver;
  driver.rtl_cache = options.rtl_cache;
  driver.trace = options.trace;
  if (!options.trace_window.empty()) {
    driver.trace_window = rtl::parse_trace_window(options.trace_window, "--trace-window");
  }
  if (geometry.dataflow != Dataflow::kOutputStationary) {
    // A prebuilt weight-stationary configuration, or any other verilated on demand.
    const rtl::WsArrayConfig w = rtl::ws_array_config_for(geometry.rows, geometry.cols,
                                                          geometry.pipe_stages, acc, bfp);
    const RtlArrayConfig c = stationary_config(w, geometry.dataflow);
    const std::string name = "rtl_array_" + c.name;
    driver.trace_name = name;
    return std::make_unique<RtlStationaryArray>(name.c_str(), w, c, driver, options.reproduce);
  }
  const rtl::ArrayConfig vc = rtl::array_config_for(geometry.rows, geometry.cols,
                                                    geometry.pipe_stages, acc, bfp,
                                                    !options.trace.empty());
  const RtlArrayConfig c{{vc.rows, vc.cols, vc.pipe_stages}, config_format(vc),
                         config_name(vc)};
  const std::string name = "rtl_array_" + c.name;
  driver.trace_name = name;
  return std::make_unique<RtlArray>(name.c_str(), vc, c, driver, options.reproduce);
}

}  // namespace lbfp::arch
