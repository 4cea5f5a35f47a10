#include "lbfp/driver/driver.h"

#include <cstring>
#include <stdexcept>

namespace lbfp::driver {
namespace {

constexpr uint64_t kAlign = 64;

std::string hex(uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[v & 15]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

}  // namespace

Driver::Driver(BusAccess& bus, uint64_t regs, uint64_t memory_base, uint64_t memory_bytes)
    : bus_(bus),
      regs_(regs),
      memory_base_(memory_base),
      memory_end_(memory_base + memory_bytes),
      next_free_(memory_base) {}

uint64_t Driver::read_reg64(uint32_t lo_offset) {
  const uint64_t lo = read_reg(lo_offset);
  const uint64_t hi = read_reg(lo_offset + 4);
  return lo | (hi << 32);
}

void Driver::probe() {
  const uint32_t id = read_reg(reg::kId);
  if (id != kDeviceId) {
    throw std::runtime_error("no LBFP accelerator at " + hex(regs_) + " (ID reads " + hex(id) +
                             ")");
  }
  const uint32_t version = read_reg(reg::kVersion);
  if ((version & 0xff) != kDescriptorVersion || (version >> 16) != kVersionMajor) {
    throw std::runtime_error("accelerator at " + hex(regs_) + " has version " + hex(version) +
                             ", the driver speaks major " + std::to_string(kVersionMajor) +
                             " with descriptor layout " + std::to_string(kDescriptorVersion));
  }
}

uint64_t Driver::allocate(uint64_t bytes) {
  const uint64_t at = next_free_;
  const uint64_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  if (rounded > memory_end_ - at) {
    throw std::length_error("device memory full: " + std::to_string(bytes) +
                            " more bytes do not fit below " + hex(memory_end_));
  }
  next_free_ = at + rounded;
  return at;
}

uint64_t Driver::place(const void* data, uint64_t bytes) {
  const uint64_t at = allocate(bytes);
  if (bytes != 0) bus_.write(at, data, bytes);
  return at;
}

void Driver::write_descriptor(uint64_t address, const Descriptor& d) {
  const auto bytes = encode_descriptor(d);
  bus_.write(address, bytes.data(), bytes.size());
}

void Driver::place_parameters(const std::vector<int8_t>& w_exponents,
                              const std::vector<float>& bias, Descriptor* d) {
  d->w_exponents_address = place(w_exponents.data(), w_exponents.size());
  d->has_bias = !bias.empty();
  d->bias_address = 0;
  if (d->has_bias) {
    std::vector<uint8_t> bytes(bias.size() * 4);
    for (size_t i = 0; i < bias.size(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &bias[i], 4);
      for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<uint8_t>(bits >> (8 * b));
    }
    d->bias_address = place(bytes.data(), bytes.size());
  }
}

uint64_t Driver::load_network(const std::vector<LayerData>& layers,
                              std::vector<uint64_t>* out_addresses) {
  std::vector<Descriptor> chain;
  for (const LayerData& layer : layers) {
    Descriptor d = layer.shape;
    d.a_address = place(layer.a.data(), layer.a.size());
    d.w_address = place(layer.w.data(), layer.w.size());
    place_parameters(layer.w_exponents, layer.bias, &d);
    d.out_address = allocate(out_bytes(d));
    if (out_addresses != nullptr) out_addresses->push_back(d.out_address);
    chain.push_back(d);
  }
  std::vector<uint64_t> at(chain.size());
  for (auto& a : at) a = allocate(kDescriptorBytes);
  for (size_t i = 0; i < chain.size(); ++i) {
    chain[i].next_address = i + 1 < chain.size() ? at[i + 1] : 0;
    write_descriptor(at[i], chain[i]);
  }
  return chain.empty() ? 0 : at[0];
}

Counters Driver::counters() {
  Counters c;
  c.cycles = read_reg64(reg::kCyclesLo);
  c.stall_cycles = read_reg64(reg::kStallCyclesLo);
  c.macs = read_reg64(reg::kMacsLo);
  c.dram_bytes_read = read_reg64(reg::kDramReadLo);
  c.dram_bytes_written = read_reg64(reg::kDramWrittenLo);
  return c;
}

RunResult Driver::run(uint64_t first_descriptor) {
  write_reg(reg::kDescLo, static_cast<uint32_t>(first_descriptor));
  write_reg(reg::kDescHi, static_cast<uint32_t>(first_descriptor >> 32));
  write_reg(reg::kIrqEnable, kIrqDone | kIrqError);
  write_reg(reg::kCtrl, kCtrlStart);
  bus_.wait_for_interrupt();
  const uint32_t irq = read_reg(reg::kIrqStatus);
  write_reg(reg::kIrqStatus, irq);  // write 1 to clear
  const uint32_t status = read_reg(reg::kStatus);
  RunResult r;
  r.error = static_cast<DeviceError>((status & kStatusErrorMask) >> kStatusErrorShift);
  r.error_descriptor = read_reg64(reg::kErrorDescLo);
  r.layers_done = read_reg(reg::kLayersDone);
  r.counters = counters();
  return r;
}

}  // namespace lbfp::driver
