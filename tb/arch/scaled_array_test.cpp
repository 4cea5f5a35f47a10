// The formats of spec section 13 (MXINT8, MXFP8, FP8, INT8) through the SystemC accelerator:
// every output equals the golden reference's (lbfp::dot + requantize_scaled, lbfp::mx_dot) bit
// for bit, in the tile and the cycle mode, output- and weight-stationary, with K split into
// chunks or folds (partial sums through the store); the scale bytes in the DRAM traffic and the
// buffers, counted by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <systemc>

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/scaled_format.h"

namespace lbfp::arch {
namespace {

ScaledFormat mx(ElementKind e) { return ScaledFormat(e, ScaleKind::kMxBlock); }
ScaledFormat tensor(ElementKind e) { return ScaledFormat(e, ScaleKind::kTensor); }

// A random code that is a value of the format (no FP8 NaN or infinity).
Code random_code(const ScaledFormat& f, std::mt19937& rng) {
  for (;;) {
    const auto c = static_cast<Code>(rng() & 0xff);
    try {
      check_code(f, c);
      return c;
    } catch (const std::out_of_range&) {
    }
  }
}

AcceleratorConfig system(const ScaledFormat& f, SimMode mode,
                         Dataflow d = Dataflow::kOutputStationary) {
  AcceleratorConfig c;
  c.array = {4, 4, 1, d};
  c.scaled = f;
  c.mode = mode;
  c.dram.size_bytes = 1 << 20;
  c.dram.latency_cycles = 20;
  c.dram.bytes_per_cycle = 8;
  return c;
}

// A GEMM layer of FP8 / INT8 codes with per-column multipliers and bias accumulators.
GemmLayer tensor_layer(const ScaledFormat& f, uint64_t m, uint64_t n, uint64_t k, unsigned seed) {
  std::mt19937 rng(seed);
  GemmLayer l;
  l.name = "t";
  l.m = m;
  l.n = n;
  l.k = k;
  for (uint64_t i = 0; i < m * k; ++i) l.a.push_back(random_code(f, rng));
  for (uint64_t i = 0; i < n * k; ++i) l.w.push_back(random_code(f, rng));
  l.w_exponents.assign(n, 0);
  l.relu = true;
  auto s = std::make_shared<ScaledLayer>();
  s->channels = k;
  for (uint64_t j = 0; j < n; ++j) {
    s->multipliers.push_back(requant_multiplier(f, 0.02f, 0.001f * static_cast<float>(j + 1),
                                                f.is_float() ? 40.0f : 0.05f));
    s->bias_acc.push_back(static_cast<Int128>(static_cast<int>(rng() % 2001) - 1000) * 256);
  }
  l.scaled = s;
  return l;
}

std::vector<Code> tensor_expected(const ScaledFormat& f, const GemmLayer& l) {
  std::vector<Code> out;
  for (uint64_t i = 0; i < l.m; ++i) {
    for (uint64_t j = 0; j < l.n; ++j) {
      const WideDotResult d =
          dot(f, l.a.data() + i * l.k, l.w.data() + j * l.k, l.k, l.scaled->bias_acc[j]);
      out.push_back(requantize_scaled(f, d.acc, l.scaled->multipliers[j], l.relu));
    }
  }
  return out;
}

// Distinct values among the outputs: a test whose outputs were all alike (all zero, all
// saturated) would prove little.
size_t distinct(std::vector<Code> v, size_t bytes) {
  std::vector<std::vector<Code>> values;
  for (size_t i = 0; i + bytes <= v.size(); i += bytes) {
    values.emplace_back(v.begin() + static_cast<std::ptrdiff_t>(i),
                        v.begin() + static_cast<std::ptrdiff_t>(i + bytes));
  }
  std::sort(values.begin(), values.end());
  return static_cast<size_t>(std::unique(values.begin(), values.end()) - values.begin());
}

// FP32 sums as the accelerator writes them: 4 bytes each, little-endian.
std::vector<Code> float_bytes(const std::vector<float>& v) {
  std::vector<Code> out;
  for (float x : v) {
    uint32_t bits = 0;
    std::memcpy(&bits, &x, 4);
    for (int b = 0; b < 4; ++b) out.push_back(static_cast<Code>(bits >> (8 * b)));
  }
  return out;
}

// An MX GEMM layer (taps 1): K in blocks of 32, random block exponents, an FP32 bias.
GemmLayer mx_gemm_layer(const ScaledFormat& f, uint64_t m, uint64_t n, uint64_t k, unsigned seed) {
  std::mt19937 rng(seed);
  GemmLayer l;
  l.name = "mx";
  l.m = m;
  l.n = n;
  l.k = k;
  for (uint64_t i = 0; i < m * k; ++i) l.a.push_back(random_code(f, rng));
  for (uint64_t i = 0; i < n * k; ++i) l.w.push_back(random_code(f, rng));
  l.w_exponents.assign(n, 0);
  for (uint64_t j = 0; j < n; ++j) l.bias.push_back(static_cast<float>(j) * 0.75f - 2.0f);
  l.relu = false;  // negative sums stay: the FP32 values whole
  auto s = std::make_shared<ScaledLayer>();
  s->channels = k;
  s->blocks = (k + 31) / 32;
  for (uint64_t i = 0; i < m * s->blocks; ++i) s->a_exps.push_back(static_cast<int>(rng() % 9) - 6);
  for (uint64_t i = 0; i < n * s->blocks; ++i) s->w_exps.push_back(static_cast<int>(rng() % 9) - 8);
  l.scaled = s;
  return l;
}

std::vector<Code> mx_gemm_expected(const ScaledFormat& f, const GemmLayer& l) {
  std::vector<float> out;
  const ScaledLayer& s = *l.scaled;
  for (uint64_t i = 0; i < l.m; ++i) {
    for (uint64_t j = 0; j < l.n; ++j) {
      float v = mx_dot(f, l.a.data() + i * l.k, s.a_exps.data() + i * s.blocks,
                       l.w.data() + j * l.k, s.w_exps.data() + j * s.blocks, l.k, l.bias[j])
                    .value;
      if (l.relu && v < 0.0f) v = 0.0f;
      out.push_back(v);
    }
  }
  return float_bytes(out);
}

TEST(ScaledArray, TensorScaledLayersEqualTheGoldenDotAndRequantization) {
  // FP8 E4M3 / E5M2 and INT8, a 4 x 4 array: output-stationary tiles in both modes, with K in
  // chunks (a small activation buffer: partial sums through the store), and weight-stationary
  // folds of 4.
  struct Run {
    std::unique_ptr<AcceleratorTop> top;
    GemmLayer layer;
    ScaledFormat format;
  };
  std::vector<Run> runs;
  unsigned seed = 1;
  for (ElementKind e : {ElementKind::kE4M3, ElementKind::kE5M2, ElementKind::kInt8}) {
    const ScaledFormat f = tensor(e);
    for (int variant = 0; variant < 4; ++variant) {
      AcceleratorConfig c = system(f, variant == 1 ? SimMode::kCycle : SimMode::kTile,
                                   variant == 3 ? Dataflow::kWeightStationary
                                                : Dataflow::kOutputStationary);
      if (variant == 2) c.buffers.activation_bytes = 1000;  // 4 rows x 300 do not fit
      const std::string name = "t" + std::to_string(runs.size());
      runs.push_back({std::make_unique<AcceleratorTop>(name.c_str(), c),
                      tensor_layer(f, 10, 7, variant == 2 ? 300 : 45, seed++), f});
      runs.back().top->add_layer(runs.back().layer);
    }
  }
  sc_core::sc_start();
  for (size_t r = 0; r < runs.size(); ++r) {
    SCOPED_TRACE(runs[r].format.name() + " run " + std::to_string(r));
    ASSERT_TRUE(runs[r].top->finished()) << runs[r].top->error();
    const std::vector<Code> expected = tensor_expected(runs[r].format, runs[r].layer);
    EXPECT_GT(distinct(expected, 1), 10u);
    EXPECT_EQ(runs[r].top->output(0), expected);
    if (r % 4 == 2) {
      EXPECT_GT(runs[r].top->stats().at(0).k_chunks, 1u);  // resumed sums
    }
  }
}

TEST(ScaledArray, E5M2SumsBeyond64BitsSurviveThePartialSumStore) {
  // 24 products of the largest E5M2 magnitude (57344^2 in units of 2^-32: about 2^63.6 each):
  // sums near 2^68, within the 70-bit accumulator, beyond int64; weight-stationary folds of 4
  // store them as 9-byte partial sums between folds.
  const ScaledFormat f = tensor(ElementKind::kE5M2);
  GemmLayer l = tensor_layer(f, 5, 6, 24, 7);
  for (size_t i = 0; i < l.a.size(); ++i) l.a[i] = i % 5 == 0 ? 0xfb : 0x7b;  // -+57344
  for (size_t i = 0; i < l.w.size(); ++i) l.w[i] = i % 7 == 0 ? 0x7a : 0x7b;
  auto s = std::make_shared<ScaledLayer>(*l.scaled);
  for (size_t j = 0; j < s->multipliers.size(); ++j) {
    s->multipliers[j] = std::ldexp(1.0, -60 - static_cast<int>(j));  // outputs 2^8 .. 2^3
  }
  l.scaled = s;
  l.relu = false;
  AcceleratorTop os("os", system(f, SimMode::kTile));
  AcceleratorTop ws("ws", system(f, SimMode::kCycle, Dataflow::kWeightStationary));
  os.add_layer(l);
  ws.add_layer(l);
  sc_core::sc_start();
  const std::vector<Code> expected = tensor_expected(f, l);
  bool beyond = false;
  for (uint64_t i = 0; i < l.m; ++i) {
    const Int128 acc = dot(f, l.a.data() + i * l.k, l.w.data(), l.k, s->bias_acc[0]).acc;
    beyond = beyond || acc > (Int128{1} << 63) || acc < -(Int128{1} << 63);
  }
  EXPECT_TRUE(beyond) << "the test's sums fit 64 bits";
  EXPECT_GT(distinct(expected, 1), 3u);
  for (AcceleratorTop* top : {&os, &ws}) {
    SCOPED_TRACE(top->name());
    ASSERT_TRUE(top->finished()) << top->error();
    EXPECT_EQ(top->output(0), expected);
    EXPECT_EQ(top->stats().at(0).outputs_saturated, 0u);
  }
}

TEST(ScaledArray, SaturatingSumsAreCountedAsTheGoldenDotCountsThem) {
  // INT8 with an 18-bit accumulator: sums of 45 products saturate; the outputs, the saturated
  // outputs and the saturating steps are lbfp::dot's, with K whole, in chunks and in folds.
  const ScaledFormat f(ElementKind::kInt8, ScaleKind::kTensor, 18);
  GemmLayer l = tensor_layer(f, 10, 7, 300, 21);
  auto s = std::make_shared<ScaledLayer>(*l.scaled);
  for (Int128& b : s->bias_acc) b = 0;
  l.scaled = s;
  AcceleratorConfig chunked = system(f, SimMode::kTile);
  chunked.buffers.activation_bytes = 1000;
  AcceleratorTop os("os", system(f, SimMode::kTile));
  AcceleratorTop split("split", chunked);
  AcceleratorTop ws("ws", system(f, SimMode::kTile, Dataflow::kWeightStationary));
  for (AcceleratorTop* top : {&os, &split, &ws}) top->add_layer(l);
  sc_core::sc_start();
  uint64_t saturated = 0, steps = 0;
  for (uint64_t i = 0; i < l.m; ++i) {
    for (uint64_t j = 0; j < l.n; ++j) {
      const WideDotResult d = dot(f, l.a.data() + i * l.k, l.w.data() + j * l.k, l.k, 0);
      saturated += d.overflows > 0 ? 1 : 0;
      steps += d.overflows;
    }
  }
  EXPECT_GT(saturated, 5u);
  for (AcceleratorTop* top : {&os, &split, &ws}) {
    SCOPED_TRACE(top->name());
    ASSERT_TRUE(top->finished()) << top->error();
    EXPECT_EQ(top->output(0), tensor_expected(f, l));
    EXPECT_EQ(top->stats().at(0).outputs_saturated, saturated);
    // Whole K: every step counted; split K: the chunks' steps from their own starts.
    if (top == &os) {
      EXPECT_EQ(top->stats().at(0).overflow_steps, steps);
    }
  }
  EXPECT_GT(split.stats().at(0).k_chunks, 1u);
}

TEST(ScaledArray, MxGemmLayersEqualTheGoldenMxDotAcrossBlocks) {
  // K = 100: blocks of 32, 32, 32 and 4, each rounded once to FP32 and summed in FP32 from the
  // bias (spec 13.7); with a small activation buffer K is split into chunks of whole blocks
  // (the FP32 partial sums through the store).
  struct Run {
    std::unique_ptr<AcceleratorTop> top;
    GemmLayer layer;
    ScaledFormat format;
  };
  std::vector<Run> runs;
  unsigned seed = 11;
  for (ElementKind e : {ElementKind::kInt8, ElementKind::kE4M3, ElementKind::kE5M2}) {
    const ScaledFormat f = mx(e);
    for (int variant = 0; variant < 3; ++variant) {
      AcceleratorConfig c = system(f, variant == 1 ? SimMode::kCycle : SimMode::kTile);
      if (variant == 2) c.buffers.activation_bytes = 400;  // 4 rows x 100 (+16) do not fit
      const std::string name = "m" + std::to_string(runs.size());
      runs.push_back({std::make_unique<AcceleratorTop>(name.c_str(), c),
                      mx_gemm_layer(f, 9, 7, 100, seed++), f});
      runs.back().top->add_layer(runs.back().layer);
    }
  }
  sc_core::sc_start();
  for (size_t r = 0; r < runs.size(); ++r) {
    SCOPED_TRACE(runs[r].format.name() + " run " + std::to_string(r));
    ASSERT_TRUE(runs[r].top->finished()) << runs[r].top->error();
    const std::vector<Code> expected = mx_gemm_expected(runs[r].format, runs[r].layer);
    EXPECT_GT(distinct(expected, 4), 50u);
    EXPECT_EQ(runs[r].top->output(0), expected);
    if (r % 3 == 2) {
      EXPECT_GT(runs[r].top->stats().at(0).k_chunks, 1u);
    }
  }
}

TEST(ScaledArray, MxConvolutionSumsTapsInOrderOverChannelBlocks) {
  // A 3 x 3 convolution of a 6 x 6 x 40 map (blocks of 32 and 8 channels per pixel) formed on
  // chip: each output is the FP32 sum over taps (kh, kw), within a tap over its channel blocks,
  // of the blocks' exact sums (spec 13.7): mx_dot tap by tap, from the bias.
  const ScaledFormat f = mx(ElementKind::kE4M3);
  const uint64_t H = 6, W = 6, C = 40, N = 5, taps = 9, nb = 2, OH = 4, OW = 4;
  std::mt19937 rng(5);
  GemmLayer l;
  l.name = "conv";
  l.m = OH * OW;
  l.n = N;
  l.k = C * taps;
  ConvGeometry g;
  g.in_h = H;
  g.in_w = W;
  g.channels = C;
  g.filter_h = g.filter_w = 3;
  l.conv = g;
  for (uint64_t i = 0; i < H * W * C; ++i) l.a.push_back(random_code(f, rng));  // NHWC
  for (uint64_t i = 0; i < N * l.k; ++i) l.w.push_back(random_code(f, rng));  // (c, kh, kw)
  l.w_exponents.assign(N, 0);
  for (uint64_t j = 0; j < N; ++j) l.bias.push_back(0.5f * static_cast<float>(j));
  l.relu = true;
  std::vector<int> pixel_exps(H * W * nb);
  for (int& e : pixel_exps) e = static_cast<int>(rng() % 7) - 5;
  auto s = std::make_shared<ScaledLayer>();
  s->taps = taps;
  s->channels = C;
  s->blocks = nb;
  for (uint64_t o = 0; o < l.m; ++o) {
    for (uint64_t t = 0; t < taps; ++t) {
      const uint64_t p = (o / OW + t / 3) * W + o % OW + t % 3;
      for (uint64_t j = 0; j < nb; ++j) s->a_exps.push_back(pixel_exps[p * nb + j]);
    }
  }
  for (uint64_t i = 0; i < N * taps * nb; ++i) s->w_exps.push_back(static_cast<int>(rng() % 5) - 7);
  l.scaled = s;
  AcceleratorTop top("top", system(f, SimMode::kTile));
  top.add_layer(l);
  sc_core::sc_start();
  ASSERT_TRUE(top.finished()) << top.error();
  std::vector<float> expected;
  for (uint64_t o = 0; o < l.m; ++o) {
    for (uint64_t j = 0; j < N; ++j) {
      float v = l.bias[j];
      for (uint64_t t = 0; t < taps; ++t) {
        const uint64_t p = (o / OW + t / 3) * W + o % OW + t % 3;
        std::vector<Code> wt(C);
        for (uint64_t c = 0; c < C; ++c) wt[c] = l.w[j * l.k + c * taps + t];
        v = mx_dot(f, l.a.data() + p * C, pixel_exps.data() + p * nb, wt.data(),
                   s->w_exps.data() + (j * taps + t) * nb, C, v)
                .value;
      }
      expected.push_back(v < 0.0f ? 0.0f : v);
    }
  }
  EXPECT_GT(distinct(float_bytes(expected), 4), 40u);
  EXPECT_EQ(top.output(0), float_bytes(expected));
}

TEST(ScaledArray, ScaleBytesAreCountedInTrafficAndBuffers) {
  // C[8,8] = A[8,64] x W[8,64]^T on a 4 x 4 array with roomy buffers: every operand crosses
  // DRAM once. By hand:
  //   MX: A 8*64 codes + 8 rows x 2 blocks E8M0 = 528; W the same = 528; out 8*8 FP32 = 256.
  //   INT8: A 512; W 512 + an FP32 multiplier per column 8*4 = 544; out 64.
  //   FP8: A 512; W 512 + one FP32 multiplier = 516; out 64.
  AcceleratorTop mxt("mx", system(mx(ElementKind::kInt8), SimMode::kTile));
  AcceleratorTop i8("int8", system(tensor(ElementKind::kInt8), SimMode::kTile));
  AcceleratorTop f8("fp8", system(tensor(ElementKind::kE4M3), SimMode::kTile));
  mxt.add_layer(mx_gemm_layer(mx(ElementKind::kInt8), 8, 8, 64, 3));
  i8.add_layer(tensor_layer(tensor(ElementKind::kInt8), 8, 8, 64, 4));
  f8.add_layer(tensor_layer(tensor(ElementKind::kE4M3), 8, 8, 64, 5));
  sc_core::sc_start();
  struct Expect {
    AcceleratorTop* top;
    uint64_t a, w, out;
  } cases[] = {{&mxt, 528, 528, 256}, {&i8, 512, 544, 64}, {&f8, 512, 516, 64}};
  for (const Expect& e : cases) {
    SCOPED_TRACE(e.top->name());
    ASSERT_TRUE(e.top->finished()) << e.top->error();
    const LayerStats& s = e.top->stats().at(0);
    EXPECT_EQ(s.ifmap.dram_read, e.a);
    EXPECT_EQ(s.filter.dram_read, e.w);
    EXPECT_EQ(s.dram_bytes_written, e.out);
    EXPECT_EQ(s.dram_lower_bound, e.a + e.w + e.out);
    // Written into the buffers once each (codes and scales), the outputs through the output
    // buffer.
    EXPECT_EQ(s.ifmap.sram_write, e.a);
    EXPECT_EQ(s.filter.sram_write, e.w);
    EXPECT_EQ(s.ofmap.sram_write, e.out);
    // The footprint: the plan's slots hold the scales beside the codes.
    const LayerPlan p = plan_layer(
        [&] {
          GemmJob j;
          j.name = "x";
          j.m = j.n = 8;
          j.k = 64;
          j.scaled = std::make_shared<ScaledLayer>(ScaledLayer{1, 64, 2, {}, {}, {}, {}});
          return j;
        }(),
        e.top->config());
    EXPECT_EQ(p.a_slot_bytes, e.a);
    EXPECT_EQ(p.w_slot_bytes, e.w);
  }
  // The array reads each tile's scales: MX 4 tiles x (4 rows + 4 columns) x 2 blocks beside
  // the codes (4 tiles x 4 x 64 each side).
  const LayerStats& s = mxt.stats().at(0);
  EXPECT_EQ(s.ifmap.sram_read, 4u * 4 * 64 + 4u * 4 * 2);
  EXPECT_EQ(s.filter.sram_read, 4u * 4 * 64 + 4u * 4 * 2);
}

}  // namespace
}  // namespace lbfp::arch
