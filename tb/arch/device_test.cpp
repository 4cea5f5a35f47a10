// The accelerator as a device (docs/registers.md): register reset values and access rules, a
// network run through command descriptors by the host driver against the direct path
// (AcceleratorTop), each malformed descriptor ending with its error code and the interrupt, and
// the interrupt's enable / status / write-1-to-clear behaviour.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <systemc>

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/arch/device_top.h"
#include "lbfp/arch/platform.h"
#include "lbfp/driver/driver.h"

namespace lbfp::arch {
namespace {

using driver::DeviceError;
namespace reg = driver::reg;
constexpr uint64_t kRegs = DevicePlatform::kDeviceBase;

DeviceConfig small_device(SimMode mode) {
  DeviceConfig c;
  c.accelerator.array = {4, 4, 1};
  c.accelerator.format = LbfpFormat();
  c.accelerator.mode = mode;
  c.accelerator.buffers = {2048, 2048, 256, 1024};
  c.accelerator.dram.size_bytes = 1 << 16;
  c.accelerator.dram.latency_cycles = 30;
  c.accelerator.dram.bytes_per_cycle = 8;
  return c;
}

std::vector<Code> codes(uint64_t count, uint64_t mul, uint64_t add, unsigned mask) {
  std::vector<Code> v(count);
  for (uint64_t i = 0; i < count; ++i) v[i] = static_cast<Code>((i * mul + add) & mask);
  return v;
}

// A GEMM with bias and ReLU, a convolution formed on chip, a GEMM without ReLU.
std::vector<GemmLayer> network() {
  std::vector<GemmLayer> layers;
  GemmLayer g;
  g.name = "fc1";
  g.m = 9, g.n = 6, g.k = 20;
  g.a = codes(g.m * g.k, 37, 11, 0x7f);
  g.w = codes(g.n * g.k, 53, 5, 0xff);
  g.a_exponent = 2;
  g.w_exponents = {0, 1, -1, 0, 2, 0};
  g.bias = {0.5f, -1.0f, 2.0f, 0.0f, 0.25f, -3.0f};
  g.out_exponent = 8;
  g.relu = true;
  layers.push_back(g);
  GemmLayer c;
  c.name = "conv";
  c.conv = ConvGeometry{6, 6, 3, 3, 3, 1};
  c.m = 16, c.n = 5, c.k = 27;
  c.a = codes(6 * 6 * 3, 29, 3, 0x7f);
  c.w = codes(c.n * c.k, 41, 7, 0xff);
  c.a_exponent = 0;
  c.w_exponents.assign(c.n, 1);
  c.out_exponent = 6;
  c.relu = true;
  layers.push_back(c);
  GemmLayer h = g;
  h.name = "fc2";
  h.m = 5, h.n = 7, h.k = 13;
  h.a = codes(h.m * h.k, 13, 1, 0xff);
  h.w = codes(h.n * h.k, 7, 2, 0xff);
  h.w_exponents.assign(h.n, -2);
  h.bias.clear();
  h.relu = false;
  layers.push_back(h);
  return layers;
}

driver::LayerData layer_data(const GemmLayer& l) {
  driver::LayerData d;
  d.shape.kind = l.conv ? driver::LayerKind::kConv : driver::LayerKind::kGemm;
  d.shape.m = l.m, d.shape.n = l.n, d.shape.k = l.k;
  if (l.conv) {
    d.shape.in_h = l.conv->in_h, d.shape.in_w = l.conv->in_w, d.shape.channels = l.conv->channels;
    d.shape.filter_h = static_cast<uint32_t>(l.conv->filter_h);
    d.shape.filter_w = static_cast<uint32_t>(l.conv->filter_w);
    d.shape.stride = static_cast<uint32_t>(l.conv->stride);
  }
  d.shape.a_exponent = l.a_exponent;
  d.shape.out_exponent = l.out_exponent;
  d.shape.relu = l.relu;
  d.a = l.a;
  d.w = l.w;
  for (int e : l.w_exponents) d.w_exponents.push_back(static_cast<int8_t>(e));
  d.bias = l.bias;
  return d;
}

// What the direct path reports for one layer.
struct Direct {
  uint64_t total_cycles, stall_cycles, macs, dram_read, dram_written;
};

// The direct path (AcceleratorTop, the host handing the accelerator GemmJobs) in a child
// process: a SystemC simulation is elaborated once per process. Returns each layer's numbers and
// outputs.
void run_direct(const DeviceConfig& config, std::vector<Direct>* stats,
                std::vector<std::vector<Code>>* outputs) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    AcceleratorTop top("top", config.accelerator);
    for (GemmLayer& l : network()) top.add_layer(l);
    sc_core::sc_start();
    if (!top.finished()) _exit(3);
    for (size_t i = 0; i < top.stats().size(); ++i) {
      const LayerStats& s = top.stats()[i];
      Direct d{s.total_cycles, s.stall_cycles, s.macs, s.dram_bytes_read, s.dram_bytes_written};
      if (write(fds[1], &d, sizeof d) != sizeof d) _exit(4);
      const std::vector<Code>& out = top.output(i);
      if (write(fds[1], out.data(), out.size()) != static_cast<ssize_t>(out.size())) _exit(4);
    }
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  for (const GemmLayer& l : network()) {
    Direct d{};
    ASSERT_EQ(read(fds[0], &d, sizeof d), static_cast<ssize_t>(sizeof d));
    std::vector<Code> out(l.m * l.n);
    size_t got = 0;
    while (got < out.size()) {
      const ssize_t r = read(fds[0], out.data() + got, out.size() - got);
      ASSERT_GT(r, 0);
      got += static_cast<size_t>(r);
    }
    stats->push_back(d);
    outputs->push_back(out);
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

tlm::tlm_response_status reg_access(Cpu& cpu, tlm::tlm_command command, uint64_t offset,
                                    uint32_t* value, uint64_t length = 4) {
  return cpu.transact(command, kRegs + offset, value, length);
}

TEST(Device, RegistersResetValues) {
  std::vector<std::pair<uint32_t, uint32_t>> seen;
  DevicePlatform platform("top", small_device(SimMode::kTile), [&](Cpu& cpu) {
    for (uint32_t offset = 0; offset < reg::kWindowBytes; offset += 4) {
      uint32_t value = 0xdeadbeef;
      if (reg_access(cpu, tlm::TLM_READ_COMMAND, offset, &value) == tlm::TLM_OK_RESPONSE) {
        seen.emplace_back(offset, value);
      }
    }
  });
  sc_core::sc_start();
  ASSERT_TRUE(platform.cpu().finished()) << platform.cpu().error();
  const uint32_t version = driver::kVersionMajor << 16 | driver::kVersionMinor << 8 |
                           driver::kDescriptorVersion;
  // Every register of the map, and nothing else, reads; all but ID, VERSION and ARRAY read 0.
  std::vector<std::pair<uint32_t, uint32_t>> expected = {
      {reg::kId, driver::kDeviceId}, {reg::kVersion, version}, {reg::kArray, 4u << 16 | 4u}};
  for (uint32_t offset :
       {reg::kCtrl, reg::kStatus, reg::kIrqEnable, reg::kIrqStatus, reg::kDescLo, reg::kDescHi,
        reg::kErrorDescLo, reg::kErrorDescHi, reg::kLayersDone}) {
    expected.emplace_back(offset, 0);
  }
  for (uint32_t offset = reg::kCyclesLo; offset <= reg::kDramWrittenHi; offset += 4) {
    expected.emplace_back(offset, 0);
  }
  EXPECT_EQ(seen, expected);
}

TEST(Device, RegisterAccessRules) {
  DevicePlatform platform("top", small_device(SimMode::kTile), [&](Cpu& cpu) {
    uint32_t v = 0x12345678;
    // Read-only registers refuse writes and keep their value.
    for (uint32_t offset : {reg::kId, reg::kVersion, reg::kStatus, reg::kLayersDone,
                            reg::kCyclesLo, reg::kDramWrittenHi}) {
      EXPECT_EQ(reg_access(cpu, tlm::TLM_WRITE_COMMAND, offset, &v),
                tlm::TLM_COMMAND_ERROR_RESPONSE)
          << offset;
    }
    EXPECT_EQ(cpu.read32(kRegs + reg::kId), driver::kDeviceId);
    // Holes in the map, misaligned and wider accesses.
    EXPECT_EQ(reg_access(cpu, tlm::TLM_READ_COMMAND, 0x34, &v), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(reg_access(cpu, tlm::TLM_WRITE_COMMAND, 0xfc, &v), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(reg_access(cpu, tlm::TLM_READ_COMMAND, 0x02, &v), tlm::TLM_ADDRESS_ERROR_RESPONSE);
    uint32_t two[2] = {};
    EXPECT_EQ(reg_access(cpu, tlm::TLM_READ_COMMAND, reg::kDescLo, two, 8),
              tlm::TLM_BURST_ERROR_RESPONSE);
    EXPECT_EQ(reg_access(cpu, tlm::TLM_READ_COMMAND, reg::kId, &v, 2),
              tlm::TLM_BURST_ERROR_RESPONSE);
    // Past the window: the router finds no target.
    EXPECT_EQ(reg_access(cpu, tlm::TLM_READ_COMMAND, reg::kWindowBytes, &v),
              tlm::TLM_ADDRESS_ERROR_RESPONSE);
    // Reserved bits read as zero.
    cpu.write32(kRegs + reg::kIrqEnable, 0xffffffff);
    EXPECT_EQ(cpu.read32(kRegs + reg::kIrqEnable), driver::kIrqDone | driver::kIrqError);
    cpu.write32(kRegs + reg::kIrqEnable, 0);
    // CTRL reads as zero; DESC holds 64 bits.
    EXPECT_EQ(cpu.read32(kRegs + reg::kCtrl), 0u);
    cpu.write32(kRegs + reg::kDescLo, 0x89abcdef);
    cpu.write32(kRegs + reg::kDescHi, 0x01234567);
    EXPECT_EQ(cpu.read32(kRegs + reg::kDescLo), 0x89abcdefu);
    EXPECT_EQ(cpu.read32(kRegs + reg::kDescHi), 0x01234567u);
    // Soft reset: back to the reset values.
    cpu.write32(kRegs + reg::kIrqEnable, driver::kIrqDone);
    cpu.write32(kRegs + reg::kCtrl, driver::kCtrlSoftReset);
    EXPECT_EQ(cpu.read32(kRegs + reg::kDescLo), 0u);
    EXPECT_EQ(cpu.read32(kRegs + reg::kDescHi), 0u);
    EXPECT_EQ(cpu.read32(kRegs + reg::kIrqEnable), 0u);
  });
  sc_core::sc_start();
  ASSERT_TRUE(platform.cpu().finished()) << platform.cpu().error();
}

TEST(Device, NetworkThroughDescriptorsMatchesTheDirectPath) {
  const DeviceConfig config = small_device(SimMode::kCycle);
  std::vector<Direct> direct;
  std::vector<std::vector<Code>> direct_outputs;
  run_direct(config, &direct, &direct_outputs);
  ASSERT_EQ(direct.size(), 3u);

  std::vector<std::vector<Code>> outputs;
  driver::RunResult result;
  uint64_t parameter_bytes = 0;
  DevicePlatform platform("top", config, [&](Cpu& cpu) {
    driver::Driver drv(cpu, kRegs, 0, config.accelerator.dram.size_bytes);
    drv.probe();
    std::vector<driver::LayerData> layers;
    for (const GemmLayer& l : network()) {
      layers.push_back(layer_data(l));
      parameter_bytes += driver::kDescriptorBytes + l.n + 4 * l.bias.size();
    }
    std::vector<uint64_t> out_addresses;
    const uint64_t first = drv.load_network(layers, &out_addresses);
    result = drv.run(first);
    for (size_t i = 0; i < layers.size(); ++i) {
      outputs.emplace_back(layers[i].shape.m * layers[i].shape.n);
      drv.read_output(out_addresses[i], outputs.back().data(), outputs.back().size());
    }
  });
  sc_core::sc_start();
  ASSERT_TRUE(platform.cpu().finished()) << platform.cpu().error();
  ASSERT_TRUE(result.ok()) << driver::device_error_name(result.error);
  EXPECT_EQ(result.layers_done, 3u);
  EXPECT_EQ(outputs, direct_outputs);

  const auto& stats = platform.device().accelerator().stats();
  ASSERT_EQ(stats.size(), 3u);
  driver::Counters sum;
  for (size_t i = 0; i < stats.size(); ++i) {
    EXPECT_EQ(stats[i].total_cycles, direct[i].total_cycles) << i;
    EXPECT_EQ(stats[i].stall_cycles, direct[i].stall_cycles) << i;
    EXPECT_EQ(stats[i].macs, direct[i].macs) << i;
    EXPECT_EQ(stats[i].dram_bytes_read, direct[i].dram_read) << i;
    EXPECT_EQ(stats[i].dram_bytes_written, direct[i].dram_written) << i;
    sum.cycles += direct[i].total_cycles;
    sum.stall_cycles += direct[i].stall_cycles;
    sum.macs += direct[i].macs;
    sum.dram_bytes_read += direct[i].dram_read;
    sum.dram_bytes_written += direct[i].dram_written;
  }
  // The counters: the layers' own, plus the descriptors, exponents and bias the device read,
  // and the time it spent reading them.
  EXPECT_EQ(result.counters.stall_cycles, sum.stall_cycles);
  EXPECT_EQ(result.counters.macs, sum.macs);
  EXPECT_EQ(result.counters.dram_bytes_written, sum.dram_bytes_written);
  EXPECT_EQ(result.counters.dram_bytes_read, sum.dram_bytes_read + parameter_bytes);
  EXPECT_GT(result.counters.cycles, sum.cycles);
}

// Every number of a layer's statistics (not its name), as text, so a difference names its
// field.
std::vector<std::string> stats_fields(const LayerStats& s) {
  auto op = [](const OperandTraffic& t) {
    return std::to_string(t.dram_read) + "/" + std::to_string(t.dram_write) + "/" +
           std::to_string(t.sram_read) + "/" + std::to_string(t.sram_write);
  };
  return {"tiles " + std::to_string(s.tiles),
          "total " + std::to_string(s.total_cycles), "compute " + std::to_string(s.compute_cycles),
          "stall " + std::to_string(s.stall_cycles), "macs " + std::to_string(s.macs),
          "zero " + std::to_string(s.zero_macs), "pe " + std::to_string(s.array_pe_cycles),
          "util " + std::to_string(s.utilization), "sat " + std::to_string(s.outputs_saturated),
          "ovf " + std::to_string(s.overflow_steps), "dram r " + std::to_string(s.dram_bytes_read),
          "dram w " + std::to_string(s.dram_bytes_written),
          "sram r " + std::to_string(s.sram_bytes_read),
          "sram w " + std::to_string(s.sram_bytes_written),
          "db " + std::to_string(s.double_buffered), "wr " + std::to_string(s.weights_resident),
          "order " + s.loop_order, "kc " + std::to_string(s.k_chunks),
          "lb " + std::to_string(s.dram_lower_bound), "ifmap " + op(s.ifmap),
          "filter " + op(s.filter), "ofmap " + op(s.ofmap), "psum " + op(s.psum),
          "mul " + std::to_string(s.multiplies), "shift " + std::to_string(s.shifts),
          "acc " + std::to_string(s.accumulates), "rq " + std::to_string(s.requantizations),
          "fill " + std::to_string(s.fill_drain_cycles),
          "st if " + std::to_string(s.stall_ifmap_cycles),
          "st f " + std::to_string(s.stall_filter_cycles),
          "st o " + std::to_string(s.stall_output_cycles),
          "wb " + std::to_string(s.writeback_cycles)};
}

// What `lbfp sim` runs (DeviceTop: the host driver, descriptors, START, the interrupt) against
// the direct path (AcceleratorTop), side by side in one simulation: in tile mode output-
// stationary, in cycle mode weight-stationary with a slower memory clock, each layer's outputs
// and every statistic are the same; and the same again where the outputs are not kept (as
// `lbfp sim` runs them), whose output() has nothing.
TEST(DeviceTop, MatchesTheDirectPathLayerForLayer) {
  AcceleratorConfig tile = small_device(SimMode::kTile).accelerator;
  AcceleratorConfig cycle = small_device(SimMode::kCycle).accelerator;
  cycle.array.dataflow = Dataflow::kWeightStationary;
  cycle.dram.clock_period = sc_core::sc_time(1.5, sc_core::SC_NS);
  AcceleratorTop direct_tile("direct_tile", tile), direct_cycle("direct_cycle", cycle);
  DeviceTop device_tile("device_tile", tile), device_cycle("device_cycle", cycle);
  AcceleratorTop direct_unkept("direct_unkept", tile);
  DeviceTop device_unkept("device_unkept", tile);
  direct_unkept.keep_outputs(false);
  device_unkept.keep_outputs(false);
  std::vector<GemmLayer> layers = network();
  layers.push_back(network()[1]);  // a layer after a convolution, and again after a GEMM
  layers.back().name = "conv_again";
  layers.push_back(network()[0]);
  for (const GemmLayer& l : layers) {
    direct_tile.add_layer(l);
    direct_cycle.add_layer(l);
    device_tile.add_layer(l);
    device_cycle.add_layer(l);
    direct_unkept.add_layer(l);
    device_unkept.add_layer(l);
  }
  size_t progress = 0;
  device_tile.set_progress([&](size_t done, size_t total) {
    EXPECT_EQ(done, ++progress);
    EXPECT_EQ(total, layers.size());
  });
  sc_core::sc_start();
  const std::pair<AcceleratorTop*, DeviceTop*> pairs[] = {{&direct_tile, &device_tile},
                                                          {&direct_cycle, &device_cycle}};
  for (const auto& [direct, device] : pairs) {
    ASSERT_TRUE(direct->finished()) << direct->error();
    ASSERT_TRUE(device->finished()) << device->error();
    const std::vector<LayerStats> device_stats = device->stats();
    ASSERT_EQ(device_stats.size(), layers.size());
    ASSERT_EQ(direct->stats().size(), layers.size());
    for (size_t i = 0; i < layers.size(); ++i) {
      EXPECT_EQ(device->output(i), direct->output(i)) << device->name() << " layer " << i;
      EXPECT_EQ(device_stats[i].name, layers[i].name);
      EXPECT_EQ(stats_fields(device_stats[i]), stats_fields(direct->stats()[i]))
          << device->name() << " layer " << i;
    }
  }
  EXPECT_EQ(progress, layers.size());
  ASSERT_TRUE(direct_unkept.finished()) << direct_unkept.error();
  ASSERT_TRUE(device_unkept.finished()) << device_unkept.error();
  ASSERT_EQ(device_unkept.stats().size(), layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    EXPECT_EQ(stats_fields(device_unkept.stats()[i]), stats_fields(device_tile.stats()[i]));
    EXPECT_EQ(stats_fields(direct_unkept.stats()[i]), stats_fields(direct_tile.stats()[i]));
  }
  EXPECT_THROW(device_unkept.output(0), std::out_of_range);
  EXPECT_THROW(direct_unkept.output(0), std::out_of_range);
}

// A layer whose operands fit the memory but whose exponents, bias and descriptor do not after
// them is refused before the simulation, naming the layer.
TEST(DeviceTop, RefusesALayerWhoseDescriptorDoesNotFit) {
  AcceleratorConfig config = small_device(SimMode::kTile).accelerator;
  // A 192, W 128, outputs 64 bytes after alignment (384), exponents 64, bias 64, descriptor 192.
  GemmLayer layer = network()[0];
  config.dram.size_bytes = 384;
  DeviceTop device("device", config);
  try {
    device.add_layer(layer);
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer 'fc1': needs 704 bytes of DRAM with its weight "
                                         "exponents, bias and command descriptor, the DRAM has "
                                         "384 bytes"),
              std::string::npos)
        << e.what();
  }
}

// A convolution as the device runs it from one descriptor (its input map without the padding,
// all groups), and as the host hands it over without padding or groups: the map padded with
// zero codes, one layer per group with the group's channels, weights, exponents and bias.
struct ConvCase {
  std::string name;
  uint64_t h, w, c, n, filter, stride, pad, groups;
  bool bias, relu;
  uint64_t out_h() const { return (h + 2 * pad - filter) / stride + 1; }
  uint64_t out_w() const { return (w + 2 * pad - filter) / stride + 1; }
  uint64_t m() const { return out_h() * out_w(); }
  uint64_t group_k() const { return c / groups * filter * filter; }
};

struct ConvData {
  std::vector<Code> map;  // h x w x c, NHWC
  std::vector<Code> w;    // n x group_k
  std::vector<int8_t> w_exponents;
  std::vector<float> bias;
};

ConvData conv_data(const ConvCase& cc, uint64_t seed) {
  ConvData d;
  d.map = codes(cc.h * cc.w * cc.c, 29 + 2 * seed, 3 + seed, 0x7f);
  d.w = codes(cc.n * cc.group_k(), 41 + 2 * seed, 7 + seed, 0xff);
  for (uint64_t i = 0; i < cc.n; ++i) d.w_exponents.push_back(static_cast<int8_t>(i % 3) - 1);
  if (cc.bias) {
    for (uint64_t i = 0; i < cc.n; ++i) d.bias.push_back(0.5f * static_cast<float>(i) - 1.0f);
  }
  return d;
}

driver::Descriptor conv_shape(const ConvCase& cc, uint64_t in_h, uint64_t in_w, uint64_t channels,
                              uint64_t n, uint32_t pad, uint32_t groups) {
  driver::Descriptor d;
  d.kind = driver::LayerKind::kConv;
  d.m = cc.m();
  d.n = n;
  d.k = cc.group_k();
  d.in_h = in_h, d.in_w = in_w, d.channels = channels;
  d.filter_h = d.filter_w = static_cast<uint32_t>(cc.filter);
  d.stride = static_cast<uint32_t>(cc.stride);
  d.pad = pad;
  d.groups = groups;
  d.a_exponent = 1;
  d.out_exponent = 3;
  d.relu = cc.relu;
  return d;
}

// The device's layer: one descriptor with pad and groups.
driver::LayerData device_layer(const ConvCase& cc, const ConvData& data) {
  driver::LayerData l;
  l.shape = conv_shape(cc, cc.h, cc.w, cc.c, cc.n, static_cast<uint32_t>(cc.pad),
                       static_cast<uint32_t>(cc.groups));
  l.a = data.map;
  l.w = data.w;
  l.w_exponents = data.w_exponents;
  l.bias = data.bias;
  return l;
}

// The host's layers: one per group, each with its channels of the padded map.
std::vector<driver::LayerData> host_layers(const ConvCase& cc, const ConvData& data,
                                           Code zero) {
  const uint64_t ph = cc.h + 2 * cc.pad, pw = cc.w + 2 * cc.pad;
  const uint64_t cg = cc.c / cc.groups, ng = cc.n / cc.groups;
  std::vector<driver::LayerData> layers;
  for (uint64_t g = 0; g < cc.groups; ++g) {
    driver::LayerData l;
    l.shape = conv_shape(cc, ph, pw, cg, ng, 0, 1);
    l.a.assign(ph * pw * cg, zero);
    for (uint64_t y = 0; y < cc.h; ++y) {
      for (uint64_t x = 0; x < cc.w; ++x) {
        for (uint64_t c = 0; c < cg; ++c) {
          l.a[((y + cc.pad) * pw + x + cc.pad) * cg + c] =
              data.map[(y * cc.w + x) * cc.c + g * cg + c];
        }
      }
    }
    const uint64_t k = cc.group_k();
    l.w.assign(data.w.begin() + static_cast<std::ptrdiff_t>(g * ng * k),
               data.w.begin() + static_cast<std::ptrdiff_t>((g + 1) * ng * k));
    l.w_exponents.assign(data.w_exponents.begin() + static_cast<std::ptrdiff_t>(g * ng),
                         data.w_exponents.begin() + static_cast<std::ptrdiff_t>((g + 1) * ng));
    if (cc.bias) {
      l.bias.assign(data.bias.begin() + static_cast<std::ptrdiff_t>(g * ng),
                    data.bias.begin() + static_cast<std::ptrdiff_t>((g + 1) * ng));
    }
    layers.push_back(std::move(l));
  }
  return layers;
}

// A padded convolution, a padded depthwise convolution with stride 2 and a padded grouped
// convolution, each one descriptor run by the device, give bit for bit the outputs of the host
// padding the map and splitting the groups; the padded border is not read from memory.
void check_padding_and_groups(const DeviceConfig& config, bool whole_map_fits) {
  const std::vector<ConvCase> cases = {
      {"padded", 5, 5, 3, 4, 3, 1, 1, 1, true, true},
      {"depthwise", 6, 6, 4, 4, 3, 2, 1, 4, false, true},
      {"grouped", 4, 5, 6, 6, 3, 1, 2, 2, true, false},
  };
  const Code zero = encode(LbfpFormat(), 0.0, 1);
  std::vector<std::vector<Code>> device_out, host_out;
  driver::RunResult device_run, host_run;
  DevicePlatform platform("top", config, [&](Cpu& cpu) {
    driver::Driver drv(cpu, kRegs, 0, config.accelerator.dram.size_bytes);
    drv.probe();
    std::vector<driver::LayerData> device_layers, split;
    std::vector<size_t> first_split;
    for (size_t i = 0; i < cases.size(); ++i) {
      const ConvData data = conv_data(cases[i], i);
      device_layers.push_back(device_layer(cases[i], data));
      first_split.push_back(split.size());
      for (auto& l : host_layers(cases[i], data, zero)) split.push_back(std::move(l));
    }
    std::vector<uint64_t> outs;
    device_run = drv.run(drv.load_network(device_layers, &outs));
    for (size_t i = 0; i < cases.size(); ++i) {
      device_out.emplace_back(cases[i].m() * cases[i].n);
      drv.read_output(outs[i], device_out.back().data(), device_out.back().size());
    }
    drv.release_all();
    outs.clear();
    host_run = drv.run(drv.load_network(split, &outs));
    // The groups' outputs side by side: M x N.
    for (size_t i = 0; i < cases.size(); ++i) {
      const ConvCase& cc = cases[i];
      const uint64_t ng = cc.n / cc.groups;
      host_out.emplace_back(cc.m() * cc.n);
      for (uint64_t g = 0; g < cc.groups; ++g) {
        std::vector<Code> part(cc.m() * ng);
        drv.read_output(outs[first_split[i] + g], part.data(), part.size());
        for (uint64_t r = 0; r < cc.m(); ++r) {
          std::copy(part.begin() + static_cast<std::ptrdiff_t>(r * ng),
                    part.begin() + static_cast<std::ptrdiff_t>((r + 1) * ng),
                    host_out.back().begin() + static_cast<std::ptrdiff_t>(r * cc.n + g * ng));
        }
      }
    }
  });
  sc_core::sc_start();
  ASSERT_TRUE(platform.cpu().finished()) << platform.cpu().error();
  ASSERT_TRUE(device_run.ok()) << driver::device_error_name(device_run.error);
  ASSERT_TRUE(host_run.ok()) << driver::device_error_name(host_run.error);
  EXPECT_EQ(device_run.layers_done, 3u);
  EXPECT_EQ(host_run.layers_done, 7u);
  ASSERT_EQ(device_out.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(device_out[i], host_out[i]) << cases[i].name;
    const auto nonzero = std::count_if(device_out[i].begin(), device_out[i].end(),
                                       [](Code c) { return !is_zero_code(LbfpFormat(), c); });
    EXPECT_GT(nonzero * 4, static_cast<std::ptrdiff_t>(device_out[i].size())) << cases[i].name;
  }
  EXPECT_EQ(device_run.counters.macs, host_run.counters.macs);

  // The accelerator ran one job per group, the same jobs on both paths but for the input map.
  const auto& stats = platform.device().accelerator().stats();
  ASSERT_EQ(stats.size(), 14u);
  for (size_t j = 0; j < 7; ++j) {
    const LayerStats& dev = stats[j];
    const LayerStats& host = stats[7 + j];
    EXPECT_EQ(dev.macs, host.macs) << j;
    EXPECT_EQ(dev.filter.dram_read, host.filter.dram_read) << j;
    EXPECT_EQ(dev.dram_bytes_written, host.dram_bytes_written) << j;
    EXPECT_LT(dev.ifmap.dram_read, host.ifmap.dram_read) << j;
  }
  if (whole_map_fits) {
    // The padded layer's map is loaded once: the host's 7 x 7 x 3 padded codes, the device
    // only the 5 x 5 x 3 in memory (the lower bound).
    EXPECT_EQ(stats[7].ifmap.dram_read, 7u * 7u * 3u);
    EXPECT_EQ(stats[0].ifmap.dram_read, 5u * 5u * 3u);
    EXPECT_EQ(stats[0].ifmap.dram_read, stats[0].dram_lower_bound - 4u * 27u - 25u * 4u);
  }
}

TEST(Device, PaddingAndGroupsRunOnTheDeviceAsOnTheHost) {
  check_padding_and_groups(small_device(SimMode::kTile), true);
}

TEST(Device, PaddingAndGroupsWeightStationaryCycleMode) {
  DeviceConfig config = small_device(SimMode::kCycle);
  config.accelerator.array.dataflow = Dataflow::kWeightStationary;
  check_padding_and_groups(config, false);
}

// Each malformed chain, run in turn on one device: the run stops with the error code, the
// interrupt, the descriptor it stopped at, and no layer run past it.
// A well-formed padded convolution with the shape of network()[0] (M 9, N 6, K 20).
void as_conv(driver::Descriptor& d) {
  d.kind = driver::LayerKind::kConv;
  d.in_h = d.in_w = 2, d.channels = 5, d.filter_h = d.filter_w = 2, d.stride = 1, d.pad = 1;
}

TEST(Device, MalformedDescriptorsEndWithTheirErrorAndTheInterrupt) {
  const DeviceConfig config = small_device(SimMode::kTile);
  using Bytes = std::array<uint8_t, driver::kDescriptorBytes>;
  struct Case {
    std::string name;
    std::function<void(driver::Descriptor&)> edit;  // before encoding
    std::function<void(Bytes&)> edit_bytes;         // after
    DeviceError error;
  };
  auto none = [](auto&) {};
  std::vector<Case> cases = {
      {"magic", none, [](Bytes& b) { b[0] ^= 1; }, DeviceError::kBadMagic},
      {"version", none, [](Bytes& b) { b[4] = 2; }, DeviceError::kBadMagic},
      {"kind", none, [](Bytes& b) { b[6] = 7; }, DeviceError::kBadKind},
      {"zero shape", [](auto& d) { d.k = 0; }, none, DeviceError::kBadShape},
      {"huge shape", [](auto& d) { d.m = uint64_t{1} << 40; }, none, DeviceError::kTooLarge},
      {"huge work", [](auto& d) { d.m = d.n = d.k = uint64_t{1} << 20; }, none,
       DeviceError::kTooLarge},
      {"output outside memory", [](auto& d) { d.out_address = (1 << 16) - 8; }, none,
       DeviceError::kBadAddress},
      {"address wraps", [](auto& d) { d.a_address = ~uint64_t{0} - 3; }, none,
       DeviceError::kBadAddress},
      {"next misaligned", [](auto& d) { d.next_address = 0x1008; }, none,
       DeviceError::kBadAddress},
      {"reserved flag", none, [](Bytes& b) { b[8] |= 0x80; }, DeviceError::kUnsupported},
      {"GEMM padding", [](auto& d) { d.pad = 1; }, none, DeviceError::kUnsupported},
      {"GEMM groups", [](auto& d) { d.groups = 2; }, none, DeviceError::kUnsupported},
      // Convolutions of the GEMM's M 9, N 6, K 20: a 2 x 2 x 5 map padded by 1, 2 x 2 filters.
      {"padding as wide as the filter", [](auto& d) { as_conv(d), d.pad = 2; }, none,
       DeviceError::kBadPadding},
      {"padding wider than the filter", [](auto& d) { as_conv(d), d.pad = 0xffffffff; }, none,
       DeviceError::kBadPadding},
      {"zero groups", [](auto& d) { as_conv(d), d.groups = 0; }, none, DeviceError::kBadGroups},
      {"groups not dividing the channels", [](auto& d) { as_conv(d), d.groups = 2; }, none,
       DeviceError::kBadGroups},
      {"groups not dividing the outputs", [](auto& d) { as_conv(d), d.groups = 5; }, none,
       DeviceError::kBadGroups},
      {"K not a group's channels x taps", [](auto& d) { as_conv(d), d.channels = 10; }, none,
       DeviceError::kBadShape},
      {"M not the padded map's outputs", [](auto& d) { as_conv(d), d.pad = 0; }, none,
       DeviceError::kBadShape},
      {"exponent", [](auto& d) { d.out_exponent = -128; }, none, DeviceError::kBadExponent},
      {"conv geometry", [](auto& d) {
         d.kind = driver::LayerKind::kConv;
         d.in_h = d.in_w = 2, d.channels = 1, d.filter_h = d.filter_w = 3, d.stride = 1;
       }, none, DeviceError::kBadShape},
  };
  struct Outcome {
    uint32_t status, irq_status, layers;
    uint64_t error_desc;
    bool line;
  };
  std::vector<Outcome> outcomes;
  Outcome loop{}, self_loop{}, bad_first{}, bad_channel_exponent{}, after{};
  uint64_t descriptor_at = 0, second_at = 0, good_at = 0;
  DevicePlatform platform("top", config, [&](Cpu& cpu) {
    driver::Driver drv(cpu, kRegs, 0, config.accelerator.dram.size_bytes);
    GemmLayer l = network()[0];
    const driver::LayerData data = layer_data(l);
    std::vector<uint64_t> outs;
    const uint64_t good = drv.load_network({data, data}, &outs);
    good_at = good;
    drv.write_reg(reg::kIrqEnable, driver::kIrqDone | driver::kIrqError);
    driver::Descriptor base;
    {
      Bytes b;
      cpu.read(good, b.data(), b.size());
      driver::DecodeLimits limits;
      limits.memory_bytes = config.accelerator.dram.size_bytes;
      ASSERT_EQ(driver::decode_descriptor(b.data(), b.size(), limits, &base), DeviceError::kNone);
      driver::Descriptor conv = base;  // the convolution cases' starting point is well formed
      as_conv(conv);
      conv.next_address = 0;
      const Bytes cb = driver::encode_descriptor(conv);
      ASSERT_EQ(driver::decode_descriptor(cb.data(), cb.size(), limits, nullptr),
                DeviceError::kNone);
    }
    second_at = base.next_address;
    descriptor_at = drv.allocate(driver::kDescriptorBytes);
    auto start = [&](uint64_t first) {
      drv.write_reg(reg::kDescLo, static_cast<uint32_t>(first));
      drv.write_reg(reg::kDescHi, static_cast<uint32_t>(first >> 32));
      drv.write_reg(reg::kCtrl, driver::kCtrlStart);
      cpu.wait_for_interrupt();
      Outcome o{drv.read_reg(reg::kStatus), drv.read_reg(reg::kIrqStatus),
                drv.read_reg(reg::kLayersDone), drv.read_reg64(reg::kErrorDescLo),
                cpu.irq.read()};
      drv.write_reg(reg::kIrqStatus, o.irq_status);
      return o;
    };
    for (const Case& c : cases) {
      driver::Descriptor d = base;
      d.next_address = 0;
      c.edit(d);
      Bytes bytes = driver::encode_descriptor(d);
      c.edit_bytes(bytes);
      cpu.write(descriptor_at, bytes.data(), bytes.size());
      outcomes.push_back(start(descriptor_at));
    }
    // A chain that comes back to its first descriptor after a good layer; one that points at
    // itself; a first descriptor outside memory; a channel exponent of -128.
    driver::Descriptor d = base;
    d.next_address = good;
    drv.write_descriptor(second_at, d);
    loop = start(good);
    d.next_address = descriptor_at;
    drv.write_descriptor(descriptor_at, d);
    self_loop = start(descriptor_at);
    bad_first = start(uint64_t{1} << 20);
    d = base;
    d.next_address = 0;
    const int8_t bad = -128;
    cpu.write(base.w_exponents_address + 3, &bad, 1);
    drv.write_descriptor(descriptor_at, d);
    bad_channel_exponent = start(descriptor_at);
    // The device runs a good chain after all that.
    const int8_t fine = 0;
    cpu.write(base.w_exponents_address + 3, &fine, 1);
    d.next_address = 0;
    drv.write_descriptor(second_at, d);
    after = start(good);
  });
  sc_core::sc_start();
  ASSERT_TRUE(platform.cpu().finished()) << platform.cpu().error();
  ASSERT_EQ(outcomes.size(), cases.size());
  auto expect_error = [&](const std::string& what, const Outcome& o, DeviceError error,
                          uint64_t at, uint32_t layers) {
    EXPECT_EQ(o.status, static_cast<uint32_t>(error) << driver::kStatusErrorShift) << what;
    EXPECT_EQ(o.irq_status, driver::kIrqError) << what;
    EXPECT_TRUE(o.line) << what;
    EXPECT_EQ(o.error_desc, at) << what;
    EXPECT_EQ(o.layers, layers) << what;
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    expect_error(cases[i].name, outcomes[i], cases[i].error, descriptor_at, 0);
  }
  expect_error("loop", loop, DeviceError::kDescriptorLoop, good_at, 2);
  expect_error("self loop", self_loop, DeviceError::kDescriptorLoop, descriptor_at, 1);
  expect_error("first outside memory", bad_first, DeviceError::kBadAddress, uint64_t{1} << 20, 0);
  expect_error("channel exponent", bad_channel_exponent, DeviceError::kBadExponent,
               descriptor_at, 0);
  EXPECT_EQ(after.status, driver::kStatusDone);
  EXPECT_EQ(after.irq_status, driver::kIrqDone);
  EXPECT_EQ(after.layers, 2u);
}

TEST(Device, InterruptRaisesOnEnabledStatusAndClearsOnWriteOne) {
  const DeviceConfig config = small_device(SimMode::kTile);
  std::vector<std::string> failures;
  DevicePlatform platform("top", config, [&](Cpu& cpu) {
    driver::Driver drv(cpu, kRegs, 0, config.accelerator.dram.size_bytes);
    std::vector<uint64_t> outs;
    const uint64_t first = drv.load_network({layer_data(network()[2])}, &outs);
    auto check = [&](bool ok, const std::string& what) {
      if (!ok) failures.push_back(what);
    };
    // Interrupts disabled: the run ends (STATUS.done, IRQ_STATUS.done) with the line low.
    drv.write_reg(reg::kDescLo, static_cast<uint32_t>(first));
    drv.write_reg(reg::kCtrl, driver::kCtrlStart);
    check(drv.read_reg(reg::kStatus) == driver::kStatusBusy, "busy after START");
    while ((drv.read_reg(reg::kStatus) & driver::kStatusBusy) != 0) {
      sc_core::wait(100, sc_core::SC_NS);
    }
    check(drv.read_reg(reg::kStatus) == driver::kStatusDone, "done");
    check(drv.read_reg(reg::kIrqStatus) == driver::kIrqDone, "irq status done");
    check(!cpu.irq.read(), "line low while disabled");
    check(drv.read_reg(reg::kLayersDone) == 1, "one layer");
    const uint64_t cycles = drv.read_reg64(reg::kCyclesLo);
    check(cycles > 0, "cycles counted");
    sc_core::wait(1000, sc_core::SC_NS);
    check(drv.read_reg64(reg::kCyclesLo) == cycles, "cycles stop with the run");
    // Enabling the pending cause raises the line; writing 0 or the other bit does not clear it.
    drv.write_reg(reg::kIrqEnable, driver::kIrqDone);
    sc_core::wait(sc_core::SC_ZERO_TIME);
    check(cpu.irq.read(), "line high once enabled");
    drv.write_reg(reg::kIrqStatus, 0);
    drv.write_reg(reg::kIrqStatus, driver::kIrqError);
    sc_core::wait(sc_core::SC_ZERO_TIME);
    check(cpu.irq.read() && drv.read_reg(reg::kIrqStatus) == driver::kIrqDone, "not cleared");
    // Disabling lowers the line, the status stays; write 1 clears it.
    drv.write_reg(reg::kIrqEnable, 0);
    sc_core::wait(sc_core::SC_ZERO_TIME);
    check(!cpu.irq.read() && drv.read_reg(reg::kIrqStatus) == driver::kIrqDone, "masked");
    drv.write_reg(reg::kIrqEnable, driver::kIrqDone);
    drv.write_reg(reg::kIrqStatus, driver::kIrqDone);
    sc_core::wait(sc_core::SC_ZERO_TIME);
    check(!cpu.irq.read() && drv.read_reg(reg::kIrqStatus) == 0, "cleared by write 1");
    // A second run through the driver: START zeroes the counters, the same layer counts the same.
    const driver::RunResult again = drv.run(first);
    check(again.ok() && again.counters.cycles == cycles, "second run");
    check(!cpu.irq.read(), "driver cleared the interrupt");
    check(drv.read_reg(reg::kStatus) == driver::kStatusDone, "done again");
  });
  sc_core::sc_start();
  ASSERT_TRUE(platform.cpu().finished()) << platform.cpu().error();
  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures);
}

TEST(Device, SoftResetWhileBusyStopsAfterTheLayerInFlight) {
  const DeviceConfig config = small_device(SimMode::kTile);
  std::vector<std::string> failures;
  DevicePlatform platform("top", config, [&](Cpu& cpu) {
    driver::Driver drv(cpu, kRegs, 0, config.accelerator.dram.size_bytes);
    std::vector<uint64_t> outs;
    const driver::LayerData layer = layer_data(network()[0]);
    const uint64_t first = drv.load_network({layer, layer, layer}, &outs);
    auto check = [&](bool ok, const std::string& what) {
      if (!ok) failures.push_back(what);
    };
    drv.write_reg(reg::kIrqEnable, driver::kIrqDone | driver::kIrqError);
    drv.write_reg(reg::kDescLo, static_cast<uint32_t>(first));
    drv.write_reg(reg::kCtrl, driver::kCtrlStart);
    drv.write_reg(reg::kCtrl, driver::kCtrlSoftReset);
    check(drv.read_reg(reg::kStatus) == driver::kStatusBusy, "busy until the layer ends");
    check(drv.read_reg(reg::kIrqEnable) == (driver::kIrqDone | driver::kIrqError),
          "registers kept while busy");
    drv.write_reg(reg::kCtrl, driver::kCtrlStart);  // ignored while busy
    while ((drv.read_reg(reg::kStatus) & driver::kStatusBusy) != 0) {
      sc_core::wait(100, sc_core::SC_NS);
    }
    check(drv.read_reg(reg::kStatus) == 0, "status reset");
    check(drv.read_reg(reg::kIrqStatus) == 0 && !cpu.irq.read(), "no interrupt");
    check(drv.read_reg(reg::kIrqEnable) == 0 && drv.read_reg(reg::kDescLo) == 0,
          "registers reset");
    check(drv.read_reg64(reg::kCyclesLo) == 0 && drv.read_reg(reg::kLayersDone) == 0,
          "counters reset");
    check(platform.device().accelerator().stats().size() == 1, "the layer in flight only");
    // The next START runs the whole chain as on a fresh device.
    const driver::RunResult rerun = drv.run(first);
    check(rerun.ok() && rerun.layers_done == 3, "the next run completes");
    const uint64_t out_bytes = layer.shape.m * layer.shape.n;
    std::vector<std::vector<uint8_t>> outputs(3, std::vector<uint8_t>(out_bytes));
    for (size_t i = 0; i < 3; ++i) drv.read_output(outs[i], outputs[i].data(), outputs[i].size());
    check(outputs[0] == outputs[1] && outputs[1] == outputs[2], "the same outputs thrice");
  });
  sc_core::sc_start();
  ASSERT_TRUE(platform.cpu().finished()) << platform.cpu().error();
  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures);
  // The layer cut short by the reset and the three of the next run: the same layer, the same
  // statistics (no state of the interrupted run carries over).
  const auto& stats = platform.device().accelerator().stats();
  ASSERT_EQ(stats.size(), 4u);
  for (size_t i = 1; i < stats.size(); ++i) {
    EXPECT_EQ(stats_fields(stats[i]), stats_fields(stats[0])) << i;
  }
}

}  // namespace
}  // namespace lbfp::arch
