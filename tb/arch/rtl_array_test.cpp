// Mixed-level co-simulation: the Verilated RTL array in place of the C++ array inside the same
// SystemC model. Both run the same layers in one simulation; outputs, saturation flags and
// cycle counts (per layer: compute, stalls, total) must be equal, and equal to the golden GEMM.
#include <gtest/gtest.h>

#include <random>
#include <systemc>

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/arch/rtl_array.h"
#include "lbfp/gemm.h"

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

}  // namespace
}  // namespace lbfp::arch
