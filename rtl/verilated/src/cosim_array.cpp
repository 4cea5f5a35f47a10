#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/arch/array_timing.h"
#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/rtl/cosim.h"

namespace lbfp::rtl {
namespace {

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

}  // namespace

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
  return make_gemm(array_config(kind), m, n, k, seed, fill);
}

Gemm make_gemm(const ArrayConfig& config, int m, int n, int k, uint64_t seed, GemmFill fill) {
  if (m < 1 || n < 1 || k < 1) {
    throw std::invalid_argument("GEMM dimensions must be positive (m=" + std::to_string(m) +
                                ", n=" + std::to_string(n) + ", k=" + std::to_string(k) + ")");
  }
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

CosimReport cosim_gemm(ArrayKind kind, const Gemm& g, const std::string& run_name) {
  DriverOptions options;
  options.trace_name = run_name;
  return cosim_gemm(array_config(kind), g, run_name, options);
}

CosimReport cosim_gemm(const ArrayConfig& config, const Gemm& g, const std::string& run_name,
                       const DriverOptions& options) {
  if (g.m < 1 || g.n < 1 || g.k < 1 || g.scales.size() != static_cast<size_t>(g.n) ||
      !(g.bias.empty() || g.bias.size() == static_cast<size_t>(g.n)) ||
      g.a.size() != static_cast<size_t>(g.m) * static_cast<size_t>(g.k) ||
      g.b.size() != static_cast<size_t>(g.k) * static_cast<size_t>(g.n)) {
    throw std::invalid_argument("GEMM operands do not match m=" + std::to_string(g.m) +
                                ", n=" + std::to_string(g.n) + ", k=" + std::to_string(g.k));
  }
  CosimReport report;
  report.name = std::string(config.name) + " array " + std::to_string(config.rows) + "x" +
                std::to_string(config.cols) + ", GEMM " + std::to_string(g.m) + "x" +
                std::to_string(g.n) + "x" + std::to_string(g.k);
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

  ArrayDriver driver(config, options);
  std::vector<int> exp_shift(static_cast<size_t>(cols));
  std::vector<int64_t> bias(static_cast<size_t>(cols));
  TileOutput out;
  for (int ti = 0; ti < g.m; ti += rows) {
    for (int tj = 0; tj < g.n; tj += cols) {
      ++report.tiles;
      TileInput tile;
      tile.rows = std::min(rows, g.m - ti);
      tile.cols = std::min(cols, g.n - tj);
      tile.k = g.k;
      tile.a = g.a.data() + static_cast<size_t>(ti) * static_cast<size_t>(g.k);
      tile.lda = static_cast<size_t>(g.k);
      tile.b = g.b.data() + tj;
      tile.ldb = static_cast<size_t>(g.n);
      // Each column's requantization offset scale_j - Eo, and its bias.
      for (int c = 0; c < tile.cols; ++c) {
        const auto j = static_cast<size_t>(tj + c);
        exp_shift[static_cast<size_t>(c)] = g.scales[j] - g.out_exp;
        bias[static_cast<size_t>(c)] = g.bias.empty() ? 0 : g.bias[j];
      }
      tile.exp_shift = exp_shift.data();
      tile.bias = bias.data();
      tile.relu = g.relu;
      driver.run_tile(tile, out);
      for (const std::string& error : out.errors) {
        report.add_mismatch(run_name + ": tile (" + std::to_string(ti) + ", " +
                            std::to_string(tj) + "): " + error);
      }
      for (int r = 0; r < rows; ++r) {
        if (!out.row_seen[static_cast<size_t>(r)]) continue;
        for (int c = 0; c < cols; ++c) {
          const int i = ti + r;
          const int j = tj + c;
          const auto at = static_cast<size_t>(r * cols + c);
          const int64_t acc = out.acc[at];
          const bool ovf = out.overflow[at] != 0;
          const Code code = out.codes[at];
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
            s << run_name << ": C[" << i << "][" << j << "] (tile " << report.tiles - 1
              << " at (" << ti << ", " << tj << "), row " << r << ", col " << c << ", cycle "
              << out.row_cycle[static_cast<size_t>(r)] << "): rtl {acc=" << acc << " ovf=" << ovf << " code=" << hex(code)
              << "} golden {acc=" << want.dot.acc << " overflows=" << want.dot.overflows
              << " code=" << hex(want.code) << "}; scale="
              << (j < g.n ? g.scales[static_cast<size_t>(j)] : 0) << " out_exp=" << g.out_exp
              << " relu=" << g.relu << " bias="
              << (j < g.n && !g.bias.empty() ? g.bias[static_cast<size_t>(j)] : 0);
            if (i < g.m && j < g.n) {
              std::vector<Code> row(g.a.begin() + i * g.k, g.a.begin() + (i + 1) * g.k);
              std::vector<Code> col;
              for (int kk = 0; kk < g.k; ++kk) {
                col.push_back(g.b[static_cast<size_t>(kk * g.n + j)]);
              }
              s << "; A row " << codes_text(row) << "; B column " << codes_text(col);
            }
            if (report.mismatches == 0) {
              report.first_mismatch_cycle = out.row_cycle[static_cast<size_t>(r)];
            }
            report.add_mismatch(s.str());
          }
        }
      }
      report.cycles += out.cycles;
      report.expected_cycles += arch::array_tile_cycles(geometry, g.k);
    }
  }
  return report;
}

}  // namespace lbfp::rtl
