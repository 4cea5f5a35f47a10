// The accelerator as a memory-mapped device (docs/registers.md): a register file on a TLM-2.0
// target socket, a DMA initiator socket to whatever memory the platform binds, and an interrupt
// line. Software writes command descriptors (lbfp/driver/descriptor.h) to memory, the address of
// the first to DESC, and START; the device fetches each descriptor, validates it, reads the
// layer's exponents and bias, runs the layer on the Accelerator (which reads the operands and
// writes the outputs through the same DMA socket) and raises the interrupt when the chain ends
// or a descriptor is refused (STATUS.error says why).
//
//   reg_socket --> [registers] --start--> [sequencer] --GemmJob--> Accelerator
//                                             |  descriptor fetch       | operand DMA
//                                             +--------> Bus <----------+
//                                                         |
//                                                     dma_socket --> platform memory
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "lbfp/arch/accelerator.h"
#include "lbfp/arch/bus.h"
#include "lbfp/driver/descriptor.h"
#include "lbfp/driver/registers.h"

namespace lbfp::arch {

struct DeviceConfig {
  AcceleratorConfig accelerator;
  // The memory the DMA may reach (descriptors and tensors outside it are refused).
  uint64_t memory_base = 0;
  uint64_t memory_bytes = uint64_t{1} << 28;
  uint64_t max_descriptors = 4096;  // a longer chain is reported as a descriptor loop
  uint64_t max_dimension = uint64_t{1} << 24;  // each of M, N, K, H, W, C (at most 2^32)
  uint64_t max_layer_macs = uint64_t{1} << 36;
  uint64_t register_latency_cycles = 1;  // accelerator clock cycles per register access
};

class Device : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Device);
  tlm_utils::simple_target_socket<Device> reg_socket;  // the register file
  tlm::tlm_initiator_socket<> dma_socket;              // to memory
  sc_core::sc_out<bool> irq;                           // high while IRQ_STATUS & IRQ_ENABLE

  Device(sc_core::sc_module_name name, const DeviceConfig& config,
         std::unique_ptr<ArrayBackend> backend = nullptr);

  const Accelerator& accelerator() const { return accelerator_; }
  const DeviceConfig& config() const { return config_; }

 private:
  void b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  unsigned int transport_dbg(tlm::tlm_generic_payload& payload);
  tlm::tlm_response_status access(tlm::tlm_generic_payload& payload, bool debug);
  bool read_register(uint32_t offset, uint32_t* value) const;
  tlm::tlm_response_status write_register(uint32_t offset, uint32_t value);
  void reset_registers();
  void run_thread();
  void irq_method();
  // Runs the chain from desc_; returns why it stopped.
  driver::DeviceError run_chain();
  bool fetch(uint64_t address, uint8_t* data, uint64_t length);
  uint64_t cycles_now() const;

  DeviceConfig config_;
  Accelerator accelerator_;
  Bus bus_;  // merges the descriptor fetches and the accelerator's DMA onto dma_socket
  tlm_utils::simple_initiator_socket<Device> fetch_socket_;
  sc_core::sc_fifo<const GemmJob*> jobs_;
  sc_core::sc_fifo<const GemmJob*> done_;
  sc_core::sc_event start_event_, irq_event_;

  // Register state.
  uint32_t irq_enable_ = 0;
  uint32_t irq_status_ = 0;
  uint64_t desc_ = 0;
  bool busy_ = false;
  bool done_flag_ = false;
  driver::DeviceError error_ = driver::DeviceError::kNone;
  uint64_t error_desc_ = 0;
  uint32_t layers_done_ = 0;
  uint64_t cycles_ = 0;
  uint64_t stall_cycles_ = 0;
  uint64_t macs_ = 0;
  uint64_t dram_read_ = 0;
  uint64_t dram_written_ = 0;
  bool reset_pending_ = false;  // soft reset while busy: taken after the layer in flight
  sc_core::sc_time run_start_;
  GemmJob job_;
};

}  // namespace lbfp::arch
