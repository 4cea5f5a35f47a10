// The Verilated array as an ArrayBackend: a thin adapter over the one driver of its tile protocol
// (rtl/verilated, lbfp/rtl/array_driver.h), clocked by the calling SystemC thread.
#include <algorithm>
#include <deque>
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

namespace lbfp::arch {
namespace {

constexpr int kExpShiftBits = 12;  // systolic_array's ExpWidth

NumberFormat config_format(const rtl::ArrayConfig& c) {
  if (c.bfp) return BfpFormat(8, c.acc_bits);
  return LbfpFormat(8, 4, 8, c.acc_bits);
}

// The name the model gives a verilated configuration: "lbfp8-4x4", "lbfp8-a16-3x2", ...
std::string config_name(const rtl::ArrayConfig& c) {
  return std::string(c.name) + "-" + std::to_string(c.rows) + "x" + std::to_string(c.cols);
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
    Tile tile;
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

    expect_golden(job, bias, tiles_.back());
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
  struct Tile {
    int rows = 0;
    int cols = 0;
    bool requantize = true;
    bool relu = false;
    int out_exponent = 0;
    std::vector<int> scales;
    // The golden reference's results (lbfp::dot, lbfp::requantize), computed at hand-over while
    // the operands are still there: rows x cols.
    std::vector<int64_t> want_acc;
    std::vector<uint8_t> want_ovf;
    std::vector<Code> want_code;
  };

  // The tile's expected outputs: each output starts from its resumed partial sum (init_acc) or
  // its column's bias, its flag is the resumed flag or any saturating step of this chunk.
  void expect_golden(const TileJob& job, const std::vector<int64_t>& bias, Tile& tile) const {
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
            config_.format);
        const bool resumed_ovf = job.init_acc != nullptr && job.init_overflow != nullptr &&
                                 job.init_overflow[i] != 0;
        tile.want_acc[i] = want.acc;
        tile.want_ovf[i] = want.overflows > 0 || resumed_ovf ? 1 : 0;
        if (!job.requantize) continue;
        tile.want_code[i] = std::visit(
            [&](const auto& f) {
              return requantize(f, want.acc, tile.scales[static_cast<size_t>(c)],
                                job.out_exponent, job.relu);
            },
            config_.format);
      }
    }
  }

  // The delivered tile against its golden results; throws at the first difference with the RTL
  // cycle of the row and, when known, the command that reproduces it with a trace.
  void check_golden(const Tile& t, const rtl::TileOutput& out) const {
    for (int r = 0; r < t.rows; ++r) {
      for (int c = 0; c < t.cols; ++c) {
        const auto i = static_cast<size_t>(r * t.cols + c);
        const bool code_ok = !t.requantize || result_.codes[i] == t.want_code[i];
        if (result_.acc[i] == t.want_acc[i] && result_.overflow[i] == t.want_ovf[i] && code_ok) {
          continue;
        }
        const int64_t row_cycle =
            static_cast<size_t>(r) < out.row_cycle.size() ? out.row_cycle[static_cast<size_t>(r)]
                                                          : -1;
        const int64_t cycle = row_cycle >= 0 ? row_cycle : driver_.cycle();
        std::string what = "the RTL array " + config_.name + " (A=" +
                           std::to_string(acc_bits(config_.format)) +
                           ") differs from the golden reference at row " + std::to_string(r) +
                           ", column " + std::to_string(c) + " of the tile, RTL cycle " +
                           std::to_string(cycle) + ": rtl {acc=" +
                           std::to_string(result_.acc[i]) + " ovf=" +
                           std::to_string(result_.overflow[i]) + " code=" +
                           std::to_string(result_.codes[i]) + "} golden {acc=" +
                           std::to_string(t.want_acc[i]) + " ovf=" +
                           std::to_string(t.want_ovf[i]) + " code=" +
                           std::to_string(t.want_code[i]) + "}";
        if (!reproduce_.empty()) {
          // From the tile's hand-over (its preload and steps may overlap earlier tiles).
          const int64_t first = std::max<int64_t>(0, std::min(out.handed, cycle) - 4);
          what += "\nreproduce it with a trace around that cycle: " + reproduce_ +
                  " --trace mismatch.fst --trace-window " + std::to_string(first) + ":" +
                  std::to_string(cycle + 4);
        }
        throw std::runtime_error(what);
      }
    }
  }

  void deliver(uint64_t id, const rtl::TileOutput& out) {
    if (!out.errors.empty()) {
      throw std::runtime_error("RTL array " + config_.name + ": " + out.errors.front());
    }
    if (tiles_.empty() || id != first_tile_) {
      throw std::runtime_error("RTL array " + config_.name + ": a tile finished out of order");
    }
    const Tile t = std::move(tiles_.front());
    tiles_.pop_front();
    ++first_tile_;
    const ArrayGeometry& g = config_.geometry;
    const auto n = static_cast<size_t>(t.rows) * static_cast<size_t>(t.cols);
    result_.rows = t.rows;
    result_.cols = t.cols;
    result_.acc.assign(n, 0);
    result_.overflow.assign(n, 0);
    result_.overflow_steps.assign(n, 0);
    result_.codes.assign(n, 0);
    for (int r = 0; r < t.rows; ++r) {
      for (int c = 0; c < t.cols; ++c) {
        const auto i = static_cast<size_t>(r * t.cols + c);
        const auto o = static_cast<size_t>(r * g.cols + c);
        result_.acc[i] = out.acc[o];
        result_.overflow[i] = out.overflow[o];
        result_.overflow_steps[i] = out.overflow[o];  // the RTL keeps a flag only
        if (!t.requantize) continue;
        if (is_lbfp(config_.format)) {
          result_.codes[i] = out.codes[o];
        } else {
          // The BFP8 array has no requantizer: requantize its accumulator with the golden
          // reference, as a host-side requantizer would.
          result_.codes[i] = requantize(std::get<BfpFormat>(config_.format), result_.acc[i],
                                        t.scales[static_cast<size_t>(c)], t.out_exponent,
                                        t.relu);
        }
      }
    }
    check_golden(t, out);
    finished(id, result_);
  }

  RtlArrayConfig config_;
  rtl::ArrayDriver driver_;
  std::string reproduce_;
  std::deque<Tile> tiles_;  // handed over, not finished
  uint64_t first_tile_ = 0;  // the number of tiles_.front()
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
  return configs;
}

std::unique_ptr<ArrayBackend> make_rtl_array(const ArrayGeometry& geometry,
                                             const NumberFormat& format,
                                             const RtlArrayOptions& options) {
  if (geometry.dataflow != Dataflow::kOutputStationary) {
    throw std::invalid_argument(
        std::string("the RTL array backend is output-stationary only: run the ") +
        dataflow_name(geometry.dataflow) + " array on the C++ array (--array cpp)");
  }
  const int acc = acc_bits(format);
  const bool bfp = !is_lbfp(format);
  if (!same_format(format, bfp ? NumberFormat(BfpFormat(8, acc))
                               : NumberFormat(LbfpFormat(8, 4, 8, acc)))) {
    throw std::invalid_argument("the RTL array is LBFP8 (W=8, F=4, P=8) or BFP8 (W=8), not " +
                                format_name(format));
  }
  const rtl::ArrayConfig vc = rtl::array_config_for(geometry.rows, geometry.cols,
                                                    geometry.pipe_stages, acc, bfp,
                                                    !options.trace.empty());
  const RtlArrayConfig c{{vc.rows, vc.cols, vc.pipe_stages}, config_format(vc),
                         config_name(vc)};
  rtl::DriverOptions driver;
  driver.rtl_cache = options.rtl_cache;
  driver.trace = options.trace;
  if (!options.trace_window.empty()) {
    driver.trace_window = rtl::parse_trace_window(options.trace_window, "--trace-window");
  }
  const std::string name = "rtl_array_" + c.name;
  driver.trace_name = name;
  return std::make_unique<RtlArray>(name.c_str(), vc, c, driver, options.reproduce);
}

}  // namespace lbfp::arch
