// FP32 inference against torch's logits, the quantized inference of single layers against a direct
// computation with lbfp::dot + requantize, the paired statistics, and an accuracy smoke test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <fstream>
#include <random>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/fp32_gemm.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/inference.h"
#include "lbfp/eval/scaled_inference.h"
#include "lbfp/scaled_format.h"

namespace lbfp::eval {
namespace {

std::string model_path(const std::string& name) { return std::string(LBFP_MODELS_DIR) + "/" + name; }

const Dataset& dataset(const std::string& name, Split split) {
  static std::map<std::pair<std::string, int>, Dataset> cache;
  auto key = std::make_pair(name, static_cast<int>(split));
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, load_dataset(name, split)).first;
  return it->second;
}

class Fp32MatchesTorch : public ::testing::TestWithParam<std::string> {};

TEST_P(Fp32MatchesTorch, OnTheRecordedTestImages) {
  const std::string name = GetParam();
  std::ifstream in(model_path(name + ".expected.json"));
  ASSERT_TRUE(in) << "missing " << name << ".expected.json";
  const nlohmann::json expected = nlohmann::json::parse(in);
  const Graph g = load_onnx(model_path(name + ".onnx"));
  const Dataset& test = dataset(expected["dataset"].get<std::string>(), Split::kTest);
  const auto& logits = expected["logits"];
  const size_t n = logits.size();
  ASSERT_EQ(expected["test_images"][0].get<size_t>(), 0u);  // images 0 .. n-1
  const Activations act = run_fp32(g, to_float_input(test, 0, n), n);
  const auto& out = act[static_cast<size_t>(g.output)];
  ASSERT_EQ(out.size(), n * 10);
  for (size_t i = 0; i < n; ++i) {
    for (size_t c = 0; c < 10; ++c) {
      const double want = logits[i][c].get<double>();
      EXPECT_NEAR(out[i * 10 + c], want, 1e-4 + 1e-4 * std::fabs(want))
          << name << " image " << i << " class " << c;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ShippedModels, Fp32MatchesTorch,
                         ::testing::Values("lenet5", "resnet10", "mobilenet"));

// The FP32 product: the vector path bit for bit the std::fma one (k-order chains from +0), on
// shapes with partial row and column tiles, strided operands and k = 1.
TEST(Fp32Gemm, VectorPathEqualsTheFmaChainBitForBit) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.f, 1.f);
  const size_t shapes[][3] = {{1, 1, 1}, {7, 17, 3}, {8, 32, 9}, {13, 49, 144}, {6, 196, 25},
                              {33, 70, 1}};
  for (const auto& s : shapes) {
    const size_t m = s[0], n = s[1], k = s[2];
    const size_t lda = k + 3, ldb = n + 5, ldc = n + 2;
    std::vector<float> a(m * lda), b(k * ldb);
    for (float& v : a) v = dist(rng);
    for (float& v : b) v = dist(rng);
    std::vector<float> fast(m * ldc, -1.f), slow(m * ldc, -1.f);
    detail::fp32_gemm(m, n, k, a.data(), lda, b.data(), ldb, fast.data(), ldc);
    detail::fp32_gemm_portable(m, n, k, a.data(), lda, b.data(), ldb, slow.data(), ldc);
    EXPECT_EQ(std::memcmp(fast.data(), slow.data(), fast.size() * sizeof(float)), 0)
        << m << "x" << n << "x" << k;
  }
}

// The product over row offsets and the depthwise taps: the vector paths bit for bit the scalar
// ones (fma chains; w * x then + for the taps), on partial tiles and offsets in any order.
TEST(Fp32Gemm, OffsetRowsAndTapsEqualTheScalarPathsBitForBit) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.f, 1.f);
  const size_t shapes[][3] = {{1, 1, 1}, {7, 17, 3}, {8, 32, 9}, {13, 49, 144}, {16, 63, 25},
                              {9, 100, 2}, {4, 130, 9}};
  for (const auto& s : shapes) {
    const size_t m = s[0], n = s[1], k = s[2], lda = k + 1, ldc = n + 3;
    std::vector<float> a(m * lda), x(4 * n + 3 * k + 64);
    for (float& v : a) v = dist(rng);
    for (float& v : x) v = dist(rng);
    std::vector<int32_t> off(k);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(x.size() - n));
    for (int32_t& o : off) o = pick(rng);
    std::vector<float> fast(m * ldc, -1.f), slow(m * ldc, -1.f);
    detail::fp32_gemm_offsets(m, n, k, a.data(), lda, x.data(), off.data(), fast.data(), ldc);
    detail::fp32_gemm_offsets_portable(m, n, k, a.data(), lda, x.data(), off.data(), slow.data(),
                                       ldc);
    EXPECT_EQ(std::memcmp(fast.data(), slow.data(), fast.size() * sizeof(float)), 0)
        << m << "x" << n << "x" << k;
    std::vector<float> packed(m * ldc, -1.f);
    detail::fp32_gemm_offsets_packed(detail::fp32_pack_a(m, k, a.data(), lda), n, x.data(),
                                     off.data(), packed.data(), ldc);
    EXPECT_EQ(std::memcmp(packed.data(), slow.data(), packed.size() * sizeof(float)), 0)
        << "packed " << m << "x" << n << "x" << k;
    std::vector<float> tf(n, -1.f), ts(n, -1.f);
    detail::fp32_taps(n, k, a.data(), x.data(), off.data(), tf.data());
    detail::fp32_taps_portable(n, k, a.data(), x.data(), off.data(), ts.data());
    EXPECT_EQ(std::memcmp(tf.data(), ts.data(), n * sizeof(float)), 0) << n << " x " << k;
  }
}

// The planes written straight from the tiles (fp32_conv_packed, fp32_taps_plane) against the
// scalar sums, then fp32_bias_store: kept columns, dropped columns, bias and ReLU, bit for bit.
TEST(Fp32Gemm, PlaneStoresEqualTheSumsThenTheBiasStore) {
  std::mt19937 rng(13);
  std::normal_distribution<float> dist(0.f, 1.f);
  // rows, output h, w, columns per row in the sums (wq >= w), taps
  const size_t shapes[][5] = {{8, 7, 7, 9, 27}, {13, 4, 4, 6, 9}, {5, 28, 28, 30, 9},
                              {16, 14, 14, 14, 16}, {3, 3, 17, 19, 5}, {6, 5, 9, 9, 7},
                              {1, 1, 1, 1, 1},
                              // 48-column tiles, then 1 to 7 pixels with the channels in the
                              // lanes (16, 32 or 64 at a time): no dropped column, m % 16 = 0.
                              {32, 7, 7, 7, 20}, {64, 5, 11, 11, 9}, {48, 1, 50, 50, 3},
                              // dropped columns among the last ones (the masked pixel tiles):
                              // 16 of 18 kept, 24 of 26, 1 of 2, 18 of 22 with the first dropped
                              {32, 14, 14, 15, 9}, {64, 2, 12, 13, 5}, {16, 5, 9, 10, 4},
                              {32, 10, 6, 7, 5},
                              // three blocks of rows (8, 8, 4) over 500 columns
                              {20, 20, 23, 25, 11}};
  for (const auto& s : shapes) {
    const size_t m = s[0], h = s[1], w = s[2], wq = s[3], k = s[4], n = h * wq;
    std::vector<float> a(m * k), x(2 * n + 4 * k + 64), bias(m);
    for (float& v : a) v = dist(rng);
    for (float& v : x) v = dist(rng);
    for (float& v : bias) v = dist(rng);
    std::vector<int32_t> off(k);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(x.size() - n));
    for (int32_t& o : off) o = pick(rng);
    const detail::PlaneMap map = detail::fp32_plane_map(n, wq, w);
    for (const bool relu : {false, true}) {
      std::vector<float> sums(m * n), want(m * h * w, -1.f), got(m * h * w, -1.f);
      detail::fp32_gemm_offsets_portable(m, n, k, a.data(), k, x.data(), off.data(), sums.data(),
                                         n);
      // sum + bias, then the ReLU's v < 0 ? 0 : v, for the kept columns.
      auto plane = [&](const float* sum, float b, float* y) {
        for (size_t oy = 0; oy < h; ++oy) {
          for (size_t ox = 0; ox < w; ++ox) {
            const float v = sum[oy * wq + ox] + b;
            y[oy * w + ox] = relu && v < 0.f ? 0.f : v;
          }
        }
      };
      for (size_t r = 0; r < m; ++r) plane(sums.data() + r * n, bias[r], want.data() + r * h * w);
      detail::fp32_conv_packed(detail::fp32_pack_a(m, k, a.data(), k), x.data(), off.data(),
                               {got.data(), h * w, bias.data(), relu, &map});
      EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0)
          << m << " x " << h << "x" << w << " wq " << wq << " relu " << relu;
      std::vector<float> tsum(n), twant(h * w, -1.f), tgot(h * w, -1.f);
      detail::fp32_taps_portable(n, k, a.data(), x.data(), off.data(), tsum.data());
      plane(tsum.data(), bias[0], twant.data());
      std::vector<float> stored(h * w, -1.f);
      detail::fp32_bias_store(tsum.data(), wq, h, w, bias[0], relu, stored.data());
      EXPECT_EQ(std::memcmp(stored.data(), twant.data(), twant.size() * sizeof(float)), 0);
      detail::fp32_taps_plane(k, a.data(), x.data(), off.data(),
                              {tgot.data(), h * w, bias.data(), relu, &map});
      EXPECT_EQ(std::memcmp(tgot.data(), twant.data(), twant.size() * sizeof(float)), 0)
          << "taps " << h << "x" << w << " wq " << wq << " relu " << relu;
    }
    // The stride-2 gather: every other value, nothing read past the last one.
    std::vector<float> dst(n, -1.f);
    detail::fp32_gather(x.data(), n, 2, dst.data());
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(dst[i], x[2 * i]) << i;
  }
}

// The residual Add: a + b, then v < 0 ? 0 : v (which keeps -0 and NaN), every length's tail.
TEST(Fp32Gemm, AddEqualsTheScalarDefinitionBitForBit) {
  std::mt19937 rng(17);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float pick[] = {0.f, -0.f, 1.f, -1.f, 0.3f, -2.5f, 1e-40f, nan};
  for (size_t count : {1, 15, 16, 17, 40}) {
    std::vector<float> a(count), b(count);
    for (float& v : a) v = pick[rng() % 8];
    for (float& v : b) v = pick[rng() % 8];
    for (const bool relu : {false, true}) {
      std::vector<float> got(count + 1, 7.f), want(count + 1, 7.f);
      detail::fp32_add(a.data(), b.data(), count, relu, got.data());
      for (size_t i = 0; i < count; ++i) {
        const float v = a[i] + b[i];
        want[i] = relu && v < 0.f ? 0.f : v;
      }
      EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)), 0)
          << count << " relu " << relu;
    }
  }
}

// fp32_any_not_finite against std::isfinite: every length up to 150 (whole steps of 64 values
// and tails), one infinity, NaN or finite extreme at every position.
TEST(Fp32Gemm, AnyNotFiniteFindsEveryInfinityAndNaN) {
  const float odd[] = {std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity(),
                       std::numeric_limits<float>::quiet_NaN(),
                       -std::numeric_limits<float>::quiet_NaN(),
                       std::numeric_limits<float>::max(),
                       -std::numeric_limits<float>::max(),
                       std::numeric_limits<float>::denorm_min(),
                       -0.f};
  for (size_t n = 0; n <= 150; ++n) {
    std::vector<float> v(n + 1, 1.5f);
    v[n] = std::numeric_limits<float>::infinity();  // past the end: never read as part of v[0, n)
    EXPECT_FALSE(detail::fp32_any_not_finite(v.data(), n)) << n;
    for (size_t i = 0; i < n; ++i) {
      for (float x : odd) {
        std::vector<float> w(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
        w[i] = x;
        EXPECT_EQ(detail::fp32_any_not_finite(w.data(), n), !std::isfinite(x))
            << n << " " << i << " " << x;
      }
    }
  }
}

// A one-convolution graph (input tensor 0, output tensor 1).
Graph one_conv(const ActShape& in, size_t out_c, size_t kh, size_t kw, size_t sh, size_t sw,
               size_t ph, size_t pw, size_t groups, bool relu, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.f, 1.f);
  Node n;
  n.kind = OpKind::kConv;
  n.name = "conv";
  n.inputs = {0};
  n.output = 1;
  n.relu = relu;
  n.out_channels = out_c;
  n.kernel_h = kh;
  n.kernel_w = kw;
  n.stride_h = sh;
  n.stride_w = sw;
  n.pad_h = ph;
  n.pad_w = pw;
  n.groups = groups;
  n.weights.resize(out_c * in.c / groups * kh * kw);
  for (float& v : n.weights) v = dist(rng);
  n.bias.resize(out_c);
  for (float& v : n.bias) v = dist(rng);
  Graph g;
  g.tensor_names = {"x", "y"};
  const ActShape out{out_c, (in.h + 2 * ph - kh) / sh + 1, (in.w + 2 * pw - kw) / sw + 1};
  g.tensor_shapes = {in, out};
  g.nodes = {n};
  g.input = 0;
  g.output = 1;
  return g;
}

// The direct convolution against the definition: each output sums its in-bounds taps in
// (c, kh, kw) order from +0 (fused multiply-adds; w * x then + with one output channel per
// group), adds the bias, then the ReLU. Strides, pads, groups, depthwise, non-square kernels.
TEST(Fp32Inference, DirectConvolutionEqualsTheDefinitionBitForBit) {
  std::mt19937 rng(5);
  struct Case {
    ActShape in;
    size_t out_c, kh, kw, sh, sw, ph, pw, groups;
    bool relu;
  };
  const Case cases[] = {
      {{3, 9, 7}, 5, 3, 3, 2, 2, 1, 1, 1, true},   {{4, 8, 8}, 4, 3, 3, 1, 1, 1, 1, 4, true},
      {{4, 7, 7}, 4, 3, 3, 2, 2, 1, 1, 4, false},  {{6, 6, 5}, 2, 3, 3, 1, 1, 1, 1, 2, true},
      {{4, 10, 9}, 6, 5, 3, 1, 2, 2, 1, 2, false}, {{8, 7, 7}, 17, 1, 1, 2, 2, 0, 0, 1, true},
      {{1, 28, 28}, 6, 5, 5, 1, 1, 0, 0, 1, true}, {{16, 4, 4}, 33, 3, 3, 1, 1, 1, 1, 1, false},
      {{5, 16, 15}, 5, 3, 3, 1, 1, 1, 1, 5, true}, {{6, 17, 16}, 6, 3, 3, 2, 2, 1, 1, 6, false},
      {{3, 14, 14}, 24, 3, 3, 1, 1, 1, 1, 1, true},  {{3, 9, 11}, 4, 5, 5, 1, 1, 2, 2, 1, true},
      {{2, 6, 7}, 3, 3, 5, 1, 1, 1, 2, 1, false},    {{2, 5, 5}, 3, 1, 1, 1, 1, 1, 1, 1, true},
      {{4, 7, 7}, 9, 3, 3, 1, 1, 1, 1, 1, true},     {{2, 6, 6}, 2, 3, 3, 1, 1, 2, 2, 1, false},
      // Depthwise read from the unpadded planes: flat (stride 1, output as wide as the input;
      // planes of 49, 196, 784 and 17 x 33 outputs), by rows (stride 2, odd and even widths,
      // rows wider than 16 outputs; stride 1 with another output width), and a kernel too wide
      // for it (9), which keeps the phase layout.
      {{3, 7, 7}, 3, 3, 3, 1, 1, 1, 1, 3, true},     {{3, 14, 14}, 3, 3, 3, 1, 1, 1, 1, 3, false},
      {{2, 28, 28}, 2, 3, 3, 1, 1, 1, 1, 2, true},   {{2, 17, 33}, 2, 5, 3, 1, 1, 2, 1, 2, false},
      {{3, 28, 28}, 3, 3, 3, 2, 2, 1, 1, 3, true},   {{2, 14, 14}, 2, 3, 3, 2, 2, 1, 1, 2, false},
      {{2, 13, 37}, 2, 3, 5, 2, 2, 1, 2, 2, true},   {{2, 9, 40}, 2, 3, 3, 1, 1, 0, 0, 2, false},
      {{2, 5, 21}, 2, 3, 9, 1, 1, 1, 4, 2, true},    {{2, 9, 9}, 2, 3, 3, 3, 1, 1, 1, 2, false},
      // Depthwise 3 x 3, stride 1, padding 1 through the padded rows (planes up to 31 wide but
      // 16): two channels per vector up to 7 wide (an odd count: the last alone), one vector
      // per row up to 15, two up to 31; heights in blocks of 7 rows (one vector) or 4 (two)
      // and tails of 4, 2 and 1 rows; a 16-wide plane stays flat.
      {{5, 7, 7}, 5, 3, 3, 1, 1, 1, 1, 5, true},     {{4, 1, 1}, 4, 3, 3, 1, 1, 1, 1, 4, false},
      {{3, 2, 5}, 3, 3, 3, 1, 1, 1, 1, 3, true},     {{4, 8, 6}, 4, 3, 3, 1, 1, 1, 1, 4, false},
      {{2, 11, 14}, 2, 3, 3, 1, 1, 1, 1, 2, true},   {{2, 13, 15}, 2, 3, 3, 1, 1, 1, 1, 2, false},
      {{2, 3, 17}, 2, 3, 3, 1, 1, 1, 1, 2, true},    {{3, 9, 31}, 3, 3, 3, 1, 1, 1, 1, 3, false},
      {{2, 6, 16}, 2, 3, 3, 1, 1, 1, 1, 2, true},
      // And of stride 2 (each row split into its even and odd columns): two channels per vector
      // up to 14 wide (an odd count), one up to 32; odd and even widths and heights, one row.
      {{3, 9, 13}, 3, 3, 3, 2, 2, 1, 1, 3, true},    {{2, 5, 32}, 2, 3, 3, 2, 2, 1, 1, 2, false},
      {{2, 9, 31}, 2, 3, 3, 2, 2, 1, 1, 2, true},    {{2, 3, 1}, 2, 3, 3, 2, 2, 1, 1, 2, false},
      {{2, 6, 15}, 2, 3, 3, 2, 2, 1, 1, 2, true},    {{3, 1, 5}, 3, 3, 3, 2, 2, 1, 1, 3, false},
      {{2, 30, 12}, 2, 3, 3, 2, 2, 1, 1, 2, true},
      // Depthwise of stride 2 through the plane's four phases (kw <= pw + 2): rows of 35 and 18
      // outputs (three and two chunks of 32 input columns, odd and even widths), padding 2
      // (taps one phase column to the left), 2 x 2 and 2 x 4 kernels, a 1 x 1 kernel (one
      // phase), one input row, more padding than kernel.
      {{2, 9, 70}, 2, 3, 3, 2, 2, 1, 1, 2, true},    {{3, 11, 35}, 3, 3, 3, 2, 2, 1, 1, 3, false},
      {{2, 10, 10}, 2, 3, 3, 2, 2, 2, 2, 2, true},   {{2, 8, 9}, 2, 2, 2, 2, 2, 0, 0, 2, false},
      {{2, 9, 12}, 2, 4, 4, 2, 2, 2, 2, 2, true},    {{2, 9, 9}, 2, 1, 1, 2, 2, 0, 0, 2, false},
      {{2, 1, 9}, 2, 1, 3, 2, 2, 0, 1, 2, true},     {{2, 5, 6}, 2, 3, 1, 2, 2, 3, 0, 2, false},
      // The phase copy of stride 2 (both column phases from one load of 32 input columns):
      // rows of 70 and 40 columns (3 and 2 chunks), padding 0, 1, 2 and 3 (more than the
      // kernel: phase columns past the ones read), vertical stride 1, and a row of 300 columns
      // (more chunks than the one-load copy takes: the copy per phase).
      {{2, 6, 70}, 3, 3, 3, 2, 2, 1, 1, 1, true},    {{2, 5, 40}, 3, 2, 4, 1, 2, 0, 0, 1, false},
      {{2, 7, 11}, 2, 3, 5, 2, 2, 1, 2, 1, true},    {{2, 6, 33}, 2, 3, 3, 2, 2, 3, 3, 1, false},
      {{1, 3, 300}, 2, 1, 3, 1, 2, 0, 1, 1, true},
      // Stride 1 with the output as wide as the input, read from the unpadded planes under
      // masks: 28 x 28 (16 tiles of 48 columns and a masked tail), two groups of 3 outputs, no
      // vertical padding (a shorter output), a 1 x 3 kernel on rows of 20, a 5 x 5 kernel.
      {{16, 28, 28}, 16, 3, 3, 1, 1, 1, 1, 1, true}, {{4, 9, 9}, 6, 3, 3, 1, 1, 1, 1, 2, false},
      {{3, 10, 12}, 10, 3, 3, 1, 1, 0, 1, 1, true},  {{4, 5, 20}, 12, 1, 3, 1, 1, 0, 1, 1, false},
      {{2, 13, 9}, 9, 5, 5, 1, 1, 2, 2, 1, true},
      // Small output planes with long sums: the output channels in the vector lanes (64, 32 and
      // 16 per tile; 49 pixels in whole tiles of 7, 20 and 30 with a tail), stride 1 and 2.
      {{32, 7, 7}, 64, 3, 3, 1, 1, 1, 1, 1, true},   {{32, 14, 13}, 64, 3, 3, 2, 2, 1, 1, 1, false},
      {{32, 4, 5}, 32, 3, 3, 1, 1, 1, 1, 1, false},  {{30, 6, 5}, 16, 3, 3, 1, 1, 1, 1, 1, true},
      {{64, 7, 7}, 48, 3, 3, 1, 1, 1, 1, 1, true},
      // Row tiles (one output row of 7, 14 or 28 pixels x 64, 32 or 16 channels, kernels three
      // columns wide): both border columns (stride 1), the left one only (stride 2 from 14
      // columns), both again (stride 2 from 13), none (no padding), a 5 x 3 kernel (two border
      // rows), 128 channels (two tiles of 64), 14 pixels with 32 and 64 channels, stride 2 to 14.
      {{8, 7, 7}, 64, 3, 3, 1, 1, 1, 1, 1, false},   {{8, 14, 14}, 64, 3, 3, 2, 2, 1, 1, 1, true},
      {{8, 13, 13}, 64, 3, 3, 2, 2, 1, 1, 1, false}, {{8, 9, 9}, 64, 3, 3, 1, 1, 0, 0, 1, true},
      {{5, 7, 7}, 64, 5, 3, 1, 1, 2, 1, 1, false},   {{8, 7, 7}, 128, 3, 3, 1, 1, 1, 1, 1, true},
      {{8, 14, 14}, 32, 3, 3, 1, 1, 1, 1, 1, false}, {{8, 14, 14}, 64, 3, 3, 1, 1, 1, 1, 1, true},
      {{8, 28, 27}, 32, 3, 3, 2, 2, 1, 1, 1, true},
      // 28 pixels x 16 channels (stored through 16 x 16 transposes, the second one partly):
      // two channel tiles, and stride 2 from 56 columns.
      {{8, 28, 28}, 32, 3, 3, 1, 1, 1, 1, 1, false}, {{8, 9, 56}, 16, 3, 3, 2, 2, 1, 1, 1, true},
  };
  for (const Case& k : cases) {
    const Graph g = one_conv(k.in, k.out_c, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, k.groups, k.relu,
                             rng);
    const Node& n = g.nodes[0];
    const ActShape& os = g.tensor_shapes[1];
    const size_t batch = 3;
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> input(batch * k.in.elements());
    for (float& v : input) v = dist(rng);
    const Activations got = run_fp32(g, input, batch, nullptr, {}, 2);
    const size_t cg = k.in.c / k.groups, og = k.out_c / k.groups;
    std::vector<float> want(batch * os.elements());
    for (size_t b = 0; b < batch; ++b) {
      for (size_t o = 0; o < k.out_c; ++o) {
        const size_t grp = o / og;
        for (size_t oy = 0; oy < os.h; ++oy) {
          for (size_t ox = 0; ox < os.w; ++ox) {
            float acc = 0.f;
            for (size_t c = 0; c < cg; ++c) {
              for (size_t y = 0; y < k.kh; ++y) {
                for (size_t xk = 0; xk < k.kw; ++xk) {
                  const long iy = static_cast<long>(oy * k.sh + y) - static_cast<long>(k.ph);
                  const long ix = static_cast<long>(ox * k.sw + xk) - static_cast<long>(k.pw);
                  if (iy < 0 || ix < 0 || iy >= static_cast<long>(k.in.h) ||
                      ix >= static_cast<long>(k.in.w)) {
                    continue;
                  }
                  const float w = n.weights[((o * cg + c) * k.kh + y) * k.kw + xk];
                  const float xv = input[((b * k.in.c + grp * cg + c) * k.in.h +
                                          static_cast<size_t>(iy)) * k.in.w +
                                         static_cast<size_t>(ix)];
                  if (og == 1) {
                    const float product = w * xv;
                    acc = acc + product;
                  } else {
                    acc = std::fma(w, xv, acc);
                  }
                }
              }
            }
            float v = acc + n.bias[o];
            if (k.relu && v < 0.f) v = 0.f;
            want[((b * k.out_c + o) * os.h + oy) * os.w + ox] = v;
          }
        }
      }
    }
    ASSERT_EQ(got[1].size(), want.size());
    EXPECT_EQ(std::memcmp(got[1].data(), want.data(), want.size() * sizeof(float)), 0)
        << k.in.str() << " -> " << k.out_c << " k" << k.kh << "x" << k.kw << " s" << k.sh << "x"
        << k.sw << " p" << k.ph << "x" << k.pw << " g" << k.groups;
  }
}

// A tap on the zero border still counts where a weight is not finite: fma(inf, 0, s) is NaN. The
// channel tiles (7 x 7 outputs, 288 products per sum) leave the border rows out only where every
// weight is finite, so an infinite weight of kernel row 0 makes the whole top row NaN (row 0's
// tap reads the zero padding), and the other rows see it only through real pixels.
TEST(Fp32Inference, BorderTapsOfANonFiniteWeightStillCount) {
  std::mt19937 rng(12);
  Graph g = one_conv({32, 7, 7}, 64, 3, 3, 1, 1, 1, 1, 1, false, rng);
  Node& n = g.nodes[0];
  const size_t o = 5, c = 3;
  n.weights[((o * 32 + c) * 3 + 0) * 3 + 1] = std::numeric_limits<float>::infinity();
  std::vector<float> input(32 * 49);
  std::uniform_real_distribution<float> pos(0.5f, 1.5f);
  for (float& v : input) v = pos(rng);  // every pixel positive: inf * x = +inf, never NaN
  const Activations got = run_fp32(g, input, 1, nullptr, {}, 1);
  for (size_t oy = 0; oy < 7; ++oy) {
    for (size_t ox = 0; ox < 7; ++ox) {
      const float v = got[1][(o * 7 + oy) * 7 + ox];
      if (oy == 0) {
        EXPECT_TRUE(std::isnan(v)) << "row 0, column " << ox << ": " << v;
      } else {
        EXPECT_EQ(v, std::numeric_limits<float>::infinity()) << "row " << oy << ", column " << ox;
      }
    }
  }
  // The same through the row tiles' border columns: an infinite weight of kernel column 0 makes
  // every row's first pixel NaN (inf x the zero column left of it), the others +inf.
  {
    Graph k = one_conv({32, 7, 7}, 64, 3, 3, 1, 1, 1, 1, 1, false, rng);
    k.nodes[0].weights[((o * 32 + c) * 3 + 1) * 3 + 0] = std::numeric_limits<float>::infinity();
    const Activations col = run_fp32(k, input, 1, nullptr, {}, 1);
    for (size_t oy = 0; oy < 7; ++oy) {
      for (size_t ox = 0; ox < 7; ++ox) {
        const float v = col[1][(o * 7 + oy) * 7 + ox];
        if (ox == 0) {
          EXPECT_TRUE(std::isnan(v)) << "column 0, row " << oy << ": " << v;
        } else {
          EXPECT_EQ(v, std::numeric_limits<float>::infinity()) << "row " << oy << ", col " << ox;
        }
      }
    }
  }
  // Another output channel, all of its weights finite, the same as without the infinite weight.
  Graph h = g;
  h.nodes[0].weights[((o * 32 + c) * 3 + 0) * 3 + 1] = 1.f;
  const Activations ref = run_fp32(h, input, 1, nullptr, {}, 1);
  EXPECT_EQ(std::memcmp(got[1].data(), ref[1].data(), o * 49 * sizeof(float)), 0);
}

// The same for a depthwise convolution through the padded rows: an infinite weight of channel 1's
// kernel row 0 makes its top row NaN (inf x the zero row above) and its other rows +inf, and the
// channel beside it in the same vectors (planes up to 7 wide: lanes 0-7) stays finite.
TEST(Fp32Inference, DepthwiseBorderTapsOfANonFiniteWeightStillCount) {
  std::mt19937 rng(13);
  for (size_t w : {7, 14, 28}) {
    Graph g = one_conv({2, 7, w}, 2, 3, 3, 1, 1, 1, 1, 2, false, rng);
    g.nodes[0].weights[9 + 1] = std::numeric_limits<float>::infinity();  // channel 1, (0, 1)
    std::vector<float> input(2 * 7 * w);
    std::uniform_real_distribution<float> pos(0.5f, 1.5f);
    for (float& v : input) v = pos(rng);
    const Activations got = run_fp32(g, input, 1, nullptr, {}, 1);
    for (size_t oy = 0; oy < 7; ++oy) {
      for (size_t ox = 0; ox < w; ++ox) {
        EXPECT_TRUE(std::isfinite(got[1][oy * w + ox])) << w << ": channel 0";
        const float v = got[1][(7 + oy) * w + ox];
        if (oy == 0) {
          EXPECT_TRUE(std::isnan(v)) << w << ": row 0, column " << ox << ": " << v;
        } else {
          EXPECT_EQ(v, std::numeric_limits<float>::infinity()) << w << ": row " << oy;
        }
      }
    }
  }
}

// FP32 pooling against its definition: the in-bounds values of each window in (ky, kx) order;
// MaxPool keeps the first of equal values (+0 / -0 ties tell), AveragePool sums from +0 in that
// order and divides by the window's size (or the in-bounds count), GlobalAveragePool the plane.
TEST(Fp32Inference, PoolingEqualsTheDefinitionBitForBit) {
  std::mt19937 rng(9);
  struct Case {
    OpKind kind;
    ActShape in;
    size_t kh, kw, sh, sw, ph, pw;
    bool include_pad;
  };
  const Case cases[] = {
      {OpKind::kMaxPool, {3, 8, 8}, 2, 2, 2, 2, 0, 0, false},
      {OpKind::kMaxPool, {2, 9, 7}, 3, 3, 2, 2, 1, 1, false},
      {OpKind::kMaxPool, {2, 6, 5}, 3, 2, 1, 2, 1, 0, false},
      // Rows of more than one vector of outputs (the vector path: no padding, strides 1 and 2).
      {OpKind::kMaxPool, {2, 6, 40}, 2, 2, 2, 2, 0, 0, false},
      {OpKind::kMaxPool, {2, 5, 37}, 3, 3, 1, 1, 0, 0, false},
      {OpKind::kMaxPool, {1, 7, 71}, 3, 2, 2, 2, 0, 0, false},
      {OpKind::kMaxPool, {1, 3, 40}, 1, 3, 1, 2, 0, 0, false},
      {OpKind::kAvgPool, {2, 9, 7}, 3, 3, 2, 2, 1, 1, false},
      {OpKind::kAvgPool, {2, 9, 7}, 3, 3, 2, 2, 1, 1, true},
      {OpKind::kAvgPool, {3, 8, 8}, 2, 2, 2, 2, 0, 0, false},
      {OpKind::kGlobalAvgPool, {4, 7, 7}, 7, 7, 1, 1, 0, 0, false},
      {OpKind::kGlobalAvgPool, {19, 5, 6}, 5, 6, 1, 1, 0, 0, false},
  };
  for (const Case& k : cases) {
    Node n;
    n.kind = k.kind;
    n.name = "pool";
    n.inputs = {0};
    n.output = 1;
    n.kernel_h = k.kh;
    n.kernel_w = k.kw;
    n.stride_h = k.sh;
    n.stride_w = k.sw;
    n.pad_h = k.ph;
    n.pad_w = k.pw;
    n.count_include_pad = k.include_pad;
    Graph g;
    g.tensor_names = {"x", "y"};
    const ActShape out = k.kind == OpKind::kGlobalAvgPool
                             ? ActShape{k.in.c, 1, 1}
                             : ActShape{k.in.c, (k.in.h + 2 * k.ph - k.kh) / k.sh + 1,
                                        (k.in.w + 2 * k.pw - k.kw) / k.sw + 1};
    g.tensor_shapes = {k.in, out};
    g.nodes = {n};
    g.input = 0;
    g.output = 1;
    const size_t batch = 2;
    // Few distinct values, signed zeros among them: ties decide which one MaxPool keeps; and a
    // NaN (kept by MaxPool only where it comes first in its window).
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float pick[] = {0.f, -0.f, 1.f, -1.f, 0.3f, 2.5f, -0.f, nan};
    std::vector<float> input(batch * k.in.elements());
    for (float& v : input) v = pick[rng() % 8];
    const Activations got = run_fp32(g, input, batch, nullptr, {}, 2);
    std::vector<float> want(batch * out.elements());
    for (size_t p = 0; p < batch * k.in.c; ++p) {
      for (size_t oy = 0; oy < out.h; ++oy) {
        for (size_t ox = 0; ox < out.w; ++ox) {
          std::vector<float> window;
          for (size_t y = 0; y < k.kh; ++y) {
            for (size_t x = 0; x < k.kw; ++x) {
              const long iy = static_cast<long>(oy * k.sh + y) - static_cast<long>(k.ph);
              const long ix = static_cast<long>(ox * k.sw + x) - static_cast<long>(k.pw);
              if (iy < 0 || ix < 0 || iy >= static_cast<long>(k.in.h) ||
                  ix >= static_cast<long>(k.in.w)) {
                continue;
              }
              window.push_back(input[(p * k.in.h + static_cast<size_t>(iy)) * k.in.w +
                                     static_cast<size_t>(ix)]);
            }
          }
          float v = 0.f;
          if (k.kind == OpKind::kMaxPool) {
            v = *std::max_element(window.begin(), window.end());
          } else {
            for (float w : window) v += w;
            v /= static_cast<float>(k.include_pad ? k.kh * k.kw : window.size());
          }
          want[(p * out.h + oy) * out.w + ox] = v;
        }
      }
    }
    ASSERT_EQ(got[1].size(), want.size());
    EXPECT_EQ(std::memcmp(got[1].data(), want.data(), want.size() * sizeof(float)), 0)
        << to_string(k.kind) << " " << k.in.str() << " k" << k.kh << "x" << k.kw << " s" << k.sh
        << "x" << k.sw << " p" << k.ph << "x" << k.pw;
  }
}

// run_fp32_into reuses its tensors: a smaller batch after a larger one gives the values of a
// fresh pass, and the network run a few images at a time (no hook) gives the values of the pass
// layer by layer (with a hook).
TEST(Fp32Inference, ReusedActivationsGiveTheSameValues) {
  const Graph g = load_onnx(model_path("mobilenet.onnx"));
  const Dataset& test = dataset("fashion-mnist", Split::kTest);
  Activations reused;
  run_fp32_into(g, to_float_input(test, 0, 4), 4, reused, 2);
  run_fp32_into(g, to_float_input(test, 4, 2), 2, reused, 2);
  const Activations fresh =
      run_fp32(g, to_float_input(test, 4, 2), 2, nullptr, [](int, std::vector<float>&) {}, 1);
  ASSERT_EQ(reused.size(), fresh.size());
  for (size_t t = 0; t < fresh.size(); ++t) EXPECT_EQ(reused[t], fresh[t]) << g.tensor_names[t];
}

// Every FP32 tensor is the same for any thread count and for an image run alone or in a batch.
TEST(Fp32Inference, SameValuesForAnyThreadCountAndBatch) {
  const Graph g = load_onnx(model_path("resnet10.onnx"));
  const Dataset& test = dataset("fashion-mnist", Split::kTest);
  const size_t n = 5;
  const Activations one = run_fp32(g, to_float_input(test, 0, n), n, nullptr, {}, 1);
  const Activations three = run_fp32(g, to_float_input(test, 0, n), n, nullptr, {}, 3);
  const Activations alone = run_fp32(g, to_float_input(test, 3, 1), 1, nullptr, {}, 2);
  ASSERT_EQ(one.size(), three.size());
  for (size_t t = 0; t < one.size(); ++t) {
    EXPECT_EQ(one[t], three[t]) << g.tensor_names[t];
    const size_t per = one[t].size() / n;
    const std::vector<float> third(one[t].begin() + static_cast<std::ptrdiff_t>(3 * per),
                                   one[t].begin() + static_cast<std::ptrdiff_t>(4 * per));
    EXPECT_EQ(third, alone[t]) << g.tensor_names[t];
  }
}

// The pass that keeps only the output gives run_fp32's output, bit for bit, for any thread
// count, with a batch of whole chunks of images and a tail (13) and, through the same scratch, a
// smaller one (5).
TEST(Fp32Inference, OutputPassGivesRunFp32sOutput) {
  for (const auto& [model, data] : {std::pair<const char*, const char*>{"lenet5", "mnist"},
                                    {"resnet10", "fashion-mnist"},
                                    {"mobilenet", "fashion-mnist"}}) {
    const Graph g = load_onnx(model_path(std::string(model) + ".onnx"));
    const Dataset& test = dataset(data, Split::kTest);
    for (size_t threads : {1, 2, 3}) {
      Fp32Scratch scratch;
      std::vector<float> output;
      for (const auto& [first, n] : {std::pair<size_t, size_t>{0, 13}, {20, 5}}) {
        const std::vector<float> input = to_float_input(test, first, n);
        const NotFinite f = run_fp32_output_into(g, input, n, output, scratch, threads);
        const Activations want = run_fp32(g, input, n, nullptr, {}, 1);
        const std::vector<float>& y = want[static_cast<size_t>(g.output)];
        ASSERT_EQ(output.size(), y.size()) << model;
        EXPECT_EQ(std::memcmp(output.data(), y.data(), y.size() * sizeof(float)), 0)
            << model << " threads " << threads << " batch " << n;
        EXPECT_EQ(f.tensor, -1) << model;
      }
    }
  }
}

// The first value that is not finite of every tensor of `a` in tensor, then element order,
// element by element.
NotFinite first_not_finite_by_element(const Activations& a, size_t batch) {
  for (size_t t = 0; t < a.size(); ++t) {
    for (size_t i = 0; i < a[t].size(); ++i) {
      if (!std::isfinite(a[t][i])) {
        return {static_cast<int>(t), i / (a[t].size() / batch), std::isnan(a[t][i])};
      }
    }
  }
  return {};
}

// Where values are not finite in some images, the output pass and find_not_finite report the
// first one of the lowest tensor, as a search of run_fp32's tensors finds it: a value too large
// for the first convolution (its output infinite, later NaN) in a late chunk, below it the
// input's infinity or NaN of a later or an earlier chunk, for 1 to 3 threads.
TEST(Fp32Inference, OutputPassFindsTheFirstValueThatIsNotFinite) {
  const Graph g = load_onnx(model_path("mobilenet.onnx"));
  const Dataset& test = dataset("fashion-mnist", Split::kTest);
  const size_t n = 21, px = 28 * 28;
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    std::vector<std::pair<size_t, float>> images;  // (image, value of all its pixels / one pixel)
    int tensor;
    size_t image;
    bool is_nan;
  };
  const float big = std::numeric_limits<float>::max();
  const std::vector<Case> cases = {
      {{{13, big}}, 1, 13, false},
      {{{13, big}, {19, inf}}, 0, 19, false},
      {{{11, big}, {17, nan}, {4, nan}}, 0, 4, true},
  };
  for (const Case& c : cases) {
    std::vector<float> input = to_float_input(test, 0, n);
    for (const auto& [image, v] : c.images) {
      if (std::isfinite(v)) {
        std::fill(input.begin() + static_cast<std::ptrdiff_t>(image * px),
                  input.begin() + static_cast<std::ptrdiff_t>((image + 1) * px), v);
      } else {
        input[image * px + 300] = v;
      }
    }
    const Activations all = run_fp32(g, input, n, nullptr, {}, 1);
    const NotFinite want = first_not_finite_by_element(all, n);
    // The cases are what they are meant to be: the element search finds the expected value.
    ASSERT_EQ(want.tensor, c.tensor);
    ASSERT_EQ(want.image, c.image);
    ASSERT_EQ(want.nan, c.is_nan);
    const NotFinite found = find_not_finite(all, n);
    EXPECT_EQ(found.tensor, want.tensor);
    EXPECT_EQ(found.image, want.image);
    EXPECT_EQ(found.nan, want.nan);
    for (size_t threads : {1, 2, 3}) {
      Fp32Scratch scratch;
      std::vector<float> output;
      const NotFinite got = run_fp32_output_into(g, input, n, output, scratch, threads);
      EXPECT_EQ(got.tensor, want.tensor) << "threads " << threads;
      EXPECT_EQ(got.image, want.image) << "threads " << threads;
      EXPECT_EQ(got.nan, want.nan) << "threads " << threads;
    }
  }
}

// Values that are not finite first met deep in the network, in every kind of tile and depthwise
// path the two models use: each convolution of MobileNet and ResNet-10 in turn with
// its weights scaled to a largest magnitude of 1e38 (finite), so that its sums overflow where it
// sees enough signal; the output pass reports what a search of run_fp32's tensors finds.
TEST(Fp32Inference, OutputPassFindsValuesThatOverflowInAnyLayer) {
  const Dataset& test = dataset("fashion-mnist", Split::kTest);
  const size_t n = 9;
  const std::vector<float> input = to_float_input(test, 0, n);
  for (const char* model : {"mobilenet", "resnet10"}) {
    const Graph base = load_onnx(model_path(std::string(model) + ".onnx"));
    size_t overflowed = 0;
    for (size_t k = 0; k < base.nodes.size(); ++k) {
      if (base.nodes[k].kind != OpKind::kConv) continue;
      Graph g = base;
      float largest = 0.f;
      for (float w : g.nodes[k].weights) largest = std::max(largest, std::abs(w));
      for (float& w : g.nodes[k].weights) w *= 1e38f / largest;
      const NotFinite want = first_not_finite_by_element(run_fp32(g, input, n), n);
      overflowed += want.tensor >= 0;
      Fp32Scratch scratch;
      std::vector<float> output;
      const NotFinite got = run_fp32_output_into(g, input, n, output, scratch, 2);
      EXPECT_EQ(got.tensor, want.tensor) << model << " " << g.nodes[k].name;
      EXPECT_EQ(got.image, want.image) << model << " " << g.nodes[k].name;
      EXPECT_EQ(got.nan, want.nan) << model << " " << g.nodes[k].name;
    }
    EXPECT_GT(overflowed, 5u) << model << ": too few layers overflow for the test to tell";
  }
}

// The plan of LeNet-5 on a few calibration images (the exponents are inputs of the check), with
// its biases corrected on them when asked.
QuantPlan lenet_plan(const Graph& g, Arithmetic format, bool bias_correction = false,
                     const LbfpFormat& lbfp = lbfp8()) {
  const Dataset& train = dataset("mnist", Split::kTrain);
  ActivationStats stats(g);
  stats.add(run_fp32(g, to_float_input(train, 0, 64), 64));
  QuantPlan plan = make_plan(g, format, CalibrationMethod::kKl, CalibrationMethod::kMax, stats,
                             ActivationGranularity::kTensor, lbfp);
  if (bias_correction) correct_biases(g, plan, pixel_batch(train, 0, 64), 64, 32);
  return plan;
}

// Output codes of the first conv (5x5, pad 2, ReLU) of LeNet-5 for two images, recomputed from
// scratch: input codes by encode, weight codes by encode, each output by lbfp::dot in (c, kh, kw)
// order from the bias, then requantize.
template <class Format>
void check_first_conv(const Format& f, Arithmetic nf, bool bias_correction = false) {
  const Graph g = load_onnx(model_path("lenet5.onnx"));
  QuantPlan plan;
  if constexpr (std::is_same_v<Format, LbfpFormat>) {
    plan = lenet_plan(g, nf, bias_correction, f);
    ASSERT_EQ(plan.lbfp, f);
  } else {
    plan = lenet_plan(g, nf, bias_correction);
  }
  const std::vector<float>& biases = plan_bias(g, plan, 0);
  // With the correction, the bias the check starts from is not the model's.
  EXPECT_EQ(biases != g.nodes[0].bias, bias_correction);
  const Dataset& test = dataset("mnist", Split::kTest);
  const size_t batch = 2;
  const QuantizedResult q = run_quantized(g, plan, pixel_batch(test, 0, batch), batch);
  const Node& conv = g.nodes[0];
  ASSERT_EQ(conv.kind, OpKind::kConv);
  ASSERT_TRUE(conv.relu);
  const int ein = plan.tensor_exponents[static_cast<size_t>(g.input)];
  const int eout = plan.tensor_exponents[static_cast<size_t>(conv.output)];
  const auto& wexp = plan.weight_exponents[0];
  const auto& got = q.codes[static_cast<size_t>(conv.output)];
  ASSERT_EQ(got.size(), batch * 6 * 28 * 28);
  size_t nonzero = 0;
  for (size_t b = 0; b < batch; ++b) {
    const uint8_t* img = test.image(b);
    for (size_t o = 0; o < 6; ++o) {
      std::vector<Code> w(25);
      for (size_t k = 0; k < 25; ++k) w[k] = encode(f, conv.weights[o * 25 + k], wexp[o]);
      const int scale = f.product_scale(ein, wexp[o]);
      const int64_t bias = bias_to_accumulator(f.acc_bits(), biases[o], scale);
      for (size_t y = 0; y < 28; ++y) {
        for (size_t x = 0; x < 28; ++x) {
          std::vector<Code> a(25, 0);
          for (size_t ky = 0; ky < 5; ++ky) {
            for (size_t kx = 0; kx < 5; ++kx) {
              const long iy = static_cast<long>(y + ky) - 2, ix = static_cast<long>(x + kx) - 2;
              if (iy < 0 || ix < 0 || iy >= 28 || ix >= 28) continue;  // zero padding: code 0
              const float v = static_cast<float>(img[iy * 28 + ix]) / 255.0f;
              a[ky * 5 + kx] = encode(f, v, ein);
            }
          }
          const DotResult r = dot(f, a.data(), w.data(), 25, bias);
          const Code want = requantize(f, r.acc, scale, eout, true);
          const Code have = got[((b * 6 + o) * 28 + y) * 28 + x];
          ASSERT_EQ(have, want) << "image " << b << " channel " << o << " at " << y << "," << x;
          nonzero += want != 0;
        }
      }
    }
  }
  EXPECT_GT(nonzero, 500u);  // the check is not vacuous
}

TEST(QuantizedInference, Lbfp8FirstConvEqualsDotAndRequantize) {
  check_first_conv(lbfp8(), Arithmetic::kLbfp8);
}
// The rest of the LBFP family (spec section 12, P = 8, A = 32): the same layer against the golden
// arithmetic of that W and F (the kernels fall back to the reference path where their tables do
// not fit the format).
TEST(QuantizedInference, Lbfp6F3FirstConvEqualsDotAndRequantize) {
  check_first_conv(LbfpFormat(6, 3, 8, 32), Arithmetic::kLbfp8);
}
TEST(QuantizedInference, Lbfp6F4FirstConvEqualsDotAndRequantize) {
  check_first_conv(LbfpFormat(6, 4, 8, 32), Arithmetic::kLbfp8);
}
TEST(QuantizedInference, Lbfp7F3FirstConvEqualsDotAndRequantize) {
  check_first_conv(LbfpFormat(7, 3, 8, 32), Arithmetic::kLbfp8);
}
TEST(QuantizedInference, Lbfp7F5FirstConvEqualsDotAndRequantize) {
  check_first_conv(LbfpFormat(7, 5, 8, 32), Arithmetic::kLbfp8);
}
TEST(QuantizedInference, Lbfp8F5FirstConvEqualsDotAndRequantize) {
  check_first_conv(LbfpFormat(8, 5, 8, 32), Arithmetic::kLbfp8);
}
TEST(QuantizedInference, Bfp8FirstConvEqualsDotAndRequantize) {
  check_first_conv(bfp8(), Arithmetic::kBfp8);
}
// A corrected bias is still a bias: the same golden arithmetic from it.
TEST(BiasCorrection, Lbfp8FirstConvStillEqualsDotAndRequantize) {
  check_first_conv(lbfp8(), Arithmetic::kLbfp8, true);
}
TEST(BiasCorrection, Bfp8FirstConvStillEqualsDotAndRequantize) {
  check_first_conv(bfp8(), Arithmetic::kBfp8, true);
}

// On the calibration images it was computed from, the correction leaves every Conv / Gemm output
// channel of MobileNet (LBFP8, KL) with a mean pre-activation error within one accumulator unit
// (the old and the new bias are each rounded to the unit) plus the float rounding of the bias,
// where before it was far larger.
TEST(BiasCorrection, RemovesTheMeanErrorOfEveryLayerOnCalibrationImages) {
  const LbfpFormat& f = lbfp8();
  const Graph g = load_onnx(model_path("mobilenet.onnx"));
  const Dataset& train = dataset("fashion-mnist", Split::kTrain);
  const size_t images = 48;
  ActivationStats stats(g, false);
  stats.add(run_fp32(g, to_float_input(train, 0, images), images));
  QuantPlan plan = make_plan(g, Arithmetic::kLbfp8, CalibrationMethod::kKl,
                             CalibrationMethod::kMax, stats);
  const std::vector<uint8_t> pixels = pixel_batch(train, 0, images);
  const auto before = mean_pre_activation_error(g, plan, pixels, images, 16);
  correct_biases(g, plan, pixels, images, 16);
  ASSERT_TRUE(plan.bias_corrected);
  const auto after = mean_pre_activation_error(g, plan, pixels, images, 16);
  double sum_before = 0, sum_after = 0;
  size_t layers = 0;
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    if (n.kind != OpKind::kConv && n.kind != OpKind::kGemm) {
      EXPECT_TRUE(after[ni].empty());
      continue;
    }
    ++layers;
    ASSERT_EQ(after[ni].size(), n.out_channels);
    const int ein = plan.tensor_exponents[static_cast<size_t>(n.inputs[0])];
    const std::vector<float>& bias = plan_bias(g, plan, ni);
    for (size_t c = 0; c < n.out_channels; ++c) {
      const double unit = std::ldexp(1.0, f.product_scale(ein, plan.weight_exponents[ni][c]));
      EXPECT_LE(std::fabs(after[ni][c]), unit + 1e-6 * std::fabs(bias[c]))
          << n.name << " channel " << c << " (before: " << before[ni][c] << ")";
      sum_before += std::fabs(before[ni][c]);
      sum_after += std::fabs(after[ni][c]);
    }
  }
  EXPECT_EQ(layers, 12u);
  EXPECT_LT(sum_after, 0.05 * sum_before) << sum_before << " -> " << sum_after;
}

// The first fully connected layer (400 -> 120, ReLU) from the codes of its input tensor, and the
// logits of the last one read exactly from the accumulators.
TEST(QuantizedInference, Lbfp8GemmLayersEqualDotAndRequantize) {
  const LbfpFormat& f = lbfp8();
  const Graph g = load_onnx(model_path("lenet5.onnx"));
  const QuantPlan plan = lenet_plan(g, Arithmetic::kLbfp8);
  const Dataset& test = dataset("mnist", Split::kTest);
  const size_t batch = 3;
  const QuantizedResult q = run_quantized(g, plan, pixel_batch(test, 0, batch), batch);
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    if (n.kind != OpKind::kGemm) continue;
    const size_t k = g.tensor_shapes[static_cast<size_t>(n.inputs[0])].elements();
    const auto& in = q.codes[static_cast<size_t>(n.inputs[0])];
    const int ein = plan.tensor_exponents[static_cast<size_t>(n.inputs[0])];
    const int eout = plan.tensor_exponents[static_cast<size_t>(n.output)];
    const auto& wexp = plan.weight_exponents[ni];
    for (size_t b = 0; b < batch; ++b) {
      for (size_t o = 0; o < n.out_channels; ++o) {
        std::vector<Code> w(k);
        for (size_t i = 0; i < k; ++i) w[i] = encode(f, n.weights[o * k + i], wexp[o]);
        const int scale = f.product_scale(ein, wexp[o]);
        const int64_t bias = bias_to_accumulator(f.acc_bits(), n.bias[o], scale);
        const DotResult r = dot(f, in.data() + b * k, w.data(), k, bias);
        if (n.output == g.output) {
          EXPECT_EQ(q.logits[b * n.out_channels + o],
                    std::ldexp(static_cast<double>(r.acc), scale));
        } else {
          ASSERT_EQ(q.codes[static_cast<size_t>(n.output)][b * n.out_channels + o],
                    requantize(f, r.acc, scale, eout, n.relu))
              << n.name << " image " << b << " output " << o;
        }
      }
    }
  }
}

// MobileNet with per-channel activation exponents: exactly the tensors read only by depthwise
// convolutions carry them, and every convolution's output codes (stem, depthwise, pointwise) for
// one test image equal a direct computation from the codes of its input: weights by encode, each
// output by lbfp::dot in (c, kh, kw) order from the bias at scale Ea[c] + Eb[o] (Ea per channel
// where the input has channel exponents), requantize to Eo[o] (per channel where the output has
// them).
template <class Format>
void check_mobilenet_convs(const Format& f, Arithmetic nf) {
  const Graph g = load_onnx(model_path("mobilenet.onnx"));
  const std::vector<bool> per_channel = channel_exponent_tensors(g);
  size_t depthwise = 0;
  for (const Node& n : g.nodes) {
    if (n.kind != OpKind::kConv || n.groups == 1) continue;
    ++depthwise;
    EXPECT_TRUE(per_channel[static_cast<size_t>(n.inputs[0])]) << n.name;
  }
  ASSERT_EQ(depthwise, 5u);
  ASSERT_EQ(std::count(per_channel.begin(), per_channel.end(), true), 5);
  for (const Node& n : g.nodes) {  // pointwise inputs, the pool and the fc stay per tensor
    if (n.kind != OpKind::kConv || n.groups == 1) {
      for (int t : n.inputs) EXPECT_FALSE(per_channel[static_cast<size_t>(t)]) << n.name;
    }
  }
  const Dataset& train = dataset("fashion-mnist", Split::kTrain);
  ActivationStats stats(g);
  stats.add(run_fp32(g, to_float_input(train, 0, 64), 64));
  const QuantPlan plan = make_plan(g, nf, CalibrationMethod::kKl, CalibrationMethod::kMax, stats,
                                   ActivationGranularity::kChannel);
  bool differ = false;  // the channels do not all get one exponent (the point of it)
  for (size_t t = 0; t < per_channel.size(); ++t) {
    const auto& ce = plan.channel_exponents[t];
    ASSERT_EQ(ce.empty(), !per_channel[t]) << g.tensor_names[t];
    if (ce.empty()) continue;
    ASSERT_EQ(ce.size(), g.tensor_shapes[t].c);
    EXPECT_EQ(plan.tensor_exponents[t], *std::max_element(ce.begin(), ce.end()));
    differ = differ || *std::min_element(ce.begin(), ce.end()) != plan.tensor_exponents[t];
  }
  EXPECT_TRUE(differ);
  const Dataset& test = dataset("fashion-mnist", Split::kTest);
  const QuantizedResult q = run_quantized(g, plan, pixel_batch(test, 0, 1), 1);
  auto exponent = [&](int tensor, size_t channel) {
    const auto& ce = plan.channel_exponents[static_cast<size_t>(tensor)];
    return ce.empty() ? plan.tensor_exponents[static_cast<size_t>(tensor)] : ce[channel];
  };
  size_t convs = 0;
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    if (n.kind != OpKind::kConv) continue;
    ++convs;
    const ActShape& is = g.tensor_shapes[static_cast<size_t>(n.inputs[0])];
    const ActShape& os = g.tensor_shapes[static_cast<size_t>(n.output)];
    const size_t cg = is.c / n.groups, og = n.out_channels / n.groups;
    const size_t kg = cg * n.kernel_h * n.kernel_w;
    const auto& in = q.codes[static_cast<size_t>(n.inputs[0])];
    const auto& got = q.codes[static_cast<size_t>(n.output)];
    const auto& wexp = plan.weight_exponents[ni];
    size_t nonzero = 0;
    for (size_t o = 0; o < n.out_channels; ++o) {
      const size_t group = o / og;
      // One input exponent for all of this output's products: depthwise reads one channel.
      const int ein = exponent(n.inputs[0], group * cg);
      const int eout = exponent(n.output, o);
      std::vector<Code> w(kg);
      for (size_t k = 0; k < kg; ++k) w[k] = encode(f, n.weights[o * kg + k], wexp[o]);
      const int scale = f.product_scale(ein, wexp[o]);
      const int64_t bias = bias_to_accumulator(f.acc_bits(), n.bias[o], scale);
      for (size_t y = 0; y < os.h; ++y) {
        for (size_t x = 0; x < os.w; ++x) {
          std::vector<Code> a(kg, 0);
          for (size_t ci = 0; ci < cg; ++ci) {
            for (size_t ky = 0; ky < n.kernel_h; ++ky) {
              for (size_t kx = 0; kx < n.kernel_w; ++kx) {
                const long iy = static_cast<long>(y * n.stride_h + ky) - static_cast<long>(n.pad_h);
                const long ix = static_cast<long>(x * n.stride_w + kx) - static_cast<long>(n.pad_w);
                if (iy < 0 || ix < 0 || iy >= static_cast<long>(is.h) ||
                    ix >= static_cast<long>(is.w)) {
                  continue;
                }
                a[(ci * n.kernel_h + ky) * n.kernel_w + kx] =
                    in[((group * cg + ci) * is.h + static_cast<size_t>(iy)) * is.w +
                       static_cast<size_t>(ix)];
              }
            }
          }
          const DotResult r = dot(f, a.data(), w.data(), kg, bias);
          const Code want = requantize(f, r.acc, scale, eout, n.relu);
          ASSERT_EQ(got[(o * os.h + y) * os.w + x], want)
              << n.name << " channel " << o << " at " << y << "," << x;
          nonzero += want != 0;
        }
      }
    }
    EXPECT_GT(nonzero, 0u) << n.name;
  }
  EXPECT_EQ(convs, 11u);
}

TEST(QuantizedInference, Lbfp8MobileNetChannelExponentConvsEqualDotAndRequantize) {
  check_mobilenet_convs(lbfp8(), Arithmetic::kLbfp8);
}
TEST(QuantizedInference, Bfp8MobileNetChannelExponentConvsEqualDotAndRequantize) {
  check_mobilenet_convs(bfp8(), Arithmetic::kBfp8);
}

// The evaluator's path (run_quantized_into: its own im2col chunks, requantize by planes, the Add
// table, buffers kept from batch to batch) against run_quantized (conv2d_requantize, checked
// against lbfp::dot above): every tensor's codes, the logits and the overflow count, over batches
// of different sizes through one result and one scratch. ResNet-10 has the Adds, MobileNet the
// depthwise convolutions and (kChannel) the per-channel exponents.
void check_kept_buffers(const char* model, const char* data, Arithmetic nf,
                        ActivationGranularity granularity) {
  const Graph g = load_onnx(model_path(model));
  const Dataset& train = dataset(data, Split::kTrain);
  ActivationStats stats(g, false);
  stats.add(run_fp32(g, to_float_input(train, 0, 16), 16));
  // max calibration: the paths compared do not depend on how the exponents were chosen. The
  // channel exponents are set by hand (per-channel histograms would cost 240 MiB): the tensor's
  // exponent minus 0, 1 or 2, the largest kept as the tensor's.
  QuantPlan plan = make_plan(g, nf, CalibrationMethod::kMax, CalibrationMethod::kMax, stats);
  if (granularity == ActivationGranularity::kChannel) {
    const std::vector<bool> allowed = channel_exponent_tensors(g);
    size_t tensors = 0;
    for (size_t t = 0; t < allowed.size(); ++t) {
      if (!allowed[t]) continue;
      ++tensors;
      std::vector<int>& ce = plan.channel_exponents[t];
      for (size_t c = 0; c < g.tensor_shapes[t].c; ++c) {
        ce.push_back(plan.tensor_exponents[t] - static_cast<int>(c % 3));
      }
    }
    ASSERT_GT(tensors, 0u);
  }
  const Dataset& test = dataset(data, Split::kTest);
  QuantizedResult kept;
  QuantScratch scratch;
  // The last batch large enough that some Add (if any) takes the code-pair table (more than
  // 2 x 256^2 elements).
  size_t add_elements = 0;
  for (const Node& n : g.nodes) {
    if (n.kind == OpKind::kAdd) {
      add_elements = std::max(add_elements,
                              g.tensor_shapes[static_cast<size_t>(n.output)].elements());
    }
  }
  const size_t large = add_elements ? 2 * 65536 / add_elements + 1 : 4;
  size_t first = 0;
  for (size_t batch : {size_t{3}, size_t{1}, large}) {
    const auto pixels = pixel_batch(test, first, batch);
    first += batch;
    const QuantizedResult want = run_quantized(g, plan, pixels, batch);
    run_quantized_into(g, plan, pixels, batch, {}, kept, scratch);
    ASSERT_EQ(kept.codes.size(), want.codes.size());
    for (size_t t = 0; t < want.codes.size(); ++t) {
      ASSERT_EQ(kept.codes[t], want.codes[t]) << model << " " << g.tensor_names[t];
    }
    ASSERT_EQ(kept.logits, want.logits) << model;
    ASSERT_EQ(kept.overflows, want.overflows) << model;
    // Both paths share the Add (a table of code pairs on the large batch): against its
    // definition, the two inputs' real values added, the ReLU, encode.
    for (const Node& n : g.nodes) {
      if (n.kind != OpKind::kAdd) continue;
      const auto t = [](int id) { return static_cast<size_t>(id); };
      const std::vector<double> a = dequantize(g, plan, n.inputs[0], kept.codes[t(n.inputs[0])]);
      const std::vector<double> b = dequantize(g, plan, n.inputs[1], kept.codes[t(n.inputs[1])]);
      const int e = plan.tensor_exponents[t(n.output)];
      const auto& got = kept.codes[t(n.output)];
      ASSERT_EQ(got.size(), a.size());
      for (size_t i = 0; i < a.size(); ++i) {
        double v = a[i] + b[i];
        if (n.relu && v < 0) v = 0;
        const Code code = nf == Arithmetic::kLbfp8 ? encode(lbfp8(), v, e) : encode(bfp8(), v, e);
        ASSERT_EQ(got[i], code) << n.name << " element " << i;
      }
    }
  }
}

TEST(QuantizedInference, KeptBuffersGiveRunQuantizedsCodes) {
  // Each format once, on the model whose paths it shares the least with the other.
  check_kept_buffers("resnet10.onnx", "fashion-mnist", Arithmetic::kLbfp8,
                     ActivationGranularity::kTensor);
  check_kept_buffers("mobilenet.onnx", "fashion-mnist", Arithmetic::kBfp8,
                     ActivationGranularity::kChannel);
}

TEST(PairedAccuracy, IntervalAndMcNemar) {
  PairedAccuracy a;
  a.total = 1000;
  a.only_quantized_right = 10;
  a.only_fp32_right = 20;
  EXPECT_DOUBLE_EQ(a.difference(), -0.01);
  EXPECT_NEAR(a.ci_half_width(), 0.010717257986012762, 1e-12);  // 1.96 sqrt((0.03 - 1e-4) / 1000)
  EXPECT_NEAR(a.mcnemar_p(), 0.09873714670538902, 1e-10);       // 2 P(Bin(30, 1/2) <= 10)
}

// Between two runs (two calibrations): b = only the first right, c = only the second.
TEST(PairedAccuracy, BetweenTwoRunsOfTheSameImages) {
  const std::vector<bool> first = {true, true, false, false, true, true};
  const std::vector<bool> second = {true, false, true, true, true, false};
  const PairedAccuracy a = paired_accuracy(first, second);
  EXPECT_EQ(a.total, 6u);
  EXPECT_EQ(a.correct, 4u);
  EXPECT_EQ(a.only_quantized_right, 2u);
  EXPECT_EQ(a.only_fp32_right, 2u);
  EXPECT_DOUBLE_EQ(a.difference(), 0.0);
  EXPECT_DOUBLE_EQ(a.mcnemar_p(), 1.0);
  const PairedAccuracy swapped = paired_accuracy(second, first);
  EXPECT_EQ(swapped.only_quantized_right, 2u);
  EXPECT_THROW(paired_accuracy(first, {true}), std::invalid_argument);
}

TEST(CalibrationImages, EvenlySpacedWithoutASeed) {
  const std::vector<size_t> ids = calibration_images(60000, 1000);
  ASSERT_EQ(ids.size(), 1000u);
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], i * 60);
  EXPECT_EQ(calibration_images(7, 3), (std::vector<size_t>{0, 2, 4}));
  // More than the split holds: every image, seeded or not.
  EXPECT_EQ(calibration_images(4, 10), (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(calibration_images(4, 10, 5), (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_TRUE(calibration_images(0, 10, 5).empty());
}

TEST(CalibrationImages, SeededSampleIsDistinctSortedAndTheSameEverywhere) {
  const std::vector<size_t> a = calibration_images(60000, 1000, 1);
  ASSERT_EQ(a.size(), 1000u);
  for (size_t i = 1; i < a.size(); ++i) ASSERT_LT(a[i - 1], a[i]);  // sorted, no repeats
  EXPECT_LT(a.back(), 60000u);
  EXPECT_EQ(a, calibration_images(60000, 1000, 1));
  const std::vector<size_t> b = calibration_images(60000, 1000, 2);
  EXPECT_NE(a, b);
  EXPECT_NE(a, calibration_images(60000, 1000));
  // Spread over the whole split, not a block of it.
  EXPECT_LT(a.front(), 1000u);
  EXPECT_GT(a.back(), 59000u);
  // mt19937_64 is specified by the standard and the draw is written out: pinned values.
  EXPECT_EQ(calibration_images(10, 3, 1), (std::vector<size_t>{4, 7, 8}));
}

// A loose smoke test of the whole evaluation on a few hundred test images (the full table of
// docs/accuracy.md comes from `lbfp eval`).
TEST(Evaluate, AccuracySmoke) {
  struct Case {
    const char* model;
    const char* data;
    double min_fp32;
  };
  for (const Case& c : {Case{"lenet5", "mnist", 0.95}, Case{"resnet10", "fashion-mnist", 0.85},
                        Case{"mobilenet", "fashion-mnist", 0.80}}) {
    const Graph g = load_onnx(model_path(std::string(c.model) + ".onnx"));
    EvalOptions o;
    o.configs = {{Arithmetic::kLbfp8, CalibrationMethod::kKl, CalibrationMethod::kMax},
                 {Arithmetic::kBfp8, CalibrationMethod::kMax, CalibrationMethod::kMax}};
    o.calib_images = 200;
    o.test_images = 300;
    const EvalReport r = evaluate(g, dataset(c.data, Split::kTrain), dataset(c.data, Split::kTest), o);
    EXPECT_EQ(r.total, 300u);
    EXPECT_GE(r.fp32_top1(), c.min_fp32) << c.model;
    for (const auto& res : r.results) {
      EXPECT_GE(res.accuracy.top1(), r.fp32_top1() - 0.04) << c.model << " " << res.config.label();
      EXPECT_EQ(res.overflows, 0u) << c.model;
      // The first layer's output is close to FP32 (8-bit formats: well above 20 dB).
      EXPECT_GT(res.layers[0].sqnr_db(), 20.0) << c.model << " " << res.config.label();
    }
  }
}

// With more than one thread the configurations run side by side: every number the same as one
// after the other, and every phase timed.
// With more threads, each batch's images are split into runs over the threads, every
// configuration's: 129 images in batches of 64 give runs of 21 or 22 images and, last, one image
// on one thread. The report is the same for every count.
TEST(Evaluate, ImagesAndConfigurationsSplitOverThreadsGiveTheSameReport) {
  const Graph g = load_onnx(model_path("mobilenet.onnx"));
  EvalOptions o;
  o.configs = {{Arithmetic::kLbfp8, CalibrationMethod::kKl, CalibrationMethod::kMax},
               {Arithmetic::kBfp8, CalibrationMethod::kKl, CalibrationMethod::kMax},
               {Arithmetic::kLbfp8, CalibrationMethod::kMax, CalibrationMethod::kMax}};
  o.calib_images = 100;
  o.test_images = 129;
  o.batch = 64;
  const Dataset train = dataset("fashion-mnist", Split::kTrain);
  const Dataset test = dataset("fashion-mnist", Split::kTest);
  o.gemm.threads = 1;
  const EvalReport one = evaluate(g, train, test, o);
  for (int threads : {2, 3}) {
    o.gemm.threads = threads;
    const EvalReport many = evaluate(g, train, test, o);
    ASSERT_EQ(one.results.size(), many.results.size());
    EXPECT_EQ(one.fp32_right, many.fp32_right);
    EXPECT_GT(many.fp32_seconds, 0.0);
    EXPECT_GT(many.calibrate_seconds, 0.0);
    for (size_t i = 0; i < one.results.size(); ++i) {
      const ConfigResult& a = one.results[i];
      const ConfigResult& b = many.results[i];
      const std::string where = a.config.label() + ", threads " + std::to_string(threads);
      ASSERT_EQ(b.right.size(), 129u) << where;
      EXPECT_EQ(a.right, b.right) << where;
      EXPECT_EQ(a.predicted, b.predicted) << where;
      EXPECT_EQ(a.overflows, b.overflows) << where;
      EXPECT_EQ(a.plan.tensor_exponents, b.plan.tensor_exponents) << where;
      EXPECT_GT(b.seconds, 0.0);
      for (size_t l = 0; l < a.layers.size(); ++l) {
        EXPECT_GT(b.layers[l].signal, 0.0) << where << " " << a.layers[l].name;
        EXPECT_EQ(a.layers[l].signal, b.layers[l].signal) << where << " " << a.layers[l].name;
        EXPECT_EQ(a.layers[l].noise, b.layers[l].noise) << where << " " << a.layers[l].name;
      }
    }
  }
}

TEST(Evaluate, RejectsAModelThatDoesNotFitTheData) {
  const Graph g = load_onnx(model_path("lenet5.onnx"));
  Dataset tiny;
  tiny.name = "tiny";
  tiny.rows = 8;
  tiny.cols = 8;
  EXPECT_THROW(evaluate(g, tiny, tiny, {}), ModelError);
}

}  // namespace
}  // namespace lbfp::eval

namespace lbfp::eval {
namespace {

// Each input value of Conv / Gemm node n at (image b, group grp, output pixel p, tap t, channel c
// of the group), or nullopt on the padding; a Gemm has one pixel and one tap.
template <class T>
std::optional<T> input_at(const Graph& g, const Node& n, const std::vector<T>& x, size_t b,
                          size_t grp, size_t p, size_t t, size_t c) {
  const ActShape& is = g.tensor_shapes[static_cast<size_t>(n.inputs[0])];
  if (n.kind == OpKind::kGemm) return x[b * is.elements() + c];
  const ActShape& os = g.tensor_shapes[static_cast<size_t>(n.output)];
  const size_t cg = is.c / n.groups;
  const long iy = static_cast<long>((p / os.w) * n.stride_h + t / n.kernel_w) -
                  static_cast<long>(n.pad_h);
  const long ix = static_cast<long>((p % os.w) * n.stride_w + t % n.kernel_w) -
                  static_cast<long>(n.pad_w);
  if (iy < 0 || ix < 0 || iy >= static_cast<long>(is.h) || ix >= static_cast<long>(is.w)) {
    return std::nullopt;
  }
  return x[((b * is.c + grp * cg + c) * is.h + static_cast<size_t>(iy)) * is.w +
           static_cast<size_t>(ix)];
}

// Every Conv / Gemm of LeNet-5 on two test images (MX: one) in a section 13 format, recomputed
// from its input in the run with the golden reference alone. FP8 / INT8: weight codes by encode_scaled
// with the max scales, each output lbfp::dot in (c, kh, kw) order from
// bias_to_accumulator_scaled, requantize_scaled (the logits: dequantize_accumulator). MX: each
// tap's channels quantized in blocks of 32 (mx_shared_exponent, encode), its weights likewise,
// each output mx_dot tap after tap from the FP32 bias, then ReLU.
void check_scaled_layers(Arithmetic nf) {
  const ScaledFormat f = scaled_format(nf);
  const Graph g = load_onnx(model_path("lenet5.onnx"));
  const Dataset& train = dataset("mnist", Split::kTrain);
  ActivationStats stats(g, false);
  stats.add(run_fp32(g, to_float_input(train, 0, 64), 64));
  const QuantPlan plan =
      make_plan(g, nf, CalibrationMethod::kMax, CalibrationMethod::kMax, stats);
  const Dataset& test = dataset("mnist", Split::kTest);
  const size_t batch = f.is_mx() ? 1 : 2;  // MX recomputes a scale per block and tap: one image
  const std::vector<uint8_t> pixels = pixel_batch(test, 0, batch);
  const QuantizedResult q = run_quantized(g, plan, pixels, batch);
  ASSERT_EQ(q.logits.size(), batch * 10);
  if (!f.is_mx()) {
    const float s = plan.tensor_scales[static_cast<size_t>(g.input)];
    EXPECT_EQ(s, tensor_scale(f, 1.0f));  // the largest pixel / 255
    for (size_t i = 0; i < pixels.size(); ++i) {
      ASSERT_EQ(q.codes[static_cast<size_t>(g.input)][i],
                encode_scaled(f, static_cast<float>(pixels[i]) / 255.0f, s));
    }
  }
  size_t checked = 0, nonzero = 0;
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    if (n.kind != OpKind::kConv && n.kind != OpKind::kGemm) continue;
    const bool last = n.output == g.output;
    const ActShape& is = g.tensor_shapes[static_cast<size_t>(n.inputs[0])];
    const ActShape& os = g.tensor_shapes[static_cast<size_t>(n.output)];
    const size_t cg = n.kind == OpKind::kConv ? is.c / n.groups : is.elements();
    const size_t taps = n.kind == OpKind::kConv ? n.kernel_h * n.kernel_w : 1;
    const size_t og = n.out_channels / n.groups, pixels_out = os.h * os.w;
    const size_t per = cg * taps;
    const float sa = f.is_mx() ? 0.0f : plan.tensor_scales[static_cast<size_t>(n.inputs[0])];
    float amax_all = 0.0f;
    for (float w : n.weights) amax_all = std::max(amax_all, std::fabs(w));
    for (size_t b = 0; b < batch; ++b) {
      for (size_t o = 0; o < n.out_channels; ++o) {
        const size_t grp = o / og;
        const float* wo = n.weights.data() + o * per;
        float sb = 0.0f;
        std::vector<Code> w(per);
        if (!f.is_mx()) {
          float amax = amax_all;
          if (f.element() == ElementKind::kInt8) {
            amax = 0.0f;
            for (size_t k = 0; k < per; ++k) amax = std::max(amax, std::fabs(wo[k]));
          }
          sb = tensor_scale(f, amax);
          for (size_t k = 0; k < per; ++k) w[k] = encode_scaled(f, wo[k], sb);
        }
        for (size_t p = 0; p < pixels_out; ++p) {
          const size_t at = (b * n.out_channels + o) * pixels_out + p;
          double want = 0.0;
          if (f.is_mx()) {
            const auto& x = q.values[static_cast<size_t>(n.inputs[0])];
            float sum = plan_bias(g, plan, ni)[o];
            for (size_t t = 0; t < taps; ++t) {
              if (!input_at(g, n, x, b, grp, p, t, 0)) continue;
              std::vector<float> xv(cg), wv(cg);
              for (size_t c = 0; c < cg; ++c) {
                xv[c] = static_cast<float>(*input_at(g, n, x, b, grp, p, t, c));
                wv[c] = wo[c * taps + t];
              }
              std::vector<Code> xc(cg), wc(cg);
              std::vector<int> xe, we;
              for (size_t first = 0; first < cg; first += 32) {
                const size_t len = std::min<size_t>(32, cg - first);
                xe.push_back(mx_shared_exponent(f, xv.data() + first, len));
                we.push_back(mx_shared_exponent(f, wv.data() + first, len));
                for (size_t c = first; c < first + len; ++c) {
                  xc[c] = encode(f, xv[c], xe.back());
                  wc[c] = encode(f, wv[c], we.back());
                }
              }
              sum = mx_dot(f, xc.data(), xe.data(), wc.data(), we.data(), cg, sum).value;
            }
            if (n.relu && sum < 0.0f) sum = 0.0f;
            want = sum;
            const double have = last ? q.logits[at] : q.values[static_cast<size_t>(n.output)][at];
            ASSERT_EQ(have, want) << n.name << " image " << b << " output " << o << " pixel " << p;
          } else {
            const auto& x = q.codes[static_cast<size_t>(n.inputs[0])];
            std::vector<Code> a(per, 0);
            for (size_t c = 0; c < cg; ++c) {
              for (size_t t = 0; t < taps; ++t) {
                a[c * taps + t] = input_at(g, n, x, b, grp, p, t, c).value_or(Code{0});
              }
            }
            const Int128 bias = bias_to_accumulator_scaled(f, plan_bias(g, plan, ni)[o], sa, sb);
            const WideDotResult r = dot(f, a, w, bias);
            if (last) {
              float v = dequantize_accumulator(r.acc, requant_multiplier(f, sa, sb, 1.0f));
              if (n.relu && v < 0.0f) v = 0.0f;
              want = v;
              ASSERT_EQ(q.logits[at], want) << n.name << " image " << b << " output " << o;
            } else {
              const float so = plan.tensor_scales[static_cast<size_t>(n.output)];
              const Code c = requantize_scaled(f, r.acc, requant_multiplier(f, sa, sb, so), n.relu);
              ASSERT_EQ(q.codes[static_cast<size_t>(n.output)][at], c)
                  << n.name << " image " << b << " output " << o << " pixel " << p;
              want = c;
            }
          }
          ++checked;
          nonzero += want != 0.0;
        }
      }
    }
  }
  EXPECT_EQ(checked, batch * (6 * 28 * 28 + 16 * 10 * 10 + 120 + 84 + 10));
  EXPECT_GT(nonzero, checked / 4);  // the check is not vacuous
}

TEST(ScaledInference, Mxint8LayersEqualGolden) { check_scaled_layers(Arithmetic::kMxint8); }
TEST(ScaledInference, Mxfp8E4m3LayersEqualGolden) { check_scaled_layers(Arithmetic::kMxfp8E4m3); }
TEST(ScaledInference, Mxfp8E5m2LayersEqualGolden) { check_scaled_layers(Arithmetic::kMxfp8E5m2); }
TEST(ScaledInference, Fp8E4m3LayersEqualGolden) { check_scaled_layers(Arithmetic::kFp8E4m3); }
TEST(ScaledInference, Fp8E5m2LayersEqualGolden) { check_scaled_layers(Arithmetic::kFp8E5m2); }
TEST(ScaledInference, Int8LayersEqualGolden) { check_scaled_layers(Arithmetic::kInt8); }

// Every (W, F) of the family (W 2..8, F 0..W-2) by both names, and the refusals naming the value.
TEST(LbfpFamily, NamesRoundTripAndRefusals) {
  for (int w = 2; w <= 8; ++w) {
    for (int f = 0; f <= w - 2; ++f) {
      const std::string name = "lbfp" + std::to_string(w) + "f" + std::to_string(f);
      const NamedFormat n = parse_named_format(name);
      EXPECT_EQ(n.format, Arithmetic::kLbfp8);
      EXPECT_EQ(n.lbfp, LbfpFormat(w, f, 8, 32)) << name;
      EXPECT_EQ(format_name(n.format, n.lbfp), w == 8 && f == 4 ? "lbfp8" : name);
      EXPECT_EQ(parse_named_format("lbfp" + std::to_string(w), f).lbfp, n.lbfp);
    }
    // lbfpW without --frac-bits: F = W / 2, as lbfp golden (lbfp2 then has none).
    if (w / 2 <= w - 2) {
      EXPECT_EQ(parse_named_format("lbfp" + std::to_string(w)).lbfp, LbfpFormat(w, w / 2, 8, 32));
    } else {
      EXPECT_THROW(parse_named_format("lbfp" + std::to_string(w)), std::invalid_argument);
    }
  }
  EXPECT_EQ(parse_named_format("lbfp8").lbfp, lbfp8());
  EXPECT_EQ(parse_named_format("bfp8").format, Arithmetic::kBfp8);
  EXPECT_EQ(format_name(Arithmetic::kBfp8, LbfpFormat(6, 3, 8, 32)), "bfp8");
  auto message = [](const std::string& name, std::optional<int> f = {}) {
    try {
      parse_named_format(name, f);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("lbfp6f5").find("F = 5 must be in 0..4 for W = 6"), std::string::npos);
  EXPECT_NE(message("lbfp6", 5).find("F = 5"), std::string::npos);
  EXPECT_NE(message("lbfp9").find("'lbfp9'"), std::string::npos);
  EXPECT_NE(message("lbfp1f0").find("W must be 2..8"), std::string::npos);
  EXPECT_NE(message("lbfp7f").find("'lbfp7f'"), std::string::npos);
  EXPECT_NE(message("lbfp7fx").find("'lbfp7fx'"), std::string::npos);
  EXPECT_NE(message("lbfp").find("'lbfp'"), std::string::npos);
  EXPECT_NE(message("lbfp7f3", 3).find("--frac-bits 3"), std::string::npos);
}

TEST(ScaledInference, NamesAndRefusals) {
  for (const char* name : {"mxint8", "mxfp8-e4m3", "mxfp8-e5m2", "fp8-e4m3", "fp8-e5m2", "int8"}) {
    const Arithmetic a = parse_arithmetic(name);
    EXPECT_TRUE(is_scaled(a));
    EXPECT_EQ(scaled_format(a).name(), name);
  }
  EXPECT_FALSE(is_scaled(Arithmetic::kLbfp8));
  EXPECT_THROW(parse_arithmetic("mxint9"), std::invalid_argument);
  const Graph g = load_onnx(model_path("lenet5.onnx"));
  ActivationStats stats(g, false);
  EXPECT_THROW(make_plan(g, Arithmetic::kInt8, CalibrationMethod::kKl, CalibrationMethod::kMax,
                         stats),
               std::invalid_argument);
  EXPECT_THROW(make_plan(g, Arithmetic::kFp8E4m3, CalibrationMethod::kMax,
                         CalibrationMethod::kKl, stats),
               std::invalid_argument);
}

}  // namespace
}  // namespace lbfp::eval
