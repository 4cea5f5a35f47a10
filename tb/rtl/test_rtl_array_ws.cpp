// The weight-stationary array (rtl/systolic_array_ws.sv), in both dataflows it runs (weight- and
// input-stationary), against the golden GEMM (one lbfp::dot per output, then lbfp::requantize),
// and every fold's preload, first, last and end cycles against lbfp::arch::ArrayTimeline and
// the closed-form latency.
#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "lbfp/arch/array_timing.h"
#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/rtl/cosim.h"
#include "lbfp/rtl/ws_array_driver.h"

namespace lbfp::rtl {
namespace {

const WsArrayKind kKinds[] = {WsArrayKind::kLbfp8, WsArrayKind::kBfp8, WsArrayKind::kLbfp8Narrow};

std::string describe(const CosimReport& report) {
  std::string text = report.name + ": " + std::to_string(report.mismatches) + " mismatches, " +
                     std::to_string(report.cycles) + " cycles (timeline " +
                     std::to_string(report.expected_cycles) + ")";
  for (const std::string& d : report.details) text += "\n  " + d;
  return text;
}

struct WsShape {
  WsArrayKind kind;
  bool input_stationary;
  int m;
  int n;
  int k;
  GemmFill fill;
  uint64_t seed;
};

std::string ws_shape_name(const WsShape& s) {
  std::string kind = ws_array_config(s.kind).name;
  for (char& ch : kind) {
    if (ch == '-') ch = '_';
  }
  return kind + (s.input_stationary ? "_is" : "_ws") + "_m" + std::to_string(s.m) + "n" +
         std::to_string(s.n) + "k" + std::to_string(s.k) +
         (s.fill == GemmFill::kSaturate ? "_saturate" : "") + "_seed" + std::to_string(s.seed);
}

void PrintTo(const WsShape& s, std::ostream* os) { *os << ws_shape_name(s); }

class RtlWsGemm : public ::testing::TestWithParam<WsShape> {};

// Whole GEMMs: output columns (WS) or rows (IS) in folds of C, K in chunks of R resumed through
// the partial sums and sticky flags, every output bit-exact and every fold on the timeline.
TEST_P(RtlWsGemm, MatchesGoldenAndTimeline) {
  const WsShape& s = GetParam();
  const WsArrayConfig config = ws_array_config(s.kind);
  const Gemm gemm = make_gemm(as_array_config(config), s.m, s.n, s.k, s.seed, s.fill);
  DriverOptions options;
  options.trace_name = ws_shape_name(s);
  const CosimReport report =
      cosim_gemm_ws(s.kind, s.input_stationary, gemm, ws_shape_name(s), options);
  const int outer = s.input_stationary ? s.m : s.n;
  const uint64_t folds = static_cast<uint64_t>((outer + config.cols - 1) / config.cols) *
                         static_cast<uint64_t>((s.k + config.rows - 1) / config.rows);
  EXPECT_EQ(report.tiles, folds);
  // Every output of the last K chunk, padding columns included.
  const uint64_t col_folds = static_cast<uint64_t>((outer + config.cols - 1) / config.cols);
  EXPECT_EQ(report.cases, col_folds * static_cast<uint64_t>(config.cols) *
                              static_cast<uint64_t>(s.input_stationary ? s.n : s.m));
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
  EXPECT_EQ(report.cycles, report.expected_cycles) << describe(report);
  if (s.fill == GemmFill::kSaturate) {
    EXPECT_GT(report.saturated_outputs, 0u) << "the case was meant to saturate";
  }
}

std::vector<WsShape> ws_shapes() {
  std::vector<WsShape> out;
  for (const bool is : {false, true}) {
    out.push_back({WsArrayKind::kLbfp8, is, 1, 1, 1, GemmFill::kRandom, 1});
    out.push_back({WsArrayKind::kLbfp8, is, 5, 6, 9, GemmFill::kRandom, 2});
    out.push_back({WsArrayKind::kLbfp8, is, 9, 7, 64, GemmFill::kRandom, 3});
    out.push_back({WsArrayKind::kLbfp8, is, 4, 6, 400, GemmFill::kSaturate, 4});
    out.push_back({WsArrayKind::kBfp8, is, 6, 5, 11, GemmFill::kRandom, 5});
    out.push_back({WsArrayKind::kBfp8, is, 3, 9, 40, GemmFill::kRandom, 6});
    out.push_back({WsArrayKind::kLbfp8Narrow, is, 7, 5, 13, GemmFill::kRandom, 7});
    // A = 16 saturates mid-way: the flag and the clamp travel through the K chunks in k order.
    out.push_back({WsArrayKind::kLbfp8Narrow, is, 5, 3, 60, GemmFill::kSaturate, 8});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Shapes, RtlWsGemm, ::testing::ValuesIn(ws_shapes()),
                         [](const ::testing::TestParamInfo<WsShape>& p) {
                           return ws_shape_name(p.param);
                         });

// Every code pair through the multipliers: a K = 1 GEMM of all codes by all codes (BFP8 without
// the unused -128), in both operand orders (WS: A streams past B; IS: B streams past A), with
// the requantizer on every product.
TEST(RtlWsExhaustive, EveryCodePair) {
  for (const WsArrayKind kind : kKinds) {
    const WsArrayConfig config = ws_array_config(kind);
    const ArrayConfig as_os = as_array_config(config);
    Gemm g;
    for (int code = 0; code < 256; ++code) {
      if (config.bfp && code == 0x80) continue;
      g.a.push_back(static_cast<Code>(code));
      g.b.push_back(static_cast<Code>(code));
    }
    g.m = static_cast<int>(g.a.size());
    g.n = static_cast<int>(g.b.size());
    g.k = 1;
    std::mt19937 rng(static_cast<uint32_t>(kind) + 17);
    std::uniform_int_distribution<int> exp_dist(-8, 8);
    g.scales.resize(static_cast<size_t>(g.n));
    for (int& scale : g.scales) {
      scale =
          config.bfp
              ? BfpFormat(8, config.acc_bits).product_scale(exp_dist(rng), exp_dist(rng))
              : LbfpFormat(8, 4, 8, config.acc_bits).product_scale(exp_dist(rng), exp_dist(rng));
    }
    if (!config.bfp) g.out_exp = output_exponent(as_os, g);
    for (const bool is : {false, true}) {
      SCOPED_TRACE(config.name + (is ? " is" : " ws"));
      DriverOptions options;
      const CosimReport report = cosim_gemm_ws(kind, is, g, config.name + "_exhaustive", options);
      const int outer = is ? g.m : g.n;
      const int padded = (outer + config.cols - 1) / config.cols * config.cols;
      EXPECT_EQ(report.cases,
                static_cast<uint64_t>(padded) * static_cast<uint64_t>(is ? g.n : g.m));
      EXPECT_EQ(report.mismatches, 0u) << describe(report);
      EXPECT_EQ(report.cycles, report.expected_cycles) << describe(report);
    }
  }
}

// A stream of folds of different lengths, some handed over at once and some later, on every
// configuration: each fold's cycles equal the timeline's, an isolated fold's equal the closed
// form M + 2R + C + p, back-to-back folds of M steps start max(M, R + 1) apart, and every output
// equals the golden dot product of its step (from a random start value and flag).
TEST(RtlWsStream, FoldsOfDifferentLengthsFollowTheTimeline) {
  for (const WsArrayKind kind : kKinds) {
    const WsArrayConfig config = ws_array_config(kind);
    SCOPED_TRACE(config.name);
    const int rows = config.rows;
    const int cols = config.cols;
    std::mt19937_64 rng(static_cast<uint64_t>(kind) + 3);
    std::uniform_int_distribution<int> any_code(0, 255);
    const int64_t limit = int64_t{1} << (config.acc_bits - 3);
    std::uniform_int_distribution<int64_t> start(-limit, limit);
    auto code = [&] {
      while (true) {
        const int c = any_code(rng);
        if (!(config.bfp && c == 0x80)) return static_cast<Code>(c);
      }
    };
    WsArrayDriver driver(kind, DriverOptions{});
    arch::ArrayTimeline timeline(
        arch::ArrayGeometry{rows, cols, config.pipe_stages, arch::Dataflow::kWeightStationary});
    const arch::ArrayGeometry geometry{rows, cols, config.pipe_stages,
                                       arch::Dataflow::kWeightStationary};
    struct Fold {
      int used_rows, used_cols;
      int64_t steps;
      std::vector<Code> w, a;
      std::vector<int64_t> init;
      std::vector<uint8_t> init_ovf;
    };
    std::vector<Fold> folds;
    // Lengths: 1 and short folds (shorter than the preload), long ones; a pause before some.
    const std::vector<int64_t> lengths = {7, 1, 3, 1, 1, 12, 2, 5, 9, 1, 4};
    const std::vector<int> pause_before = {0, 0, 0, 0, 0, 0, 40, 0, 0, 3, 0};
    std::vector<FoldOutput> outputs;
    std::vector<arch::ArrayTimeline::Tile> wanted;
    auto collect = [&] {
      for (auto& [id, out] : driver.take_finished()) {
        EXPECT_EQ(id, outputs.size());
        outputs.push_back(std::move(out));
      }
    };
    for (size_t f = 0; f < lengths.size(); ++f) {
      for (int p = 0; p < pause_before[f]; ++p) {
        driver.clock();
        collect();
      }
      Fold fold;
      fold.used_rows = 1 + static_cast<int>(f % static_cast<size_t>(rows));
      fold.used_cols = 1 + static_cast<int>((f * 7) % static_cast<size_t>(cols));
      fold.steps = lengths[f];
      const auto steps = static_cast<size_t>(fold.steps);
      for (int i = 0; i < fold.used_rows * fold.used_cols; ++i) fold.w.push_back(code());
      for (size_t i = 0; i < steps * static_cast<size_t>(fold.used_rows); ++i) {
        fold.a.push_back(code());
      }
      for (size_t i = 0; i < steps * static_cast<size_t>(fold.used_cols); ++i) {
        fold.init.push_back(start(rng));
        fold.init_ovf.push_back(static_cast<uint8_t>(rng() % 5 == 0));
      }
      FoldInput in;
      in.rows = fold.used_rows;
      in.cols = fold.used_cols;
      in.steps = fold.steps;
      in.w = fold.w.data();
      in.ldw = static_cast<size_t>(fold.used_cols);
      in.a = fold.a.data();
      in.lda = static_cast<size_t>(fold.used_rows);
      in.init_acc = fold.init.data();
      in.init_ovf = fold.init_ovf.data();
      in.ld_init = static_cast<size_t>(fold.used_cols);
      const int64_t handed = driver.cycle();
      ASSERT_EQ(driver.push_fold(in), f);
      wanted.push_back(timeline.add(handed, fold.steps));
      folds.push_back(std::move(fold));
    }
    for (int t = 0; driver.busy() && t < 10000; ++t) {
      driver.clock();
      collect();
    }
    ASSERT_EQ(outputs.size(), folds.size());
    for (size_t f = 0; f < folds.size(); ++f) {
      SCOPED_TRACE("fold " + std::to_string(f));
      const FoldOutput& out = outputs[f];
      const Fold& fold = folds[f];
      for (const std::string& e : out.errors) ADD_FAILURE() << e;
      EXPECT_EQ(out.preload, wanted[f].preload);
      EXPECT_EQ(out.first, wanted[f].first);
      EXPECT_EQ(out.last, wanted[f].last);
      EXPECT_EQ(out.end, wanted[f].end);
      for (int64_t m = 0; m < fold.steps; ++m) {
        // Step m's row is on the outputs R + C + p cycles after the step was taken.
        EXPECT_EQ(out.step_cycle[static_cast<size_t>(m)],
                  out.first + m + rows + cols + config.pipe_stages);
        for (int c = 0; c < cols; ++c) {
          const size_t at =
              static_cast<size_t>(m) * static_cast<size_t>(cols) + static_cast<size_t>(c);
          if (c >= fold.used_cols) {
            EXPECT_EQ(out.acc[at], 0);
            EXPECT_EQ(out.overflow[at], 0);
            continue;
          }
          std::vector<Code> x, w;
          for (int r = 0; r < fold.used_rows; ++r) {
            x.push_back(fold.a[static_cast<size_t>(m) * static_cast<size_t>(fold.used_rows) +
                               static_cast<size_t>(r)]);
            w.push_back(fold.w[static_cast<size_t>(r * fold.used_cols + c)]);
          }
          const size_t init_at =
              static_cast<size_t>(m) * static_cast<size_t>(fold.used_cols) + static_cast<size_t>(c);
          const DotResult want =
              config.bfp ? dot(BfpFormat(8, config.acc_bits), x, w, fold.init[init_at])
                         : dot(LbfpFormat(8, 4, 8, config.acc_bits), x, w, fold.init[init_at]);
          EXPECT_EQ(out.acc[at], want.acc) << "step " << m << " column " << c;
          EXPECT_EQ(out.overflow[at] != 0, want.overflows > 0 || fold.init_ovf[init_at] != 0)
              << "step " << m << " column " << c;
        }
      }
    }
    // The first fold is isolated (handed to an idle array): the closed form.
    EXPECT_EQ(outputs[0].end - outputs[0].preload + 1,
              arch::array_tile_cycles(geometry, lengths[0]));
    EXPECT_EQ(outputs[0].end - outputs[0].preload + 1,
              lengths[0] + 2 * rows + cols + config.pipe_stages);
  }
}

// Back to back, folds of M steps start max(M, R + 1) cycles apart.
TEST(RtlWsStream, SteadyIntervalIsMaxOfStepsAndPreload) {
  for (const WsArrayKind kind : kKinds) {
    const WsArrayConfig config = ws_array_config(kind);
    for (const int64_t m : {int64_t{1}, int64_t{2}, int64_t{config.rows}, int64_t{config.rows + 1},
                            int64_t{config.rows + 3}}) {
      SCOPED_TRACE(config.name + " M=" + std::to_string(m));
      WsArrayDriver driver(kind, DriverOptions{});
      const std::vector<Code> w(static_cast<size_t>(config.rows * config.cols), Code{0x21});
      const std::vector<Code> a(static_cast<size_t>(m * config.rows), Code{0x13});
      FoldInput in;
      in.rows = config.rows;
      in.cols = config.cols;
      in.steps = m;
      in.w = w.data();
      in.ldw = static_cast<size_t>(config.cols);
      in.a = a.data();
      in.lda = static_cast<size_t>(config.rows);
      for (int f = 0; f < 5; ++f) driver.push_fold(in);
      std::vector<FoldOutput> outs;
      for (int t = 0; driver.busy() && t < 1000; ++t) {
        driver.clock();
        for (auto& [id, out] : driver.take_finished()) outs.push_back(std::move(out));
      }
      ASSERT_EQ(outs.size(), 5u);
      for (size_t f = 1; f < outs.size(); ++f) {
        EXPECT_EQ(outs[f].first - outs[f - 1].first, std::max<int64_t>(m, config.rows + 1));
      }
    }
  }
}

}  // namespace
}  // namespace lbfp::rtl
