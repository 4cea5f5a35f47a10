// The system around the accelerator: the top's hierarchy, the host's debug transport into
// memory, the buffers' own traffic counts on a GEMM small enough to count by hand, and the two
// clocks (the accelerator's and the memory's) behind the cycle counts.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <systemc>

#include "lbfp/arch/accelerator_top.h"

namespace lbfp::arch {
namespace {

using sc_core::SC_NS;
using sc_core::sc_time;

GemmLayer counting_layer(const std::string& name, uint64_t m, uint64_t n, uint64_t k) {
  GemmLayer l;
  l.name = name;
  l.m = m;
  l.n = n;
  l.k = k;
  for (uint64_t i = 0; i < m * k; ++i) l.a.push_back(static_cast<Code>((i * 37 + 11) & 0x7f));
  for (uint64_t i = 0; i < n * k; ++i) l.w.push_back(static_cast<Code>((i * 53 + 5) & 0xff));
  l.a_exponent = 2;
  l.w_exponents.assign(n, 0);
  l.out_exponent = 8;
  return l;
}

AcceleratorConfig small_system(SimMode mode) {
  AcceleratorConfig c;
  c.array = {4, 4, 1};
  c.format = LbfpFormat();
  c.mode = mode;
  c.dram.size_bytes = 4096;
  c.dram.latency_cycles = 30;
  c.dram.bytes_per_cycle = 8;
  return c;
}

TEST(AcceleratorTop, ModulesAndBuffersAreNamedInTheHierarchy) {
  AcceleratorConfig cfg = small_system(SimMode::kTile);
  cfg.buffers = {1000, 2000, 300};
  AcceleratorTop top("top", cfg);
  for (const char* name : {"top.host", "top.accelerator", "top.bus", "top.memory"}) {
    EXPECT_NE(sc_core::sc_find_object(name), nullptr) << name;
  }
  const auto* weights =
      dynamic_cast<const Sram*>(sc_core::sc_find_object("top.accelerator.weight_buffer"));
  ASSERT_NE(weights, nullptr);
  EXPECT_EQ(weights, &top.accelerator().weight_buffer());
  EXPECT_EQ(weights->capacity_bytes(), 2000u);
  EXPECT_EQ(top.accelerator().activation_buffer().capacity_bytes(), 1000u);
  EXPECT_EQ(top.accelerator().output_buffer().capacity_bytes(), 300u);
  EXPECT_STREQ(top.accelerator().output_buffer().name(), "top.accelerator.output_buffer");
}

TEST(AcceleratorTop, HostFillsAndReadsBackMemoryByDebugTransport) {
  AcceleratorTop top("top", small_system(SimMode::kTile));
  sc_core::sc_start();  // no layers: elaborates the system and ends at once
  ASSERT_TRUE(top.finished()) << top.error();
  std::vector<unsigned char> data(300);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 7 + 1);
  top.host().write(3700, data.data(), data.size());
  std::vector<unsigned char> back(data.size());
  top.host().read(3700, back.data(), back.size());
  EXPECT_EQ(back, data);
  // Untimed and not traffic.
  EXPECT_EQ(sc_core::sc_time_stamp(), sc_core::SC_ZERO_TIME);
  EXPECT_EQ(top.memory().stats().bytes_written, 0u);
  EXPECT_EQ(top.memory().stats().bytes_read, 0u);
  // Past the end of the 4096-byte memory the host says how far it got.
  try {
    top.host().write(4000, data.data(), data.size());
    FAIL() << "a debug write past the memory succeeded";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("at address 4000 reached only 96 bytes"),
              std::string::npos)
        << e.what();
  }
}

TEST(AcceleratorTop, TheHostPlacesOperandsAndReadsOutputsThroughMemory) {
  AcceleratorTop top("top", small_system(SimMode::kCycle));
  const GemmLayer layer = counting_layer("g", 6, 6, 5);
  top.add_layer(layer);
  sc_core::sc_start();
  ASSERT_TRUE(top.finished()) << top.error();
  // The layout of add_layer: A at 0, W at 64, outputs at 128.
  std::vector<Code> a(layer.a.size());
  std::vector<Code> w(layer.w.size());
  std::vector<Code> out(6 * 6);
  top.host().read(0, a.data(), a.size());
  top.host().read(64, w.data(), w.size());
  top.host().read(128, out.data(), out.size());
  EXPECT_EQ(a, layer.a);
  EXPECT_EQ(w, layer.w);
  EXPECT_EQ(out, top.output(0));
  // The memory's timed traffic is the DMA's alone: the host's loads and reads are debug
  // transactions.
  const LayerStats& s = top.stats().at(0);
  EXPECT_EQ(top.memory().stats().bytes_read, s.dram_bytes_read);
  EXPECT_EQ(top.memory().stats().bytes_written, s.dram_bytes_written);
  EXPECT_EQ(s.dram_bytes_written, 36u);
}

// A layer added by its shape (A and W empty, exponents 0) for a source to fill.
GemmLayer shape_of(GemmLayer l) {
  l.a.clear();
  l.w.clear();
  l.a_exponent = 0;
  l.out_exponent = 0;
  l.w_exponents.assign(l.n, 0);
  return l;
}

GemmLayer second_layer() {
  GemmLayer l = counting_layer("second", 6, 7, 5);
  l.out_exponent = 6;
  l.w_exponents.assign(7, 1);
  return l;
}

// A layer added by its shape takes its codes and exponents from its source when the host
// reaches it: the same outputs and statistics as the layer added whole.
TEST(AcceleratorTop, LayersFromASourceRunAsLayersAddedWhole) {
  AcceleratorTop whole("whole", small_system(SimMode::kTile));
  AcceleratorTop sourced("sourced", small_system(SimMode::kTile));
  for (AcceleratorTop* top : {&whole, &sourced}) top->add_layer(counting_layer("first", 6, 6, 5));
  whole.add_layer(second_layer());
  int calls = 0;
  sourced.add_layer(shape_of(second_layer()), [&] {
    ++calls;
    return second_layer();
  });
  EXPECT_THROW(whole.add_layer(shape_of(second_layer())), std::invalid_argument);  // no codes
  sc_core::sc_start();
  ASSERT_TRUE(whole.finished()) << whole.error();
  ASSERT_TRUE(sourced.finished()) << sourced.error();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(sourced.output(1), whole.output(1));
  EXPECT_EQ(sourced.stats().at(1).total_cycles, whole.stats().at(1).total_cycles);
  EXPECT_EQ(sourced.stats().at(1).dram_bytes_read, whole.stats().at(1).dram_bytes_read);
}

// A source that throws stops the simulation with its error.
TEST(AcceleratorTop, ASourceThatThrowsStopsTheSimulation) {
  AcceleratorTop top("top", small_system(SimMode::kTile));
  top.add_layer(counting_layer("first", 6, 6, 5));
  top.add_layer(shape_of(second_layer()), []() -> GemmLayer {
    throw std::runtime_error("no data for 'second'");
  });
  sc_core::sc_start();
  EXPECT_FALSE(top.finished());
  EXPECT_EQ(top.error(), "no data for 'second'");
}

// A source that gives a layer of another shape than the one added is refused.
TEST(AcceleratorTop, ASourceOfAnotherShapeIsRefused) {
  AcceleratorTop top("top", small_system(SimMode::kTile));
  top.add_layer(shape_of(second_layer()), [] { return counting_layer("second", 6, 6, 5); });
  sc_core::sc_start();
  EXPECT_FALSE(top.finished());
  EXPECT_NE(top.error().find("another shape"), std::string::npos) << top.error();
}

TEST(AcceleratorTop, BuffersCountTheTrafficOfAHandDerivedGemm) {
  // C[6,6] = A[6,5] x W[6,5]^T on a 4 x 4 array with roomy buffers: four tiles, (4|2) rows x
  // (4|2) columns; weights resident (loaded by the first row of tiles), activations loaded once
  // per row of tiles.
  //   activation buffer: written 6*5 = 30, read per tile rows*K = 5*(4+4+2+2) = 60
  //   weight buffer:     written 6*5 = 30, read per tile K*cols = 5*(4+2+4+2) = 60
  //   output buffer:     written and drained 6*6 = 36
  // The same layer twice: each layer's statistics are its own, the buffers count both.
  AcceleratorTop cycle("cycle", small_system(SimMode::kCycle));
  AcceleratorTop tile("tile", small_system(SimMode::kTile));
  for (AcceleratorTop* top : {&cycle, &tile}) {
    top->add_layer(counting_layer("first", 6, 6, 5));
    top->add_layer(counting_layer("second", 6, 6, 5));
  }
  sc_core::sc_start();
  for (AcceleratorTop* top : {&cycle, &tile}) {
    SCOPED_TRACE(top->name());
    ASSERT_TRUE(top->finished()) << top->error();
    const Accelerator& acc = top->accelerator();
    EXPECT_EQ(acc.activation_buffer().bytes_written(), 2 * 30u);
    EXPECT_EQ(acc.activation_buffer().bytes_read(), 2 * 60u);
    EXPECT_EQ(acc.weight_buffer().bytes_written(), 2 * 30u);
    EXPECT_EQ(acc.weight_buffer().bytes_read(), 2 * 60u);
    EXPECT_EQ(acc.output_buffer().bytes_written(), 2 * 36u);
    EXPECT_EQ(acc.output_buffer().bytes_read(), 2 * 36u);
    for (const LayerStats& s : top->stats()) {
      SCOPED_TRACE(s.name);
      EXPECT_TRUE(s.weights_resident);
      EXPECT_EQ(s.tiles, 4u);
      EXPECT_EQ(s.sram_bytes_written, 30u + 30u + 36u);
      EXPECT_EQ(s.sram_bytes_read, 60u + 60u + 36u);
      EXPECT_EQ(s.dram_bytes_read, 30u + 30u);
      EXPECT_EQ(s.dram_bytes_written, 36u);
    }
  }
}

TEST(AcceleratorTop, TheClocksDriveTheCycleCounts) {
  // One 4 x 4 x K=8 tile, by hand: the DMA issues the reads of A and W (32 bytes each) together:
  // 4 + 4 transfer cycles on the one channel, then W's 30 cycles of latency: 38, all in memory
  // cycles; the array computes array_tile_cycles(8)
  // accelerator cycles; the writer posts 4 rows of 4 bytes (one transfer cycle each). Cycle
  // counts are in accelerator cycles, so memory time scales by dram_period / accelerator_period.
  const int64_t tile = array_tile_cycles({4, 4, 1}, 8);
  struct Case {
    double accelerator_ns;
    double dram_ns;
  };
  const std::vector<Case> cases = {{1, 1}, {1, 2}, {2, 1}, {2, 2}};
  std::vector<std::unique_ptr<AcceleratorTop>> tops;
  for (SimMode mode : {SimMode::kCycle, SimMode::kTile}) {
    for (const Case& c : cases) {
      AcceleratorConfig cfg = small_system(mode);
      cfg.clock_period = sc_time(c.accelerator_ns, SC_NS);
      cfg.dram.clock_period = sc_time(c.dram_ns, SC_NS);
      tops.push_back(std::make_unique<AcceleratorTop>(
          ("top" + std::to_string(tops.size())).c_str(), cfg));
      tops.back()->add_layer(counting_layer("one_tile", 4, 4, 8));
    }
  }
  sc_core::sc_start();
  for (size_t i = 0; i < tops.size(); ++i) {
    const Case& c = cases[i % cases.size()];
    SCOPED_TRACE("accelerator " + std::to_string(c.accelerator_ns) + " ns, memory " +
                 std::to_string(c.dram_ns) + " ns, " + (i < cases.size() ? "cycle" : "tile"));
    ASSERT_TRUE(tops[i]->finished()) << tops[i]->error();
    const LayerStats& s = tops[i]->stats().at(0);
    const double scale = c.dram_ns / c.accelerator_ns;
    EXPECT_EQ(s.compute_cycles, static_cast<uint64_t>(tile));
    EXPECT_EQ(s.stall_cycles, static_cast<uint64_t>((4 + 4 + 30) * scale));
    EXPECT_EQ(s.total_cycles, static_cast<uint64_t>((4 + 4 + 30 + 4) * scale) + tile);
  }
  // The accelerator's clock alone: 42 memory cycles of 1 ns are 21 accelerator cycles of 2 ns.
  EXPECT_EQ(tops[2]->stats()[0].total_cycles, 21 + static_cast<uint64_t>(tile));
  EXPECT_EQ(tops[1]->stats()[0].total_cycles, 84 + static_cast<uint64_t>(tile));
}

TEST(Sram, CountsTheBlocksItHandsOutAndRefusesBlocksOutsideIt) {
  Sram buffer("buffer", 64);
  EXPECT_EQ(buffer.capacity_bytes(), 64u);
  // 3 rows of 4 bytes, 16 apart, from offset 8: 12 bytes, the last ending at 44.
  Code* block = buffer.write({8, 3, 4, 16});
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) block[r * 16 + c] = static_cast<Code>(10 * r + c);
  }
  EXPECT_EQ(buffer.bytes_written(), 12u);
  const Code* whole = buffer.read({0, 1, 64, 64});
  EXPECT_EQ(buffer.bytes_read(), 64u);
  EXPECT_EQ(whole[8 + 2 * 16 + 3], 23);
  EXPECT_EQ(buffer.read({8, 4, 4, 16}), whole + 8);  // ends at 60: fits
  EXPECT_EQ(buffer.bytes_read(), 64u + 16u);
  try {
    buffer.write({16, 4, 4, 16});  // would end at 68
    FAIL() << "a block past the capacity was handed out";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("buffer: write"), std::string::npos) << e.what();
  }
  EXPECT_THROW(buffer.read({0, 2, 8, 4}), std::out_of_range);  // rows overlap
  EXPECT_THROW(buffer.read({65, 1, 0, 0}), std::out_of_range);
  EXPECT_EQ(buffer.bytes_written(), 12u);
  EXPECT_EQ(buffer.bytes_read(), 80u);
}

TEST(AcceleratorConfig, RejectsAStoppedClock) {
  AcceleratorConfig cfg;
  cfg.clock_period = sc_core::SC_ZERO_TIME;
  EXPECT_THROW(cfg.validate(), std::invalid_argument);
}

}  // namespace
}  // namespace lbfp::arch
