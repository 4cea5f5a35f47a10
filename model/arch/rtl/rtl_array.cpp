// The Verilated models are plain C++ (not --sc): their headers come before SystemC's, since
// verilated.h takes its time from sc_time_stamp() when it sees SystemC already included.
#include "Vbfp_array.h"
#include "Vlbfp_array.h"
#include "Vlbfp_array16.h"
#include "Vlbfp_array_a16.h"
#include "verilated_bits.h"

#include <memory>
#include <stdexcept>
#include <string>

#include <systemc>

#include "lbfp/arch/rtl_array.h"

namespace lbfp::arch {
namespace {

constexpr int kExpShiftBits = 12;  // systolic_array's ExpWidth

// One Verilated array configuration, clocked by the calling SystemC thread.
template <class Model>
class RtlArray : public sc_core::sc_module, public ArrayBackend {
 public:
  RtlArray(sc_core::sc_module_name name, const RtlArrayConfig& config)
      : sc_module(name),
        config_(config),
        context_(std::make_unique<VerilatedContext>()),
        top_(std::make_unique<Model>(context_.get(), "array")) {
    top_->clk_i = 0;
    top_->rst_ni = 0;
    top_->in_valid_i = 0;
    top_->eval();
    top_->rst_ni = 1;
    top_->eval();
  }
  ~RtlArray() override { top_->final(); }

  std::string name() const override { return "rtl " + config_.name; }
  const ArrayGeometry& geometry() const override { return config_.geometry; }
  bool counts_overflow_steps() const override { return false; }
  const TileResult& result() const override { return result_; }
  ArrayActivity activity() const override { return activity_; }

  int64_t run_tile(const TileJob& job, const std::function<void(int64_t)>& tick) override {
    const ArrayGeometry& g = config_.geometry;
    const int acc_width = acc_bits(config_.format);
    const int code_width = code_bits(config_.format);
    if (job.rows < 1 || job.rows > g.rows || job.cols < 1 || job.cols > g.cols || job.k < 1) {
      throw std::invalid_argument("tile does not fit the RTL array " + config_.name);
    }
    // The requantizer takes scale - Eo per column as a 12-bit two's-complement offset.
    for (int c = 0; c < g.cols; ++c) {
      int shift = 0;
      if (c < job.cols) {
        shift = product_scale(config_.format, job.a_exponent, job.b_exponents[c]) -
                job.out_exponent;
        if (shift < -(1 << (kExpShiftBits - 1)) || shift >= (1 << (kExpShiftBits - 1))) {
          throw std::invalid_argument("requantization offset " + std::to_string(shift) +
                                      " does not fit the RTL's 12-bit field");
        }
      }
      vl::put_bits(top_->exp_shift_i, c * kExpShiftBits, kExpShiftBits,
                   static_cast<uint64_t>(shift));
      // The bias enters each column's accumulators first, in accumulator units.
      int64_t bias = 0;
      if (c < job.cols && job.bias != nullptr) {
        bias = bias_to_accumulator(
            acc_width, job.bias[c],
            product_scale(config_.format, job.a_exponent, job.b_exponents[c]));
      }
      vl::put_bits(top_->bias_i, c * acc_width, acc_width, static_cast<uint64_t>(bias));
    }
    top_->relu_i = job.relu ? 1 : 0;
    const auto n = static_cast<size_t>(job.rows) * static_cast<size_t>(job.cols);
    result_.rows = job.rows;
    result_.cols = job.cols;
    result_.acc.assign(n, 0);
    result_.overflow.assign(n, 0);
    result_.overflow_steps.assign(n, 0);
    result_.codes.assign(n, 0);

    // A tile starts in a cycle where the array is ready (it is after the previous drain).
    top_->in_valid_i = 0;
    top_->eval();
    if (!top_->in_ready_o) throw std::logic_error("RTL array not ready for a new tile");

    int rows_seen = 0;
    int64_t cycles = 0;
    const int64_t limit = 2 * array_tile_cycles(g, job.k) + 64;
    for (int64_t t = 0; rows_seen < g.rows; ++t) {
      if (t > limit) throw std::runtime_error("RTL array produced no result within " +
                                              std::to_string(limit) + " cycles");
      const bool feeding = t < job.k;
      top_->in_valid_i = feeding ? 1 : 0;
      top_->in_first_i = feeding && t == 0 ? 1 : 0;
      top_->in_last_i = feeding && t == job.k - 1 ? 1 : 0;
      for (int r = 0; r < g.rows; ++r) {
        const Code a = feeding && r < job.rows
                           ? job.a[static_cast<size_t>(r) * job.lda + static_cast<size_t>(t)]
                           : Code{0};
        vl::put_bits(top_->a_i, r * code_width, code_width, a);
      }
      for (int c = 0; c < g.cols; ++c) {
        const Code b = feeding && c < job.cols
                           ? job.b[static_cast<size_t>(t) * job.ldb + static_cast<size_t>(c)]
                           : Code{0};
        vl::put_bits(top_->b_i, c * code_width, code_width, b);
      }
      top_->eval();
      if (top_->out_valid_o) {
        const int r = static_cast<int>(top_->out_row_o);
        ++rows_seen;
        cycles = t + 1;
        if (r < job.rows) {
          for (int c = 0; c < job.cols; ++c) {
            const auto i = static_cast<size_t>(r * job.cols + c);
            result_.acc[i] =
                vl::sign_extend(vl::get_bits(top_->out_acc_o, c * acc_width, acc_width), acc_width);
            result_.overflow[i] = static_cast<uint8_t>(vl::get_bits(top_->out_ovf_o, c, 1));
            result_.overflow_steps[i] = result_.overflow[i];  // the RTL keeps a flag only
            if (is_lbfp(config_.format)) {
              result_.codes[i] =
                  static_cast<Code>(vl::get_bits(top_->out_code_o, c * code_width, code_width));
            } else {
              // The BFP8 array has no requantizer: requantize its accumulator with the golden
              // reference, as a host-side requantizer would.
              result_.codes[i] = requantize(std::get<BfpFormat>(config_.format), result_.acc[i],
                                            product_scale(config_.format, job.a_exponent,
                                                          job.b_exponents[c]),
                                            job.out_exponent, job.relu);
            }
          }
        }
      }
      top_->clk_i = 1;  // the rising edge ends this cycle
      top_->eval();
      top_->clk_i = 0;
      tick(1);
    }
    const ArrayActivity a = tile_activity(zero_mask_, job);
    activity_.macs += a.macs;
    activity_.zero_macs += a.zero_macs;
    activity_.requantizations += a.requantizations;
    return cycles;
  }

 private:
  RtlArrayConfig config_;
  std::unique_ptr<VerilatedContext> context_;
  std::unique_ptr<Model> top_;
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
  return {
      {{LBFP_RTL_LBFP8_ROWS, LBFP_RTL_LBFP8_COLS, LBFP_RTL_LBFP8_PIPE},
       LbfpFormat(8, 4, 8, LBFP_RTL_LBFP8_ACC), "lbfp8-4x4"},
      {{LBFP_RTL_BFP8_ROWS, LBFP_RTL_BFP8_COLS, LBFP_RTL_BFP8_PIPE},
       BfpFormat(8, LBFP_RTL_BFP8_ACC), "bfp8-4x4"},
      {{LBFP_RTL_NARROW_ROWS, LBFP_RTL_NARROW_COLS, LBFP_RTL_NARROW_PIPE},
       LbfpFormat(8, 4, 8, LBFP_RTL_NARROW_ACC), "lbfp8-a16-3x2"},
      {{16, 16, 1}, LbfpFormat(8, 4, 8, 32), "lbfp8-16x16"},
  };
}

std::unique_ptr<ArrayBackend> make_rtl_array(const ArrayGeometry& geometry,
                                             const NumberFormat& format) {
  const std::vector<RtlArrayConfig> configs = rtl_array_configs();
  std::string available;
  for (size_t i = 0; i < configs.size(); ++i) {
    const RtlArrayConfig& c = configs[i];
    if (c.geometry.rows == geometry.rows && c.geometry.cols == geometry.cols &&
        c.geometry.pipe_stages == geometry.pipe_stages && same_format(c.format, format)) {
      const std::string name = "rtl_array_" + c.name;
      switch (i) {
        case 0:
          return std::make_unique<RtlArray<Vlbfp_array>>(name.c_str(), c);
        case 1:
          return std::make_unique<RtlArray<Vbfp_array>>(name.c_str(), c);
        case 2:
          return std::make_unique<RtlArray<Vlbfp_array_a16>>(name.c_str(), c);
        default:
          return std::make_unique<RtlArray<Vlbfp_array16>>(name.c_str(), c);
      }
    }
    available += (available.empty() ? "" : ", ") + c.name + " (pipe " +
                 std::to_string(c.geometry.pipe_stages) + ")";
  }
  throw std::invalid_argument("no verilated RTL array for " + std::to_string(geometry.rows) +
                              "x" + std::to_string(geometry.cols) + " pipe " +
                              std::to_string(geometry.pipe_stages) + " " + format_name(format) +
                              "; verilated: " + available);
}

}  // namespace lbfp::arch
