#include "harness.h"

#include <verilated.h>
#include <verilated_fst_c.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include "Vbfp_array.h"
#include "Vlbfp_array.h"
#include "Vlbfp_array_a16.h"
#include "Vtb_units.h"
#include "lbfp/arch/array_timing.h"
#include "verilated_bits.h"
#include "lbfp/arith.h"
#include "lbfp/calibration.h"

namespace lbfp::rtl {

void CosimReport::add_mismatch(const std::string& detail) {
  ++mismatches;
  if (details.size() < kMaxDetails) details.push_back(detail);
}

namespace {

// Bit access on Verilator ports of any width: model/arch/rtl/verilated_bits.h.
using arch::vl::get_bits;
using arch::vl::low_mask;
using arch::vl::put_bits;
using arch::vl::sign_extend;

std::string hex(unsigned code) {
  std::ostringstream s;
  s << "0x" << std::hex << code;
  return s.str();
}

std::string codes_text(const std::vector<Code>& codes) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < codes.size(); ++i) s << (i ? " " : "") << hex(codes[i]);
  s << "]";
  return s.str();
}

// ---- a Verilated design with its context and optional FST trace -------------------------------

template <class Model>
class Bench {
 public:
  explicit Bench(const std::string& run_name) : ctx_(std::make_unique<VerilatedContext>()) {
    const char* dir = std::getenv("LBFP_RTL_FST");
    const bool trace = dir != nullptr && *dir != '\0';
    if (trace) ctx_->traceEverOn(true);
    top_ = std::make_unique<Model>(ctx_.get(), "top");
    if (trace) {
      fst_ = std::make_unique<VerilatedFstC>();
      top_->trace(fst_.get(), 99);
      fst_->open((std::string(dir) + "/" + run_name + ".fst").c_str());
    }
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;
  ~Bench() {
    top_->final();
    if (fst_) fst_->close();
  }

  Model& top() { return *top_; }

  // Settles the combinational logic and advances time by one step.
  void eval() {
    top_->eval();
    if (fst_) fst_->dump(ctx_->time());
    ctx_->timeInc(1);
  }

 private:
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Model> top_;
  std::unique_ptr<VerilatedFstC> fst_;
};

}  // namespace

// ---- multipliers --------------------------------------------------------------------------------

CosimReport cosim_lbfp_mul() {
  const LbfpFormat& format = lbfp8();
  CosimReport report;
  report.name = "lbfp8 multiplier + shifter (isolating and held-operand), exhaustive";
  Bench<Vtb_units> bench("lbfp_mul");
  auto& top = bench.top();
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      const LbfpProduct golden = multiply(format, static_cast<Code>(a), static_cast<Code>(b));
      top.lbfp_a_i = static_cast<CData>(a);
      top.lbfp_b_i = static_cast<CData>(b);
      top.lbfp_held_zero_i = golden.is_zero() ? 1 : 0;
      bench.eval();
      ++report.cases;
      const int64_t held_value = sign_extend(top.lbfp_held_prod_o, 25);
      // The held-operand PE raises the flag on any codes it keeps through a zero product.
      top.lbfp_held_zero_i = 1;
      bench.eval();
      const int64_t held_flagged = sign_extend(top.lbfp_held_prod_o, 25);
      const int64_t golden_value = golden.to_int64().value();
      const bool rtl_zero = top.lbfp_zero_o != 0;
      const bool rtl_neg = top.lbfp_neg_o != 0;
      const uint32_t rtl_lut = top.lbfp_lut_o;
      const int rtl_shift = top.lbfp_shift_o;
      const int64_t rtl_value = sign_extend(top.lbfp_prod_o, 25);
      const bool same = rtl_zero == golden.is_zero() && rtl_value == golden_value &&
                        (golden.is_zero() ? (rtl_lut == 0 && rtl_shift == 0 && !rtl_neg)
                                          : (rtl_neg == golden.negative &&
                                             rtl_lut == golden.lut_value &&
                                             rtl_shift == golden.shift)) &&
                        held_value == golden_value && held_flagged == 0;
      if (!same) {
        std::ostringstream s;
        s << "a=" << hex(a) << " b=" << hex(b) << ": rtl {zero=" << rtl_zero << " neg=" << rtl_neg
          << " lut=" << rtl_lut << " shift=" << rtl_shift << " product=" << rtl_value
          << "} golden {zero=" << golden.is_zero() << " neg=" << golden.negative
          << " lut=" << golden.lut_value << " shift=" << golden.shift
          << " product=" << golden_value << "}; held-operand product " << held_value
          << ", with the zero flag raised " << held_flagged;
        report.add_mismatch(s.str());
      }
    }
  }
  return report;
}

CosimReport cosim_bfp_mul() {
  const BfpFormat& format = bfp8();
  CosimReport report;
  report.name = "bfp8 multiplier (plain and isolated), exhaustive";
  Bench<Vtb_units> bench("bfp_mul");
  auto& top = bench.top();
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      top.bfp_a_i = static_cast<CData>(a);
      top.bfp_b_i = static_cast<CData>(b);
      bench.eval();
      ++report.cases;
      const bool in_format = a != 0x80 && b != 0x80;
      const int64_t expected =
          in_format ? multiply(format, static_cast<Code>(a), static_cast<Code>(b))
                    : int64_t{static_cast<int8_t>(a)} * static_cast<int8_t>(b);
      const int64_t rtl = sign_extend(top.bfp_prod_o, 16);
      const int64_t rtl_iso = sign_extend(top.bfp_iso_prod_o, 16);
      if (rtl != expected || rtl_iso != expected) {
        std::ostringstream s;
        s << "a=" << hex(a) << " b=" << hex(b) << ": rtl " << rtl << ", with operand isolation "
          << rtl_iso << ", expected " << expected
          << (in_format ? " (golden)" : " (integer product of the unused code)");
        report.add_mismatch(s.str());
      }
    }
  }
  return report;
}

// ---- requantizer --------------------------------------------------------------------------------

CosimReport cosim_requant(int acc_bits, uint64_t seed, int random_cases) {
  if (acc_bits != 32 && acc_bits != 16) {
    throw std::invalid_argument("the requantizer is verilated for A = 32 and A = 16, not A = " +
                                std::to_string(acc_bits));
  }
  const LbfpFormat format(8, 4, 8, acc_bits);
  CosimReport report;
  report.name = "lbfp8 requantizer, A=" + std::to_string(acc_bits);
  Bench<Vtb_units> bench("requant_a" + std::to_string(acc_bits));
  auto& top = bench.top();
  std::mt19937_64 rng(seed);
  const int64_t acc_max = (int64_t{1} << (acc_bits - 1)) - 1;
  const int64_t acc_min = -acc_max - 1;

  // exp_shift = scale - out_exp; the golden model takes the two apart, the RTL their difference.
  auto check = [&](int64_t acc, int exp_shift, bool relu) {
    std::uniform_int_distribution<int> out_exp_dist(-20, 20);
    const int out_exp = out_exp_dist(rng);
    const int scale = exp_shift + out_exp;
    top.rq_exp_shift_i = static_cast<SData>(static_cast<unsigned>(exp_shift) & 0xfffu);
    top.rq_relu_i = relu ? 1 : 0;
    if (acc_bits == 32) {
      top.rq32_acc_i = static_cast<IData>(static_cast<uint64_t>(acc) & low_mask(32));
    } else {
      top.rq16_acc_i = static_cast<SData>(static_cast<uint64_t>(acc) & low_mask(16));
    }
    bench.eval();
    ++report.cases;
    const unsigned rtl = acc_bits == 32 ? top.rq32_code_o : top.rq16_code_o;
    const unsigned golden = requantize(format, acc, scale, out_exp, relu);
    if (rtl != golden) {
      std::ostringstream s;
      s << "acc=" << acc << " scale=" << scale << " out_exp=" << out_exp << " (exp_shift "
        << exp_shift << ") relu=" << relu << ": rtl " << hex(rtl) << ", golden " << hex(golden);
      report.add_mismatch(s.str());
    }
  };

  // Every boundary constant, scaled to every leading-one position: the magnitudes just below, at
  // and just above the rounding threshold, with exponent offsets that put the code in range, at
  // the saturation limit and at the flush-to-zero limit.
  std::bernoulli_distribution coin(0.5);
  for (int j = 0; j < (1 << format.frac_bits()); ++j) {
    const uint64_t boundary = format.requant_boundary(j);
    for (int lead = 0; lead < acc_bits; ++lead) {
      const int64_t at = static_cast<int64_t>(boundary >> (acc_bits - 1 - lead));
      for (int64_t d = -1; d <= 2; ++d) {
        const int64_t mag = at + d;
        if (mag < 1 || mag > acc_max + 1) continue;
        // code = 2^F (lead + exp_shift + 2^I) + r: these offsets give codes around 0 (flush),
        // mid-range, and around 2^(W-1) - 1 (saturation).
        for (const int offset : {-9, -8, -4, -1, 0}) {
          const int exp_shift = -lead + offset;
          if (mag <= acc_max) check(mag, exp_shift, coin(rng));
          check(-mag, exp_shift, coin(rng));
        }
      }
    }
  }
  // The range limits and zero.
  for (const int64_t acc : {int64_t{0}, int64_t{1}, int64_t{-1}, acc_max, acc_min}) {
    for (int exp_shift = -acc_bits - 12; exp_shift <= 4; ++exp_shift) {
      check(acc, exp_shift, false);
      check(acc, exp_shift, true);
    }
  }
  // Random accumulators, uniform over the range and log-uniform in magnitude.
  std::uniform_int_distribution<int64_t> uniform_acc(acc_min, acc_max);
  std::uniform_int_distribution<int> lead_dist(0, acc_bits - 2);  // |acc| < 2^(A-1)
  std::uniform_int_distribution<int> near_shift(-14, 6);
  std::uniform_int_distribution<int> any_shift(-2048, 2047);
  for (int i = 0; i < random_cases; ++i) {
    int64_t acc = 0;
    if (i % 2 == 0) {
      acc = uniform_acc(rng);
    } else {
      const int lead = lead_dist(rng);
      acc = static_cast<int64_t>((uint64_t{1} << lead) | (rng() & low_mask(lead)));
      if (coin(rng)) acc = -acc;
    }
    const int lead = acc == 0 ? 0 : 63 - __builtin_clzll(static_cast<uint64_t>(std::llabs(acc)));
    const int exp_shift = i % 8 == 7 ? any_shift(rng) : -lead - 4 + near_shift(rng);
    check(acc, exp_shift, coin(rng));
  }
  return report;
}

// ---- the array ----------------------------------------------------------------------------------

namespace {

constexpr ArrayConfig kConfigs[] = {
    {ArrayKind::kLbfp8, "lbfp8", LBFP_RTL_LBFP8_ROWS, LBFP_RTL_LBFP8_COLS, LBFP_RTL_LBFP8_PIPE,
     LBFP_RTL_LBFP8_ACC, false},
    {ArrayKind::kBfp8, "bfp8", LBFP_RTL_BFP8_ROWS, LBFP_RTL_BFP8_COLS, LBFP_RTL_BFP8_PIPE,
     LBFP_RTL_BFP8_ACC, true},
    {ArrayKind::kLbfp8Narrow, "lbfp8-a16", LBFP_RTL_NARROW_ROWS, LBFP_RTL_NARROW_COLS,
     LBFP_RTL_NARROW_PIPE, LBFP_RTL_NARROW_ACC, false},
};

struct Expected {
  DotResult dot;
  Code code = 0;
};

// The golden GEMM: one lbfp::dot per output, then lbfp::requantize.
std::vector<Expected> golden_gemm(const ArrayConfig& config, const Gemm& g) {
  std::vector<Expected> out(static_cast<size_t>(g.m) * static_cast<size_t>(g.n));
  std::vector<Code> row(static_cast<size_t>(g.k));
  std::vector<Code> col(static_cast<size_t>(g.k));
  for (int i = 0; i < g.m; ++i) {
    for (int j = 0; j < g.n; ++j) {
      for (int kk = 0; kk < g.k; ++kk) {
        row[static_cast<size_t>(kk)] = g.a[static_cast<size_t>(i * g.k + kk)];
        col[static_cast<size_t>(kk)] = g.b[static_cast<size_t>(kk * g.n + j)];
      }
      Expected& e = out[static_cast<size_t>(i * g.n + j)];
      const int64_t bias = g.bias.empty() ? 0 : g.bias[static_cast<size_t>(j)];
      if (config.bfp) {
        e.dot = dot(BfpFormat(8, config.acc_bits), row.data(), col.data(), row.size(), bias);
      } else {
        const LbfpFormat format(8, 4, 8, config.acc_bits);
        e.dot = dot(format, row.data(), col.data(), row.size(), bias);
        e.code = requantize(format, e.dot.acc, g.scales[static_cast<size_t>(j)], g.out_exp, g.relu);
      }
    }
  }
  return out;
}

template <class Model>
void run_array(const ArrayConfig& config, const Gemm& g, const std::string& run_name,
               CosimReport& report) {
  const std::vector<Expected> expected = golden_gemm(config, g);
  // The golden outputs of a row of zero codes, per column, plus an all-zero padding column.
  Gemm zero_row = g;
  zero_row.m = 1;
  zero_row.a.assign(static_cast<size_t>(g.k), Code{0});
  std::vector<Expected> padding_row = golden_gemm(config, zero_row);
  padding_row.push_back(Expected{});
  const int rows = config.rows;
  const int cols = config.cols;
  const arch::ArrayGeometry geometry{rows, cols, config.pipe_stages};
  Bench<Model> bench(run_name);
  Model& top = bench.top();

  auto clock = [&] {  // the rising edge; inputs for the next cycle are set after it
    top.clk_i = 1;
    bench.eval();
    top.clk_i = 0;
  };
  top.clk_i = 0;
  top.rst_ni = 0;
  top.in_valid_i = 0;
  bench.eval();
  top.rst_ni = 1;
  bench.eval();

  top.relu_i = g.relu ? 1 : 0;

  for (int ti = 0; ti < g.m; ti += rows) {
    for (int tj = 0; tj < g.n; tj += cols) {
      ++report.tiles;
      // Wait until the array takes a new tile.
      for (int guard = 0; guard < 1000; ++guard) {
        top.in_valid_i = 0;
        bench.eval();
        if (top.in_ready_o) break;
        clock();
      }
      // Each column's requantization offset scale_j - Eo (zero for padding columns).
      for (int c = 0; c < cols; ++c) {
        const int j = tj + c;
        const int exp_shift = j < g.n ? g.scales[static_cast<size_t>(j)] - g.out_exp : 0;
        put_bits(top.exp_shift_i, c * 12, 12, static_cast<uint64_t>(exp_shift));
        const int64_t bias = j < g.n && !g.bias.empty() ? g.bias[static_cast<size_t>(j)] : 0;
        put_bits(top.bias_i, c * config.acc_bits, config.acc_bits, static_cast<uint64_t>(bias));
      }
      std::vector<bool> seen(static_cast<size_t>(rows), false);
      int rows_seen = 0;
      int64_t last_cycle = -1;
      int expected_row = rows - 1;
      const int64_t limit = 2 * arch::array_tile_cycles(geometry, g.k) + 64;
      for (int64_t t = 0; rows_seen < rows && t < limit; ++t) {
        const bool feeding = t < g.k;
        top.in_valid_i = feeding ? 1 : 0;
        top.in_first_i = feeding && t == 0 ? 1 : 0;
        top.in_last_i = feeding && t == g.k - 1 ? 1 : 0;
        for (int r = 0; r < rows; ++r) {
          const int i = ti + r;
          const Code code = feeding && i < g.m ? g.a[static_cast<size_t>(i * g.k + t)] : 0;
          put_bits(top.a_i, r * 8, 8, code);
        }
        for (int c = 0; c < cols; ++c) {
          const int j = tj + c;
          const Code code = feeding && j < g.n ? g.b[static_cast<size_t>(t * g.n + j)] : 0;
          put_bits(top.b_i, c * 8, 8, code);
        }
        bench.eval();
        if (feeding && !top.in_ready_o) {
          report.add_mismatch(run_name + ": in_ready_o low while feeding tile (" +
                              std::to_string(ti) + ", " + std::to_string(tj) + ") at k=" +
                              std::to_string(t));
        }
        if (top.out_valid_o) {
          const int r = static_cast<int>(top.out_row_o);
          if (r != expected_row || seen[static_cast<size_t>(r)]) {
            report.add_mismatch(run_name + ": result row " + std::to_string(r) +
                                " out of order (expected row " + std::to_string(expected_row) +
                                ")");
          }
          seen[static_cast<size_t>(r)] = true;
          --expected_row;
          ++rows_seen;
          last_cycle = t;
          for (int c = 0; c < cols; ++c) {
            const int i = ti + r;
            const int j = tj + c;
            const int64_t acc = sign_extend(get_bits(top.out_acc_o, c * config.acc_bits,
                                                     config.acc_bits),
                                            config.acc_bits);
            const bool ovf = get_bits(top.out_ovf_o, c, 1) != 0;
            const Code code = static_cast<Code>(get_bits(top.out_code_o, c * 8, 8));
            // Padding outside the GEMM: a dot product of zero codes, from the column's bias in
            // a padding row of a real column.
            Expected want = padding_row[static_cast<size_t>(std::min(j, g.n))];
            if (i < g.m && j < g.n) want = expected[static_cast<size_t>(i * g.n + j)];
            ++report.cases;
            if (want.dot.overflows > 0 && i < g.m && j < g.n) ++report.saturated_outputs;
            const bool same = acc == want.dot.acc && ovf == (want.dot.overflows > 0) &&
                              (config.bfp || code == want.code);
            if (!same) {
              std::ostringstream s;
              s << run_name << ": C[" << i << "][" << j << "] (tile row " << r << ", col " << c
                << "): rtl {acc=" << acc << " ovf=" << ovf << " code=" << hex(code)
                << "} golden {acc=" << want.dot.acc << " overflows=" << want.dot.overflows
                << " code=" << hex(want.code) << "}; scale="
                << (j < g.n ? g.scales[static_cast<size_t>(j)] : 0)
                << " out_exp=" << g.out_exp << " relu=" << g.relu << " bias="
                << (j < g.n && !g.bias.empty() ? g.bias[static_cast<size_t>(j)] : 0);
              if (i < g.m && j < g.n) {
                std::vector<Code> row(g.a.begin() + i * g.k, g.a.begin() + (i + 1) * g.k);
                std::vector<Code> col;
                for (int kk = 0; kk < g.k; ++kk) col.push_back(g.b[static_cast<size_t>(kk * g.n + j)]);
                s << "; A row " << codes_text(row) << "; B column " << codes_text(col);
              }
              report.add_mismatch(s.str());
            }
          }
        }
        clock();
      }
      if (rows_seen < rows) {
        report.add_mismatch(run_name + ": tile (" + std::to_string(ti) + ", " +
                            std::to_string(tj) + ") produced " + std::to_string(rows_seen) +
                            " of " + std::to_string(rows) + " result rows");
      }
      report.cycles += last_cycle + 1;
      report.expected_cycles += arch::array_tile_cycles(geometry, g.k);
    }
  }
}

}  // namespace

ArrayConfig array_config(ArrayKind kind) {
  for (const ArrayConfig& c : kConfigs) {
    if (c.kind == kind) return c;
  }
  throw std::invalid_argument("unknown array kind");
}

std::vector<ArrayConfig> array_configs() {
  return std::vector<ArrayConfig>(std::begin(kConfigs), std::end(kConfigs));
}

std::optional<ArrayKind> parse_array_kind(const std::string& name) {
  for (const ArrayConfig& c : kConfigs) {
    if (name == c.name) return c.kind;
  }
  return std::nullopt;
}

int output_exponent(const ArrayConfig& config, const Gemm& g) {
  double amax = 0.0;
  Gemm probe = g;
  probe.out_exp = 0;
  const std::vector<Expected> results = golden_gemm(config, probe);
  for (int i = 0; i < g.m; ++i) {
    for (int j = 0; j < g.n; ++j) {
      const int64_t acc = results[static_cast<size_t>(i * g.n + j)].dot.acc;
      amax = std::max(amax, std::ldexp(static_cast<double>(std::llabs(acc)),
                                       g.scales[static_cast<size_t>(j)]));
    }
  }
  return std::clamp(max_exponent(amax), kMinExponent, kMaxExponent);
}

Gemm make_gemm(ArrayKind kind, int m, int n, int k, uint64_t seed, GemmFill fill) {
  if (m < 1 || n < 1 || k < 1) {
    throw std::invalid_argument("GEMM dimensions must be positive (m=" + std::to_string(m) +
                                ", n=" + std::to_string(n) + ", k=" + std::to_string(k) + ")");
  }
  const ArrayConfig config = array_config(kind);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> any_code(0, 255);
  std::uniform_int_distribution<int> large(116, 127);
  auto random_code = [&] {
    while (true) {
      const int code = any_code(rng);
      if (!(config.bfp && code == 0x80)) return static_cast<Code>(code);
    }
  };
  // A large magnitude of the given sign, as an LBFP code or a BFP two's-complement code.
  auto large_code = [&](bool negative) {
    const int mag = large(rng);
    if (config.bfp) return static_cast<Code>(static_cast<unsigned>(negative ? -mag : mag) & 0xffu);
    return static_cast<Code>((negative ? 0x80 : 0) | mag);
  };

  Gemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a.resize(static_cast<size_t>(m) * static_cast<size_t>(k));
  g.b.resize(static_cast<size_t>(k) * static_cast<size_t>(n));
  for (int i = 0; i < m; ++i) {
    for (int kk = 0; kk < k; ++kk) {
      g.a[static_cast<size_t>(i * k + kk)] =
          fill == GemmFill::kRandom ? random_code() : large_code(false);
    }
  }
  for (int kk = 0; kk < k; ++kk) {
    for (int j = 0; j < n; ++j) {
      g.b[static_cast<size_t>(kk * n + j)] =
          fill == GemmFill::kRandom ? random_code() : large_code(j % 2 == 1);
    }
  }
  // Activations per tensor (ea), weights per output channel (eb of column j).
  std::uniform_int_distribution<int> exp_dist(-8, 8);
  const int ea = exp_dist(rng);
  g.relu = seed % 2 == 1;
  g.scales.resize(static_cast<size_t>(n));
  const LbfpFormat format(8, 4, 8, config.acc_bits);
  for (int& scale : g.scales) {
    const int eb = exp_dist(rng);
    scale = config.bfp ? BfpFormat(8, config.acc_bits).product_scale(ea, eb)
                       : format.product_scale(ea, eb);
  }
  if (seed % 3 == 0) {
    const int64_t limit = int64_t{1} << (config.acc_bits - 2);
    std::uniform_int_distribution<int64_t> bias_dist(-limit, limit);
    for (int j = 0; j < n; ++j) g.bias.push_back(bias_dist(rng));
  }
  if (config.bfp) return g;
  g.out_exp = output_exponent(config, g);
  std::uniform_int_distribution<int> nudge(-1, 1);
  g.out_exp = std::clamp(g.out_exp + nudge(rng), kMinExponent, kMaxExponent);
  return g;
}

CosimReport cosim_gemm(ArrayKind kind, const Gemm& gemm, const std::string& run_name) {
  if (gemm.m < 1 || gemm.n < 1 || gemm.k < 1 || gemm.scales.size() != static_cast<size_t>(gemm.n) ||
      !(gemm.bias.empty() || gemm.bias.size() == static_cast<size_t>(gemm.n)) ||
      gemm.a.size() != static_cast<size_t>(gemm.m) * static_cast<size_t>(gemm.k) ||
      gemm.b.size() != static_cast<size_t>(gemm.k) * static_cast<size_t>(gemm.n)) {
    throw std::invalid_argument("GEMM operands do not match m=" + std::to_string(gemm.m) +
                                ", n=" + std::to_string(gemm.n) + ", k=" +
                                std::to_string(gemm.k));
  }
  const ArrayConfig config = array_config(kind);
  CosimReport report;
  report.name = std::string(config.name) + " array " + std::to_string(config.rows) + "x" +
                std::to_string(config.cols) + ", GEMM " + std::to_string(gemm.m) + "x" +
                std::to_string(gemm.n) + "x" + std::to_string(gemm.k);
  switch (kind) {
    case ArrayKind::kLbfp8:
      run_array<Vlbfp_array>(config, gemm, run_name, report);
      break;
    case ArrayKind::kBfp8:
      run_array<Vbfp_array>(config, gemm, run_name, report);
      break;
    case ArrayKind::kLbfp8Narrow:
      run_array<Vlbfp_array_a16>(config, gemm, run_name, report);
      break;
  }
  return report;
}

}  // namespace lbfp::rtl
