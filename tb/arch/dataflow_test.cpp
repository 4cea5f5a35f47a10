// Weight- and input-stationary layers through the SystemC model: outputs bit-exact against the
// golden GEMM and convolution (K folds, K chunks, small buffers and saturating partial sums
// included), the cycle mode against the tile mode (same outputs, same cycles), the partial-sum
// traffic of the folds and the cycles of hand-derived fold streams.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <systemc>
#include <variant>
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
// same cycles and counts in both modes, the golden saturation counts, and each output's partial
// sum stored and read back once per K piece but the last. Returns the fold chains the tile mode
// computed (each block pair's chunks of more than one fold, counted from the plan).
uint64_t run_both_modes(const NumberFormat& format, Dataflow dataflow,
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
  EXPECT_TRUE(cycle_acc.finished()) << cycle_acc.error();
  EXPECT_TRUE(tile_acc.finished()) << tile_acc.error();
  if (!cycle_acc.finished() || !tile_acc.finished()) return 0;
  const uint64_t entry = psum_entry_bytes(acc_bits(format));
  uint64_t saturated = 0;
  uint64_t chains = 0;  // block pairs' chunks of more than one fold
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
    const GoldenSaturation g_sat =
        std::visit([&](const auto& f) { return golden_saturation(f, layers[i]); }, format);
    EXPECT_EQ(t.outputs_saturated, g_sat.outputs);
    EXPECT_EQ(t.overflow_steps, g_sat.steps);
    EXPECT_EQ(c.dram_bytes_read, t.dram_bytes_read);
    EXPECT_EQ(c.sram_bytes_read, t.sram_bytes_read);
    EXPECT_EQ(c.sram_bytes_written, t.sram_bytes_written);
    EXPECT_EQ(c.macs, layers[i].m * layers[i].n * layers[i].k);
    EXPECT_EQ(c.dram_bytes_written, layers[i].m * layers[i].n);
    const LayerPlan plan = plan_layer(job_of(layers[i]), tile_cfg);
    EXPECT_EQ(plan.fold_k, std::min<uint64_t>(4, layers[i].k));
    const uint64_t pieces = k_pieces(plan, layers[i].k);
    for (uint64_t k0 = 0; k0 < layers[i].k; k0 += plan.chunk_k) {
      if (std::min(plan.chunk_k, layers[i].k - k0) > plan.fold_k) {
        chains += (layers[i].m + plan.block_m - 1) / plan.block_m *
                  ((layers[i].n + plan.block_n - 1) / plan.block_n);
      }
    }
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
  // The tile mode computes each chunk of several folds as one fold chain.
  EXPECT_EQ(cycle_acc.accelerator().compute_ahead().fold_chains, 0u);
  EXPECT_EQ(tile_acc.accelerator().compute_ahead().fold_chains, chains);
  return chains;
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

// The tile mode takes a chunk of several folds as one fold chain (Tile::chained): the block
// pair's sums over the whole chunk at its last fold, a resumed chunk starting from the partial
// sums and sticky flags its first fold's tiles read. A 12-bit accumulator saturating, K cut into
// chunks of three folds, blocks of several tiles each way: the golden outputs, saturating
// outputs and steps, and the cycle mode's cycles and counts. Some outputs saturate only before
// the last chunk (by the golden GEMM of the first chunks, then the last resumed from its sums):
// their flags reach the end only through the partial-sum store.
void fold_chains_in(Dataflow d) {
  const LbfpFormat narrow(8, 4, 8, 12);
  GemmLayer l = random_layer(narrow, "chains", 11, 9, 60, 6, true);
  // Every other column's sums run up to the positive limit over the first four chunks (positive
  // codes) and step back from it in the last (one negative weight, the rest zero).
  for (Code& x : l.a) x &= 0x7f;
  for (uint64_t j = 0; j < l.n; j += 2) {
    for (uint64_t kk = 0; kk < l.k; ++kk) {
      Code& w = l.w[j * l.k + kk];
      w = kk < 48 ? static_cast<Code>(w & 0x7f) : kk == 50 ? Code{0xc0} : Code{0};
    }
  }
  const BufferConfig buffers = d == Dataflow::kWeightStationary
                                   ? BufferConfig{264, 192, 32, 256}
                                   : BufferConfig{264, 264, 32, 512};
  AcceleratorConfig cfg = config(narrow, SimMode::kTile, d);
  cfg.buffers = buffers;
  const LayerPlan plan = plan_layer(job_of(l), cfg);
  EXPECT_EQ(plan.chunk_k, 12u);
  EXPECT_EQ(plan.k_chunks, 5u);
  EXPECT_EQ(plan.fold_k, 4u);
  EXPECT_EQ(plan.block_m, d == Dataflow::kWeightStationary ? 8u : 12u);
  EXPECT_EQ(plan.block_n, d == Dataflow::kWeightStationary ? 8u : 9u);
  EXPECT_GT(plan.block_m, plan.tile_m);
  EXPECT_GT(plan.block_n, plan.tile_n);

  // The golden sums of the first four chunks, then the last resumed from them.
  std::vector<Code> b;
  GemmProblem p = golden_problem(l, &b);
  GemmOptions o;
  o.path = KernelPath::kReference;
  const uint64_t last = 48;
  p.k = last;
  std::vector<int64_t> early(l.m * l.n), end(l.m * l.n);
  std::vector<uint32_t> early_steps(l.m * l.n), end_steps(l.m * l.n);
  gemm_accumulate(narrow, p, early.data(), l.n, early_steps.data(), o);
  p.a += last;
  p.b += last * p.ldb;
  p.k = l.k - last;
  p.bias = nullptr;
  p.initial_acc = early.data();
  p.ld_initial = l.n;
  gemm_accumulate(narrow, p, end.data(), l.n, end_steps.data(), o);
  uint64_t only_early = 0;
  for (size_t i = 0; i < early.size(); ++i) only_early += early_steps[i] > 0 && end_steps[i] == 0;
  EXPECT_GT(only_early, 0u);

  // Five chunks of 2 x 2 block pairs (weight-stationary: blocks of 8 x 8 outputs) or of one
  // (input-stationary: 12 x 9).
  EXPECT_EQ(run_both_modes(narrow, d, {l}, {golden(narrow, l)}, buffers, true),
            d == Dataflow::kWeightStationary ? 20u : 5u);
}

TEST(Dataflow, WeightStationaryFoldChainsResumeChunksAndTheirFlags) {
  fold_chains_in(Dataflow::kWeightStationary);
}
TEST(Dataflow, InputStationaryFoldChainsResumeChunksAndTheirFlags) {
  fold_chains_in(Dataflow::kInputStationary);
}

// A fold chain holds its block pair's sums (Tile::chained): at most 2^21 outputs, beyond which
// the tile mode takes the pair's folds one by one, each resuming the one before from the store.
// Two weight-stationary layers, each one block pair of two folds (resident weights, every row
// in one tile): 2040 x 1024 outputs (just under) is one chain, 2050 x 1024 (just over) none;
// both the golden outputs.
TEST(Dataflow, FoldChainsBeyondTheirSizeTakeTheirFoldsOneByOne) {
  const std::vector<GemmLayer> layers = {
      random_layer(lbfp8(), "under", 2040, 1024, 8, 7, true),
      random_layer(lbfp8(), "over", 2050, 1024, 8, 8, true)};
  AcceleratorConfig cfg = config(lbfp8(), SimMode::kTile, Dataflow::kWeightStationary);
  cfg.dram.size_bytes = 16 << 20;
  cfg.buffers = BufferConfig{64 << 10, 32 << 10, 32 << 10, 16 << 20};
  for (const GemmLayer& l : layers) {
    const LayerPlan plan = plan_layer(job_of(l), cfg);
    EXPECT_EQ(plan.block_m, l.m) << l.name;
    EXPECT_EQ(plan.block_n, l.n) << l.name;
    EXPECT_EQ(plan.k_chunks, 1u) << l.name;
    EXPECT_EQ(plan.fold_k, 4u) << l.name;
  }
  AcceleratorTop under("under", cfg);
  AcceleratorTop over("over", cfg);
  under.add_layer(layers[0]);
  over.add_layer(layers[1]);
  sc_core::sc_start();
  ASSERT_TRUE(under.finished()) << under.error();
  ASSERT_TRUE(over.finished()) << over.error();
  EXPECT_EQ(under.output(0), golden(lbfp8(), layers[0]));
  EXPECT_EQ(over.output(0), golden(lbfp8(), layers[1]));
  EXPECT_EQ(under.accelerator().compute_ahead().fold_chains, 1u);
  EXPECT_EQ(over.accelerator().compute_ahead().fold_chains, 0u);
}

// Random arrays (2 to 6 rows and columns, 0 to 2 pipeline stages), dataflows, formats (8-bit
// codes, accumulators wide and narrow), GEMM layers and on-chip convolutions, and buffers of a
// few dozen bytes to 2 KiB, the first that the controller can plan of each draw: the cycle
// mode and the tile mode, with whatever the tile mode computes ahead (rows and columns of
// tiles, fold chains, chunks), give the golden outputs (GEMMs: and saturation counts) and the
// same cycles, stalls, traffic and counts.
TEST(Dataflow, RandomArraysBuffersAndLayersAgreeInBothModes) {
  const NumberFormat formats[] = {lbfp8(), bfp8(), LbfpFormat(8, 4, 8, 14), BfpFormat(8, 16)};
  const Dataflow dataflows[] = {Dataflow::kOutputStationary, Dataflow::kWeightStationary,
                                Dataflow::kInputStationary};
  std::mt19937 rng(2026);
  auto between = [&](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  auto bytes = [&](int lo, int hi) {  // log-uniform in [2^lo, 2^hi]
    return static_cast<uint64_t>(
        std::exp2(std::uniform_real_distribution<double>(lo, hi)(rng)));
  };
  struct Case {
    AcceleratorConfig config;
    GemmLayer layer;
    std::vector<Code> want;
    GoldenSaturation saturation;
  };
  std::vector<Case> cases;
  while (cases.size() < 150) {
    Case c;
    if (cases.size() >= 120) {
      // Convolutions (3x3, stride 2) whose windows the address generator forms on chip,
      // LBFP8: their outputs against the golden conv2d (their saturation is not counted here).
      c.config = config(lbfp8(), SimMode::kCycle, dataflows[cases.size() % 3]);
      c.config.array.rows = static_cast<int>(between(2, 6));
      c.config.array.cols = static_cast<int>(between(2, 6));
      c.config.array.pipe_stages = static_cast<int>(between(0, 2));
      c.config.buffers = BufferConfig{bytes(5, 11), bytes(5, 11), bytes(3, 9), bytes(4, 11)};
      const uint64_t h = between(3, 12), w = between(3, 12), ch = between(1, 8),
                     filters = between(1, 6);
      const auto seed = static_cast<uint32_t>(between(1, 1u << 30));
      c.layer = conv_layer_3x3(h, w, ch, filters, seed, &c.want);
      try {
        plan_layer(job_of(c.layer), c.config);
      } catch (const std::exception&) {
        continue;
      }
      cases.push_back(std::move(c));
      continue;
    }
    const NumberFormat format = formats[between(0, 3)];
    c.config = config(format, SimMode::kCycle, dataflows[cases.size() % 3]);
    c.config.array.rows = static_cast<int>(between(2, 6));
    c.config.array.cols = static_cast<int>(between(2, 6));
    c.config.array.pipe_stages = static_cast<int>(between(0, 2));
    c.config.buffers = BufferConfig{bytes(4, 11), bytes(4, 11), bytes(3, 9), bytes(4, 11)};
    const auto seed = static_cast<uint32_t>(between(1, 1u << 30));
    const uint64_t m = between(1, 40), n = between(1, 24), k = between(1, 90);
    std::visit(
        [&](const auto& f) {
          c.layer = random_layer(f, "random", m, n, k, seed, seed % 3 != 0);
          c.want = golden(f, c.layer);
          c.saturation = golden_saturation(f, c.layer);
        },
        format);
    try {
      plan_layer(job_of(c.layer), c.config);
    } catch (const std::exception&) {
      continue;  // buffers too small for this layer: another draw
    }
    cases.push_back(std::move(c));
  }
  std::vector<std::unique_ptr<AcceleratorTop>> tops;
  for (size_t i = 0; i < cases.size(); ++i) {
    for (SimMode mode : {SimMode::kCycle, SimMode::kTile}) {
      AcceleratorConfig cfg = cases[i].config;
      cfg.mode = mode;
      tops.push_back(std::make_unique<AcceleratorTop>(
          ("top" + std::to_string(tops.size())).c_str(), cfg));
      tops.back()->add_layer(cases[i].layer);
    }
  }
  sc_core::sc_start();
  uint64_t chains = 0, saturated = 0, convolutions = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const AcceleratorTop& cycle = *tops[2 * i];
    const AcceleratorTop& tile = *tops[2 * i + 1];
    SCOPED_TRACE("case " + std::to_string(i) + ": " + dataflow_name(c.config.array.dataflow) +
                 " " + std::to_string(c.config.array.rows) + "x" +
                 std::to_string(c.config.array.cols) + ", layer " + std::to_string(c.layer.m) +
                 "x" + std::to_string(c.layer.n) + "x" + std::to_string(c.layer.k));
    ASSERT_TRUE(cycle.finished()) << cycle.error();
    ASSERT_TRUE(tile.finished()) << tile.error();
    EXPECT_EQ(cycle.output(0), c.want);
    EXPECT_EQ(tile.output(0), c.want);
    const LayerStats& a = cycle.stats()[0];
    const LayerStats& b = tile.stats()[0];
    EXPECT_EQ(a.total_cycles, b.total_cycles);
    EXPECT_EQ(a.compute_cycles, b.compute_cycles);
    EXPECT_EQ(a.stall_cycles, b.stall_cycles);
    EXPECT_EQ(a.dram_bytes_read, b.dram_bytes_read);
    EXPECT_EQ(a.sram_bytes_read, b.sram_bytes_read);
    EXPECT_EQ(a.sram_bytes_written, b.sram_bytes_written);
    EXPECT_EQ(a.zero_macs, b.zero_macs);
    EXPECT_EQ(a.outputs_saturated, b.outputs_saturated);
    EXPECT_EQ(a.overflow_steps, b.overflow_steps);
    chains += tile.accelerator().compute_ahead().fold_chains;
    if (c.layer.conv) {
      convolutions += 1;
      continue;
    }
    EXPECT_EQ(b.outputs_saturated, c.saturation.outputs);
    EXPECT_EQ(b.overflow_steps, c.saturation.steps);
    saturated += c.saturation.outputs;
  }
  // The draws reach fold chains and saturation.
  EXPECT_GT(chains, 0u);
  EXPECT_GT(saturated, 0u);
  EXPECT_EQ(convolutions, 30u);
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
