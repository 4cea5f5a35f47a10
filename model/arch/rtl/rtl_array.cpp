// The Verilated array as an ArrayBackend: a thin adapter over the one driver of its tile protocol
// (rtl/verilated, lbfp/rtl/array_driver.h), clocked by the calling SystemC thread.
#include <algorithm>
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
    check_golden(job);
    const ArrayActivity a = tile_activity(zero_mask_, job);
    activity_.macs += a.macs;
    activity_.zero_macs += a.zero_macs;
    activity_.requantizations += a.requantizations;
    return out_.cycles;
  }

 private:
  // The tile's outputs against lbfp::dot and lbfp::requantize; throws at the first difference.
  void check_golden(const TileJob& job) {
    std::vector<Code> row(static_cast<size_t>(job.k));
    std::vector<Code> col(static_cast<size_t>(job.k));
    const int acc = acc_bits(config_.format);
    for (int r = 0; r < job.rows; ++r) {
      for (int c = 0; c < job.cols; ++c) {
        for (int64_t t = 0; t < job.k; ++t) {
          row[static_cast<size_t>(t)] = job.a[static_cast<size_t>(r) * job.lda + t];
          col[static_cast<size_t>(t)] = job.b[static_cast<size_t>(t) * job.ldb + c];
        }
        const int64_t bias = bias_[static_cast<size_t>(c)];
        const DotResult want = std::visit(
            [&](const auto& f) { return dot(f, row.data(), col.data(), row.size(), bias); },
            config_.format);
        const int scale = product_scale(config_.format, job.a_exponent, job.b_exponents[c]);
        const Code want_code = std::visit(
            [&](const auto& f) {
              return requantize(f, want.acc, scale, job.out_exponent, job.relu);
            },
            config_.format);
        const auto i = static_cast<size_t>(r * job.cols + c);
        const bool ovf = want.overflows > 0;
        if (result_.acc[i] == want.acc && (result_.overflow[i] != 0) == ovf &&
            result_.codes[i] == want_code) {
          continue;
        }
        const int64_t cycle = out_.row_cycle[static_cast<size_t>(r)];
        std::string what = "the RTL array " + config_.name + " (A=" + std::to_string(acc) +
                           ") differs from the golden reference at row " +
                           std::to_string(r) + ", column " + std::to_string(c) +
                           " of the tile, RTL cycle " +
                           std::to_string(cycle) + ": rtl {acc=" +
                           std::to_string(result_.acc[i]) + " ovf=" +
                           std::to_string(result_.overflow[i]) + " code=" +
                           std::to_string(result_.codes[i]) + "} golden {acc=" +
                           std::to_string(want.acc) + " ovf=" + std::to_string(ovf) +
                           " code=" + std::to_string(want_code) + "}";
        if (!reproduce_.empty()) {
          const int64_t first =
              std::max<int64_t>(0, cycle - job.k - 2 * (config_.geometry.rows +
                                                        config_.geometry.cols) - 20);
          what += "\nreproduce it with a trace around that cycle: " + reproduce_ +
                  " --trace mismatch.fst --trace-window " + std::to_string(first) + ":" +
                  std::to_string(cycle + 4);
        }
        throw std::runtime_error(what);
      }
    }
  }

  RtlArrayConfig config_;
  rtl::ArrayDriver driver_;
  std::string reproduce_;
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
                                             const NumberFormat& format,
                                             const RtlArrayOptions& options) {
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
