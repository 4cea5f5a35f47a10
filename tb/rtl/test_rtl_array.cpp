// The systolic array against the golden GEMM (one lbfp::dot per output, then lbfp::requantize),
// and its cycle count against the closed-form latency lbfp::arch::array_tile_cycles.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "lbfp/arch/array_timing.h"
#include "lbfp/arith.h"
#include "lbfp/rtl/array_driver.h"
#include "lbfp/calibration.h"
#include "lbfp/number_format.h"
#include "lbfp/rtl/cosim.h"
#include "lbfp/synth/layer_tile.h"

namespace lbfp::rtl {
namespace {

struct Shape {
  ArrayKind kind;
  int m;
  int n;
  int k;
  GemmFill fill;
  uint64_t seed;
};

std::string shape_name(const Shape& s) {
  std::string kind = array_config(s.kind).name;
  for (char& ch : kind) {
    if (ch == '-') ch = '_';
  }
  return kind + "_m" + std::to_string(s.m) + "n" + std::to_string(s.n) + "k" +
         std::to_string(s.k) + (s.fill == GemmFill::kSaturate ? "_saturate" : "") + "_seed" +
         std::to_string(s.seed);
}

void PrintTo(const Shape& s, std::ostream* os) { *os << shape_name(s); }

std::string describe(const CosimReport& report) {
  std::string text = report.name + ": " + std::to_string(report.mismatches) + " mismatches, " +
                     std::to_string(report.cycles) + " cycles (formula " +
                     std::to_string(report.expected_cycles) + ")";
  for (const std::string& d : report.details) text += "\n  " + d;
  return text;
}

class RtlArrayGemm : public ::testing::TestWithParam<Shape> {};

TEST_P(RtlArrayGemm, MatchesGoldenAndLatencyFormula) {
  const Shape& s = GetParam();
  const Gemm gemm = make_gemm(s.kind, s.m, s.n, s.k, s.seed, s.fill);
  const CosimReport report = cosim_gemm(s.kind, gemm, shape_name(s));
  const ArrayConfig config = array_config(s.kind);
  const uint64_t tiles = static_cast<uint64_t>((s.m + config.rows - 1) / config.rows) *
                         static_cast<uint64_t>((s.n + config.cols - 1) / config.cols);
  EXPECT_EQ(report.tiles, tiles);
  EXPECT_EQ(report.cases, tiles * static_cast<uint64_t>(config.rows * config.cols));
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
  EXPECT_EQ(report.cycles, report.expected_cycles) << describe(report);
  if (s.fill == GemmFill::kSaturate || s.kind == ArrayKind::kLbfp8Narrow) {
    EXPECT_GT(report.saturated_outputs, 0u) << "the case was meant to saturate";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RtlArrayGemm,
    ::testing::Values(
        Shape{ArrayKind::kLbfp8, 1, 1, 1, GemmFill::kRandom, 1},
        Shape{ArrayKind::kLbfp8, 4, 4, 1, GemmFill::kRandom, 2},
        Shape{ArrayKind::kLbfp8, 4, 4, 2, GemmFill::kRandom, 3},
        Shape{ArrayKind::kLbfp8, 3, 5, 7, GemmFill::kRandom, 4},
        Shape{ArrayKind::kLbfp8, 8, 8, 64, GemmFill::kRandom, 5},
        Shape{ArrayKind::kLbfp8, 5, 9, 300, GemmFill::kRandom, 6},
        Shape{ArrayKind::kLbfp8, 4, 6, 400, GemmFill::kSaturate, 7},
        Shape{ArrayKind::kBfp8, 4, 4, 1, GemmFill::kRandom, 8},
        Shape{ArrayKind::kBfp8, 6, 7, 33, GemmFill::kRandom, 9},
        Shape{ArrayKind::kBfp8, 8, 4, 200, GemmFill::kRandom, 10},
        Shape{ArrayKind::kLbfp8Narrow, 3, 2, 1, GemmFill::kRandom, 11},
        Shape{ArrayKind::kLbfp8Narrow, 5, 3, 40, GemmFill::kRandom, 12},
        Shape{ArrayKind::kLbfp8Narrow, 3, 4, 257, GemmFill::kSaturate, 13}),
    [](const ::testing::TestParamInfo<Shape>& param_info) { return shape_name(param_info.param); });

// Streams of tiles, all queued at once so that the driver presents each preload row and step
// as soon as the array takes it: the outputs of K-split chunks (each resuming the previous
// chunk's partial sums and flags through the preload) equal the unsplit golden reduction, and
// every tile's cycles equal ArrayTimeline's and, for the first tiles, numbers derived by hand
// from the RTL's rules (docs/microarchitecture.md, "Latency").
struct Stream {
  ArrayKind kind;
  int64_t k;          // whole reduction
  int64_t chunk;      // chunk length (the last may be shorter)
  int outputs;        // output tiles, each split into chunks
  bool saturate;
  // Hand-derived (preload, first, last, end) of the first three tiles when chunk == k.
  std::vector<std::array<int64_t, 4>> want;
};

void run_stream(const Stream& s, uint32_t seed) {
  const ArrayConfig config = array_config(s.kind);
  const int rows = config.rows;
  const int cols = config.cols;
  const NumberFormat format = config.bfp ? NumberFormat(BfpFormat(8, config.acc_bits))
                                         : NumberFormat(LbfpFormat(8, 4, 8, config.acc_bits));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> any(0, 255);
  std::uniform_int_distribution<int> big(0x70, 0x7f);
  std::bernoulli_distribution negative(0.25);
  auto draw = [&]() {
    int x = s.saturate ? big(rng) | (negative(rng) ? 0x80 : 0) : any(rng);
    if (config.bfp && x == 0x80) x = 0x81;
    return static_cast<Code>(x);
  };
  const int out_exp = 6;
  const int scale = std::visit([](const auto& f) { return f.product_scale(0, 0); }, format);
  std::vector<int> exp_shift(static_cast<size_t>(cols), scale - out_exp);
  const auto n = static_cast<size_t>(rows * cols);

  ArrayDriver driver(s.kind, "stream");
  struct Output {
    std::vector<Code> a, b;       // rows x K, K x cols
    std::vector<int64_t> bias;    // cols
    std::vector<int64_t> acc;     // the chunks' partial sums, as they come out
    std::vector<uint8_t> ovf;
  };
  std::vector<Output> outs(static_cast<size_t>(s.outputs));
  std::vector<uint64_t> ids;
  const arch::ArrayGeometry g{rows, cols, config.pipe_stages};
  arch::ArrayTimeline timeline(g);
  std::vector<arch::ArrayTimeline::Tile> expected;
  // Chunk j of every output tile before chunk j + 1 of any: a chunk resumes sums that have
  // left the array (the host reads them back before it queues the next chunk).
  const int64_t chunks = (s.k + s.chunk - 1) / s.chunk;
  for (auto& o : outs) {
    o.a.resize(static_cast<size_t>(rows * s.k));
    o.b.resize(static_cast<size_t>(s.k * cols));
    for (auto& x : o.a) x = draw();
    for (auto& x : o.b) x = draw();
    for (int c = 0; c < cols; ++c) o.bias.push_back(static_cast<int64_t>(any(rng)) - 128);
  }
  for (int64_t j = 0; j < chunks; ++j) {
    const int64_t k0 = j * s.chunk;
    const int64_t k = std::min(s.chunk, s.k - k0);
    for (Output& o : outs) {
      TileInput tile;
      tile.rows = rows;
      tile.cols = cols;
      tile.k = k;
      tile.a = o.a.data() + k0;
      tile.lda = static_cast<size_t>(s.k);
      tile.b = o.b.data() + k0 * cols;
      tile.ldb = static_cast<size_t>(cols);
      tile.exp_shift = exp_shift.data();
      tile.bias = o.bias.data();
      if (j > 0) {
        tile.init_acc = o.acc.data();
        tile.init_ovf = o.ovf.data();
      }
      ids.push_back(driver.push_tile(tile));
      expected.push_back(timeline.add(driver.cycle(), k));
    }
    // This chunk's results are the next chunk's start values.
    size_t got = 0;
    for (int64_t t = 0; driver.busy() && t < 100000; ++t) {
      driver.clock();
      for (auto& [id, out] : driver.take_finished()) {
        ASSERT_TRUE(out.errors.empty()) << out.errors.front();
        const size_t i = static_cast<size_t>(id);
        const arch::ArrayTimeline::Tile& want = expected[i];
        EXPECT_EQ(out.preload, want.preload) << "tile " << i;
        EXPECT_EQ(out.first, want.first) << "tile " << i;
        EXPECT_EQ(out.last, want.last) << "tile " << i;
        EXPECT_EQ(out.end, want.end) << "tile " << i;
        if (i < s.want.size()) {
          EXPECT_EQ(out.preload, s.want[i][0]) << "tile " << i;
          EXPECT_EQ(out.first, s.want[i][1]) << "tile " << i;
          EXPECT_EQ(out.last, s.want[i][2]) << "tile " << i;
          EXPECT_EQ(out.end, s.want[i][3]) << "tile " << i;
        }
        Output& o = outs[(i - static_cast<size_t>(j) * outs.size())];
        o.acc = out.acc;
        o.ovf = out.overflow;
        if (j + 1 == chunks) {
          // The last chunk: against the unsplit reduction.
          for (int r = 0; r < rows; ++r) {
            for (int c = 0; c < cols; ++c) {
              std::vector<Code> row(o.a.begin() + r * s.k, o.a.begin() + (r + 1) * s.k);
              std::vector<Code> col;
              for (int64_t kk = 0; kk < s.k; ++kk) col.push_back(o.b[kk * cols + c]);
              const DotResult want_acc = std::visit(
                  [&](const auto& f) { return dot(f, row, col, o.bias[c]); }, format);
              const auto idx = static_cast<size_t>(r * cols + c);
              ASSERT_EQ(out.acc[idx], want_acc.acc) << "tile " << i << " C[" << r << "][" << c
                                                    << "]";
              ASSERT_EQ(out.overflow[idx], want_acc.overflows > 0 ? 1 : 0)
                  << "tile " << i << " C[" << r << "][" << c << "]";
              if (!config.bfp) {
                ASSERT_EQ(out.codes[idx],
                          requantize(std::get<LbfpFormat>(format), want_acc.acc, scale, out_exp,
                                     false));
              }
            }
          }
        }
        ++got;
      }
    }
    ASSERT_EQ(got, outs.size()) << "chunk " << j;
  }
  (void)n;
}

TEST(RtlArrayStream, OverlappedTilesFollowTheTimeline) {
  // Whole reductions, hand-derived for the first three tiles (one chunk each).
  run_stream({ArrayKind::kLbfp8, 10, 10, 4, false, {{0, 4, 13, 22}, {5, 14, 23, 32},
                                                     {15, 24, 33, 42}}}, 1);
  run_stream({ArrayKind::kLbfp8, 2, 2, 4, false, {{0, 4, 5, 14}, {5, 9, 10, 19},
                                                   {10, 14, 15, 24}}}, 2);
  run_stream({ArrayKind::kLbfp8Narrow, 2, 2, 4, false, {{0, 3, 4, 9}, {4, 7, 8, 13},
                                                         {8, 11, 12, 17}}}, 3);
  run_stream({ArrayKind::kBfp8, 3, 3, 3, false, {{0, 4, 6, 16}, {6, 10, 12, 22}}}, 4);
  // Every K from 1 to 12 on every configuration, streams of 5 tiles.
  for (ArrayKind kind : {ArrayKind::kLbfp8, ArrayKind::kBfp8, ArrayKind::kLbfp8Narrow}) {
    for (int64_t k = 1; k <= 12; ++k) run_stream({kind, k, k, 5, false, {}}, static_cast<uint32_t>(10 + k));
  }
}

TEST(RtlArrayStream, SplitReductionsResumeExactly) {
  run_stream({ArrayKind::kLbfp8, 40, 13, 3, false, {}}, 5);
  run_stream({ArrayKind::kLbfp8, 300, 100, 2, true, {}}, 6);  // A = 32 saturates
  run_stream({ArrayKind::kBfp8, 33, 8, 3, false, {}}, 7);
  run_stream({ArrayKind::kLbfp8Narrow, 60, 7, 3, true, {}}, 8);  // A = 16 saturates mid-way
  run_stream({ArrayKind::kLbfp8Narrow, 9, 1, 2, true, {}}, 9);   // one step per chunk
}

// A real layer: fc1 of LeNet-5 (sim/models/lenet5.onnx, 400 -> 120) on the FP32 activations of
// MNIST test images, as data/make_lenet5_tile.py extracted them (6 images x 10 output
// channels: 2 x 3 tiles of the 4x4 array, K = 400). Quantized as the toolkit does it: activations
// per tensor and weights per output channel with max calibration, encoded by the golden
// lbfp::encode, the bias in accumulator units, ReLU, and the output exponent the next layer
// would use. The requantized outputs must also stay close to the FP32 layer. The tile's reader
// is shared with `lbfp synth`, which plays the same tile as its layer operand stream.
using synth::LayerTile;
using synth::read_layer_tile;

TEST(RtlArrayLayer, LeNet5Fc1TileMatchesGolden) {
  const LayerTile layer = read_layer_tile(std::string(LBFP_DATA_DIR) + "/lenet5_fc1_tile.txt");
  ASSERT_EQ(layer.k, 400);
  const ArrayConfig config = array_config(ArrayKind::kLbfp8);
  const LbfpFormat format(8, 4, 8, config.acc_bits);
  const int m = layer.m;
  const int n = layer.n;
  const int k = layer.k;

  float x_max = 0.0f;
  for (float v : layer.x) x_max = std::max(x_max, std::fabs(v));
  const int ex = max_exponent(x_max);
  Gemm gemm;
  gemm.m = m;
  gemm.n = n;
  gemm.k = k;
  gemm.relu = true;
  for (float v : layer.x) gemm.a.push_back(encode(format, v, ex));
  std::vector<int> ew(static_cast<size_t>(n));
  gemm.b.resize(static_cast<size_t>(k * n));
  for (int j = 0; j < n; ++j) {
    float w_max = 0.0f;
    for (int kk = 0; kk < k; ++kk) {
      w_max = std::max(w_max, std::fabs(layer.w[static_cast<size_t>(kk * n + j)]));
    }
    const int e = max_exponent(w_max);
    ew[static_cast<size_t>(j)] = e;
    const int scale = format.product_scale(ex, e);
    gemm.scales.push_back(scale);
    gemm.bias.push_back(bias_to_accumulator(format.acc_bits(), layer.bias[static_cast<size_t>(j)],
                                            scale));
    for (int kk = 0; kk < k; ++kk) {
      const size_t idx = static_cast<size_t>(kk * n + j);
      gemm.b[idx] = encode(format, layer.w[idx], e);
    }
  }
  gemm.out_exp = output_exponent(config, gemm);

  const CosimReport report = cosim_gemm(ArrayKind::kLbfp8, gemm, "lenet5_fc1_tile");
  EXPECT_EQ(report.tiles, 6u);
  EXPECT_EQ(report.cases, 6u * 16u);
  EXPECT_EQ(report.mismatches, 0u) << describe(report);
  EXPECT_EQ(report.cycles, report.expected_cycles) << describe(report);

  // The quantized layer tracks the FP32 layer: relative error over the whole output tile.
  double err = 0.0;
  double ref = 0.0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double y = layer.bias[static_cast<size_t>(j)];
      std::vector<Code> row(gemm.a.begin() + i * k, gemm.a.begin() + (i + 1) * k);
      std::vector<Code> col;
      for (int kk = 0; kk < k; ++kk) {
        y += double{layer.x[static_cast<size_t>(i * k + kk)]} *
             layer.w[static_cast<size_t>(kk * n + j)];
        col.push_back(gemm.b[static_cast<size_t>(kk * n + j)]);
      }
      y = std::max(0.0, y);
      const DotResult acc = dot(format, row, col, gemm.bias[static_cast<size_t>(j)]);
      const Code code = requantize(format, acc.acc, gemm.scales[static_cast<size_t>(j)],
                                   gemm.out_exp, true);
      const double q = decode(format, code, gemm.out_exp);
      err += (q - y) * (q - y);
      ref += y * y;
    }
  }
  ASSERT_GT(ref, 0.0);
  EXPECT_LT(std::sqrt(err / ref), 0.1);
}

}  // namespace
}  // namespace lbfp::rtl
