// The Verilated array as an ArrayBackend: a thin adapter over the one driver of its tile protocol
// (rtl/verilated, lbfp/rtl/array_driver.h), clocked by the calling SystemC thread.
#include <memory>
#include <stdexcept>
#include <string>

#include <systemc>

#include "lbfp/arch/rtl_array.h"
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
  RtlArray(sc_core::sc_module_name name, rtl::ArrayKind kind, const RtlArrayConfig& config)
      : sc_module(name), config_(config), driver_(kind, sc_core::sc_module::name()) {}

  std::string name() const override { return "rtl " + config_.name; }
  const ArrayGeometry& geometry() const override { return config_.geometry; }
  bool counts_overflow_steps() const override { return false; }
  const TileResult& result() const override { return result_; }
  ArrayActivity activity() const override { return activity_; }

  int64_t run_tile(const TileJob& job, const std::function<void(int64_t)>& tick) override {
    const ArrayGeometry& g = config_.geometry;
    if (job.rows < 1 || job.rows > g.rows || job.cols < 1 || job.cols > g.cols || job.k < 1) {
      throw std::invalid_argument("tile does not fit the RTL array " + config_.name);
    }
    // The requantizer takes scale - Eo per column as a 12-bit two's-complement offset; the
    // bias enters each column's accumulators first, in accumulator units.
    exp_shift_.assign(static_cast<size_t>(job.cols), 0);
    bias_.assign(static_cast<size_t>(job.cols), 0);
    for (int c = 0; c < job.cols; ++c) {
      const int scale = product_scale(config_.format, job.a_exponent, job.b_exponents[c]);
      const int shift = scale - job.out_exponent;
      if (shift < -(1 << (kExpShiftBits - 1)) || shift >= (1 << (kExpShiftBits - 1))) {
        throw std::invalid_argument("requantization offset " + std::to_string(shift) +
                                    " does not fit the RTL's 12-bit field");
      }
      exp_shift_[static_cast<size_t>(c)] = shift;
      if (job.bias != nullptr) {
        bias_[static_cast<size_t>(c)] =
            bias_to_accumulator(acc_bits(config_.format), job.bias[c], scale);
      }
    }
    rtl::TileInput tile;
    tile.rows = job.rows;
    tile.cols = job.cols;
    tile.k = job.k;
    tile.a = job.a;
    tile.lda = job.lda;
    tile.b = job.b;
    tile.ldb = job.ldb;
    tile.exp_shift = exp_shift_.data();
    tile.bias = bias_.data();
    tile.relu = job.relu;
    driver_.run_tile(tile, out_, [&tick] { tick(1); });
    if (!out_.errors.empty()) {
      throw std::runtime_error("RTL array " + config_.name + ": " + out_.errors.front());
    }

    const auto n = static_cast<size_t>(job.rows) * static_cast<size_t>(job.cols);
    result_.rows = job.rows;
    result_.cols = job.cols;
    result_.acc.assign(n, 0);
    result_.overflow.assign(n, 0);
    result_.overflow_steps.assign(n, 0);
    result_.codes.assign(n, 0);
    for (int r = 0; r < job.rows; ++r) {
      for (int c = 0; c < job.cols; ++c) {
        const auto i = static_cast<size_t>(r * job.cols + c);
        const auto o = static_cast<size_t>(r * g.cols + c);
        result_.acc[i] = out_.acc[o];
        result_.overflow[i] = out_.overflow[o];
        result_.overflow_steps[i] = out_.overflow[o];  // the RTL keeps a flag only
        if (is_lbfp(config_.format)) {
          result_.codes[i] = out_.codes[o];
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
    const ArrayActivity a = tile_activity(zero_mask_, job);
    activity_.macs += a.macs;
    activity_.zero_macs += a.zero_macs;
    activity_.requantizations += a.requantizations;
    return out_.cycles;
  }

 private:
  RtlArrayConfig config_;
  rtl::ArrayDriver driver_;
  rtl::TileOutput out_;
  std::vector<int> exp_shift_;
  std::vector<int64_t> bias_;
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
                                             const NumberFormat& format) {
  std::string available;
  for (const rtl::ArrayConfig& vc : rtl::verilated_array_configs()) {
    const RtlArrayConfig c{{vc.rows, vc.cols, vc.pipe_stages}, config_format(vc), config_name(vc)};
    if (c.geometry.rows == geometry.rows && c.geometry.cols == geometry.cols &&
        c.geometry.pipe_stages == geometry.pipe_stages && same_format(c.format, format)) {
      const std::string name = "rtl_array_" + c.name;
      return std::make_unique<RtlArray>(name.c_str(), vc.kind, c);
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
