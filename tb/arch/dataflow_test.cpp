// Weight- and input-stationary layers through the SystemC model: outputs bit-exact against the
// golden GEMM and convolution (K folds, K chunks, small buffers and saturating partial sums
// included), the cycle mode against the tile mode (same outputs, same cycles), the partial-sum
// traffic of the folds and the cycles of hand-derived fold streams.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <systemc>
#include <vector>

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/conv.h"
#include "test_layers.h"

namespace lbfp::arch {
namespace {

AcceleratorConfig config(const NumberFormat& f, SimMode mode, Dataflow d) {
  AcceleratorConfig c;
  c.array = {4, 4, 1};
  c.array.dataflow = d;
  c.format = f;
  c.mode = mode;
  c.dram.size_bytes = 1 << 20;
  c.dram.latency_cycles = 30;
  c.dram.bytes_per_cycle = 8;
  return c;
}

GemmJob job_of(const GemmLayer& l) {
  GemmJob j;
  j.name = l.name;
  j.m = l.m;
  j.n = l.n;
  j.k = l.k;
  j.conv = l.conv;
  return j;
}

// K pieces the plan reduces each output in: its chunks, each cut into folds of at most R.
uint64_t k_pieces(const LayerPlan& plan, uint64_t k) {
  uint64_t pieces = 0;
  for (uint64_t k0 = 0; k0 < k; k0 += plan.chunk_k) {
    const uint64_t kc = std::min(plan.chunk_k, k - k0);
    pieces += (kc + plan.fold_k - 1) / plan.fold_k;
  }
  return pieces;
}

// Every layer in the cycle mode and the tile mode of `dataflow`: the golden outputs (want), the
// same cycles and counts in both modes, and each output's partial sum stored and read back once
// per K piece but the last.
void run_both_modes(const NumberFormat& format, Dataflow dataflow,
                    const std::vector<GemmLayer>& layers,
                    const std::vector<std::vector<Code>>& want, const BufferConfig& buffers,
                    bool expect_saturation = false) {
  AcceleratorConfig cycle_cfg = config(format, SimMode::kCycle, dataflow);
  cycle_cfg.buffers = buffers;
  AcceleratorConfig tile_cfg = config(format, SimMode::kTile, dataflow);
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
  const uint64_t entry = psum_entry_bytes(acc_bits(format));
  uint64_t saturated = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE(layers[i].name);
    EXPECT_EQ(cycle_acc.output(i), want[i]);
    EXPECT_EQ(tile_acc.output(i), want[i]);
    const LayerStats& c = cycle_acc.stats()[i];
    const LayerStats& t = tile_acc.stats()[i];
    EXPECT_EQ(c.total_cycles, t.total_cycles);
    EXPECT_EQ(c.compute_cycles, t.compute_cycles);
    EXPECT_EQ(c.stall_cycles, t.stall_cycles);
    EXPECT_EQ(c.tiles, t.tiles);
    EXPECT_EQ(c.zero_macs, t.zero_macs);
    EXPECT_EQ(c.overflow_steps, t.overflow_steps);
    EXPECT_EQ(c.outputs_saturated, t.outputs_saturated);
    EXPECT_EQ(c.dram_bytes_read, t.dram_bytes_read);
    EXPECT_EQ(c.sram_bytes_read, t.sram_bytes_read);
    EXPECT_EQ(c.sram_bytes_written, t.sram_bytes_written);
    EXPECT_EQ(c.macs, layers[i].m * layers[i].n * layers[i].k);
    EXPECT_EQ(c.dram_bytes_written, layers[i].m * layers[i].n);
    const LayerPlan plan = plan_layer(job_of(layers[i]), tile_cfg);
    EXPECT_EQ(plan.fold_k, std::min<uint64_t>(4, layers[i].k));
    const uint64_t pieces = k_pieces(plan, layers[i].k);
    EXPECT_EQ(c.psum.sram_write, layers[i].m * layers[i].n * entry * (pieces - 1));
    EXPECT_EQ(c.psum.sram_read, layers[i].m * layers[i].n * entry * (pieces - 1));
    EXPECT_EQ(c.psum.dram_read + c.psum.dram_write, 0u);
    // Every fold streams at least one step and is no shorter than its isolated latency apart.
    const ArrayGeometry g = cycle_cfg.array;
    EXPECT_GE(c.compute_cycles, static_cast<uint64_t>(array_tile_cycles(g, 1)) +
                                    (c.tiles - 1) * static_cast<uint64_t>(g.rows + 1));
    // The cycles split by cause agree between the modes and add up; the operand steps are one
    // per streamed row (WS) or column (IS) of every tile and K piece, the rest fill and drain.
    EXPECT_EQ(c.fill_drain_cycles, t.fill_drain_cycles);
    EXPECT_EQ(c.stall_ifmap_cycles, t.stall_ifmap_cycles);
    EXPECT_EQ(c.stall_filter_cycles, t.stall_filter_cycles);
    EXPECT_EQ(c.stall_output_cycles, t.stall_output_cycles);
    EXPECT_EQ(c.writeback_cycles, t.writeback_cycles);
    EXPECT_EQ(c.compute_cycles + c.stall_cycles + c.writeback_cycles, c.total_cycles);
    EXPECT_EQ(c.stall_ifmap_cycles + c.stall_filter_cycles + c.stall_output_cycles,
              c.stall_cycles);
    const uint64_t cols = static_cast<uint64_t>(g.cols);
    const uint64_t steps = dataflow == Dataflow::kWeightStationary
                               ? layers[i].m * ((layers[i].n + cols - 1) / cols) * pieces
                               : layers[i].n * ((layers[i].m + cols - 1) / cols) * pieces;
    EXPECT_EQ(c.compute_cycles - c.fill_drain_cycles, steps);
    saturated += c.outputs_saturated;
  }
  if (expect_saturation) {
    EXPECT_GT(saturated, 0u);
  }
}

template <class Format>
std::vector<std::vector<Code>> golden_of(const Format& f, const std::vector<GemmLayer>& layers) {
  std::vector<std::vector<Code>> want;
  for (const auto& l : layers) want.push_back(golden(f, l));
  return want;
}

template <class Format>
void gemms_in(const Format& f, Dataflow d) {
  // Tall, wide, thin and long layers; K longer than R (folds), shorter, and 1.
  const std::vector<GemmLayer> layers = {
      random_layer(f, "fc", 9, 10, 37, 1, true), random_layer(f, "square", 8, 8, 16, 2, false),
      random_layer(f, "thin", 1, 13, 5, 3, true), random_layer(f, "tall", 33, 3, 4, 4, true),
      random_layer(f, "k1", 6, 7, 1, 5, false)};
  run_both_modes(f, d, layers, golden_of(f, layers), BufferConfig{});
}

TEST(Dataflow, WeightStationaryGemmsAreBitExactInBothModesLbfp8) {
  gemms_in(lbfp8(), Dataflow::kWeightStationary);
}
TEST(Dataflow, WeightStationaryGemmsAreBitExactInBothModesBfp8) {
  gemms_in(bfp8(), Dataflow::kWeightStationary);
}
TEST(Dataflow, InputStationaryGemmsAreBitExactInBothModesLbfp8) {
  gemms_in(lbfp8(), Dataflow::kInputStationary);
}
TEST(Dataflow, InputStationaryGemmsAreBitExactInBothModesBfp8) {
  gemms_in(bfp8(), Dataflow::kInputStationary);
}

// A 12-bit accumulator saturates on these operands; buffers of a few dozen bytes cut K into
// chunks (and each chunk into folds) and the streams into short tiles: the partial sums and
// their sticky flags go through the store, and the outputs are still the golden sequential
// saturating sums.
void small_buffers_in(Dataflow d) {
  const LbfpFormat narrow(8, 4, 8, 12);
  const std::vector<GemmLayer> layers = {random_layer(narrow, "split", 9, 6, 48, 3, true),
                                         random_layer(narrow, "split_relu", 5, 7, 37, 4, true)};
  const BufferConfig tiny{4 * 16, 4 * 16, 32, 4 * 4 * 2 * 4};
  for (const auto& l : layers) {
    AcceleratorConfig cfg = config(narrow, SimMode::kTile, d);
    cfg.buffers = tiny;
    EXPECT_GE(plan_layer(job_of(l), cfg).k_chunks, 3u) << l.name;
  }
  run_both_modes(narrow, d, layers, golden_of(narrow, layers), tiny, true);
}

TEST(Dataflow, WeightStationaryKSplitWithSmallBuffersSaturatesExactly) {
  small_buffers_in(Dataflow::kWeightStationary);
}
TEST(Dataflow, InputStationaryKSplitWithSmallBuffersSaturatesExactly) {
  small_buffers_in(Dataflow::kInputStationary);
}

// A convolution that reaches the accelerator as one (the address generator forms the windows
// on chip), 3x3 stride 2, in both stationary dataflows and both modes, with buffers large and
// small (K split by channel), against the golden conv2d.
void convolution_in(Dataflow d) {
  std::vector<Code> want;
  const GemmLayer l = conv_layer_3x3(9, 8, 3, 6, 9, &want);

  std::vector<std::unique_ptr<AcceleratorTop>> tops;
  // Large buffers; small ones (K split by channel, one-pixel tiles); an output buffer of 56
  // bytes: weight-stationary tiles of two whole output rows (6 pixels).
  const BufferConfig sizes[] = {BufferConfig{}, BufferConfig{64, 64, 32, 1024},
                                BufferConfig{1024, 1024, 56, 1024}};
  for (const BufferConfig& b : sizes) {
    for (SimMode mode : {SimMode::kCycle, SimMode::kTile}) {
      AcceleratorConfig cfg = config(lbfp8(), mode, d);
      cfg.buffers = b;
      tops.push_back(std::make_unique<AcceleratorTop>(
          ("top" + std::to_string(tops.size())).c_str(), cfg));
      tops.back()->add_layer(l);
    }
  }
  sc_core::sc_start();
  for (size_t i = 0; i < tops.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(tops[i]->finished()) << tops[i]->error();
    EXPECT_EQ(tops[i]->output(0), want);
  }
  EXPECT_EQ(tops[0]->stats()[0].total_cycles, tops[1]->stats()[0].total_cycles);
  EXPECT_EQ(tops[2]->stats()[0].total_cycles, tops[3]->stats()[0].total_cycles);
  EXPECT_EQ(tops[2]->stats()[0].sram_bytes_read, tops[3]->stats()[0].sram_bytes_read);
  EXPECT_GT(tops[2]->stats()[0].k_chunks, 1u);
  EXPECT_EQ(tops[4]->stats()[0].total_cycles, tops[5]->stats()[0].total_cycles);
  AcceleratorConfig cfg = config(lbfp8(), SimMode::kTile, d);
  cfg.buffers = sizes[2];
  const LayerPlan plan = plan_layer(job_of(l), cfg);
  if (d == Dataflow::kWeightStationary) {
    EXPECT_EQ(plan.tile_m, 6u);
  } else {
    EXPECT_EQ(plan.tile_m, 4u);
  }
}

TEST(Dataflow, WeightStationaryConvolutionIsBitExact) {
  convolution_in(Dataflow::kWeightStationary);
}
TEST(Dataflow, InputStationaryConvolutionIsBitExact) {
  convolution_in(Dataflow::kInputStationary);
}

// Fold streams on a 4 x 4 array (p = 1) whose operands are all loaded before the first fold,
// by hand from the fold timeline (array_timing.h) and the controller's rule that a fold resumes
// a tile's partial sums only once the previous fold's have left the array:
// - one tile of 20 streamed steps, K = 12: three folds of 4, each waiting for the previous:
//   3 x (20 + 2R + C + p) = 3 x 33 = 99 array cycles;
// - two tiles (20 steps each) of K = 8: folds f0t0 (first step 4, last 23, out by 32), f0t1
//   (steps 24..43, out by 52), f1t0 (handed over at 33: steps 44..63), f1t1 (handed over at 53:
//   steps 64..83, last output 92): 93 cycles.
// The stationary operand's buffer is read once per fold (each code once), the streamed one once
// per fold and tile, each output's partial sum stored and read back once per fold but the last.
TEST(Dataflow, FoldStreamsTakeTheHandDerivedCycles) {
  const int64_t isolated = array_tile_cycles({4, 4, 1, Dataflow::kWeightStationary}, 20);
  ASSERT_EQ(isolated, 33);
  struct Case {
    Dataflow d;
    uint64_t m, n, k, compute;
  };
  const Case cases[] = {{Dataflow::kWeightStationary, 20, 4, 12, 99},
                        {Dataflow::kWeightStationary, 20, 8, 8, 93},
                        {Dataflow::kInputStationary, 4, 20, 12, 99},
                        {Dataflow::kInputStationary, 8, 20, 8, 93}};
  std::vector<std::unique_ptr<AcceleratorTop>> tops;
  for (const Case& c : cases) {
    for (SimMode mode : {SimMode::kCycle, SimMode::kTile}) {
      tops.push_back(std::make_unique<AcceleratorTop>(
          ("top" + std::to_string(tops.size())).c_str(), config(lbfp8(), mode, c.d)));
      tops.back()->add_layer(random_layer(lbfp8(), "folds", c.m, c.n, c.k, 11, true));
    }
  }
  sc_core::sc_start();
  const uint64_t entry = psum_entry_bytes(acc_bits(lbfp8()));
  for (size_t i = 0; i < tops.size(); ++i) {
    const Case& c = cases[i / 2];
    SCOPED_TRACE(std::string(dataflow_name(c.d)) + " " + std::to_string(c.m) + "x" +
                 std::to_string(c.n) + "x" + std::to_string(c.k));
    ASSERT_TRUE(tops[i]->finished()) << tops[i]->error();
    EXPECT_EQ(tops[i]->output(0), golden(lbfp8(), random_layer(lbfp8(), "folds", c.m, c.n, c.k,
                                                               11, true)));
    const LayerStats& s = tops[i]->stats()[0];
    EXPECT_EQ(s.compute_cycles, c.compute);
    const uint64_t folds = c.k / 4;
    const uint64_t tiles = (c.d == Dataflow::kWeightStationary ? c.n : c.m) / 4;
    EXPECT_EQ(s.tiles, folds * tiles);
    const bool ws = c.d == Dataflow::kWeightStationary;
    EXPECT_EQ(s.filter.sram_read, c.n * c.k * (ws ? 1 : tiles));
    EXPECT_EQ(s.ifmap.sram_read, c.m * c.k * (ws ? tiles : 1));
    EXPECT_EQ(s.psum.sram_write, c.m * c.n * entry * (folds - 1));
    EXPECT_EQ(s.psum.sram_read, c.m * c.n * entry * (folds - 1));
  }
}

}  // namespace
}  // namespace lbfp::arch
