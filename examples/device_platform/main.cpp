// A virtual platform with the accelerator as a device (docs/registers.md): a CPU-side initiator
// runs host software written against the driver (lbfp/driver/driver.h), a router decodes
// addresses, a memory has its own latency, and the device raises its interrupt when the chain of
// descriptors is done. The host places a two-layer network, runs it, reads the outputs and the
// performance counters, and checks that the run's CYCLES are what the model predicts: the
// layers' own cycles plus, per descriptor, the blocking reads of the descriptor, the exponents
// and the bias (each latency + ceil(bytes / bandwidth) memory cycles).
//
//   lbfp_device_example [--latency CYCLES]   (memory latency, default 100)
// Prints one line of numbers; exit status 0 when the prediction holds, 1 when not, 2 on bad
// arguments.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <systemc>

#include "lbfp/arch/platform.h"
#include "lbfp/driver/driver.h"

namespace {

using lbfp::arch::DevicePlatform;
namespace driver = lbfp::driver;

driver::LayerData gemm_layer(uint64_t m, uint64_t n, uint64_t k, uint64_t seed, bool bias) {
  driver::LayerData d;
  d.shape.m = m, d.shape.n = n, d.shape.k = k;
  d.shape.a_exponent = 1;
  d.shape.out_exponent = 7;
  d.shape.relu = true;
  for (uint64_t i = 0; i < m * k; ++i) d.a.push_back(static_cast<uint8_t>((i * 31 + seed) & 0x7f));
  for (uint64_t i = 0; i < n * k; ++i) d.w.push_back(static_cast<uint8_t>((i * 57 + seed) & 0xff));
  d.w_exponents.assign(n, 0);
  if (bias) {
    for (uint64_t i = 0; i < n; ++i) d.bias.push_back(0.25f * static_cast<float>(i));
  }
  return d;
}

}  // namespace

int sc_main(int argc, char** argv) {
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  uint64_t latency = 100;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--latency") == 0 && i + 1 < argc) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(argv[++i], &end, 10);
      if (*end != '\0' || v > 1000000) {
        std::fprintf(stderr, "lbfp_device_example: --latency takes 0..1000000, got '%s'\n",
                     argv[i]);
        return 2;
      }
      latency = v;
    } else {
      std::fprintf(stderr, "usage: lbfp_device_example [--latency CYCLES]\n");
      return 2;
    }
  }

  lbfp::arch::DeviceConfig config;
  config.accelerator.array = {8, 8, 1};
  config.accelerator.mode = lbfp::arch::SimMode::kTile;
  config.accelerator.buffers = {16 * 1024, 16 * 1024, 4 * 1024, 4 * 1024};
  config.accelerator.dram.size_bytes = 1 << 20;
  config.accelerator.dram.latency_cycles = latency;
  config.accelerator.dram.bytes_per_cycle = 16;

  const std::vector<driver::LayerData> network = {gemm_layer(64, 32, 96, 3, true),
                                                  gemm_layer(64, 16, 32, 5, false)};
  driver::RunResult result;
  std::vector<std::vector<uint8_t>> outputs;
  DevicePlatform platform("platform", config, [&](lbfp::arch::Cpu& cpu) {
    // Host software: only the driver's BusAccess reaches the platform.
    driver::Driver drv(cpu, DevicePlatform::kDeviceBase, 0, config.accelerator.dram.size_bytes);
    drv.probe();
    std::vector<uint64_t> out_addresses;
    const uint64_t first = drv.load_network(network, &out_addresses);
    result = drv.run(first);
    for (size_t i = 0; i < network.size(); ++i) {
      outputs.emplace_back(network[i].shape.m * network[i].shape.n);
      drv.read_output(out_addresses[i], outputs.back().data(), outputs.back().size());
    }
  });
  sc_core::sc_start();
  if (!platform.cpu().finished() || !result.ok()) {
    std::fprintf(stderr, "lbfp_device_example: run failed: %s%s\n",
                 platform.cpu().error().c_str(), driver::device_error_name(result.error));
    return 1;
  }

  // The prediction: the accelerator's layer cycles plus the device's own blocking reads.
  uint64_t layer_cycles = 0;
  for (const auto& s : platform.device().accelerator().stats()) layer_cycles += s.total_cycles;
  const double bandwidth = config.accelerator.dram.bytes_per_cycle;
  auto read_cost = [&](uint64_t bytes) {
    return latency + static_cast<uint64_t>(std::ceil(static_cast<double>(bytes) / bandwidth));
  };
  uint64_t fetch_cycles = 0;
  for (const auto& layer : network) {
    fetch_cycles += read_cost(driver::kDescriptorBytes) + read_cost(layer.shape.n);
    if (!layer.bias.empty()) fetch_cycles += read_cost(4 * layer.shape.n);
  }
  const uint64_t predicted = layer_cycles + fetch_cycles;
  std::printf("latency=%llu cycles=%llu predicted=%llu layer_cycles=%llu fetch_cycles=%llu "
              "macs=%llu dram_read=%llu dram_written=%llu\n",
              static_cast<unsigned long long>(latency),
              static_cast<unsigned long long>(result.counters.cycles),
              static_cast<unsigned long long>(predicted),
              static_cast<unsigned long long>(layer_cycles),
              static_cast<unsigned long long>(fetch_cycles),
              static_cast<unsigned long long>(result.counters.macs),
              static_cast<unsigned long long>(result.counters.dram_bytes_read),
              static_cast<unsigned long long>(result.counters.dram_bytes_written));
  return result.counters.cycles == predicted ? 0 : 1;
}
