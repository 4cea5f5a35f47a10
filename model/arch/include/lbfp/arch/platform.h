// A small virtual platform around the accelerator device, the way someone would put the model
// into their own: a CPU-side initiator that runs host software (the driver, lbfp/driver), an
// address-decoding router, a memory with its own latency and the device with its interrupt.
//
//   Cpu --socket--> +--------+ --> [0, memory)           Dram
//                   | Router |
//   Device.dma ---> +--------+ --> [kDeviceBase, +0x100)  Device.reg_socket
//   Device.irq ---------------------------------------> Cpu.irq
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>

#include "lbfp/arch/device.h"
#include "lbfp/arch/dram.h"
#include "lbfp/driver/driver.h"

namespace lbfp::arch {

// Routes each transaction to the target whose range holds its address, with the address made
// relative to the range; addresses no range holds get TLM_ADDRESS_ERROR_RESPONSE. Ranges are
// given in the order the targets are bound to initiator_socket.
class Router : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<Router> target_socket;
  tlm_utils::multi_passthrough_initiator_socket<Router> initiator_socket;

  explicit Router(sc_core::sc_module_name name);
  void add_range(uint64_t base, uint64_t size) { ranges_.push_back({base, size}); }

 private:
  struct Range {
    uint64_t base, size;
  };
  // The target index for [address, address + length), or -1.
  int decode(uint64_t address, uint64_t length) const;
  void b_transport(int id, tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  unsigned int transport_dbg(int id, tlm::tlm_generic_payload& payload);
  std::vector<Range> ranges_;
};

// The CPU side: runs `program` in a thread with itself as the driver's BusAccess (timed
// b_transport, waiting each transaction's delay; an error response throws std::runtime_error).
class Cpu : public sc_core::sc_module, public driver::BusAccess {
 public:
  SC_HAS_PROCESS(Cpu);
  tlm_utils::simple_initiator_socket<Cpu> socket;
  sc_core::sc_in<bool> irq;

  Cpu(sc_core::sc_module_name name, std::function<void(Cpu&)> program);

  // One timed transaction; returns its response status (for tests of error responses).
  tlm::tlm_response_status transact(tlm::tlm_command command, uint64_t address, void* data,
                                    uint64_t length);

  uint32_t read32(uint64_t address) override;
  void write32(uint64_t address, uint32_t value) override;
  void read(uint64_t address, void* data, uint64_t length) override;
  void write(uint64_t address, const void* data, uint64_t length) override;
  void wait_for_interrupt() override;

  bool finished() const { return finished_; }
  const std::string& error() const { return error_; }

 private:
  void run_thread();
  void checked(tlm::tlm_command command, uint64_t address, void* data, uint64_t length);
  std::function<void(Cpu&)> program_;
  bool finished_ = false;
  std::string error_;
};

// Cpu + Router + Dram + Device: memory at 0, the device's registers at kDeviceBase.
class DevicePlatform : public sc_core::sc_module {
 public:
  static constexpr uint64_t kDeviceBase = uint64_t{1} << 40;

  // The memory is config.accelerator.dram; the device may reach all of it.
  DevicePlatform(sc_core::sc_module_name name, DeviceConfig config,
                 std::function<void(Cpu&)> program,
                 std::unique_ptr<ArrayBackend> backend = nullptr);

  Cpu& cpu() { return cpu_; }
  const Cpu& cpu() const { return cpu_; }
  const Device& device() const { return device_; }
  const Dram& memory() const { return memory_; }

 private:
  static DeviceConfig with_memory(DeviceConfig config);
  Cpu cpu_;
  Router router_;
  Dram memory_;
  Device device_;
  sc_core::sc_signal<bool> irq_;
};

}  // namespace lbfp::arch
