// The C++ array model: outputs against the golden GEMM, the cycle mode against the tile mode,
// and the timing against the documented formula. Plain C++ (no simulation kernel needed).
#include <gtest/gtest.h>

#include <array>
#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/arch/array_model.h"
#include "lbfp/arith.h"

namespace lbfp::arch {
namespace {

struct Case {
  int rows, cols;
  int64_t k;
  bool saturate;
  bool bias;
};

template <class Format>
void check(const Format& format, const ArrayGeometry& g, const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> any(0, 255);
  std::uniform_int_distribution<int> big(0x70, 0x7f);
  const auto k = static_cast<size_t>(c.k);
  std::vector<Code> a(static_cast<size_t>(c.rows) * k);
  std::vector<Code> b(k * static_cast<size_t>(c.cols));
  for (auto& x : a) {
    x = static_cast<Code>(c.saturate ? big(rng) : any(rng));
    if constexpr (std::is_same_v<Format, BfpFormat>) {
      if (x == 0x80) x = 0x81;
    }
  }
  for (auto& x : b) {
    x = static_cast<Code>(c.saturate ? big(rng) : any(rng));
    if constexpr (std::is_same_v<Format, BfpFormat>) {
      if (x == 0x80) x = 0x81;
    }
  }
  std::vector<int> exps(static_cast<size_t>(c.cols));
  std::vector<float> bias(static_cast<size_t>(c.cols));
  for (int j = 0; j < c.cols; ++j) {
    exps[static_cast<size_t>(j)] = j % 5 - 2;
    bias[static_cast<size_t>(j)] = static_cast<float>(j) * 0.37f - 1.0f;
  }
  TileJob job;
  job.rows = c.rows;
  job.cols = c.cols;
  job.k = c.k;
  job.a = a.data();
  job.lda = k;
  job.b = b.data();
  job.ldb = static_cast<size_t>(c.cols);
  job.a_exponent = 1;
  job.b_exponents = exps.data();
  job.bias = c.bias ? bias.data() : nullptr;
  job.out_exponent = 6;
  job.relu = seed % 2 == 1;

  ArrayModel cycle_model(g, format);
  cycle_model.start(job);
  std::vector<int> drained;
  int64_t cycles = 0;
  bool busy = true;
  while (busy) {
    busy = cycle_model.clock();
    ++cycles;
    if (cycle_model.output_row() >= 0) drained.push_back(cycle_model.output_row());
  }
  const int64_t steps = array_tile_steps(g, c.rows, c.cols, c.k);
  EXPECT_EQ(cycles, array_tile_cycles(g, steps));
  // Output-stationary: the rows leave top first, one per cycle, in the last R cycles; weight-/
  // input-stationary: one output row / column per step, in step order, in the last `steps`.
  const int64_t leaving = g.dataflow == Dataflow::kOutputStationary ? g.rows : steps;
  ASSERT_EQ(drained.size(), static_cast<size_t>(leaving));
  for (int i = 0; i < leaving; ++i) EXPECT_EQ(drained[static_cast<size_t>(i)], i);

  ArrayModel tile_model(g, format);
  tile_model.start(job);
  EXPECT_EQ(tile_model.compute_whole_tile(), cycles);

  const TileResult& r = cycle_model.result();
  const TileResult& t = tile_model.result();
  bool saw_saturation = false;
  for (int i = 0; i < c.rows; ++i) {
    for (int j = 0; j < c.cols; ++j) {
      const int scale = format.product_scale(1, exps[static_cast<size_t>(j)]);
      const int64_t init =
          c.bias ? bias_to_accumulator(format.acc_bits(), bias[static_cast<size_t>(j)], scale) : 0;
      std::vector<Code> row(a.begin() + static_cast<long>(static_cast<size_t>(i) * k),
                            a.begin() + static_cast<long>(static_cast<size_t>(i + 1) * k));
      std::vector<Code> col;
      for (size_t kk = 0; kk < k; ++kk) col.push_back(b[kk * static_cast<size_t>(c.cols) + static_cast<size_t>(j)]);
      const DotResult want = dot(format, row, col, init);
      const auto idx = static_cast<size_t>(i * c.cols + j);
      ASSERT_EQ(r.acc[idx], want.acc) << "C[" << i << "][" << j << "]";
      ASSERT_EQ(r.overflow_steps[idx], want.overflows);
      ASSERT_EQ(r.codes[idx], requantize(format, want.acc, scale, 6, job.relu));
      ASSERT_EQ(t.acc[idx], r.acc[idx]);
      ASSERT_EQ(t.overflow_steps[idx], r.overflow_steps[idx]);
      ASSERT_EQ(t.codes[idx], r.codes[idx]);
      saw_saturation |= want.overflows > 0;
    }
  }
  if (c.saturate) {
    EXPECT_TRUE(saw_saturation);
  }
  EXPECT_EQ(cycle_model.activity().macs, tile_model.activity().macs);
  EXPECT_EQ(cycle_model.activity().zero_macs, tile_model.activity().zero_macs);
  EXPECT_EQ(cycle_model.activity().macs,
            static_cast<uint64_t>(c.rows) * static_cast<uint64_t>(c.cols) * k);
}

TEST(ArrayModel, MatchesTheGoldenGemmInBothModes) {
  const ArrayGeometry g{4, 4, 1};
  const Case cases[] = {{4, 4, 1, false, false},   {4, 4, 37, false, true},
                        {3, 2, 200, false, false}, {1, 1, 5, false, true},
                        {4, 3, 64, false, false},  {2, 4, 301, false, true}};
  uint32_t seed = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.rows << "x" << c.cols << " K=" << c.k);
    check(lbfp8(), g, c, seed++);
    check(bfp8(), g, c, seed++);
  }
}

TEST(ArrayModel, SaturatesExactlyWithANarrowAccumulator) {
  const ArrayGeometry g{3, 2, 2};
  const LbfpFormat narrow(8, 4, 8, 16);
  check(narrow, g, {3, 2, 50, true, false}, 7);
  check(narrow, g, {3, 2, 50, true, true}, 8);
  check(BfpFormat(8, 16), g, {3, 2, 50, true, false}, 9);
}

// A block of tiles computed ahead in one kernel call, each tile asking only for its codes
// (keep_sums false, as the accelerator's last K chunks do) against the same tiles keeping their
// sums: the same codes, flags and saturating steps, and the codes those of the golden dot
// product; the output exponent changes halfway (the block's codes are made again), and a
// narrow accumulator saturates.
template <class Format>
void check_codes_only(const Format& format, bool saturate, uint32_t seed) {
  const ArrayGeometry g{4, 4, 1};
  constexpr int kRows = 10, kCols = 12;
  constexpr int64_t kK = 40;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(saturate ? 0x70 : 0, saturate ? 0x7f : 255);
  std::vector<Code> a(kRows * kK), b(kK * kCols);
  for (auto* v : {&a, &b}) {
    for (auto& x : *v) {
      x = static_cast<Code>(code(rng));
      if (std::is_same_v<Format, BfpFormat> && x == 0x80) x = 0x81;
    }
  }
  std::vector<int> exps(kCols);
  std::vector<float> bias(kCols);
  for (int j = 0; j < kCols; ++j) {
    exps[static_cast<size_t>(j)] = j % 3 - 1;
    bias[static_cast<size_t>(j)] = static_cast<float>(j % 4) * 0.5f - 0.75f;
  }
  ArrayModel keeping(g, format), coding(g, format);
  int tiles = 0;
  bool saw_saturation = false;
  for (int m0 = 0; m0 < kRows; m0 += 4) {
    for (int n0 = 0; n0 < kCols; n0 += 4) {
      TileJob job;
      job.rows = std::min(4, kRows - m0);
      job.cols = std::min(4, kCols - n0);
      job.k = kK;
      job.a = a.data() + static_cast<size_t>(m0) * kK;
      job.lda = kK;
      job.b = b.data() + n0;
      job.ldb = kCols;
      job.a_exponent = 1;
      job.b_exponents = exps.data() + n0;
      job.bias = bias.data() + n0;
      job.out_exponent = tiles < 5 ? 6 : 4;
      job.relu = seed % 2 == 0;
      job.lookahead_cols = kCols - n0 - job.cols;
      job.lookahead_rows = kRows - m0 - job.rows;
      job.reuse_tag = 1;
      ++tiles;
      SCOPED_TRACE(testing::Message() << "tile at " << m0 << ", " << n0);
      keeping.start(job);
      keeping.compute_whole_tile();
      job.keep_sums = false;
      coding.start(job);
      coding.compute_whole_tile();
      const TileResult& want = keeping.result();
      const TileResult& got = coding.result();
      ASSERT_EQ(got.codes, want.codes);
      ASSERT_EQ(got.overflow, want.overflow);
      uint64_t want_steps = 0, got_steps = 0;
      for (uint64_t n : want.overflow_steps) want_steps += n;
      for (uint64_t n : got.overflow_steps) got_steps += n;
      EXPECT_EQ(got_steps, want_steps);
      saw_saturation |= want_steps > 0;
      for (int i = 0; i < job.rows; ++i) {
        for (int j = 0; j < job.cols; ++j) {
          const int scale = format.product_scale(1, exps[static_cast<size_t>(n0 + j)]);
          std::vector<Code> row(a.begin() + (m0 + i) * kK, a.begin() + (m0 + i + 1) * kK), col;
          for (int64_t kk = 0; kk < kK; ++kk) col.push_back(b[static_cast<size_t>(kk * kCols + n0 + j)]);
          const DotResult d = dot(format, row, col,
                                  bias_to_accumulator(format.acc_bits(),
                                                      bias[static_cast<size_t>(n0 + j)], scale));
          ASSERT_EQ(got.codes[static_cast<size_t>(i * job.cols + j)],
                    requantize(format, d.acc, scale, job.out_exponent, job.relu))
              << "C[" << m0 + i << "][" << n0 + j << "]";
        }
      }
    }
  }
  EXPECT_EQ(saw_saturation, saturate);
}

TEST(ArrayModel, CodesOnlyTilesTakeTheirSliceOfTheBlockComputedAhead) {
  check_codes_only(lbfp8(), false, 1);
  check_codes_only(lbfp8(), false, 2);
  check_codes_only(bfp8(), false, 3);
  check_codes_only(LbfpFormat(8, 4, 8, 16), true, 4);
  check_codes_only(BfpFormat(8, 16), true, 5);
}

TEST(ArrayModel, TimingFollowsTheFormulaForEveryGeometry) {
  for (int rows : {1, 2, 5, 16}) {
    for (int cols : {1, 3, 16}) {
      for (int pipe : {0, 1, 3}) {
        const ArrayGeometry g{rows, cols, pipe};
        check(lbfp8(), g, {rows, cols, 9, false, false}, 3);
      }
    }
  }
}

// Operands of a split reduction: A (rows x k), B (k x cols), drawn from `seed` (large codes
// that saturate a narrow accumulator, about a third negative, when `saturate`), and each
// column's weight exponent and bias.
struct SplitOperands {
  std::vector<Code> a, b;
  std::vector<int> exps;
  std::vector<float> bias;
};
template <class Format>
SplitOperands split_operands(int rows, int cols, size_t k, bool saturate, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> any(0, 255);
  std::uniform_int_distribution<int> big(0x70, 0x7f);
  std::bernoulli_distribution negative(0.3);
  auto draw = [&]() {
    auto x = static_cast<Code>(saturate ? big(rng) | (negative(rng) ? 0x80 : 0) : any(rng));
    if constexpr (std::is_same_v<Format, BfpFormat>) {
      if (x == 0x80) x = 0x81;
      if (saturate) x = static_cast<Code>(negative(rng) ? 0x81 : 0x7f);
    }
    return x;
  };
  SplitOperands o;
  o.a.resize(static_cast<size_t>(rows) * k);
  o.b.resize(k * static_cast<size_t>(cols));
  for (auto& x : o.a) x = draw();
  for (auto& x : o.b) x = draw();
  for (int j = 0; j < cols; ++j) {
    o.exps.push_back(j % 3 - 1);
    o.bias.push_back(static_cast<float>(j) * 0.37f - 1.0f);
  }
  return o;
}

// Each output's sum, sticky flag, saturating steps and code (rows x cols) against lbfp::dot
// over the whole reduction (A exponent 1, the bias first, requantized to exponent 6 without
// ReLU); *saturated when some output saturated.
template <class Format>
void expect_split_sums(const Format& format, const SplitOperands& o, int rows, int cols, size_t k,
                       const std::vector<int64_t>& acc, const std::vector<uint8_t>& flag,
                       const std::vector<uint64_t>& steps, const std::vector<Code>& codes,
                       const char* label, bool* saturated) {
  *saturated = false;
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) {
      const int scale = format.product_scale(1, o.exps[static_cast<size_t>(j)]);
      const int64_t init =
          bias_to_accumulator(format.acc_bits(), o.bias[static_cast<size_t>(j)], scale);
      std::vector<Code> row(o.a.begin() + static_cast<long>(static_cast<size_t>(i) * k),
                            o.a.begin() + static_cast<long>(static_cast<size_t>(i + 1) * k));
      std::vector<Code> col;
      for (size_t kk = 0; kk < k; ++kk) {
        col.push_back(o.b[kk * static_cast<size_t>(cols) + static_cast<size_t>(j)]);
      }
      const DotResult want = dot(format, row, col, init);
      const auto idx = static_cast<size_t>(i * cols + j);
      ASSERT_EQ(acc[idx], want.acc) << label << " C[" << i << "][" << j << "]";
      ASSERT_EQ(flag[idx], want.overflows > 0 ? 1 : 0) << label << " C[" << i << "][" << j << "]";
      ASSERT_EQ(steps[idx], want.overflows) << label << " C[" << i << "][" << j << "]";
      ASSERT_EQ(codes[idx], requantize(format, want.acc, scale, 6, false)) << label;
      *saturated |= want.overflows > 0;
    }
  }
}

// A reduction cut into K chunks, each chunk one tile that resumes the previous one's partial
// sums and flags (TileJob::init_acc / init_overflow), requantized only at the end: in both
// modes, bit for bit the unsplit golden reduction (value, sticky flag, the steps' saturation
// count summed over the chunks), including data that saturates mid-way.
template <class Format>
void check_split(const Format& format, const ArrayGeometry& g, int rows, int cols, int64_t k,
                 const std::vector<int64_t>& cuts, bool saturate, uint32_t seed) {
  const auto ku = static_cast<size_t>(k);
  const SplitOperands o = split_operands<Format>(rows, cols, ku, saturate, seed);
  const auto n = static_cast<size_t>(rows * cols);
  for (bool cycle_mode : {true, false}) {
    ArrayModel model(g, format);
    std::vector<int64_t> acc(n, 0);
    std::vector<uint8_t> flag(n, 0);
    std::vector<uint64_t> steps(n, 0);
    std::vector<Code> codes(n, 0);
    for (size_t j = 0; j + 1 < cuts.size(); ++j) {
      TileJob job;
      job.rows = rows;
      job.cols = cols;
      job.k = cuts[j + 1] - cuts[j];
      job.a = o.a.data() + cuts[j];
      job.lda = ku;
      job.b = o.b.data() + static_cast<size_t>(cuts[j]) * static_cast<size_t>(cols);
      job.ldb = static_cast<size_t>(cols);
      job.a_exponent = 1;
      job.b_exponents = o.exps.data();
      job.out_exponent = 6;
      job.relu = false;
      const std::vector<int64_t> prev_acc = acc;
      const std::vector<uint8_t> prev_flag = flag;
      if (j == 0) {
        job.bias = o.bias.data();
      } else {
        job.init_acc = prev_acc.data();
        job.init_overflow = prev_flag.data();
      }
      job.requantize = j + 2 == cuts.size();
      model.start(job);
      if (cycle_mode) {
        EXPECT_EQ(model.run_to_completion(),
                  array_tile_cycles(g, array_tile_steps(g, rows, cols, job.k)));
      } else {
        model.compute_whole_tile();
      }
      const TileResult& r = model.result();
      acc = r.acc;
      flag = r.overflow;
      for (size_t i = 0; i < n; ++i) steps[i] += r.overflow_steps[i];
      if (job.requantize) codes = r.codes;
    }
    bool saw_saturation = false;
    expect_split_sums(format, o, rows, cols, ku, acc, flag, steps, codes,
                      cycle_mode ? "cycle" : "tile", &saw_saturation);
    if (saturate) {
      EXPECT_TRUE(saw_saturation);
    }
  }
}

TEST(ArrayModel, SplitReductionsResumeExactlyInBothModes) {
  const ArrayGeometry g{4, 4, 1};
  check_split(lbfp8(), g, 4, 4, 37, {0, 1, 12, 37}, false, 1);
  check_split(lbfp8(), g, 3, 2, 200, {0, 100, 101, 200}, false, 2);
  check_split(bfp8(), g, 4, 3, 64, {0, 32, 64}, false, 3);
  // A 16-bit accumulator on large codes saturates within the first chunk, and later chunks
  // pull it back from the clamp: the flag stays set and the value follows the k-order sum.
  const ArrayGeometry narrow{3, 2, 0};
  check_split(LbfpFormat(8, 4, 8, 16), narrow, 3, 2, 60, {0, 7, 8, 30, 60}, true, 4);
  check_split(BfpFormat(8, 16), narrow, 3, 2, 60, {0, 20, 21, 60}, true, 5);
}

TEST(ArrayModel, SplitReductionsExhaustivelyOverCutPoints) {
  // Every way to cut a 9-step reduction once or twice, on saturating data.
  const ArrayGeometry g{2, 2, 1};
  const LbfpFormat narrow(8, 4, 8, 16);
  uint32_t seed = 20;
  for (int64_t c1 = 1; c1 < 9; ++c1) {
    check_split(narrow, g, 2, 2, 9, {0, c1, 9}, true, seed++);
    for (int64_t c2 = c1 + 1; c2 < 9; ++c2) {
      check_split(narrow, g, 2, 2, 9, {0, c1, c2, 9}, true, seed++);
    }
  }
}

TEST(ArrayModel, RejectsBadPartialSums) {
  ArrayModel m({2, 2, 1}, LbfpFormat(8, 4, 8, 16));
  std::vector<Code> z(16, 0);
  std::vector<int> e(2, 0);
  std::vector<float> bias(2, 0.0f);
  std::vector<int64_t> init(4, 0);
  TileJob job;
  job.rows = 2;
  job.cols = 2;
  job.k = 2;
  job.a = z.data();
  job.lda = 2;
  job.b = z.data();
  job.ldb = 2;
  job.b_exponents = e.data();
  job.bias = bias.data();
  job.init_acc = init.data();
  EXPECT_THROW(m.start(job), std::invalid_argument);  // both a bias and partial sums
  job.bias = nullptr;
  init[3] = 1 << 15;  // outside A = 16
  EXPECT_THROW(m.start(job), std::invalid_argument);
  init[3] = -(1 << 15);
  EXPECT_NO_THROW(m.start(job));
}

// Streams of tiles handed over as early as the array allows (ArrayTimeline::next_handover),
// against cycle numbers derived by hand from the RTL's rules (docs/microarchitecture.md,
// "Latency"): preload rows R from max(hand-over, previous first step + max(p, 1)); first step
// after them and after the previous last step; last steps max(R, C) apart; the last row out
// R + C + p cycles after the last step.
TEST(ArrayTimeline, StreamsFollowTheHandDerivedSchedule) {
  struct Want {
    int64_t preload, first, last, end;
  };
  auto run = [](const ArrayGeometry& g, int64_t k, const std::vector<Want>& want) {
    ArrayTimeline timeline(g);
    int64_t handover = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const ArrayTimeline::Tile t = timeline.add(handover, k);
      EXPECT_EQ(t.preload, want[i].preload) << "tile " << i;
      EXPECT_EQ(t.first, want[i].first) << "tile " << i;
      EXPECT_EQ(t.last, want[i].last) << "tile " << i;
      EXPECT_EQ(t.end, want[i].end) << "tile " << i;
      handover = t.next_handover;
    }
  };
  // 4x4, p = 1, K = 10: the reduction is the bottleneck, tiles start K apart.
  run({4, 4, 1}, 10, {{0, 4, 13, 22}, {5, 14, 23, 32}, {15, 24, 33, 42}});
  // 4x4, p = 1, K = 2: the preload is: R + max(p, 1) = 5 apart.
  run({4, 4, 1}, 2, {{0, 4, 5, 14}, {5, 9, 10, 19}, {10, 14, 15, 24}});
  // 2x6, p = 0, K = 3: the results are: last steps C = 6 apart.
  run({2, 6, 0}, 3, {{0, 2, 4, 12}, {3, 5, 10, 18}, {6, 11, 16, 24}, {12, 17, 22, 30}});
  // 1x1, p = 3, K = 1: first = last; preload 1 + 3 apart.
  run({1, 1, 3}, 1, {{0, 1, 1, 6}, {4, 5, 5, 10}, {8, 9, 9, 14}});
}

TEST(ArrayTimeline, SteadyStreamsCostTheIntervalPerTile) {
  for (int rows : {1, 2, 5, 16}) {
    for (int cols : {1, 3, 16}) {
      for (int pipe : {0, 1, 3}) {
        for (int64_t k : {1, 2, 7, 40}) {
          const ArrayGeometry g{rows, cols, pipe};
          ArrayTimeline timeline(g);
          int64_t handover = 0;
          ArrayTimeline::Tile t{};
          const int tiles = 6;
          for (int i = 0; i < tiles; ++i) {
            t = timeline.add(handover, k);
            handover = t.next_handover;
          }
          // One fill (the first preload, R) and one drain, the rest one interval per tile.
          const int64_t want = array_tile_cycles(g, k) + (tiles - 1) * array_tile_interval(g, k);
          EXPECT_EQ(t.end + 1, want) << rows << "x" << cols << " p " << pipe << " K " << k;
        }
      }
    }
  }
}

ArrayGeometry with_dataflow(ArrayGeometry g, Dataflow d) {
  g.dataflow = d;
  return g;
}

// Weight-stationary: any number of rows (steps), K <= R, cols <= C; input-stationary: any
// number of cols (steps), K <= R, rows <= C. The same golden sums in k order, the same bits in
// the cycle and tile modes, and the cycles of the formula with K -> M (or N).
TEST(ArrayModel, StationaryDataflowsMatchTheGoldenGemmInBothModes) {
  const ArrayGeometry g{4, 3, 1};
  const ArrayGeometry ws = with_dataflow(g, Dataflow::kWeightStationary);
  const ArrayGeometry is = with_dataflow(g, Dataflow::kInputStationary);
  uint32_t seed = 100;
  const Case ws_cases[] = {{1, 1, 1, false, false}, {37, 3, 4, false, true},
                           {5, 2, 3, false, false}, {64, 3, 1, false, true},
                           {2, 3, 4, false, true}};
  for (const Case& c : ws_cases) {
    SCOPED_TRACE(testing::Message() << "WS " << c.rows << "x" << c.cols << " K=" << c.k);
    check(lbfp8(), ws, c, seed++);
    check(bfp8(), ws, c, seed++);
  }
  const Case is_cases[] = {{1, 1, 1, false, false}, {3, 41, 4, false, true},
                           {2, 5, 3, false, false}, {3, 64, 1, false, true},
                           {3, 2, 4, false, true}};
  for (const Case& c : is_cases) {
    SCOPED_TRACE(testing::Message() << "IS " << c.rows << "x" << c.cols << " K=" << c.k);
    check(lbfp8(), is, c, seed++);
    check(bfp8(), is, c, seed++);
  }
  for (int pipe : {0, 3}) {
    check(lbfp8(), with_dataflow({2, 5, pipe}, Dataflow::kWeightStationary),
          {9, 5, 2, false, true}, seed++);
    check(lbfp8(), with_dataflow({2, 5, pipe}, Dataflow::kInputStationary),
          {5, 9, 2, false, true}, seed++);
  }
  // Saturation in k order, a narrow accumulator.
  const LbfpFormat narrow(8, 4, 8, 16);
  check(narrow, with_dataflow({50, 2, 2}, Dataflow::kWeightStationary), {7, 2, 50, true, false},
        7);
  check(narrow, with_dataflow({50, 2, 2}, Dataflow::kInputStationary), {2, 7, 50, true, true}, 8);
  check(BfpFormat(8, 16), with_dataflow({50, 2, 2}, Dataflow::kWeightStationary),
        {6, 2, 50, true, false}, 9);
  check(BfpFormat(8, 16), with_dataflow({50, 2, 2}, Dataflow::kInputStationary),
        {2, 6, 50, true, false}, 9);
}

// A reduction longer than R runs as folds of at most R that resume each other's partial sums.
TEST(ArrayModel, StationaryDataflowsResumeFoldsExactly) {
  const LbfpFormat narrow(8, 4, 8, 16);
  for (Dataflow d : {Dataflow::kWeightStationary, Dataflow::kInputStationary}) {
    const ArrayGeometry g = with_dataflow({4, 4, 1}, d);
    const bool ws = d == Dataflow::kWeightStationary;
    check_split(lbfp8(), g, ws ? 9 : 4, ws ? 4 : 9, 11, {0, 4, 8, 11}, false, 1);
    check_split(bfp8(), g, ws ? 20 : 3, ws ? 3 : 20, 7, {0, 3, 4, 7}, false, 2);
    check_split(narrow, g, ws ? 5 : 2, ws ? 2 : 5, 16, {0, 4, 8, 12, 16}, true, 3);
    check_split(BfpFormat(8, 16), g, ws ? 5 : 2, ws ? 2 : 5, 16, {0, 1, 5, 9, 13, 16}, true, 4);
  }
}

// Tile mode, weight-/input-stationary: a K chunk's folds as one fold chain (TileJob::fold_tag)
// over a region of 2 x 2 tiles of uneven sizes. K = 20 in two chunks: 12 steps (three folds of 4,
// from the bias, its sums kept) and 8 (two folds, resumed from the first chunk's sums and flags
// at its first fold, requantized). The folds before a chunk's last give no sums; the last
// folds' are the golden sequential saturating sums (value, sticky flag, steps over both
// chunks), with a 16-bit accumulator that saturates.
template <class Format>
void check_fold_chain(const Format& format, Dataflow d, uint32_t seed) {
  const ArrayGeometry g = with_dataflow({4, 4, 1}, d);
  const bool ws = d == Dataflow::kWeightStationary;
  const std::vector<int> row_tiles = ws ? std::vector<int>{3, 2} : std::vector<int>{4, 3};
  const std::vector<int> col_tiles = ws ? std::vector<int>{4, 3} : std::vector<int>{3, 2};
  const int rows = row_tiles[0] + row_tiles[1];
  const int cols = col_tiles[0] + col_tiles[1];
  const size_t k = 20;
  const int64_t chunks[2][2] = {{0, 12}, {12, 20}};  // first step, end
  const SplitOperands o = split_operands<Format>(rows, cols, k, true, seed);
  const auto n = static_cast<size_t>(rows * cols);
  std::vector<int64_t> acc(n, 0);
  std::vector<uint8_t> flag(n, 0);
  std::vector<uint64_t> steps(n, 0);
  std::vector<Code> codes(n, 0);
  ArrayModel model(g, format);
  for (int c = 0; c < 2; ++c) {
    const int64_t k0 = chunks[c][0];
    const int64_t chunk_k = chunks[c][1] - k0;
    const std::vector<int64_t> prev_acc = acc;
    const std::vector<uint8_t> prev_flag = flag;
    for (int64_t f0 = 0; f0 < chunk_k; f0 += 4) {
      const bool last_fold = f0 + 4 == chunk_k;
      int r0 = 0;
      for (const int tile_rows : row_tiles) {
        int c0 = 0;
        for (const int tile_cols : col_tiles) {
          TileJob job;
          job.rows = tile_rows;
          job.cols = tile_cols;
          job.k = 4;
          job.a = o.a.data() + static_cast<size_t>(r0) * k + static_cast<size_t>(k0 + f0);
          job.lda = k;
          job.b = o.b.data() + static_cast<size_t>(k0 + f0) * static_cast<size_t>(cols) +
                  static_cast<size_t>(c0);
          job.ldb = static_cast<size_t>(cols);
          job.a_exponent = 1;
          job.b_exponents = o.exps.data() + c0;
          job.out_exponent = 6;
          job.chunk_k = chunk_k;
          job.fold_k0 = f0;
          job.fold_tag = static_cast<uint64_t>(c + 1);
          job.lookahead_rows = rows - r0 - tile_rows;
          job.lookahead_cols = cols - c0 - tile_cols;
          // The tile's own start values (stride cols), as the partial-sum store gives them.
          std::vector<int64_t> init;
          std::vector<uint8_t> init_flags;
          if (f0 == 0 && c == 0) job.bias = o.bias.data() + c0;
          if (f0 == 0 && c == 1) {
            for (int i = 0; i < tile_rows; ++i) {
              for (int j = 0; j < tile_cols; ++j) {
                const auto at = static_cast<size_t>((r0 + i) * cols + c0 + j);
                init.push_back(prev_acc[at]);
                init_flags.push_back(prev_flag[at]);
              }
            }
            job.init_acc = init.data();
            job.init_overflow = init_flags.data();
          }
          job.requantize = c == 1 && last_fold;
          model.start(job);
          EXPECT_EQ(model.compute_whole_tile(),
                    array_tile_cycles(g, array_tile_steps(g, tile_rows, tile_cols, 4)));
          const TileResult& r = model.result();
          if (!last_fold) {
            EXPECT_TRUE(r.acc.empty() && r.overflow.empty() && r.overflow_steps.empty() &&
                        r.codes.empty());
          } else {
            for (int i = 0; i < tile_rows; ++i) {
              for (int j = 0; j < tile_cols; ++j) {
                const auto at = static_cast<size_t>((r0 + i) * cols + c0 + j);
                const auto from = static_cast<size_t>(i * tile_cols + j);
                acc[at] = r.acc[from];
                flag[at] = r.overflow[from];
                steps[at] += r.overflow_steps[from];
                if (job.requantize) codes[at] = r.codes[from];
              }
            }
          }
          c0 += tile_cols;
        }
        r0 += tile_rows;
      }
    }
  }
  bool saw_saturation = false;
  expect_split_sums(format, o, rows, cols, k, acc, flag, steps, codes, "tile", &saw_saturation);
  EXPECT_TRUE(saw_saturation);
}

TEST(ArrayModel, FoldChainsGiveTheChunksSumsAtTheirLastFold) {
  for (Dataflow d : {Dataflow::kWeightStationary, Dataflow::kInputStationary}) {
    SCOPED_TRACE(dataflow_name(d));
    check_fold_chain(LbfpFormat(8, 4, 8, 16), d, 1);
    check_fold_chain(BfpFormat(8, 16), d, 2);
  }
}

// A fold chain out of order or outside its region is a caller's error.
TEST(ArrayModel, FoldChainsRejectFoldsOutOfOrder) {
  std::vector<Code> z(8 * 16, 0x11);
  std::vector<int> e(8, 0);
  std::vector<int64_t> init(8 * 4, 5);
  const ArrayGeometry g = with_dataflow({4, 4, 1}, Dataflow::kWeightStationary);
  // Tile (row r0, fold f0) of a chain over 4 x 4 outputs, K 8 in two folds, tiles of 2 x 4.
  auto tile = [&](int r0, int64_t f0, uint64_t tag, bool resumed) {
    TileJob job;
    job.rows = 2;
    job.cols = 4;
    job.k = 4;
    job.a = z.data() + static_cast<size_t>(r0) * 8 + static_cast<size_t>(f0);
    job.lda = 8;
    job.b = z.data() + static_cast<size_t>(f0) * 4;
    job.ldb = 4;
    job.b_exponents = e.data();
    job.chunk_k = 8;
    job.fold_k0 = f0;
    job.fold_tag = tag;
    job.lookahead_rows = 2 - r0;
    job.init_acc = resumed ? init.data() : nullptr;
    job.requantize = false;
    return job;
  };
  // Runs `before` on a fresh model, then `bad`, which must fail with `what` in its message.
  auto rejects = [&](const std::vector<TileJob>& before, const TileJob& bad, const char* what) {
    ArrayModel m(g, lbfp8());
    for (const TileJob& job : before) {
      m.start(job);
      m.compute_whole_tile();
    }
    m.start(bad);
    try {
      m.compute_whole_tile();
      ADD_FAILURE() << "no error; wanted: " << what;
    } catch (const std::logic_error& error) {
      EXPECT_NE(std::string(error.what()).find(what), std::string::npos) << error.what();
    }
  };
  rejects({}, tile(0, 4, 1, false), "starts a fold chain");
  TileJob outside = tile(2, 0, 1, false);
  outside.a += 8 * 2;  // rows 4 and 5 of a region of 4
  rejects({tile(0, 0, 1, false)}, outside, "outside its chain's region");
  rejects({tile(0, 0, 1, false), tile(2, 0, 1, false)}, tile(2, 4, 1, true), "resumes sums");
  // The last fold before the region's second tile has given its start values.
  rejects({tile(0, 0, 1, true)}, tile(0, 4, 1, false), "before its region's first fold");
  rejects({tile(0, 0, 1, true)}, tile(2, 0, 1, false), "disagree on resuming");
  TileJob long_fold = tile(0, 0, 2, false);
  long_fold.fold_k0 = 6;  // 6 + 4 steps in a chunk of 8
  rejects({}, long_fold, "not inside its chunk");
}

TEST(ArrayModel, StationaryDataflowsRejectTilesThatDoNotFit) {
  std::vector<Code> z(64, 0);
  std::vector<int> e(8, 0);
  TileJob job;
  job.a = z.data();
  job.b = z.data();
  job.lda = 8;
  job.ldb = 8;
  job.b_exponents = e.data();
  ArrayModel ws(with_dataflow({2, 3, 1}, Dataflow::kWeightStationary), lbfp8());
  ArrayModel is(with_dataflow({2, 3, 1}, Dataflow::kInputStationary), lbfp8());
  job.rows = 7;  // any rows in WS
  job.cols = 3;
  job.k = 2;
  EXPECT_NO_THROW(ws.start(job));
  EXPECT_THROW(is.start(job), std::invalid_argument);  // rows > C
  ArrayModel ws2(with_dataflow({2, 3, 1}, Dataflow::kWeightStationary), lbfp8());
  job.k = 3;  // K > R
  EXPECT_THROW(ws2.start(job), std::invalid_argument);
  job.rows = 3;
  job.cols = 7;  // any cols in IS
  job.k = 2;
  EXPECT_NO_THROW(is.start(job));
  EXPECT_THROW(ws2.start(job), std::invalid_argument);  // cols > C
}

// Weight-/input-stationary folds against numbers derived by hand from the array's contract
// (docs/dataflows.md): weight rows R from max(hand-over, previous first step + 1); the first
// step after them and after the previous last step; steps without gaps; the last output
// R + C + p cycles after the last step.
TEST(ArrayTimeline, StationaryFoldsFollowTheHandDerivedSchedule) {
  struct Want {
    int64_t preload, first, last, end;
  };
  for (Dataflow d : {Dataflow::kWeightStationary, Dataflow::kInputStationary}) {
    auto run = [d](ArrayGeometry g, int64_t steps, const std::vector<Want>& want) {
      g.dataflow = d;
      ArrayTimeline timeline(g);
      int64_t handover = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        const ArrayTimeline::Tile t = timeline.add(handover, steps);
        EXPECT_EQ(t.preload, want[i].preload) << "fold " << i;
        EXPECT_EQ(t.first, want[i].first) << "fold " << i;
        EXPECT_EQ(t.last, want[i].last) << "fold " << i;
        EXPECT_EQ(t.end, want[i].end) << "fold " << i;
        EXPECT_EQ(t.next_handover, want[i].first + 1) << "fold " << i;
        handover = t.next_handover;
      }
    };
    // 4x4, p = 1, 10 steps: the stream is the bottleneck, folds start 10 apart.
    run({4, 4, 1}, 10, {{0, 4, 13, 22}, {5, 14, 23, 32}, {15, 24, 33, 42}});
    // 4x4, p = 3, 2 steps: the weight preload is, R + 1 = 5 apart (p does not widen it).
    run({4, 4, 3}, 2, {{0, 4, 5, 16}, {5, 9, 10, 21}, {10, 14, 15, 26}});
    // 2x6, p = 0, 1 step: R + 1 = 3 apart (no max(R, C) gap: one output row per fold).
    run({2, 6, 0}, 1, {{0, 2, 2, 10}, {3, 5, 5, 13}, {6, 8, 8, 16}});
  }
  // A late hand-over delays the preload and everything after it.
  ArrayTimeline timeline(with_dataflow({4, 4, 1}, Dataflow::kWeightStationary));
  timeline.add(0, 3);  // preload 0, first 4, last 6
  const ArrayTimeline::Tile t = timeline.add(20, 3);
  EXPECT_EQ(t.preload, 20);
  EXPECT_EQ(t.first, 24);
  EXPECT_EQ(t.last, 26);
  EXPECT_EQ(t.end, 35);
}

TEST(ArrayTimeline, StationaryClosedForms) {
  // An isolated fold of M steps: M + 2R + C + p cycles; back to back, max(M, R + 1) apart.
  const ArrayGeometry g = with_dataflow({16, 16, 1}, Dataflow::kWeightStationary);
  EXPECT_EQ(array_tile_cycles(g, 100), 149);  // 100 + 32 + 16 + 1
  EXPECT_EQ(array_tile_interval(g, 100), 100);
  EXPECT_EQ(array_tile_interval(g, 3), 17);
  EXPECT_EQ(array_first_result_cycle(g, 100), 49);  // 16 + 16 + 16 + 1: the first step at 16
  EXPECT_EQ(array_tile_steps(g, 100, 7, 9), 100);
  EXPECT_EQ(array_tile_steps(with_dataflow(g, Dataflow::kInputStationary), 100, 7, 9), 7);
  EXPECT_EQ(array_tile_steps(with_dataflow(g, Dataflow::kOutputStationary), 100, 7, 9), 9);
  for (Dataflow d : {Dataflow::kWeightStationary, Dataflow::kInputStationary}) {
    for (int rows : {1, 3, 16}) {
      for (int cols : {1, 5}) {
        for (int pipe : {0, 2}) {
          for (int64_t steps : {1, 2, 4, 30}) {
            const ArrayGeometry h = with_dataflow({rows, cols, pipe}, d);
            ArrayTimeline timeline(h);
            int64_t handover = 0;
            ArrayTimeline::Tile t{};
            for (int i = 0; i < 5; ++i) {
              t = timeline.add(handover, steps);
              handover = t.next_handover;
            }
            EXPECT_EQ(t.end + 1, array_tile_cycles(h, steps) + 4 * array_tile_interval(h, steps));
          }
        }
      }
    }
  }
}

TEST(ArrayModel, TileActivityCountsEveryStepWithAZeroOperand) {
  // Against a step-by-step count with the format's own zero test: every tile up to 5 x 41 with a
  // short K, then shapes across the counters' blocks (64 codes of a row of B or of a column of
  // A, A's per-byte sums over 255 rows): strided views, and codes drawn mostly from the zero
  // codes (LBFP's negative zero included) and their neighbours.
  std::mt19937 rng(11);
  std::vector<std::array<int, 3>> shapes;  // rows, cols, k
  for (int rows = 1; rows <= 5; ++rows) {
    for (int cols = 1; cols <= 41; ++cols) shapes.push_back({rows, cols, 1 + (rows * cols) % 9});
  }
  for (const std::array<int, 3>& shape : std::vector<std::array<int, 3>>{
           {1, 64, 64}, {16, 16, 127}, {3, 63, 65}, {2, 65, 129}, {255, 2, 70},
           {256, 1, 64}, {300, 3, 131}, {17, 129, 200}}) {
    shapes.push_back(shape);
  }
  for (const NumberFormat& format : {NumberFormat(LbfpFormat()), NumberFormat(BfpFormat()),
                                     NumberFormat(LbfpFormat(5, 2, 6, 20))}) {
    const Code mask = zero_code_mask(format);
    const int codes = 1 << code_bits(format);
    std::uniform_int_distribution<int> any(0, codes - 1);
    std::uniform_int_distribution<int> pick(0, 3);
    auto draw = [&]() {
      const int p = pick(rng);
      if (p == 0) return Code{0};
      if (p == 1) return static_cast<Code>(codes / 2);  // 0x80: LBFP's -0, BFP's -128
      return static_cast<Code>(any(rng));
    };
    for (const auto& [rows, cols, steps] : shapes) {
      const int64_t k = steps;
      const size_t lda = static_cast<size_t>(k) + 3;
      const size_t ldb = static_cast<size_t>(cols) + 5;
      std::vector<Code> a(static_cast<size_t>(rows) * lda);
      std::vector<Code> b(static_cast<size_t>(k) * ldb);
      for (auto& x : a) x = draw();
      for (auto& x : b) x = draw();
      TileJob job;
      job.rows = rows;
      job.cols = cols;
      job.k = k;
      job.a = a.data();
      job.lda = lda;
      job.b = b.data();
      job.ldb = ldb;
      uint64_t zero_steps = 0;
      for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < cols; ++c) {
          for (int64_t s = 0; s < k; ++s) {
            zero_steps += is_zero_code(format, a[static_cast<size_t>(r) * lda + static_cast<size_t>(s)]) ||
                          is_zero_code(format, b[static_cast<size_t>(s) * ldb + static_cast<size_t>(c)]);
          }
        }
      }
      const ArrayActivity got = tile_activity(mask, job);
      ASSERT_EQ(got.zero_macs, zero_steps) << rows << "x" << cols << " k=" << k;
      ASSERT_EQ(got.macs, static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) *
                              static_cast<uint64_t>(k));
      ASSERT_EQ(got.requantizations, static_cast<uint64_t>(rows * cols));
    }
  }
}

// The array backends' contract for the tile mode's stops (TileJob::release_watched,
// done_watched, handover_ahead; ArrayBackend::catch_up): against the same stream of tiles with
// every event watched and every tile handed over on time, a stream with events left unwatched
// and tiles handed over ahead at random (the caller catching up before the others, as the
// accelerator does) reports every event, each kind in tile order, a watched one in its very
// cycle and an unwatched one no earlier and no later than the next watched one (or the end),
// with the same results and the same last cycle. The cycle mode takes every cycle either way.
struct Reported {
  int64_t cycle;
  std::vector<int64_t> acc;  // results only
};
struct StreamReport {
  std::vector<std::pair<uint64_t, Reported>> released, done;
  std::vector<int64_t> handed_at;  // the cycle each run_tile was called in
  int64_t end = 0;
};

StreamReport run_stream(ArrayBackend& backend, const std::vector<TileJob>& jobs,
                        const std::vector<bool>& ahead) {
  StreamReport out;
  int64_t now = 0;
  const auto tick = [&now](int64_t n) { now += n; };
  backend.set_listener(
      {[&](uint64_t tile) { out.released.push_back({tile, {now, {}}}); },
       [&](uint64_t tile, const TileResult& r) { out.done.push_back({tile, {now, r.acc}}); }});
  for (size_t i = 0; i < jobs.size(); ++i) {
    TileJob job = jobs[i];
    job.handover_ahead = !ahead.empty() && ahead[i];
    if (!ahead.empty() && !ahead[i]) backend.catch_up(tick);
    out.handed_at.push_back(now);
    backend.run_tile(job, tick);
  }
  backend.flush(tick);
  out.end = now;
  return out;
}

TEST(ArrayBackend, UnwatchedEventsComeAtTheNextStopAndTilesHandedOverAheadKeepTheirCycles) {
  const LbfpFormat f(8, 4, 8, 32);
  for (const ArrayGeometry& g :
       {ArrayGeometry{4, 4, 1}, ArrayGeometry{4, 3, 0, Dataflow::kWeightStationary},
        ArrayGeometry{3, 4, 2, Dataflow::kInputStationary}}) {
    SCOPED_TRACE(dataflow_name(g.dataflow));
    const bool os = g.dataflow == Dataflow::kOutputStationary;
    std::mt19937 rng(2026 + static_cast<uint32_t>(g.dataflow));
    std::uniform_int_distribution<int> code(0, 255);
    const int tiles = 300;
    std::vector<std::vector<Code>> a(tiles), b(tiles);
    std::vector<int> exps(16, 0);
    std::vector<float> bias(16, 0.75f);
    std::vector<TileJob> jobs(tiles);
    std::vector<bool> ahead(tiles);
    for (int i = 0; i < tiles; ++i) {
      TileJob& j = jobs[static_cast<size_t>(i)];
      // Short and long reductions, so that some tiles wait on the array and others do not.
      j.k = 1 + static_cast<int64_t>(rng() % (os ? 40u : static_cast<uint32_t>(g.rows)));
      j.rows = 1 + static_cast<int>(rng() % static_cast<uint32_t>(os ? g.rows : 9));
      j.cols = 1 + static_cast<int>(rng() % static_cast<uint32_t>(g.cols));
      if (g.dataflow == Dataflow::kInputStationary) {
        j.rows = 1 + static_cast<int>(rng() % static_cast<uint32_t>(g.cols));
        j.cols = 1 + static_cast<int>(rng() % 9);
      }
      auto& ai = a[static_cast<size_t>(i)];
      auto& bi = b[static_cast<size_t>(i)];
      ai.resize(static_cast<size_t>(j.rows * j.k));
      bi.resize(static_cast<size_t>(j.k * j.cols));
      for (auto& x : ai) x = static_cast<Code>(code(rng));
      for (auto& x : bi) x = static_cast<Code>(code(rng));
      j.a = ai.data();
      j.lda = static_cast<size_t>(j.k);
      j.b = bi.data();
      j.ldb = static_cast<size_t>(j.cols);
      j.b_exponents = exps.data();
      j.bias = i % 3 == 0 ? bias.data() : nullptr;
      j.release_watched = rng() % 4 == 0;
      j.done_watched = rng() % 3 == 0;
      ahead[static_cast<size_t>(i)] = rng() % 4 != 0;
    }
    std::vector<TileJob> every(jobs);
    for (TileJob& j : every) j.release_watched = j.done_watched = true;
    const auto reference = make_cpp_array(g, f, SimMode::kTile);
    const StreamReport want = run_stream(*reference, every, {});
    const auto tile = make_cpp_array(g, f, SimMode::kTile);
    const StreamReport got = run_stream(*tile, jobs, ahead);
    ASSERT_EQ(want.released.size(), static_cast<size_t>(tiles));
    ASSERT_EQ(want.done.size(), static_cast<size_t>(tiles));
    ASSERT_EQ(got.released.size(), static_cast<size_t>(tiles));
    ASSERT_EQ(got.done.size(), static_cast<size_t>(tiles));
    EXPECT_EQ(got.end, want.end);
    std::vector<int64_t> watched;  // the cycles the tile mode stopped for an event
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (jobs[i].release_watched) watched.push_back(want.released[i].second.cycle);
      if (jobs[i].done_watched) watched.push_back(want.done[i].second.cycle);
    }
    std::sort(watched.begin(), watched.end());
    size_t late = 0;
    const auto check = [&](const auto& g_events, const auto& w_events, bool is_done) {
      for (size_t i = 0; i < jobs.size(); ++i) {
        SCOPED_TRACE(testing::Message() << (is_done ? "results of tile " : "release of tile ")
                                        << i);
        ASSERT_EQ(g_events[i].first, i);  // in tile order
        ASSERT_EQ(w_events[i].first, i);
        const int64_t at = w_events[i].second.cycle;
        const int64_t reported = g_events[i].second.cycle;
        if (is_done ? jobs[i].done_watched : jobs[i].release_watched) {
          EXPECT_EQ(reported, at);
        } else {
          const auto next = std::lower_bound(watched.begin(), watched.end(), at);
          EXPECT_GE(reported, at);
          EXPECT_LE(reported, next == watched.end() ? got.end : *next);
          late += reported > at ? 1 : 0;
        }
        EXPECT_EQ(g_events[i].second.acc, w_events[i].second.acc);
      }
    };
    check(got.released, want.released, false);
    check(got.done, want.done, true);
    // A tile handed over on time finds the clock at its cycle (catch_up went there); one
    // handed over ahead, at or before it.
    for (size_t i = 0; i < jobs.size(); ++i) {
      if (ahead[i]) {
        EXPECT_LE(got.handed_at[i], want.handed_at[i]) << "tile " << i;
      } else {
        EXPECT_EQ(got.handed_at[i], want.handed_at[i]) << "tile " << i;
      }
    }
    EXPECT_GT(late, 100u);  // most unwatched events are reported after their cycle
    // The cycle mode: every event in its cycle whatever the flags.
    const auto cycle = make_cpp_array(g, f, SimMode::kCycle);
    const auto cycle_flags = make_cpp_array(g, f, SimMode::kCycle);
    const StreamReport every_cycle = run_stream(*cycle, every, {});
    const StreamReport flagged_cycle = run_stream(*cycle_flags, jobs, ahead);
    EXPECT_EQ(flagged_cycle.end, every_cycle.end);
    EXPECT_EQ(every_cycle.end, want.end);
    for (size_t i = 0; i < jobs.size(); ++i) {
      EXPECT_EQ(flagged_cycle.released[i].second.cycle, want.released[i].second.cycle);
      EXPECT_EQ(flagged_cycle.done[i].second.cycle, want.done[i].second.cycle);
    }
  }
}

TEST(ArrayModel, RejectsBadTiles) {
  ArrayModel m({4, 4, 1}, lbfp8());
  std::vector<Code> z(64, 0);
  std::vector<int> e(4, 0);
  TileJob job;
  job.rows = 5;
  job.cols = 4;
  job.k = 4;
  job.a = z.data();
  job.b = z.data();
  job.b_exponents = e.data();
  EXPECT_THROW(m.start(job), std::invalid_argument);
  job.rows = 4;
  job.k = 0;
  EXPECT_THROW(m.start(job), std::invalid_argument);
  EXPECT_THROW(ArrayModel({0, 4, 1}, lbfp8()), std::invalid_argument);
}

}  // namespace
}  // namespace lbfp::arch
