#include "lbfp/rtl/array_driver.h"

#include "Vbfp_array.h"
#include "Vlbfp_array.h"
#include "Vlbfp_array16.h"
#include "Vlbfp_array_a16.h"
#include "bench.h"
#include "verilated_bits.h"

#include <iterator>
#include <stdexcept>
#include <string>

#include "lbfp/arch/array_timing.h"

namespace lbfp::rtl {
namespace {

constexpr ArrayConfig kConfigs[] = {
    {ArrayKind::kLbfp8, "lbfp8", LBFP_RTL_LBFP8_ROWS, LBFP_RTL_LBFP8_COLS, LBFP_RTL_LBFP8_PIPE,
     LBFP_RTL_LBFP8_ACC, false},
    {ArrayKind::kBfp8, "bfp8", LBFP_RTL_BFP8_ROWS, LBFP_RTL_BFP8_COLS, LBFP_RTL_BFP8_PIPE,
     LBFP_RTL_BFP8_ACC, true},
    {ArrayKind::kLbfp8Narrow, "lbfp8-a16", LBFP_RTL_NARROW_ROWS, LBFP_RTL_NARROW_COLS,
     LBFP_RTL_NARROW_PIPE, LBFP_RTL_NARROW_ACC, false},
    {ArrayKind::kLbfp8Preset, "lbfp8", LBFP_RTL_PRESET_ROWS, LBFP_RTL_PRESET_COLS,
     LBFP_RTL_PRESET_PIPE, LBFP_RTL_PRESET_ACC, false},
};
constexpr size_t kTestConfigs = 3;  // the first three; the preset is last

constexpr int kCodeBits = 8;       // systolic_array's DataWidth
constexpr int kExpShiftBits = 12;  // systolic_array's ExpWidth
constexpr int kReadyGuard = 1000;  // cycles to wait for in_ready_o before a tile

}  // namespace

ArrayConfig array_config(ArrayKind kind) {
  for (const ArrayConfig& c : kConfigs) {
    if (c.kind == kind) return c;
  }
  throw std::invalid_argument("unknown array kind");
}

std::vector<ArrayConfig> array_configs() {
  return std::vector<ArrayConfig>(std::begin(kConfigs), std::begin(kConfigs) + kTestConfigs);
}

std::vector<ArrayConfig> verilated_array_configs() {
  return std::vector<ArrayConfig>(std::begin(kConfigs), std::end(kConfigs));
}

std::optional<ArrayKind> parse_array_kind(const std::string& name) {
  for (const ArrayConfig& c : array_configs()) {
    if (name == c.name) return c.kind;
  }
  return std::nullopt;
}

class ArrayDriver::Impl {
 public:
  explicit Impl(const ArrayConfig& config) : config_(config) {}
  virtual ~Impl() = default;
  const ArrayConfig& config() const { return config_; }
  virtual void run_tile(const TileInput& tile, TileOutput& out,
                        const std::function<void()>& on_cycle) = 0;

 protected:
  ArrayConfig config_;
};

namespace {

template <class Model>
class ArrayBench : public ArrayDriver::Impl {
 public:
  ArrayBench(const ArrayConfig& config, const std::string& trace_name)
      : Impl(config), bench_(trace_name) {
    Model& top = bench_.top();
    top.clk_i = 0;
    top.rst_ni = 0;
    top.in_valid_i = 0;
    bench_.eval();
    top.rst_ni = 1;
    bench_.eval();
  }

  void run_tile(const TileInput& tile, TileOutput& out,
                const std::function<void()>& on_cycle) override {
    const int rows = config_.rows;
    const int cols = config_.cols;
    const int acc_bits = config_.acc_bits;
    if (tile.rows < 1 || tile.rows > rows || tile.cols < 1 || tile.cols > cols || tile.k < 1) {
      throw std::invalid_argument(
          "a " + std::to_string(tile.rows) + "x" + std::to_string(tile.cols) + " tile with K=" +
          std::to_string(tile.k) + " does not fit the " + std::to_string(rows) + "x" +
          std::to_string(cols) + " array");
    }
    Model& top = bench_.top();
    const auto clock = [&] {  // the rising edge; inputs for the next cycle are set after it
      top.clk_i = 1;
      bench_.eval();
      top.clk_i = 0;
      if (on_cycle) on_cycle();
    };
    const auto n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
    out.acc.assign(n, 0);
    out.overflow.assign(n, 0);
    out.codes.assign(n, 0);
    out.row_seen.assign(static_cast<size_t>(rows), 0);
    out.cycles = 0;
    out.errors.clear();

    // A tile starts in a cycle where the array is ready (after a drain it is at once).
    for (int waited = 0;; ++waited) {
      top.in_valid_i = 0;
      bench_.eval();
      if (top.in_ready_o) break;
      if (waited == kReadyGuard) {
        out.errors.push_back("in_ready_o low for " + std::to_string(kReadyGuard) +
                             " cycles before the tile");
        return;
      }
      clock();
    }
    for (int c = 0; c < cols; ++c) {
      const bool used = c < tile.cols;
      const int shift = used && tile.exp_shift != nullptr ? tile.exp_shift[c] : 0;
      vl::put_bits(top.exp_shift_i, c * kExpShiftBits, kExpShiftBits,
                   static_cast<uint64_t>(shift));
      const int64_t bias = used && tile.bias != nullptr ? tile.bias[c] : 0;
      vl::put_bits(top.bias_i, c * acc_bits, acc_bits, static_cast<uint64_t>(bias));
    }
    top.relu_i = tile.relu ? 1 : 0;

    const arch::ArrayGeometry geometry{rows, cols, config_.pipe_stages};
    const int64_t limit = 2 * arch::array_tile_cycles(geometry, tile.k) + 64;
    int rows_seen = 0;
    int expected_row = rows - 1;  // rows come out last first
    for (int64_t t = 0; rows_seen < rows && t < limit; ++t) {
      const bool feeding = t < tile.k;
      top.in_valid_i = feeding ? 1 : 0;
      top.in_first_i = feeding && t == 0 ? 1 : 0;
      top.in_last_i = feeding && t == tile.k - 1 ? 1 : 0;
      for (int r = 0; r < rows; ++r) {
        const Code a = feeding && r < tile.rows
                           ? tile.a[static_cast<size_t>(r) * tile.lda + static_cast<size_t>(t)]
                           : Code{0};
        vl::put_bits(top.a_i, r * kCodeBits, kCodeBits, a);
      }
      for (int c = 0; c < cols; ++c) {
        const Code b = feeding && c < tile.cols
                           ? tile.b[static_cast<size_t>(t) * tile.ldb + static_cast<size_t>(c)]
                           : Code{0};
        vl::put_bits(top.b_i, c * kCodeBits, kCodeBits, b);
      }
      bench_.eval();
      if (feeding && !top.in_ready_o) {
        out.errors.push_back("in_ready_o low while fed at k=" + std::to_string(t));
      }
      if (top.out_valid_o) {
        const int r = static_cast<int>(top.out_row_o);
        if (r != expected_row || r >= rows || out.row_seen[static_cast<size_t>(r)]) {
          out.errors.push_back("result row " + std::to_string(r) +
                               " out of order (expected row " + std::to_string(expected_row) +
                               ")");
        }
        --expected_row;
        ++rows_seen;
        out.cycles = t + 1;
        if (r < rows) {
          out.row_seen[static_cast<size_t>(r)] = 1;
          for (int c = 0; c < cols; ++c) {
            const auto i = static_cast<size_t>(r) * static_cast<size_t>(cols) +
                           static_cast<size_t>(c);
            out.acc[i] = vl::sign_extend(vl::get_bits(top.out_acc_o, c * acc_bits, acc_bits),
                                         acc_bits);
            out.overflow[i] = static_cast<uint8_t>(vl::get_bits(top.out_ovf_o, c, 1));
            out.codes[i] =
                static_cast<Code>(vl::get_bits(top.out_code_o, c * kCodeBits, kCodeBits));
          }
        }
      }
      clock();
    }
    if (rows_seen < rows) {
      out.errors.push_back("produced " + std::to_string(rows_seen) + " of " +
                           std::to_string(rows) + " result rows within " +
                           std::to_string(limit) + " cycles");
    }
  }

 private:
  Bench<Model> bench_;
};

}  // namespace

ArrayDriver::ArrayDriver(ArrayKind kind, const std::string& trace_name) {
  const ArrayConfig config = array_config(kind);
  switch (kind) {
    case ArrayKind::kLbfp8:
      impl_ = std::make_unique<ArrayBench<Vlbfp_array>>(config, trace_name);
      break;
    case ArrayKind::kBfp8:
      impl_ = std::make_unique<ArrayBench<Vbfp_array>>(config, trace_name);
      break;
    case ArrayKind::kLbfp8Narrow:
      impl_ = std::make_unique<ArrayBench<Vlbfp_array_a16>>(config, trace_name);
      break;
    case ArrayKind::kLbfp8Preset:
      impl_ = std::make_unique<ArrayBench<Vlbfp_array16>>(config, trace_name);
      break;
  }
}

ArrayDriver::~ArrayDriver() = default;

const ArrayConfig& ArrayDriver::config() const { return impl_->config(); }

void ArrayDriver::run_tile(const TileInput& tile, TileOutput& out,
                           const std::function<void()>& on_cycle) {
  impl_->run_tile(tile, out, on_cycle);
}

}  // namespace lbfp::rtl
