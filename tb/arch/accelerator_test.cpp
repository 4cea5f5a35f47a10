// Whole layers through the SystemC model (memory -> buffers -> array -> buffers -> memory): outputs
// bit-exact against the golden GEMM and convolution, the tile-level mode against the cycle
// mode (same outputs, same cycles), and the accounting of traffic, stalls and errors.
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <systemc>

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/conv.h"
#include "lbfp/gemm.h"

namespace lbfp::arch {
namespace {

template <class Format>
GemmLayer random_layer(const Format& format, const std::string& name, uint64_t m, uint64_t n,
                       uint64_t k, uint32_t seed, bool bias) {
  (void)format;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 255);
  std::uniform_int_distribution<int> zero(0, 3);
  GemmLayer l;
  l.name = name;
  l.m = m;
  l.n = n;
  l.k = k;
  l.a.resize(m * k);
  l.w.resize(n * k);
  for (auto& x : l.a) {
    x = zero(rng) == 0 ? Code{0} : static_cast<Code>(code(rng));  // post-ReLU-like sparsity
    if constexpr (std::is_same_v<Format, BfpFormat>) {
      if (x == 0x80) x = 0;
    }
  }
  for (auto& x : l.w) {
    x = static_cast<Code>(code(rng));
    if constexpr (std::is_same_v<Format, BfpFormat>) {
      if (x == 0x80) x = 0x7f;
    }
  }
  l.a_exponent = 2;
  for (uint64_t j = 0; j < n; ++j) l.w_exponents.push_back(static_cast<int>(j % 3) - 1);
  if (bias) {
    for (uint64_t j = 0; j < n; ++j) l.bias.push_back(0.5f * static_cast<float>(j % 7) - 1.5f);
  }
  l.out_exponent = 7;
  l.relu = seed % 2 == 0;
  return l;
}

// The golden GEMM of a layer, by the scalar reference kernel.
template <class Format>
std::vector<Code> golden(const Format& format, const GemmLayer& l) {
  std::vector<Code> b(l.k * l.n);  // K x N
  for (uint64_t j = 0; j < l.n; ++j) {
    for (uint64_t kk = 0; kk < l.k; ++kk) b[kk * l.n + j] = l.w[j * l.k + kk];
  }
  GemmProblem p;
  p.m = l.m;
  p.n = l.n;
  p.k = l.k;
  p.a = l.a.data();
  p.lda = l.k;
  p.a_exponent = l.a_exponent;
  p.b = b.data();
  p.ldb = l.n;
  p.b_exponents = l.w_exponents.data();
  p.bias = l.bias.empty() ? nullptr : l.bias.data();
  std::vector<Code> out(l.m * l.n);
  GemmOptions o;
  o.path = KernelPath::kReference;
  gemm_requantize(format, p, l.out_exponent, l.relu, out.data(), l.n, o);
  return out;
}

AcceleratorConfig config(const NumberFormat& f, SimMode mode) {
  AcceleratorConfig c;
  c.array = {4, 4, 1};
  c.format = f;
  c.mode = mode;
  c.dram.size_bytes = 1 << 20;
  c.dram.latency_cycles = 30;
  c.dram.bytes_per_cycle = 8;
  return c;
}

template <class Format>
void run_both_modes(const Format& format, const std::vector<GemmLayer>& layers,
                    const BufferConfig& buffers) {
  AcceleratorConfig cycle_cfg = config(format, SimMode::kCycle);
  cycle_cfg.buffers = buffers;
  AcceleratorConfig tile_cfg = config(format, SimMode::kTile);
  tile_cfg.buffers = buffers;
  AcceleratorTop cycle_acc("cycle", cycle_cfg);
  AcceleratorTop tile_acc("tile", tile_cfg);
  for (const auto& l : layers) {
    cycle_acc.add_layer(l);
    tile_acc.add_layer(l);
  }
  sc_core::sc_start();
  ASSERT_TRUE(cycle_acc.finished()) << cycle_acc.error();
  ASSERT_TRUE(tile_acc.finished()) << tile_acc.error();
  // The workers have ended with the last layer: a layer added now would never run.
  EXPECT_THROW(cycle_acc.add_layer(layers[0]), std::logic_error);
  for (size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE(layers[i].name);
    const std::vector<Code> want = golden(format, layers[i]);
    EXPECT_EQ(cycle_acc.output(i), want);
    EXPECT_EQ(tile_acc.output(i), want);
    const LayerStats& c = cycle_acc.stats()[i];
    const LayerStats& t = tile_acc.stats()[i];
    EXPECT_EQ(c.total_cycles, t.total_cycles);
    EXPECT_EQ(c.compute_cycles, t.compute_cycles);
    EXPECT_EQ(c.stall_cycles, t.stall_cycles);
    EXPECT_EQ(c.zero_macs, t.zero_macs);
    EXPECT_EQ(c.overflow_steps, t.overflow_steps);
    EXPECT_EQ(c.dram_bytes_read, t.dram_bytes_read);
    // Compute cycles (the array busy) lie between a perfect stream (one isolated tile, then an
    // interval per tile) and every tile on its own (the documented tile latency each).
    const uint64_t tiles = ((layers[i].m + 3) / 4) * ((layers[i].n + 3) / 4);
    EXPECT_EQ(c.tiles, tiles);
    const auto k = static_cast<int64_t>(layers[i].k);
    const auto alone = static_cast<uint64_t>(array_tile_cycles({4, 4, 1}, k));
    const auto interval = static_cast<uint64_t>(array_tile_interval({4, 4, 1}, k));
    EXPECT_GE(c.compute_cycles, alone + (tiles - 1) * interval);
    EXPECT_LE(c.compute_cycles, tiles * alone);
    EXPECT_EQ(c.macs, layers[i].m * layers[i].n * layers[i].k);
    EXPECT_EQ(c.dram_bytes_written, layers[i].m * layers[i].n);
    EXPECT_GE(c.total_cycles, c.compute_cycles);
    EXPECT_LE(c.utilization, 1.0);
  }
}

TEST(Accelerator, GemmLayersAreBitExactInCycleAndTileModeLbfp8) {
  std::vector<GemmLayer> layers = {random_layer(lbfp8(), "fc", 9, 10, 37, 1, true),
                                   random_layer(lbfp8(), "square", 8, 8, 64, 2, false),
                                   random_layer(lbfp8(), "thin", 1, 13, 5, 3, true)};
  run_both_modes(lbfp8(), layers, BufferConfig{});
}

TEST(Accelerator, GemmLayersAreBitExactInCycleAndTileModeBfp8) {
  std::vector<GemmLayer> layers = {random_layer(bfp8(), "fc", 7, 9, 50, 4, true),
                                   random_layer(bfp8(), "long", 4, 4, 300, 5, false)};
  run_both_modes(bfp8(), layers, BufferConfig{});
}

TEST(Accelerator, SmallBuffersStreamWeightsWithoutDoubleBuffering) {
  // Buffers for exactly one tile: weights cannot stay resident and nothing overlaps.
  const uint64_t k = 40;
  BufferConfig tight{4 * k, 4 * k, 16};
  const GemmLayer layer = random_layer(lbfp8(), "tight", 12, 12, k, 6, false);
  AcceleratorConfig cycle_cfg = config(lbfp8(), SimMode::kCycle);
  cycle_cfg.buffers = tight;
  AcceleratorConfig tile_cfg = config(lbfp8(), SimMode::kTile);
  tile_cfg.buffers = tight;
  AcceleratorTop cycle_acc("cycle", cycle_cfg);
  AcceleratorTop tile_acc("tile", tile_cfg);
  cycle_acc.add_layer(layer);
  tile_acc.add_layer(layer);
  sc_core::sc_start();
  EXPECT_EQ(cycle_acc.output(0), golden(lbfp8(), layer));
  EXPECT_EQ(tile_acc.output(0), golden(lbfp8(), layer));
  const LayerStats& s = tile_acc.stats()[0];
  EXPECT_EQ(cycle_acc.stats()[0].total_cycles, s.total_cycles);
  EXPECT_FALSE(s.double_buffered);
  EXPECT_FALSE(s.weights_resident);
  // Activations are read once per row of tiles, weights once per tile (9 tiles of 4 columns).
  EXPECT_EQ(s.dram_bytes_read, 12 * k + 9 * 4 * k);
  // Nothing overlaps: every tile waits for its loads.
  EXPECT_GT(s.stall_cycles, 9 * 30u);
  // The buffers' own counts: activations are written once per row of tiles and read by every
  // tile, weights written and read once per tile, outputs written and drained once.
  const Accelerator& a = tile_acc.accelerator();
  EXPECT_EQ(a.activation_buffer().bytes_written(), 3 * 4 * k);
  EXPECT_EQ(a.activation_buffer().bytes_read(), 9 * 4 * k);
  EXPECT_EQ(a.weight_buffer().bytes_written(), 9 * 4 * k);
  EXPECT_EQ(a.weight_buffer().bytes_read(), 9 * 4 * k);
  EXPECT_EQ(a.output_buffer().bytes_written(), 12 * 12u);
  EXPECT_EQ(a.output_buffer().bytes_read(), 12 * 12u);
  EXPECT_EQ(s.sram_bytes_written, 3 * 4 * k + 9 * 4 * k + 12 * 12);
  EXPECT_EQ(s.sram_bytes_read, 2 * 9 * 4 * k + 12 * 12);
  EXPECT_EQ(cycle_acc.stats()[0].sram_bytes_read, s.sram_bytes_read);
  EXPECT_EQ(cycle_acc.stats()[0].sram_bytes_written, s.sram_bytes_written);
}

TEST(Accelerator, DoubleBufferingHidesLoadsBehindCompute) {
  // Long reductions on a fast DRAM: with two slots, loads overlap compute.
  std::vector<GemmLayer> layers = {random_layer(lbfp8(), "overlap", 16, 16, 256, 8, false)};
  AcceleratorConfig single = config(lbfp8(), SimMode::kTile);
  single.buffers = {4 * 256, 4 * 256, 16};
  AcceleratorConfig dbl = config(lbfp8(), SimMode::kTile);
  dbl.buffers = {2 * 4 * 256, 2 * 4 * 256, 32};
  AcceleratorTop a1("single", single);
  AcceleratorTop a2("double", dbl);
  a1.add_layer(layers[0]);
  a2.add_layer(layers[0]);
  sc_core::sc_start();
  EXPECT_EQ(a1.output(0), a2.output(0));
  EXPECT_TRUE(a2.stats()[0].double_buffered);
  EXPECT_LT(a2.stats()[0].total_cycles, a1.stats()[0].total_cycles);
  EXPECT_LT(a2.stats()[0].stall_cycles, a1.stats()[0].stall_cycles);
}

TEST(Accelerator, ConvolutionThroughIm2colIsBitExact) {
  // A 3x3 convolution, stride 2, padding 1: the host lowers it to a GEMM (im2col), the model
  // runs it, and the output equals the golden conv2d (NHWC, so the GEMM's M x N layout).
  Conv2dShape shape;
  shape.in_channels = 3;
  shape.in_height = 9;
  shape.in_width = 7;
  shape.out_channels = 5;
  shape.kernel_height = 3;
  shape.kernel_width = 3;
  shape.stride_height = 2;
  shape.stride_width = 2;
  shape.pad_height = 1;
  shape.pad_width = 1;
  shape.layout = TensorLayout::kNhwc;
  std::mt19937 rng(12);
  std::uniform_int_distribution<int> code(0, 255);
  std::vector<Code> input(shape.input_elements());
  std::vector<Code> weights(shape.weight_elements());  // OIHW
  for (auto& x : input) x = static_cast<Code>(code(rng) & 0x7f);
  for (auto& x : weights) x = static_cast<Code>(code(rng));
  std::vector<int> wexp = {0, 1, -1, 2, 0};
  const int in_exp = 3;
  const int out_exp = 9;

  const size_t oh = shape.out_height();
  const size_t ow = shape.out_width();
  const size_t kdim = 3 * 3 * 3;
  GemmLayer l;
  l.name = "conv";
  l.m = oh * ow;
  l.n = 5;
  l.k = kdim;
  l.a.assign(l.m * l.k, 0);
  l.w.assign(l.n * l.k, 0);
  // im2col with K ordered (c, kh, kw) to match OIHW weight rows.
  for (size_t y = 0; y < oh; ++y) {
    for (size_t x = 0; x < ow; ++x) {
      for (size_t c = 0; c < 3; ++c) {
        for (size_t ky = 0; ky < 3; ++ky) {
          for (size_t kx = 0; kx < 3; ++kx) {
            const long iy = static_cast<long>(y * 2 + ky) - 1;
            const long ix = static_cast<long>(x * 2 + kx) - 1;
            Code v = 0;
            if (iy >= 0 && iy < 9 && ix >= 0 && ix < 7) {
              v = input[(static_cast<size_t>(iy) * 7 + static_cast<size_t>(ix)) * 3 + c];
            }
            l.a[(y * ow + x) * kdim + (c * 3 + ky) * 3 + kx] = v;
          }
        }
      }
    }
  }
  l.w = weights;  // OIHW rows are already (c, kh, kw)-ordered
  l.a_exponent = in_exp;
  l.w_exponents = wexp;
  l.out_exponent = out_exp;
  l.relu = true;

  AcceleratorConfig cfg = config(lbfp8(), SimMode::kCycle);
  AcceleratorTop acc("acc", cfg);
  acc.add_layer(l);
  sc_core::sc_start();
  ASSERT_TRUE(acc.finished()) << acc.error();

  Conv2dOperands ops;
  ops.input = input.data();
  ops.input_exponent = in_exp;
  ops.weights = weights.data();
  ops.weight_exponents = wexp.data();
  std::vector<Code> want(shape.output_elements());
  conv2d_requantize(lbfp8(), shape, ops, out_exp, true, want.data());
  EXPECT_EQ(acc.output(0), want);
}

TEST(Accelerator, RejectsLayersThatDoNotFit) {
  AcceleratorConfig cfg = config(lbfp8(), SimMode::kTile);
  cfg.buffers = {100, 100, 16};
  AcceleratorTop acc("acc", cfg);
  try {
    acc.add_layer(random_layer(lbfp8(), "wide", 4, 4, 26, 1, false));  // 4 x 26 > 100 bytes
    FAIL() << "accepted a tile larger than the activation buffer";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("activation buffer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'wide'"), std::string::npos) << e.what();
  }
  AcceleratorConfig small = config(lbfp8(), SimMode::kTile);
  small.dram.size_bytes = 256;
  AcceleratorTop acc2("acc2", small);
  EXPECT_THROW(acc2.add_layer(random_layer(lbfp8(), "big", 16, 16, 16, 1, false)),
               std::invalid_argument);
  GemmLayer bad = random_layer(lbfp8(), "bad", 4, 4, 4, 1, false);
  bad.w_exponents.pop_back();
  EXPECT_THROW(acc.add_layer(bad), std::invalid_argument);
}

}  // namespace
}  // namespace lbfp::arch
