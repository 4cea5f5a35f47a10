// The host driver of the accelerator device: plain C++, it reaches the device and memory only
// through a BusAccess (register reads and writes, block transfers, waiting for the interrupt),
// so the same code runs on a virtual platform's CPU model, in a test, or on real hardware.
// It places tensors in memory, writes one command descriptor per layer, starts a run, waits for
// the interrupt and reads the results and the performance counters (docs/registers.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lbfp/driver/descriptor.h"
#include "lbfp/driver/registers.h"

namespace lbfp::driver {

class BusAccess {
 public:
  virtual ~BusAccess() = default;
  virtual uint32_t read32(uint64_t address) = 0;
  virtual void write32(uint64_t address, uint32_t value) = 0;
  virtual void read(uint64_t address, void* data, uint64_t length) = 0;
  virtual void write(uint64_t address, const void* data, uint64_t length) = 0;
  // Returns once the device's interrupt line is high.
  virtual void wait_for_interrupt() = 0;
};

struct Counters {
  uint64_t cycles = 0;
  uint64_t stall_cycles = 0;
  uint64_t macs = 0;
  uint64_t dram_bytes_read = 0;
  uint64_t dram_bytes_written = 0;
};

struct RunResult {
  DeviceError error = DeviceError::kNone;
  uint64_t error_descriptor = 0;  // the descriptor the run stopped at (on an error)
  uint32_t layers_done = 0;
  Counters counters;
  bool ok() const { return error == DeviceError::kNone; }
};

// One layer as the host holds it: codes, exponents and bias, and its descriptor's shape fields
// (the driver fills in the addresses).
struct LayerData {
  Descriptor shape;  // kind, m, n, k, conv fields, exponents, relu (addresses ignored)
  std::vector<uint8_t> a;       // A (M x K) or the input feature map (NHWC)
  std::vector<uint8_t> w;       // N x K
  std::vector<int8_t> w_exponents;  // N
  std::vector<float> bias;      // N values, or empty
};

class Driver {
 public:
  // `regs`: the device's register base; tensors and descriptors go to [memory_base,
  // memory_base + memory_bytes), handed out in order, 64-byte aligned.
  Driver(BusAccess& bus, uint64_t regs, uint64_t memory_base, uint64_t memory_bytes);

  uint32_t read_reg(uint32_t offset) { return bus_.read32(regs_ + offset); }
  void write_reg(uint32_t offset, uint32_t value) { bus_.write32(regs_ + offset, value); }
  uint64_t read_reg64(uint32_t lo_offset);

  // Checks ID and the descriptor layout version; throws std::runtime_error when they differ.
  void probe();
  // Soft reset: every register to its reset value.
  void reset() { write_reg(reg::kCtrl, kCtrlSoftReset); }

  // Memory: reserves `bytes` (64-byte aligned; throws std::length_error when memory is full),
  // optionally copying `data` there.
  uint64_t allocate(uint64_t bytes);
  uint64_t place(const void* data, uint64_t bytes);
  void release_all() { next_free_ = memory_base_; }

  // Places each layer's tensors and writes the chain of descriptors; returns the first
  // descriptor's address. out_addresses gets each layer's output address.
  uint64_t load_network(const std::vector<LayerData>& layers, std::vector<uint64_t>* out_addresses);
  void write_descriptor(uint64_t address, const Descriptor& d);
  // Places a layer's N weight exponents and, when `bias` is not empty, its N biases (float32
  // little-endian, the descriptor's format); sets d's w_exponents_address, has_bias and
  // bias_address.
  void place_parameters(const std::vector<int8_t>& w_exponents, const std::vector<float>& bias,
                        Descriptor* d);

  // Starts a run at `first_descriptor` with both interrupts enabled, waits for the interrupt,
  // clears it and reads status and counters.
  RunResult run(uint64_t first_descriptor);
  Counters counters();

  void read_output(uint64_t address, uint8_t* data, uint64_t bytes) {
    bus_.read(address, data, bytes);
  }

 private:
  BusAccess& bus_;
  uint64_t regs_;
  uint64_t memory_base_;
  uint64_t memory_end_;
  uint64_t next_free_;
};

}  // namespace lbfp::driver
