// The workload readers (topologies, gemm:M,N,K) and the seeded layer data, good and bad.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <type_traits>
#include <vector>
#include <sstream>
#include <string>

#include "lbfp/calibration.h"
#include "lbfp/workload/workload.h"

namespace lbfp {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Topology, ReadsBothScaleSimForms) {
  const Workload w = parse_topology(
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides,\nconv1, 230, 230, 7, 7, 3, 64, 2,\n\nfc, 1, 1, 1, 1, 512, 1000, 1,\n",
      "t.csv");
  ASSERT_EQ(w.layers.size(), 2u);
  const LayerSpec& c = w.layers[0];
  EXPECT_TRUE(c.is_conv);
  EXPECT_EQ(c.out_h(), 112u);
  EXPECT_EQ(c.gemm_m(), 112u * 112u);
  EXPECT_EQ(c.gemm_n(), 64u);
  EXPECT_EQ(c.gemm_k(), 3u * 7u * 7u);
  EXPECT_EQ(c.macs(), 112u * 112u * 64u * 147u);
  const Workload g = parse_topology("Layer, M, N, K,\nqkv, 512, 2304, 768,\n", "g.csv");
  EXPECT_FALSE(g.layers[0].is_conv);
  EXPECT_EQ(g.layers[0].macs(), 512u * 2304u * 768u);
  const Workload d = parse_topology(
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides, Groups,\ndw, 114, 114, 3, 3, 32, 32, 1, 32,\n",
      "d.csv");
  EXPECT_EQ(d.layers[0].groups, 32u);
  EXPECT_EQ(d.layers[0].gemm_n(), 1u);
  EXPECT_EQ(d.layers[0].gemm_k(), 9u);
}

// SCALE-Sim's GEMM topology form (its `-i gemm`: "Layer, M, N, K," rows, topology_utils.py's
// load_arrays_gemm), as its repository ships it: header spellings, spaces, the trailing comma and
// a last row without a newline (tb/sim/scalesim/test_mnk_input.csv).
TEST(Topology, ReadsScaleSimGemmForm) {
  const Workload t = load_workload(LBFP_SOURCE_DIR "/tb/sim/scalesim/test_mnk_input.csv", read_file);
  ASSERT_EQ(t.layers.size(), 1u);
  EXPECT_EQ(t.layers[0].name, "Test 1");
  EXPECT_FALSE(t.layers[0].is_conv);
  EXPECT_EQ(t.layers[0].gemm_m(), 128u);
  EXPECT_EQ(t.layers[0].gemm_n(), 64u);
  EXPECT_EQ(t.layers[0].gemm_k(), 256u);
  EXPECT_EQ(t.layers[0].macs(), 128u * 64u * 256u);
  // topologies/GEMM_mnk/gpt2.csv's header and first rows; a row without the trailing comma too.
  const Workload g = parse_topology(
      "Layer,M,N,K,\nQKT,1024,1024,64,\nQKTV,1024,64,1024,\nLinear1,1024,4800,1600", "gpt2.csv");
  ASSERT_EQ(g.layers.size(), 3u);
  EXPECT_EQ(g.layers[1].name, "QKTV");
  EXPECT_EQ(g.layers[1].gemm_m(), 1024u);
  EXPECT_EQ(g.layers[1].gemm_n(), 64u);
  EXPECT_EQ(g.layers[1].gemm_k(), 1024u);
  EXPECT_EQ(g.layers[2].gemm_n(), 4800u);
  EXPECT_EQ(g.layers[2].group_count(), 1u);
  // Bad GEMM rows name the file, the line and the column.
  auto error_of = [](const std::string& text) {
    try {
      parse_topology(text, "g.csv");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of("Layer, M, N, K,\nfc, 4, 4,\n"), "g.csv:2: expected 4 columns, got 3");
  EXPECT_EQ(error_of("Layer, M, N, K,\nfc, 4, x, 4,\n"),
            "g.csv:2: N: expected a positive integer, got 'x'");
  EXPECT_EQ(error_of("Layer, M, N, K,\nfc, 4, 4, 0,\n"), "g.csv:2: K: must be positive, got 0");
}

TEST(Topology, ShippedWorkloadsMatchThePublishedMacCounts) {
  auto macs = [](const char* file) {
    uint64_t total = 0;
    for (const auto& l : load_workload(std::string(LBFP_SOURCE_DIR "/sim/workloads/") + file, read_file).layers) {
      total += l.macs();
    }
    return total;
  };
  // Published multiply-accumulates: ResNet-18 1.82 G, MobileNet-v1 569 M (Howard et al.,
  // Table 1: 569 million mult-adds), AlexNet 1.135 G as one tower (the two-tower original with
  // grouped conv2/4/5 has 0.72 G), LeNet-5 0.42 M (C1 117,600 + C3 240,000 + C5 48,000 + F6
  // 10,080 + output 840).
  EXPECT_NEAR(static_cast<double>(macs("resnet18.csv")), 1.814e9, 0.01e9);
  EXPECT_NEAR(static_cast<double>(macs("mobilenet_v1.csv")), 569e6, 6e6);
  EXPECT_NEAR(static_cast<double>(macs("alexnet.csv")), 1.135e9, 0.02e9);
  EXPECT_NEAR(static_cast<double>(macs("lenet5.csv")), 416520, 1);
}

TEST(Topology, BadFilesNameTheLineAndColumn) {
  const std::string header =
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides,\n";
  struct Case {
    std::string text, needle;
  };
  const Case cases[] = {
      {"", "empty"},
      {"hello, world\n", "t.csv:1: not a SCALE-Sim topology header"},
      {header, "has no layers"},
      {header + "c, 10, 10, 3, 3, 4\n", "t.csv:2: expected 8 columns, got 6"},
      {header + "c, 10, ten, 3, 3, 4, 8, 1,\n", "t.csv:2: IFMAP Width: expected a positive integer, got 'ten'"},
      {header + "c, 10, 10, 3, 3, 4, 8, 0,\n", "t.csv:2: Strides: must be positive"},
      {header + "c, 10, 10, 3, 3, -4, 8, 1,\n", "Channels: expected a positive integer, got '-4'"},
      {header + "c, 10, 10, 11, 3, 4, 8, 1,\n", "filter is larger than"},
      {header + "c, 10, 10, 3, 3, 4, 8, 1.5,\n", "Strides: expected a positive integer, got '1.5'"},
      {"Layer, M, N, K,\nbig, 1000000, 1000000, 1000000,\n", "refuses layers over 1 TiB"},
      {"Layer, M, N, K,\nhuge, 99999999999, 1, 1,\n", "larger than 2^31"},
  };
  for (const Case& c : cases) {
    try {
      parse_topology(c.text, "t.csv");
      ADD_FAILURE() << "accepted: " << c.text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(load_workload("gemm:1,2", read_file), ConfigError);
  EXPECT_THROW(load_workload("gemm:1,2,0", read_file), ConfigError);
  EXPECT_EQ(load_workload("gemm:3,4,5", read_file).layers[0].macs(), 60u);
}

TEST(LayerData, IsDeterministicAndSizedByTheShape) {
  const Workload w = parse_topology(
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides, Groups,\nc, 9, 9, 3, 3, 4, 6, 2, 2,\n",
      "t.csv");
  const auto a = make_layer_data(w.layers[0], lbfp8(), 7, 1 << 20);
  const auto b = make_layer_data(w.layers[0], lbfp8(), 7, 1 << 20);
  ASSERT_EQ(a.size(), 2u);  // one GEMM per group
  EXPECT_EQ(a[0].m, 16u);   // 4 x 4 outputs
  EXPECT_EQ(a[0].n, 3u);
  EXPECT_EQ(a[0].k, 2u * 9u);
  EXPECT_EQ(a[1].a, b[1].a);
  EXPECT_EQ(a[1].w, b[1].w);
  EXPECT_NE(make_layer_data(w.layers[0], lbfp8(), 8, 1 << 20)[0].w, a[0].w);
  EXPECT_THROW(make_layer_data(w.layers[0], lbfp8(), 7, 100), ConfigError);
}

// The weights' exponents, one per output channel: max_exponent of the row's largest |w|,
// written out plainly here (fabs and std::max in order) against the integer maximum of the
// sign-cleared bits; rows with zeros of both signs, an infinity, subnormals and exact powers of
// two. A NaN anywhere is refused, naming the element.
TEST(LayerData, WeightExponentsAreTheRowsLargestMagnitude) {
  const Workload w = parse_topology("Layer, M, N, K,\nfc, 3, 6, 37,\n", "t.csv");
  const LayerSpec& l = w.layers[0];
  LayerValues values = make_layer_values(l, 5, 1 << 20);
  std::vector<float>& wt = values.weights[0];
  ASSERT_EQ(wt.size(), 6u * 37u);
  for (size_t kk = 0; kk < 37; ++kk) {
    wt[0 * 37 + kk] = kk % 2 ? -0.0f : 0.0f;         // all zeros
    wt[2 * 37 + kk] = std::ldexp(1.0f, -140 + int(kk % 3));  // subnormals
  }
  wt[1 * 37 + 20] = -std::numeric_limits<float>::infinity();
  wt[3 * 37 + 36] = -4.0f;  // an exact power of two, negative, last in its row
  wt[4 * 37 + 0] = 3.0e38f;
  const arch::GemmLayer g = make_layer_data(l, values, lbfp8())[0];
  ASSERT_EQ(g.w_exponents.size(), 6u);
  for (size_t j = 0; j < 6; ++j) {
    float amax = 0.0f;
    for (size_t kk = 0; kk < 37; ++kk) amax = std::max(amax, std::fabs(wt[j * 37 + kk]));
    EXPECT_EQ(g.w_exponents[j], max_exponent(amax)) << "row " << j;
  }
  wt[5 * 37 + 7] = std::numeric_limits<float>::quiet_NaN();
  try {
    make_layer_data(l, values, lbfp8());
    ADD_FAILURE() << "a NaN weight was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
}

// The output exponent is max_exponent of the largest exact output (bias included) over every
// step-th row, step = max(1, M / 64), each output summed in k order in double: written out
// plainly here against the interleaved calibration loop.
template <class Format>
void expect_calibrated_output_exponent(const Format& format) {
  const Workload w = parse_topology(
      "Layer, M, N, K,\nfc, 200, 13, 37,\nwide, 5, 70, 300,\n", "t.csv");
  std::vector<LayerSpec> layers = w.layers;
  // The same shapes with a model's weights and biases (a bias of either sign, some larger than
  // the sums), as an ONNX model gives them: each output's bias is added after its sum.
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const LayerSpec& l : w.layers) {
    LayerSpec with_bias = l;
    with_bias.name += "+bias";
    with_bias.weights.resize(l.gemm_n() * l.gemm_k());
    for (float& v : with_bias.weights) v = 0.3f * normal(rng);
    with_bias.bias.resize(l.gemm_n());
    for (float& v : with_bias.bias) v = 4.0f * normal(rng);
    layers.push_back(with_bias);
  }
  for (const LayerSpec& l : layers) {
    for (uint64_t seed = 1; seed <= 40; ++seed) {
      const arch::GemmLayer g = make_layer_data(l, format, seed, 1 << 20)[0];
      auto value = [&](Code c, int e) {  // decode, memoised per exponent
        static std::map<int, std::vector<double>> tables;
        auto& t = tables[e];
        if (t.empty()) {
          for (int code = 0; code < 256; ++code) {
            const bool valid = code < format.code_count() &&
                               !(std::is_same_v<Format, BfpFormat> && code == 128);
            t.push_back(valid ? decode(format, static_cast<Code>(code), e) : 0.0);
          }
        }
        return t[c];
      };
      double amax = 0.0;
      for (uint64_t i = 0; i < g.m; i += std::max<uint64_t>(1, g.m / 64)) {
        for (uint64_t j = 0; j < g.n; ++j) {
          double s = 0.0;
          for (uint64_t kk = 0; kk < g.k; ++kk) {
            s += value(g.a[i * g.k + kk], g.a_exponent) *
                 value(g.w[j * g.k + kk], g.w_exponents[j]);
          }
          if (!l.bias.empty()) s += l.bias[j];
          amax = std::max(amax, s);
        }
      }
      EXPECT_EQ(g.out_exponent, max_exponent(amax)) << l.name << " seed " << seed;
    }
  }
}

// Values drawn into the memory of an earlier layer's (larger, smaller, grouped, padded, with
// the model's weights) are the values drawn afresh, every element.
TEST(LayerData, ValuesDrawnIntoGivenBackMemoryAreTheFreshOnes) {
  Workload w = parse_topology(
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides,\nbig, 12, 12, 3, 3, 8, 16, 1,\nsmall, 5, 5, 1, 1, 3, 2, 1,\n",
      "t.csv");
  LayerSpec grouped = w.layers[0];
  grouped.name = "grouped";
  grouped.groups = 4;
  grouped.pad_h = grouped.pad_w = 1;
  LayerSpec fc = parse_topology("Layer, M, N, K,\nfc, 7, 9, 33,\n", "t.csv").layers[0];
  LayerSpec own = fc;
  own.name = "own";
  own.weights.assign(fc.gemm_n() * fc.gemm_k(), 0.5f);
  const std::vector<LayerSpec> order = {w.layers[0], w.layers[1], grouped, fc, own, w.layers[0],
                                        grouped, w.layers[1]};
  LayerValues spare;
  for (size_t i = 0; i < order.size(); ++i) {
    const LayerValues want = make_layer_values(order[i], 100 + i, 1 << 20);
    LayerValues got = make_layer_values(order[i], 100 + i, 1 << 20, std::move(spare));
    EXPECT_EQ(got.input, want.input) << order[i].name;
    EXPECT_EQ(got.weights, want.weights) << order[i].name;
    spare = std::move(got);
  }
}

// Buffers reserved for the largest layer: every layer's values drawn into them are the fresh
// ones, and no layer moves them (their data stays where it was reserved). A layer the check
// refuses (here one whose input alone exceeds the memory) does not size them.
TEST(LayerData, ReservedValuesHoldTheLargestLayerWithoutMoving) {
  Workload w = parse_topology(
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides,\nsmall, 5, 5, 1, 1, 3, 2, 1,\nbig, 12, 12, 3, 3, 8, 16, 1,\n"
      "huge, 2000, 2000, 1, 1, 1, 1, 1,\n",
      "t.csv");
  const uint64_t memory = 1 << 20;
  EXPECT_THROW(check_layer_values(w.layers[2], memory), ConfigError);
  LayerValues spare = reserved_layer_values(w.layers, memory);
  ASSERT_EQ(spare.weights.size(), 1u);
  EXPECT_EQ(spare.input.capacity(), 12u * 12 * 8);              // the big layer's input
  EXPECT_EQ(spare.weights[0].capacity(), 12u * 12 * 8 + 16 * 72);  // its input and weights
  const float* input = spare.input.data();
  const float* draws = spare.weights[0].data();
  for (size_t i = 0; i < 4; ++i) {
    const LayerSpec& l = w.layers[i % 2];  // small, big, small, big
    const LayerValues want = make_layer_values(l, 200 + i, memory);
    LayerValues got = make_layer_values(l, 200 + i, memory, std::move(spare));
    EXPECT_EQ(got.input, want.input) << l.name;
    EXPECT_EQ(got.weights, want.weights) << l.name;
    EXPECT_EQ(got.input.data(), input) << l.name;
    EXPECT_EQ(got.weights[0].data(), draws) << l.name;
    spare = std::move(got);
  }
}

// The definition's u and theta, and the octant's signs and swap, then the exact radius,
// cosine and sine of them in long double (the C library's logl, cosl, sinl).
void exact_normal_pair(uint64_t draw, long double* x, long double* y) {
  const uint32_t hi = static_cast<uint32_t>(draw >> 32), lo = static_cast<uint32_t>(draw);
  const float u = static_cast<float>(hi) * 0x1p-32f + 0x1p-33f;
  const float theta = static_cast<float>(lo & 0xffffffu) * 0x1p-24f * 0x1.921fb6p-1f;
  const long double r = std::sqrt(-2.0L * std::log(static_cast<long double>(u)));
  long double c = std::cos(static_cast<long double>(theta));
  long double s = std::sin(static_cast<long double>(theta));
  if (lo & (1u << 29)) std::swap(c, s);
  if (lo & (1u << 30)) c = -c;
  if (lo & (1u << 31)) s = -s;
  *x = r * c;
  *y = r * s;
}

TEST(LayerData, StandardNormalPairIsTheExactPairToAFewUlps) {
  // Every octant at the ends of both fields (u = 2^-33, 1 and the float steps near them; theta
  // = 0 and just below pi / 4), then a million random draws.
  std::vector<uint64_t> draws;
  for (uint64_t hi : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{0x7fffffff},
                      uint64_t{0x80000000}, uint64_t{0xb504f333}, uint64_t{0xffffff00},
                      uint64_t{0xffffff7f}, uint64_t{0xffffff80}, uint64_t{0xffffffff}}) {
    for (uint64_t octant = 0; octant < 8; ++octant) {
      for (uint64_t angle : {uint64_t{0}, uint64_t{1}, uint64_t{0x800000}, uint64_t{0xffffff}}) {
        draws.push_back(hi << 32 | octant << 29 | angle);
      }
    }
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1 << 20; ++i) draws.push_back(rng());
  double worst = 0.0;
  for (uint64_t d : draws) {
    float got[2];
    standard_normal_pair(d, got);
    long double want[2];
    exact_normal_pair(d, &want[0], &want[1]);
    const long double r = std::hypot(want[0], want[1]);
    for (int v = 0; v < 2; ++v) {
      ASSERT_TRUE(std::isfinite(got[v])) << std::hex << d;
      const long double error = std::fabs(static_cast<long double>(got[v]) - want[v]);
      if (r == 0.0L) {
        ASSERT_EQ(got[v], 0.0f) << std::hex << d;
        continue;
      }
      // Errors in units of r 2^-24 (a float's spacing at r, give or take a factor of 2).
      const double units = static_cast<double>(error / (r * 0x1p-24L));
      worst = std::max(worst, units);
      ASSERT_LE(units, 6.0) << std::hex << "draw 0x" << d << std::dec << " value " << v
                             << ": " << got[v] << " against " << static_cast<double>(want[v]);
    }
  }
  RecordProperty("worst_error_in_r_2^-24", std::to_string(worst));
  std::printf("standard_normal_pair: worst error %.2f x r 2^-24 over %zu draws\n", worst,
              draws.size());
}

bool cpu_has_avx512f() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512f") != 0;
#else
  return false;
#endif
}

TEST(LayerData, StandardNormalsArePairsOfSuccessiveDraws) {
  // Odd and even counts (the last pair's y left out), none, the 16-pair steps and the blocks
  // of 512 draws, both engines; on an AVX-512 CPU the vector path against the scalar pair.
  for (uint64_t seed : {uint64_t{1}, uint64_t{42}, uint64_t{1000003}}) {
    for (size_t count : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{31}, size_t{32},
                         size_t{33}, size_t{63}, size_t{1023}, size_t{1024}, size_t{1025},
                         size_t{2049}, size_t{200001}}) {
      std::mt19937_64 reference(seed);
      std::mt19937_64 rng(seed);
      const std::vector<float> got = standard_normals(rng, count);
      ASSERT_EQ(got.size(), count);
      for (size_t i = 0; i < count; i += 2) {
        float want[2];
        standard_normal_pair(reference(), want);
        for (size_t v = 0; v < 2 && i + v < count; ++v) {
          ASSERT_EQ(std::memcmp(&got[i + v], &want[v], sizeof(float)), 0)
              << "seed " << seed << " count " << count << " value " << i + v << ": "
              << got[i + v] << " != " << want[v];
        }
      }
      ASSERT_EQ(rng(), reference()) << "one draw per pair, none more";
    }
  }
  if (!cpu_has_avx512f()) {
    GTEST_SKIP() << "NOT RUN: the AVX-512 path of standard_normals (this CPU lacks AVX-512F; "
                    "only the portable path was checked)";
  }
}

// The Kolmogorov-Smirnov distance of sorted values from a distribution function.
template <class Cdf>
double ks_distance(std::vector<double> values, Cdf cdf) {
  std::sort(values.begin(), values.end());
  const double n = static_cast<double>(values.size());
  double d = 0.0;
  for (size_t i = 0; i < values.size(); ++i) {
    const double f = cdf(values[i]);
    d = std::max({d, f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f});
  }
  return d;
}

TEST(LayerData, StandardNormalsAreStandardNormal) {
  // 2^20 values of three seeds: the x and the y values each against the standard normal
  // distribution (Kolmogorov-Smirnov at the 0.1 % level: 1.95 / sqrt(n)), the angles
  // atan2(y, x) against the uniform one, mean, variance, the x-y correlation, and the tails.
  constexpr size_t kPairs = size_t{1} << 19;
  for (uint64_t seed : {uint64_t{1}, uint64_t{2}, uint64_t{3}}) {
    Mt64 rng(seed);
    const std::vector<float> v = standard_normals(rng, 2 * kPairs);
    std::vector<double> xs, ys, angles;
    double sum = 0.0, squares = 0.0, products = 0.0;
    size_t beyond3 = 0;
    for (size_t i = 0; i < kPairs; ++i) {
      const double x = v[2 * i], y = v[2 * i + 1];
      xs.push_back(x);
      ys.push_back(y);
      angles.push_back(std::atan2(y, x));
      sum += x + y;
      squares += x * x + y * y;
      products += x * y;
      beyond3 += (std::fabs(x) > 3.0) + (std::fabs(y) > 3.0);
    }
    const double n = 2.0 * kPairs;
    auto normal_cdf = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
    const double pi = std::acos(-1.0);
    const double limit = 1.95 / std::sqrt(static_cast<double>(kPairs));
    EXPECT_LT(ks_distance(xs, normal_cdf), limit) << "seed " << seed;
    EXPECT_LT(ks_distance(ys, normal_cdf), limit) << "seed " << seed;
    EXPECT_LT(ks_distance(angles, [&](double a) { return (a + pi) / (2 * pi); }), limit)
        << "seed " << seed;
    EXPECT_LT(std::fabs(sum / n), 4.0 / std::sqrt(n)) << "seed " << seed;
    EXPECT_LT(std::fabs(squares / n - 1.0), 4.0 * std::sqrt(2.0 / n)) << "seed " << seed;
    EXPECT_LT(std::fabs(products / kPairs), 4.0 / std::sqrt(static_cast<double>(kPairs)))
        << "seed " << seed;
    // P(|z| > 3) = 0.0026998; the count's standard deviation is about 52.
    EXPECT_NEAR(static_cast<double>(beyond3), 0.0026998 * n, 4 * 52.0) << "seed " << seed;
  }
}

TEST(LayerData, Mt64DrawsAreTheStandardEnginesDraws) {
  // Across several refills of the 312-word state, from seeds with high and low bits set.
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{5489}, uint64_t{1000003 * 7 + 3},
                        ~uint64_t{0}, uint64_t{1} << 63}) {
    std::mt19937_64 reference(seed);
    Mt64 rng(seed);
    for (size_t i = 0; i < 5 * Mt64::kStateWords + 7; ++i) {
      ASSERT_EQ(rng(), reference()) << "seed " << seed << " draw " << i;
    }
    // generate(): runs of draws across the refills, after single draws and between them.
    for (size_t n : {size_t{1}, size_t{311}, size_t{0}, size_t{313}, size_t{1000}, size_t{2}}) {
      std::vector<uint64_t> block(n + 1, 0);
      rng.generate(block.data(), n);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(block[i], reference()) << "seed " << seed << " run of " << n << " draw " << i;
      }
      ASSERT_EQ(block[n], 0u) << "nothing past the run";
      ASSERT_EQ(rng(), reference()) << "seed " << seed << " after a run of " << n;
    }
  }
}

TEST(LayerData, StandardNormalsFromMt64AreTheStandardEnginesOnes) {
  for (uint64_t seed : {uint64_t{3}, uint64_t{1000003}}) {
    for (size_t count : {size_t{1}, size_t{2}, size_t{999}, size_t{20001}}) {
      std::mt19937_64 reference(seed);
      Mt64 rng(seed);
      const std::vector<float> want = standard_normals(reference, count);
      const std::vector<float> got = standard_normals(rng, count);
      ASSERT_EQ(std::memcmp(got.data(), want.data(), count * sizeof(float)), 0)
          << "seed " << seed << " count " << count;
      EXPECT_EQ(rng(), reference()) << "the generators are left at the same draw";
    }
  }
}

TEST(LayerData, ShapesAreTheLayerDatasWithoutCodes) {
  // Groups, a stride and both lowerings; the shape must pass validate_shape() and match every
  // field make_layer_data sets but the codes and exponents.
  const Workload w = parse_topology(
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides, Groups,\nc, 9, 9, 3, 3, 4, 6, 2, 2,\nd, 6, 7, 1, 3, 3, 5, 1, 1,\n",
      "t.csv");
  const Workload g = parse_topology("Layer, M, N, K,\nfc, 20, 13, 37,\n", "g.csv");
  std::vector<LayerSpec> layers = w.layers;
  layers.push_back(g.layers[0]);
  for (const LayerSpec& l : layers) {
    for (Im2col lowering : {Im2col::kChip, Im2col::kHost}) {
      const auto data = make_layer_data(l, lbfp8(), 5, 1 << 20, lowering);
      const auto shapes = make_layer_shapes(l, lowering);
      ASSERT_EQ(shapes.size(), data.size());
      for (size_t i = 0; i < data.size(); ++i) {
        SCOPED_TRACE(l.name + " group " + std::to_string(i));
        shapes[i].validate_shape();
        EXPECT_TRUE(shapes[i].a.empty());
        EXPECT_EQ(shapes[i].a_codes(), data[i].a.size());
        EXPECT_NO_THROW(arch::check_same_shape(data[i], shapes[i]));
        EXPECT_EQ(shapes[i].relu, data[i].relu);
        EXPECT_EQ(shapes[i].bias, data[i].bias);
      }
    }
  }
}

TEST(LayerData, ChipAndHostLoweringsCalibrateTheSameExponents) {
  // On chip only the sampled rows of the im2col operand are formed for the calibration; they
  // must give what the whole operand gives (host lowering), and the same weights.
  const Workload w = parse_topology(
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides, Groups,\nc, 21, 19, 3, 3, 4, 6, 2, 2,\nd, 30, 30, 5, 5, 3, 8, 1, 1,\n",
      "t.csv");
  for (const LayerSpec& l : w.layers) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
      const auto chip = make_layer_data(l, bfp8(), seed, 1 << 20, Im2col::kChip);
      const auto host = make_layer_data(l, bfp8(), seed, 1 << 20, Im2col::kHost);
      ASSERT_EQ(chip.size(), host.size());
      for (size_t i = 0; i < chip.size(); ++i) {
        EXPECT_EQ(chip[i].out_exponent, host[i].out_exponent) << l.name << " seed " << seed;
        EXPECT_EQ(chip[i].a_exponent, host[i].a_exponent);
        EXPECT_EQ(chip[i].w, host[i].w);
        EXPECT_EQ(chip[i].w_exponents, host[i].w_exponents);
      }
    }
  }
}

TEST(LayerData, OutputExponentIsTheLargestSampledOutput) {
  expect_calibrated_output_exponent(lbfp8());
  expect_calibrated_output_exponent(bfp8());
}

// Outputs whose float sums misorder them: output 0 is 2^14 products of +1, one of 2^-12 and
// 2^14 of -1 (in double exactly 2^-12; in float the small product is lost against the partial
// sum of 2^14, so its float sum is 0), output 1 a single product near 2^-12.94 (the same in
// float and double), the other 62 outputs clearly negative. The largest double output is
// output 0's (exponent -11); output 1's alone would give -12. Every output's double sum is
// written out plainly here. A second layer of 64 equal outputs (none can be ruled out).
TEST(LayerData, OutputExponentSurvivesOutputsThatFloatSumsMisorder) {
  constexpr uint64_t kHalf = 1 << 14, kK = 2 * kHalf + 1, kN = 64;
  LayerSpec l =
      parse_topology("Layer, M, N, K,\nfc, 1, 64, " + std::to_string(kK) + ",\n", "t.csv")
          .layers[0];
  LayerValues values;
  values.input.assign(kK, 1.0f);
  values.input[kHalf] = std::ldexp(1.0f, -6);  // a code value: 2^(1 - 8 + 16/16)
  l.weights.assign(kN * kK, -1.0f);
  for (uint64_t kk = 0; kk < kK; ++kk) {
    l.weights[kk] = kk < kHalf ? 1.0f : -1.0f;
    l.weights[kK + kk] = 0.0f;
  }
  l.weights[kHalf] = std::ldexp(1.0f, -6);
  l.weights[kK + kHalf] = std::exp2(-6.9375f);  // output 1: one product near 2^-12.94
  LayerSpec equal = l;
  equal.name = "equal";
  for (uint64_t j = 0; j < kN; ++j) {
    std::copy(l.weights.begin(), l.weights.begin() + kK, equal.weights.begin() + j * kK);
  }
  for (const LayerSpec& spec : {l, equal}) {
    const arch::GemmLayer g = make_layer_data(spec, values, lbfp8())[0];
    ASSERT_EQ(g.m, 1u);
    std::vector<double> outputs;
    for (uint64_t j = 0; j < kN; ++j) {
      double sum = 0.0;
      for (uint64_t kk = 0; kk < kK; ++kk) {
        sum += decode(lbfp8(), g.a[kk], g.a_exponent) *
               decode(lbfp8(), g.w[j * kK + kk], g.w_exponents[j]);
      }
      outputs.push_back(sum);
    }
    const double amax = std::max(0.0, *std::max_element(outputs.begin(), outputs.end()));
    EXPECT_EQ(amax, 0x1p-12) << spec.name;
    if (spec.name == "fc") {
      ASSERT_GT(outputs[1], 0.0);
      ASSERT_NE(max_exponent(outputs[1]), max_exponent(amax)) << "the case decides nothing";
    }
    EXPECT_EQ(g.out_exponent, max_exponent(amax)) << spec.name;
  }
}

TEST(LayerData, LowersAConvolutionThroughIm2col) {
  // 1 channel, 4x4 IFMAP, 3x3 filter, stride 1: row (y, x) of A is the 3x3 window at (y, x).
  const Workload w = parse_topology(
      "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
      "Strides,\nc, 4, 4, 3, 3, 1, 2, 1,\n",
      "t.csv");
  const LayerSpec& l = w.layers[0];
  const auto groups = make_layer_data(l, lbfp8(), 3, 1 << 20, Im2col::kHost);
  ASSERT_EQ(groups.size(), 1u);
  const arch::GemmLayer& g = groups[0];
  ASSERT_FALSE(g.conv.has_value());
  ASSERT_EQ(g.m, 4u);
  ASSERT_EQ(g.k, 9u);
  // Output pixel (1, 0) sees the IFMAP one row below (0, 0): tap (ky - 1, kx) is (0, 0)'s (ky, kx).
  for (size_t ky = 1; ky < 3; ++ky) {
    for (size_t kx = 0; kx < 3; ++kx) {
      EXPECT_EQ(g.a[0 * 9 + ky * 3 + kx], g.a[2 * 9 + (ky - 1) * 3 + kx]);
    }
  }
  EXPECT_EQ(g.a[1 * 9 + 0], g.a[0 * 9 + 1]);  // (0, 1)'s first tap is (0, 0)'s second

  // On chip: the accelerator gets the feature map (NHWC) and the geometry instead, with the
  // same weights and exponents; the host's rows are its windows.
  const auto chip = make_layer_data(l, lbfp8(), 3, 1 << 20, Im2col::kChip);
  ASSERT_EQ(chip.size(), 1u);
  const arch::GemmLayer& c = chip[0];
  ASSERT_TRUE(c.conv.has_value());
  EXPECT_EQ(c.a.size(), 16u);
  EXPECT_EQ(c.m, 4u);
  EXPECT_EQ(c.k, 9u);
  EXPECT_EQ(c.w, g.w);
  EXPECT_EQ(c.out_exponent, g.out_exponent);
  for (size_t y = 0; y < 2; ++y) {
    for (size_t x = 0; x < 2; ++x) {
      for (size_t ky = 0; ky < 3; ++ky) {
        for (size_t kx = 0; kx < 3; ++kx) {
          EXPECT_EQ(g.a[(y * 2 + x) * 9 + ky * 3 + kx], c.a[(y + ky) * 4 + (x + kx)]);
        }
      }
    }
  }
  EXPECT_THROW(parse_im2col("gpu"), ConfigError);
}

}  // namespace
}  // namespace lbfp
