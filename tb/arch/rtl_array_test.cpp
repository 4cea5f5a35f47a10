// Mixed-level co-simulation: the Verilated RTL array in place of the C++ array inside the same
// SystemC model. Both run the same layers in one simulation; outputs, saturation flags and
// cycle counts (per layer: compute, stalls, total) must be equal, and equal to the golden GEMM.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>
#include <systemc>

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/arch/rtl_array.h"
#include "lbfp/arith.h"
#include "lbfp/conv.h"
#include "lbfp/gemm.h"
#include "test_layers.h"

namespace lbfp::arch {
namespace {

GemmLayer layer(const NumberFormat& f, const std::string& name, uint64_t m, uint64_t n,
                uint64_t k, uint32_t seed, bool bias, bool large) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 255);
  std::uniform_int_distribution<int> big(0x68, 0x7f);
  GemmLayer l;
  l.name = name;
  l.m = m;
  l.n = n;
  l.k = k;
  for (uint64_t i = 0; i < m * k; ++i) l.a.push_back(static_cast<Code>(large ? big(rng) : code(rng)));
  for (uint64_t i = 0; i < n * k; ++i) l.w.push_back(static_cast<Code>(large ? big(rng) : code(rng)));
  if (!is_lbfp(f)) {
    for (auto& x : l.a) x = x == 0x80 ? Code{0x81} : x;
    for (auto& x : l.w) x = x == 0x80 ? Code{0x81} : x;
  }
  l.a_exponent = 1;
  for (uint64_t j = 0; j < n; ++j) l.w_exponents.push_back(static_cast<int>(j % 4) - 2);
  if (bias) {
    for (uint64_t j = 0; j < n; ++j) l.bias.push_back(static_cast<float>(j) * 0.25f - 1.0f);
  }
  l.out_exponent = 8;
  l.relu = seed % 2 == 0;
  return l;
}

void compare(const NumberFormat& format, const ArrayGeometry& g,
             const std::vector<GemmLayer>& layers) {
  AcceleratorConfig cfg;
  cfg.array = g;
  cfg.format = format;
  cfg.mode = SimMode::kCycle;
  cfg.dram.size_bytes = 1 << 20;
  cfg.dram.latency_cycles = 25;
  AcceleratorTop cpp("cpp", cfg);
  AcceleratorTop rtl("rtl", cfg, make_rtl_array(g, format));
  for (const auto& l : layers) {
    cpp.add_layer(l);
    rtl.add_layer(l);
  }
  sc_core::sc_start();
  ASSERT_TRUE(cpp.finished()) << cpp.error();
  ASSERT_TRUE(rtl.finished()) << rtl.error();
  for (size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE(layers[i].name);
    EXPECT_EQ(rtl.output(i), cpp.output(i));
    const LayerStats& a = cpp.stats()[i];
    const LayerStats& b = rtl.stats()[i];
    EXPECT_EQ(b.compute_cycles, a.compute_cycles);
    EXPECT_EQ(b.stall_cycles, a.stall_cycles);
    EXPECT_EQ(b.total_cycles, a.total_cycles);
    // The same split by cause, and it adds up.
    EXPECT_EQ(b.fill_drain_cycles, a.fill_drain_cycles);
    EXPECT_EQ(b.stall_ifmap_cycles, a.stall_ifmap_cycles);
    EXPECT_EQ(b.stall_filter_cycles, a.stall_filter_cycles);
    EXPECT_EQ(b.stall_output_cycles, a.stall_output_cycles);
    EXPECT_EQ(b.writeback_cycles, a.writeback_cycles);
    EXPECT_EQ(b.compute_cycles + b.stall_cycles + b.writeback_cycles, b.total_cycles);
    EXPECT_EQ(b.outputs_saturated, a.outputs_saturated);
    EXPECT_EQ(b.zero_macs, a.zero_macs);
    EXPECT_EQ(b.dram_bytes_read, a.dram_bytes_read);
  }
}

TEST(RtlInTheModel, Lbfp8LayersMatchTheCppArray) {
  const LbfpFormat f(8, 4, 8, 32);
  compare(f, {4, 4, 1},
          {layer(f, "fc", 9, 7, 40, 1, true, false), layer(f, "big", 5, 6, 120, 2, false, true),
           layer(f, "k1", 4, 4, 1, 3, false, false)});
}

TEST(RtlInTheModel, Bfp8LayersMatchTheCppArray) {
  const BfpFormat f(8, 32);
  compare(f, {4, 4, 2}, {layer(f, "fc", 6, 9, 33, 4, true, false)});
}

TEST(RtlInTheModel, NarrowAccumulatorSaturatesTheSame) {
  const LbfpFormat f(8, 4, 8, 16);
  compare(f, {3, 2, 0}, {layer(f, "sat", 7, 5, 60, 5, false, true)});
}

// Any other configuration is verilated on demand (tb/rtl/ondemand_cli.sh); what the RTL cannot
// be is refused, naming the limit, before anything is built.
TEST(RtlInTheModel, ConfigurationsBeyondTheRtlAreRefusedByName) {
  const auto refused = [](const ArrayGeometry& g, const NumberFormat& f, const std::string& why) {
    try {
      make_rtl_array(g, f);
      ADD_FAILURE() << "accepted " << why;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  refused({65, 4, 1}, lbfp8(), "rows in 1..64, not 65");
  refused({4, 100, 1}, lbfp8(), "columns in 1..64, not 100");
  refused({4, 4, 17}, lbfp8(), "pipeline stages in 0..16, not 17");
  refused({4, 4, 1}, LbfpFormat(8, 4, 8, 8), "accumulator bits A in 16..62, not 8");
  refused({4, 4, 1}, LbfpFormat(8, 3, 8, 32), "LBFP8 (W=8, F=4, P=8) or BFP8 (W=8)");
}

// The backends on their own, without the SystemC kernel: a stream of tiles that splits each
// output tile's reduction into chunks (each resuming the previous chunk's partial sums and
// flags, requantized at the end), handed over as run_tile allows. The C++ array in both modes
// and the Verilated array report the same events in the same cycles with the same results,
// and the final sums equal the golden reduction.
struct Event {
  int64_t cycle;
  uint64_t tile;
  bool results;
  std::vector<int64_t> acc;
  std::vector<uint8_t> overflow;
  std::vector<Code> codes;
  bool operator==(const Event& o) const {
    return cycle == o.cycle && tile == o.tile && results == o.results && acc == o.acc &&
           overflow == o.overflow && codes == o.codes;
  }
};

// Tiles of tile_rows x tile_cols outputs (0: the array's R x C).
std::vector<Event> run_backend(ArrayBackend& backend, const NumberFormat& f, int64_t k,
                               int64_t chunk, int outputs, uint32_t seed, int tile_rows = 0,
                               int tile_cols = 0) {
  const ArrayGeometry& g = backend.geometry();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> big(0x68, 0x7f);
  std::bernoulli_distribution negative(0.3);
  const auto rows = static_cast<size_t>(tile_rows > 0 ? tile_rows : g.rows);
  const auto cols = static_cast<size_t>(tile_cols > 0 ? tile_cols : g.cols);
  const auto ku = static_cast<size_t>(k);
  std::vector<std::vector<Code>> a(static_cast<size_t>(outputs)), b(a.size());
  for (size_t o = 0; o < a.size(); ++o) {
    a[o].resize(rows * ku);
    b[o].resize(ku * cols);
    for (auto& x : a[o]) x = static_cast<Code>(big(rng) | (negative(rng) ? 0x80 : 0));
    for (auto& x : b[o]) x = static_cast<Code>(big(rng) | (negative(rng) ? 0x80 : 0));
    if (!is_lbfp(f)) {
      for (auto& x : a[o]) x = x == 0x80 ? Code{0x81} : x;
      for (auto& x : b[o]) x = x == 0x80 ? Code{0x81} : x;
    }
  }
  std::vector<int> exps(cols, 0);
  for (size_t c = 0; c < cols; ++c) exps[c] = static_cast<int>(c % 3) - 1;
  std::vector<float> bias(cols);
  for (size_t c = 0; c < cols; ++c) bias[c] = static_cast<float>(c) - 1.5f;

  int64_t now = 0;
  const auto tick = [&now](int64_t n) { now += n; };
  std::vector<Event> events;
  std::vector<std::vector<int64_t>> acc(a.size());
  std::vector<std::vector<uint8_t>> ovf(a.size());
  const uint64_t first_id = 0;
  backend.set_listener({[&](uint64_t tile) { events.push_back({now, tile, false, {}, {}, {}}); },
                        [&](uint64_t tile, const TileResult& r) {
                          events.push_back({now, tile, true, r.acc, r.overflow, r.codes});
                          const size_t o = static_cast<size_t>(tile - first_id) % a.size();
                          acc[o] = r.acc;
                          ovf[o] = r.overflow;
                        }});
  const int64_t chunks = (k + chunk - 1) / chunk;
  for (int64_t j = 0; j < chunks; ++j) {
    const int64_t k0 = j * chunk;
    for (size_t o = 0; o < a.size(); ++o) {
      TileJob job;
      job.rows = static_cast<int>(rows);
      job.cols = static_cast<int>(cols);
      job.k = std::min(chunk, k - k0);
      job.a = a[o].data() + k0;
      job.lda = ku;
      job.b = b[o].data() + static_cast<size_t>(k0) * cols;
      job.ldb = cols;
      job.b_exponents = exps.data();
      job.out_exponent = 3;
      job.requantize = j + 1 == chunks;
      const std::vector<int64_t> init = acc[o];
      const std::vector<uint8_t> init_ovf = ovf[o];
      if (j == 0) {
        job.bias = bias.data();
      } else {
        job.init_acc = init.data();
        job.init_overflow = init_ovf.data();
      }
      backend.run_tile(job, tick);
    }
    backend.flush(tick);  // the next chunk resumes these sums
  }
  // The final sums against the golden reduction.
  for (size_t o = 0; o < a.size(); ++o) {
    for (size_t r = 0; r < rows; ++r) {
      for (size_t c = 0; c < cols; ++c) {
        std::vector<Code> row(a[o].begin() + static_cast<long>(r * ku),
                              a[o].begin() + static_cast<long>((r + 1) * ku));
        std::vector<Code> col;
        for (size_t kk = 0; kk < ku; ++kk) col.push_back(b[o][kk * cols + c]);
        const int scale = product_scale(f, 0, exps[c]);
        const int64_t init = bias_to_accumulator(acc_bits(f), bias[c], scale);
        const DotResult want = std::visit(
            [&](const auto& format) { return dot(format, row, col, init); }, f);
        EXPECT_EQ(acc[o][r * cols + c], want.acc) << backend.name() << " output " << o;
        EXPECT_EQ(ovf[o][r * cols + c], want.overflows > 0 ? 1 : 0) << backend.name();
      }
    }
  }
  return events;
}

void compare_backends(const NumberFormat& f, const ArrayGeometry& g, int64_t k, int64_t chunk,
                      int outputs, uint32_t seed, int tile_rows = 0, int tile_cols = 0) {
  SCOPED_TRACE(testing::Message() << dataflow_name(g.dataflow) << " K " << k << " chunk "
                                  << chunk << " tile " << tile_rows << "x" << tile_cols);
  const auto cycle = make_cpp_array(g, f, SimMode::kCycle);
  const auto tile = make_cpp_array(g, f, SimMode::kTile);
  const auto rtl = make_rtl_array(g, f);
  const std::vector<Event> want =
      run_backend(*cycle, f, k, chunk, outputs, seed, tile_rows, tile_cols);
  const std::vector<Event> got_tile =
      run_backend(*tile, f, k, chunk, outputs, seed, tile_rows, tile_cols);
  const std::vector<Event> got_rtl =
      run_backend(*rtl, f, k, chunk, outputs, seed, tile_rows, tile_cols);
  ASSERT_EQ(got_tile.size(), want.size());
  ASSERT_EQ(got_rtl.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got_tile[i].cycle, want[i].cycle) << "event " << i;
    EXPECT_EQ(got_rtl[i].cycle, want[i].cycle) << "event " << i;
    EXPECT_EQ(got_rtl[i].tile, want[i].tile) << "event " << i;
    EXPECT_EQ(got_tile[i], want[i]) << "event " << i;
    EXPECT_EQ(got_rtl[i].acc, want[i].acc) << "event " << i;
    EXPECT_EQ(got_rtl[i].overflow, want[i].overflow) << "event " << i;
    // Codes only where the job requantized (the last chunk); elsewhere not meaningful.
    const auto last_chunk = static_cast<uint64_t>((k + chunk - 1) / chunk - 1);
    if (want[i].results && want[i].tile >= last_chunk * static_cast<uint64_t>(outputs)) {
      EXPECT_EQ(got_rtl[i].codes, want[i].codes) << "event " << i;
    }
  }
}

TEST(RtlBackendStream, SplitAndOverlappedTilesMatchTheCppArray) {
  compare_backends(LbfpFormat(8, 4, 8, 32), {4, 4, 1}, 40, 40, 5, 1);  // whole reductions
  compare_backends(LbfpFormat(8, 4, 8, 32), {4, 4, 1}, 3, 3, 5, 2);    // preload-bound
  compare_backends(LbfpFormat(8, 4, 8, 32), {4, 4, 1}, 90, 25, 3, 3);  // K split
  compare_backends(BfpFormat(8, 32), {4, 4, 2}, 33, 10, 3, 4);
  compare_backends(LbfpFormat(8, 4, 8, 16), {3, 2, 0}, 60, 7, 3, 5);  // saturates mid-way
  compare_backends(LbfpFormat(8, 4, 8, 16), {3, 2, 0}, 5, 1, 2, 6);   // one step per chunk
}

// Weight- and input-stationary folds (each tile one fold of K <= R, its rows (WS) or columns (IS)
// streamed), K split into chunks that resume the previous chunk's partial sums and flags, on the
// three prebuilt weight-stationary arrays: the same events in the same cycles as the C++ array.
TEST(RtlBackendStream, StationaryFoldsMatchTheCppArray) {
  for (Dataflow d : {Dataflow::kWeightStationary, Dataflow::kInputStationary}) {
    const bool ws = d == Dataflow::kWeightStationary;
    // tile shape: WS streams `steps` rows over C columns, IS `steps` columns over C rows
    const auto shape = [ws](int steps, int lanes) {
      return ws ? std::make_pair(steps, lanes) : std::make_pair(lanes, steps);
    };
    auto [r1, c1] = shape(7, 4);
    compare_backends(LbfpFormat(8, 4, 8, 32), {4, 4, 1, d}, 4, 4, 4, 11, r1, c1);
    auto [r2, c2] = shape(2, 3);  // short folds: preload-bound, padding columns
    compare_backends(LbfpFormat(8, 4, 8, 32), {4, 4, 1, d}, 3, 3, 5, 12, r2, c2);
    auto [r3, c3] = shape(9, 4);  // K split into folds
    compare_backends(LbfpFormat(8, 4, 8, 32), {4, 4, 1, d}, 22, 4, 2, 13, r3, c3);
    auto [r4, c4] = shape(6, 4);
    compare_backends(BfpFormat(8, 32), {4, 4, 2, d}, 11, 4, 3, 14, r4, c4);
    auto [r5, c5] = shape(5, 2);  // saturates mid-way
    compare_backends(LbfpFormat(8, 4, 8, 16), {3, 2, 0, d}, 40, 3, 2, 15, r5, c5);
    auto [r6, c6] = shape(1, 1);  // one step, one lane, one k per fold
    compare_backends(LbfpFormat(8, 4, 8, 16), {3, 2, 0, d}, 5, 1, 2, 16, r6, c6);
  }
}

// Weight- and input-stationary layers through the whole SystemC model with the Verilated array:
// GEMMs (K folds, K = 1, tall and wide), a K split through small buffers and a convolution, in
// the C++ cycle mode, the C++ tile mode and on the RTL: outputs equal to the golden GEMM /
// convolution, and the same cycles and counts in all three.
void compare_stationary(const NumberFormat& format, const ArrayGeometry& g,
                        const BufferConfig& buffers, const std::vector<GemmLayer>& layers,
                        const std::vector<std::vector<Code>>& want, uint64_t min_chunks = 1) {
  AcceleratorConfig cfg;
  cfg.array = g;
  cfg.format = format;
  cfg.buffers = buffers;
  cfg.dram.size_bytes = 1 << 20;
  cfg.dram.latency_cycles = 25;
  cfg.dram.bytes_per_cycle = 8;
  cfg.mode = SimMode::kCycle;
  AcceleratorTop cycle("cycle", cfg);
  cfg.mode = SimMode::kTile;
  AcceleratorTop tile("tile", cfg);
  AcceleratorTop rtl("rtl", cfg, make_rtl_array(g, format));
  for (const auto& l : layers) {
    cycle.add_layer(l);
    tile.add_layer(l);
    rtl.add_layer(l);
  }
  sc_core::sc_start();
  ASSERT_TRUE(cycle.finished()) << cycle.error();
  ASSERT_TRUE(tile.finished()) << tile.error();
  ASSERT_TRUE(rtl.finished()) << rtl.error();
  uint64_t saturated = 0;
  uint64_t most_chunks = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    SCOPED_TRACE(layers[i].name);
    saturated += rtl.stats()[i].outputs_saturated;
    most_chunks = std::max(most_chunks, rtl.stats()[i].k_chunks);
    EXPECT_EQ(rtl.output(i), want[i]);
    EXPECT_EQ(cycle.output(i), want[i]);
    EXPECT_EQ(tile.output(i), want[i]);
    for (const AcceleratorTop* other : {&cycle, &tile}) {
      const LayerStats& a = other->stats()[i];
      const LayerStats& b = rtl.stats()[i];
      EXPECT_EQ(b.tiles, a.tiles);
      EXPECT_EQ(b.k_chunks, a.k_chunks);
      EXPECT_EQ(b.compute_cycles, a.compute_cycles);
      EXPECT_EQ(b.stall_cycles, a.stall_cycles);
      EXPECT_EQ(b.total_cycles, a.total_cycles);
      EXPECT_EQ(b.fill_drain_cycles, a.fill_drain_cycles);
      EXPECT_EQ(b.stall_ifmap_cycles, a.stall_ifmap_cycles);
      EXPECT_EQ(b.stall_filter_cycles, a.stall_filter_cycles);
      EXPECT_EQ(b.stall_output_cycles, a.stall_output_cycles);
      EXPECT_EQ(b.writeback_cycles, a.writeback_cycles);
      EXPECT_EQ(b.outputs_saturated, a.outputs_saturated);
      EXPECT_EQ(b.macs, a.macs);
      EXPECT_EQ(b.zero_macs, a.zero_macs);
      EXPECT_EQ(b.requantizations, a.requantizations);
      EXPECT_EQ(b.dram_bytes_read, a.dram_bytes_read);
      EXPECT_EQ(b.dram_bytes_written, a.dram_bytes_written);
      EXPECT_EQ(b.sram_bytes_read, a.sram_bytes_read);
      EXPECT_EQ(b.sram_bytes_written, a.sram_bytes_written);
    }
  }
  EXPECT_GE(most_chunks, min_chunks);
  if (acc_bits(format) < 32) {
    EXPECT_GT(saturated, 0u);
  }
}

template <class Format>
std::vector<std::vector<Code>> golden_of(const Format& f, const std::vector<GemmLayer>& layers) {
  std::vector<std::vector<Code>> want;
  for (const auto& l : layers) want.push_back(golden(f, l));
  return want;
}


void lbfp8_layers_in(Dataflow d, const BufferConfig& buffers, uint64_t min_chunks) {
  const LbfpFormat f = lbfp8();
  std::vector<GemmLayer> layers = {
      random_layer(f, "fc", 9, 10, 37, 1, true), random_layer(f, "thin", 1, 6, 5, 3, true),
      random_layer(f, "tall", 13, 3, 4, 4, false), random_layer(f, "k1", 6, 7, 1, 5, true)};
  std::vector<std::vector<Code>> want = golden_of(f, layers);
  want.emplace_back();
  layers.push_back(conv_layer_3x3(7, 6, 3, 5, 21, &want.back()));
  compare_stationary(f, {4, 4, 1, d}, buffers, layers, want, min_chunks);
}

TEST(RtlStationaryInTheModel, WeightStationaryLbfp8LayersMatchTheCppArray) {
  lbfp8_layers_in(Dataflow::kWeightStationary, BufferConfig{}, 1);
}
TEST(RtlStationaryInTheModel, InputStationaryLbfp8LayersMatchTheCppArray) {
  lbfp8_layers_in(Dataflow::kInputStationary, BufferConfig{}, 1);
}
// Buffers of a few dozen bytes: K split into chunks (partial sums through the store), short
// tiles, the convolution split by channel.
TEST(RtlStationaryInTheModel, WeightStationaryKSplitMatchesTheCppArray) {
  lbfp8_layers_in(Dataflow::kWeightStationary, BufferConfig{64, 64, 32, 1024}, 3);
}
TEST(RtlStationaryInTheModel, InputStationaryKSplitMatchesTheCppArray) {
  lbfp8_layers_in(Dataflow::kInputStationary, BufferConfig{64, 64, 32, 1024}, 3);
}

void bfp8_layers_in(Dataflow d) {
  const BfpFormat f = bfp8();
  const std::vector<GemmLayer> layers = {random_layer(f, "fc", 6, 9, 21, 7, true),
                                         random_layer(f, "k2", 5, 4, 2, 8, false)};
  compare_stationary(f, {4, 4, 2, d}, BufferConfig{}, layers, golden_of(f, layers));
}

TEST(RtlStationaryInTheModel, WeightStationaryBfp8LayersMatchTheCppArray) {
  bfp8_layers_in(Dataflow::kWeightStationary);
}
TEST(RtlStationaryInTheModel, InputStationaryBfp8LayersMatchTheCppArray) {
  bfp8_layers_in(Dataflow::kInputStationary);
}

// A 16-bit accumulator on the 3x2 array without pipeline stages: partial sums saturate, K split
// by small buffers; the sticky flags travel through the store.
void narrow_layers_in(Dataflow d) {
  const LbfpFormat f(8, 4, 8, 16);
  const std::vector<GemmLayer> layers = {layer(f, "sat", 7, 5, 60, 5, false, true),
                                         layer(f, "bias", 4, 3, 13, 6, true, false)};
  compare_stationary(f, {3, 2, 0, d}, BufferConfig{48, 48, 32, 512}, layers,
                     golden_of(f, layers), 2);
}

TEST(RtlStationaryInTheModel, WeightStationaryNarrowAccumulatorSaturatesTheSame) {
  narrow_layers_in(Dataflow::kWeightStationary);
}
TEST(RtlStationaryInTheModel, InputStationaryNarrowAccumulatorSaturatesTheSame) {
  narrow_layers_in(Dataflow::kInputStationary);
}

// Any weight- or input-stationary shape within the on-demand limits is verilated on first use
// (`ctest -L rtl-ondemand-long` builds one); beyond them it is refused with the limit it breaks,
// before anything is built. A prebuilt shape is taken as it is.
TEST(RtlStationaryInTheModel, ConfigurationsBeyondTheRtlAreRefusedByName) {
  for (Dataflow d : {Dataflow::kWeightStationary, Dataflow::kInputStationary}) {
    const auto refused = [d](const ArrayGeometry& g, const NumberFormat& f, const std::string& why) {
      try {
        make_rtl_array(g, f);
        ADD_FAILURE() << "accepted " << why << " in " << dataflow_name(d);
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
      }
    };
    refused({65, 4, 1, d}, lbfp8(), "rows in 1..64, not 65");
    refused({4, 100, 1, d}, lbfp8(), "columns in 1..64, not 100");
    refused({4, 4, 17, d}, lbfp8(), "pipeline stages in 0..16, not 17");
    refused({4, 4, 1, d}, LbfpFormat(8, 4, 8, 8), "accumulator bits A in 16..62, not 8");
  }
  EXPECT_NO_THROW(make_rtl_array({3, 2, 0, Dataflow::kInputStationary}, LbfpFormat(8, 4, 8, 16)));
}

}  // namespace
}  // namespace lbfp::arch
