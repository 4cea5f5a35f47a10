#include "lbfp/rtl/ws_array_driver.h"

#include <cstdlib>
#include <deque>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "Vbfp_ws_array.h"
#include "Vlbfp_ws_array.h"
#include "Vlbfp_ws_array_a16.h"
#include "dynamic_model.h"
#include "lbfp/arch/array_timing.h"
#include "lbfp/rtl/ondemand.h"
#include "ws_array_model.h"

namespace lbfp::rtl {
namespace {

const WsArrayConfig kWsConfigs[] = {
    {WsArrayKind::kLbfp8, "lbfp8", LBFP_RTL_WS_LBFP8_ROWS, LBFP_RTL_WS_LBFP8_COLS,
     LBFP_RTL_WS_LBFP8_PIPE, LBFP_RTL_WS_LBFP8_ACC, false, true},
    {WsArrayKind::kBfp8, "bfp8", LBFP_RTL_WS_BFP8_ROWS, LBFP_RTL_WS_BFP8_COLS,
     LBFP_RTL_WS_BFP8_PIPE, LBFP_RTL_WS_BFP8_ACC, true, true},
    {WsArrayKind::kLbfp8Narrow, "lbfp8-a16", LBFP_RTL_WS_NARROW_ROWS, LBFP_RTL_WS_NARROW_COLS,
     LBFP_RTL_WS_NARROW_PIPE, LBFP_RTL_WS_NARROW_ACC, false, false},
};

constexpr int kCodeBits = 8;       // systolic_array_ws's DataWidth
constexpr int kExpShiftBits = 12;  // systolic_array_ws's ExpWidth
constexpr int kIdleGuard = 1000;   // cycles to wait for earlier folds before run_fold's

std::unique_ptr<WsArrayModel> make_ws_model(const WsArrayConfig& config,
                                            const DriverOptions& options) {
  switch (config.kind) {
    case WsArrayKind::kLbfp8:
      return std::make_unique<StaticWsArrayModel<Vlbfp_ws_array>>();
    case WsArrayKind::kBfp8:
      return std::make_unique<StaticWsArrayModel<Vbfp_ws_array>>();
    case WsArrayKind::kLbfp8Narrow:
      return std::make_unique<StaticWsArrayModel<Vlbfp_ws_array_a16>>();
    case WsArrayKind::kOnDemand:
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
  const OnDemandModel model = ensure_array_model(parameters, options.rtl_cache, progress,
                                                 OnDemandTop::kWeightStationary);
  return load_dynamic_ws_model(model.library);
}

}  // namespace

WsArrayConfig ws_array_config(WsArrayKind kind) {
  for (const WsArrayConfig& c : kWsConfigs) {
    if (c.kind == kind) return c;
  }
  throw std::invalid_argument("unknown weight-stationary array kind");
}

WsArrayConfig ws_array_config_for(int rows, int cols, int pipe_stages, int acc_bits, bool bfp) {
  for (const WsArrayConfig& c : kWsConfigs) {
    if (c.rows == rows && c.cols == cols && c.pipe_stages == pipe_stages &&
        c.acc_bits == acc_bits && c.bfp == bfp && c.hold_zeros == (pipe_stages > 0)) {
      return c;
    }
  }
  // The same limits as the output-stationary array's (the same PEs, parameters and builds).
  const ArrayConfig os = array_config_for(rows, cols, pipe_stages, acc_bits, bfp);
  WsArrayConfig c;
  c.kind = WsArrayKind::kOnDemand;
  c.name = os.name;
  c.rows = rows;
  c.cols = cols;
  c.pipe_stages = pipe_stages;
  c.acc_bits = acc_bits;
  c.bfp = bfp;
  c.hold_zeros = os.hold_zeros;
  return c;
}

std::vector<WsArrayConfig> ws_array_configs() {
  return std::vector<WsArrayConfig>(std::begin(kWsConfigs), std::end(kWsConfigs));
}

std::optional<WsArrayKind> parse_ws_array_kind(const std::string& name) {
  for (const WsArrayConfig& c : kWsConfigs) {
    if (name == c.name) return c.kind;
  }
  return std::nullopt;
}

class WsArrayDriver::Impl {
 public:
  Impl(const WsArrayConfig& config, const DriverOptions& options)
      : config_(config),
        model_(make_ws_model(config, options)),
        window_(options.trace_window) {
    std::string trace = options.trace;
    const char* dir = std::getenv("LBFP_RTL_FST");
    if (trace.empty() && dir != nullptr && *dir != '\0' && !options.trace_name.empty()) {
      trace = std::string(dir) + "/" + options.trace_name + ".fst";
    }
    if (!trace.empty() && !model_->open_trace(trace)) {
      throw std::invalid_argument("the weight-stationary RTL array " + config_.name +
                                  " was built without tracing: cannot write " + trace);
    }
    model_->set_dumping(window_.contains(0));
    // A falling edge of rst_ni (the first evaluation sees no edge), so that every register
    // takes its reset value.
    set(WsPort::clk_i, 0);
    set(WsPort::rst_ni, 1);
    set(WsPort::in_valid_i, 0);
    set(WsPort::w_valid_i, 0);
    model_->eval();
    set(WsPort::rst_ni, 0);
    model_->eval();
    set(WsPort::rst_ni, 1);
    model_->eval();
  }

  const WsArrayConfig& config() const { return config_; }
  int64_t cycle() const { return cycle_; }
  bool busy() const { return !folds_.empty(); }
  const std::vector<uint64_t>& released() const { return released_; }
  bool first_taken(uint64_t id, int64_t* cycle) const {
    for (const Queued& q : folds_) {
      if (q.id == id) {
        if (q.taken == 0) return false;
        *cycle = q.out.first;
        return true;
      }
    }
    if (id >= next_id_) return false;
    *cycle = first_of_retired_;
    return true;
  }

  uint64_t push_fold(const FoldInput& f) {
    const int rows = config_.rows;
    const int cols = config_.cols;
    if (f.rows < 1 || f.rows > rows || f.cols < 1 || f.cols > cols || f.steps < 1) {
      throw std::invalid_argument("a fold of " + std::to_string(f.rows) + "x" +
                                  std::to_string(f.cols) + " stationary codes and " +
                                  std::to_string(f.steps) + " steps does not fit the " +
                                  std::to_string(rows) + "x" + std::to_string(cols) + " array");
    }
    const auto r_count = static_cast<size_t>(rows);
    const auto c_count = static_cast<size_t>(cols);
    const auto steps = static_cast<size_t>(f.steps);
    Queued q;
    q.id = next_id_++;
    q.steps = f.steps;
    q.relu = f.relu;
    q.w.assign(r_count * c_count, 0);
    for (size_t r = 0; r < static_cast<size_t>(f.rows); ++r) {
      for (size_t c = 0; c < static_cast<size_t>(f.cols); ++c) {
        q.w[r * c_count + c] = f.w[r * f.ldw + c];
      }
    }
    q.a.assign(steps * r_count, 0);
    q.init_acc.assign(steps * c_count, 0);
    q.init_ovf.assign(steps * c_count, 0);
    q.step_shift.assign(steps, 0);
    for (size_t m = 0; m < steps; ++m) {
      for (size_t r = 0; r < static_cast<size_t>(f.rows); ++r)
        q.a[m * r_count + r] = f.a[m * f.lda + r];
      for (size_t c = 0; c < static_cast<size_t>(f.cols); ++c) {
        if (f.init_acc != nullptr) q.init_acc[m * c_count + c] = f.init_acc[m * f.ld_init + c];
        if (f.init_ovf != nullptr) q.init_ovf[m * c_count + c] = f.init_ovf[m * f.ld_init + c];
      }
      if (f.step_shift != nullptr) q.step_shift[m] = f.step_shift[m];
    }
    q.exp_shift.assign(c_count, 0);
    for (size_t c = 0; c < static_cast<size_t>(f.cols); ++c) {
      if (f.exp_shift != nullptr) q.exp_shift[c] = f.exp_shift[c];
    }
    q.out.acc.assign(steps * c_count, 0);
    q.out.overflow.assign(steps * c_count, 0);
    q.out.codes.assign(steps * c_count, 0);
    q.out.step_cycle.assign(steps, -1);
    q.out.handed = cycle_;
    folds_.push_back(std::move(q));
    return folds_.back().id;
  }

  void clock() {
    const int rows = config_.rows;
    const int cols = config_.cols;
    const int acc_bits = config_.acc_bits;
    released_.clear();

    // Inputs of this cycle: the next weight row, the next step.
    Queued* pre = preloading();
    set(WsPort::w_valid_i, pre != nullptr ? 1 : 0);
    for (int c = 0; c < cols; ++c) {
      const Code w =
          pre != nullptr ? pre->w[static_cast<size_t>(pre->preloaded * cols + c)] : Code{0};
      model_->set_bits(WsPort::w_i, c * kCodeBits, kCodeBits, w);
    }
    Queued* feed = feeding();
    const auto m = static_cast<size_t>(feed != nullptr ? feed->taken : 0);
    set(WsPort::in_valid_i, feed != nullptr ? 1 : 0);
    set(WsPort::in_first_i, feed != nullptr && m == 0 ? 1 : 0);
    set(WsPort::in_last_i, feed != nullptr && static_cast<int64_t>(m) == feed->steps - 1 ? 1 : 0);
    for (int r = 0; r < rows; ++r) {
      const Code a = feed != nullptr
                         ? feed->a[m * static_cast<size_t>(rows) + static_cast<size_t>(r)]
                         : Code{0};
      model_->set_bits(WsPort::a_i, r * kCodeBits, kCodeBits, a);
    }
    for (int c = 0; c < cols; ++c) {
      const size_t i = m * static_cast<size_t>(cols) + static_cast<size_t>(c);
      model_->set_bits(WsPort::init_acc_i, c * acc_bits, acc_bits,
                       static_cast<uint64_t>(feed != nullptr ? feed->init_acc[i] : 0));
      model_->set_bits(WsPort::init_ovf_i, c, 1, feed != nullptr ? feed->init_ovf[i] : 0u);
      const int shift = feed != nullptr ? feed->exp_shift[static_cast<size_t>(c)] : 0;
      model_->set_bits(WsPort::exp_shift_i, c * kExpShiftBits, kExpShiftBits,
                       static_cast<uint64_t>(shift));
    }
    set(WsPort::step_shift_i, static_cast<uint64_t>(feed != nullptr ? feed->step_shift[m] : 0) &
                                  ((uint64_t{1} << kExpShiftBits) - 1));
    set(WsPort::relu_i, feed != nullptr && feed->relu ? 1 : 0);
    model_->eval();
    const bool weight_taken = pre != nullptr && get(WsPort::w_ready_o) != 0;
    const bool step_taken = feed != nullptr && get(WsPort::in_ready_o) != 0;

    // The outputs of this cycle: the next row of the oldest unfinished fold.
    if (get(WsPort::out_valid_o) != 0) {
      const bool last = get(WsPort::out_last_o) != 0;
      if (folds_.empty()) {
        FoldOutput stray;
        stray.errors.push_back("an output row with no fold in flight");
        finished_.emplace_back(next_id_, std::move(stray));
      } else {
        Queued& q = folds_.front();
        const auto row = static_cast<size_t>(q.rows_out);
        q.out.step_cycle[row] = cycle_;
        for (int c = 0; c < cols; ++c) {
          const size_t i = row * static_cast<size_t>(cols) + static_cast<size_t>(c);
          q.out.acc[i] = vl::sign_extend(
              model_->get_bits(WsPort::out_acc_o, c * acc_bits, acc_bits), acc_bits);
          q.out.overflow[i] = static_cast<uint8_t>(model_->get_bits(WsPort::out_ovf_o, c, 1));
          q.out.codes[i] =
              static_cast<Code>(model_->get_bits(WsPort::out_code_o, c * kCodeBits, kCodeBits));
        }
        ++q.rows_out;
        if (q.rows_out > q.taken) q.out.errors.push_back("an output row before its step");
        if (last != (q.rows_out == q.steps)) {
          q.out.errors.push_back("out_last_o " + std::to_string(last) + " on output row " +
                                 std::to_string(row) + " of " + std::to_string(q.steps));
        }
        if (q.rows_out == q.steps) {
          q.out.end = cycle_;
          q.out.cycles = q.out.end - q.out.handed + 1;
          first_of_retired_ = q.out.first;
          finished_.emplace_back(q.id, std::move(q.out));
          folds_.pop_front();
        }
      }
    }
    if (weight_taken) {
      if (pre->preloaded == 0) pre->out.preload = cycle_;
      ++pre->preloaded;
    }
    if (step_taken) {
      if (feed->taken == 0) feed->out.first = cycle_;
      if (++feed->taken == feed->steps) {
        feed->out.last = cycle_;
        released_.push_back(feed->id);
      }
    }

    set(WsPort::clk_i, 1);
    model_->eval();
    set(WsPort::clk_i, 0);
    ++cycle_;
    model_->set_dumping(window_.contains(cycle_));
  }

  std::vector<std::pair<uint64_t, FoldOutput>> take_finished() {
    std::vector<std::pair<uint64_t, FoldOutput>> out;
    out.swap(finished_);
    return out;
  }

 private:
  struct Queued {
    uint64_t id = 0;
    int64_t steps = 0;
    std::vector<Code> w, a;  // w[r][c], a[m][r]
    std::vector<int64_t> init_acc;
    std::vector<uint8_t> init_ovf;
    std::vector<int> exp_shift, step_shift;
    bool relu = false;
    int preloaded = 0;  // weight rows taken
    int64_t taken = 0;  // steps taken
    int64_t rows_out = 0;
    FoldOutput out;
  };
  Queued* preloading() {
    for (Queued& q : folds_) {
      if (q.preloaded < config_.rows) return &q;
    }
    return nullptr;
  }
  Queued* feeding() {
    for (Queued& q : folds_) {
      if (q.taken < q.steps) return &q;
    }
    return nullptr;
  }
  void set(WsPort port, uint64_t value) { model_->set_bits(port, 0, 64, value); }
  uint64_t get(WsPort port) { return model_->get_bits(port, 0, 64); }

  WsArrayConfig config_;
  std::unique_ptr<WsArrayModel> model_;
  TraceWindow window_;
  std::deque<Queued> folds_;  // queued and not finished, in order
  uint64_t next_id_ = 0;
  int64_t cycle_ = 0;
  int64_t first_of_retired_ = 0;  // the first step of the last fold to finish
  std::vector<uint64_t> released_;
  std::vector<std::pair<uint64_t, FoldOutput>> finished_;
};

WsArrayDriver::WsArrayDriver(WsArrayKind kind, const DriverOptions& options)
    : impl_(std::make_unique<Impl>(ws_array_config(kind), options)) {}
WsArrayDriver::WsArrayDriver(const WsArrayConfig& config, const DriverOptions& options)
    : impl_(std::make_unique<Impl>(config, options)) {}
WsArrayDriver::~WsArrayDriver() = default;
const WsArrayConfig& WsArrayDriver::config() const { return impl_->config(); }
int64_t WsArrayDriver::cycle() const { return impl_->cycle(); }
uint64_t WsArrayDriver::push_fold(const FoldInput& fold) { return impl_->push_fold(fold); }
void WsArrayDriver::clock() { impl_->clock(); }
bool WsArrayDriver::busy() const { return impl_->busy(); }
const std::vector<uint64_t>& WsArrayDriver::released() const { return impl_->released(); }
bool WsArrayDriver::first_taken(uint64_t id, int64_t* cycle) const {
  return impl_->first_taken(id, cycle);
}
std::vector<std::pair<uint64_t, FoldOutput>> WsArrayDriver::take_finished() {
  return impl_->take_finished();
}

void WsArrayDriver::run_fold(const FoldInput& fold, FoldOutput& out) {
  for (int waited = 0; busy(); ++waited) {
    if (waited == kIdleGuard) {
      out = FoldOutput();
      out.errors.push_back("the array did not finish its earlier folds");
      return;
    }
    clock();
  }
  take_finished();
  const uint64_t id = push_fold(fold);
  const WsArrayConfig& c = config();
  const arch::ArrayGeometry geometry{c.rows, c.cols, c.pipe_stages,
                                     arch::Dataflow::kWeightStationary};
  const int64_t limit = 2 * arch::array_tile_cycles(geometry, fold.steps) + 64;
  for (int64_t t = 0; busy() && t < limit; ++t) clock();
  for (auto& [done, result] : take_finished()) {
    if (done == id) {
      out = std::move(result);
      return;
    }
  }
  out = FoldOutput();
  out.errors.push_back("the fold did not finish within " + std::to_string(limit) + " cycles");
}

}  // namespace lbfp::rtl
