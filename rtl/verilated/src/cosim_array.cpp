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
#include "lbfp/rtl/ws_array_driver.h"

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

namespace lbfp::rtl {

ArrayConfig as_array_config(const WsArrayConfig& ws) {
  ArrayConfig c;
  c.kind = ArrayKind::kOnDemand;  // not one of the output-stationary models
  c.name = ws.name;
  c.rows = ws.rows;
  c.cols = ws.cols;
  c.pipe_stages = ws.pipe_stages;
  c.acc_bits = ws.acc_bits;
  c.bfp = ws.bfp;
  c.hold_zeros = ws.hold_zeros;
  return c;
}

CosimReport cosim_gemm_ws(WsArrayKind kind, bool input_stationary, const Gemm& g,
                          const std::string& run_name, const DriverOptions& options) {
  return cosim_gemm_ws(ws_array_config(kind), input_stationary, g, run_name, options);
}

CosimReport cosim_gemm_ws(const WsArrayConfig& ws, bool input_stationary, const Gemm& g,
                          const std::string& run_name, const DriverOptions& options) {
  const ArrayConfig config = as_array_config(ws);
  if (g.m < 1 || g.n < 1 || g.k < 1 || g.scales.size() != static_cast<size_t>(g.n) ||
      !(g.bias.empty() || g.bias.size() == static_cast<size_t>(g.n)) ||
      g.a.size() != static_cast<size_t>(g.m) * static_cast<size_t>(g.k) ||
      g.b.size() != static_cast<size_t>(g.k) * static_cast<size_t>(g.n)) {
    throw std::invalid_argument("GEMM operands do not match m=" + std::to_string(g.m) +
                                ", n=" + std::to_string(g.n) + ", k=" + std::to_string(g.k));
  }
  const char* flow = input_stationary ? "is" : "ws";
  CosimReport report;
  report.name = ws.name + " " + flow + " array " + std::to_string(ws.rows) + "x" +
                std::to_string(ws.cols) + ", GEMM " + std::to_string(g.m) + "x" +
                std::to_string(g.n) + "x" + std::to_string(g.k);
  const std::vector<Expected> expected = golden_gemm(config, g);
  const int rows = ws.rows;
  const int cols = ws.cols;
  const auto M = static_cast<size_t>(g.m);
  const auto N = static_cast<size_t>(g.n);
  const auto K = static_cast<size_t>(g.k);
  // Weight-stationary: columns are output columns j, steps output rows i. Input-stationary:
  // columns are output rows i, steps output columns j.
  const int outer = input_stationary ? g.m : g.n;  // what the array's columns tile
  const int steps = input_stationary ? g.n : g.m;
  auto out_index = [&](int step, int col) {
    return input_stationary ? static_cast<size_t>(col) * N + static_cast<size_t>(step)
                            : static_cast<size_t>(step) * N + static_cast<size_t>(col);
  };
  // The partial sums and sticky flags of the K chunks so far (start: the bias).
  std::vector<int64_t> part(M * N);
  std::vector<uint8_t> part_ovf(M * N, 0);
  for (size_t i = 0; i < M; ++i) {
    for (size_t j = 0; j < N; ++j) part[i * N + j] = g.bias.empty() ? 0 : g.bias[j];
  }
  std::vector<int> step_shift(static_cast<size_t>(steps), 0);
  if (input_stationary) {
    for (int n = 0; n < g.n; ++n)
      step_shift[static_cast<size_t>(n)] = g.scales[static_cast<size_t>(n)];
  }

  WsArrayDriver driver(ws, options);
  arch::ArrayTimeline timeline(arch::ArrayGeometry{
      rows, cols, ws.pipe_stages,
      input_stationary ? arch::Dataflow::kInputStationary : arch::Dataflow::kWeightStationary});
  struct Pending {
    int k0 = 0;
    int c0 = 0;
    int ncols = 0;
    bool last_chunk = false;
  };
  for (int k0 = 0; k0 < g.k; k0 += rows) {
    const int nrows = std::min(rows, g.k - k0);
    const bool last_chunk = k0 + rows >= g.k;
    // Every fold of this K chunk back to back (they are independent); the next chunk starts
    // from their sums.
    std::vector<Pending> pending;
    std::vector<std::vector<Code>> keep;  // fold operands, alive until pushed
    for (int c0 = 0; c0 < outer; c0 += cols) {
      const int ncols = std::min(cols, outer - c0);
      std::vector<Code> w(static_cast<size_t>(nrows * ncols));
      std::vector<Code> a(static_cast<size_t>(steps) * static_cast<size_t>(nrows));
      std::vector<int64_t> init(static_cast<size_t>(steps) * static_cast<size_t>(ncols));
      std::vector<uint8_t> init_ovf(init.size());
      std::vector<int> exp_shift(static_cast<size_t>(ncols));
      for (int r = 0; r < nrows; ++r) {
        const size_t kk = static_cast<size_t>(k0 + r);
        for (int c = 0; c < ncols; ++c) {
          const size_t o = static_cast<size_t>(c0 + c);
          w[static_cast<size_t>(r * ncols + c)] =
              input_stationary ? g.a[o * K + kk] : g.b[kk * N + o];
        }
        for (int s = 0; s < steps; ++s) {
          const auto ss = static_cast<size_t>(s);
          a[ss * static_cast<size_t>(nrows) + static_cast<size_t>(r)] =
              input_stationary ? g.b[kk * N + ss] : g.a[ss * K + kk];
        }
      }
      for (int c = 0; c < ncols; ++c) {
        // Weight-stationary: the column's scale - Eo; input-stationary: -Eo here and the
        // column's (step's) scale as the step part.
        exp_shift[static_cast<size_t>(c)] =
            input_stationary ? -g.out_exp : g.scales[static_cast<size_t>(c0 + c)] - g.out_exp;
        for (int s = 0; s < steps; ++s) {
          const size_t at =
              static_cast<size_t>(s) * static_cast<size_t>(ncols) + static_cast<size_t>(c);
          init[at] = part[out_index(s, c0 + c)];
          init_ovf[at] = part_ovf[out_index(s, c0 + c)];
        }
      }
      FoldInput fold;
      fold.rows = nrows;
      fold.cols = ncols;
      fold.steps = steps;
      fold.w = w.data();
      fold.ldw = static_cast<size_t>(ncols);
      fold.a = a.data();
      fold.lda = static_cast<size_t>(nrows);
      fold.init_acc = init.data();
      fold.init_ovf = init_ovf.data();
      fold.ld_init = static_cast<size_t>(ncols);
      fold.exp_shift = exp_shift.data();
      fold.step_shift = step_shift.data();
      fold.relu = g.relu && last_chunk;
      driver.push_fold(fold);
      pending.push_back({k0, c0, ncols, last_chunk});
      ++report.tiles;
    }
    size_t next = 0;
    for (int64_t guard = 0; driver.busy() && guard < 1000000; ++guard) {
      driver.clock();
      for (auto& [id, out] : driver.take_finished()) {
        if (next >= pending.size()) {
          report.add_mismatch(run_name + ": a fold finished that was not pushed");
          continue;
        }
        const Pending& p = pending[next++];
        const std::string where = run_name + ": fold " + std::to_string(id) +
                                  " (k0=" + std::to_string(p.k0) + ", " +
                                  (input_stationary ? "m0=" : "n0=") + std::to_string(p.c0) + ")";
        for (const std::string& e : out.errors) report.add_mismatch(where + ": " + e);
        const arch::ArrayTimeline::Tile want = timeline.add(out.handed, steps);
        if (want.preload != out.preload || want.first != out.first || want.last != out.last ||
            want.end != out.end) {
          report.add_mismatch(where + ": cycles preload/first/last/end " +
                              std::to_string(out.preload) + "/" + std::to_string(out.first) + "/" +
                              std::to_string(out.last) + "/" + std::to_string(out.end) +
                              ", the timeline's " + std::to_string(want.preload) + "/" +
                              std::to_string(want.first) + "/" + std::to_string(want.last) + "/" +
                              std::to_string(want.end));
        }
        report.cycles += out.cycles;
        report.expected_cycles += want.end - out.handed + 1;
        for (int s = 0; s < steps; ++s) {
          for (int c = 0; c < cols; ++c) {
            const size_t at =
                static_cast<size_t>(s) * static_cast<size_t>(cols) + static_cast<size_t>(c);
            const int64_t acc = out.acc[at];
            const bool ovf = out.overflow[at] != 0;
            if (c >= p.ncols) {  // a padding column: zero codes from a zero start
              if (p.last_chunk) ++report.cases;
              if (acc != 0 || ovf) {
                report.add_mismatch(where + ": padding column " + std::to_string(c) + " step " +
                                    std::to_string(s) + ": acc=" + std::to_string(acc));
              }
              continue;
            }
            const size_t o = out_index(s, p.c0 + c);
            part[o] = acc;
            part_ovf[o] = ovf ? 1 : 0;
            if (!p.last_chunk) continue;
            const Expected& e = expected[o];
            const Code code = out.codes[at];
            ++report.cases;
            if (e.dot.overflows > 0) ++report.saturated_outputs;
            if (acc != e.dot.acc || ovf != (e.dot.overflows > 0) ||
                (!config.bfp && code != e.code)) {
              std::ostringstream m;
              m << where << ": C[" << o / N << "][" << o % N << "] (step " << s << ", column " << c
                << ", cycle " << out.step_cycle[static_cast<size_t>(s)] << "): rtl {acc=" << acc
                << " ovf=" << ovf << " code=" << hex(code) << "} golden {acc=" << e.dot.acc
                << " overflows=" << e.dot.overflows << " code=" << hex(e.code) << "}";
              if (report.mismatches == 0) {
                report.first_mismatch_cycle = out.step_cycle[static_cast<size_t>(s)];
              }
              report.add_mismatch(m.str());
            }
          }
        }
      }
    }
    if (next != pending.size()) {
      report.add_mismatch(run_name + ": " + std::to_string(pending.size() - next) +
                          " folds did not finish");
    }
  }
  return report;
}

}  // namespace lbfp::rtl
