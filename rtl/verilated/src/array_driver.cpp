#include "lbfp/rtl/array_driver.h"

#include "Vbfp_array.h"
#include "Vlbfp_array.h"
#include "Vlbfp_array16.h"
#include "Vlbfp_array_a16.h"
#include "array_model.h"
#include "dynamic_model.h"
#include "static_model.h"

#include <cstdlib>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "lbfp/arch/array_timing.h"
#include "lbfp/rtl/ondemand.h"

namespace lbfp::rtl {
namespace {

const ArrayConfig kConfigs[] = {
    {ArrayKind::kLbfp8, "lbfp8", LBFP_RTL_LBFP8_ROWS, LBFP_RTL_LBFP8_COLS, LBFP_RTL_LBFP8_PIPE,
     LBFP_RTL_LBFP8_ACC, false, true},
    {ArrayKind::kBfp8, "bfp8", LBFP_RTL_BFP8_ROWS, LBFP_RTL_BFP8_COLS, LBFP_RTL_BFP8_PIPE,
     LBFP_RTL_BFP8_ACC, true, true},
    {ArrayKind::kLbfp8Narrow, "lbfp8-a16", LBFP_RTL_NARROW_ROWS, LBFP_RTL_NARROW_COLS,
     LBFP_RTL_NARROW_PIPE, LBFP_RTL_NARROW_ACC, false, false},
    {ArrayKind::kLbfp8Preset, "lbfp8", LBFP_RTL_PRESET_ROWS, LBFP_RTL_PRESET_COLS,
     LBFP_RTL_PRESET_PIPE, LBFP_RTL_PRESET_ACC, false, true},
};
constexpr size_t kTestConfigs = 3;  // the first three; the preset is last

constexpr int kCodeBits = 8;       // systolic_array's DataWidth
constexpr int kExpShiftBits = 12;  // systolic_array's ExpWidth
constexpr int kReadyGuard = 1000;  // cycles to wait for in_ready_o before a tile

// The limits of on-demand configurations (docs/cosim.md).
constexpr int kMaxOnDemandDim = 64;
constexpr int kMinAccBits = 16;
constexpr int kMaxAccBits = 62;
constexpr int kMaxPipeStages = 16;

}  // namespace

ArrayConfig array_config_for(int rows, int cols, int pipe_stages, int acc_bits, bool bfp,
                             bool traced) {
  for (const ArrayConfig& c : kConfigs) {
    if (c.rows == rows && c.cols == cols && c.pipe_stages == pipe_stages &&
        c.acc_bits == acc_bits && c.bfp == bfp && c.hold_zeros == (pipe_stages > 0) &&
        !(traced && c.kind == ArrayKind::kLbfp8Preset)) {
      return c;
    }
  }
  const auto out_of = [](const std::string& what, int value, int lo, int hi) {
    if (value < lo || value > hi) {
      throw std::invalid_argument("the RTL array is built for " + what + " in " +
                                  std::to_string(lo) + ".." + std::to_string(hi) + ", not " +
                                  std::to_string(value));
    }
  };
  out_of("rows", rows, 1, kMaxOnDemandDim);
  out_of("columns", cols, 1, kMaxOnDemandDim);
  out_of("pipeline stages", pipe_stages, 0, kMaxPipeStages);
  out_of("accumulator bits A", acc_bits, kMinAccBits, kMaxAccBits);
  ArrayConfig c;
  c.kind = ArrayKind::kOnDemand;
  c.name = bfp ? "bfp8" : "lbfp8";
  c.rows = rows;
  c.cols = cols;
  c.pipe_stages = pipe_stages;
  c.acc_bits = acc_bits;
  c.bfp = bfp;
  c.hold_zeros = pipe_stages > 0;
  return c;
}

TraceWindow parse_trace_window(const std::string& text, const std::string& option) {
  const size_t colon = text.find(':');
  const auto number = [&](const std::string& part, int64_t fallback) {
    if (part.empty()) return fallback;
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || v < 0) {
      throw std::invalid_argument(option + " " + text +
                                  ": expected FIRST:LAST cycles (non-negative; either may be "
                                  "left out)");
    }
    return v;
  };
  if (colon == std::string::npos) {
    throw std::invalid_argument(option + " " + text + ": expected FIRST:LAST cycles");
  }
  TraceWindow w;
  w.first = number(text.substr(0, colon), 0);
  w.last = number(text.substr(colon + 1), INT64_MAX);
  if (w.last < w.first) {
    throw std::invalid_argument(option + " " + text + ": the last cycle is before the first");
  }
  return w;
}

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
  Impl(const ArrayConfig& config, std::unique_ptr<ArrayModel> model, const DriverOptions& options)
      : config_(config), model_(std::move(model)), window_(options.trace_window) {
    std::string trace = options.trace;
    const char* dir = std::getenv("LBFP_RTL_FST");
    if (trace.empty() && dir != nullptr && *dir != '\0' && config_.kind != ArrayKind::kLbfp8Preset) {
      trace = std::string(dir) + "/" + options.trace_name + ".fst";
    }
    if (!trace.empty() && !model_->open_trace(trace)) {
      throw std::invalid_argument("the RTL array " + config_.name + " " +
                                  std::to_string(config_.rows) + "x" +
                                  std::to_string(config_.cols) +
                                  " was built without tracing: cannot write " + trace);
    }
    ArrayTop top(*model_);
    model_->set_dumping(window_.contains(0));
    top.clk_i = 0;
    top.rst_ni = 0;
    top.in_valid_i = 0;
    model_->eval();
    top.rst_ni = 1;
    model_->eval();
  }
  const ArrayConfig& config() const { return config_; }
  int64_t cycle() const { return cycle_; }

  void run_tile(const TileInput& tile, TileOutput& out,
                const std::function<void()>& on_cycle) {
    const int rows = config_.rows;
    const int cols = config_.cols;
    const int acc_bits = config_.acc_bits;
    if (tile.rows < 1 || tile.rows > rows || tile.cols < 1 || tile.cols > cols || tile.k < 1) {
      throw std::invalid_argument(
          "a " + std::to_string(tile.rows) + "x" + std::to_string(tile.cols) + " tile with K=" +
          std::to_string(tile.k) + " does not fit the " + std::to_string(rows) + "x" +
          std::to_string(cols) + " array");
    }
    ArrayTop top(*model_);
    const auto clock = [&] {  // the rising edge; inputs for the next cycle are set after it
      top.clk_i = 1;
      model_->eval();
      top.clk_i = 0;
      ++cycle_;
      model_->set_dumping(window_.contains(cycle_));
      if (on_cycle) on_cycle();
    };
    const auto n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
    out.acc.assign(n, 0);
    out.overflow.assign(n, 0);
    out.codes.assign(n, 0);
    out.row_seen.assign(static_cast<size_t>(rows), 0);
    out.row_cycle.assign(static_cast<size_t>(rows), -1);
    out.cycles = 0;
    out.errors.clear();

    // A tile starts in a cycle where the array is ready (after a drain it is at once).
    for (int waited = 0;; ++waited) {
      top.in_valid_i = 0;
      model_->eval();
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

    out.start_cycle = cycle_;
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
      model_->eval();
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
          out.row_cycle[static_cast<size_t>(r)] = cycle_;
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
  ArrayConfig config_;
  std::unique_ptr<ArrayModel> model_;
  TraceWindow window_;
  int64_t cycle_ = 0;
};

namespace {

std::unique_ptr<ArrayModel> make_model(const ArrayConfig& config, const DriverOptions& options) {
  switch (config.kind) {
    case ArrayKind::kLbfp8:
      return std::make_unique<StaticArrayModel<Vlbfp_array>>();
    case ArrayKind::kBfp8:
      return std::make_unique<StaticArrayModel<Vbfp_array>>();
    case ArrayKind::kLbfp8Narrow:
      return std::make_unique<StaticArrayModel<Vlbfp_array_a16>>();
    case ArrayKind::kLbfp8Preset:
      return std::make_unique<StaticArrayModel<Vlbfp_array16>>();
    case ArrayKind::kOnDemand:
      break;
  }
  const std::vector<std::string> parameters = {
      "NumRows=" + std::to_string(config.rows),
      "NumCols=" + std::to_string(config.cols),
      "PipeStages=" + std::to_string(config.pipe_stages),
      "AccWidth=" + std::to_string(config.acc_bits),
      "UseBfp=" + std::string(config.bfp ? "1" : "0"),
      "HoldZeros=1'b" + std::string(config.hold_zeros ? "1" : "0"),
  };
  const auto progress = options.progress ? options.progress : [](const std::string& line) {
    std::cerr << "lbfp: rtl: " << line << std::endl;
  };
  const OnDemandModel model = ensure_array_model(parameters, options.rtl_cache, progress);
  return load_dynamic_model(model.library);
}

}  // namespace

ArrayDriver::ArrayDriver(ArrayKind kind, const std::string& trace_name) {
  DriverOptions options;
  options.trace_name = trace_name;
  const ArrayConfig config = array_config(kind);
  impl_ = std::make_unique<Impl>(config, make_model(config, options), options);
}

ArrayDriver::ArrayDriver(const ArrayConfig& config, const DriverOptions& options)
    : impl_(std::make_unique<Impl>(config, make_model(config, options), options)) {}

ArrayDriver::~ArrayDriver() = default;

const ArrayConfig& ArrayDriver::config() const { return impl_->config(); }

int64_t ArrayDriver::cycle() const { return impl_->cycle(); }

void ArrayDriver::run_tile(const TileInput& tile, TileOutput& out,
                           const std::function<void()>& on_cycle) {
  impl_->run_tile(tile, out, on_cycle);
}

}  // namespace lbfp::rtl
