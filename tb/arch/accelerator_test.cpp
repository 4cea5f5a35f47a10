// Whole layers through the SystemC model (memory -> buffers -> array -> buffers -> memory): outputs
// bit-exact against the golden GEMM and convolution, the tile-level mode against the cycle
// mode (same outputs, same cycles), and the accounting of traffic, stalls and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <systemc>

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/conv.h"
#include "lbfp/gemm.h"
#include "test_layers.h"

namespace lbfp::arch {
namespace {

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

GemmJob job(const std::string& name, uint64_t m, uint64_t n, uint64_t k) {
  GemmJob j;
  j.name = name;
  j.m = m;
  j.n = n;
  j.k = k;
  return j;
}

// The layer's cycles split by cause add up exactly: the array busy (operand steps, fill and
// drain), idle for input data, weights or output space, and the last write-back.
void expect_cycles_add_up(const LayerStats& s) {
  EXPECT_EQ(s.compute_cycles + s.stall_ifmap_cycles + s.stall_filter_cycles +
                s.stall_output_cycles + s.writeback_cycles,
            s.total_cycles);
  EXPECT_EQ(s.stall_ifmap_cycles + s.stall_filter_cycles + s.stall_output_cycles,
            s.stall_cycles);
  EXPECT_LE(s.fill_drain_cycles, s.compute_cycles);
}

// Returns what the tile mode computed ahead of the weights' loads.
template <class Format>
Accelerator::ComputeAhead run_both_modes(const Format& format,
                                         const std::vector<GemmLayer>& layers,
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
  EXPECT_TRUE(cycle_acc.finished()) << cycle_acc.error();
  EXPECT_TRUE(tile_acc.finished()) << tile_acc.error();
  if (!cycle_acc.finished() || !tile_acc.finished()) return {};
  // The cycle mode reads every weight from its slot.
  EXPECT_EQ(cycle_acc.accelerator().compute_ahead().runs, 0u);
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
    EXPECT_EQ(c.fill_drain_cycles, t.fill_drain_cycles);
    EXPECT_EQ(c.stall_ifmap_cycles, t.stall_ifmap_cycles);
    EXPECT_EQ(c.stall_filter_cycles, t.stall_filter_cycles);
    EXPECT_EQ(c.stall_output_cycles, t.stall_output_cycles);
    EXPECT_EQ(c.writeback_cycles, t.writeback_cycles);
    expect_cycles_add_up(c);
    expect_cycles_add_up(t);
    EXPECT_EQ(c.zero_macs, t.zero_macs);
    // Saturation as the golden k-order sums have it (the sticky flags and steps carried across
    // K chunks through the partial-sum store).
    const GoldenSaturation saturation = golden_saturation(format, layers[i]);
    EXPECT_EQ(c.overflow_steps, saturation.steps);
    EXPECT_EQ(t.overflow_steps, saturation.steps);
    EXPECT_EQ(c.outputs_saturated, saturation.outputs);
    EXPECT_EQ(t.outputs_saturated, saturation.outputs);
    EXPECT_EQ(c.dram_bytes_read, t.dram_bytes_read);
    // Compute cycles (the array busy) lie between a perfect stream (one isolated tile, then an
    // interval per tile and K chunk) and every tile and chunk on its own (the documented tile
    // latency each).
    const uint64_t tiles = ((layers[i].m + 3) / 4) * ((layers[i].n + 3) / 4);
    const LayerPlan plan =
        plan_layer(job(layers[i].name, layers[i].m, layers[i].n, layers[i].k), tile_cfg);
    EXPECT_EQ(c.k_chunks, plan.k_chunks);
    EXPECT_EQ(c.tiles, tiles * plan.k_chunks);
    uint64_t chunk_cycles = 0;
    uint64_t min_kc = layers[i].k;
    for (uint64_t k0 = 0; k0 < layers[i].k; k0 += plan.chunk_k) {
      const uint64_t kc = std::min(plan.chunk_k, layers[i].k - k0);
      min_kc = std::min(min_kc, kc);
      chunk_cycles += static_cast<uint64_t>(array_tile_cycles({4, 4, 1}, static_cast<int64_t>(kc)));
    }
    const auto shortest = static_cast<int64_t>(min_kc);
    const auto alone = static_cast<uint64_t>(array_tile_cycles({4, 4, 1}, shortest));
    const auto interval = static_cast<uint64_t>(array_tile_interval({4, 4, 1}, shortest));
    EXPECT_GE(c.compute_cycles, alone + (c.tiles - 1) * interval);
    EXPECT_LE(c.compute_cycles, tiles * chunk_cycles);
    // One operand step per k of every output tile; the rest of the busy cycles fill and drain.
    EXPECT_EQ(c.compute_cycles - c.fill_drain_cycles, tiles * layers[i].k);
    EXPECT_EQ(c.macs, layers[i].m * layers[i].n * layers[i].k);
    EXPECT_EQ(c.dram_bytes_written, layers[i].m * layers[i].n);
    EXPECT_GE(c.total_cycles, c.compute_cycles);
    EXPECT_LE(c.utilization, 1.0);
  }
  return tile_acc.accelerator().compute_ahead();
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

// With resident weights the tile mode computes the rows below ahead in one kernel call, at
// most 2^17 sums at a time (in whole tiles): a layer of 600 x 300 outputs takes several calls
// per activation block. Bit for bit the golden GEMM's codes.
TEST(Accelerator, TileModeComputesALargeLayerAheadInPartsBitExactly) {
  const GemmLayer layer = random_layer(lbfp8(), "large", 600, 300, 8, 6, true);
  AcceleratorTop acc("tile", config(lbfp8(), SimMode::kTile));
  acc.add_layer(layer);
  sc_core::sc_start();
  ASSERT_TRUE(acc.finished()) << acc.error();
  EXPECT_EQ(acc.output(0), golden(lbfp8(), layer));
  EXPECT_EQ(acc.stats()[0].macs, uint64_t{600} * 300 * 8);
}

// Calls `call` at simulated time `at`.
struct TimedCall : sc_core::sc_module {
  SC_HAS_PROCESS(TimedCall);
  TimedCall(sc_core::sc_module_name name, sc_core::sc_time at, std::function<void()> call)
      : sc_core::sc_module(name), at_(at), call_(std::move(call)) {
    SC_THREAD(run);
  }
  void run() {
    wait(at_);
    call_();
  }
  sc_core::sc_time at_;
  std::function<void()> call_;
};

// Weights streamed a few columns at a time while an activation block stays: the tile mode
// reads the run of weight blocks the block meets ahead from memory and computes their tiles in
// one call, each block checked against its slot when loaded. Outputs, cycles and traffic as the
// cycle mode's, which reads every block from its slot.
TEST(Accelerator, TileModeComputesStreamedWeightBlocksAheadBitExactly) {
  // 40 x 70 weights in slots of 8 columns, all 24 x 70 activations in one block.
  const BufferConfig buffers{24 * 70, 2 * 8 * 70, 64, 256};
  const std::vector<GemmLayer> lbfp = {random_layer(lbfp8(), "fc", 24, 40, 70, 21, true),
                                       random_layer(lbfp8(), "ragged", 23, 38, 70, 22, false)};
  const Accelerator::ComputeAhead l = run_both_modes(lbfp8(), lbfp, buffers);
  EXPECT_EQ(l.runs, 2u);     // one per layer: its activation block meets every weight block
  EXPECT_EQ(l.blocks, 10u);  // five blocks of 8 columns per layer, each as read ahead
  EXPECT_EQ(l.changed, 0u);
}

// An activation block of 2048 rows: one call holds the sums of 64 columns of them
// (ArrayModel::kAheadOutputs), so the block's run of 18 weight blocks is read in three parts.
TEST(Accelerator, TileModeComputesALongRunOfWeightBlocksAheadInParts) {
  const BufferConfig buffers{2048 * 16, 2 * 8 * 16, 64, 256};
  const std::vector<GemmLayer> tall = {random_layer(lbfp8(), "tall", 2048, 144, 16, 25, true)};
  const Accelerator::ComputeAhead t = run_both_modes(lbfp8(), tall, buffers);
  EXPECT_EQ(t.runs, 3u);  // columns 0-63, 64-127, 128-143
  EXPECT_EQ(t.blocks, 18u);
  EXPECT_EQ(t.changed, 0u);
}

TEST(Accelerator, TileModeComputesStreamedWeightBlocksAheadBitExactlyBfp8) {
  const BufferConfig buffers{24 * 70, 2 * 8 * 70, 64, 256};
  const std::vector<GemmLayer> bfp = {random_layer(bfp8(), "fc", 24, 40, 70, 23, true)};
  const Accelerator::ComputeAhead b = run_both_modes(bfp8(), bfp, buffers);
  EXPECT_EQ(b.runs, 1u);
  EXPECT_EQ(b.blocks, 5u);
  EXPECT_EQ(b.changed, 0u);
}

// Memory written while the layer runs, after the tile mode read the weights ahead and before
// the DMA loads the last weight block: that block differs from the read, so its tiles are
// computed from their slot, and both modes give the outputs of the weights as loaded.
TEST(Accelerator, WeightsWrittenAfterTheReadAheadAreComputedFromTheirSlot) {
  const GemmLayer layer = random_layer(lbfp8(), "fc", 24, 40, 70, 24, true);
  AcceleratorConfig cycle_cfg = config(lbfp8(), SimMode::kCycle);
  cycle_cfg.buffers = {24 * 70, 2 * 8 * 70, 64, 256};
  AcceleratorConfig tile_cfg = cycle_cfg;
  tile_cfg.mode = SimMode::kTile;
  AcceleratorTop cycle_acc("cycle", cycle_cfg);
  AcceleratorTop tile_acc("tile", tile_cfg);
  cycle_acc.add_layer(layer);
  tile_acc.add_layer(layer);
  // The last weight block's rows (output channels 32-39), each byte changed; W follows A
  // (24 x 70 bytes, 64-byte aligned).
  const uint64_t w_address = (24 * 70 + 63) / 64 * 64;
  std::vector<Code> changed(layer.w.begin() + 32 * 70, layer.w.end());
  for (Code& c : changed) c = static_cast<Code>(c ^ 0x5a);
  // The layer runs about 4,500 cycles of 1 ns; its first tile starts after about 350, its
  // last weight block is loaded after 2,500 (the counts below check where the write fell).
  TimedCall writer("writer", sc_core::sc_time(1000, sc_core::SC_NS), [&] {
    for (AcceleratorTop* a : {&cycle_acc, &tile_acc}) {
      a->host().write(w_address + 32 * 70, changed.data(), changed.size());
    }
  });
  sc_core::sc_start();
  ASSERT_TRUE(cycle_acc.finished()) << cycle_acc.error();
  ASSERT_TRUE(tile_acc.finished()) << tile_acc.error();
  EXPECT_EQ(tile_acc.output(0), cycle_acc.output(0));
  EXPECT_EQ(tile_acc.stats()[0].total_cycles, cycle_acc.stats()[0].total_cycles);
  // The write landed between the read ahead and the last block's load.
  EXPECT_NE(cycle_acc.output(0), golden(lbfp8(), layer));
  const Accelerator::ComputeAhead& ahead = tile_acc.accelerator().compute_ahead();
  EXPECT_EQ(ahead.runs, 1u);
  EXPECT_EQ(ahead.blocks, 4u);
  EXPECT_EQ(ahead.changed, 1u);
}

TEST(Accelerator, SmallBuffersStreamWeightsWithoutDoubleBuffering) {
  // Buffers for exactly one tile and no room for partial sums (K cannot be split): weights
  // cannot stay resident and nothing overlaps.
  const uint64_t k = 40;
  BufferConfig tight{4 * k, 4 * k, 16, 16};
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

TEST(Accelerator, StallCausesAddUpAndNameTheBottleneck) {
  // Three memories for the same layers: fast, a slow channel (0.25 bytes per cycle, so loads
  // dominate), and a memory with its own clock (1.5 ns) that makes transfers end between
  // accelerator cycles.
  const std::vector<GemmLayer> layers = {random_layer(lbfp8(), "fc", 24, 20, 70, 11, true),
                                         random_layer(lbfp8(), "wide", 8, 40, 9, 12, false),
                                         random_layer(lbfp8(), "deep", 4, 4, 500, 13, false)};
  AcceleratorConfig fast = config(lbfp8(), SimMode::kTile);
  fast.buffers = {512, 1024, 32, 256};
  AcceleratorConfig slow = fast;
  slow.dram.bytes_per_cycle = 0.25;
  AcceleratorConfig odd = fast;
  odd.dram.clock_period = sc_core::sc_time(1.5, sc_core::SC_NS);
  odd.dram.bytes_per_cycle = 3;
  AcceleratorTop a_fast("fast", fast);
  AcceleratorTop a_slow("slow", slow);
  AcceleratorTop a_odd("odd", odd);
  for (const GemmLayer& l : layers) {
    a_fast.add_layer(l);
    a_slow.add_layer(l);
    a_odd.add_layer(l);
  }
  sc_core::sc_start();
  for (const AcceleratorTop* a : {&a_fast, &a_slow, &a_odd}) {
    ASSERT_TRUE(a->finished()) << a->error();
    for (const LayerStats& s : a->stats()) {
      SCOPED_TRACE(s.name);
      expect_cycles_add_up(s);
      EXPECT_GT(s.stall_ifmap_cycles, 0u);  // the first tile waits for its input at least
    }
  }
  for (const LayerStats& s : a_slow.stats()) {
    SCOPED_TRACE(s.name);
    // A slow channel: waiting for loads is most of the layer's cycles.
    EXPECT_GT(2 * (s.stall_ifmap_cycles + s.stall_filter_cycles), s.total_cycles);
  }
}

TEST(Accelerator, OutputBoundLayerStallsOnTheWriteBack) {
  // K = 2, one output tile of buffer and a slow channel: each tile's 16 outputs must reach DRAM
  // before the next tile may leave the array; the reads are small (M K + N K bytes).
  const GemmLayer layer = random_layer(lbfp8(), "outputs", 32, 32, 2, 14, false);
  AcceleratorConfig c = config(lbfp8(), SimMode::kCycle);
  c.buffers = {1024, 1024, 16, 64};
  c.dram.bytes_per_cycle = 0.25;
  AcceleratorTop a("acc", c);
  a.add_layer(layer);
  sc_core::sc_start();
  ASSERT_TRUE(a.finished()) << a.error();
  EXPECT_EQ(a.output(0), golden(lbfp8(), layer));
  const LayerStats& s = a.stats()[0];
  expect_cycles_add_up(s);
  EXPECT_GT(s.stall_output_cycles, s.stall_ifmap_cycles + s.stall_filter_cycles);
  EXPECT_GT(s.stall_output_cycles, s.compute_cycles);
  EXPECT_GT(s.writeback_cycles, 0u);  // the last tile's outputs leave after the array is done
}

TEST(Accelerator, DoubleBufferingHidesLoadsBehindCompute) {
  // Long reductions on a fast DRAM, all weights resident: with two activation slots, loads
  // overlap compute (no partial sums: K is not split).
  std::vector<GemmLayer> layers = {random_layer(lbfp8(), "overlap", 16, 16, 256, 8, false)};
  AcceleratorConfig single = config(lbfp8(), SimMode::kTile);
  single.buffers = {4 * 256, 16 * 256, 16, 16};
  AcceleratorConfig dbl = config(lbfp8(), SimMode::kTile);
  dbl.buffers = {2 * 4 * 256, 16 * 256, 32, 16};
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

TEST(Accelerator, KSplitResumesPartialSumsBitExactlyEvenWhenTheySaturate) {
  // A 12-bit accumulator saturates on these operands; buffers of 4 x 16 bytes hold a third of
  // K = 48 at most, so K is cut into chunks whose partial sums (and sticky flags) go through the
  // partial-sum store: the outputs must still be the golden sequential, saturating sums.
  const LbfpFormat narrow(8, 4, 8, 12);
  std::vector<GemmLayer> layers = {random_layer(narrow, "split", 9, 6, 48, 3, true),
                                   random_layer(narrow, "split_relu", 5, 7, 37, 4, true)};
  for (const GemmLayer& l : layers) EXPECT_GT(golden_saturation(narrow, l).outputs, 0u);
  run_both_modes(narrow, layers, BufferConfig{4 * 16, 4 * 16, 16, 4 * 4 * 2 * 2});
}

// The same through partial-sum entries of 3 bytes (a 16-bit accumulator and its flag): the
// store packs and unpacks a tile's entries eight bytes at a time where they lie inside it.
// The first third of K saturates every output upward; the rest, smaller products of either
// sign, takes some back into range for good, so their sticky flags come only from the store.
TEST(Accelerator, KSplitResumesThreeByteEntriesEvenWhenTheySaturate) {
  const LbfpFormat narrow(8, 4, 8, 16);
  // Activations all 0x10; weights 0x30 for k < 100, then small codes, three in four negative
  // (each column's from its own seed: the layer of a shorter K is a prefix of this one).
  auto layer = [](uint64_t k) {
    GemmLayer l = random_layer(LbfpFormat(8, 4, 8, 16), "split", 9, 6, k, 5, false);
    std::fill(l.a.begin(), l.a.end(), Code{0x10});
    for (uint64_t j = 0; j < l.n; ++j) {
      std::mt19937 rng(static_cast<uint32_t>(6 + j));
      for (uint64_t kk = 0; kk < k; ++kk) {
        const auto sign = static_cast<Code>(rng() % 4 < 3 ? 0x80 : 0);
        const auto small = static_cast<Code>(sign | rng() % 0x10);
        l.w[j * k + kk] = kk < 100 ? Code{0x30} : small;
      }
    }
    return l;
  };
  const GemmLayer l = layer(300);
  // Every output saturates in the first two thirds (the first 200 steps are the same in the
  // layer of K = 200); some again in the last, some never: their flags come only from the store.
  const std::vector<uint32_t> whole = golden_overflows(narrow, l);
  const std::vector<uint32_t> before = golden_overflows(narrow, layer(200));
  uint64_t early_only = 0, again = 0;
  for (size_t o = 0; o < whole.size(); ++o) {
    EXPECT_GT(before[o], 0u);
    (whole[o] == before[o] ? early_only : again) += 1;
  }
  EXPECT_GT(early_only, 0u);
  EXPECT_GT(again, 0u);
  const BufferConfig buffers{4 * 100, 4 * 100, 16, 4 * 4 * 3 * 2};
  AcceleratorConfig c = config(narrow, SimMode::kTile);
  c.buffers = buffers;
  EXPECT_GE(plan_layer(job("split", 9, 6, 300), c).k_chunks, 3u);
  run_both_modes(narrow, std::vector<GemmLayer>{l}, buffers);
}

TEST(Accelerator, KSplitKeepsPartialSumsOnChip) {
  const LbfpFormat narrow(8, 4, 8, 12);
  std::vector<GemmLayer> layers = {random_layer(narrow, "split", 9, 6, 48, 3, true)};
  AcceleratorConfig cfg = config(narrow, SimMode::kTile);
  cfg.buffers = {4 * 16, 4 * 16, 16, 4 * 4 * 2 * 2};
  const LayerPlan plan = plan_layer(job("split", 9, 6, 48), cfg);
  EXPECT_GE(plan.k_chunks, 3u);
  AcceleratorTop acc("acc", cfg);
  acc.add_layer(layers[0]);
  sc_core::sc_start();
  ASSERT_TRUE(acc.finished()) << acc.error();
  const LayerStats& s = acc.stats()[0];
  EXPECT_EQ(s.k_chunks, plan.k_chunks);
  EXPECT_GT(s.outputs_saturated, 0u);
  // Every output but the last chunk's leaves a partial sum (2 bytes at 12 + 1 bits) and every
  // chunk but the first reads one back; none crosses DRAM.
  EXPECT_EQ(s.psum.sram_write, 9 * 6 * 2 * (plan.k_chunks - 1));
  EXPECT_EQ(s.psum.sram_read, 9 * 6 * 2 * (plan.k_chunks - 1));
  EXPECT_EQ(s.psum.dram_read + s.psum.dram_write, 0u);
  EXPECT_EQ(s.ofmap.dram_write, 9 * 6u);
}

TEST(Accelerator, OnChipIm2colReadsEachInputBandOnce) {
  // A 6 x 6 x 2 feature map (NHWC), 3x3 filter, stride 1, 4 filters: 4 x 4 outputs, K = 18, on a
  // 4 x 4 array. The activation buffer (48 bytes) holds the band of two output rows (4 input rows
  // x 6 x 2 = 48 bytes) but not two of them, nor all 6 rows (72): by hand, the input crosses DRAM
  // as two bands, rows 0-3 and rows 2-5 (96 bytes), the weights once (4 x 18 = 72) and the
  // outputs once (16 x 4 = 64). The host's im2col would read 16 x 18 = 288 bytes of activations.
  Conv2dShape shape;
  shape.in_channels = 2;
  shape.in_height = 6;
  shape.in_width = 6;
  shape.out_channels = 4;
  shape.kernel_height = 3;
  shape.kernel_width = 3;
  shape.layout = TensorLayout::kNhwc;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> code(0, 255);
  GemmLayer l;
  l.name = "conv";
  l.m = 16;
  l.n = 4;
  l.k = 18;
  l.a.resize(shape.input_elements());
  l.w.resize(shape.weight_elements());
  for (auto& x : l.a) x = static_cast<Code>(code(rng) & 0x7f);
  for (auto& x : l.w) x = static_cast<Code>(code(rng));
  l.a_exponent = 1;
  l.w_exponents = {0, 1, -1, 2};
  l.bias = {0.5f, -1.0f, 0.0f, 2.0f};
  l.out_exponent = 8;
  l.relu = false;
  ConvGeometry g;
  g.in_h = 6;
  g.in_w = 6;
  g.channels = 2;
  g.filter_h = 3;
  g.filter_w = 3;
  l.conv = g;

  // With room for partial sums the controller does better: one channel's band of all 6 rows
  // (36 bytes) fits, so K is split by channel and each input byte crosses DRAM once (72 bytes).
  std::vector<std::unique_ptr<AcceleratorTop>> tops;
  for (uint64_t psum : {16, 1024}) {
    for (SimMode mode : {SimMode::kCycle, SimMode::kTile}) {
      AcceleratorConfig cfg = config(lbfp8(), mode);
      cfg.buffers = {48, 1024, 64, psum};
      tops.push_back(std::make_unique<AcceleratorTop>(
          ("top" + std::to_string(tops.size())).c_str(), cfg));
      tops.back()->add_layer(l);
    }
  }
  sc_core::sc_start();
  Conv2dOperands ops;
  ops.input = l.a.data();
  ops.input_exponent = l.a_exponent;
  ops.weights = l.w.data();
  ops.weight_exponents = l.w_exponents.data();
  ops.bias = l.bias.data();
  std::vector<Code> want(shape.output_elements());
  conv2d_requantize(lbfp8(), shape, ops, l.out_exponent, l.relu, want.data());
  for (size_t i = 0; i < tops.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(tops[i]->finished()) << tops[i]->error();
    EXPECT_EQ(tops[i]->output(0), want);
    const LayerStats& s = tops[i]->stats()[0];
    const uint64_t ifmap = i < 2 ? 96 : 72;
    EXPECT_EQ(s.k_chunks, i < 2 ? 1u : 2u);
    EXPECT_EQ(s.ifmap.dram_read, ifmap);
    EXPECT_EQ(s.filter.dram_read, 72u);
    EXPECT_EQ(s.dram_bytes_read, ifmap + 72);
    EXPECT_EQ(s.dram_bytes_written, 64u);
    EXPECT_EQ(s.ofmap.dram_write, 64u);
    EXPECT_EQ(s.dram_lower_bound, 72u + 72u + 64u);
    // The address generator reads every window element once per tile: 16 x 18 bytes.
    EXPECT_EQ(s.ifmap.sram_read, 16u * 18u);
    EXPECT_EQ(s.ifmap.sram_write, ifmap);
  }
  EXPECT_EQ(tops[0]->stats()[0].total_cycles, tops[1]->stats()[0].total_cycles);
  EXPECT_EQ(tops[2]->stats()[0].total_cycles, tops[3]->stats()[0].total_cycles);
}

TEST(Accelerator, OnChipWindowsOfManyChannelsAreBitExact) {
  // The address generator's 3x3 windows (sixteen channels at a time where the CPU has VBMI, the
  // last block partial) against the golden convolution: 1, 16 and 37 channels, stride 2, a
  // 9 x 7 feature map (NHWC), 5 filters, both modes (one simulation: SystemC elaborates once).
  std::vector<std::vector<Code>> wants;
  std::vector<std::unique_ptr<AcceleratorTop>> tops;
  for (uint64_t channels : {1u, 16u, 37u}) {
    wants.emplace_back();
    const GemmLayer l =
        conv_layer_3x3(9, 7, channels, 5, static_cast<uint32_t>(20 + channels), &wants.back());
    for (SimMode mode : {SimMode::kCycle, SimMode::kTile}) {
      tops.push_back(std::make_unique<AcceleratorTop>(
          ("top" + std::to_string(tops.size())).c_str(), config(lbfp8(), mode)));
      tops.back()->add_layer(l);
    }
  }
  sc_core::sc_start();
  for (size_t i = 0; i < tops.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(tops[i]->finished()) << tops[i]->error();
    EXPECT_EQ(tops[i]->output(0), wants[i / 2]);
  }
}

// The on-chip windows of a convolution as the activation block, its weights streamed in blocks
// of 4 columns: the tile mode computes both blocks' tiles ahead, as the cycle mode and the
// golden convolution give them.
TEST(Accelerator, OnChipWindowsMeetStreamedWeightsComputedAhead) {
  std::vector<Code> want;
  const GemmLayer l = conv_layer_3x3(15, 13, 16, 6, 31, &want);
  std::vector<std::unique_ptr<AcceleratorTop>> tops;
  for (SimMode mode : {SimMode::kCycle, SimMode::kTile}) {
    AcceleratorConfig c = config(lbfp8(), mode);
    c.buffers = {15 * 13 * 16, 2 * 4 * 9 * 16, 64, 256};  // the whole map; two weight slots
    tops.push_back(std::make_unique<AcceleratorTop>(mode == SimMode::kCycle ? "cycle" : "tile",
                                                    c));
    tops.back()->add_layer(l);
  }
  sc_core::sc_start();
  for (const auto& top : tops) {
    ASSERT_TRUE(top->finished()) << top->error();
    EXPECT_EQ(top->output(0), want);
  }
  EXPECT_EQ(tops[0]->stats()[0].total_cycles, tops[1]->stats()[0].total_cycles);
  EXPECT_FALSE(tops[1]->stats()[0].weights_resident);
  const Accelerator::ComputeAhead& ahead = tops[1]->accelerator().compute_ahead();
  EXPECT_EQ(ahead.runs, 1u);
  EXPECT_EQ(ahead.blocks, 2u);  // filters 0-3 and 4-5
  EXPECT_EQ(ahead.changed, 0u);
  EXPECT_EQ(tops[0]->accelerator().compute_ahead().runs, 0u);
}

TEST(Accelerator, RejectsLayersThatDoNotFit) {
  // The smallest buffers, by hand, for a 4 x 4 array: one row of 4 outputs of one K step (4
  // bytes of activations), 4 columns of one K step (4 bytes of weights), one 4 x 4 output tile
  // (16 bytes) and, to split K at all, the 16 partial sums of a tile at 32 + 1 bits: 5 bytes
  // each, 80 bytes.
  auto error = [](const BufferConfig& buffers) {
    AcceleratorConfig cfg = config(lbfp8(), SimMode::kTile);
    cfg.buffers = buffers;
    try {
      plan_layer(job("wide", 4, 4, 26), cfg);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(error({3, 100, 16, 100}),
            "layer 'wide': the activation buffer (3 bytes) is too small: the smallest that works "
            "is 4 bytes (the activations of 4 output rows for one K chunk of 1)");
  EXPECT_NE(error({4, 3, 16, 100}).find("the weight buffer (3 bytes) is too small: the smallest "
                                        "that works is 4 bytes"),
            std::string::npos);
  EXPECT_NE(error({4, 4, 15, 100}).find("the output buffer (15 bytes) is too small: the smallest "
                                        "that works is 16 bytes"),
            std::string::npos);
  // 4 x 26 does not fit 100 bytes whole, so K must be split: the partial-sum store decides.
  EXPECT_NE(error({100, 100, 16, 79}).find("the partial-sum buffer (79 bytes) is too small: the "
                                           "smallest that works is 80 bytes"),
            std::string::npos);
  EXPECT_EQ(error({4, 4, 16, 80}), "accepted");
  AcceleratorConfig cfg = config(lbfp8(), SimMode::kTile);
  cfg.buffers = {100, 100, 16, 16};
  AcceleratorTop acc("acc", cfg);
  EXPECT_THROW(acc.add_layer(random_layer(lbfp8(), "wide", 4, 4, 26, 1, false)),
               std::invalid_argument);
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
