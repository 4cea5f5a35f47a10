#include "lbfp/rtl/array_driver.h"

#include "Vbfp_array.h"
#include "Vlbfp_array.h"
#include "Vlbfp_array16.h"
#include "Vlbfp_array_a16.h"
#include "array_model.h"
#include "dynamic_model.h"
#include "static_model.h"

#include <cstdlib>
#include <deque>
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
    if (trace.empty() && dir != nullptr && *dir != '\0' &&
        config_.kind != ArrayKind::kLbfp8Preset) {
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
    // A falling edge of rst_ni (the first evaluation sees no edge), so that every register
    // takes its reset value, not only those that reset to zero.
    top.clk_i = 0;
    top.rst_ni = 1;
    top.in_valid_i = 0;
    top.init_valid_i = 0;
    model_->eval();
    top.rst_ni = 0;
    model_->eval();
    top.rst_ni = 1;
    model_->eval();
  }
  const ArrayConfig& config() const { return config_; }
  int64_t cycle() const { return cycle_; }

  uint64_t push_tile(const TileInput& tile) {
    const int rows = config_.rows;
    const int cols = config_.cols;
    if (tile.rows < 1 || tile.rows > rows || tile.cols < 1 || tile.cols > cols || tile.k < 1) {
      throw std::invalid_argument(
          "a " + std::to_string(tile.rows) + "x" + std::to_string(tile.cols) + " tile with K=" +
          std::to_string(tile.k) + " does not fit the " + std::to_string(rows) + "x" +
          std::to_string(cols) + " array");
    }
    Queued q;
    q.id = next_id_++;
    q.k = tile.k;
    const auto r_count = static_cast<size_t>(rows);
    const auto c_count = static_cast<size_t>(cols);
    const auto k = static_cast<size_t>(tile.k);
    // Operands padded to the whole array, step-major: a[t][r], b[t][c].
    q.a.assign(k * r_count, 0);
    q.b.assign(k * c_count, 0);
    for (size_t t = 0; t < k; ++t) {
      for (int r = 0; r < tile.rows; ++r) {
        q.a[t * r_count + static_cast<size_t>(r)] = tile.a[static_cast<size_t>(r) * tile.lda + t];
      }
      for (int c = 0; c < tile.cols; ++c) {
        q.b[t * c_count + static_cast<size_t>(c)] = tile.b[t * tile.ldb + static_cast<size_t>(c)];
      }
    }
    q.exp_shift.assign(c_count, 0);
    q.init_acc.assign(r_count * c_count, 0);
    q.init_ovf.assign(r_count * c_count, 0);
    for (int c = 0; c < tile.cols; ++c) {
      q.exp_shift[static_cast<size_t>(c)] = tile.exp_shift != nullptr ? tile.exp_shift[c] : 0;
      for (int r = 0; r < rows; ++r) {
        const auto i = static_cast<size_t>(r) * c_count + static_cast<size_t>(c);
        if (tile.init_acc != nullptr) {
          if (r >= tile.rows) continue;
          const auto j = static_cast<size_t>(r * tile.cols + c);
          q.init_acc[i] = tile.init_acc[j];
          q.init_ovf[i] = tile.init_ovf != nullptr && tile.init_ovf[j] != 0 ? 1 : 0;
        } else if (tile.bias != nullptr) {
          q.init_acc[i] = tile.bias[c];
        }
      }
    }
    q.relu = tile.relu;
    q.out.acc.assign(r_count * c_count, 0);
    q.out.overflow.assign(r_count * c_count, 0);
    q.out.codes.assign(r_count * c_count, 0);
    q.out.row_seen.assign(r_count, 0);
    q.out.row_cycle.assign(r_count, -1);
    q.out.handed = cycle_;
    tiles_.push_back(std::move(q));
    return tiles_.back().id;
  }

  bool busy() const { return !tiles_.empty(); }
  const std::vector<uint64_t>& released() const { return released_; }
  std::vector<std::pair<uint64_t, TileOutput>> take_finished() {
    std::vector<std::pair<uint64_t, TileOutput>> done;
    done.swap(finished_);
    return done;
  }
  bool first_taken(uint64_t id, int64_t* cycle) const {
    for (const Queued& q : tiles_) {
      if (q.id == id) {
        if (q.steps == 0) return false;
        *cycle = q.out.first;
        return true;
      }
    }
    if (id >= next_id_) return false;
    *cycle = first_of_retired_;  // only asked for the newest tiles; see run_tile in rtl_array
    return id < next_id_;
  }

  void clock(const std::function<void()>& on_cycle) {
    const int rows = config_.rows;
    const int cols = config_.cols;
    const int acc_bits = config_.acc_bits;
    ArrayTop top(*model_);
    released_.clear();

    // Inputs of this cycle.
    Queued* pre = preloading();
    top.init_valid_i = pre != nullptr ? 1 : 0;
    for (int c = 0; c < cols; ++c) {
      const size_t i = pre != nullptr ? static_cast<size_t>(pre->preloaded * cols + c) : 0;
      vl::put_bits(top.init_acc_i, c * acc_bits, acc_bits,
                   static_cast<uint64_t>(pre != nullptr ? pre->init_acc[i] : 0));
      vl::put_bits(top.init_ovf_i, c, 1, pre != nullptr ? pre->init_ovf[i] : 0u);
    }
    Queued* feed = feeding();
    const int64_t t = feed != nullptr ? feed->steps : 0;
    top.in_valid_i = feed != nullptr ? 1 : 0;
    top.in_first_i = feed != nullptr && t == 0 ? 1 : 0;
    top.in_last_i = feed != nullptr && t == feed->k - 1 ? 1 : 0;
    for (int r = 0; r < rows; ++r) {
      const Code a = feed != nullptr ? feed->a[static_cast<size_t>(t * rows + r)] : Code{0};
      vl::put_bits(top.a_i, r * kCodeBits, kCodeBits, a);
    }
    for (int c = 0; c < cols; ++c) {
      const Code b = feed != nullptr ? feed->b[static_cast<size_t>(t * cols + c)] : Code{0};
      vl::put_bits(top.b_i, c * kCodeBits, kCodeBits, b);
      const int shift = feed != nullptr ? feed->exp_shift[static_cast<size_t>(c)] : 0;
      vl::put_bits(top.exp_shift_i, c * kExpShiftBits, kExpShiftBits,
                   static_cast<uint64_t>(shift));
    }
    top.relu_i = feed != nullptr && feed->relu ? 1 : 0;
    model_->eval();
    const bool preload_taken = pre != nullptr && top.init_ready_o;
    const bool step_taken = feed != nullptr && top.in_ready_o;

    // The outputs of this cycle: a row of the oldest unfinished tile.
    if (top.out_valid_o) {
      const int r = static_cast<int>(top.out_row_o);
      if (tiles_.empty()) {
        stray_row(r);
      } else {
        Queued& q = tiles_.front();
        if (r != q.rows_out || r >= rows) {
          q.out.errors.push_back("result row " + std::to_string(r) +
                                 " out of order (expected row " +
                                 std::to_string(q.rows_out) + ")");
        }
        if (r < rows) {
          q.out.row_seen[static_cast<size_t>(r)] = 1;
          q.out.row_cycle[static_cast<size_t>(r)] = cycle_;
          for (int c = 0; c < cols; ++c) {
            const auto i = static_cast<size_t>(r) * static_cast<size_t>(cols) +
                           static_cast<size_t>(c);
            q.out.acc[i] = vl::sign_extend(vl::get_bits(top.out_acc_o, c * acc_bits, acc_bits),
                                           acc_bits);
            q.out.overflow[i] = static_cast<uint8_t>(vl::get_bits(top.out_ovf_o, c, 1));
            q.out.codes[i] =
                static_cast<Code>(vl::get_bits(top.out_code_o, c * kCodeBits, kCodeBits));
          }
        }
        if (++q.rows_out == rows) {
          q.out.end = cycle_;
          q.out.cycles = q.out.end - q.out.handed + 1;
          if (q.steps < q.k) q.out.errors.push_back("results before the last operand step");
          first_of_retired_ = q.out.first;
          finished_.emplace_back(q.id, std::move(q.out));
          tiles_.pop_front();
        }
      }
    }
    // What the array took in this cycle (the tiles are still queued: a tile's rows leave
    // long after its steps).
    if (preload_taken) {
      if (pre->preloaded == 0) pre->out.preload = cycle_;
      ++pre->preloaded;
    }
    if (step_taken) {
      if (feed->steps == 0) feed->out.first = cycle_;
      if (++feed->steps == feed->k) {
        feed->out.last = cycle_;
        released_.push_back(feed->id);
      }
    }

    top.clk_i = 1;
    model_->eval();
    top.clk_i = 0;
    ++cycle_;
    model_->set_dumping(window_.contains(cycle_));
    if (on_cycle) on_cycle();
  }

 private:
  struct Queued {
    uint64_t id = 0;
    int64_t k = 0;
    std::vector<Code> a, b;
    std::vector<int> exp_shift;
    std::vector<int64_t> init_acc;
    std::vector<uint8_t> init_ovf;
    bool relu = false;
    int preloaded = 0;  // rows taken
    int64_t steps = 0;  // steps taken
    int rows_out = 0;
    TileOutput out;
  };
  // The tile whose preload rows, operand steps and result rows are due next.
  Queued* preloading() {
    for (Queued& q : tiles_) {
      if (q.preloaded < config_.rows) return &q;
    }
    return nullptr;
  }
  Queued* feeding() {
    for (Queued& q : tiles_) {
      if (q.steps < q.k) return &q;
    }
    return nullptr;
  }

  void stray_row(int r) {
    TileOutput out;
    out.errors.push_back("result row " + std::to_string(r) + " with no tile in flight");
    finished_.emplace_back(next_id_, std::move(out));
  }

  ArrayConfig config_;
  std::unique_ptr<ArrayModel> model_;
  TraceWindow window_;
  std::deque<Queued> tiles_;  // queued and not finished, in order
  uint64_t next_id_ = 0;
  int64_t cycle_ = 0;
  int64_t first_of_retired_ = 0;
  std::vector<uint64_t> released_;
  std::vector<std::pair<uint64_t, TileOutput>> finished_;
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
uint64_t ArrayDriver::push_tile(const TileInput& tile) { return impl_->push_tile(tile); }
void ArrayDriver::clock(const std::function<void()>& on_cycle) { impl_->clock(on_cycle); }
bool ArrayDriver::busy() const { return impl_->busy(); }
const std::vector<uint64_t>& ArrayDriver::released() const { return impl_->released(); }
std::vector<std::pair<uint64_t, TileOutput>> ArrayDriver::take_finished() {
  return impl_->take_finished();
}
bool ArrayDriver::first_taken(uint64_t id, int64_t* cycle) const {
  return impl_->first_taken(id, cycle);
}

void ArrayDriver::run_tile(const TileInput& tile, TileOutput& out,
                           const std::function<void()>& on_cycle) {
  for (int waited = 0; busy(); ++waited) {
    if (waited == kReadyGuard) {
      out = TileOutput();
      out.errors.push_back("the array did not finish its earlier tiles");
      return;
    }
    clock(on_cycle);
  }
  take_finished();
  const uint64_t id = push_tile(tile);
  const ArrayConfig& c = config();
  const arch::ArrayGeometry geometry{c.rows, c.cols, c.pipe_stages};
  const int64_t limit = 2 * arch::array_tile_cycles(geometry, tile.k) + 64;
  for (int64_t t = 0; busy() && t < limit; ++t) clock(on_cycle);
  for (auto& [done, result] : take_finished()) {
    if (done == id) {
      out = std::move(result);
      return;
    }
  }
  out = TileOutput();
  out.errors.push_back("the tile did not finish within " + std::to_string(limit) + " cycles");
}

}  // namespace lbfp::rtl
