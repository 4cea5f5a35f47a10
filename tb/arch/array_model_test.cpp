// The C++ array model: outputs against the golden GEMM, the cycle mode against the tile mode,
// and the timing against the documented formula. Plain C++ (no simulation kernel needed).
#include <gtest/gtest.h>

#include <random>
#include <vector>

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
  EXPECT_EQ(cycles, array_tile_cycles(g, c.k));
  // The drain: every array row, bottom first, in the last R cycles.
  ASSERT_EQ(drained.size(), static_cast<size_t>(g.rows));
  for (int i = 0; i < g.rows; ++i) EXPECT_EQ(drained[static_cast<size_t>(i)], g.rows - 1 - i);

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

TEST(ArrayModel, TileActivityCountsEveryStepWithAZeroOperand) {
  // Against a step-by-step count with the format's own zero test, for every tile width up to 19
  // (the counter takes eight codes at a time, then the rest), strided views, and codes drawn
  // mostly from the zero codes (LBFP's negative zero included) and their neighbours.
  std::mt19937 rng(11);
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
    for (int rows = 1; rows <= 5; ++rows) {
      for (int cols = 1; cols <= 19; ++cols) {
        const int64_t k = 1 + (rows * cols) % 9;
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
        ASSERT_EQ(got.macs, static_cast<uint64_t>(rows * cols * k));
        ASSERT_EQ(got.requantizations, static_cast<uint64_t>(rows * cols));
      }
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
